"""Faults under load, through the cluster's proxy (deploy/cluster).

    deploy/cluster start
    .venv/bin/python -m bench.cluster_faults [--faults app,redis,pgbouncer,worker,replica,lag]
                                             [--fault-seconds 20] [--threads 8]

Mixed traffic (points reads, verification codes, scans and grants with an
Idempotency-Key, record batches, repair applications, the public commitments list
read on the replica) runs from `--threads` clients through HAProxy while, one at a
time, each fault is injected and then repaired:

    app        kill -9 one app node (master and workers), start it again
    redis      kill -9 the Redis primary; Sentinel promotes the replica; the old
               primary comes back as a replica
    pgbouncer  restart PgBouncer (SIGTERM, start)
    worker     kill -9 the recompute worker in the middle of a recompute part, start
               it again; the part is found abandoned and run again
    replica    stop the PostgreSQL replica (reads move to the primary), start it again
    lag        pause the replica's WAL replay (it lags), resume it

For each fault: the share of requests that failed (connection errors and 5xx) from
the injection until the traffic was clean again, the time to recover (the last failed
request after the injection), and the requests made. Clients retry a failed grant or
batch with the same Idempotency-Key / source_refs, as the mini-program and the
departments do. At the end it checks that nothing was lost or doubled: every grant a
client saw is stored once and every stored grant was seen, no perk over its quota,
every record a department saw accepted is stored once, repairs at most one per record,
the interrupted recompute finished, and `points verify` is clean. Exit 1 if a check
fails. `--smoke` runs the app-node fault alone, under light load (.ci/cluster-smoke).
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import requests
from stdnum.cn import ric

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "deploy" / "cluster"
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR", "/tmp/credit-cluster"))
BASE = int(os.environ.get("CLUSTER_BASE_PORT", "16000"))
PROXY = f"http://127.0.0.1:{BASE}"
PRIMARY_DSN = f"host=127.0.0.1 port={BASE + 10} user=postgres dbname=credit"
REPLICA_DSN = f"host=127.0.0.1 port={BASE + 11} user=postgres dbname=credit"
REDIS_PORTS = {BASE + 30: ("primary", "primary"), BASE + 31: ("replica", "replica")}
SENTINEL = BASE + 40
TIMEOUT = 5
_ids = itertools.count(1)


def cluster_env() -> dict[str, str]:
    env = dict(os.environ)
    for line in (CLUSTER_DIR / "credit.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def flask(*args: str, primary: bool = True, check: bool = True) -> subprocess.CompletedProcess:
    env = cluster_env()
    if primary:  # administrative commands go to the primary itself, not through PgBouncer
        env.update(DATABASE_URL=env["DATABASE_PRIMARY_URL"], DATABASE_PGBOUNCER="false")
    return subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", *args],
                          cwd=ROOT, env=env, text=True, capture_output=True, check=check)


def id_number(seq: int) -> str:
    """A valid ID number per `seq` (a birth date per thousand, a sequence within it)."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=seq // 1000 % 20000)
    body = f"430104{born:%Y%m%d}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


# -- the log of every request ---------------------------------------------------------

class Log:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[float, str, bool]] = []  # (time, kind, failed)

    def add(self, kind: str, failed: bool) -> None:
        with self.lock:
            self.rows.append((time.monotonic(), kind, failed))

    def window(self, start: float, end: float) -> list[tuple[float, str, bool]]:
        with self.lock:
            return [r for r in self.rows if start <= r[0] < end]


def call(http: requests.Session, log: Log, kind: str, method: str, path: str, **kwargs):
    """One request; None if it failed (connection error, timeout or 5xx)."""
    try:
        r = http.request(method, PROXY + path, timeout=TIMEOUT, **kwargs)
    except requests.RequestException:
        log.add(kind, True)
        return None
    failed = r.status_code >= 500
    log.add(kind, failed)
    return None if failed else r


