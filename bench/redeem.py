"""Benchmark: verify + redeem pairs per second with 32 concurrent clients.

    .venv/bin/python bench/redeem.py

By default it prepares its own PostgreSQL database (`h5_bench`, recreated on every
run) and uses Redis db 12, seeds one approved merchant with one perk and a few
hundred residents (their scores computed and cached, as the nightly recompute leaves
them), writes the merchant's history (20,000 past pairs: spent codes, verifications,
access-log rows, grants, Idempotency-Keys) and ANALYZEs, so the run starts on a
database in use with the statistics autovacuum keeps (on a new one the planner takes
every table for empty: the grant's locked read then walked the merchant's whole
verifications index, ≈ 1,000 entries a grant), inserts ready one-time codes, starts
gunicorn on 127.0.0.1 and
has 32 clients (keep-alive connections of a lean asyncio client) scan a code
(POST /v1/merchant/verifications) and redeem it (POST /v1/merchant/redemptions
with an Idempotency-Key) as fast as they can. It prints pairs per second and the
p50/p99 latency of one pair. Every grant hits the same perk row (the quota is
one counter), so this is the worst case for the quota's row lock (BENCH_PERKS spreads
the codes over several perks).

Environment (all optional):
  BENCH_DATABASE_URL  default postgresql://postgres@127.0.0.1:5432/h5_bench
  BENCH_REDIS_URL     default redis://127.0.0.1:6379/12
  BENCH_CLIENTS       default 32        BENCH_SECONDS  default 15
  BENCH_WORKERS       gunicorn workers (default as deployed: bench.common.WORKERS, 3 on
                      2 cores)
  BENCH_THREADS       threads per worker (default as deployed: 2)
  BENCH_RATELIMIT     1: the per-staff limit of scans on (as in production), too high
                      to refuse; default off
  BENCH_PERKS         perks the codes are spread over (default 1: every grant takes the
                      same quota row, the worst case)
  BENCH_HISTORY       past verify + redeem pairs of the merchant written before the run
                      (default 20000), then ANALYZE: a database in use, with its
                      statistics, not a new one whose planner believes the tables empty
  BENCH_URL           use this running server instead of starting gunicorn; it must
                      use the same database, Redis, SECRET_KEY and DATA_KEY as set
                      here (the database is then migrated but not recreated)
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import common  # the repository is on the path now (this runs as a file too)

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/h5_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(common.WORKERS)))
THREADS = int(os.environ.get("BENCH_THREADS", str(common.THREADS)))
EXTERNAL = os.environ.get("BENCH_URL")
PERKS = int(os.environ.get("BENCH_PERKS", "1"))
RESIDENTS = 256
HISTORY = int(os.environ.get("BENCH_HISTORY", "20000"))
TOKENS = 30000  # more than a run can spend; each lives 120 s

SERVER_ENV = {
    "APP_ENV": "development",
    "DATABASE_URL": DB_URL,
    "REDIS_URL": REDIS_URL,
    "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"),
    "DATA_KEY": os.environ.get("DATA_KEY", "bench-data-key"),
    # Off by default: measure the work, not the limiter. BENCH_RATELIMIT=1 measures the
    # production set-up, the per-staff limit of scans counted (set too high to refuse).
    **({"RATELIMIT_ENABLED": "1", "RATELIMIT_VERIFY": "100000000/minute"}
       if os.environ.get("BENCH_RATELIMIT") == "1" else {"RATELIMIT_ENABLED": "0"}),
}


def valid_id(seq: int) -> str:
    from stdnum.cn import ric

    body = f"430104{19850101}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def prepare_database() -> None:
    from sqlalchemy import create_engine, text

    from api.cli import upgrade_database

    parts = urlsplit(DB_URL)
    name = parts.path.lstrip("/")
    driver = "postgresql+psycopg://"
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")).replace(
        "postgresql://", driver), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname=:n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    if not EXTERNAL:
        engine = create_engine(DB_URL.replace("postgresql://", driver))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    upgrade_database(DB_URL)


def seed() -> tuple[str, list[str]]:
    """The merchant owner's access token and a pile of unspent codes."""
    from api import create_app
    from incentives.models import Merchant, MerchantStaff, Perk, VerificationToken
    from points.infra.crypto import hash_token
    from points.infra.db import today, utcnow
    from points.people import accounts, face

    app = create_app()
    state = app.state
    if not EXTERNAL:
        state.redis.flushdb()
    with app.app_context():
        session = state.db.new_session()
        owner, _ = accounts.user_for_openid(session, "bench-owner")
        now = utcnow()
        merchant = Merchant(name="压测景区", uscc="91430104MA4L0YL7XL", sector="tourism",
                            status="approved", applicant_user_id=owner.id, created_at=now,
                            decided_at=now)
        session.add(merchant)
        session.flush()
        session.add(MerchantStaff(merchant_id=merchant.id, user_id=owner.id, role="owner"))
        perks = [Perk(merchant_id=merchant.id, title=f"门票八折 {n}", description="",
                      min_level="A", benefit={"kind": "discount", "value": "8折"},
                      total_quota=10**9, used=0, per_resident_limit=10**6,
                      valid_from=today() - dt.timedelta(days=1),
                      valid_until=today() + dt.timedelta(days=30), active=True, version=1)
                 for n in range(PERKS)]
        session.add_all(perks)
        holders = []
        for i in range(RESIDENTS):
            user, _ = accounts.user_for_openid(session, f"bench-{i}")
            face.bind_in_development(session, state.cipher, state.face, user, "张三",
                                   valid_id(i), None, today())
            accounts.set_consent(session, user, "merchant_share", True, "2026-01")
            holders.append((user.id, user.subject_id))
        session.flush()
        perk_ids = [perk.id for perk in perks]
        tokens = []
        rows = []
        expires = utcnow() + dt.timedelta(seconds=120)
        for i in range(TOKENS):
            token = secrets.token_urlsafe(24)
            user_id, subject_id = holders[i % RESIDENTS]
            tokens.append(token)
            rows.append({"token_hash": hash_token(token), "user_id": user_id,
                         "subject_id": subject_id, "created_at": now, "expires_at": expires})
        session.execute(VerificationToken.__table__.insert(), rows)
        access = state.tokens.issue_pair(session, f"user:{owner.id}", "resident")
        session.commit()
        session.close()
        # The residents' scores computed and cached beforehand, as the nightly recompute
        # leaves them: the run measures the counter, not first-time computations.
        from points.scores import jobs

        jobs.recompute_all(state.db.new_session, state.redis, today(),
                           subject_ids=[subject_id for _, subject_id in holders])
        write_history(state.db.engine, merchant.id, owner.id, perk_ids)
    state.db.engine.dispose()
    return access.access_token, [f"{perk_ids[n % PERKS]}|{t}" for n, t in enumerate(tokens)]


