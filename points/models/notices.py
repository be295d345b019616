"""Notifications a resident reads in the app (and, where subscribed, on WeChat)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from points.infra.db import Base, BigId, JSONType, UTCDateTime, utcnow


class Notification(Base):
    """One notice to a person. `kind` and `params` are stored, not the sentence: the
    text is rendered when read, in the reader's language (points.people.notice_text).

    A notice about a person's credit carries their `subject_id`; it goes to the
    account bound to that subject, and moves with the binding (an account that binds
    the ID number later, or takes it over by face verification, sees it). Indexed
    for paging a person's thousands of notices newest first, unread or all."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user", "user_id", "id"),
        Index("ix_notifications_user_unread", "user_id", "read_at", "id"),
        Index("ix_notifications_subject", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSONType, default=dict)
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[int | None] = mapped_column(BigInteger)
    # The event it tells of, so that a retried event never tells twice.
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
