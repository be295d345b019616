"""Domain and infrastructure errors mapped to HTTP answers in one place."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import redis
from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.error_docs import KIND_STATUS, STATUS_ERROR_CODES
from api.logs import new_request_id
from points import errors as domain
from points.i18n import gettext, translate_text, translate_tree

log = logging.getLogger(__name__)

RESERVED = {"code", "status", "error_code", "message"}


def error_body(status: int, error_code: str, message: str,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contract's error body: `code`, `status`, `error_code`, `message` (+ extra
    fields, never replacing those four). Rendered by the app's error handlers, and by
    the WSGI layers that refuse a request before Flask sees it (api/bodies.py,
    api/metrics.py)."""
    body: dict[str, Any] = {
        "code": status,
        "status": HTTPStatus(status).phrase,
        "error_code": error_code,
        # Messages are translated where they are made; a text made in English before
        # (a library's, a message id given as it is) is translated here.
        "message": translate_text(message),
    }
    # Extra fields never replace the contract's own four.
    body.update({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                 for k, v in (extra or {}).items() if k not in RESERVED})
    return body


def refuse(start_response: Callable, status: int, error_code: str, message: str,
           headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    """The error body answered by a WSGI layer that refuses a request before Flask sees
    it (api/bodies.py, api/metrics.py): the same body and request id as the app's
    error handlers give, with `headers` (the app's security headers …)."""
    body = json.dumps(error_body(status, error_code, message), ensure_ascii=False).encode()
    start_response(f"{status} {HTTPStatus(status).phrase.upper()}", [
        ("Content-Type", "application/json"), *headers,
        ("Content-Length", str(len(body))), ("X-Request-Id", new_request_id())])
    return [body]


def error_response(status: int, error_code: str, message: str,
                   headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None):
    response = jsonify(error_body(status, error_code, message, extra))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(domain.DomainError)
    def _domain(error: domain.DomainError):
        status = KIND_STATUS[error.kind]
        headers = {}
        extra = dict(error.extra)
        if isinstance(error, domain.Unavailable | domain.TooManyAttempts) and error.retry_after:
            headers["Retry-After"] = str(error.retry_after)
        if isinstance(error, domain.Invalid) and error.errors is not None:
            extra["errors"] = translate_tree(error.errors)
        return error_response(status, error.error_code, error.message, headers, extra)

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError):
        # A unique constraint or CHECK caught what a concurrent request did first.
        log.info("integrity error answered as 409: %s", type(error.orig).__name__)
        return error_response(409, "CONFLICT", gettext("the change conflicts with existing data"))

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _db_down(error: Exception):
        log.warning("database unavailable: %s", type(error).__name__)
        return error_response(503, "DATABASE_UNAVAILABLE", gettext("the database is not reachable"),
                              {"Retry-After": "5"})

    @app.errorhandler(DBAPIError)
    def _dbapi(error: DBAPIError):
        if error.connection_invalidated:
            return _db_down(error)
        log.exception("database error")
        return error_response(500, STATUS_ERROR_CODES[500], gettext("internal error"))

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _redis_down(error: Exception):
        log.warning("redis unavailable: %s", type(error).__name__)
        return error_response(503, "CACHE_UNAVAILABLE", gettext("the cache is not reachable; try again"),
                              {"Retry-After": "5"})
