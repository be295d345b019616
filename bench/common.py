"""Shared set-up for the benchmarks: a database of their own, a server, figures."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/credit_bench")
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
BENCH_ENV = {
    "APP_ENV": "development",
    "DATABASE_URL": BENCH_DB,
    "REDIS_URL": BENCH_REDIS,
    "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "DATA_KEY": "bench-data-key",
    "RATELIMIT_ENABLED": "false",
}


# The web tier as docs/operations.md deploys it, which every bench serves with:
# gunicorn gthread, about 1.5 workers per core (3 on 2 cores), 2 threads each. On two
# cores this served both the cached read and the merchant counter faster than 2
# workers x 4 threads (fewer threads handing one GIL around; README, performance).
WORKERS = max(2, (os.cpu_count() or 1) * 3 // 2)
THREADS = 2


def env() -> dict[str, str]:
    return {**os.environ, **BENCH_ENV, "PYTHONPATH": str(ROOT)}


def psycopg_url(url: str = BENCH_DB) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://")


def fresh_database() -> None:
    """Drop and recreate the bench database, then migrate it."""
    from sqlalchemy import create_engine, text

    name = BENCH_DB.rsplit("/", 1)[1]
    admin = create_engine(psycopg_url(BENCH_DB.rsplit("/", 1)[0] + "/postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    subprocess.run([PYTHON, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env=env(), check=True, capture_output=True)
    import redis

    redis.Redis.from_url(BENCH_REDIS).flushdb()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_connections(clients: int, workers: int, spare: int = 0) -> list[str]:
    """gunicorn arguments giving each worker its share of `clients` keep-alive
    connections (plus `spare`). A gthread worker accepts every connection it can, so
    connections opened at once can land unevenly (seen: all on one worker, the other
    idle, the rate halved). A worker holding worker_connections - threads idle
    connections closes the next one it answers, and the client opens another: spare
    connections (the worker's threads) make that rarer, an exact share keeps the
    workers evenest (the counter's bench measured the exact share faster)."""
    return ["--worker-connections", str(-(-clients // workers) + spare)]


class Server:
    """gunicorn with gthread workers on a loopback port."""

    def __init__(self, app: str = "wsgi:app", workers: int = WORKERS, threads: int = THREADS,
                 extra_env: dict | None = None, clients: int | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        limit = [] if clients is None else worker_connections(clients, workers, threads)
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "--worker-class", "gthread", "--workers", str(workers),
             "--threads", str(threads), *limit, "--bind", f"127.0.0.1:{self.port}",
             "--log-level", "warning", app],
            cwd=ROOT, env={**env(), **(extra_env or {})})
        self._wait()

    def _wait(self) -> None:
        import requests

        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(self.url + "/v1/health", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def report(title: str, figures: dict[str, object]) -> None:
    print(f"\n== {title} (cores: {os.cpu_count()})")
    for key, value in figures.items():
        print(f"  {key}: {value}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the processes a benchmark loads (Linux /proc):
    gunicorn (master and workers), PostgreSQL (every backend and background process)
    and Redis; the benchmark's own process is `time.process_time()`. Differences over a
    run, divided by the work done, say where the machine's CPU went."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {"gunicorn": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        kind = ("gunicorn" if "gunicorn" in command else
                "postgres" if command.startswith("postgres") else
                "redis" if "redis-server" in command else None)
        if kind:
            used[kind] += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return used
