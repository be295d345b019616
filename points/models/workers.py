"""Worker profiles, report shares, reviews and credit checks (issue 6)."""
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

OCCUPATIONS = ("housekeeping", "lawyer", "teacher", "doctor")
CHECK_PURPOSES = (
    "administrative_license", "administrative_penalty", "inspection", "financial_support",
    "government_procurement", "bidding", "land_transfer", "research_funding",
    "civil_service_hiring", "commendation",
)
FEEDBACK_ACTIONS = ("fast_track", "normal", "extra_review", "denied")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


EMPLOYER_STATUSES = ("pending", "confirmed", "rejected")


class WorkerProfile(Base):
    """The occupation a resident declares (and the housekeeping company they work for:
    `pending` until that merchant's staff confirm or reject it)."""

    __tablename__ = "worker_profiles"
    __table_args__ = (
        CheckConstraint(_one_of("occupation", OCCUPATIONS), name="occupation"),
        CheckConstraint("employer_status IS NULL OR "
                        + _one_of("employer_status", EMPLOYER_STATUSES), name="employer_status"),
        Index("ix_worker_profiles_merchant", "merchant_id", "employer_status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         unique=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    occupation: Mapped[str] = mapped_column(String(20))
    # incentives' merchants.id: the foreign key keeps the data whole (added once that
    # table exists); the domain asks a merchant's name through the app's hooks.
    merchant_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("merchants.id", ondelete="SET NULL"))
    employer_status: Mapped[str | None] = mapped_column(String(10))
    employer_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The merchant's staff member who confirmed or rejected (users.id).
    employer_decided_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportShare(Base):
    """A time-limited link to a worker's credit report. Only the token's hash is kept."""

    __tablename__ = "report_shares"
    __table_args__ = (Index("ix_report_shares_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so the worker can tell their shares apart.
    token_hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    views: Mapped[int] = mapped_column(Integer, default=0)
    last_viewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReportReview(Base):
    """A viewer's rating of the worker, one per viewer per share. Never changes points."""

    __tablename__ = "report_reviews"
    __table_args__ = (
        UniqueConstraint("share_id", "reviewer_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        Index("ix_report_reviews_subject", "subject_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    share_id: Mapped[int] = mapped_column(BigId, ForeignKey("report_shares.id",
                                                            ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    # Kept (as NULL) when the reviewer closes their account: the rating stays.
    reviewer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id",
                                                                      ondelete="SET NULL"))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditCheck(Base):
    """A department's credit check before it handles a matter (逢办必查), with the
    result as it was then and the feedback on how the result was used."""

    __tablename__ = "credit_checks"
    __table_args__ = (
        CheckConstraint(_one_of("purpose", CHECK_PURPOSES), name="purpose"),
        CheckConstraint("feedback_action IS NULL OR " + _one_of("feedback_action",
                                                                FEEDBACK_ACTIONS),
                        name="feedback_action"),
        Index("ix_credit_checks_department", "department_id", "id"),
        Index("ix_credit_checks_pending", "checked_on", "feedback_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"))
    # NULL when the person is unknown to the system: no subject is created for a check.
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    name_masked: Mapped[str] = mapped_column(String(50))
    purpose: Mapped[str] = mapped_column(String(40))
    matter_ref: Mapped[str] = mapped_column(String(100))
    points: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    restricted: Mapped[bool] = mapped_column(Boolean)
    rule_set: Mapped[str] = mapped_column(String(64))
    negative_records: Mapped[list] = mapped_column(JSONType, default=list)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_on: Mapped[dt.date] = mapped_column(Date)  # Asia/Shanghai, for the deadline
    feedback_action: Mapped[str | None] = mapped_column(String(20))
    feedback_note: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


__all__ = ["EMPLOYER_STATUSES", "CreditCheck", "ReportReview", "ReportShare", "WorkerProfile"]
