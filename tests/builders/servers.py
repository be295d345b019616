"""What stands around the app in the tests: its database and Redis emptied between
tests, the background job worker, a spare redis-server on a free port, and the app as the
browser tests serve it."""
from __future__ import annotations

import socket
import subprocess
import time

from sqlalchemy import text

from points.models import Base


def clean(app) -> None:
    """Every table emptied and the app's Redis db flushed (what the `clean_app`
    fixture does before each test)."""
    state = app.state
    engine = state.db.engine
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                              + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
    state.redis.flushdb()
    from points.office import workdays

    workdays.invalidate()  # the office's arrangements went with the tables


def run_jobs(app, queue: str = "recompute") -> None:
    """Background jobs: with a real Redis they wait for a worker process (`flask
    worker`), played here by a burst worker until the queue is empty; the in-process
    stand-in ran them when they were queued."""
    if app.config["REDIS_URL"].startswith("memory://"):
        return
    import rq

    state = app.state
    with app.app_context():
        rq.SimpleWorker([rq.Queue(queue, connection=state.redis)],
                        connection=state.redis).work(burst=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of its own on a free port, started and stopped by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def whole_answers(app):
    """The app with each answer read to its end, and closed, before the server writes it.

    When the browser resets a connection once an answer has started (a page left while
    its script still loads), Werkzeug's development server meets the reset while it
    reads the rest of the request, before it closes the answer, and so leaves a static
    file open; the collector then reports the open file in whichever test runs. An
    answer read whole here is closed every time (tests/browser/test_live_server.py)."""
    def serve(environ, start_response):
        answer = app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
    return serve
