"""The merchant counter (verify a code, redeem a perk) run before Flask's request
machinery.

A scan and a grant are the counter's two requests, many per second at a busy
scenic area at lunchtime. Profiling them under gunicorn showed more of the
workers' CPU in the machinery around the work (the request context and its
hooks, the view wrappers, parsing and answering through webargs and smorest)
than in the work. This WSGI middleware runs the work itself when the request is
plain, with the same pieces the full path uses:

- the caller: the token decoded and checked (`TokenService.decode_access` and
  `check`) with the staff seats read in the same Redis round trip and used only if
  current (`seat_cache.usable`, `merchants.seat_of`, the X-Merchant-Id header read
  by `merchant.wanted_merchant`);
- the body: loaded by the route's own marshmallow schema;
- the work: `codes.verify` / `redemptions.redeem` in one transaction on a pooled
  Core connection (no Session: its bookkeeping cost more than the statements, and
  work that needs more than the connection, such as a score to rebuild from
  records, is left to Flask), the Idempotency-Key claimed and its answer stored as
  `api/idempotency.py` does;
- the scan's per-staff rate limit: counted in Flask-Limiter's bucket for the route,
  with its headers (`ratelimit.count_outside_flask`); a scan over the limit is
  Flask's to refuse, and a scan counted here and then left to Flask is not counted
  again;
- the answer: dumped by the route's own schema, with the headers Flask sends.

It only ever answers a success (201), after the transaction committed. Anything
else goes to Flask, which answers exactly as it always does: a request it does not
take (an Origin, an X-Request-Id to echo, request logging on, a body that is not
small JSON, a merchant role check other than
`merchant.merchant_check`, whose cached case this repeats), a caller it cannot
confirm from Redis (seats not cached, Redis down, a token to look up in the
database), a body the schema refuses, and every refusal or failure of the work
(a holder's score not cached among them): the transaction is rolled back
first, so nothing of it stays and Flask does it again (the code is still unspent,
the key still unclaimed, a replay of a key used before is Flask's). The one case
that cannot go back is a connection lost while COMMIT was on its way: the outcome
is unknown, and the answer is the 503 the full path gives for it.
"""
from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

import redis
from flask import Flask, g
from marshmallow import ValidationError
from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import DBAPIError
from werkzeug.http import parse_options_header

from api import access, gate, idempotency, ratelimit, seat_cache
from api.bodies import BodyRefused, load_json
from api.extensions import thread_local_command
from api.fastpath import Defer, no_database
from api.metrics import ROUTE_KEY
from api.routes import merchant as routes
from api.uow import _CommitInterrupted
from incentives import codes, merchants, redemptions
from points.errors import DomainError
from points.infra.db import today, utcnow

VERIFY = "/v1/merchant/verifications"
REDEEM = "/v1/merchant/redemptions"
REDEEM_ENDPOINT = "merchant.redeem"  # the Idempotency-Key scope's endpoint part
VERIFY_ENDPOINT = "merchant.verify_code"  # the rate limit's bucket (api/ratelimit.py)
MAX_BODY = 4096
log = logging.getLogger(__name__)


class _Failed(Exception):
    """The outcome is unknown (the connection was lost during COMMIT): answer with
    Flask's error handler for the cause, never run again."""