def write_history(engine, merchant_id: int, staff_user_id: int, perk_ids: list[int]) -> None:
    """HISTORY past pairs of the merchant over the last 30 days (spent codes, their
    verifications, access-log rows, grants with their Idempotency-Keys; the perks'
    counters moved to match), then ANALYZE: the run starts on a database in use, as a
    scenic area's is, with the statistics autovacuum keeps. On a new database the
    planner takes every table for empty, and plans made then measure nothing real."""
    from sqlalchemy import text

    history = {"n": HISTORY, "merchant": merchant_id, "staff": staff_user_id,
               "perks": perk_ids, "scope": f"user:{staff_user_id}:merchant.redeem"}
    with engine.begin() as connection:
        connection.execute(text("""
            CREATE TEMP TABLE history ON COMMIT DROP AS
            SELECT g, u.id AS user_id, u.subject_id,
                   (:perks)[1 + g % cardinality(CAST(:perks AS bigint[]))] AS perk_id,
                   now() - make_interval(secs => 30 * 86400.0 * g / :n) AS at
            FROM generate_series(1, :n) AS g
            JOIN (SELECT id, subject_id, row_number() OVER (ORDER BY id) - 1 AS k
                  FROM users WHERE subject_id IS NOT NULL) AS u
              ON u.k = g % (SELECT count(*) FROM users WHERE subject_id IS NOT NULL)"""),
            history)
        connection.execute(text("""
            INSERT INTO verification_tokens (token_hash, user_id, subject_id, created_at,
                                             expires_at, used_at, used_by_merchant_id)
            SELECT 'history-' || g, user_id, subject_id, at, at + interval '2 minutes', at,
                   :merchant FROM history"""), history)
        connection.execute(text("""
            INSERT INTO verifications (token_id, merchant_id, perk_id, perk_version,
                staff_user_id, user_id, subject_id, eligible, level, restricted,
                display_name, reasons, created_at)
            SELECT t.id, :merchant, h.perk_id, 1, :staff, h.user_id, h.subject_id, true,
                   'A', false, '张*', '[]', h.at
            FROM history AS h JOIN verification_tokens AS t ON t.token_hash = 'history-' || h.g"""),
            history)
        connection.execute(text("""
            INSERT INTO access_log (subject_id, actor_kind, actor_id, organisation, purpose,
                                    reference, at)
            SELECT subject_id, 'merchant', 'user:' || :staff, '压测景区', 'perk_verification',
                   'verification:' || id || ' perk:' || perk_id, created_at
            FROM verifications WHERE merchant_id = :merchant"""), history)
        connection.execute(text("""
            INSERT INTO redemptions (verification_id, perk_id, merchant_id, user_id,
                subject_id, staff_user_id, status, terms, display_name, redeemed_at)
            SELECT id, perk_id, merchant_id, user_id, subject_id, staff_user_id, 'granted',
                   '{}', display_name, created_at
            FROM verifications WHERE merchant_id = :merchant"""), history)
        connection.execute(text("""
            INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response,
                                          created_at)
            SELECT :scope, 'history-' || id, md5(id::text), 201, '{}', redeemed_at
            FROM redemptions WHERE merchant_id = :merchant"""), history)
        connection.execute(text("""
            UPDATE perks SET used = used + counted.n
            FROM (SELECT perk_id, count(*) AS n FROM redemptions GROUP BY perk_id) AS counted
            WHERE perks.id = counted.perk_id"""))
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    from bench.common import worker_connections

    # Each worker takes its exact share of the clients' keep-alive connections.
    command = [str(ROOT / ".venv/bin/gunicorn"), "-w", str(WORKERS), "-k", "gthread",
               "--threads", str(THREADS), *worker_connections(CLIENTS, WORKERS),
               "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **SERVER_ENV})
    return server, f"http://127.0.0.1:{port}"


def wait_healthy(base: str, server: subprocess.Popen | None) -> None:
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            if requests.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server at {base} did not become healthy")


class Connection:
    """One keep-alive HTTP/1.1 connection: a lean client (asyncio streams, no
    per-request objects) so the load generator's own CPU, on the same two cores,
    takes little from the server it measures (`requests` took about 4 ms a pair)."""

    def __init__(self, host: str, port: int, access_token: str) -> None:
        self.host, self.port = host, port
        self.head = (f"Host: {host}:{port}\r\nAuthorization: Bearer {access_token}\r\n"
                     "Content-Type: application/json\r\n")
        self.reader = self.writer = None

    async def open(self) -> None:
        import asyncio

        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: dict, extra: str = "") -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.head}{extra}Content-Length: "
                          f"{len(data)}\r\n\r\n".encode() + data)
        status_line = await self.reader.readline()
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if not status_line:
            raise ConnectionError("the server closed the connection without answering")
        answer = int(status_line.split()[1]), await self.reader.readexactly(length)
        if close:  # the server will not keep this connection: open another
            self.writer.close()
            await self.open()
        return answer


