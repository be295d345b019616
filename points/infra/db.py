"""Database building blocks shared by every model: the declarative base, portable
column types and the unit-of-work helpers.

One schema serves SQLite (the embedded default) and PostgreSQL (production), so
the types here paper over their differences once instead of in every model.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import JSON, BigInteger, Connection, DateTime, Integer, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY columns, PostgreSQL wants BIGINT
# so ten million residents' records never run out of ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """A timezone-aware timestamp on both engines.

    PostgreSQL keeps `timestamptz`; SQLite stores text and hands back naive values,
    so everything is normalised to UTC on the way in and tagged UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def today() -> dt.date:
    """The calendar date in Asia/Shanghai, the date every rule speaks of."""
    return dt.datetime.now(SHANGHAI).date()


def sqlite_pragmas(engine: Engine) -> None:
    """Foreign keys on (off by default in SQLite) and a busy timeout, on every SQLite
    connection `engine` makes (api/extensions.make_engine attaches it to every engine)."""

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, connection_record: Any) -> None:
        if not type(dbapi_connection).__module__.startswith("sqlite3"):
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def dialect_insert(session: Session, model: Any):
    """INSERT for the session's database, with its ON CONFLICT clauses."""
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert)(model)


def per_dialect(build: Callable[[Callable[[Any], Any]], Any]) -> dict[str, Any]:
    """A statement with ON CONFLICT clauses built once for each database:
    `build(insert)` for PostgreSQL's and SQLite's INSERT, by dialect name."""
    return {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction has committed.

    Caches and queues must only learn of a change the database really kept, so
    services register their side effects here instead of doing them inline. A
    savepoint (`begin_nested`) neither runs them when it is released nor drops them
    when it rolls back, except those registered inside it.
    """
    registered_in = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault("on_commit", []).append((registered_in, callback))


def run_on_commit(sessions: sessionmaker) -> None:
    """Make `on_commit` work for the sessions of this factory (api/bootstrap.py
    attaches it to the app's): its callbacks run after the commit, and a rollback
    drops those it undid."""
    event.listen(sessions, "after_commit", _run_on_commit)
    event.listen(sessions, "after_soft_rollback", _drop_on_commit)


def _run_on_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: the transaction has not committed yet
    for _, callback in session.info.pop("on_commit", []):
        try:
            callback()
        except Exception:  # a lost cache write must never undo a committed change
            import logging

            logging.getLogger(__name__).warning("after-commit hook failed", exc_info=True)


def _within(transaction: Any, ancestor: Any) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _drop_on_commit(session: Session, previous_transaction: Any) -> None:
    """A rollback drops what was registered in the transaction rolled back: all of
    it for the transaction itself, only a savepoint's own for a savepoint."""
    if previous_transaction.parent is None:
        session.info.pop("on_commit", None)
        return
    session.info["on_commit"] = [
        (registered_in, callback) for registered_in, callback in session.info.get("on_commit", [])
        if not _within(registered_in, previous_transaction)]


class UnitOfWork(Protocol):
    """A transaction as a domain function that runs Core statements sees it (the
    merchant counter's scan and grant): `connection()` for its statements, and
    `session`, an ORM session in the same transaction, for what needs one (a refusal
    that loads an object, a score not cached), made only when asked for. Whoever lends
    it begins, commits and rolls it back (api/uow.py for a request); the domain never
    does."""

    def connection(self) -> Connection: ...

    @property
    def session(self) -> Session: ...


class OnSession:
    """A `UnitOfWork` over a session (jobs, scripts, tests): its connection and itself."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def connection(self) -> Connection:
        return self.session.connection()
