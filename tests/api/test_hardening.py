"""Smaller holes found by attacking the service (issue 18, part 6): what reaches the
logs, weak production secrets, the assessment CSV, the client's address behind
proxies."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.logs import JsonFormatter
from tests.helpers import dev_login

OPENID = "wx-openid-7f3a9c21"


def _formatted(records) -> str:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in records)


def test_sql_parameters_never_reach_the_logs(app, client, caplog):
    """A sign-in with SQL logging switched on, and a failing statement logged as the
    error handler logs it: the openid is in neither (the engine hides parameters;
    the log formatter masks what a driver's message might quote back)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    try:
        dev_login(client, OPENID)
        engine = app.extensions["credit"].db.engine
        with engine.connect() as connection:
            with pytest.raises(DBAPIError) as failed:
                connection.execute(text("SELECT openid FROM no_such_table WHERE openid = :o"),
                                   {"o": "dev:" + OPENID})
        assert OPENID not in str(failed.value)
        try:
            raise failed.value
        except DBAPIError:
            logging.getLogger("api.errors").exception("database error")
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert any(r.exc_info for r in caplog.records)
    written = _formatted(caplog.records)
    assert "no_such_table" in written and OPENID not in written


@pytest.mark.parametrize(("message", "secret"), [
    ("(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "
     "\"uq_users_openid\"\nDETAIL:  Key (openid)=(dev:wx-openid-7f3a9c21) already exists.",
     OPENID),
    ("(psycopg.errors.NotNullViolation) null value in column \"x\"\nDETAIL:  Failing row "
     "contains (1, dev:wx-openid-7f3a9c21, null).", OPENID),
    ("[SQL: SELECT 1 WHERE openid = %(o)s]\n[parameters: {'o': 'dev:wx-openid-7f3a9c21'}]\n"
     "(Background on this error at: https://sqlalche.me/e/20/f405)", OPENID),
])
def test_values_a_database_quotes_back_are_masked_in_the_logs(message, secret):
    record = logging.LogRecord("api.errors", logging.ERROR, __file__, 1, message, None, None)
    assert secret not in _formatted([record])
