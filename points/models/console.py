"""The staff console's own tables: department users (clerks), console sign-in
sessions, and the batches clerks upload as files."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from points.infra.db import Base, BigId, UTCDateTime, utcnow


class DepartmentUser(Base):
    """A clerk of one department who signs in to the console. Created by the credit
    office with a first password the clerk must change at the first sign-in."""

    __tablename__ = "department_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """One console sign-in. The browser holds the token (in the signed session cookie);
    the row, stored by the token's hash, is the truth: ending it signs the browser out
    at once, and an idle row stops working after CONSOLE_IDLE_MINUTES."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_principal", "principal"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal: Mapped[str] = mapped_column(String(40))  # admin:1 / clerk:3
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ConsoleUpload(Base):
    """A batch file a clerk uploaded: its rows (encrypted: they hold ID numbers) until
    the ingestion job has read them, then the rejected rows with their problems
    (encrypted too) for the clerk to download, fix and upload again."""

    __tablename__ = "console_uploads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("jobs.id"), unique=True)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    payload_enc: Mapped[str | None] = mapped_column(Text)
    rejected_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["ConsoleSession", "ConsoleUpload", "DepartmentUser"]