class MerchantCounter:
    def __init__(self, app: Flask, wsgi_app: Callable, headers: Iterable[tuple[str, str]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.state = app.extensions["credit"]
        self.headers = [("Content-Type", "application/json"), *headers]
        self.routes = {VERIFY: self._verify, REDEEM: self._redeem}
        self.verify_in, self.verify_out = routes.PerkVerifyInSchema(), routes.PerkVerificationSchema()
        self.redeem_in, self.redeem_out = routes.PerkRedeemInSchema(), routes.RedemptionSchema()
        command = thread_local_command(self.state.redis)
        self.mget = lambda keys: command("MGET", *keys)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        work = self.routes.get(environ.get("PATH_INFO"))
        config = self.app.config
        if (work is None or environ.get("REQUEST_METHOD") != "POST"
                or not config["COUNTER_FAST_PATH"] or config["LOG_REQUESTS"]
                or access.ROLE_CHECKS.get("merchant") is not routes.merchant_check
                or access.ROLE_CACHE_KEYS.get("merchant") is not seat_cache.keys
                or environ.get("QUERY_STRING") or "HTTP_ORIGIN" in environ
                or "HTTP_X_REQUEST_ID" in environ):
            return self.wsgi_app(environ, start_response)
        max_length = config["MAX_CONTENT_LENGTH"]
        raw = _json_body(environ, MAX_BODY if max_length is None else min(MAX_BODY, max_length))
        if raw is None:
            return self.wsgi_app(environ, start_response)
        done = None  # (body, headers) once committed: from then on the answer stands
        try:
            with self.app.app_context():
                # A connection found dead fails a statement: rolled back, left to Flask,
                # which runs it again; so a pooled connection is pinged only when idle.
                g.runs_again_on_disconnect = True
                done = work(environ, raw)
        except _Failed as failed:
            return self._error(environ, start_response, failed.__cause__)
        except Defer:
            return self.wsgi_app(environ, start_response)
        except Exception:
            if done is None:  # nothing committed (the answer is encoded before COMMIT)
                log.warning("the counter's fast path failed; Flask answers", exc_info=True)
                return self.wsgi_app(environ, start_response)
            log.warning("the app context failed to close after a commit", exc_info=True)
        body, extra_headers = done
        environ[ROUTE_KEY] = environ["PATH_INFO"]  # the request's URL rule, for /metrics
        start_response("201 CREATED", [*self.headers, ("Content-Length", str(len(body))),
                                       ("X-Request-Id", os.urandom(16).hex()), *extra_headers])
        return [body]

    def _encoded(self, answer: dict) -> bytes:
        """The body Flask's JSON provider would send for `answer`."""
        layout = {"indent": 2} if self.app.debug else {"separators": (",", ":")}
        return (self.app.json.dumps(answer, **layout) + "\n").encode()

    # -- the two routes ------------------------------------------------------------

    def _verify(self, environ: dict, raw: bytes) -> tuple[bytes, list[tuple[str, str]]]:
        principal, seat = self._caller(environ)
        limit_headers = self._count_scan(environ, principal)
        body = _load(self.verify_in, _parsed(raw))
        state = self.state

        def work(session: _ConnectionOnly) -> bytes:
            return self._encoded(self.verify_out.dump(codes.verify(
                session, state.cipher, state.redis, seat.merchant, principal.id,
                body["token"], body["perk_id"], today())))

        return _in_transaction(state.db.engine, work), limit_headers

    def _count_scan(self, environ: dict, principal: access.Principal) -> list[tuple[str, str]]:
        """The per-staff limit of scans, counted where Flask-Limiter counts it (after the
        caller is known, before the body is read) and in the same bucket; its headers.
        Reached: left to Flask, which refuses it. Counted: marked, so that Flask does
        not count it again if the request ends up there."""
        limiter = self.state.limiter
        if not limiter.enabled:
            return []
        try:
            headers = ratelimit.count_outside_flask(
                limiter, self.app.config["RATELIMIT_VERIFY"], VERIFY_ENDPOINT,
                f"sub:{principal.claims['sub']}")
        except redis.exceptions.RedisError:
            raise Defer from None  # Flask-Limiter cannot count either: Flask's 503
        if headers is None:
            raise Defer
        environ[ratelimit.COUNTED] = True
        return headers

    def _redeem(self, environ: dict, raw: bytes) -> tuple[bytes, list[tuple[str, str]]]:
        principal, seat = self._caller(environ)
        parsed = _parsed(raw)
        body = _load(self.redeem_in, parsed)
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        if key and idempotency.key_problem(key) is not None:
            raise Defer

        def work(session: _ConnectionOnly) -> bytes:
            connection = session.connection()
            scope = idempotency.scope_of(principal.label, REDEEM_ENDPOINT, seat.merchant.id)
            if key and connection.dialect.name == "postgresql":
                # The key claimed and the answer stored by the grant's own statements.
                kept = redemptions.KeptAnswer(
                    scope, key, idempotency.digest(REDEEM, parsed), 201, self.redeem_out.dump,
                    utcnow() - idempotency.ttl(), idempotency.seal)
                redemptions.redeem(session, seat.merchant, principal.id,
                                   body["verification_id"], today(), kept=kept)
                return self._encoded(kept.answer)
            claimed = None
            if key:
                claimed = idempotency.claim(connection, scope, key,
                                            idempotency.digest(REDEEM, parsed), idempotency.ttl())
                if claimed is None:
                    raise Defer  # used before: Flask replays or refuses it
            answer = self.redeem_out.dump(redemptions.redeem(
                session, seat.merchant, principal.id, body["verification_id"], today()))
            encoded = self._encoded(answer)
            if claimed is not None:
                idempotency.store(connection, claimed, 201, idempotency.seal(answer))
            return encoded

        return _in_transaction(self.state.db.engine, work), []

    # -- shared --------------------------------------------------------------------

    def _caller(self, environ: dict) -> tuple[access.Principal, merchants.StaffSeat]:
        """The staff member and the seat they act in, when Redis can say so alone."""
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Defer
        tokens = self.state.tokens
        try:
            claims = tokens.decode_access(token)
            kind, _, ident = claims["sub"].partition(":")
            if kind != "user" or not ident.isdigit():
                raise Defer
            revoked, values = tokens.check(
                no_database, claims, gate.keys(claims["sub"]) + seat_cache.keys(claims["sub"]),
                self.mget)
            seats = seat_cache.usable(values)
            if revoked or seats is None:
                raise Defer
            seat = merchants.seat_of(
                seats, routes.wanted_merchant(environ.get("HTTP_X_MERCHANT_ID")))
        except DomainError:
            raise Defer from None
        return access.Principal("user", int(ident), claims), seat

    def _error(self, environ: dict, start_response: Callable, error: BaseException | None
               ) -> Iterable[bytes]:
        """The full path's answer to an error (its handlers, its after-request hooks).
        The session was rolled back and removed when the app context ended."""
        app = self.app
        with app.request_context(environ):
            g.request_id = os.urandom(16).hex()  # as api/logs.py gives a request without one
            try:
                answer = app.handle_user_exception(error)
            except Exception as unhandled:  # noqa: BLE001 - no handler: Flask's 500
                answer = app.handle_exception(unhandled)
            response = app.process_response(app.make_response(answer))
            return response(environ, start_response)


def _json_body(environ: dict, max_length: int) -> bytes | None:
    """The body if it is a small JSON document, put back for Flask to read again."""
    mimetype = parse_options_header(environ.get("CONTENT_TYPE", ""))[0].lower()
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if mimetype != "application/json" or not 0 < length <= max_length:
        return None
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw if len(raw) == length else None


def _parsed(raw: bytes) -> Any:
    """The body as the view's parser reads it (`api.bodies.load_json`); one it refuses
    is Flask's to answer (400)."""
    try:
        return load_json(raw)
    except BodyRefused:
        raise Defer from None


def _load(schema, body: Any) -> dict:
    try:
        return schema.load(body)
    except ValidationError:
        raise Defer from None


class _ConnectionOnly:
    """What the counter's work asks of its session when everything it needs is at
    hand: the connection, for its Core statements (a Session's own bookkeeping cost
    more than a statement). Anything else — a score to rebuild from records, an ORM
    read on a refusal's way — leaves the request to Flask, which has the Session."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def connection(self) -> Connection:
        return self._connection

    def __getattr__(self, name: str) -> Any:
        raise Defer


def _commit(transaction: RootTransaction) -> None:
    """Commit; a connection lost during COMMIT leaves the outcome unknown
    (`_CommitInterrupted`, as api/uow.py says it)."""
    try:
        transaction.commit()
    except DBAPIError as error:
        if error.connection_invalidated:
            raise _CommitInterrupted from error
        raise


def _roll_back(connection: Connection) -> None:
    """Roll back; a connection too broken for that is discarded by the pool anyway."""
    try:
        connection.rollback()
    except Exception:  # see above
        log.debug("rollback failed", exc_info=True)


def _in_transaction(engine: Engine, work: Callable[[_ConnectionOnly], bytes]) -> bytes:
    """`work(session)` committed on a connection of the pool, its answer ready to send
    (encoded before COMMIT: nothing may fail after it); on any failure rolled back and
    left to Flask, except a connection lost during COMMIT (_Failed)."""
    try:
        connection = engine.connect()
    except Exception:  # noqa: BLE001 - pool exhausted, database down: Flask answers it
        raise Defer from None
    try:
        try:
            transaction = connection.begin()
            answer = work(_ConnectionOnly(connection))
        except Exception:  # noqa: BLE001 - any failure: Flask does it again and answers it
            _roll_back(connection)
            raise Defer from None
        try:
            _commit(transaction)
        except _CommitInterrupted as interrupted:
            raise _Failed from interrupted.__cause__
        except Exception:  # noqa: BLE001 - nothing was committed: as above
            _roll_back(connection)
            raise Defer from None
        return answer
    finally:
        try:
            connection.close()
        except Exception:  # after COMMIT nothing may fail the answer
            log.warning("a connection could not go back to the pool", exc_info=True)
