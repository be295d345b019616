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

`redeem` goes by the rule: the verification read with its subject's row locked,
checked (not expired, not the staff's own code, the resident eligible), the grant
tried on the perk's terms in force (read again if an edit overtook the read),
refused for what the database did not grant, and the grant's terms replaced by
those of the perk version the quota unit was taken from if an edit committed
while the perk's row was awaited.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from incentives import perks
from incentives.merchants import MerchantRef
from incentives.models import Perk, Redemption, Verification
from points.errors import Conflict, DomainError, Forbidden, Gone, Invalid, NotFound, Unavailable
from points.i18n import gettext
from points.infra.db import SHANGHAI, UnitOfWork, per_dialect, utcnow
from points.infra.hot import HotStatement
from points.models import Subject
from points.people import export

VERIFICATION_TTL = dt.timedelta(minutes=10)
REVERSAL_WINDOW = dt.timedelta(days=1)
ATTEMPTS = 3  # reads of a perk's terms that an edit may overtake
MAX_STATS_DAYS = 366


# What a grant needs of its perk: the terms it stores, and whether they still allow it.
# (Every column a statement returns costs the driver a loader per execution.)
TERMS_COLUMNS = tuple(Perk.__table__.c[name] for name in (
    "id", "version", "merchant_id", "title", "description", "min_level", "benefit",
    "per_resident_limit", "valid_from", "valid_until", "active"))


def _changed_terms(perk, verification: Verification, today: dt.date) -> list[str]:
    """What in the perk's terms now refuses this verification's holder."""
    return (perks.perk_reasons(perk, today, quota=False)
            + perks.subject_reasons(verification.level or "", verification.restricted, perk))


def _refusal(perk, verification: Verification, held: int, today: dt.date) -> DomainError | None:
    """Why this perk may not be granted on this verification (None: it may)."""
    if held >= perk.per_resident_limit:
        return Conflict(gettext("the resident has had this perk as often as allowed"), "LIMIT_REACHED",
                        limit=perk.per_resident_limit)
    changed = _changed_terms(perk, verification, today)
    if changed:
        return Forbidden(gettext("the perk's terms changed since the verification"), "NOT_ELIGIBLE",
                         reasons=changed)
    return None


_VERIFICATIONS = Verification.__table__
_REDEMPTIONS = Redemption.__table__
_PERKS = Perk.__table__
_SUBJECTS = Subject.__table__
_LOCKED_FIELDS = ("id", "user_id", "subject_id", "level", "restricted", "display_name",
                  "reasons", "created_at")
_GRANTED_FIELDS = ("verification_id", "perk_id", "merchant_id", "user_id", "subject_id",
                   "staff_user_id", "status", "terms", "display_name", "redeemed_at")

_UNIT_COLUMNS = (_PERKS.c.id, _PERKS.c.version)  # a quota unit taken: which perk version

# The grant's statements, built once (building a statement costs more Python than
# running it does): executed with their parameters on the request's connection.
# The verification and its perk's terms (columns `perk__…`), with the subject's row
# locked: one person's redemptions run one after the other.
_VERIFICATION_LOCKED = HotStatement(
    select(*(_VERIFICATIONS.c[name] for name in _LOCKED_FIELDS),
           *(c.label(f"perk__{c.key}") for c in TERMS_COLUMNS))
    .join(_SUBJECTS, _SUBJECTS.c.id == _VERIFICATIONS.c.subject_id)
    .join(_PERKS, _PERKS.c.id == _VERIFICATIONS.c.perk_id)
    .where(_VERIFICATIONS.c.id == bindparam("verification"),
           _VERIFICATIONS.c.merchant_id == bindparam("merchant"))
    .with_for_update(key_share=True, of=_SUBJECTS))
# Read under that lock: the subject's grants of the perk, whether this verification
# has one, and the perk's version now (an edit committed while the lock was awaited
# is not in the locked read: its terms are read again).
_STANDING = select(
    select(_PERKS.c.version).where(_PERKS.c.id == bindparam("perk_id"))
    .scalar_subquery().label("perk_version"),
    select(func.count(_REDEMPTIONS.c.id)).where(
        _REDEMPTIONS.c.perk_id == bindparam("perk_id"),
        _REDEMPTIONS.c.subject_id == bindparam("subject_id"),
        _REDEMPTIONS.c.status == "granted").scalar_subquery().label("held"),
    select(_REDEMPTIONS.c.id).where(
        _REDEMPTIONS.c.verification_id == bindparam("verification_id")).exists().label("done"))
# UNIQUE (verification_id): a concurrent retry of this grant inserts nothing.
_GRANT = per_dialect(lambda insert: insert(_REDEMPTIONS).on_conflict_do_nothing(
    index_elements=["verification_id"]).returning(_REDEMPTIONS.c.id))
_TAKE_UNIT = (update(_PERKS)
              .where(_PERKS.c.id == bindparam("perk_id"), _PERKS.c.used < _PERKS.c.total_quota)
              .values(used=_PERKS.c.used + 1).returning(*_UNIT_COLUMNS))
# The perk's terms again, when an edit moved its version since the locked read.
_TERMS = select(*TERMS_COLUMNS).where(_PERKS.c.id == bindparam("perk_id"))


def _grant_in_one_statement():
    """PostgreSQL: the subject's standing, the grant (only if `may` — the terms allow
    it —, the verification has none, the subject is under the limit and the perk is
    still at the version its terms were read from) and the quota unit (only if
    granted), in one statement. It starts after the subject's lock was taken, so its
    snapshot holds every grant of that subject."""
    standing = _STANDING.cte("standing")
    # Parameters named grant_…: a parameter named like a column of perks would make
    # the UPDATE below set that column.
    values = select(*(bindparam(f"grant_{name}", type_=_REDEMPTIONS.c[name].type)
                      for name in _GRANTED_FIELDS)).select_from(standing).where(
        bindparam("may"), standing.c.done.is_(False),
        standing.c.held < bindparam("limit"), standing.c.perk_version == bindparam("version_read"))
    grant = (postgresql.insert(_REDEMPTIONS).from_select(_GRANTED_FIELDS, values)
             .on_conflict_do_nothing(index_elements=["verification_id"])
             .returning(_REDEMPTIONS.c.id).cte("grant"))
    unit = (update(_PERKS)
            .where(_PERKS.c.id == bindparam("perk_id"), _PERKS.c.used < _PERKS.c.total_quota,
                   exists(select(grant.c.id)))
            .values(used=_PERKS.c.used + 1).returning(*_UNIT_COLUMNS)
            .cte("unit"))
    return (select(standing.c.held, standing.c.done, standing.c.perk_version,
                   grant.c.id.label("grant_id"), *(c.label(f"unit_{c.key}") for c in unit.c))
            .select_from(standing.outerjoin(grant, true()).outerjoin(unit, true())))


_GRANT_AT_ONCE = HotStatement(_grant_in_one_statement())


def _prefixed(row, prefix: str, columns) -> SimpleNamespace | None:
    """The columns `prefix…` of a row, unprefixed (None: the part returned no row)."""
    if getattr(row, f"{prefix}id") is None:
        return None
    return SimpleNamespace(**{c.key: getattr(row, f"{prefix}{c.key}") for c in columns})


def _try_grant(connection: Connection, fields: dict, may: bool, limit: int,
               version: int) -> SimpleNamespace:
    """Grant if `may` (the terms of perk `version` allow it), unless done already, at
    the limit or the perk's version moved, and take the quota unit: the subject's
    standing (held, done, perk_version), the grant's id and the perk's id and version
    as the unit left it (each None if it did not happen)."""
    if connection.dialect.name == "postgresql":
        return _try_grant_at_once(connection, fields, may, limit, version)
    return _try_grant_step_by_step(connection, fields, may, limit, version)


def _try_grant_at_once(connection: Connection, fields: dict, may: bool, limit: int,
                       version: int) -> SimpleNamespace:
    """PostgreSQL: `_try_grant` in one statement (`_grant_in_one_statement`)."""
    row = _GRANT_AT_ONCE.one(connection, {
        "perk_id": fields["perk_id"], "subject_id": fields["subject_id"],
        "verification_id": fields["verification_id"], "may": may, "limit": limit,
        "version_read": version,
        **{f"grant_{name}": value for name, value in fields.items()}})
    return SimpleNamespace(held=row.held, done=row.done, perk_version=row.perk_version,
                           grant_id=row.grant_id, unit=_prefixed(row, "unit_", _UNIT_COLUMNS))


def _try_grant_step_by_step(connection: Connection, fields: dict, may: bool, limit: int,
                            version: int) -> SimpleNamespace:
    """SQLite: `_try_grant` one statement after the other: the standing, the grant
    only if it may be, the quota unit only if granted."""
    standing = connection.execute(_STANDING, fields).one()
    grant_id = unit = None
    if may and not standing.done and standing.held < limit and standing.perk_version == version:
        grant_id = connection.execute(_GRANT[connection.dialect.name], fields).scalar()
        if grant_id is not None:  # the quota unit, last: the row is ours until the commit
            unit = connection.execute(_TAKE_UNIT, {"perk_id": fields["perk_id"]}).first()
    return SimpleNamespace(held=standing.held, done=standing.done,
                           perk_version=standing.perk_version, grant_id=grant_id, unit=unit)


def redeem(work: UnitOfWork, merchant: MerchantRef, staff_user_id: int, verification_id: int,
           today: dt.date) -> SimpleNamespace:
    """Grant the perk; the grant as written. The shared quota row is taken last, right
    before commit, so concurrent grants of one perk wait on it only for the commit
    itself; a perk edited meanwhile is checked again under that lock.

    Core statements on the transaction's connection (the merchant counter's hottest
    path): the verification and its perk read with the subject's row locked, then
    the subject's grants of the perk counted, the grant written and the quota unit
    taken (one statement on PostgreSQL)."""
    connection = work.connection()
    verification = _read_verification_locked(connection, merchant, verification_id)
    now = utcnow()
    _check_verification(connection, verification, staff_user_id, now)
    perk = _terms_row(verification, merchant, prefix="perk__")
    fields = _grant_fields(verification, perk, staff_user_id, now)
    perk, fields, outcome = _grant_on_terms_in_force(connection, verification, perk, fields,
                                                     today)
    _refuse_unless_granted(verification, perk, outcome, today)
    if outcome.unit.version != perk.version:  # edited since read: the terms in force now
        fields = _record_terms_in_force(connection, verification, perk, fields, outcome, today)
    # The grant as written (only its id came back from the database).
    return SimpleNamespace(id=outcome.grant_id, **fields, reversed_at=None, reverse_reason=None)


def _read_verification_locked(connection: Connection, merchant: MerchantRef,
                              verification_id: int):
    """The merchant's verification and its perk's terms (columns `perk__…`), read with
    the subject's row locked: one person's redemptions run one after the other."""
    verification = _VERIFICATION_LOCKED.first(
        connection, {"verification": verification_id, "merchant": merchant.id})
    if verification is None:
        raise NotFound(gettext("no such verification"), "VERIFICATION_NOT_FOUND")
    return verification


def _check_verification(connection: Connection, verification, staff_user_id: int,
                        now: dt.datetime) -> None:
    """Refuse a verification older than VERIFICATION_TTL, the staff's own code, and a
    resident the verification found not eligible for a reason not decided at the grant."""
    if now - verification.created_at > VERIFICATION_TTL:
        if _redeemed(connection, verification.id):
            raise _already_redeemed()
        raise Gone(gettext("the verification is older than 10 minutes; scan a new code"),
                   "VERIFICATION_EXPIRED")
    if verification.user_id == staff_user_id:
        raise Conflict(gettext("staff cannot redeem their own code; another member of staff may"),
                       "OWN_CODE")
    # Quota and the per-resident limit are decided by the grant's statements, even if
    # they looked reached when verified (a reversal may have given a unit back).
    blocking = [r for r in verification.reasons if r not in perks.DECIDED_AT_GRANT]
    if blocking:
        raise Forbidden(gettext("the resident may not have this perk"), "NOT_ELIGIBLE", reasons=blocking)


def _grant_fields(verification, perk, staff_user_id: int, now: dt.datetime) -> dict:
    """The redemption's columns (`_GRANTED_FIELDS`), with the perk's terms as read."""
    return {
        "verification_id": verification.id, "perk_id": perk.id, "merchant_id": perk.merchant.id,
        "user_id": verification.user_id, "subject_id": verification.subject_id,
        "staff_user_id": staff_user_id, "status": "granted", "terms": perks.terms(perk),
        "display_name": verification.display_name, "redeemed_at": now}


def _grant_on_terms_in_force(connection: Connection, verification, perk, fields: dict,
                             today: dt.date) -> tuple[SimpleNamespace, dict, SimpleNamespace]:
    """Try the grant on the perk's terms as read. An edit committed while the subject's
    lock was awaited moved the perk's version: nothing was written, and the grant is
    tried again on the terms in force now, at most ATTEMPTS times. The terms, the
    fields and the outcome (`_try_grant`) of the try that had the terms in force."""
    for _ in range(ATTEMPTS):
        outcome = _try_grant(connection, fields, not _changed_terms(perk, verification, today),
                             perk.per_resident_limit, perk.version)
        if outcome.perk_version == perk.version:
            return perk, fields, outcome
        perk = _terms_now(connection, perk.id, perk.merchant)
        fields = {**fields, "terms": perks.terms(perk)}
    raise Unavailable(gettext("the perk is being edited; try again"), "DATABASE_BUSY", retry_after=1)


def _refuse_unless_granted(verification, perk, outcome: SimpleNamespace, today: dt.date) -> None:
    """Why nothing was granted, if nothing was: the verification redeemed already, the
    resident's limit or the perk's terms, a concurrent retry of the grant first, or the
    quota used up."""
    if outcome.done:
        raise _already_redeemed()
    refusal = _refusal(perk, verification, outcome.held, today)
    if refusal is not None:
        raise refusal
    if outcome.grant_id is None:  # a concurrent retry of this grant got there first
        raise _already_redeemed()
    if outcome.unit is None:
        raise Conflict(gettext("the perk's quota is used up"), "QUOTA_EXHAUSTED")


def _record_terms_in_force(connection: Connection, verification, perk, fields: dict,
                           outcome: SimpleNamespace, today: dt.date) -> dict:
    """The quota unit came from a version of the perk edited after its terms were read
    (the edit committed while the perk's row was awaited): the terms in force now are
    checked, and stored with the grant. The grant's fields as stored."""
    perk = _terms_now(connection, perk.id, perk.merchant)
    refusal = _refusal(perk, verification, outcome.held, today)
    if refusal is not None:
        raise refusal
    terms = perks.terms(perk)
    connection.execute(update(_REDEMPTIONS).where(_REDEMPTIONS.c.id == outcome.grant_id)
                       .values(terms=terms))
    return {**fields, "terms": terms}


def _already_redeemed() -> Conflict:
    return Conflict(gettext("this verification has been redeemed already"), "ALREADY_REDEEMED")


def _terms_row(row, merchant: MerchantRef, prefix: str = "") -> SimpleNamespace:
    """A perk's terms as read (columns `prefix…` of the row; not an ORM object: nothing
    to flush), with its merchant."""
    return SimpleNamespace(**{c.key: getattr(row, prefix + c.key) for c in TERMS_COLUMNS},
                           merchant=merchant)


def _terms_now(connection: Connection, perk_id: int, merchant: MerchantRef) -> SimpleNamespace:
    """The perk's terms as they stand now: an edit moved its version since they were read."""
    return _terms_row(connection.execute(_TERMS, {"perk_id": perk_id}).one(), merchant)


def _redeemed(connection: Connection, verification_id: int) -> bool:
    return connection.execute(select(Redemption.id).where(
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
        raise NotFound(gettext("no such redemption"), "REDEMPTION_NOT_FOUND")
    if done.rowcount != 1:
        if redemption.status == "reversed":
            raise Conflict(gettext("this redemption has been reversed already"), "ALREADY_REVERSED")
        raise Conflict(gettext("a redemption can only be reversed within a day"),
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
        raise Invalid(gettext("the period ends before it starts"),
                      errors={"query": {"to": [gettext("must be on or after from")]}})
    if (date_to - date_from).days >= MAX_STATS_DAYS:
        raise Invalid(gettext("ask for at most a year at a time"),
                      errors={"query": {"from": [gettext("at most {max_stats_days} days", max_stats_days=MAX_STATS_DAYS)]}})
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


def export_section(session: Session, user) -> list[dict[str, Any]]:
    """The resident's redemptions, for their data export (`points.people.export` sections)."""
    return export.rows(session, select(Redemption).where(Redemption.user_id == user.id)
                       .order_by(Redemption.id), {"user_id", "staff_user_id"})
