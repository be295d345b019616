"""Ingestion benchmark: N records through POST /v1/dept/records in batches of 1000
(quality checks, encryption and point recomputation included) on PostgreSQL + Redis,
served by gunicorn; beside it, a plain COPY of the same rows into the same table.

    .venv/bin/python -m bench.ingest [--records 100000] [--runs 3] [--clients 2] [--workers N]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import io
import time

import requests

from bench.common import (
    BENCH_DB,
    WORKERS,
    Server,
    fresh_database,
    median,
    psycopg_url,
    report,
)

TYPES = [("admin.penalty.general", "decided_on"), ("volunteer.service", "occurred_on"),
         ("donation.blood", "occurred_on"), ("charity.donation", "occurred_on"),
         ("admin.penalty.minor", "decided_on")]


def id_number(i: int) -> str:
    from stdnum.cn import ric

    body = f"430104{1960 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def make_records(n: int, run: int) -> list[dict]:
    people = max(1, n // 10)
    numbers = [id_number(i) for i in range(people)]
    out = []
    for i in range(n):
        type_, date_field = TYPES[i % len(TYPES)]
        rec = {"source_ref": f"run{run}-{i}", "subject": {"id_number": numbers[i % people],
                                                           "name": "张三"},
               "type": type_, date_field: f"2026-{1 + i % 10:02d}-{1 + i % 27:02d}"}
        if type_ == "volunteer.service":
            rec["details"] = {"hours": 10 + i % 30}
        out.append(rec)
    return out


def department_key() -> str:
    import subprocess

    from bench.common import PYTHON, ROOT, env

    code = ("from api import create_app\nfrom points.office import departments\nfrom points.rules import rule_store\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            "    s = app.state.db.new_session()\n"
            "    with s.begin():\n"
            "        types = set(rule_store.active(s).resolved_types)\n"
            "        _, key = departments.create_department(s, 'bench', 'bench', types, types)\n"
            "    print(key)\n")
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env(), check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def push_all(url: str, key: str, records: list[dict], clients: int) -> float:
    batches = [records[i:i + 1000] for i in range(0, len(records), 1000)]
    session = requests.Session()

    def send(batch):
        # A connection per batch, as a department's periodic push (or a proxy without
        # upstream keep-alive) makes: a gthread worker accepts every connection it
        # can, so two long-lived connections often both land on one worker and its
        # batches then share one GIL while the other worker idles.
        r = session.post(url + "/v1/dept/records", json={"records": batch},
                         headers={"X-API-Key": key, "Connection": "close"}, timeout=120)
        r.raise_for_status()
        body = r.json()
        assert not body["rejected"], body["rejected"][:2]
        return len(body["accepted"])

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(send, batches))
    elapsed = time.perf_counter() - start
    assert done == len(records)
    return elapsed


def copy_rate(records: list[dict]) -> float:
    """COPY the same rows (already prepared: no checks, no encryption) into credit_records."""
    import json

    import psycopg

    conn = psycopg.connect(BENCH_DB)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM subjects ORDER BY id LIMIT 1")
        subject = cur.fetchone()[0]
        cur.execute("SELECT id FROM departments LIMIT 1")
        dept = cur.fetchone()[0]
        buf = io.StringIO()
        for i, r in enumerate(records):
            date = r.get("decided_on") or r.get("occurred_on")
            buf.write("\t".join([str(subject), str(dept), f"copy-{i}", r["type"], date,
                                 json.dumps(r.get("details", {})), "x" * 64, "active", "f", "1",
                                 "f", "2026-11-30 00:00:00+00", "2026-11-30 00:00:00+00"]) + "\n")
        start = time.perf_counter()
        with cur.copy("COPY credit_records (subject_id, department_id, source_ref, type, "
                      "occurred_on, details, content_hash, status, disputed, version, late, "
                      "received_at, updated_at) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        elapsed = time.perf_counter() - start
        conn.rollback()
    return len(records) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args()
    rates, copies = [], []
    for run in range(args.runs):
        fresh_database()
        key = department_key()
        records = make_records(args.records, run)
        with Server(workers=args.workers) as server:
            elapsed = push_all(server.url, key, records, args.clients)
        rates.append(args.records / elapsed)
        copies.append(copy_rate(records))
        print(f"  run {run + 1}: {rates[-1]:.0f} records/s through the API, "
              f"{copies[-1]:.0f} rows/s by COPY")
    report("ingestion", {
        "records per run": args.records,
        "API records/s (median)": f"{median(rates):.0f}",
        "COPY rows/s (median)": f"{median(copies):.0f}",
        "API / COPY": f"{median(rates) / median(copies):.1%}",
        "database": psycopg_url().split("@")[-1],
    })


if __name__ == "__main__":
    main()
