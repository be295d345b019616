"""`points.infra.hot.HotStatement`: the counter's statements on the driver's cursor answer
as SQLAlchemy would, and whatever it does not do as SQLAlchemy would goes through
SQLAlchemy (on SQLite everything does)."""
from __future__ import annotations

import datetime as dt
import inspect

import pytest
import sqlalchemy
from sqlalchemy import (
    Integer,
    Numeric,
    String,
    bindparam,
    cast,
    event,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.exc import DataError, DBAPIError, NoResultFound

from api import idempotency_rows
from incentives import codes, redemptions
from points.infra import hot
from points.infra.hot import HotStatement
from points.models import AccessLogEntry, IdempotencyKey

KEYS = IdempotencyKey.__table__
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(clean_app):
    return clean_app.state.db.engine


def _keep(connection, key: str, response=None) -> None:
    idempotency_rows._INSERT.all(connection, {
        "scope": "user:1:merchant.redeem", "key": key, "request_hash": "digest",
        "created_at": NOW, "status_code": 201, "response": response})


def test_rows_are_sqlalchemys(engine):
    """Parameters through their types (UTC timestamps, JSON), results the same values
    and types under the same names."""
    read = select(KEYS.c.id, KEYS.c.scope, KEYS.c.response, KEYS.c.created_at,
                  KEYS.c.status_code).where(KEYS.c.key == bindparam("key"))
    with engine.begin() as connection:
        _keep(connection, "k-1", {"id": 7, "名": ["张*"], "at": None})
        hot = HotStatement(read).one(connection, {"key": "k-1"})
        core = connection.execute(read, {"key": "k-1"}).one()
    assert hot._asdict() == dict(core._mapping)
    assert hot.response == {"id": 7, "名": ["张*"], "at": None}
    assert hot.created_at.tzinfo is not None and hot.created_at.utcoffset() == dt.timedelta(0)
    assert [type(v) for v in hot] == [type(v) for v in core]


def test_what_it_does_not_do_itself_goes_through_sqlalchemy(engine):
    """A Python-side column default, textual SQL, a numeric result column and a
    connection outside a transaction all answer as SQLAlchemy does."""
    log = AccessLogEntry.__table__
    with engine.begin() as connection:
        from points.models import Subject

        subject = connection.execute(insert(Subject.__table__).values(
            id_hash="h-hot", id_number_enc="x", name_enc="y", created_at=NOW)
            .returning(Subject.__table__.c.id)).scalar_one()
        # `at` left to its default (utcnow), as connection.execute fills it
        HotStatement(insert(log)).all(connection, {
            "subject_id": subject, "actor_kind": "merchant", "purpose": "perk_verification"})
        at = connection.execute(select(log.c.at).where(log.c.subject_id == subject)).scalar_one()
        assert at is not None
        rows = HotStatement(text("SELECT 1 AS one, 'a' AS two")).all(connection, {})
        assert [tuple(row) for row in rows] == [(1, "a")]
        number = HotStatement(select(literal(1.5, Numeric(4, 2)).label("n"))).scalar(connection, {})
        assert str(number) == "1.50"
        with pytest.raises(NoResultFound):
            HotStatement(select(KEYS.c.id).where(KEYS.c.key == "none")).one(connection, {})
    with engine.connect() as connection:  # no begin(): SQLAlchemy begins one
        _keep(connection, "autobegun")
        connection.commit()
    with engine.connect() as connection:
        assert connection.execute(select(KEYS.c.id).where(KEYS.c.key == "autobegun")).first()


def test_the_counters_statements_run_on_the_cursor(app, client, engine, monkeypatch):
    """On PostgreSQL each of the counter's statements, as a scan and a grant run them
    (a grant with an Idempotency-Key, whose answer is kept under the key after it, and
    one without), is run directly: none falls back to SQLAlchemy because a default, a
    numeric column or textual SQL crept in."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs them through SQLAlchemy")
    from tests.builders.merchants import approved_merchant, make_perk, redeem, verify
    from tests.builders.residents import resident, valid_id

    statements = {"keep": idempotency_rows._INSERT,
                  "locked": redemptions._VERIFICATION_LOCKED, "grant": redemptions._GRANT_AT_ONCE,
                  "spend": codes._SPEND_AND_READ, "record": codes._RECORD}
    for statement in statements.values():
        statement._compiled.clear()
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    scan = verify(client, merchant, resident(client, id_number=valid_id(seq=481)), perk["id"])
    assert redeem(client, merchant, scan["id"], "hot-1").status_code == 201
    scan = verify(client, merchant, resident(client, id_number=valid_id(seq=482)), perk["id"])
    r = client.post("/v1/merchant/redemptions", json={"verification_id": scan["id"]},
                    headers=merchant["headers"])
    assert r.status_code == 201
    # Flask's run of the same route (the plain run switched off) keeps keys the same way.
    idempotency_rows._INSERT._compiled.clear()
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", False)
    scan = verify(client, merchant, resident(client, id_number=valid_id(seq=483)), perk["id"])
    assert redeem(client, merchant, scan["id"], "hot-2").status_code == 201
    for name, statement in statements.items():
        compiled = list(statement._compiled.values())
        assert compiled and all(entry.direct for entry in compiled), name
        # Rows named as SQLAlchemy's result names their columns.
        columns = statement.statement.compile(dialect=engine.dialect)._result_columns
        fields = {entry.row._fields if entry.row else () for entry in compiled}
        assert fields == {tuple(column.keyname for column in columns)}, name


def test_the_sqlalchemy_internals_it_uses_are_there():
    """hot.py uses what SQLAlchemy has no public API for (hot.SQLALCHEMY_INTERNALS);
    pyproject.toml holds SQLAlchemy to one minor version, and an upgrade that moves
    one of them fails here (and in the test below, on PostgreSQL)."""
    for owner, name in hot.SQLALCHEMY_INTERNALS:
        assert hasattr(getattr(sqlalchemy, owner), name), f"{owner}.{name} moved"
    handle = inspect.signature(sqlalchemy.Connection._handle_dbapi_exception).parameters
    assert list(handle)[:6] == ["self", "e", "statement", "parameters", "cursor", "context"]


def test_errors_and_listeners_are_sqlalchemys(engine):
    """On the cursor, listeners of before_cursor_execute see the statement, a driver
    error is raised as SQLAlchemy's wrapped error, and a lost connection is invalidated
    and reported so (api/uow.py runs a request again on `connection_invalidated`)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs them through SQLAlchemy")
    as_number = HotStatement(select(cast(bindparam("value", type_=String), Integer).label("n")))
    seen = []

    def listen(connection, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with engine.begin() as connection:
            assert as_number.scalar(connection, {"value": "12"}) == 12
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert [entry for entry in seen if entry[1] == {"value": "12"}]
    assert all(entry.direct for entry in as_number._compiled.values())
    with engine.connect() as connection:
        transaction = connection.begin()
        with pytest.raises(DataError) as refused:
            as_number.scalar(connection, {"value": "twelve"})
        assert not refused.value.connection_invalidated
        transaction.rollback()
        transaction = connection.begin()
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.begin() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with pytest.raises(DBAPIError) as lost:
            as_number.scalar(connection, {"value": "12"})
        assert lost.value.connection_invalidated and connection.invalidated
        transaction.rollback()


def _rows(engine, key: str) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(KEYS.c.id).where(KEYS.c.key == key)).all())


