"""One-time codes a resident shows a merchant, and the merchant's verification.

A code is random (`secrets.token_urlsafe`), lives 120 seconds and is stored
only as its hash. Scanning it spends it atomically (a conditional UPDATE on
`used_at IS NULL`), so two merchants scanning the same code cannot both
succeed. The merchant learns whether the resident may have one perk, the
level and a masked name — never points, records or the ID number — and the
resident's access log says who asked.
"""
from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass

import redis
import segno
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from incentives import perks
from incentives.models import Merchant, Perk, Verification, VerificationToken
from points import accounts, scoring
from points.crypto import DataCipher, hash_token
from points.db import utcnow
from points.errors import Conflict, Forbidden, Gone
from points.identity import is_adult, mask_name
from points.models import Subject, User

TOKEN_TTL = dt.timedelta(seconds=120)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime
    qr_svg: str


def qr_svg(text: str) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    return buffer.getvalue().decode()


def issue(session: Session, cipher: DataCipher, user: User, today: dt.date) -> IssuedToken:
    """A new code for this resident (who must be bound, adult and consenting)."""
    if user.subject_id is None:
        raise Conflict("bind your real-name identity first", "IDENTITY_REQUIRED")
    if not accounts.has_consent(session, user.id, "merchant_share"):
        raise Forbidden("grant the merchant_share consent to show merchants your level",
                        "CONSENT_REQUIRED")
    subject = session.get(Subject, user.subject_id)
    if subject is None or not is_adult(cipher.decrypt(subject.id_number_enc), today):
        raise Forbidden("credit perks are for residents aged 18 or over", "NOT_ELIGIBLE")
    token = secrets.token_urlsafe(24)
    now = utcnow()
    row = VerificationToken(token_hash=hash_token(token), user_id=user.id,
                            subject_id=user.subject_id, created_at=now,
                            expires_at=now + TOKEN_TTL)
    session.add(row)
    session.flush()
    return IssuedToken(token, row.expires_at, qr_svg(token))


def spend(session: Session, token: str, merchant_id: int) -> VerificationToken:
    """Spend a code exactly once: 409 TOKEN_USED if spent, 410 TOKEN_EXPIRED if
    unknown or too old."""
    digest, now = hash_token(token), utcnow()
    spent = session.execute(
        update(VerificationToken)
        .where(VerificationToken.token_hash == digest, VerificationToken.used_at.is_(None),
               VerificationToken.expires_at > now)
        .values(used_at=now, used_by_merchant_id=merchant_id)
        .returning(VerificationToken)
        .execution_options(synchronize_session=False)).scalar_one_or_none()
    if spent is not None:
        return spent
    row = session.execute(select(VerificationToken).where(VerificationToken.token_hash == digest)
                          .execution_options(populate_existing=True)).scalar_one_or_none()
    if row is not None and row.used_at is not None:
        raise Conflict("this code has been used; ask the resident for a new one", "TOKEN_USED")
    raise Gone("this code is unknown or has expired; ask the resident for a new one",
               "TOKEN_EXPIRED")


def verify(session: Session, cipher: DataCipher, cache: redis.Redis, merchant: Merchant,
           staff_user_id: int, token: str, perk_id: int, today: dt.date) -> Verification:
    """May the code's holder have this perk? Spends the code and logs the access."""
    perk: Perk = perks.own(session, merchant.id, perk_id)
    code = spend(session, token, merchant.id)
    # Consent is checked now, not when the code was made: after a withdrawal the
    # merchant learns nothing about the person, not even the level.
    holder, consents = accounts.user_with_consent(session, code.user_id, "merchant_share")
    consenting = holder is not None and holder.closed_at is None and consents
    level: str | None = None
    restricted = False
    name = ""
    if consenting:
        score = scoring.current_points(session, cache, code.subject_id, today)
        level, restricted = score["level"], score["restricted"]
        reasons = perks.subject_reasons(level, restricted, perk)
        name = cipher.decrypt(holder.name_enc) if holder.name_enc else ""
    else:
        reasons = [perks.CONSENT_WITHDRAWN]
    reasons += perks.perk_reasons(perk, today)
    verification = Verification(
        token_id=code.id, merchant_id=merchant.id, perk_id=perk.id, perk_version=perk.version,
        staff_user_id=staff_user_id, user_id=code.user_id, subject_id=code.subject_id,
        eligible=not reasons, level=level, restricted=restricted,
        display_name=mask_name(name) if name else "*", reasons=reasons, created_at=utcnow())
    session.add(verification)
    session.flush()
    accounts.record_access(session, code.subject_id, "merchant", "perk_verification",
                           actor_id=f"user:{staff_user_id}", organisation=merchant.name,
                           reference=f"verification:{verification.id} perk:{perk.id}")
    return verification