async def _load(host: str, port: int, access_token: str, codes: list[str],
                latencies: list[float], outcomes: Counter) -> float:
    import asyncio

    pool = iter(codes)
    connections = [Connection(host, port, access_token) for _ in range(CLIENTS)]
    await asyncio.gather(*(c.open() for c in connections))
    began = time.monotonic()
    stop_at = began + SECONDS

    async def client(http: Connection) -> None:
        while time.monotonic() < stop_at:
            item = next(pool, None)
            if item is None:
                return
            perk_id, token = item.split("|", 1)
            started = time.perf_counter()
            status, body = await http.post("/v1/merchant/verifications",
                                           {"token": token, "perk_id": int(perk_id)})
            answer = json.loads(body) if status == 201 else {}
            if not answer.get("eligible"):
                outcomes[f"verify {status} {body[:80]!r}"] += 1
                continue
            status, body = await http.post(
                "/v1/merchant/redemptions", {"verification_id": answer["id"]},
                f"Idempotency-Key: {secrets.token_hex(8)}\r\n")
            took = time.perf_counter() - started
            if status == 201:
                latencies.append(took)
                outcomes["pair ok"] += 1
            else:
                outcomes[f"redeem {status} {body[:80]!r}"] += 1

    await asyncio.gather(*(client(c) for c in connections))
    elapsed = time.monotonic() - began
    for c in connections:
        c.writer.close()
    return elapsed