def until_answered(http, log, kind, method, path, deadline=90.0, **kwargs):
    """Retried (same body, same Idempotency-Key) until a non-5xx answer."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        r = call(http, log, kind, method, path, **kwargs)
        if r is not None:
            return r
        time.sleep(0.3)
    return None


# -- set-up ---------------------------------------------------------------------------

def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def setup(residents: int, bulk_subjects: int) -> dict:
    http = requests.Session()
    run = uuid.uuid4().hex[:6]
    password = uuid.uuid4().hex
    flask("create-admin", f"bench-{run}", "--password", password)
    r = http.post(PROXY + "/v1/auth/admin/login",
                  json={"username": f"bench-{run}", "password": password})
    r.raise_for_status()
    admin = bearer(r.json()["access_token"])
    r = http.post(PROXY + "/v1/admin/departments", headers=admin, json={
        "code": f"bench{run}", "name": "压测局",
        "record_types": ["donation.blood", "volunteer.service", "admin.penalty.minor"]})
    if r.status_code != 201:
        raise SystemExit(f"department: {r.status_code} {r.text}")
    dept = {"X-API-Key": r.json()["api_key"]}
    owner = bearer(http.post(PROXY + "/v1/auth/dev/login",
                             json={"openid": f"owner-{run}"}).json()["access_token"])
    from stdnum.cn import uscc

    body = f"91430104MA4L{random.randrange(10**5):05d}"
    r = http.post(PROXY + "/v1/merchants", headers=owner,
                  json={"name": f"压测景区{run}", "uscc": body + uscc.calc_check_digit(body),
                        "sector": "tourism"})
    r.raise_for_status()
    merchant_id = r.json()["id"]
    http.post(PROXY + f"/v1/admin/merchants/{merchant_id}/approve", headers=admin).raise_for_status()
    perks = []
    for quota in (40, 100000, 100000):  # one perk runs out during the run
        r = http.post(PROXY + "/v1/merchant/perks", headers=owner, json={
            "title": "门票八折", "description": "凭码购票八折", "min_level": "A",
            "benefit": {"kind": "discount", "value": "8折"}, "total_quota": quota,
            "per_resident_limit": 1000, "valid_from": "2020-01-01",
            "valid_until": "2099-12-31"})
        if r.status_code != 201:
            raise SystemExit(f"perk: {r.status_code} {r.text}")
        perks.append(r.json()["id"])
    people = []
    seq0 = random.randrange(10**4) * 1000
    for i in range(residents):
        number = id_number(seq0 + i)
        token = http.post(PROXY + "/v1/auth/dev/login",
                          json={"openid": f"res-{run}-{i}"}).json()["access_token"]
        headers = bearer(token)
        v = http.post(PROXY + "/v1/me/identity/verifications", headers=headers,
                      json={"name": "李四", "id_number": number})
        v.raise_for_status()
        http.put(PROXY + "/v1/me/identity", headers=headers,
                 json={"verify_id": v.json()["verify_id"]}).raise_for_status()
        for scope in ("credit_points", "merchant_share"):
            http.put(PROXY + f"/v1/me/consents/{scope}", headers=headers,
                     json={"granted": True, "policy_version": "2026-01"}).raise_for_status()
        people.append({"headers": headers, "id_number": number})
    # one repairable penalty each (a minor one counts for 3 months and may be repaired at once)
    decided = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    r = http.post(PROXY + "/v1/dept/records", headers=dept, json={"records": [
        {"source_ref": f"pen-{run}-{i}", "type": "admin.penalty.minor",
         "subject": {"id_number": p["id_number"], "name": "李四"}, "decided_on": decided}
        for i, p in enumerate(people)]})
    r.raise_for_status()
    penalties = {a["source_ref"]: a["record_id"] for a in r.json()["accepted"]}
    for i, p in enumerate(people):
        p["penalty"] = penalties[f"pen-{run}-{i}"]
        http.get(PROXY + "/v1/me/points", headers=p["headers"])  # cached, as after a sweep
    # subjects for the recompute the worker fault interrupts
    for start in range(0, bulk_subjects, 1000):
        r = http.post(PROXY + "/v1/dept/records", headers=dept, json={"records": [
            {"source_ref": f"bulk-{run}-{n}", "type": "donation.blood",
             "subject": {"id_number": id_number(seq0 + residents + n), "name": "王五"},
             "occurred_on": "2026-05-01"}
            for n in range(start, min(start + 1000, bulk_subjects))]}, timeout=120)
        r.raise_for_status()
    return {"run": run, "admin": admin, "dept": dept, "owner": owner, "perks": perks,
            "people": people, "merchant": merchant_id}


# -- traffic --------------------------------------------------------------------------

class Seen:
    """What clients saw succeed, to be found in the database afterwards."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.grants: set[int] = set()
        self.records: set[str] = set()
        self.repairs: set[int] = set()
        self.refused: collections.Counter = collections.Counter()  # expected 4xx answers

    def refusal(self, kind: str, r) -> None:
        try:
            code = r.json().get("error_code")
        except ValueError:
            code = None
        with self.lock:
            self.refused[f"{kind} {r.status_code} {code}"] += 1


