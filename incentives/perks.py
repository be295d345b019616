"""Perks: what merchants offer, who may have them, and their ETags.

Eligibility means a grant would succeed today: "level at or above the perk's
minimum", never for a restricted subject (联合惩戒), only while the perk is active,
within its dates, has quota left and the resident is under its per-resident limit. The reasons are stable codes the mini-program can explain.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from incentives.models import Merchant, Perk, Redemption
from points.errors import Invalid, NotFound
from points.i18n import gettext
from points.infra.crypto import DataCipher
from points.infra.db import utcnow
from points.models import User
from points.people import accounts
from points.scores import scoring

# Highest first, as the contract names them.
LEVELS = ("AAA", "AA", "A", "B", "C", "D")
EDITABLE = ("title", "description", "min_level", "benefit", "total_quota", "per_resident_limit",
            "valid_from", "valid_until", "active")

# Reasons a resident may not have a perk (verification and the perk list).
LEVEL_TOO_LOW = "level_too_low"
RESTRICTED = "restricted"
CONSENT_WITHDRAWN = "consent_withdrawn"
PERK_INACTIVE = "perk_inactive"
PERK_NOT_STARTED = "perk_not_started"
PERK_ENDED = "perk_ended"
QUOTA_EXHAUSTED = "quota_exhausted"
LIMIT_REACHED = "limit_reached"  # the resident has had it per_resident_limit times
# What a merchant is told of a restricted resident (联合惩戒): only that they may not have
# the perk, with the lowest level; never that they are restricted.
NOT_ELIGIBLE = "not_eligible"
RESTRICTED_SHOWN_LEVEL = "D"
# Refusals a grant decides again under its locks (a reversal may give a unit back).
DECIDED_AT_GRANT = (QUOTA_EXHAUSTED, LIMIT_REACHED)
# Only in the resident's own list: why they could not show a code yet.
IDENTITY_REQUIRED = "identity_required"
CONSENT_REQUIRED = "consent_required"
UNDER_18 = "under_18"
# Every reason a perk list or a verification may give.
REASONS = (LEVEL_TOO_LOW, RESTRICTED, CONSENT_WITHDRAWN, PERK_INACTIVE, PERK_NOT_STARTED,
           PERK_ENDED, QUOTA_EXHAUSTED, LIMIT_REACHED, NOT_ELIGIBLE, IDENTITY_REQUIRED,
           CONSENT_REQUIRED, UNDER_18)


def level_at_or_above(level: str, minimum: str) -> bool:
    if level not in LEVELS:
        return False
    return LEVELS.index(level) <= LEVELS.index(minimum)


def perk_reasons(perk: Perk, today: dt.date, *, quota: bool = True) -> list[str]:
    """Why nobody may have this perk today (empty: it is open)."""
    reasons = []
    if not perk.active:
        reasons.append(PERK_INACTIVE)
    if today < perk.valid_from:
        reasons.append(PERK_NOT_STARTED)
    if today > perk.valid_until:
        reasons.append(PERK_ENDED)
    if quota and perk.used >= perk.total_quota:
        reasons.append(QUOTA_EXHAUSTED)
    return reasons


def subject_reasons(level: str, restricted: bool, perk: Perk, *, held: int | None = None,
                    to_merchant: bool = True) -> list[str]:
    """Why this person may not have the perk: their level, a restriction (told to a
    merchant as `not_eligible` alone, told to the resident as `restricted`), and, with
    `held` (their grants of the perk), the per-resident limit."""
    if restricted and to_merchant:
        return [NOT_ELIGIBLE]
    reasons = []
    if not level_at_or_above(level, perk.min_level):
        reasons.append(LEVEL_TOO_LOW)
    if restricted:
        reasons.append(RESTRICTED)
    if held is not None and held >= perk.per_resident_limit:
        reasons.append(LIMIT_REACHED)
    return reasons


def etag(perk: Perk) -> str:
    """The perk's entity tag: a hash of its id and version (edits move the version)."""
    return hashlib.sha256(f"perk:{perk.id}:{perk.version}".encode()).hexdigest()[:32]


def terms(perk: Perk) -> dict[str, Any]:
    """The terms in force, as stored with a redemption so later edits never rewrite it."""
    return {
        "perk_id": perk.id, "version": perk.version, "merchant_id": perk.merchant_id,
        "merchant_name": perk.merchant.name, "title": perk.title,
        "description": perk.description, "min_level": perk.min_level,
        "benefit": dict(perk.benefit), "per_resident_limit": perk.per_resident_limit,
        "valid_from": perk.valid_from.isoformat(), "valid_until": perk.valid_until.isoformat(),
    }


