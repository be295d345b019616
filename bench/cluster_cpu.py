"""CPU per request of each kind, through the cluster (deploy/cluster), per part.

    deploy/cluster start
    .venv/bin/python -m bench.cluster_cpu [--requests 2000] [--threads 6]

For each kind of request it sends `--requests` of them through HAProxy and reads,
before and after, the CPU time (user + system, /proc/<pid>/stat) of every process of
each part: the two app nodes (gunicorn masters and workers), the PostgreSQL primary
and the replica (postmaster and backends), PgBouncer, Redis (primary and replica) and
HAProxy. CPU per request = the part's CPU / requests. The load generator's own CPU is
not counted. The public commitments list runs on the replica: its CPU on the primary
next to the replica's is what moving that list off the primary saved.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import threading
import time
import uuid
from pathlib import Path

import requests

from bench.cluster_faults import BASE, CLUSTER_DIR, PROXY, setup

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _tree(root: int, table: dict[int, tuple[int, float]]) -> float:
    """CPU seconds of `root` and all its descendants."""
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            total += table[pid][1]
        stack.extend(child for child, (parent, _) in table.items() if parent == pid)
    return total


def _pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def parts() -> dict[str, int | None]:
    run = CLUSTER_DIR / "run"
    return {
        "app nodes": None,  # both, summed below
        "postgresql primary": _pidfile(CLUSTER_DIR / "pg" / "primary" / "postmaster.pid"),
        "postgresql replica": _pidfile(CLUSTER_DIR / "pg" / "replica" / "postmaster.pid"),
        "pgbouncer": _pidfile(run / "pgbouncer.pid"),
        "redis": None,
        "haproxy": _pidfile(run / "haproxy.pid"),
    }


def cpu() -> dict[str, float]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                table[int(entry)] = stat
    run = CLUSTER_DIR / "run"
    out = {}
    for name, root in parts().items():
        if name == "app nodes":
            out[name] = sum(_tree(p, table) for p in (_pidfile(run / "app1.pid"),
                                                      _pidfile(run / "app2.pid")) if p)
        elif name == "redis":
            out[name] = sum(_tree(p, table) for p in (_pidfile(run / "redis-primary.pid"),
                                                      _pidfile(run / "redis-replica.pid")) if p)
        else:
            out[name] = _tree(root, table) if root else 0.0
    return out


def run_kind(count: int, threads: int, make) -> tuple[float, dict[str, float], int]:
    """Send `count` requests made by `make(http)` (returns how many HTTP requests it
    sent and whether they succeeded) from `threads` threads."""
    left = [count]
    lock = threading.Lock()
    failures = [0]

    def loop():
        http = requests.Session()
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            if not make(http):
                with lock:
                    failures[0] += 1

    before, started = cpu(), time.perf_counter()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    after = cpu()
    return elapsed, {k: after[k] - before[k] for k in after}, failures[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=6)
    args = parser.parse_args(argv)
    print(f"cluster CPU bench {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} "
          f"cores, {args.requests} of each kind from {args.threads} threads", flush=True)
    world = setup(40, 0)
    people, owner, dept = world["people"], world["owner"], world["dept"]
    counter = iter(range(10**9))

    def person():
        return people[next(counter) % len(people)]

    def points(http):
        return http.get(PROXY + "/v1/me/points", headers=person()["headers"]).ok

    def code(http):
        return http.post(PROXY + "/v1/me/verification-tokens", headers=person()["headers"]).ok

    def scan_and_grant(http):
        r = http.post(PROXY + "/v1/me/verification-tokens", headers=person()["headers"])
        token = r.json()["token"]
        r = http.post(PROXY + "/v1/merchant/verifications", headers=owner,
                      json={"token": token, "perk_id": world["perks"][1]})
        if r.status_code != 201:
            return False
        r = http.post(PROXY + "/v1/merchant/redemptions", json={"verification_id": r.json()["id"]},
                      headers={**owner, "Idempotency-Key": uuid.uuid4().hex})
        return r.status_code == 201

    def batch(http):
        records = [{"source_ref": f"cpu-{uuid.uuid4().hex}", "type": "volunteer.service",
                    "subject": {"id_number": person()["id_number"], "name": "李四"},
                    "occurred_on": "2026-06-01", "details": {"hours": 2}} for _ in range(100)]
        return http.post(PROXY + "/v1/dept/records", headers=dept,
                         json={"records": records}).status_code == 200

    def public_list(http):
        return http.get(PROXY + "/v1/commitments/public").ok

    for p in people[:20]:  # something in the public list
        requests.post(PROXY + "/v1/me/commitments", headers=p["headers"],
                      json={"kind": "voluntary", "content": "诚信经营，按时履约", "public": True})
    kinds = [
        ("cached points read", args.requests, 1, points, "GET /v1/me/points"),
        ("verification code", args.requests, 1, code, "POST /v1/me/verification-tokens"),
        ("code + scan + grant", args.requests // 2, 1, scan_and_grant, "3 requests"),
        ("record (batches of 100)", max(1, args.requests // 100), 100, batch,
         "POST /v1/dept/records"),
        ("public commitments list", args.requests, 1, public_list, "on the replica"),
    ]
    names = list(cpu())
    print(f"{'kind':<26}{'req/s':>8}" + "".join(f"{n:>20}" for n in names) + "   (ms CPU each)")
    for label, count, per, make, _ in kinds:
        run_kind(max(1, count // 20), args.threads, make)  # warm the caches and pools
        elapsed, used, failed = run_kind(count, args.threads, make)
        units = count * per
        print(f"{label:<26}{units / elapsed:>8.0f}" + "".join(
            f"{used[n] * 1000 / units:>20.3f}" for n in names)
            + (f"   {failed} failed" if failed else ""), flush=True)
    print(f"(proxy :{BASE}; per record for batches, per set of three for code + scan + grant)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
