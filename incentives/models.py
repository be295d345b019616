"""Merchants, perks, verification codes and redemptions (issue 5).

Limits live in the database: a perk's `used` can never pass its `total_quota`
(CHECK, and the conditional UPDATE that takes a unit), a verification is
redeemed at most once (UNIQUE), a code is consumed at most once (conditional
UPDATE on `used_at`).
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from points.infra.db import Base, BigId, JSONType, UTCDateTime, utcnow

SECTORS = ("tourism", "housekeeping", "hotel", "catering", "culture", "transport", "other")
MERCHANT_STATUSES = ("pending", "approved", "rejected", "suspended")
BENEFIT_KINDS = ("discount", "deposit_free", "free_item", "priority")
STAFF_ROLES = ("owner", "staff")
REDEMPTION_STATUSES = ("granted", "reversed")


class Merchant(Base):
    """A business that offers perks. It applies, and the credit office decides."""

    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'suspended')",
                        name="status"),
        CheckConstraint("sector IN ('tourism', 'housekeeping', 'hotel', 'catering', 'culture', "
                        "'transport', 'other')", name="sector"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # GB 32100 unified social credit code: one application per business.
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    sector: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    applicant_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    # Why the office rejected or suspended the merchant (shown to the applicant).
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("admin_accounts.id"))


class MerchantStaff(Base):
    """A resident account working for a merchant: its owner or invited staff."""

    __tablename__ = "merchant_staff"
    __table_args__ = (
        UniqueConstraint("merchant_id", "user_id"),
        CheckConstraint("role IN ('owner', 'staff')", name="role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant", lazy="joined")


class Invitation(Base):
    """A one-time code an owner hands to a new staff member (stored hashed)."""

    __tablename__ = "merchant_invitations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"),
                                             index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Perk(Base):
    """What a merchant offers residents at or above a level. `version` moves on
    every edit (the ETag); `used` moves on every grant and reversal."""

    __tablename__ = "perks"
    __table_args__ = (
        CheckConstraint("total_quota >= 1", name="total_quota"),
        CheckConstraint("used >= 0 AND used <= total_quota", name="used"),
        CheckConstraint("per_resident_limit >= 1", name="per_resident_limit"),
        CheckConstraint("valid_until >= valid_from", name="dates"),
        CheckConstraint("min_level IN ('AAA', 'AA', 'A', 'B', 'C', 'D')", name="min_level"),
        Index("ix_perks_merchant", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    min_level: Mapped[str] = mapped_column(String(8))
    benefit: Mapped[dict] = mapped_column(JSONType)  # {"kind": …, "value": …}
    total_quota: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    per_resident_limit: Mapped[int] = mapped_column(Integer, default=1)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)  # inclusive
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant", lazy="joined")


class VerificationToken(Base):
    """A one-time code a resident shows a merchant; only its hash is stored."""

    __tablename__ = "verification_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    used_by_merchant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("merchants.id"))


class Verification(Base):
    """A merchant asked whether the code's holder may have one perk: the answer
    as it was given (level and masked name only), whether or not it was redeemed."""

    __tablename__ = "verifications"
    __table_args__ = (Index("ix_verifications_merchant_at", "merchant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_id: Mapped[int] = mapped_column(BigId, ForeignKey("verification_tokens.id"), unique=True)
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id"))
    perk_id: Mapped[int] = mapped_column(BigId, ForeignKey("perks.id"), index=True)
    perk_version: Mapped[int] = mapped_column(Integer)
    staff_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    eligible: Mapped[bool] = mapped_column(Boolean)
    level: Mapped[str | None] = mapped_column(String(8))  # None: consent was withdrawn
    restricted: Mapped[bool] = mapped_column(Boolean)
    display_name: Mapped[str] = mapped_column(String(60))
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Redemption(Base):
    """A perk granted on one verification, with the terms in force at that moment."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("status IN ('granted', 'reversed')", name="status"),
        Index("ix_redemptions_perk_subject", "perk_id", "subject_id", "status"),
        Index("ix_redemptions_merchant_at", "merchant_id", "redeemed_at"),
        Index("ix_redemptions_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # One redemption per verification, whatever races happen (UNIQUE).
    verification_id: Mapped[int] = mapped_column(BigId, ForeignKey("verifications.id"),
                                                 unique=True)
    perk_id: Mapped[int] = mapped_column(BigId, ForeignKey("perks.id"))
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    staff_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10), default="granted")
    terms: Mapped[dict] = mapped_column(JSONType)
    display_name: Mapped[str] = mapped_column(String(60))
    redeemed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reversed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reversed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    reverse_reason: Mapped[str | None] = mapped_column(Text)


__all__ = ["Invitation", "Merchant", "MerchantStaff", "Perk", "Redemption", "Verification",
           "VerificationToken"]
