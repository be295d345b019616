"""An Idempotency-Key's row: claimed before the work, its answer stored after.

The HTTP side (the header, the replay, the decorator) is api/idempotency.py; the
merchant counter's grant claims and answers a key inside its own statements
(incentives/redemptions.py). Both build the row's statements here."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, update

from points.db import per_dialect, utcnow
from points.hot import HotStatement
from points.models import IdempotencyKey

KEYS = IdempotencyKey.__table__


def claim_statement(insert: Callable[[Any], Any], prefix: str | None = None):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the key's row, or no row if a
    request with the key came first (a concurrent one waits on the unique index until
    the first commits). Without `prefix` it takes its columns from the parameters
    given; with one, from parameters `{prefix}scope`, `{prefix}key`,
    `{prefix}request_hash` and `{prefix}created_at` (a part of another statement)."""
    statement = insert(KEYS)
    if prefix is not None:
        statement = statement.values(**{name: bindparam(prefix + name) for name in (
            "scope", "key", "request_hash", "created_at")})
    return statement.on_conflict_do_nothing(index_elements=["scope", "key"]).returning(
        KEYS.c.id)


def answer_statement(prefix: str = ""):
    """UPDATE of a claimed row with the answer sent: parameters `{prefix}claimed`,
    `{prefix}status_code` and `{prefix}response`."""
    return (update(KEYS).where(KEYS.c.id == bindparam(prefix + "claimed"))
            .values(status_code=bindparam(prefix + "status_code"),
                    response=bindparam(prefix + "response", type_=KEYS.c.response.type)))


_CLAIM = {name: HotStatement(statement)
          for name, statement in per_dialect(claim_statement).items()}
_ANSWER = HotStatement(answer_statement())


def claim(connection: Connection, scope: str, key: str, request_hash: str) -> int | None:
    """Claim the key (its row's id), or None if a request with it came first."""
    return _CLAIM[connection.dialect.name].scalar(connection, {
        "scope": scope, "key": key, "request_hash": request_hash, "created_at": utcnow()})


def store(connection: Connection, claimed: int, status_code: int, response: Any) -> None:
    """Keep the answer sent with a claimed key, for its replays."""
    _ANSWER.all(connection, {"claimed": claimed, "status_code": status_code,
                             "response": response})
