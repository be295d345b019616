"""An Idempotency-Key's row: the answer to a request with the key, kept after the work,
in the request's own transaction (`keep`).

The HTTP side (the header, the replay, running a request with a key) is
api/idempotency.py (`run_keyed`); no domain function takes a key or an answer.

A key is kept for a published window (IDEMPOTENCY_KEY_TTL_HOURS, 24 h by default):
a key sent again after its window is a new key (its old row is taken over by
`keep`), and `purge_expired` (the daily `points sweep`) deletes expired rows. A row
holds no personal data in plain text: the request hash is keyed (HMAC) and the
answer is sealed (encrypted) by the HTTP side before it is stored."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, delete, or_
from sqlalchemy.orm import Session

from points.infra.db import per_dialect, utcnow
from points.infra.hot import HotStatement
from points.models import IdempotencyKey

KEYS = IdempotencyKey.__table__


def purge_expired(session: Session, ttl: dt.timedelta) -> int:
    """Delete the rows older than the window; how many."""
    result = session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.created_at < utcnow() - ttl))
    return result.rowcount or 0


def erase_account(session: Session, user_id: int) -> None:
    """What the table kept of an account's own writes (scopes `user:<id>:…` and, for its
    work as merchant staff, `user:<id>@m…`)."""
    session.execute(delete(IdempotencyKey).where(or_(
        IdempotencyKey.scope.startswith(f"user:{user_id}:", autoescape=True),
        IdempotencyKey.scope.startswith(f"user:{user_id}@", autoescape=True))))


def keep_statement(insert: Callable[[Any], Any]):
    """INSERT of a key's row with its answer … ON CONFLICT DO UPDATE … WHERE the old row
    expired, RETURNING id: the row (new, or an expired one taken over), or no row if a
    request with the key was answered first within the window (a concurrent one waits
    on the unique index until the first commits, then finds its row)."""
    names = ("scope", "key", "request_hash", "created_at", "status_code", "response")
    values = {name: bindparam(name, type_=KEYS.c[name].type) for name in names}
    statement = insert(KEYS).values(**values)
    return statement.on_conflict_do_update(
        index_elements=["scope", "key"],
        set_={name: statement.excluded[name] for name in names if name not in ("scope", "key")},
        where=KEYS.c.created_at < bindparam("expired_before"),
    ).returning(KEYS.c.id)


_KEEP = {name: HotStatement(statement) for name, statement in per_dialect(keep_statement).items()}


def keep(connection: Connection, scope: str, key: str, request_hash: str, status_code: int,
         response: Any, ttl: dt.timedelta) -> int | None:
    """Keep the answer to a request with this key (its row's id), in the request's own
    transaction, after the work; None if a request with the key was answered first
    within `ttl` (the caller then rolls its work back and replays that answer)."""
    now = utcnow()
    return _KEEP[connection.dialect.name].scalar(connection, {
        "scope": scope, "key": key, "request_hash": request_hash, "created_at": now,
        "status_code": status_code, "response": response, "expired_before": now - ttl})
