"""Smaller holes found by attacking the service (issue 18, part 6): what reaches the
logs, weak production secrets, the assessment CSV, the client's address behind
proxies."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.logs import JsonFormatter
from tests.builders.residents import dev_login

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
        engine = app.state.db.engine
        with engine.connect() as connection, pytest.raises(DBAPIError) as failed:
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
    (("(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "
     "\"uq_users_openid\"\nDETAIL:  Key (openid)=(dev:wx-openid-7f3a9c21) already exists."),
     OPENID),
    (("(psycopg.errors.NotNullViolation) null value in column \"x\"\nDETAIL:  Failing row "
     "contains (1, dev:wx-openid-7f3a9c21, null)."), OPENID),
    (("[SQL: SELECT 1 WHERE openid = %(o)s]\n[parameters: {'o': 'dev:wx-openid-7f3a9c21'}]\n"
     "(Background on this error at: https://sqlalche.me/e/20/f405)"), OPENID),
    ('outbox message 7: sending failed: {"touser": "wx-openid-7f3a9c21", "data": {}}', OPENID),
    (("Max retries exceeded with url: /cgi-bin/message/subscribe/send?access_token=AT-93kd8s"
     "&x=1"), "AT-93kd8s"),
])
def test_values_a_database_quotes_back_are_masked_in_the_logs(message, secret):
    record = logging.LogRecord("api.errors", logging.ERROR, __file__, 1, message, None, None)
    assert secret not in _formatted([record])


# -- secrets production refuses ------------------------------------------------------

STRONG = "Zq7-vN2xK9pL4mR8sT1wY6bC3dF5gH0jQeUa"
PRODUCTION = {"APP_ENV": "production", "DATABASE_URL": "postgresql://db/credit",
              "REDIS_URL": "redis://cache:6379/0", "WECHAT_APPID": "wx1", "WECHAT_SECRET": "s",
              "SECRET_KEY": STRONG, "DATA_KEY": "rJ0n3Vd3Wq8eYb1mJ9fZp2k5XcT7uA4sH6gL0oEiQ_w="}


def _production(monkeypatch, **changes):
    from api.config import load_config

    monkeypatch.delenv("DATA_HASH_KEY", raising=False)
    for name, value in {**PRODUCTION, **changes}.items():
        monkeypatch.setenv(name, value)
    return load_config()


def test_production_starts_with_strong_secrets(monkeypatch):
    config = _production(monkeypatch)
    assert config["SECRET_KEY"] == STRONG


@pytest.mark.parametrize(("name", "value", "why"), [
    ("SECRET_KEY", "changeme", "development or example value"),
    ("SECRET_KEY", "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz", "example value"),
    ("SECRET_KEY", "short-but-random-Q7x", "shorter than 32"),
    ("SECRET_KEY", "ab" * 20, "too few distinct"),
    ("DATA_KEY", "test-data-key", "example value"),
    ("DATA_KEY", PRODUCTION["DATA_KEY"] + ",aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "distinct"),
    ("DATA_HASH_KEY", "hash-key", "shorter than 32"),
])
def test_production_refuses_weak_secrets_naming_them(monkeypatch, name, value, why):
    from api.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        _production(monkeypatch, **{name: value})
    message = str(refused.value.code)
    assert message.startswith(f"configuration error: {name} is too weak") and why in message
    assert "\n" not in message and value not in message


def test_production_refuses_the_secrets_made_for_development(monkeypatch, tmp_path):
    import json

    from api import config
    from api.config import ConfigError

    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    (tmp_path / "dev-secrets.json").write_text(json.dumps({"SECRET_KEY": STRONG}))
    with pytest.raises(ConfigError, match="SECRET_KEY is too weak"):
        _production(monkeypatch)


# -- the assessment CSV ------------------------------------------------------------------

def test_the_assessment_csv_neutralises_formulas(app, client):
    import csv
    import io

    from tests.builders.departments import admin_headers, department

    names = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR",
             "普通 局"]
    for index, name in enumerate(names):
        department(app, client, code=f"csv-{index}", name=name, record_types=[])
    from points.office.assessment import COLUMNS

    r = client.get("/v1/admin/assessment?format=csv", headers=admin_headers(app, client))
    assert r.status_code == 200 and r.mimetype == "text/csv"
    # The header row is in the reader's language: the cells are read by the columns' keys.
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True), newline=""),
                               fieldnames=COLUMNS))[1:]
    shown = {row["department"]: row["name"] for row in rows}
    for index, name in enumerate(names[:-1]):
        assert shown[f"csv-{index}"] == "'" + name
    assert shown["csv-6"] == "普通 局"
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r"))
               for row in rows for value in row.values())


# -- the client's address behind proxies ---------------------------------------------

@pytest.mark.parametrize(("trusted", "forwarded", "separately"), [
    (0, "203.0.113.9", False),  # no proxy trusted: a forged header changes nothing
    (1, "203.0.113.9", True),   # one proxy: the address it saw is the client's
    (1, "198.51.100.7, 203.0.113.9", True),  # a forged first hop is not believed
    (2, "203.0.113.9, 10.0.0.2", True),  # two proxies
])
def test_rate_limits_count_the_client_behind_trusted_proxies(app, client, monkeypatch,
                                                             trusted, forwarded, separately):
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", trusted)
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN", "2/minute")
    limiter = app.state.limiter
    limiter.reset()
    limiter.enabled = True
    try:
        def login(via: str):
            return client.post("/v1/auth/dev/login", headers={"X-Forwarded-For": via},
                               environ_base={"REMOTE_ADDR": "10.0.0.1"},
                               json={"openid": "behind-a-proxy"})

        # Two sign-ins of one client through the proxy (10.0.0.1) use up its limit.
        for _ in range(2):
            assert login(forwarded).status_code == 200
        assert login(forwarded).status_code == 429
        # Another client behind the same proxy (its hop written where the first's was).
        other = forwarded.replace("203.0.113.9", "192.0.2.55")
        assert (login(other).status_code == 200) is separately
    finally:
        limiter.enabled = False
        limiter.reset()
