"""What an operator watches: `/metrics` in Prometheus's text format (prometheus-client).

- `credit_http_request_duration_seconds{route,method,status}`: every request, the
  plain routes' runs (api/pipeline.py) included; `route` is the
  URL rule (`/v1/merchant/redemptions/<int:redemption_id>`), never the raw path, so
  the number of series stays bounded (an unknown path is `unmatched`).
- `credit_score_cache_reads_total{result}`: the points read answered from the
  score cache (`hit`) or rebuilt from records (`miss`).
- `credit_db_pool_connections_in_use{engine}` and `credit_db_pool_size{engine}`:
  each worker's SQLAlchemy pool, summed over the live workers.
- Read when scraped, from Redis and the database: RQ queue depths, failed jobs and
  workers per queue; the notification outbox's backlog (pending, of which retrying,
  the oldest's age) and its failed deliveries.

Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` (set before the app is imported, emptied
at each start; deploy/gunicorn.conf.py) makes every worker write its figures there,
and a scrape of any worker adds them up (prometheus-client's multiprocess mode).

The endpoint is answered here, before Flask: it is for the
operator's scraper, not part of the API's contract. Outside production it is open;
in production it answers only a caller in `METRICS_ALLOWED_NETWORKS` or one sending
`Authorization: Bearer <METRICS_TOKEN>`, and anyone else gets 404.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from api.errors import refuse
from api.security import bearer_token
from points.i18n import gettext

log = logging.getLogger(__name__)

PATH = "/metrics"
ROUTE_KEY = "credit.route"  # the environ key a request's URL rule is written to
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "credit_http_request_duration_seconds", "Time to answer a request, by route and status",
    ["route", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
SCORE_CACHE_READS = Counter(
    "credit_score_cache_reads", "Points reads answered from the score cache (hit) or rebuilt "
    "from records (miss)", ["result"])
POOL_IN_USE = Gauge("credit_db_pool_connections_in_use", "Database connections lent out",
                    ["engine"], multiprocess_mode="livesum")
POOL_SIZE = Gauge("credit_db_pool_size", "Database connections a pool keeps (without overflow)",
                  ["engine"], multiprocess_mode="livesum")
_HIT, _MISS = SCORE_CACHE_READS.labels("hit"), SCORE_CACHE_READS.labels("miss")


def score_cache_read(hit: bool) -> None:
    (_HIT if hit else _MISS).inc()


def watch_pool(engine: Engine, name: str) -> None:
    """Keep `credit_db_pool_connections_in_use{engine=name}` current: set (not counted
    up and down) from the pool's own figure at each checkout and checkin, so a
    connection invalidated on the way never leaves it off by one for good."""
    pool = engine.pool
    checked_out = getattr(pool, "checkedout", None)
    if checked_out is None:  # SQLite's StaticPool / NullPool
        return
    in_use = POOL_IN_USE.labels(name)
    size = getattr(pool, "size", None)
    POOL_SIZE.labels(name).set(size() if callable(size) else 0)

    @event.listens_for(engine, "checkout")
    def _out(*_: Any) -> None:
        in_use.set(checked_out())

    @event.listens_for(engine, "checkin")
    def _in(*_: Any) -> None:
        in_use.set(max(0, checked_out() - 1))  # still counted while being checked in


class StateCollector:
    """Figures read from Redis and the database when scraped (the same from any node)."""

    def __init__(self, app) -> None:
        self.app = app

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield from self._queues()
        yield from self._outbox()

    def _queues(self) -> Iterable[GaugeMetricFamily]:
        import rq
        from redis.exceptions import RedisError

        from api.tasks import QUEUES

        redis = self.app.state.redis
        jobs = GaugeMetricFamily("credit_rq_queue_jobs", "Jobs waiting in an RQ queue",
                                 labels=["queue"])
        failed = GaugeMetricFamily("credit_rq_failed_jobs", "Jobs in an RQ queue's failed "
                                   "registry", labels=["queue"])
        workers = GaugeMetricFamily("credit_rq_workers", "RQ workers listening on a queue",
                                    labels=["queue"])
        up = GaugeMetricFamily("credit_redis_up", "Whether Redis answered this scrape")
        try:
            for name in QUEUES:
                queue = rq.Queue(name, connection=redis)
                jobs.add_metric([name], queue.count)
                failed.add_metric([name], queue.failed_job_registry.count)
                workers.add_metric([name], rq.Worker.count(queue=queue))
        except RedisError as error:
            log.warning("metrics: redis unavailable: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (jobs, failed, workers, up)

    def _outbox(self) -> Iterable[GaugeMetricFamily]:
        from sqlalchemy.exc import SQLAlchemyError

        from points.infra.db import utcnow
        from points.models.workflows import OutboxMessage

        engine = self.app.state.db.engine
        messages = GaugeMetricFamily(
            "credit_outbox_messages", "Notification outbox messages not yet sent, by status "
            "(pending: the backlog; failed: given up after every attempt)", labels=["status"])
        retrying = GaugeMetricFamily("credit_outbox_retrying", "Pending messages whose "
                                     "delivery failed at least once")
        oldest = GaugeMetricFamily("credit_outbox_oldest_pending_seconds",
                                   "Age of the oldest pending message")
        up = GaugeMetricFamily("credit_database_up", "Whether the database answered this scrape")
        status = OutboxMessage.status
        try:
            with engine.connect() as connection:
                counts = dict(connection.execute(
                    select(status, func.count()).where(status.in_(("pending", "failed")))
                    .group_by(status)).all())
                again = connection.execute(select(func.count()).where(
                    status == "pending", OutboxMessage.attempts > 0)).scalar_one()
                first = connection.execute(select(func.min(OutboxMessage.created_at)).where(
                    status == "pending")).scalar_one()
        except SQLAlchemyError as error:
            log.warning("metrics: database unavailable: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        for name in ("pending", "failed"):
            messages.add_metric([name], counts.get(name, 0))
        retrying.add_metric([], again)
        if first is not None and first.tzinfo is None:
            from datetime import UTC

            first = first.replace(tzinfo=UTC)
        oldest.add_metric([], 0 if first is None else (utcnow() - first).total_seconds())
        up.add_metric([], 1)
        yield from (messages, retrying, oldest, up)


def allowed_networks(value: str) -> list:
    """`METRICS_ALLOWED_NETWORKS`: addresses or networks, comma-separated."""
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in value.split(",") if part.strip()]


class Metrics:
    """WSGI middleware, outermost: times every request and answers `/metrics`."""

    def __init__(self, app, wsgi_app: Callable,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.headers = list(headers)  # on its own 404, as the app's answers have them
        self.children: dict[tuple[str, str, str], Any] = {}
        self.state = StateCollector(app)

        @app.url_value_preprocessor
        def _route(endpoint, values) -> None:
            # Runs before every before_request hook, so a request refused by one (401)
            # is still counted under its route.
            from flask import request

            rule = request.url_rule
            request.environ[ROUTE_KEY] = rule.rule if rule is not None else None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH:
            return self.scrape(environ, start_response)
        started = time.perf_counter()
        status = "500"

        def capture(line: str, headers, exc_info=None):
            nonlocal status
            status = line[:3]
            return start_response(line, headers, exc_info)

        try:
            return self.wsgi_app(environ, capture)
        finally:
            method = environ.get("REQUEST_METHOD", "")
            key = (environ.get(ROUTE_KEY) or "unmatched",
                   method if method in METHODS else "other", status)
            child = self.children.get(key)
            if child is None:
                child = self.children[key] = REQUEST_SECONDS.labels(*key)
            child.observe(time.perf_counter() - started)

    def allowed(self, environ: dict) -> bool:
        config = self.app.config
        token = config["METRICS_TOKEN"]
        if token:
            given = bearer_token(environ.get("HTTP_AUTHORIZATION"))
            if given is not None and hmac.compare_digest(given.encode(), token.encode()):
                return True
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        networks = config["METRICS_ALLOWED_NETWORKS"]
        if isinstance(networks, str):  # given as an override
            networks = allowed_networks(networks)
        return any(address in network for network in networks)

    def scrape(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in {"GET", "HEAD"} or not self.allowed(environ):
            return refuse(start_response, 404, "NOT_FOUND", gettext("not found"),
                          self.headers)
        body = render(self.state)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST),
                                  ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [body] if environ["REQUEST_METHOD"] == "GET" else []


def render(state: StateCollector) -> bytes:
    """This process's figures (or, in multiprocess mode, every worker's) and the state's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        processes = generate_latest(registry)
    else:
        processes = generate_latest(REGISTRY)
    own = CollectorRegistry()
    own.register(state)
    return processes + generate_latest(own)
