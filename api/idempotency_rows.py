"""An Idempotency-Key's row: the answer to a request with the key (its status and its
sealed body), kept after the work, in the request's own transaction, sent with its
COMMIT (`keep_and_commit`).

The header, the replay and running a request with a key are api/idempotency.py
(`run_keyed`); these are the statements on the table. The domain (points) takes no key
and no answer and never reads this table; points/models declares it with every other.

A key is kept for a published window (IDEMPOTENCY_KEY_TTL_HOURS, 24 h by default): a
key sent again after its window is a new key (its old row dropped by `drop_expired`),
and `purge_expired` (the daily `points sweep`, api/points_cli.py) deletes expired rows.
A row holds no personal data in plain text: the request hash is keyed (HMAC) and the
answer is sealed (encrypted) by api/idempotency.py before it is stored."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from points.infra.db import utcnow
from points.infra.hot import HotStatement
from points.models import IdempotencyKey

KEYS = IdempotencyKey.__table__


def purge_expired(session: Session, ttl: dt.timedelta) -> int:
    """Delete the rows older than the window; how many."""
    result = session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.created_at < utcnow() - ttl))
    return result.rowcount or 0


def erase_scopes(session: Session, prefixes: tuple[str, ...]) -> None:
    """Delete the rows whose scope starts with one of `prefixes` (what was kept of one
    caller's writes: api.idempotency.erase_account)."""
    session.execute(delete(IdempotencyKey).where(or_(
        *(IdempotencyKey.scope.startswith(prefix, autoescape=True) for prefix in prefixes))))


class KeyTaken(Exception):
    """A row with the key is in the table already: a request with it was answered first
    (a concurrent one waited on the unique index until that one committed), or its row
    expired and is not swept yet. Nothing of the transaction was committed."""


_INSERT = HotStatement(insert(KEYS).values(**{
    name: bindparam(name, type_=KEYS.c[name].type)
    for name in ("scope", "key", "request_hash", "created_at", "status_code", "response")}
).inline())  # inline: no RETURNING of the new id, which nothing reads


def keep_and_commit(connection: Connection, scope: str, key: str, request_hash: str,
                    status_code: int, response: Any) -> bool:
    """Keep the answer to a request with this key, as the last statement of the
    request's own transaction, after the work. On PostgreSQL its row goes with the
    COMMIT, one round trip (`HotStatement.run_with_commit`): True, committed. Elsewhere
    the row only: False, the caller commits. `KeyTaken` if a row with the key is there
    (the caller rolls its work back, then replays that answer or, for an expired row,
    `drop_expired` and runs again)."""
    try:
        return _INSERT.run_with_commit(connection, {
            "scope": scope, "key": key, "request_hash": request_hash, "created_at": utcnow(),
            "status_code": status_code, "response": response})
    except IntegrityError as error:  # the (scope, key) unique index: the only one it has
        raise KeyTaken from error


def drop_expired(session: Session, scope: str, key: str, ttl: dt.timedelta) -> bool:
    """Delete the key's row if its window is over (a key sent again after its window is
    a new key); whether there was one."""
    result = session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.scope == scope, IdempotencyKey.key == key,
        IdempotencyKey.created_at < utcnow() - ttl))
    return bool(result.rowcount)
