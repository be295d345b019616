"""`Idempotency-Key`: the same key and body replays the first answer; the same key
with another body is refused (422 IDEMPOTENCY_KEY_REUSED).

The key's row is written with the answer as the last statement of the request's own
transaction, sent with its COMMIT (`run_keyed`, `idempotency_rows.keep_and_commit`): a
concurrent request with the same key waits on the unique index, then rolls its own
work back and replays the committed answer, so the work is never done twice; a retry
of a request answered before runs its work again, rolled back, before it finds the
key (two round trips fewer for every keyed write than claiming the key first and
storing the answer after).

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
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from flask import Response, jsonify, make_response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import access, uow
from api.context import config, db_session, state
from api.idempotency_rows import KeyTaken, drop_expired, erase_scopes, keep_and_commit
from points.errors import Conflict, Invalid
from points.i18n import current_locale, gettext
from points.infra.db import utcnow
from points.models import IdempotencyKey, User

T = TypeVar("T")
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
    return dt.timedelta(hours=config()["IDEMPOTENCY_KEY_TTL_HOURS"])


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


class Replay(NamedTuple):
    """The first answer to a key, to send again."""

    status_code: int
    answer: Any
    language: str | None  # the language its texts are in (None: not noted)

    def headers(self) -> list[tuple[str, str]]:
        headers = [("Idempotent-Replayed", "true")]
        if self.language:
            headers.append(("Content-Language", self.language))
        return headers


def _replay(row: IdempotencyKey, request_hash: str) -> Replay:
    if row.request_hash != request_hash:
        raise Invalid(gettext("this Idempotency-Key was used with another request body"),
                      "IDEMPOTENCY_KEY_REUSED")
    if row.status_code is None:
        raise Conflict(gettext("the first request with this key is still running; retry shortly"),
                       "IDEMPOTENCY_IN_PROGRESS")
    return Replay(row.status_code, unseal(row.response), language_of(row.response))


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


def scopes_of(label: str) -> tuple[str, ...]:
    """What every scope of a caller's keys starts with: its own, and as staff of any
    merchant (`scope_of`)."""
    return f"{label}:", f"{label}@m"


def erase_account(session: Session, user: User) -> None:
    """The answers kept for a closed account's retried writes go with it (one of the
    app's account erasers, api/bootstrap.py)."""
    erase_scopes(session, scopes_of(f"user:{user.id}"))


def digest(path: str, body: Any) -> str:
    """What a replay must match: the path and the JSON body as parsed, hashed with the
    app's lookup-hash key (HMAC-SHA256)."""
    return state().cipher.lookup_hash("idempotency:" + json.dumps(
        [path, body], sort_keys=True, default=str))


@dataclass(frozen=True)
class KeyedRequest:
    """A request carrying an Idempotency-Key: whose keys it is among, the key, and what
    a replay must match."""

    scope: str
    key: str
    request_hash: str

    @classmethod
    def of(cls, principal: access.Principal, endpoint: str, path: str, body: Any,
           key: str) -> KeyedRequest:
        problem = key_problem(key)
        if problem is not None:
            raise problem
        seat = principal.seat  # merchant routes: the seat acted in
        return cls(scope_of(principal.label, endpoint,
                            seat.merchant.id if seat is not None else None),
                   key, digest(path, body))


def run_keyed(keyed: KeyedRequest, work: Callable[[], tuple[int, Any, T]]) -> T | Replay:
    """The Idempotency-Key service every keyed write goes through (the `@idempotent`
    views, wrapped by `keyed_transactional`, and the plain routes, api/pipeline.py),
    around the transaction runner (`uow.run`):

    - `work()` → (status code, the answer as sent, what to return) runs in the
      request's transaction, and the answer is kept under the key as its last
      statement, sent with the COMMIT (`idempotency_rows.keep_and_commit`);
    - if the key was answered first (by an earlier request, or a concurrent one,
      which the unique index makes this one wait for), the work is rolled back and
      the first answer replayed (`Replay`), or 422 IDEMPOTENCY_KEY_REUSED for another
      body; a key whose window is over is dropped and the request runs as a new one;
    - if the work failed, the key is looked up too: a retry whose work now fails
      because the first request did it (ALREADY_REDEEMED, say), or whose first attempt's
      COMMIT outcome was unknown, gets the first answer if there is one.

    The work of a retry runs again before the key is found; it is rolled back."""
    for attempt in (1, 2):
        try:
            return uow.run(work, lambda done, connection: _keep(keyed, done, connection))[2]
        except Exception as failure:
            replay = uow.run(lambda: _first_answer(keyed))
            if replay is not None:
                return replay
            if not isinstance(failure, KeyTaken):
                raise
            if attempt == 2:
                raise Conflict(gettext("the first request with this key is still running; "
                                       "retry shortly"), "IDEMPOTENCY_IN_PROGRESS") from None
            # The key's row was there but not within its window (expired, or swept since).
            uow.run(lambda: _dropped(keyed))
    raise AssertionError("unreachable")


def _keep(keyed: KeyedRequest, done: tuple[int, Any, Any], connection) -> bool:
    status_code, answer, _ = done
    return keep_and_commit(connection, keyed.scope, keyed.key, keyed.request_hash,
                           status_code, seal(answer))


def _dropped(keyed: KeyedRequest) -> bool:
    return drop_expired(db_session(), keyed.scope, keyed.key, ttl())


def _first_answer(keyed: KeyedRequest) -> Replay | None:
    row = db_session().execute(select(IdempotencyKey).where(
        IdempotencyKey.scope == keyed.scope, IdempotencyKey.key == keyed.key,
        IdempotencyKey.created_at >= utcnow() - ttl())).scalar_one_or_none()
    return None if row is None else _replay(row, keyed.request_hash)


def _sent(result: Any) -> tuple[int, Any, Response]:
    response = make_response(result)
    return response.status_code, response.get_json(), response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as honouring Idempotency-Key: `keyed_transactional` runs it, and
    `api.smorest`'s route documents the header (IDEMPOTENCY_HEADER) beside the view's
    own parameters."""
    view._idempotent = True  # type: ignore[attr-defined]
    return view


def keyed_transactional(view: Callable[..., Any]) -> Callable[..., Any]:
    """The unit of work of an `@idempotent` view (`uow.wrap_all_views`): with an
    Idempotency-Key, `run_keyed` (the answer kept is the one sent, as the whole view
    made it); without one, `uow.transactional`."""
    plain_run = uow.transactional(view)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return plain_run(*args, **kwargs)
        keyed = KeyedRequest.of(access.current(), request.endpoint, request.path,
                                request.get_json(silent=True), key)
        outcome = run_keyed(keyed, lambda: _sent(view(*args, **kwargs)))
        if isinstance(outcome, Replay):
            response = jsonify(outcome.answer)
            response.status_code = outcome.status_code
            response.headers.extend(outcome.headers())
            return response
        return outcome

    return wrapper
