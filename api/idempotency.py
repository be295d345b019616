"""`Idempotency-Key`: the same key and body replays the first answer; the same key
with another body is refused (422 IDEMPOTENCY_KEY_REUSED).

The key row is inserted (INSERT … ON CONFLICT DO NOTHING) before the work is done,
in the same transaction, so a concurrent retry with the same key waits on the
unique index and then replays the committed answer instead of doing the work
twice."""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import jsonify, make_response, request
from sqlalchemy import bindparam, select, update

from api import access
from api.context import db_session
from points.db import per_dialect, utcnow
from points.errors import Conflict, Invalid
from points.models import IdempotencyKey

_KEYS = IdempotencyKey.__table__
# Built once: the claim (INSERT … ON CONFLICT DO NOTHING) and the answer stored.
_CLAIM = per_dialect(lambda insert: insert(_KEYS).on_conflict_do_nothing(
    index_elements=["scope", "key"]).returning(_KEYS.c.id))
_ANSWER = update(_KEYS).where(_KEYS.c.id == bindparam("claimed"))


def _replay(row: IdempotencyKey, digest: str):
    if row.request_hash != digest:
        raise Invalid("this Idempotency-Key was used with another request body",
                      "IDEMPOTENCY_KEY_REUSED")
    if row.status_code is None:
        raise Conflict("the first request with this key is still running; retry shortly",
                       "IDEMPOTENCY_IN_PROGRESS")
    response = jsonify(row.response)
    response.status_code = row.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Honour Idempotency-Key on a view. Put it above `@blp.response` so what is
    stored is the answer exactly as it was sent."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        if len(key) > 128 or "\x00" in key:
            raise Invalid("Idempotency-Key is at most 128 characters, without NUL",
                          errors={"headers": {"Idempotency-Key": [
                              "at most 128 characters, without NUL"]}})
        scope = f"{access.current().label}:{request.endpoint}"
        body = request.get_json(silent=True)
        digest = hashlib.sha256(json.dumps([request.path, body], sort_keys=True,
                                           default=str).encode()).hexdigest()
        session = db_session()
        # Claim the key: a concurrent request with it waits on the unique index until
        # the first commits, then inserts nothing and replays the stored answer.
        connection = session.connection()
        claimed = connection.execute(_CLAIM[connection.dialect.name], {
            "scope": scope, "key": key, "request_hash": digest, "created_at": utcnow()}).scalar()
        if claimed is None:
            existing = session.execute(select(IdempotencyKey).where(
                IdempotencyKey.scope == scope, IdempotencyKey.key == key)).scalar_one()
            return _replay(existing, digest)
        response = make_response(view(*args, **kwargs))
        connection.execute(_ANSWER, {"claimed": claimed, "status_code": response.status_code,
                                     "response": response.get_json()})
        return response

    return wrapper
