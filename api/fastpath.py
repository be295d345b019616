"""The cached points read, answered before Flask's request machinery.

`GET /v1/me/points` is the request residents make most. When everything it
needs is in Redis, the answer takes one Redis round trip, and Flask's request
context, hooks and view wrappers would cost more than the work itself. This WSGI
middleware answers such a read directly, and only when every fact is clean:

- a valid resident access token, neither revoked nor cut off (its cut-off cached);
- the account gate entry of the current version, letting the account see points;
- a cached score that is still right today.

It decides with the same functions the full path uses (`TokenService.decode_access`
and `check`, `gate.usable`, `eligibility.refusal`, `scoring.cached_points`) and sends
the same body and headers. Anything else — no or bad token, any refusal, a cache
miss, Redis unreachable, a CORS `Origin` or an `X-Request-Id` to echo, request
logging switched on — goes to Flask, which answers exactly as it always does
(api/access.py stays the one place that decides who may call what; this path
only ever says yes where it would).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from flask import Flask

from api import access, gate
from api.metrics import ROUTE_KEY, score_cache_read
from points.errors import DomainError
from points.infra.db import today
from points.people import eligibility
from points.scores import scoring

PATH = "/v1/me/points"


class Defer(Exception):
    """Leave the request to Flask (a fast path raises it before writing anything, or
    after rolling back what it wrote)."""


def no_database() -> Any:
    """The `session_of` a fast path gives the token check: needing the database, the
    request is Flask's."""
    raise Defer


class CachedPointsRead:
    def __init__(self, app: Flask, wsgi_app: Callable, headers: Iterable[tuple[str, str]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.state = app.extensions["credit"]
        self.headers = [("Content-Type", "application/json"), *headers]
        self.fetch = gate.fetch_with_score(self.state.redis)  # registers the script locally

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        config = self.app.config
        if (environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET"
                and config["POINTS_FAST_PATH"] and not config["LOG_REQUESTS"]
                and not environ.get("QUERY_STRING") and "HTTP_ORIGIN" not in environ
                and "HTTP_X_REQUEST_ID" not in environ and "resident" not in access.ROLE_CHECKS):
            body = self.answer(environ.get("HTTP_AUTHORIZATION", ""))
            if body is not None:
                environ[ROUTE_KEY] = PATH  # the request's URL rule, for /metrics
                score_cache_read(True)
                start_response("200 OK", [*self.headers, ("Content-Length", str(len(body))),
                                          ("X-Request-Id", os.urandom(16).hex())])
                return [body]
        return self.wsgi_app(environ, start_response)

    def answer(self, authorization: str) -> bytes | None:
        """The response body, or None to leave the request to Flask."""
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        tokens = self.state.tokens
        try:
            claims = tokens.decode_access(token)
        except DomainError:
            return None
        kind, _, ident = claims["sub"].partition(":")
        if kind != "user" or not ident.isdigit():
            return None
        try:
            revoked, values = tokens.check(no_database, claims, gate.keys(claims["sub"]),
                                           self.fetch)
        except Defer:
            return None
        if revoked or values is None:
            return None
        account = gate.usable(values[0], values[1])
        day = today()
        if account is None or eligibility.refusal(gate.standing(account), day) is not None:
            return None
        body = scoring.cached_points(self.state.redis, account["subject_id"], day, values[2])
        if body is None:
            return None
        return orjson.dumps(body)
