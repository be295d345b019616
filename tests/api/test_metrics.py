"""What an operator watches (api/metrics.py): `/metrics` scraped in Prometheus's format,
the plain runs (api/pipeline.py) counted, the state read from Redis and the database, the endpoint closed
in production, the liveness and readiness endpoints, and several processes' figures
added up in multiprocess mode."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest
import redis
import rq
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.config import load_config
from points.infra.db import utcnow
from points.models.workflows import OutboxMessage
from tests.builders.merchants import code_for, customer, scan
from tests.builders.residents import resident, valid_id


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    r = client.get("/metrics", **kwargs)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def requests_of(samples, route: str, method: str, status: str) -> float:
    return samples.get(("credit_http_request_duration_seconds_count",
                        (("method", method), ("route", route), ("status", status))), 0.0)


def test_requests_are_timed_per_route_and_status(client):
    before = scrape(client)
    assert client.get("/v1/health/live").status_code == 200
    assert client.get("/v1/me/points").status_code == 401  # refused before the view
    for _ in range(2):
        assert client.get("/no/such/path/123").status_code == 404
    assert client.get("/v1/merchant/perks/1").status_code == 401
    after = scrape(client)
    for route, method, status, more in (
            ("/v1/health/live", "GET", "200", 1), ("/v1/me/points", "GET", "401", 1),
            ("unmatched", "GET", "404", 2),
            ("/v1/merchant/perks/<int:perk_id>", "GET", "401", 1)):
        assert (requests_of(after, route, method, status)
                - requests_of(before, route, method, status)) == more, route
    # the raw path never becomes a label
    assert not any("/no/such" in str(labels) for _, labels in after)
    bucket = ("credit_http_request_duration_seconds_bucket",
              (("le", "+Inf"), ("method", "GET"), ("route", "/v1/health/live"),
               ("status", "200")))
    assert after[bucket] >= 1


def test_plain_runs_are_counted_with_the_score_cache(app, client, dispatched, counter):
    person = resident(client, id_number=valid_id(seq=641))
    before = scrape(client)
    assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200  # miss
    dispatched.clear()
    assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200  # hit
    assert dispatched == []  # answered by the plain run (api/pipeline.py)
    merchant, perk = counter
    holder = customer(client)
    token = code_for(client, holder)
    dispatched.clear()
    scanned = scan(client, merchant["headers"], token, perk["id"])
    assert scanned.status_code == 201 and dispatched == []  # the counter's plain run
    after = scrape(client)

    def more(name, labels=()):
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    assert more("credit_score_cache_reads_total", (("result", "hit"),)) == 1
    assert more("credit_score_cache_reads_total", (("result", "miss"),)) >= 2  # + holder's
    assert (requests_of(after, "/v1/me/points", "GET", "200")
            - requests_of(before, "/v1/me/points", "GET", "200")) >= 3
    assert (requests_of(after, "/v1/merchant/verifications", "POST", "201")
            - requests_of(before, "/v1/merchant/verifications", "POST", "201")) == 1


def test_queues_outbox_and_pool_are_read_when_scraped(app, client):
    state = app.state
    queue = rq.Queue("recompute", connection=state.redis)
    queue.enqueue("points.scores.jobs.no_such_function")
    queue.enqueue("points.scores.jobs.no_such_function")
    failed = queue.enqueue("points.scores.jobs.no_such_function")
    queue.remove(failed)
    queue.failed_job_registry.add(failed, ttl=600, exc_string="boom")
    now = utcnow()
    with Session(state.db.engine) as s, s.begin():
        s.add_all([
            OutboxMessage(dedupe_key="m-1", event="repair.decided", data={}, status="pending",
                          attempts=0, created_at=now - dt.timedelta(minutes=5)),
            OutboxMessage(dedupe_key="m-2", event="repair.decided", data={}, status="pending",
                          attempts=2),
            OutboxMessage(dedupe_key="m-3", event="repair.decided", data={}, status="failed",
                          attempts=8),
            OutboxMessage(dedupe_key="m-4", event="repair.decided", data={}, status="sent",
                          attempts=1),
        ])
    samples = scrape(client)
    assert samples[("credit_rq_queue_jobs", (("queue", "recompute"),))] == 2
    assert samples[("credit_rq_queue_jobs", (("queue", "notifications"),))] == 0
    assert samples[("credit_rq_failed_jobs", (("queue", "recompute"),))] == 1
    assert samples[("credit_outbox_messages", (("status", "pending"),))] == 2
    assert samples[("credit_outbox_messages", (("status", "failed"),))] == 1
    assert samples[("credit_outbox_retrying", ())] == 1
    assert 290 < samples[("credit_outbox_oldest_pending_seconds", ())] < 3600
    assert samples[("credit_redis_up", ())] == samples[("credit_database_up", ())] == 1
    assert ("credit_db_pool_connections_in_use", (("engine", "primary"),)) in samples
    assert samples[("credit_db_pool_size", (("engine", "primary"),))] >= 1


def test_a_scrape_with_redis_down_still_answers(app, client, monkeypatch):
    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(rq.Queue, "count", property(down))
    samples = scrape(client)
    assert samples[("credit_redis_up", ())] == 0
    assert samples[("credit_database_up", ())] == 1
    assert not any(name == "credit_rq_queue_jobs" for name, _ in samples)


def test_metrics_are_closed_in_production(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_ALLOWED_NETWORKS", "10.1.0.0/16")
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "t" * 20 + "0123456789abcdef")
    r = client.get("/metrics")  # the test client calls from 127.0.0.1
    other = client.get("/no/such/page")
    assert r.status_code == 404 and r.json == other.json  # as any 404: the body,
    assert "\\u" not in r.get_data(as_text=True)  # its Chinese written as the app writes it,
    for name in ("Content-Type", "X-Content-Type-Options", "X-Frame-Options",
                 "Content-Security-Policy"):  # the security headers
        assert r.headers[name] == other.headers[name], name
    assert len(r.headers["X-Request-Id"]) == len(other.headers["X-Request-Id"])  # an id
    assert b"credit_" not in r.get_data()
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.post("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404
    scrape(client, headers={"Authorization": "Bearer " + "t" * 20 + "0123456789abcdef"})
    scrape(client, environ_base={"REMOTE_ADDR": "10.1.2.3"})


def _production(**extra: str) -> dict:
    strong = "Zx9" + "".join(chr(65 + i) for i in range(26)) + "qwertyuiop"
    return {"APP_ENV": "production", "SECRET_KEY": strong, "DATA_KEY": strong[::-1],
            "DATABASE_URL": "postgresql://db/credit", "REDIS_URL": "redis://r:6379/0",
            "WECHAT_APPID": "wx1", "WECHAT_SECRET": "s", **extra}


def test_production_defaults_let_no_one_scrape(monkeypatch):
    for name in ("METRICS_ALLOWED_NETWORKS", "METRICS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(_production())
    assert config["METRICS_ALLOWED_NETWORKS"] == [] and config["METRICS_TOKEN"] is None
    config = load_config(_production(METRICS_ALLOWED_NETWORKS="10.0.0.0/8, 192.168.1.7"))
    assert [str(n) for n in config["METRICS_ALLOWED_NETWORKS"]] == ["10.0.0.0/8",
                                                                    "192.168.1.7/32"]
    with pytest.raises(SystemExit, match="METRICS_ALLOWED_NETWORKS"):
        load_config(_production(METRICS_ALLOWED_NETWORKS="10.0.0.0/33"))
    with pytest.raises(SystemExit, match="METRICS_TOKEN"):
        load_config(_production(METRICS_TOKEN="secret"))
    assert load_config({"APP_ENV": "testing"})["METRICS_ALLOWED_NETWORKS"]  # open outside


def test_live_and_ready(app, client, monkeypatch):
    assert client.get("/v1/health/live").json == {"status": "ok"}
    assert client.get("/v1/health/ready").json == {"status": "ok", "database": "ok",
                                                   "redis": "ok"}

    def redis_down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(app.state.redis, "ping", redis_down)
    r = client.get("/v1/health/ready")
    assert r.status_code == 503 and r.json["redis"] == "unavailable"
    monkeypatch.undo()

    def database_down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(Session, "execute", database_down)
    r = client.get("/v1/health/ready")
    assert r.status_code == 503 and r.json == {"status": "unavailable",
                                               "database": "unavailable", "redis": "ok"}
    assert client.get("/v1/health/live").status_code == 200  # alive, though not ready


WORKER = textwrap.dedent("""
    import sys
    from api import create_app
    from api.metrics import Metrics
    app = create_app({"TESTING": True})
    client = app.test_client()
    assert client.get("/v1/health/live").status_code == 200
    if sys.argv[1] == "scrape":
        sys.stdout.write(client.get("/metrics").get_data(as_text=True))
""")


def test_multiprocess_mode_adds_up_the_workers(tmp_path):
    """Two processes (gunicorn's workers) write to PROMETHEUS_MULTIPROC_DIR; a scrape
    of either counts both."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
           "APP_ENV": "testing", "REDIS_URL": "memory://", "INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path}/m.db", "SECRET_KEY": "x" * 40,
           "DATA_KEY": "y" * 40}
    (tmp_path / "prom").mkdir()
    for mode in ("count", "scrape"):
        done = subprocess.run([sys.executable, "-c", WORKER, mode], env=env, text=True,
                              capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    samples = {}
    for family in text_string_to_metric_families(done.stdout):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert samples[("credit_http_request_duration_seconds_count",
                    (("method", "GET"), ("route", "/v1/health/live"), ("status", "200")))] == 2
    assert len(list((tmp_path / "prom").glob("histogram_*.db"))) == 2