def test_the_last_statement_goes_with_the_commit(engine):
    """`run_with_commit`: on PostgreSQL the statement and the COMMIT in one query (True:
    committed, SQLAlchemy's own commit after it sends nothing more); a statement the
    database refuses commits nothing of the transaction; elsewhere the statement only
    (False) and the caller commits."""
    with engine.connect() as connection:
        connection.begin()
        _keep(connection, "with-commit-work")
        committed = idempotency_rows._INSERT.run_with_commit(connection, {
            "scope": "user:1:merchant.redeem", "key": "with-commit", "request_hash": "digest",
            "created_at": NOW, "status_code": 201, "response": {"id": 1}})
        assert committed is (engine.dialect.name == "postgresql")
        if committed:  # visible to another connection before SQLAlchemy's commit
            assert _rows(engine, "with-commit") == 1 and _rows(engine, "with-commit-work") == 1
        connection.commit()
    assert _rows(engine, "with-commit") == 1 and _rows(engine, "with-commit-work") == 1
    with engine.connect() as connection:
        connection.begin()
        _keep(connection, "refused-work")
        with pytest.raises(idempotency_rows.KeyTaken):  # the key's row is there: refused
            idempotency_rows.keep_and_commit(connection, "user:1:merchant.redeem",
                                             "with-commit", "digest", 201, {"id": 2})
        connection.rollback()
    assert _rows(engine, "refused-work") == 0


def test_a_connection_lost_with_the_commit_is_an_unknown_outcome(engine):
    """A lost connection during the statement-and-COMMIT is reported as SQLAlchemy
    reports one (`connection_invalidated`), which api/uow.py answers without running
    the request again."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite commits through SQLAlchemy")
    with engine.connect() as connection:
        transaction = connection.begin()
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.begin() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with pytest.raises(DBAPIError) as lost:
            idempotency_rows.keep_and_commit(connection, "user:1:merchant.redeem", "lost",
                                             "digest", 201, None)
        assert lost.value.connection_invalidated and connection.invalidated
        transaction.rollback()


def test_a_key_is_stored_as_sent_whatever_its_characters(engine):
    """The statement sent with the COMMIT binds its parameters on the client: a key
    (the client's Idempotency-Key header) with quotes, backslashes, dollar quotes,
    a statement separator or other scripts is stored exactly as sent, and nothing else
    runs."""
    hostile = ["'; DROP TABLE idempotency_keys; --", "\\'\\\\", "$$; COMMIT; $$", "键‘’\"\t\n"]
    for key in hostile:
        with engine.connect() as connection:
            connection.begin()
            idempotency_rows.keep_and_commit(connection, "user:1:merchant.redeem", key,
                                             "digest", 201, {"key": key})
            connection.commit()
    with engine.connect() as connection:
        stored = dict(connection.execute(
            select(KEYS.c.key, KEYS.c.response).where(KEYS.c.key.in_(hostile))).all())
    assert stored == {key: {"key": key} for key in hostile}