def _check_dates(valid_from: dt.date, valid_until: dt.date) -> None:
    if valid_until < valid_from:
        raise Invalid(gettext("the perk ends before it starts"),
                      errors={"json": {"valid_until": [gettext("must be on or after valid_from")]}})


def create(session: Session, merchant: Merchant, fields: dict[str, Any], today: dt.date) -> Perk:
    _check_dates(fields["valid_from"], fields["valid_until"])
    if fields["valid_until"] < today:
        raise Invalid(gettext("the perk would have ended already"),
                      errors={"json": {"valid_until": [gettext("must be today or later")]}})
    now = utcnow()
    perk = Perk(merchant_id=merchant.id, used=0, version=1, created_at=now, updated_at=now,
                **{k: fields[k] for k in EDITABLE if k in fields})
    perk.merchant = merchant
    session.add(perk)
    session.flush()
    return perk


def own(session: Session, merchant_id: int, perk_id: int, *, lock: bool = False) -> Perk:
    """One of this merchant's perks; another merchant's is not found (404)."""
    stmt = select(Perk).where(Perk.id == perk_id, Perk.merchant_id == merchant_id)
    if lock:
        stmt = stmt.with_for_update(of=Perk).execution_options(populate_existing=True)
    perk = session.execute(stmt).unique().scalar_one_or_none()
    if perk is None:
        raise NotFound(gettext("no such perk"), "PERK_NOT_FOUND")
    return perk


def update(session: Session, perk: Perk, changes: dict[str, Any]) -> Perk:
    """Apply an edit to a perk already locked and checked against its ETag."""
    valid_from = changes.get("valid_from", perk.valid_from)
    valid_until = changes.get("valid_until", perk.valid_until)
    _check_dates(valid_from, valid_until)
    if "total_quota" in changes and changes["total_quota"] < perk.used:
        raise Invalid(gettext("the quota cannot fall below what has been redeemed"),
                      errors={"json": {"total_quota": [gettext("at least {used} (already used)", used=perk.used)]}})
    if not changes:
        return perk
    for key in EDITABLE:
        if key in changes:
            setattr(perk, key, changes[key])
    perk.version += 1
    perk.updated_at = utcnow()
    session.flush()
    return perk


def visible(session: Session, today: dt.date, sector: str | None,
            merchant_id: int | None):
    """Perks residents see: active, in their dates, of approved merchants."""
    stmt = (select(Perk).join(Merchant, Merchant.id == Perk.merchant_id)
            .where(Merchant.status == "approved", Perk.active.is_(True),
                   Perk.valid_from <= today, Perk.valid_until >= today))
    if sector:
        stmt = stmt.where(Merchant.sector == sector)
    if merchant_id is not None:
        stmt = stmt.where(Perk.merchant_id == merchant_id)
    return stmt.order_by(Perk.id)


def held_counts(session: Session, subject_id: int, perk_ids: list[int]) -> dict[int, int]:
    """{perk_id: the subject's grants of it} for these perks (one query)."""
    if not perk_ids:
        return {}
    return dict(session.execute(
        select(Redemption.perk_id, func.count())
        .where(Redemption.subject_id == subject_id, Redemption.perk_id.in_(perk_ids),
               Redemption.status == "granted")
        .group_by(Redemption.perk_id)).all())


def standing_of(session: Session, cache: redis.Redis, cipher: DataCipher, user: User,
                today: dt.date, perk_ids: list[int] | None = None) -> dict[str, Any]:
    """What the resident's own perk list needs to know about them (with `perk_ids`,
    their grants of those perks, for the per-resident limit)."""
    if user.subject_id is None:
        return {"blocker": IDENTITY_REQUIRED}
    if not accounts.is_eligible(cipher, user, today):
        return {"blocker": UNDER_18}
    if not accounts.has_consent(session, user.id, "merchant_share"):
        blocker = CONSENT_REQUIRED
    else:
        blocker = None
    score = scoring.current_points(session, cache, user.subject_id, today)
    return {"blocker": blocker, "level": score["level"], "restricted": score["restricted"],
            "held": held_counts(session, user.subject_id, perk_ids or [])}


def with_eligibility(perk: Perk, standing: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """The perk for the resident's own list: `eligible` means a grant would succeed
    today (level, no restriction, the perk's dates and quota, the per-resident limit)."""
    reasons = [standing["blocker"]] if standing.get("blocker") else []
    if "level" in standing:
        reasons += subject_reasons(standing["level"], standing["restricted"], perk,
                                   held=standing["held"].get(perk.id, 0), to_merchant=False)
    reasons += perk_reasons(perk, today)
    return {"perk": perk, "eligible": not reasons, "reasons": reasons}
