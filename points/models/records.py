"""Credit records pushed by departments, their audit history, data-quality issues,
rule-set versions and the derived scores."""
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from points.infra.db import Base, BigId, JSONType, UTCDateTime, utcnow

# Stored statuses; `disputed`, `ended` and `expired` are derived when shown.
RECORD_STATUSES = ("active", "repaired", "revoked")


class RuleSetVersion(Base):
    """A version of the rules, stored as the same data the shipped file holds."""

    __tablename__ = "rule_sets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[dict] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CreditRecord(Base):
    """A fact a department reported about a subject. Corrections keep the earlier
    version in `record_versions`; nothing is silently overwritten."""

    __tablename__ = "credit_records"
    __table_args__ = (
        UniqueConstraint("department_id", "source_ref"),
        Index("ix_credit_records_subject", "subject_id", "id"),
        CheckConstraint("status IN ('active', 'repaired', 'revoked')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"))
    source_ref: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(64))
    occurred_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    repaired_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict] = mapped_column(JSONType, default=dict)
    # A digest of what the department sent, so a resend is recognised as unchanged.
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_reason: Mapped[str | None] = mapped_column(Text)


class RecordVersion(Base):
    """Append-only audit history of a record: every state it was in, and why it changed."""

    __tablename__ = "record_versions"
    __table_args__ = (Index("ix_record_versions_record", "record_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("credit_records.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(32))  # created, updated, ended, revoked, repaired …
    snapshot: Mapped[dict] = mapped_column(JSONType)
    changed_by: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IngestBatch(Base):
    """One call of POST /v1/dept/records: counts for the data-quality report."""

    __tablename__ = "ingest_batches"
    __table_args__ = (Index("ix_ingest_batches_department_at", "department_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"))
    received: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    late: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QualityIssue(Base):
    """A rejected record returned to its department to fix at the source."""

    __tablename__ = "quality_issues"
    __table_args__ = (Index("ix_quality_issues_department_status", "department_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"))
    batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ingest_batches.id"))
    source_ref: Mapped[str | None] = mapped_column(String(100))
    record_type: Mapped[str | None] = mapped_column(String(64))
    problems: Mapped[list] = mapped_column(JSONType)
    dimensions: Mapped[list] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution_note: Mapped[str | None] = mapped_column(Text)


class Score(Base):
    """The current score of a subject: a cache of the engine's answer, rebuildable."""

    __tablename__ = "scores"

    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    restricted: Mapped[bool] = mapped_column(Boolean)
    rule_set: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[dt.date] = mapped_column(Date)
    # The next date on which a window opens or closes: the sweep recomputes from then.
    next_change_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    # Grows with every change, so the Redis copy never goes back to an older score.
    version: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScoreHistory(Base):
    """Every change of a subject's score, with its reason."""

    __tablename__ = "score_history"
    __table_args__ = (Index("ix_score_history_subject", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    points: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    restricted: Mapped[bool] = mapped_column(Boolean)
    rule_set: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(String(32))  # record, repair, objection, rule_set, time
    record_id: Mapped[int | None] = mapped_column(BigId)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKey(Base):
    """Replays the first answer to a retried write (Idempotency-Key header), for
    IDEMPOTENCY_KEY_TTL_HOURS; the answer is stored encrypted (api/idempotency.py)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),
                      Index("ix_idempotency_keys_created_at", "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict | list | None] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecordStatement(Base):
    """The person's own statement (说明) on a record (《征信业管理条例》 Art. 16): one per
    record, kept with the credit subject for as long as the record is kept."""

    __tablename__ = "record_statements"
    __table_args__ = (Index("ix_record_statements_subject", "subject_id"),)

    record_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("credit_records.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