def run(base: str, access_token: str, codes: list[str]) -> None:
    import asyncio

    from bench.common import cpu_seconds

    parts = urlsplit(base)
    latencies: list[float] = []
    outcomes: Counter = Counter()
    cpu_before, own_before = cpu_seconds(), time.process_time()
    elapsed = asyncio.run(_load(parts.hostname, parts.port, access_token, codes, latencies,
                                outcomes))
    cpu_after, own_after = cpu_seconds(), time.process_time()
    if not latencies:
        raise SystemExit(f"no pair succeeded: {dict(outcomes)}")
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"clients={CLIENTS} workers={WORKERS}x{THREADS} threads cores={os.cpu_count()} "
          f"seconds={elapsed:.1f}")
    print(f"pairs={len(latencies)} pairs/s={len(latencies) / elapsed:.1f} "
          f"p50={statistics.median(ordered) * 1000:.1f}ms p99={p99 * 1000:.1f}ms")
    pairs = max(1, len(latencies))
    used = {kind: (cpu_after[kind] - cpu_before[kind]) * 1000 / pairs for kind in cpu_after}
    used["client"] = (own_after - own_before) * 1000 / pairs
    print("CPU per pair: " + ", ".join(f"{kind} {ms:.2f} ms" for kind, ms in used.items())
          + f" (all: {sum(used.values()):.2f} ms; {os.cpu_count()} cores give "
          f"{os.cpu_count() * 1000 / sum(used.values()):.0f} pairs/s at that cost)")
    failures = {k: v for k, v in outcomes.items() if k != "pair ok"}
    if failures:
        print(f"failures: {failures}")
    check_grants(len(latencies))


def check_grants(answered: int) -> None:
    """Grants in the database against the perk's counter and quota: none over quota,
    none lost, one per verification."""
    import psycopg

    with psycopg.connect(DB_URL) as conn:
        used, over, granted, verifications = conn.execute(
            "SELECT sum(used), sum(greatest(granted - total_quota, 0)), sum(granted), "
            "sum(verifications) FROM (SELECT p.used, p.total_quota, count(r.id) AS granted, "
            "count(DISTINCT r.verification_id) AS verifications FROM perks p LEFT JOIN "
            "redemptions r ON r.perk_id = p.id AND r.status = 'granted' GROUP BY p.id) AS per_perk"
        ).fetchone()
    print(f"grants in the database={granted} ({HISTORY} written before the run; answered 201: "
          f"{answered}), perk counter={used}, over quota={over}, twice on one verification="
          f"{granted - verifications}")
    if over or used != granted or granted != verifications or granted - HISTORY < answered:
        raise SystemExit("the grants do not add up")


def main() -> None:
    os.environ.update(SERVER_ENV)
    prepare_database()
    access_token, codes = seed()
    server = None
    base = EXTERNAL.rstrip("/") if EXTERNAL else None
    if base is None:
        server, base = start_server()
    try:
        wait_healthy(base, server)
        run(base, access_token, codes)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
