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
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from api import scope
from api.context import state
from api.extensions import Database
from points.errors import DomainError, Unavailable
from points.i18n import gettext

# PostgreSQL's "try again" answers: deadlock detected, serialization failure.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
ATTEMPTS = 3
log = logging.getLogger(__name__)


def _retryable(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


class OutcomeUnknown(Exception):
    """The connection was lost while committing: the outcome is unknown, so the
    request is not run again (the client retries, idempotently). Its cause is the
    database error, which the error handlers answer (503)."""


def reconnecting(call: Callable[[], Any]) -> Any:
    """Run `call`; if it failed because its pooled connection turned out to be dead
    (the server restarted since the connection was last used: the pool pings only
    idle connections, api/extensions.py), run it once more on a fresh connection.
    Nothing it did was committed, so running it again is safe (a call outside the
    database made before the first statement goes through `once`)."""
    try:
        return call()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.warning("database connection lost (%s); running again on a new one",
                    type(error.orig).__name__)
        for session in (state().db.current(), state().db.current_replica()):
            if session is not None:
                session.rollback()
        return call()


def once(key: str, call: Callable[[], Any]) -> Any:
    """`call()` at most once per request, its answer kept for the request: for a call
    outside the database (WeChat's one-time login code) that a view makes before its
    first statement, which must not be repeated if `reconnecting` runs the view again.
    Outside a request nothing runs it again: it is called."""
    request = scope.current()
    if request is None:
        return call()
    if key not in request.kept:
        request.kept[key] = call()
    return request.kept[key]


# The transaction's last statement, given what the work answered: sent with the
# COMMIT where it can be (True: it committed too), else before it (False).
Last = Callable[[Any, Connection], bool]


def run(work: Callable[[], Any], last: Last | None = None) -> Any:
    """The transaction runner every request goes through (the views, through
    `transactional`; the plain routes, through api/pipeline.py): `work()` in one
    transaction, committed when it returns and rolled back when it raises; run again
    on a fresh connection if its pooled one was dead, and up to ATTEMPTS times if the
    database asked for a retry (deadlock, serialization failure). A connection lost
    during COMMIT is never run again: its database error is raised. `last(answer,
    connection)` writes what goes with the work's answer (the Idempotency-Key's row,
    api/idempotency.py) as the transaction's last statement."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return reconnecting(lambda: _once(work, last))
        except OutcomeUnknown as unknown:
            raise unknown.__cause__ from None
        except OperationalError as error:
            if not _retryable(error):
                raise
            log.warning("transaction rolled back by the database (%s); attempt %d of %d",
                        error.orig.sqlstate, attempt, ATTEMPTS)
            if attempt == ATTEMPTS:
                raise Unavailable(gettext("the database is busy; try again"), "DATABASE_BUSY",
                                  retry_after=1) from error
            time.sleep(random.uniform(0.005, 0.05) * attempt)
    raise AssertionError("unreachable")


def transactional(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run(lambda: view(*args, **kwargs))

    return wrapper


class RequestWork:
    """One attempt's transaction (`run`): the request's `UnitOfWork`
    (points.infra.db), lent by `api.context.db_session()` and `unit_of_work()` while
    the work runs.

    It begins as the work first asks. A view that asks for the session (every view
    but the counter's) gets the thread's scoped session, as always. The counter's
    domain functions ask for the connection first and get a Core connection of the
    engine, begun: no ORM session, whose transaction costs more Python than the
    counter's statements themselves (docs/performance.md); if they then need the ORM,
    a session joined to that connection (which commits and rolls back the
    connection's transaction, its after-commit hooks included). A scoped session the
    caller check began already is used as it is: one transaction per request."""

    __slots__ = ("_connection", "_db", "_session")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: Connection | None = None
        self._session: Session | None = None

    def connection(self) -> Connection:
        if self._session is not None or self._begun() is not None:
            return self._session.connection()
        if self._connection is None:
            self._connection = self._db.engine.connect()
            self._connection.begin()
        return self._connection

    @property
    def session(self) -> Session:
        if self._session is None:
            if self._connection is None:
                self._session = self._db.session
            else:  # joined at once: its commit is the connection's, whatever it runs
                self._session = self._db.joined_session(self._connection)
                self._session.connection()
        return self._session

    def _begun(self) -> Session | None:
        """The scoped session, if nothing else began and the caller check began it."""
        if self._session is None and self._connection is None:
            begun = self._db.current()
            if begun is not None and begun.in_transaction():
                self._session = begun
        return self._session

    def commit(self, last: Callable[[Connection], bool] | None = None) -> None:
        """Commit (after the last statement, if any); nothing if the work touched no
        database. A connection found dead while flushing has committed nothing (the
        work may run again); one lost during COMMIT leaves the outcome unknown (it
        may not)."""
        session = self._begun()
        if last is None and self._connection is None and (
                session is None or not session.in_transaction()):
            return  # a cached read
        if session is not None:
            session.flush()
        try:
            if last is not None:
                last(self.connection())  # committed with it, or not yet: below
            if session is not None:
                session.commit()  # the driver sends nothing when the transaction is over
            else:
                self._connection.commit()
        except DBAPIError as error:
            if error.connection_invalidated:
                raise OutcomeUnknown from error
            raise

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()  # a joined session: the connection's transaction too
        elif self._connection is not None:
            self._connection.rollback()
        else:
            begun = self._db.current()
            if begun is not None:
                begun.rollback()

    def close(self) -> None:
        """Give the Core connection back (the scoped session lives until the request ends)."""
        if self._connection is not None:
            try:
                if self._session is not None:
                    self._session.close()
            finally:
                self._connection.close()


def _once(work: Callable[[], Any], last: Last | None = None) -> Any:
    """One attempt: the work in a transaction, committed or rolled back."""
    request = scope.current()
    if request is None:
        unit = outer = RequestWork(state().db)
    else:
        unit, outer = RequestWork(request.state.db), request.work
        request.work = unit
    try:
        result = work()
        unit.commit(None if last is None else (lambda connection: last(result, connection)))
        return result
    except DomainError as error:
        if not error.commit:
            unit.rollback()
            raise
        try:
            unit.commit()
        except BaseException:
            unit.rollback()
            raise
        raise
    except BaseException:
        unit.rollback()
        raise
    finally:
        if request is not None:
            request.work = outer
        unit.close()


def wrap_all_views(app: Flask, keyed: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Every view in its unit of work: `keyed(view)` for the views that honour an
    Idempotency-Key (`api.idempotency.keyed_transactional`, which runs the same
    runner), `transactional(view)` for the others."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = (keyed(view) if getattr(view, "_idempotent", False)
                                            else transactional(view))
