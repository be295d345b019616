"""Faults survived: Redis going away and coming back, the database dropping
connections or going down — answers stay 503 with an error code, never 500, and
everything recovers without restarting the app."""
from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from api import seat_cache
from tests.builders.departments import department, push
from tests.builders.merchants import approved_merchant
from tests.builders.residents import auth, bind, valid_id
from tests.builders.servers import RedisServer, free_port


@pytest.fixture
def spare_redis():
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on this machine")
    server = RedisServer()
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def test_redis_down_and_back(clean_app, spare_redis, session, plain_runs, monkeypatch):
    from api import create_app
    from points.models import User

    app = create_app({"REDIS_URL": f"redis://127.0.0.1:{spare_redis.port}/0",
                      "RATELIMIT_ENABLED": True})
    client = app.test_client()
    dispatched = []  # the requests that reached this app's Flask dispatch
    real = app.full_dispatch_request
    monkeypatch.setattr(app, "full_dispatch_request", lambda: dispatched.append(1) or real())
    number = valid_id(seq=91)
    dept = department(app, client)
    push(client, dept, {"type": "donation.blood", "id_number": number, "occurred_on": "2026-06-01"})
    tokens = client.post("/v1/auth/dev/login", json={"openid": "fault"}).json
    headers = auth(tokens["access_token"])
    bind(client, headers, "张三", number)
    client.put("/v1/me/consents/credit_points", headers=headers,
               json={"granted": True, "policy_version": "2026-01"})
    assert client.get("/v1/me/points", headers=headers).json["points"] == 1010
    # A merchant's scan made while Redis is up; the grant comes while it is down.
    from tests.builders.merchants import make_perk, redeem, verify
    from tests.builders.residents import resident

    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    scans = [verify(client, merchant, resident(client, id_number=valid_id(seq=seq)),
                    perk["id"])["id"] for seq in (92, 93)]

    spare_redis.stop()
    users_before = session.query(User).count()
    # The grant needs no Redis: the counter's plain run checks its caller in the
    # database when Redis does not answer.
    plain_runs.clear()
    dispatched.clear()
    r = redeem(client, merchant, scans[0], "while-redis-is-down")
    assert r.status_code == 201, r.json
    assert plain_runs == ["/v1/merchant/redemptions"] and dispatched == []
    # Points and records are still served, from the database.
    r = client.get("/v1/me/points", headers=headers)
    assert r.status_code == 200 and r.json["points"] == 1010
    assert client.get("/v1/me/records", headers=headers).status_code == 200
    health = client.get("/v1/health")
    assert health.status_code == 503 and health.json["redis"] == "unavailable"
    assert health.json["database"] == "ok"
    # Sign-in needs Redis (rate limits): 503 CACHE_UNAVAILABLE, nothing written.
    r = client.post("/v1/auth/dev/login", json={"openid": "newcomer"})
    assert r.status_code == 503 and r.json["error_code"] == "CACHE_UNAVAILABLE"
    assert session.query(User).count() == users_before
    # Record batches are rate-limited per key, so they wait for Redis too; the
    # department's retry (idempotent) lands once it is back.
    batch = {"records": [{"source_ref": "later", "subject": {"id_number": number, "name": "张三"},
                          "type": "donation.blood", "occurred_on": "2026-07-01"}]}
    r = client.post("/v1/dept/records", headers=dept, json=batch)
    assert r.status_code == 503 and r.json["error_code"] == "CACHE_UNAVAILABLE"
    assert client.get("/v1/me/points", headers=headers).json["points"] == 1010

    spare_redis.start()  # back, empty, on the same port
    time.sleep(0.2)
    assert client.get("/v1/health").status_code == 200
    assert client.post("/v1/auth/dev/login", json={"openid": "newcomer"}).status_code == 200
    assert client.post("/v1/dept/records", headers=dept, json=batch).status_code == 200
    assert client.get("/v1/me/points", headers=headers).json["points"] == 1020
    # The plain run's own Redis connections come back too: the grant made while Redis
    # was down is replayed, a new one granted, both by the plain run.
    plain_runs.clear()
    dispatched.clear()
    r = redeem(client, merchant, scans[1], "after-redis-is-back")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.json
    r = redeem(client, merchant, scans[0], "while-redis-is-down")
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert plain_runs == ["/v1/merchant/redemptions"] * 2 and dispatched == []
    result = app.test_cli_runner().invoke(args=["points", "verify"])
    assert result.exit_code == 0, result.output
    app.state.db.engine.dispose()


