"""`Idempotency-Key`: the same key and body replays the first answer; the same key
with another body is refused (422 IDEMPOTENCY_KEY_REUSED).

The key row is inserted (INSERT … ON CONFLICT …) before the work is done, in the
same transaction, so a concurrent retry with the same key waits on the unique index
and then replays the committed answer instead of doing the work twice.

A key is kept for IDEMPOTENCY_KEY_TTL_HOURS (24 h by default; published in the
header's OpenAPI description): later, the same key is a new request. What is kept
holds no personal data in plain text: the request's hash is an HMAC under the app's
lookup-hash key (a body naming an ID number cannot be guessed back from it), and the
answer is stored encrypted with DATA_KEY (`seal`), read back only for a replay.

A replay is the first answer as it was sent, in the language the first request was
answered in (its texts are not made again): it says that language in
`Content-Language`, whatever the retry's `Accept-Language` (docs/i18n.md)."""
from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

from flask import current_app, jsonify, make_response, request
from sqlalchemy import select

from api import access
from api.context import db_session, state
from points.errors import Conflict, Invalid
from points.i18n import current_locale, gettext
from points.infra.idempotency_keys import claim, store
from points.models import IdempotencyKey

IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "maxLength": 128},
    "description": "Retry safely: the same key and body within the key's window "
                   "(IDEMPOTENCY_KEY_TTL_HOURS, 24 hours by default) replay the first "
                   "answer (header Idempotent-Replayed: true); the same key with another "
                   "body is 422 IDEMPOTENCY_KEY_REUSED. After the window the key is "
                   "forgotten (what was kept of the answer is deleted) and counts as new.",
}


def ttl() -> dt.timedelta:
    """How long a key is kept (IDEMPOTENCY_KEY_TTL_HOURS)."""
    return dt.timedelta(hours=current_app.config["IDEMPOTENCY_KEY_TTL_HOURS"])


def seal(answer: Any) -> dict:
    """The answer as stored: encrypted (it may name a person), with the language its
    texts are in."""
    return {"sealed": state().cipher.encrypt(json.dumps(answer, separators=(",", ":"),
                                                        ensure_ascii=False)),
            "language": current_locale()}


def _sealed(stored: Any) -> bool:
    return isinstance(stored, dict) and "sealed" in stored and set(stored) <= {"sealed",
                                                                               "language"}


def unseal(stored: Any) -> Any:
    if _sealed(stored):
        return json.loads(state().cipher.decrypt(stored["sealed"]))
    return stored  # kept before answers were sealed


def language_of(stored: Any) -> str | None:
    """The language a stored answer is in (None: kept before languages were noted)."""
    return stored.get("language") if _sealed(stored) else None


def _replay(row: IdempotencyKey, request_hash: str):
    if row.request_hash != request_hash:
        raise Invalid(gettext("this Idempotency-Key was used with another request body"),
                      "IDEMPOTENCY_KEY_REUSED")
    if row.status_code is None:
        raise Conflict(gettext("the first request with this key is still running; retry shortly"),
                       "IDEMPOTENCY_IN_PROGRESS")
    response = jsonify(unseal(row.response))
    response.status_code = row.status_code
    response.headers["Idempotent-Replayed"] = "true"
    language = language_of(row.response)
    if language:
        response.headers["Content-Language"] = language
    return response


def key_problem(key: str) -> Invalid | None:
    """Why this Idempotency-Key is refused (None: it is usable)."""
    if len(key) > 128 or "\x00" in key:
        return Invalid(gettext("Idempotency-Key is at most 128 characters, without NUL"),
                       errors={"headers": {"Idempotency-Key": [
                           gettext("at most 128 characters, without NUL")]}})
    return None


def scope_of(label: str, endpoint: str, merchant_id: int | None = None) -> str:
    """Whose keys a key is among: the caller, the merchant a staff member acts for
    (X-Merchant-Id: a clerk of two merchants may use one key at each), the route."""
    who = label if merchant_id is None else f"{label}@m{merchant_id}"
    return f"{who}:{endpoint}"


def digest(path: str, body: Any) -> str:
    """What a replay must match: the path and the JSON body as parsed, hashed with the
    app's lookup-hash key (HMAC-SHA256)."""
    return state().cipher.lookup_hash("idempotency:" + json.dumps(
        [path, body], sort_keys=True, default=str))


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Honour Idempotency-Key on a view. Put it above `@blp.response` so what is stored
    is the answer exactly as it was sent. The view is marked, and `api.smorest`'s route
    documents the header (IDEMPOTENCY_HEADER) beside the view's own parameters."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        problem = key_problem(key)
        if problem is not None:
            raise problem
        principal = access.current()
        seat = principal.extras.get("seat")  # merchant routes: the seat acted in
        scope = scope_of(principal.label, request.endpoint,
                         seat.merchant.id if seat is not None else None)
        request_hash = digest(request.path, request.get_json(silent=True))
        session = db_session()
        connection = session.connection()
        claimed = claim(connection, scope, key, request_hash, ttl())
        if claimed is None:
            existing = session.execute(select(IdempotencyKey).where(
                IdempotencyKey.scope == scope, IdempotencyKey.key == key)).scalar_one()
            return _replay(existing, request_hash)
        response = make_response(view(*args, **kwargs))
        store(connection, claimed, response.status_code, seal(response.get_json()))
        return response

    wrapper._idempotent = True  # type: ignore[attr-defined]  # documented by api.smorest
    return wrapper
