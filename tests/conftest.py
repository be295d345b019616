"""Test fixtures: one app per session on its own database and Redis db number.

Embedded by default (a temporary SQLite file and the in-process Redis stand-in);
with DATABASE_URL / REDIS_URL set, PostgreSQL and Redis — never the development
database (a `_test` database beside it, unless its name ends in `test`) nor its Redis
db (db 15 unless TEST_REDIS_DB says). TEST_DATABASE_URL, when set, names the test
database itself: it is used as named (and made if missing).
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text

from tests.builders.servers import clean

TEST_REDIS_DB = os.environ.get("TEST_REDIS_DB", "15")


def _test_database_url(tmp_dir) -> str:
    named = os.environ.get("TEST_DATABASE_URL")
    url = named or os.environ.get("DATABASE_URL")
    if not url or url.startswith("sqlite"):
        return f"sqlite:///{tmp_dir}/test.db"
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "credit"
    if not named and not name.endswith("test"):
        name = f"{name}_test"
    test_url = urlunsplit(parts._replace(path="/" + name))
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")).replace(
        "postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname=:n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return test_url


def _test_redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url or url.startswith("memory://"):
        return "memory://"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + TEST_REDIS_DB))


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("db")
    return {
        "APP_ENV": "testing",
        "DATABASE_URL": _test_database_url(tmp),
        "REDIS_URL": _test_redis_url(),
        "SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATA_KEY": "test-data-key",
        "WECHAT_API_BASE": "http://127.0.0.1:9",  # replaced per test by the stub server
    }


@pytest.fixture(scope="session")
def app(settings):
    for key, value in settings.items():
        os.environ[key] = value
    from api import create_app
    from api.cli import upgrade_database

    url = settings["DATABASE_URL"]
    if url.startswith("postgresql"):
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    upgrade_database(url)
    application = create_app({"TESTING": True})
    yield application
    application.state.db.engine.dispose()


@pytest.fixture
def clean_app(app):
    clean(app)
    yield app
    app.state.db.remove()


@pytest.fixture
def client(clean_app):
    return clean_app.test_client()


@pytest.fixture
def session(clean_app):
    """A session outside any request, for arranging and checking data."""
    s = clean_app.state.db.new_session()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def dispatched(app, monkeypatch):
    """How many requests reached Flask's dispatch: none when a plain route's run
    answered (api/pipeline.py)."""
    calls = []
    real = app.full_dispatch_request

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(app, "full_dispatch_request", counting)
    return calls


@pytest.fixture
def plain_runs(monkeypatch):
    """The routes (their rules) a plain run started on, in order (api/pipeline.py
    `PlainRoutes._run`): with `dispatched`, which of the two answered a request."""
    from api.pipeline import PlainRoutes

    runs = []
    real = PlainRoutes._run

    def counting(self, route, environ):
        runs.append(route.rule)
        return real(self, route, environ)

    monkeypatch.setattr(PlainRoutes, "_run", counting)
    return runs


@pytest.fixture
def counter(app, client):
    """The merchant counter: an approved merchant whose owner's seats are cached (the
    perk was made through Flask, which cached them), and a perk with room for many
    grants. (merchant, perk)"""
    from tests.builders.merchants import approved_merchant, make_perk

    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=50)
    return merchant, perk


@pytest.fixture
def wechat_login(app, httpserver):
    """The app's WeChat login client (jscode2session) pointed at a local stub server."""
    client = app.state.wechat
    saved = client.base_url
    client.base_url = httpserver.url_for("").rstrip("/")
    yield httpserver
    client.base_url = saved


@pytest.fixture
def face_wechat(app, httpserver):
    """Face verification through WeChat's APIs, answered by a local stub
    (tests/builders/face_stub.py) instead of the development stand-in; sign people in with
    `dev_login(client, openid)` and tell the stub whose face each account has
    (`stub.person("dev:" + openid, number, name)`)."""
    from points.infra.wechat import AccessTokenHolder, WeChatClient, WeChatFaceVerifier
    from tests.builders.face_stub import FaceStub

    state = app.state
    config = app.config
    client = WeChatClient(httpserver.url_for("").rstrip("/"), config["WECHAT_APPID"],
                          config["WECHAT_SECRET"], timeout=2.0)
    saved = state.face
    state.face = WeChatFaceVerifier(client, AccessTokenHolder(client, state.redis))
    stub = FaceStub(httpserver)
    yield stub
    state.face = saved