def test_thread_connections_to_redis_are_closed_with_their_thread(spare_redis):
    """The plain runs' Redis commands run on a connection of the thread's own
    (`thread_local_command`): it is closed when its thread ends, and when the command
    goes with an app collected as a reference cycle — closed by the connection, not
    left to the socket's own finalizer (which warns, ResourceWarning, and fails a
    test run that happens to collect it)."""
    import gc
    import warnings

    import redis

    from api.extensions import thread_local_command

    url = f"redis://127.0.0.1:{spare_redis.port}/0"
    admin = redis.Redis.from_url(url)

    def others() -> int:  # connections other than the admin's own
        return len(admin.client_list()) - 1

    gc.collect()  # earlier tests' garbage is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        command = thread_local_command(redis.Redis.from_url(url))
        assert command("PING") == b"PONG"
        threads = [threading.Thread(target=command, args=("PING",)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gc.collect()
        assert others() == 1  # this thread's; the three finished threads' are closed
        for _ in range(20):  # as an app holds it: in a reference cycle
            app_like = {"command": command}
            app_like["self"] = app_like
            del command, app_like
            gc.collect()
            command = thread_local_command(redis.Redis.from_url(url))
            command("PING")
        del command
        gc.collect()
        assert others() == 0
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    admin.close()


class Proxy:
    """A TCP proxy in front of PostgreSQL that can cut every connection or refuse new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.up = True
        self.conns: list[socket.socket] = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(50)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def cut(self) -> None:
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def _proxied_app(settings):
    """An app whose database connections go through a Proxy, and the proxy."""
    url = settings["DATABASE_URL"]
    if not url.startswith("postgresql"):
        pytest.skip("database faults are tested against PostgreSQL")
    from api import create_app

    parts = urlsplit(url)
    proxy = Proxy((parts.hostname, parts.port or 5432))
    proxied = url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}")
    return create_app({"DATABASE_URL": proxied}), proxy


def test_database_faults(clean_app, settings):
    app, proxy = _proxied_app(settings)
    client = app.test_client()
    try:
        assert client.get("/v1/health").status_code == 200
        tokens = client.post("/v1/auth/dev/login", json={"openid": "db-fault"}).json
        headers = auth(tokens["access_token"])
        assert client.get("/v1/me", headers=headers).status_code == 200
        dept = department(app, client, code="faulty")
        assert client.get("/v1/dept/quality-issues", headers=dept).status_code == 200
        # Every pooled connection is dropped. Connections used a moment ago are not
        # pinged (api/extensions.py): the request's first statement finds the
        # connection dead and the request runs again on a fresh one, whether that
        # statement was in the view or in the caller's check before it.
        proxy.cut()
        assert client.get("/v1/me", headers=headers).status_code == 200
        proxy.cut()
        assert client.get("/v1/dept/quality-issues", headers=dept).status_code == 200  # key checked first
        merchant = approved_merchant(app, client)
        assert client.get("/v1/merchant/perks", headers=merchant["headers"]).status_code == 200
        app.state.redis.incr(seat_cache.EPOCH_KEY)  # the seat is read again
        proxy.cut()
        assert client.get("/v1/merchant/perks", headers=merchant["headers"]).status_code == 200
        proxy.cut()
        r = client.post("/v1/auth/dev/login", json={"openid": "after-the-cut"})
        assert r.status_code == 200  # a write, run again: one account, not two
        assert client.post("/v1/auth/dev/login",
                           json={"openid": "after-the-cut"}).json["user"]["id"] == r.json["user"]["id"]
        # The database is down: 503 with an error code, not 500.
        proxy.up = False
        proxy.cut()
        r = client.get("/v1/me", headers=headers)
        assert r.status_code == 503 and r.json["error_code"] == "DATABASE_UNAVAILABLE"
        r = client.post("/v1/auth/dev/login", json={"openid": "during-outage"})
        assert r.status_code == 503
        assert client.get("/v1/health").status_code == 503
        # Back up: the same app recovers by itself.
        proxy.up = True
        assert client.get("/v1/me", headers=headers).status_code == 200
        assert client.get("/v1/health").status_code == 200
    finally:
        app.state.db.engine.dispose()
        proxy.close()


def test_the_counters_plain_run_survives_lost_connections(clean_app, settings, plain_runs,
                                                         monkeypatch):
    """The counter's plain run (api/pipeline.py) pings a pooled connection only when
    idle, like a request: a connection dropped since its last use fails the first
    statement (wrapped and invalidated by SQLAlchemy although it ran on the driver's
    cursor, points/infra/hot.py), the attempt is rolled back and run again on a fresh
    connection (`uow.run`), by the plain run itself. The resident sees one verification
    and one grant."""
    from tests.builders.merchants import make_perk, redeem, verify
    from tests.builders.residents import resident

    app, proxy = _proxied_app(settings)
    client = app.test_client()
    dispatched = []  # the requests that reached this app's Flask dispatch
    real = app.full_dispatch_request
    monkeypatch.setattr(app, "full_dispatch_request", lambda: dispatched.append(1) or real())
    try:
        merchant = approved_merchant(app, client)
        perk = make_perk(client, merchant, total_quota=5)
        person = resident(client, id_number=valid_id(seq=471))
        assert client.get("/v1/merchant", headers=merchant["headers"]).status_code == 200
        first = verify(client, merchant, person, perk["id"])  # the plain run, live connection
        plain_runs.clear()
        dispatched.clear()
        proxy.cut()
        r = redeem(client, merchant, first["id"], "after-a-cut")
        assert r.status_code == 201, r.json
        assert plain_runs == ["/v1/merchant/redemptions"] and dispatched == []
        proxy.cut()
        second = verify(client, merchant, person, perk["id"])  # the code spent once
        proxy.cut()
        r = redeem(client, merchant, second["id"], "second-after-a-cut")
        assert r.status_code == 409 and r.json["error_code"] == "LIMIT_REACHED"
        grants = client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json
        assert [g["verification_id"] for g in grants] == [first["id"]]
        assert client.get(f"/v1/merchant/perks/{perk['id']}",
                          headers=merchant["headers"]).json["used"] == 1
    finally:
        app.state.db.engine.dispose()
        proxy.close()


def test_a_view_run_again_asks_wechat_once(clean_app, settings, httpserver):
    """WeChat refuses a login code used twice: when the login runs again on a fresh
    connection, the code is not sent again."""
    app, proxy = _proxied_app(settings)
    client = app.test_client()
    wechat = app.state.wechat
    wechat.base_url = httpserver.url_for("").rstrip("/")
    for _ in range(2):
        httpserver.expect_request("/sns/jscode2session").respond_with_json(
            {"openid": "o-retry", "session_key": "k"})
    try:
        assert client.post("/v1/auth/wechat/login", json={"code": "c1"}).status_code == 200
        proxy.cut()
        r = client.post("/v1/auth/wechat/login", json={"code": "c2"})
        assert r.status_code == 200, r.json
        assert [req.args["js_code"] for req, _ in httpserver.log] == ["c1", "c2"]
    finally:
        app.state.db.engine.dispose()
        proxy.close()


def test_a_connection_lost_during_commit_is_not_run_again(clean_app, settings, monkeypatch):
    """Lost while committing, the outcome is unknown: 503 (the client retries, with its
    Idempotency-Key where it matters), never the view a second time."""
    from sqlalchemy import event

    app, proxy = _proxied_app(settings)
    client = app.test_client()
    engine = app.state.db.engine
    commits = []

    def cut_before_commit(conn):
        commits.append(1)
        proxy.cut()

    try:
        assert client.get("/v1/health").status_code == 200
        event.listen(engine, "commit", cut_before_commit)
        # Whether the driver reports such a loss as a disconnect depends on where the
        # socket broke; reported as one, it must still not be run again.
        monkeypatch.setattr(engine.dialect, "is_disconnect", lambda *args: True)
        r = client.post("/v1/auth/dev/login", json={"openid": "lost-in-commit"})
        monkeypatch.undo()
        event.remove(engine, "commit", cut_before_commit)
        assert r.status_code == 503 and r.json["error_code"] == "DATABASE_UNAVAILABLE"
        assert commits == [1]
        assert client.post("/v1/auth/dev/login",
                           json={"openid": "lost-in-commit"}).status_code == 200
    finally:
        app.state.db.engine.dispose()
        proxy.close()


def test_idle_connections_are_pinged_busy_ones_are_not(settings):
    """In a request the pool pings a connection only after it sat idle: one found dead
    then is replaced before anyone uses it; one used a moment ago is lent out unpinged
    (a dead one then fails its first statement, which the request runs again).
    Outside a request (jobs, CLI), where nothing runs it again, every checkout is
    pinged."""
    url = settings["DATABASE_URL"]
    if not url.startswith("postgresql"):
        pytest.skip("database faults are tested against PostgreSQL")
    from flask import Flask
    from sqlalchemy import create_engine, exc, text

    from api import scope
    from api.extensions import ping_when_idle

    parts = urlsplit(url)
    proxy = Proxy((parts.hostname, parts.port or 5432))
    proxied = url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}").replace(
        "postgresql://", "postgresql+psycopg://")
    flask_app = Flask(__name__)
    flask_app.state = None  # the scope's services: none used here
    request = flask_app.test_request_context

    @contextlib.contextmanager
    def plain_run():  # a request's scope without Flask's contexts, as a plain route runs
        token = scope.enter(flask_app)
        try:
            yield
        finally:
            scope.leave(token)

    engines = []
    try:
        for idle_seconds, context, pinged in ((0.0, request, True), (3600.0, request, False),
                                              (3600.0, plain_run, False),
                                              (3600.0, flask_app.app_context, True),
                                              (3600.0, contextlib.nullcontext, True)):
            engine = create_engine(proxied, pool_size=1, max_overflow=0)
            engines.append(engine)
            ping_when_idle(engine, idle_seconds)
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
            proxy.cut()
            time.sleep(0.05)
            with context(), engine.connect() as conn:
                if pinged:  # found dead, replaced: works at once
                    assert conn.execute(text("SELECT 2")).scalar() == 2
                else:  # not pinged: the first statement finds it dead
                    with pytest.raises(exc.DBAPIError) as lost:
                        conn.execute(text("SELECT 2"))
                    assert lost.value.connection_invalidated
            with engine.connect() as conn:  # and the pool has a live one afterwards
                assert conn.execute(text("SELECT 3")).scalar() == 3
    finally:
        for engine in engines:
            engine.dispose()
        proxy.close()


def test_concurrent_batches_sharing_subjects_never_deadlock(app, clean_app, session):
    """Two departments' batches about the same people at once (found by the soak:
    FOR UPDATE on subjects after inserting records deadlocked; now NO KEY UPDATE,
    and a deadlock that still happens is retried)."""
    if app.state.db.engine.dialect.name != "postgresql":
        pytest.skip("row-lock deadlocks are a PostgreSQL matter")
    from points.models import CreditRecord

    client = app.test_client()
    depts = [department(app, client, code=f"d{i}") for i in range(4)]
    people = [valid_id(seq=400 + i) for i in range(30)]
    results, barrier = [], threading.Barrier(len(depts))

    def send(dept, order):
        c = app.test_client()
        barrier.wait()
        for n in range(3):
            batch = {"records": [{"source_ref": f"r{n}-{i}", "subject": {"id_number": people[i],
                                                                          "name": "张三"},
                                  "type": "donation.blood", "occurred_on": "2026-06-01"}
                                 for i in order]}
            results.append(c.post("/v1/dept/records", headers=dept, json=batch).status_code)

    threads = [threading.Thread(target=send, args=(d, list(range(30))[::1 if k % 2 else -1]))
               for k, d in enumerate(depts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 12
    assert session.query(CreditRecord).count() == 4 * 3 * 30