def client_loop(world: dict, log: Log, seen: Seen, stop: threading.Event, pace: float) -> None:
    http = requests.Session()
    rng = random.Random()
    while not stop.is_set():
        person = rng.choice(world["people"])
        roll = rng.random()
        if roll < 0.5:
            call(http, log, "points", "GET", "/v1/me/points", headers=person["headers"])
        elif roll < 0.75:
            grant(http, log, seen, world, person, rng)
        elif roll < 0.88:
            batch(http, log, seen, world, rng)
        elif roll < 0.93:
            repair(http, log, seen, person)
        else:
            call(http, log, "public-list", "GET", "/v1/commitments/public")
        if pace:
            time.sleep(pace)


def grant(http, log, seen, world, person, rng) -> None:
    r = call(http, log, "code", "POST", "/v1/me/verification-tokens", headers=person["headers"])
    if r is None or r.status_code != 201:
        return
    perk = rng.choice(world["perks"])
    r = call(http, log, "scan", "POST", "/v1/merchant/verifications", headers=world["owner"],
             json={"token": r.json()["token"], "perk_id": perk})
    if r is not None and r.status_code != 201:
        seen.refusal("scan", r)
    if r is None or r.status_code != 201 or not r.json()["eligible"]:
        return
    key = uuid.uuid4().hex
    r = until_answered(http, log, "grant", "POST", "/v1/merchant/redemptions",
                       headers={**world["owner"], "Idempotency-Key": key},
                       json={"verification_id": r.json()["id"]})
    if r is not None and r.status_code == 201:
        with seen.lock:
            seen.grants.add(r.json()["id"])
    elif r is not None:
        seen.refusal("grant", r)


def batch(http, log, seen, world, rng) -> None:
    refs = [f"rec-{world['run']}-{next(_ids)}" for _ in range(5)]
    records = [{"source_ref": ref, "type": "volunteer.service",
                "subject": {"id_number": rng.choice(world["people"])["id_number"],
                            "name": "李四"},
                "occurred_on": "2026-06-01", "details": {"hours": 2}} for ref in refs]
    r = until_answered(http, log, "batch", "POST", "/v1/dept/records", headers=world["dept"],
                       json={"records": records})
    if r is not None and r.status_code == 200:
        with seen.lock:
            seen.records.update(a["source_ref"] for a in r.json()["accepted"])


def repair(http, log, seen, person) -> None:
    r = until_answered(http, log, "repair", "POST", "/v1/me/repairs", headers={
        **person["headers"], "Idempotency-Key": f"repair-{person['penalty']}"}, json={
        "record_id": person["penalty"], "statement": "罚款已缴清，整改完毕",
        "commitment": "今后依法经营"})
    if r is not None and r.status_code == 201:
        with seen.lock:
            seen.repairs.add(r.json()["id"])
    elif r is not None:
        seen.refusal("repair", r)


# -- faults ---------------------------------------------------------------------------

def sh(*args: str) -> None:
    subprocess.run([str(CLUSTER), *args], check=True, capture_output=True, text=True)


def pid(name: str) -> int:
    return int((CLUSTER_DIR / "run" / f"{name}.pid").read_text())


def kill_tree(root: int) -> None:
    children = subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True,
                              check=False)
    for child in [int(p) for p in children.stdout.split()] + [root]:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def fault_app(seconds: float) -> str:
    kill_tree(pid("app1"))
    (CLUSTER_DIR / "run" / "app1.pid").unlink(missing_ok=True)
    time.sleep(seconds)
    sh("start-app", "1")
    return "app node 1 killed (-9), started again"


def redis_primary_port() -> int:
    out = subprocess.run(["redis-cli", "-p", str(SENTINEL), "sentinel",
                          "get-master-addr-by-name", "credit"], capture_output=True, text=True,
                         check=False)
    return int(out.stdout.split()[1])


