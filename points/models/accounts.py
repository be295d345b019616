"""Accounts of people who sign in: residents (WeChat), credit-office admins, and
what belongs to them: refresh tokens, consents and the access log."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from points.infra.db import Base, BigId, UTCDateTime, utcnow


class User(Base):
    """A mini-program account. Bound to a credit subject once real-name binding is done."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The openid is kept (nullable after account deletion) to send subscription messages.
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The credit file the account sees: set only by a face-verified binding.
    subject_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("subjects.id"), unique=True, index=True
    )
    # A binding made before face verification existed: the subject it named, which
    # gives no access to credit data until the person verifies (then it is cleared).
    unverified_subject_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("subjects.id"), index=True
    )
    name_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    identity_bound_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    identity_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Tokens issued before this instant are refused (account closed, all sessions ended).
    tokens_valid_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    subject = relationship("Subject", lazy="joined", foreign_keys=[subject_id])
    unverified_subject = relationship("Subject", foreign_keys=[unverified_subject_id])


class FaceVerification(Base):
    """One face verification (人脸核身) an account started through WeChat.

    No face data ever reaches us: WeChat compares the face with the authority's
    photo of the ID number and tells us only `verify_ret`. Kept: our out_seq_no,
    WeChat's verify_id, the cert_hash we sent, the result and the times. The name
    and ID number (encrypted) are needed only until the binding; they are erased
    when it is made, and a sweep erases those of verifications never used."""

    __tablename__ = "face_verifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    out_seq_no: Mapped[str] = mapped_column(String(32), unique=True)
    verify_id: Mapped[str] = mapped_column(String(256), unique=True)
    cert_hash: Mapped[str] = mapped_column(String(64))
    name_enc: Mapped[str | None] = mapped_column(Text)
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verify_ret: Mapped[int | None] = mapped_column(Integer)
    bound_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))


class AdminAccount(Base):
    __tablename__ = "admin_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RefreshToken(Base):
    """Opaque refresh tokens, stored hashed. Each login starts a family; every use
    spends the token and issues its successor in the same family. Presenting a spent
    token means it was stolen or replayed, so the whole family is revoked."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    principal: Mapped[str] = mapped_column(String(40), index=True)  # "user:1" / "admin:1"
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    spent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RevokedToken(Base):
    """Access-token ids put on the denylist at logout. Redis holds the fast copy;
    this table is the durable one, read when Redis cannot answer."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class Consent(Base):
    """One row per grant or withdrawal: the history is kept, never overwritten."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_user_scope", "user_id", "scope", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    policy_version: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessLogEntry(Base):
    """Every read of a person's credit by someone other than the person."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_subject_at", "subject_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    actor_kind: Mapped[str] = mapped_column(String(20))  # merchant, department, report_viewer, admin
    actor_id: Mapped[str | None] = mapped_column(String(64))
    organisation: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["AccessLogEntry", "AdminAccount", "Consent", "FaceVerification", "RefreshToken",
           "RevokedToken", "User"]
