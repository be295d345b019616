"""The request owns the unit of work: every view runs in one transaction that
commits when the view returns and rolls back when it raises. Views and services
never commit themselves."""
from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy.exc import DBAPIError, OperationalError

from api.context import state
from points.errors import DomainError, Unavailable

# PostgreSQL's "try again" answers: deadlock detected, serialization failure.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
ATTEMPTS = 3
log = logging.getLogger(__name__)


def _retryable(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


class _CommitInterrupted(Exception):
    """The connection was lost while committing: the outcome is unknown, so the
    request is not run again (the client retries, idempotently)."""


def reconnecting(call: Callable[[], Any]) -> Any:
    """Run `call`; if it failed because its pooled connection turned out to be dead
    (the server restarted since the connection was last used: the pool pings only
    idle connections, api/extensions.py), run it once more on a fresh connection.
    Nothing it did was committed, so running it again is safe."""
    try:
        return call()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.warning("database connection lost (%s); running again on a new one",
                    type(error.orig).__name__)
        session = state().db.current()
        if session is not None:
            session.rollback()
        return call()


def transactional(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return reconnecting(lambda: _once(view, args, kwargs))
            except _CommitInterrupted as interrupted:
                raise interrupted.__cause__ from None
            except OperationalError as error:
                if not _retryable(error):
                    raise
                log.warning("transaction rolled back by the database (%s); attempt %d of %d",
                            error.orig.sqlstate, attempt, ATTEMPTS)
                if attempt == ATTEMPTS:
                    raise Unavailable("the database is busy; try again", "DATABASE_BUSY",
                                      retry_after=1) from error
                time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")

    return wrapper


def _once(view: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """One attempt: the view in a transaction, committed or rolled back."""
    db = state().db
    try:
        result = view(*args, **kwargs)
        session = db.current()  # a cached read never made one
        if session is not None and session.in_transaction():
            try:
                session.commit()
            except DBAPIError as error:
                if error.connection_invalidated:
                    raise _CommitInterrupted from error
                raise
        return result
    except DomainError as error:
        session = db.current()
        if session is not None:
            if error.commit:
                session.commit()
            else:
                session.rollback()
        raise
    except BaseException:
        session = db.current()
        if session is not None:
            session.rollback()
        raise


def wrap_all_views(app: Flask) -> None:
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = transactional(view)
