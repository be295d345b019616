"""Redemptions: granting a perk on a verification, exactly once, within quota.

Every limit is enforced by the database, not by a check in Python that a
concurrent request could slip past:
- the quota: `UPDATE perks SET used = used + 1 WHERE id = … AND used < total_quota`
  (no row updated → QUOTA_EXHAUSTED; a CHECK keeps `used <= total_quota`), as the
  grant's last statement: every grant of a perk queues on that one row, so each
  holds it only from there to its commit;
- the per-resident limit: the subject's row is locked (SELECT … FOR UPDATE)
  while its redemptions of the perk are counted, so one person's redemptions
  happen one after the other;
- once per verification: UNIQUE (verification_id).
The terms in force are stored with the redemption, so later edits of the perk
never change history.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from types import SimpleNamespace

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from incentives import perks
from incentives.merchants import MerchantRef
from incentives.models import Perk, Redemption, Verification
from points.db import SHANGHAI, per_dialect, utcnow
from points.errors import Conflict, DomainError, Forbidden, Gone, Invalid, NotFound
from points.models import Subject

VERIFICATION_TTL = dt.timedelta(minutes=10)
REVERSAL_WINDOW = dt.timedelta(days=1)
MAX_STATS_DAYS = 366


PERK_COLUMNS = tuple(Perk.__table__.c)


def _refusal(perk, verification: Verification, held: int, today: dt.date) -> DomainError | None:
    """Why this perk may not be granted on this verification (None: it may)."""
    if held >= perk.per_resident_limit:
        return Conflict("the resident has had this perk as often as allowed", "LIMIT_REACHED",
                        limit=perk.per_resident_limit)
    changed = (perks.perk_reasons(perk, today, quota=False)
               + perks.subject_reasons(verification.level or "", verification.restricted, perk))
    if changed:
        return Forbidden("the perk's terms changed since the verification", "NOT_ELIGIBLE",
                         reasons=changed)
    return None


_VERIFICATIONS = Verification.__table__
_REDEMPTIONS = Redemption.__table__
_PERKS = Perk.__table__
_SUBJECTS = Subject.__table__
_GRANT_COLUMNS = tuple(_REDEMPTIONS.c[name] for name in (
    "id", "verification_id", "perk_id", "status", "terms", "display_name", "redeemed_at",
    "reversed_at", "reverse_reason"))

# The grant's statements, built once (building a statement costs more Python than
# running it does): executed with their parameters on the request's connection.
# The verification, with its subject's row locked: one person's redemptions run one
# after the other.
_VERIFICATION_LOCKED = (
    select(_VERIFICATIONS).join(_SUBJECTS, _SUBJECTS.c.id == _VERIFICATIONS.c.subject_id)
    .where(_VERIFICATIONS.c.id == bindparam("verification"),
           _VERIFICATIONS.c.merchant_id == bindparam("merchant"))
    .with_for_update(key_share=True, of=_SUBJECTS))
# The perk, the subject's grants of it and whether this verification has one, read
# under that lock.
_PERK_HELD_DONE = select(
    *PERK_COLUMNS,
    select(func.count(_REDEMPTIONS.c.id)).where(
        _REDEMPTIONS.c.perk_id == bindparam("perk"),
        _REDEMPTIONS.c.subject_id == bindparam("subject"),
        _REDEMPTIONS.c.status == "granted").scalar_subquery().label("held"),
    select(_REDEMPTIONS.c.id).where(
        _REDEMPTIONS.c.verification_id == bindparam("verification")).exists().label("done"),
).where(_PERKS.c.id == bindparam("perk"))
# UNIQUE (verification_id): a concurrent retry of this grant inserts nothing.
_GRANT = per_dialect(lambda insert: insert(_REDEMPTIONS).on_conflict_do_nothing(
    index_elements=["verification_id"]).returning(*_GRANT_COLUMNS))
_TAKE_UNIT = (update(_PERKS)
              .where(_PERKS.c.id == bindparam("perk_id"), _PERKS.c.used < _PERKS.c.total_quota)
              .values(used=_PERKS.c.used + 1).returning(*PERK_COLUMNS))


def redeem(session: Session, merchant: MerchantRef, staff_user_id: int, verification_id: int,
           today: dt.date) -> SimpleNamespace:
    """Grant the perk. The shared quota row is taken last, right before commit, so
    concurrent grants of one perk wait on it only for the commit itself; a perk
    edited meanwhile is checked again under that lock.

    Core statements on the request's connection (the merchant counter's hottest
    path): the verification read with its subject's row locked, then the perk, the
    subject's grants of it and whether this verification is spent, then the grant and
    the quota unit."""
    connection = session.connection()
    verification = connection.execute(_VERIFICATION_LOCKED, {
        "verification": verification_id, "merchant": merchant.id}).first()
    if verification is None:
        raise NotFound("no such verification", "VERIFICATION_NOT_FOUND")
    now = utcnow()
    if now - verification.created_at > VERIFICATION_TTL:
        if _redeemed(session, verification.id):
            raise Conflict("this verification has been redeemed already", "ALREADY_REDEEMED")
        raise Gone("the verification is older than 10 minutes; scan a new code",
                   "VERIFICATION_EXPIRED")
    # Quota is decided below by the database, even if it looked gone when verified
    # (a reversal may have given a unit back).
    blocking = [r for r in verification.reasons if r != perks.QUOTA_EXHAUSTED]
    if blocking:
        raise Forbidden("the resident may not have this perk", "NOT_ELIGIBLE", reasons=blocking)

    row = connection.execute(_PERK_HELD_DONE, {
        "perk": verification.perk_id, "subject": verification.subject_id,
        "verification": verification.id}).one()
    if row.done:
        raise Conflict("this verification has been redeemed already", "ALREADY_REDEEMED")
    perk = _terms_row(row, merchant)
    refusal = _refusal(perk, verification, row.held, today)
    if refusal is not None:
        raise refusal
    grant = connection.execute(_GRANT[connection.dialect.name], {
        "verification_id": verification.id, "perk_id": perk.id, "merchant_id": merchant.id,
        "user_id": verification.user_id, "subject_id": verification.subject_id,
        "staff_user_id": staff_user_id, "status": "granted", "terms": perks.terms(perk),
        "display_name": verification.display_name, "redeemed_at": now}).first()
    if grant is None:
        raise Conflict("this verification has been redeemed already", "ALREADY_REDEEMED")

    # The quota unit, last: the row is ours from here to the commit.
    taken = connection.execute(_TAKE_UNIT, {"perk_id": perk.id}).first()
    if taken is None:
        raise Conflict("the perk's quota is used up", "QUOTA_EXHAUSTED")
    if taken.version != perk.version:  # edited since read: the terms in force now
        perk = _terms_row(taken, merchant)
        refusal = _refusal(perk, verification, row.held, today)
        if refusal is not None:
            raise refusal
        grant = connection.execute(
            update(_REDEMPTIONS).where(_REDEMPTIONS.c.id == grant.id)
            .values(terms=perks.terms(perk))
            .returning(*_GRANT_COLUMNS)).one()
    return SimpleNamespace(**grant._mapping)


def _terms_row(row, merchant: MerchantRef) -> SimpleNamespace:
    """A perk's columns as read (not an ORM object: nothing to flush), with its merchant."""
    return SimpleNamespace(**{c.key: getattr(row, c.key) for c in PERK_COLUMNS},
                           merchant=merchant)


