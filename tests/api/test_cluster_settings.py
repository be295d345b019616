"""The settings of a deployment on several machines: the read replica (reads that may
lag on its engine, writes and everything else on the primary's, the primary standing
in while the replica is unreachable), REDIS_URL's Sentinel form, and PgBouncer-safe
connections (no statements prepared on the server)."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis
from redis.sentinel import SentinelConnectionPool
from sqlalchemy import event

from api import extensions
from api.config import load_config
from api.extensions import SentinelURL, make_engine, make_redis
from tests.builders.departments import admin_headers
from tests.builders.residents import resident, valid_id

# -- Sentinel ----------------------------------------------------------------------------

def test_sentinel_urls_are_read():
    url = SentinelURL.parse("redis+sentinel://127.0.0.1:16379,127.0.0.1:16380,[::1]:16381/credit/3")
    assert url.sentinels == [("127.0.0.1", 16379), ("127.0.0.1", 16380), ("::1", 16381)]
    assert (url.service, url.db, url.username, url.password) == ("credit", 3, None, None)
    assert url.limits_storage() == (
        "redis+sentinel://127.0.0.1:16379,127.0.0.1:16380,::1:16381/credit",
        {"db": 3, "use_replicas": False})
    secret = SentinelURL.parse("redis+sentinel://:p%40ss@s1:26379/mymaster")
    assert (secret.sentinels, secret.service, secret.db, secret.password) == (
        [("s1", 26379)], "mymaster", 0, "p@ss")
    for bad in ("redis://h:1/0", "redis+sentinel://h/credit", "redis+sentinel://h:1",
                "redis+sentinel://h:1/credit/x", "redis+sentinel://h:1/a/1/2"):
        with pytest.raises(ValueError):
            SentinelURL.parse(bad)


def test_a_bad_sentinel_url_stops_the_start():
    with pytest.raises(SystemExit, match="REDIS_URL"):
        load_config({"APP_ENV": "testing", "REDIS_URL": "redis+sentinel://h:1/credit/x"})


def test_the_client_asks_the_sentinels_for_the_primary():
    client = make_redis("redis+sentinel://127.0.0.1:1,127.0.0.1:2/credit/4")
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "credit" and pool.connection_kwargs["db"] == 4
    assert [s.connection_pool.connection_kwargs["port"]
            for s in pool.sentinel_manager.sentinels] == [1, 2]
    assert pool.connection_kwargs["socket_timeout"] == 1.0
    # No Sentinel answers on those ports: a command fails as Redis being down does.
    import redis

    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()


class SentinelServers:
    """A Redis server and one Sentinel naming it the primary of `credit`."""

    def __init__(self, directory) -> None:
        from tests.builders.servers import RedisServer, free_port

        self.primary = RedisServer()
        self.primary.start()
        self.port = free_port()
        conf = directory / "sentinel.conf"
        conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
                        f"sentinel monitor credit 127.0.0.1 {self.primary.port} 1\n")
        self.proc = subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                     stdout=subprocess.DEVNULL)
        sentinel = redis.Redis(port=self.port, socket_timeout=0.5)
        deadline = time.time() + 10
        while True:
            try:
                if sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "credit"):
                    break
            except redis.exceptions.ConnectionError:
                pass
            if time.time() > deadline:
                raise RuntimeError("the Sentinel did not start")
            time.sleep(0.05)
        sentinel.close()
        self.url = f"redis+sentinel://127.0.0.1:{self.port}/credit/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.primary.stop()


@pytest.fixture
def sentinel(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on this machine")
    servers = SentinelServers(tmp_path)
    yield servers
    servers.stop()


def test_a_thread_connection_goes_to_the_primary_the_sentinels_name(sentinel):
    """The fast paths' own connections (`thread_local_command`) reach the primary the
    Sentinels name, like the pool's: not redis-py's default address, localhost:6379."""
    client = make_redis(sentinel.url)
    client.set("which", "the primary")
    command = extensions.thread_local_command(client)
    assert command("GET", "which") == b"the primary"
    assert f"laddr=127.0.0.1:{sentinel.primary.port} ".encode() in command("CLIENT", "INFO")
    client.close()


def test_under_sentinel_the_cached_points_read_skips_flask(clean_app, sentinel, monkeypatch,
                                                            caplog):
    """The caller check reads Redis on the thread's own connection (with the cached
    score, for the points read); behind Sentinel it once found nothing there, and no
    read was ever answered from the cache."""
    from prometheus_client import REGISTRY

    from api import create_app

    app = create_app({"REDIS_URL": sentinel.url})
    client = app.test_client()
    person = resident(client, id_number=valid_id(seq=871))
    calls = []
    real = app.full_dispatch_request
    monkeypatch.setattr(app, "full_dispatch_request", lambda: calls.append(1) or real())
    first = client.get("/v1/me/points", headers=person["headers"])  # fills the caches
    assert first.status_code == 200 and calls == []  # the plain run
    def hits():
        return REGISTRY.get_sample_value("credit_score_cache_reads_total", {"result": "hit"})

    before = hits()
    again = client.get("/v1/me/points", headers=person["headers"])
    assert again.status_code == 200 and calls == []
    assert hits() == before + 1  # from the cache
    assert again.json == first.json
    assert "redis unavailable" not in caplog.text  # the token check's Redis answered
    app.state.db.engine.dispose()


# -- PgBouncer ---------------------------------------------------------------------------

def test_behind_pgbouncer_nothing_is_prepared_on_the_server(app):
    url = app.config["DATABASE_URL"]
    if not url.startswith("postgresql"):
        pytest.skip("PgBouncer is in front of PostgreSQL")
    for pgbouncer, threshold in ((False, 5), (True, None)):
        engine = make_engine(url, pgbouncer=pgbouncer)
        try:
            with engine.connect() as connection:
                assert connection.connection.dbapi_connection.prepare_threshold == threshold
        finally:
            engine.dispose()
    assert load_config({"APP_ENV": "testing", "DATABASE_PGBOUNCER": "true"})["DATABASE_PGBOUNCER"]
    assert not load_config({"APP_ENV": "testing"})["DATABASE_PGBOUNCER"]


# -- the read replica --------------------------------------------------------------------

def _statements(engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, *args):
        seen.append(statement.split(None, 1)[0].upper())

    return seen


@pytest.fixture
def replica(app):
    """The app's database with a replica engine on the same database (the statements
    each engine runs tell which one a read used)."""
    db = app.state.db
    url = app.config["DATABASE_URL"]
    db.init_replica(url, url)
    yield db
    db.drop_replica()


def test_lists_that_may_lag_are_read_on_the_replica_and_writes_on_the_primary(
        app, client, replica):
    person = resident(client, id_number=valid_id(seq=731))
    admin = admin_headers(app, client)
    on_primary, on_replica = _statements(replica.engine), _statements(replica.replica_engine)
    r = client.post("/v1/me/commitments", headers=person["headers"],
                    json={"kind": "voluntary", "content": "诚信经营，按时履约", "public": True})
    assert r.status_code == 201, r.json
    assert "INSERT" in on_primary and on_replica == []
    on_primary.clear()
    listed = client.get("/v1/commitments/public")
    assert listed.status_code == 200 and listed.json[0]["content"] == "诚信经营，按时履约"
    assert listed.json[0]["name_masked"].startswith("张")
    assert on_replica and set(on_replica) == {"SELECT"} and on_primary == []
    for path in ("/v1/admin/quality-report", "/v1/admin/assessment",
                 "/v1/admin/assessment?format=csv"):
        on_replica.clear()
        r = client.get(path, headers=admin)
        assert r.status_code == 200, (path, r.get_data(as_text=True))
        assert on_replica, path
    on_replica.clear()
    assert client.get("/v1/me/points/history", headers=person["headers"]).status_code == 200
    assert on_replica
    # the points themselves must see the latest write: the primary's
    on_replica.clear()
    assert client.get("/v1/me/points", headers={**person["headers"], "X-Request-Id": "x"}
                      ).status_code == 200
    assert on_replica == []


def test_without_a_replica_the_same_reads_use_the_primary(app, client):
    db = app.state.db
    assert db.replica_engine is None and app.config["DATABASE_REPLICA_URL"] is None
    on_primary = _statements(db.engine)
    assert client.get("/v1/commitments/public").status_code == 200
    assert "SELECT" in on_primary


def test_an_unreachable_replica_is_stood_in_for_by_the_primary(app, client, monkeypatch, caplog,
                                                             tmp_path):
    db = app.state.db
    url = app.config["DATABASE_URL"]
    unreachable = ("postgresql://postgres@127.0.0.1:1/nowhere" if url.startswith("postgresql")
                   else f"sqlite:///{tmp_path}/no/such/dir/replica.db")
    person = resident(client, id_number=valid_id(seq=732))
    assert client.post("/v1/me/commitments", headers=person["headers"], json={
        "kind": "voluntary", "content": "守信", "public": True}).status_code == 201

    def tried(reads: int) -> int:
        """How often the replica was asked for a connection in `reads` reads."""
        caplog.clear()
        for _ in range(reads):
            r = client.get("/v1/commitments/public")
            assert r.status_code == 200 and [c["content"] for c in r.json] == ["守信"]
        return sum("read replica is unreachable" in m for m in caplog.messages)

    for wait, asked in ((5.0, 1), (0.0, 3)):
        # waiting: the stand-in is kept; no wait: it is dropped at each checkout and
        # the replica asked again
        monkeypatch.setattr(extensions, "REPLICA_RETRY_SECONDS", wait)
        db.init_replica(unreachable, url)
        try:
            assert tried(3) == asked
        finally:
            db.drop_replica()
