"""Commitments, repairs, objections and the notification outbox (issue 4).

Each of these is a resident's request or promise and the department's answer to
it. The answers change credit records, so they are kept with who decided, when
and why; the resident is told through a WeChat subscription message that is
queued in the outbox in the same transaction as the decision.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from points.infra.db import Base, BigId, JSONType, UTCDateTime, utcnow

COMMITMENT_KINDS = ("voluntary", "industry", "approval_substitute", "missing_materials", "repair")
# Kinds that buy a faster procedure and are refused to restricted subjects.
FAST_TRACK_KINDS = ("approval_substitute", "missing_materials")
COMMITMENT_STATUSES = ("active", "fulfilled", "breached", "withdrawn", "expired")
REPAIR_STATUSES = ("submitted", "approved", "rejected", "withdrawn")
OBJECTION_STATUSES = ("pending", "upheld", "rejected")
OUTBOX_STATUSES = ("pending", "sent", "skipped", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Commitment(Base):
    """A promise a resident signed (信用承诺), with the notice they were shown."""

    __tablename__ = "commitments"
    __table_args__ = (
        CheckConstraint(_in("kind", COMMITMENT_KINDS), name="kind"),
        CheckConstraint(_in("status", COMMITMENT_STATUSES), name="status"),
        Index("ix_commitments_subject", "subject_id", "id"),
        Index("ix_commitments_department_status", "department_id", "status"),
        Index("ix_commitments_public", "public", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(24))
    content: Mapped[str] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"))
    matter: Mapped[str | None] = mapped_column(String(200))
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # What the resident was shown when signing: the promise, the department's power
    # to verify it and the consequence of a breach (evidence of notice).
    notice: Mapped[dict] = mapped_column(JSONType)
    signed_on: Mapped[dt.date] = mapped_column(Date)
    outcome_on: Mapped[dt.date | None] = mapped_column(Date)
    outcome_serious: Mapped[bool | None] = mapped_column(Boolean)
    # The commitment.* record written for the outcome; a purged record leaves the promise.
    outcome_record_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("credit_records.id", ondelete="SET NULL"))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepairApplication(Base):
    """A resident's application to repair one of their negative records (信用修复)."""

    __tablename__ = "repair_applications"
    __table_args__ = (
        CheckConstraint(_in("status", REPAIR_STATUSES), name="status"),
        # One open application per record, enforced by the database.
        Index("uq_repair_applications_open_record", "record_id", unique=True,
              sqlite_where=text("status = 'submitted'"),
              postgresql_where=text("status = 'submitted'")),
        Index("ix_repair_applications_department_status", "department_id", "status"),
        Index("ix_repair_applications_subject", "subject_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    record_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("credit_records.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"))
    statement: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list] = mapped_column(JSONType, default=list)
    commitment_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("commitments.id"))
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    submitted_on: Mapped[dt.date] = mapped_column(Date)
    decision_due_on: Mapped[dt.date] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Objection(Base):
    """A resident disputing one of their records (异议). The record shows `disputed`
    and keeps counting until the department decides."""

    __tablename__ = "objections"
    __table_args__ = (
        CheckConstraint(_in("status", OBJECTION_STATUSES), name="status"),
        Index("uq_objections_open_record", "record_id", unique=True,
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_objections_department_status", "department_id", "status"),
        Index("ix_objections_subject", "subject_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    record_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("credit_records.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    submitted_on: Mapped[dt.date] = mapped_column(Date)
    decision_due_on: Mapped[dt.date] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A WeChat subscription message to send. The row is the truth: it is written
    with the decision and stays `pending` until a sender marks it sent (or skipped,
    or failed after its last attempt), so a crash never loses or repeats one."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # One message per event: a retried decision never queues a second one.
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    event: Mapped[str] = mapped_column(String(40))
    page: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the sender that claimed the current attempt; only it may mark the result.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


__all__ = ["Commitment", "Objection", "OutboxMessage", "RepairApplication"]
