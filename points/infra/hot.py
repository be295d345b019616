"""The merchant counter's statements, run on PostgreSQL through the driver's cursor.

SQLAlchemy Core costs some 100 µs of Python per execution on top of the driver
(an execution context, parameter and result machinery, the result object), about
three times what psycopg itself costs for the counter's statements and more than
PostgreSQL spends running them. A `HotStatement` is compiled once per dialect and
then executed straight on the connection's DBAPI cursor, doing only what the
statement needs of SQLAlchemy: its parameters built as the compiled statement
builds them (defaults of literal parameters included) and passed through their
types' bind processors, the result columns through their result processors (the
UTC timestamps), and driver errors handed to SQLAlchemy to wrap, so a lost
connection is invalidated and reported as SQLAlchemy reports it
(`connection_invalidated`, which api/uow.py runs again on). Listeners of
`before_cursor_execute` still see each statement.

It runs in the connection's transaction like any statement. Whatever this does not
do as SQLAlchemy would goes through SQLAlchemy as usual: SQLite (the counter does not
run on it at scale), a connection not in a transaction (SQLAlchemy would begin one),
textual SQL, statements with Python-side column defaults, and result columns whose
processors need the driver's type code (numerics). Rows are named tuples:
attribute access by the statement's column keys."""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from psycopg import ClientCursor
from sqlalchemy import Connection, TextClause
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql import Executable

# What this uses of SQLAlchemy beyond its public API, for want of one: whether a
# connection or its engine has listeners (checked first, as SQLAlchemy does, so a
# statement without listeners costs no dispatch), the listeners' dispatch, and the
# handling of a driver error (wrapping, invalidation of a lost connection, the
# `handle_error` event). pyproject.toml holds SQLAlchemy to one minor version, whose
# tests (tests/service/test_hot.py) fail when any of these moves.
SQLALCHEMY_INTERNALS = (("Connection", "_has_events"), ("Engine", "_has_events"),
                        ("Connection", "dispatch"), ("Connection", "_handle_dbapi_exception"))


@dataclass(frozen=True)
class _Compiled:
    direct: bool  # False: run through SQLAlchemy (see the module's docstring)
    sql: str
    construct_params: Callable[[dict], dict]
    bind_processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    row: Callable[..., Any] | None  # None: no result columns
    result_processors: tuple[Callable[[Any], Any] | None, ...]


class HotStatement:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # By dialect and parameter names: an INSERT or UPDATE without explicit values
        # takes its columns from the parameters given, as SQLAlchemy compiles it.
        self._compiled: dict[tuple[Dialect, tuple[str, ...]], _Compiled] = {}

    def all(self, connection: Connection, params: dict) -> list:
        compiled = self._direct(connection, params)
        if compiled is not None:
            return self._run(connection, compiled, params)
        result = connection.execute(self.statement, params)
        return list(result) if result.returns_rows else []

    def first(self, connection: Connection, params: dict) -> Any | None:
        rows = self.all(connection, params)
        return rows[0] if rows else None

    def one(self, connection: Connection, params: dict) -> Any:
        rows = self.all(connection, params)
        if not rows:
            raise NoResultFound("No row was found when one was required")
        if len(rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return rows[0]

    def scalar(self, connection: Connection, params: dict) -> Any | None:
        row = self.first(connection, params)
        return None if row is None else row[0]

    def run_with_commit(self, connection: Connection, params: dict) -> bool:
        """Run the statement (its rows unread) as the transaction's last and COMMIT in the
        same round trip: True. The two go as one query (`INSERT …; COMMIT`), its
        parameters bound by psycopg's client-side cursor, which quotes them as the
        server would; if the statement fails, the server skips the COMMIT and the
        transaction is left to roll back (its error raised as SQLAlchemy raises it). A
        connection lost on the way leaves the COMMIT's outcome unknown, as any lost
        COMMIT does (`connection_invalidated`). Where this would run the statement
        through SQLAlchemy (see the module's docstring), it runs it so: False, and the
        caller commits."""
        compiled = self._direct(connection, params)
        if compiled is None:
            self.all(connection, params)
            return False
        values = self._values(compiled, params)
        with _on_cursor(connection, compiled.sql, values), \
                ClientCursor(connection.connection.driver_connection) as both:
            both.execute(compiled.sql + "; COMMIT", values)
        return True

    def _direct(self, connection: Connection, params: dict) -> _Compiled | None:
        """The statement compiled for running on the driver's cursor; None: it goes
        through SQLAlchemy (see the module's docstring)."""
        if connection.dialect.name != "postgresql" or not connection.in_transaction():
            return None
        names = tuple(params)
        compiled = (self._compiled.get((connection.dialect, names))
                    or self._compile(connection.dialect, names))
        return compiled if compiled.direct else None

    def _compile(self, dialect: Dialect, names: tuple[str, ...]) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(names))
        # Each parameter's and result column's processing as SQLAlchemy's execution
        # does it: the type's implementation for the dialect, its processor.
        processors = tuple(
            (name, processor) for param, name in compiled.bind_names.items()
            if param not in compiled.literal_execute_params
            and (processor := param.type.dialect_impl(dialect).bind_processor(dialect))
            is not None)
        columns = (() if isinstance(self.statement, TextClause)
                   else tuple(self.statement.exported_columns.items()))
        row = namedtuple("Row", [key for key, _ in columns]) if columns else None
        direct = not (isinstance(self.statement, TextClause)
                      or getattr(compiled, "insert_prefetch", None)
                      or getattr(compiled, "update_prefetch", None))
        try:
            results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                            for _, column in columns)
        except (TypeError, ValueError):  # it needs the driver's type code: SQLAlchemy's
            direct, results = False, ()
        entry = _Compiled(direct, compiled.string, compiled.construct_params, processors, row,
                          results)
        self._compiled[dialect, names] = entry
        return entry

    @staticmethod
    def _values(compiled: _Compiled, params: dict) -> dict:
        values = compiled.construct_params(params)
        for name, processor in compiled.bind_processors:
            if name in values:
                values[name] = processor(values[name])
        return values

    def _run(self, connection: Connection, compiled: _Compiled, params: dict) -> list:
        values = self._values(compiled, params)
        with _on_cursor(connection, compiled.sql, values) as cursor:
            cursor.execute(compiled.sql, values)
            rows = cursor.fetchall() if compiled.row is not None else []
        make, processors = compiled.row, compiled.result_processors
        if not any(processors):
            return [make(*row) for row in rows]
        return [make(*(value if process is None else process(value)
                       for process, value in zip(processors, row, strict=True)))
                for row in rows]


@contextmanager
def _on_cursor(connection: Connection, sql: str, values: dict) -> Iterator[Any]:
    """The connection's DBAPI cursor for one statement, as SQLAlchemy runs one: the
    listeners of `before_cursor_execute` told first, a driver error raised as
    SQLAlchemy's wrapped error (a lost connection invalidated), the cursor closed."""
    cursor = connection.connection.cursor()
    try:
        # SQLAlchemy has no public API for these (see SQLALCHEMY_INTERNALS).
        if connection._has_events or connection.engine._has_events:
            connection.dispatch.before_cursor_execute(connection, cursor, sql, values, None,
                                                      False)
        yield cursor
    except connection.dialect.loaded_dbapi.Error as error:
        connection._handle_dbapi_exception(error, sql, values, cursor, None)
        raise  # not reached: the call above raises SQLAlchemy's wrapped error
    finally:
        cursor.close()