def _redeemed(session: Session, verification_id: int) -> bool:
    return session.execute(select(Redemption.id).where(
        Redemption.verification_id == verification_id)).first() is not None


def reverse(session: Session, merchant: MerchantRef, staff_user_id: int, redemption_id: int,
            reason: str) -> Redemption:
    """Undo a grant within a day of it; the quota unit comes back."""
    now = utcnow()
    done = session.execute(
        update(Redemption)
        .where(Redemption.id == redemption_id, Redemption.merchant_id == merchant.id,
               Redemption.status == "granted", Redemption.redeemed_at > now - REVERSAL_WINDOW)
        .values(status="reversed", reversed_at=now, reversed_by=staff_user_id,
                reverse_reason=reason)
        .execution_options(synchronize_session=False))
    redemption = session.execute(
        select(Redemption).where(Redemption.id == redemption_id,
                                 Redemption.merchant_id == merchant.id)
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if redemption is None:
        raise NotFound("no such redemption", "REDEMPTION_NOT_FOUND")
    if done.rowcount != 1:
        if redemption.status == "reversed":
            raise Conflict("this redemption has been reversed already", "ALREADY_REVERSED")
        raise Conflict("a redemption can only be reversed within a day",
                       "REVERSAL_WINDOW_CLOSED")
    session.execute(update(Perk).where(Perk.id == redemption.perk_id, Perk.used > 0)
                    .values(used=Perk.used - 1).execution_options(synchronize_session=False))
    return redemption


def of_resident(user_id: int):
    return (select(Redemption).where(Redemption.user_id == user_id)
            .order_by(Redemption.id.desc()))


def of_merchant(merchant_id: int, perk_id: int | None = None, status: str | None = None):
    stmt = select(Redemption).where(Redemption.merchant_id == merchant_id)
    if perk_id is not None:
        stmt = stmt.where(Redemption.perk_id == perk_id)
    if status:
        stmt = stmt.where(Redemption.status == status)
    return stmt.order_by(Redemption.id.desc())


def _utc_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), SHANGHAI).astimezone(dt.UTC)


def stats(session: Session, merchant_id: int, date_from: dt.date, date_to: dt.date) -> dict:
    """Verifications, grants, reversals and refusals (by reason), per Shanghai day."""
    if date_to < date_from:
        raise Invalid("the period ends before it starts",
                      errors={"query": {"to": ["must be on or after from"]}})
    if (date_to - date_from).days >= MAX_STATS_DAYS:
        raise Invalid("ask for at most a year at a time",
                      errors={"query": {"from": [f"at most {MAX_STATS_DAYS} days"]}})
    start, end = _utc_start(date_from), _utc_start(date_to + dt.timedelta(days=1))
    days = {date_from + dt.timedelta(days=i): Counter()
            for i in range((date_to - date_from).days + 1)}
    refusals: Counter = Counter()
    for at, eligible, reasons in session.execute(
            select(Verification.created_at, Verification.eligible, Verification.reasons)
            .where(Verification.merchant_id == merchant_id,
                   Verification.created_at >= start, Verification.created_at < end)):
        day = days[at.astimezone(SHANGHAI).date()]
        day["verifications"] += 1
        if not eligible:
            day["refusals"] += 1
            refusals.update(reasons or [])
    for at, status in session.execute(
            select(Redemption.redeemed_at, Redemption.status)
            .where(Redemption.merchant_id == merchant_id,
                   Redemption.redeemed_at >= start, Redemption.redeemed_at < end)):
        day = days[at.astimezone(SHANGHAI).date()]
        day["grants"] += 1
        day["reversals"] += status == "reversed"
    keys = ("verifications", "grants", "reversals", "refusals")
    by_day = [{"date": d, **{k: c[k] for k in keys}} for d, c in days.items()]
    totals = {k: sum(row[k] for row in by_day) for k in keys}
    return {"from": date_from, "to": date_to, **totals, "refusals_by_reason": dict(refusals),
            "by_day": by_day}