def fault_redis(seconds: float) -> str:
    port = redis_primary_port()
    name, template = REDIS_PORTS[port]
    os.kill(pid(f"redis-{name}"), signal.SIGKILL)
    end = time.monotonic() + 60
    while time.monotonic() < end and redis_primary_port() == port:
        time.sleep(0.5)
    promoted = redis_primary_port()
    time.sleep(seconds)
    sh("start-redis", name, template, str(port))
    return f"Redis primary :{port} killed (-9); Sentinel promoted :{promoted}"


def fault_pgbouncer(seconds: float) -> str:
    os.kill(pid("pgbouncer"), signal.SIGTERM)
    time.sleep(1)
    sh("start-pgbouncer")
    return "PgBouncer stopped (SIGTERM) and started again"


def fault_worker(seconds: float) -> str:
    out = flask("points", "recompute", "--all", "--jobs", "1").stdout
    job_id = out.split()[1].rstrip(":")
    with psycopg.connect(PRIMARY_DSN, autocommit=True) as conn:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            status = conn.execute("SELECT status FROM jobs WHERE id = %s", (job_id,)).fetchone()[0]
            if status != "queued":
                break
            time.sleep(0.05)
    kill_tree(pid("worker-recompute"))
    WORKER_JOBS.append((job_id, time.monotonic()))
    (CLUSTER_DIR / "run" / "worker-recompute.pid").unlink(missing_ok=True)
    time.sleep(2)
    sh("start-worker", "recompute")
    return f"recompute worker killed (-9) with job {job_id[:8]} {status}; started again"


def fault_replica(seconds: float) -> str:
    pg_bin = max(Path("/usr/lib/postgresql").glob("*/bin"))
    subprocess.run(["runuser", "-u", "postgres", "--", str(pg_bin / "pg_ctl"), "-D",
                    str(CLUSTER_DIR / "pg" / "replica"), "-m", "fast", "-w", "stop"],
                   check=True, capture_output=True)
    time.sleep(seconds)
    sh("start-replica")
    return "PostgreSQL replica stopped, started again"


