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
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import redis
from sqlalchemy import (
    Connection,
    Row,
    ScalarSelect,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from incentives import perks
from incentives.merchants import MerchantRef
from incentives.models import Perk, Redemption, Verification, VerificationToken
from points.employment.qr import qr_svg
from points.errors import Conflict, Forbidden, Gone, NotFound
from points.i18n import gettext
from points.infra.crypto import DataCipher, hash_token
from points.infra.db import UnitOfWork, utcnow
from points.infra.hot import HotStatement
from points.models import AccessLogEntry, Subject, User
from points.people import accounts
from points.people.identity import is_adult, mask_name
from points.scores import scoring

TOKEN_TTL = dt.timedelta(seconds=120)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime
    qr_svg: str


def issue(session: Session, cipher: DataCipher, user: User, today: dt.date) -> IssuedToken:
    """A new code for this resident (who must be bound, adult and consenting)."""
    if user.subject_id is None:
        raise Conflict(gettext("bind your real-name identity first"), "IDENTITY_REQUIRED")
    if not accounts.has_consent(session, user.id, "merchant_share"):
        raise Forbidden(gettext("grant the merchant_share consent to show merchants your level"),
                        "CONSENT_REQUIRED")
    subject = session.get(Subject, user.subject_id)
    if subject is None or not is_adult(cipher.decrypt(subject.id_number_enc), today):
        raise Forbidden(gettext("credit perks are for residents aged 18 or over"), "NOT_ELIGIBLE")
    token = secrets.token_urlsafe(24)
    now = utcnow()
    row = VerificationToken(token_hash=hash_token(token), user_id=user.id,
                            subject_id=user.subject_id, created_at=now,
                            expires_at=now + TOKEN_TTL)
    session.add(row)
    session.flush()
    return IssuedToken(token, row.expires_at, qr_svg(token))


def drop_unused(session: Session, user: User) -> None:
    """The account's unused codes stop working (its credit file went to another
    account): a merchant must not learn the person's level from them."""
    session.execute(delete(VerificationToken).where(VerificationToken.user_id == user.id,
                                                    VerificationToken.used_at.is_(None)))


_TOKENS = VerificationToken.__table__
_VERIFICATIONS = Verification.__table__
_ACCESS_LOG = AccessLogEntry.__table__
_PERKS = Perk.__table__

# The counter's statements, built once (building a statement costs more Python than
# running it does): executed with their parameters on the request's connection.
# On PostgreSQL a verification is two statements (the code spent and everything the
# answer needs read in one; the verification and its access-log row written in one),
# since every round trip costs both processes CPU; SQLite, which has no data-modifying
# CTEs, runs the same steps one statement each.
_SPEND = (update(_TOKENS)
          .where(_TOKENS.c.token_hash == bindparam("digest"), _TOKENS.c.used_at.is_(None),
                 _TOKENS.c.expires_at > bindparam("now"))
          .values(used_at=bindparam("now"), used_by_merchant_id=bindparam("merchant"))
          .returning(_TOKENS.c.id, _TOKENS.c.user_id, _TOKENS.c.subject_id))
_USED_AT = select(_TOKENS.c.used_at).where(_TOKENS.c.token_hash == bindparam("digest"))


# What a verification needs of the perk: its terms for the holder, and its version.
_PERK = tuple(_PERKS.c[name] for name in (
    "id", "version", "min_level", "active", "valid_from", "valid_until", "used", "total_quota",
    "per_resident_limit"))
_REDEMPTIONS = Redemption.__table__


def _held(subject_id) -> ScalarSelect:
    """The holder's grants of the perk read (0 when there is no perk): a count in the
    read statement itself, no round trip of its own, over the index (perk_id,
    subject_id, status), where it touches at most per_resident_limit entries."""
    return (select(func.count()).select_from(_REDEMPTIONS)
            .where(_REDEMPTIONS.c.perk_id == _PERKS.c.id,
                   _REDEMPTIONS.c.subject_id == subject_id,
                   _REDEMPTIONS.c.status == "granted")
            .scalar_subquery().label("held"))
# The perk (if it is this merchant's), the holder and the holder's latest consent.
_HOLDER = (User.closed_at, User.name_enc,
           accounts.latest_granted(User.id, "merchant_share").label("consents"))
_PERK_AND_HOLDER = (
    select(*_PERK, _held(bindparam("subject")), *_HOLDER).select_from(_PERKS).outerjoin(User, User.id == bindparam("user"))
    .where(_PERKS.c.id == bindparam("perk"), _PERKS.c.merchant_id == bindparam("merchant")))
_SPENT = _SPEND.cte("spent")
# PostgreSQL: the code spent, then the perk (outer-joined: a perk not found still
# says the code was spendable), the holder, and the new verification's id.
_SPEND_AND_READ = HotStatement(select(
    _SPENT.c.id.label("token_id"), _SPENT.c.user_id, _SPENT.c.subject_id,
    func.nextval(func.pg_get_serial_sequence(_VERIFICATIONS.name, "id")).label("new_id"),
    *_PERK, _held(_SPENT.c.subject_id), *_HOLDER,
).select_from(
    _SPENT.outerjoin(_PERKS, and_(_PERKS.c.id == bindparam("perk"),
                                  _PERKS.c.merchant_id == bindparam("merchant")))
    .join(User, User.id == _SPENT.c.user_id)))
_VERIFICATION_VALUES = {c.key: bindparam(f"v_{c.key}", type_=c.type)
                        for c in _VERIFICATIONS.c}
_NEW_VERIFICATION = insert(_VERIFICATIONS).returning(_VERIFICATIONS.c.id)
_LOG_ACCESS = insert(_ACCESS_LOG)
# PostgreSQL: the verification (its id drawn in _SPEND_AND_READ) and the access-log row.
_RECORD = HotStatement(_LOG_ACCESS.add_cte(
    insert(_VERIFICATIONS).values(_VERIFICATION_VALUES).cte("new_verification")))


def _spend_and_read(connection: Connection, digest: str, merchant_id: int, perk_id: int
                    ) -> Row | None:
    """Spend a code exactly once and read what the answer needs: None if the code is
    not spendable, else its token_id, user_id and subject_id, the perk's columns (all
    None if the perk is not this merchant's), the holder's grants of the perk (`held`),
    the holder's closed_at, name_enc and
    consents, and (PostgreSQL) the new verification's id."""
    now = utcnow()
    if connection.dialect.name == "postgresql":
        return _SPEND_AND_READ.first(connection, {"digest": digest, "now": now,
                                                  "merchant": merchant_id, "perk": perk_id})
    code = connection.execute(_SPEND, {"digest": digest, "now": now,
                                       "merchant": merchant_id}).first()
    if code is None:
        return None
    read = connection.execute(_PERK_AND_HOLDER, {"user": code.user_id, "perk": perk_id,
                                                 "merchant": merchant_id,
                                                 "subject": code.subject_id}).first()
    values = dict.fromkeys(_PERK_AND_HOLDER.selected_columns.keys()) | (
        dict(read._mapping) if read else {})
    return SimpleNamespace(token_id=code.id, user_id=code.user_id,
                           subject_id=code.subject_id, new_id=None, **values)


def _record(connection: Connection, verification: SimpleNamespace,
            log_row: Callable[[int], dict]) -> int:
    """Write the verification and its access-log row (`log_row(verification id)`);
    the verification's id."""
    if verification.id is not None:  # PostgreSQL: drawn already, one statement for both
        _RECORD.all(connection, log_row(verification.id) | {
            f"v_{key}": value for key, value in vars(verification).items()})
        return verification.id
    fields = {key: value for key, value in vars(verification).items() if key != "id"}
    new_id = connection.execute(_NEW_VERIFICATION, fields).scalar_one()
    connection.execute(_LOG_ACCESS, log_row(new_id))
    return new_id


def _unspendable(connection: Connection, digest: str) -> Conflict | Gone:
    """Why the code (by its hash) could not be spent: 409 TOKEN_USED, else 410
    TOKEN_EXPIRED (unknown or too old)."""
    used = connection.execute(_USED_AT, {"digest": digest}).first()
    if used is not None and used.used_at is not None:
        return Conflict(gettext("this code has been used; ask the resident for a new one"), "TOKEN_USED")
    return Gone(gettext("this code is unknown or has expired; ask the resident for a new one"),
                "TOKEN_EXPIRED")


def verify(work: UnitOfWork, cipher: DataCipher, cache: redis.Redis, merchant: MerchantRef,
           staff_user_id: int, token: str, perk_id: int, today: dt.date) -> SimpleNamespace:
    """May the code's holder have this perk? Spends the code and logs the access.

    Core statements on the transaction's connection (this is the merchant counter's
    hottest path): the code spent and the perk, the holder and the holder's consent
    read, then the verification and the access-log row written. The ORM only for a
    refusal's 404 and a score not cached."""
    connection = work.connection()
    digest = hash_token(token)
    row = _spend_and_read(connection, digest, merchant.id, perk_id)
    if row is None:
        perks.own(work.session, merchant.id, perk_id)  # another merchant's perk: 404 first
        raise _unspendable(connection, digest)
    if row.id is None:  # the request's transaction rolls back: the code stays unspent
        raise NotFound(gettext("no such perk"), "PERK_NOT_FOUND")
    if row.user_id == staff_user_id:  # rolled back too: the code stays unspent
        raise Conflict(gettext("staff cannot verify their own code; another member of staff may"),
                       "OWN_CODE")
    level: str | None = None
    restricted = False
    name = ""
    # Consent is checked now, not when the code was made: after a withdrawal the
    # merchant learns nothing about the person, not even the level.
    if row.consents and row.closed_at is None:
        score = (scoring.cached_points(cache, row.subject_id, today)
                 or scoring.rebuilt_points(work.session, cache, row.subject_id, today))
        level, restricted = score["level"], score["restricted"]
        reasons = perks.subject_reasons(level, restricted, row, held=row.held)
        if restricted:  # a merchant never learns that a person is restricted
            level = perks.RESTRICTED_SHOWN_LEVEL
        name = cipher.decrypt(row.name_enc) if row.name_enc else ""
    else:
        reasons = [perks.CONSENT_WITHDRAWN]
    reasons += perks.perk_reasons(row, today)
    now = utcnow()
    verification = SimpleNamespace(
        id=row.new_id, token_id=row.token_id, merchant_id=merchant.id, perk_id=row.id,
        perk_version=row.version, staff_user_id=staff_user_id, user_id=row.user_id,
        subject_id=row.subject_id, eligible=not reasons, level=level, restricted=restricted,
        display_name=mask_name(name) if name else "*", reasons=reasons, created_at=now)
    verification.id = _record(connection, verification, lambda verification_id: (
        accounts.access_row(row.subject_id, "merchant", "perk_verification",
                            actor_id=f"user:{staff_user_id}", organisation=merchant.name,
                            reference=f"verification:{verification_id} perk:{row.id}", at=now)))
    return verification
