"""Which merchants a staff member acts for, cached in Redis, so a counter request
(verify, redeem) makes no database round trip to learn who is calling.

The entry is read in the same Redis round trip as the token's denylist check
(api/access.py), together with a global seats epoch and the account's gate
version (api/gate.py). It holds the approved merchants' ids, names and the
user's roles, and is used only if it was made under the current epoch and the
current gate version:

- every commit that changes a merchant's status or name (approval, suspension, …)
  or its staff (a new member, a removal, an account leaving every merchant) bumps
  the epoch (the session hooks below, after commit; `watch`), so a removed member or a
  suspended merchant loses its powers at once. The hooks see the ORM and
  `Session.execute`: write these two tables that way, not on
  `session.connection()` or in raw SQL;
- every commit that changes the account (closure) bumps its gate version.

The epoch and gate version stored are the ones read *before* the database was,
so an entry read from the database while a change committed is born stale and
never used. If a bump is lost (Redis unreachable just then, or the database
connection lost during that COMMIT, whose outcome is then unknown), an entry lives
at most `TTL_SECONDS`.
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from api.context import state, state_if_any
from incentives import merchants
from incentives.models import Merchant, MerchantStaff
from points.errors import Invalid
from points.i18n import gettext
from points.infra.db import on_commit

if TYPE_CHECKING:
    from api.access import Principal

log = logging.getLogger(__name__)
MAX_ID = 2**62  # larger ids cannot exist; refuse them before the database overflows
TTL_SECONDS = 60
EPOCH_KEY = "seats:epoch"
_TABLES = {Merchant.__tablename__, MerchantStaff.__tablename__}


def keys(principal: str) -> tuple[str, str]:
    """(entry, epoch) keys for `user:<id>`, read after the gate's two keys."""
    return f"seats:{principal}", EPOCH_KEY


def usable(values: list | None) -> list[tuple[int, str, str]] | None:
    """The cached seats [(merchant_id, name, role)] if the entry is current: `values`
    are the gate's entry and version, then this entry and the epoch, as Redis
    returned them (None: Redis did not answer)."""
    if not values:
        return None
    _, gate_version, raw, epoch = values
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        if entry["epoch"] != int(epoch or 0) or entry["gate"] != int(gate_version or 0):
            return None
        return [(int(merchant_id), str(name), str(role))
                for merchant_id, name, role in entry["seats"]]
    except (ValueError, TypeError, KeyError):  # not an entry this code made: a miss
        return None


def merchant_check(principal: Principal, environ: dict[str, Any]) -> None:
    """The merchant role's check (`AppState.role_checks`, api/bootstrap.py): staff of an
    approved merchant, acting in the seat `X-Merchant-Id` names (or their only one),
    which goes into `principal.seat`. The seats come from Redis when cached and
    current, else from the database, then cached."""
    cached = principal.cached  # None when Redis did not answer
    seats = usable(cached)
    if seats is None:
        credit = state()
        account, rows = merchants.staff_of(credit.db.session, principal.id)
        principal.confirm_account(account)  # refuses closed accounts
        seats = [(row.merchant_id, row.name, row.role) for row in rows]
        if cached is not None:
            store(credit.redis, principal.id, cached, seats)
    principal.seat = merchants.seat_of(
        seats, wanted_merchant(environ.get("HTTP_X_MERCHANT_ID")))


def wanted_merchant(raw: str | None) -> int | None:
    """The merchant an X-Merchant-Id header names (None: no header)."""
    if raw is None:
        return None
    if not (raw.strip().isascii() and raw.strip().isdigit()) or int(raw) > MAX_ID:
        raise Invalid(gettext("X-Merchant-Id is a merchant id"),
                      errors={"headers": {"X-Merchant-Id": [gettext("a merchant id")]}})
    return int(raw)


def store(client: redis.Redis, user_id: int, values: list, seats: list[tuple[int, str, str]]
          ) -> None:
    """Cache seats read from the database, under the epoch and gate version read
    before that (`values`, as for `usable`)."""
    _, gate_version, _, epoch = values
    entry = {"epoch": int(epoch or 0), "gate": int(gate_version or 0),
             "seats": [list(seat) for seat in seats]}
    try:
        client.set(keys(f"user:{user_id}")[0], json.dumps(entry, ensure_ascii=False),
                   ex=TTL_SECONDS)
    except redis.exceptions.RedisError:
        log.warning("redis unavailable; the staff seats are not cached")


def _changed(session: Session) -> None:
    """Bump the epoch once this transaction commits (registered once per transaction
    or savepoint: a savepoint rolled back drops its own registration)."""
    credit = state_if_any()
    if credit is None:
        return  # a script outside the app: there is no cache to keep in step
    session.connection()  # the statement about to run begins the transaction anyway
    current = session.get_nested_transaction() or session.get_transaction()
    if session.info.get("seats_changed") is current:
        return
    session.info["seats_changed"] = current
    client = credit.redis

    def bump() -> None:
        try:
            client.incr(EPOCH_KEY)
        except redis.exceptions.RedisError:
            log.warning("redis unavailable; cached staff seats expire by themselves")

    on_commit(session, bump)


def _changes_seats(obj: object) -> bool:
    """Whether flushing this changed object may change anyone's seats: any staff row;
    a merchant's status or name (not, say, a pending application edited again)."""
    if isinstance(obj, MerchantStaff):
        return True
    if isinstance(obj, Merchant):
        attrs = inspect(obj).attrs
        return attrs.status.history.has_changes() or attrs.name.history.has_changes()
    return False


def watch(sessions: sessionmaker) -> None:
    """Bump the epoch after commits of this factory's sessions that change seats
    (api/bootstrap.py attaches it to the app's session factories)."""
    event.listen(sessions, "before_flush", _flushing)
    event.listen(sessions, "do_orm_execute", _executing)


def _flushing(session: Session, flush_context: Any, instances: Any) -> None:
    if (any(isinstance(obj, Merchant | MerchantStaff) for obj in session.deleted)
            or any(isinstance(obj, MerchantStaff) for obj in session.new)
            or any(_changes_seats(obj) for obj in session.dirty)):
        _changed(session)


def _executing(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _TABLES:
            _changed(state.session)