def fault_lag(seconds: float) -> str:
    with psycopg.connect(REPLICA_DSN, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        time.sleep(seconds)
        lag = conn.execute("SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
                           ).fetchone()[0]
        conn.execute("SELECT pg_wal_replay_resume()")
    return f"replica replay paused for {seconds:.0f} s (lag reached {float(lag or 0):.1f} s)"


FAULTS = {"app": fault_app, "redis": fault_redis, "pgbouncer": fault_pgbouncer,
          "worker": fault_worker, "replica": fault_replica, "lag": fault_lag}
WORKER_JOBS: list[tuple[str, float]] = []  # (job id, when its worker was killed)


def measure(log: Log, start: float, settle: float) -> dict:
    """From the injection until `settle` seconds after the repair."""
    rows = log.window(start, time.monotonic())
    failed = [r for r in rows if r[2]]
    kinds = collections.Counter(r[1] for r in failed)
    return {"requests": len(rows), "failed": len(failed),
            "share": len(failed) / len(rows) if rows else 0.0,
            "recovered_s": (max(r[0] for r in failed) - start) if failed else 0.0,
            "failed_by_kind": dict(kinds)}


# -- checks ---------------------------------------------------------------------------

def checks(world: dict, seen: Seen) -> list[tuple[str, bool, str]]:
    out = []
    with psycopg.connect(PRIMARY_DSN, autocommit=True) as conn:
        stored = {row[0] for row in conn.execute(
            "SELECT r.id FROM redemptions r JOIN perks p ON p.id = r.perk_id "
            "WHERE p.merchant_id = %s", (world["merchant"],))}
        out.append(("every grant a client saw is stored", seen.grants <= stored,
                    f"{len(seen.grants)} seen, {len(seen.grants - stored)} missing"))
        out.append(("no grant stored that no client saw (none doubled)", stored <= seen.grants,
                    f"{len(stored)} stored, {len(stored - seen.grants)} unseen"))
        doubled = conn.execute("SELECT count(*) FROM (SELECT verification_id FROM redemptions "
                               "GROUP BY verification_id HAVING count(*) > 1) d").fetchone()[0]
        out.append(("one grant per verification", doubled == 0, f"{doubled} doubled"))
        over = conn.execute(
            "SELECT count(*) FROM perks p WHERE p.merchant_id = %s AND (p.used > p.total_quota "
            "OR p.used <> (SELECT count(*) FROM redemptions r WHERE r.perk_id = p.id "
            "AND r.reversed_at IS NULL))", (world["merchant"],)).fetchone()[0]
        quota = conn.execute("SELECT used, total_quota FROM perks WHERE id = %s",
                             (world["perks"][0],)).fetchone()
        out.append(("no perk over its quota; used = grants", over == 0,
                    f"the small perk: {quota[0]} of {quota[1]}"))
        refs = list(seen.records)
        found = conn.execute("SELECT count(*) FROM credit_records WHERE source_ref = ANY(%s)",
                             (refs,)).fetchone()[0]
        out.append(("every record seen accepted is stored once", found == len(refs),
                    f"{len(refs)} accepted, {found} stored"))
        repairs = conn.execute("SELECT count(*), count(DISTINCT record_id) FROM "
                               "repair_applications WHERE record_id = ANY(%s)",
                               ([p["penalty"] for p in world["people"]],)).fetchone()
        out.append(("repairs: one per record, every one seen stored",
                    repairs[0] == repairs[1] and repairs[0] >= len(seen.repairs),
                    f"{repairs[0]} stored, {len(seen.repairs)} seen"))
        for job_id, killed in WORKER_JOBS:
            # RQ finds the part abandoned when its heartbeat lapses (a SimpleWorker's:
            # the job's timeout, 180 s, + 60 s) at the next maintenance (30 s).
            end = killed + 420
            while time.monotonic() < end:
                status, done, total = conn.execute(
                    "SELECT status, done, total FROM jobs WHERE id = %s", (job_id,)).fetchone()
                if status == "done":
                    break
                time.sleep(2)
            out.append(("the interrupted recompute finished", status == "done",
                        (f"job {job_id[:8]}: {status}, {done} of {total} subjects, "
                         f"{time.monotonic() - killed:.0f} s after its worker was killed")))
    verify = flask("points", "verify", check=False)
    out.append(("points verify is clean", verify.returncode == 0,
                (verify.stdout.strip().splitlines() or ["-"])[-1][:100]))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faults", default="app,redis,pgbouncer,worker,replica,lag")
    parser.add_argument("--fault-seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds of traffic measured after each repair")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pace", type=float, default=0.0, help="pause between a client's calls")
    parser.add_argument("--residents", type=int, default=40)
    parser.add_argument("--bulk-subjects", type=int, default=30000)
    parser.add_argument("--smoke", action="store_true",
                        help="the app-node fault under light load (.ci/cluster-smoke)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.faults, args.threads, args.pace = "app", 3, 0.05
        args.residents, args.bulk_subjects, args.fault_seconds, args.settle = 10, 0, 8, 8
    started = dt.datetime.now(dt.UTC)
    print(f"cluster fault bench {started:%Y-%m-%d %H:%M} UTC: setting up", flush=True)
    world = setup(args.residents, args.bulk_subjects)
    log, seen, stop = Log(), Seen(), threading.Event()
    clients = [threading.Thread(target=client_loop, args=(world, log, seen, stop, args.pace),
                                daemon=True) for _ in range(args.threads)]
    for t in clients:
        t.start()
    time.sleep(args.settle)
    base = measure(log, time.monotonic() - args.settle, 0)
    print(f"{'baseline (no fault)':<12} {base['requests']:>6} requests "
          f"{base['share']:7.2%} failed", flush=True)
    results = []
    for name in args.faults.split(","):
        start = time.monotonic()
        what = FAULTS[name](args.fault_seconds)
        time.sleep(args.settle)
        result = measure(log, start, args.settle)
        results.append((name, what, result))
        print(f"{name:<12} {result['requests']:>6} requests {result['share']:7.2%} failed, "
              f"recovered after {result['recovered_s']:5.1f} s  ({what}) "
              f"{json.dumps(result['failed_by_kind'], ensure_ascii=False)}", flush=True)
    stop.set()
    for t in clients:
        t.join(timeout=120)
    total = log.window(0, time.monotonic())
    print(f"traffic: {len(total)} requests, {len(seen.grants)} grants, "
          f"{len(seen.records)} records, {len(seen.repairs)} repairs seen by clients; "
          f"answered 4xx (the rules, not faults): {dict(seen.refused)}")
    ok = True
    for label, passed, detail in checks(world, seen):
        ok &= passed
        print(f"  {'ok  ' if passed else 'FAIL'} {label}: {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
