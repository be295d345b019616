"""Full recompute benchmark: N subjects with about 10 records each (loaded by COPY),
then `flask points recompute --all` timed, with its peak memory, and beside it the
time of a pure-SQL aggregate over the same records (the floor for any approach that
reads every record once).

    .venv/bin/python bench/recompute.py [--subjects 100000 [--subjects 10000 …]] [--runs 3]
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import time

import psycopg

from bench.common import BENCH_DB, PYTHON, ROOT, env, fresh_database, median, report

TYPES = [("admin.penalty.general", "decided_on", None), ("volunteer.service", "occurred_on",
                                                         {"hours": 25}),
         ("donation.blood", "occurred_on", None), ("charity.donation", "occurred_on", None),
         ("admin.penalty.minor", "decided_on", None), ("honour.city", "occurred_on", None),
         ("commitment.fulfilled", "occurred_on", None), ("worker.training", "occurred_on",
                                                         {"course": "家政", "hours": 8}),
         ("court.defaulter", "decided_on", None), ("donation.blood", "occurred_on", None)]


def load(subjects: int) -> int:
    """Subjects, a department, a rule set and ~10 records per subject, by COPY."""
    subprocess.run([PYTHON, "-c", (
        "from api import create_app\nfrom points import departments, rule_store\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    s = app.extensions['credit'].db.new_session()\n"
        "    with s.begin():\n"
        "        types = set(rule_store.active(s).resolved_types)\n"
        "        departments.create_department(s, 'bench', 'bench', types, types)\n")],
        cwd=ROOT, env=env(), check=True, capture_output=True)
    records = 0
    with psycopg.connect(BENCH_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM departments WHERE code = 'bench'")
        dept = cur.fetchone()[0]
        with cur.copy("COPY subjects (id, id_hash, id_number_enc, created_at) FROM STDIN") as cp:
            for i in range(1, subjects + 1):
                cp.write_row((i, f"{i:064x}", "enc", "2026-11-30 00:00:00+00"))
        cur.execute("SELECT setval('subjects_id_seq', %s)", (subjects,))
        buf = io.StringIO()
        for i in range(1, subjects + 1):
            for j in range(8 + i % 5):  # 8 to 12 records, about 10
                type_, field, details = TYPES[(i + j) % len(TYPES)]
                date = f"20{24 + j % 3}-{1 + (i + j) % 12:02d}-{1 + (i * j) % 27:02d}"
                occurred, decided = (date, r"\N") if field == "occurred_on" else (r"\N", date)
                buf.write(f"{i}\t{dept}\tr{i}-{j}\t{type_}\t{occurred}\t{decided}\t"
                          f"{json.dumps(details or {}, ensure_ascii=False)}\t{'x' * 64}\tactive\t"
                          "f\t1\tf\t2026-11-30 00:00:00+00\t2026-11-30 00:00:00+00\n")
                records += 1
        with cur.copy("COPY credit_records (subject_id, department_id, source_ref, type, "
                      "occurred_on, decided_on, details, content_hash, status, disputed, "
                      "version, late, received_at, updated_at) FROM STDIN") as cp:
            cp.write(buf.getvalue())
        cur.execute("ANALYZE")
    return records


def sql_floor() -> float:
    with psycopg.connect(BENCH_DB) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        cur.execute("SELECT subject_id, count(*), min(decided_on), max(occurred_on) "
                    "FROM credit_records GROUP BY subject_id")
        cur.fetchall()
        return time.perf_counter() - start


def recompute() -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run([PYTHON, "-m", "flask", "--app", "wsgi", "points", "recompute", "--all"],
                         cwd=ROOT, env=env(), check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024, out.stdout.strip().splitlines()[-1]


def split_recompute(workers: int, parts: int = 8) -> float:
    """Queue the recompute as `parts` subject-range jobs and time `workers` RQ workers
    (separate processes) draining the queue."""
    with psycopg.connect(BENCH_DB) as conn:
        conn.execute("TRUNCATE scores, score_history, jobs")
    subprocess.run([PYTHON, "-m", "flask", "--app", "wsgi", "points", "recompute", "--all",
                    "--jobs", str(parts)], cwd=ROOT, env=env(), check=True, capture_output=True)
    start = time.perf_counter()
    procs = [subprocess.Popen([PYTHON, "-m", "flask", "--app", "wsgi", "worker", "--burst",
                               "--queue", "recompute"], cwd=ROOT, env=env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]
    for proc in procs:
        proc.wait()
    elapsed = time.perf_counter() - start
    with psycopg.connect(BENCH_DB) as conn:
        status, done, total = conn.execute("SELECT status, done, total FROM jobs").fetchone()
    if status != "done" or done != total:
        raise RuntimeError(f"split recompute ended {status} with {done}/{total}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, action="append")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--split", action="store_true",
                        help="also time the recompute cut into RQ jobs with 1 and 2 workers")
    args = parser.parse_args()
    for subjects in args.subjects or [100_000]:
        times, floors, peaks = [], [], []
        for run in range(args.runs):
            fresh_database()
            records = load(subjects)
            elapsed, peak, line = recompute()
            times.append(elapsed)
            peaks.append(peak)
            floors.append(sql_floor())
            print(f"  run {run + 1}: {elapsed:.1f} s, peak {peak:.0f} MB ({line})")
        split = {}
        if args.split:
            one = median([split_recompute(1) for _ in range(args.runs)])
            two = median([split_recompute(2) for _ in range(args.runs)])
            split = {"split into 8 RQ jobs, 1 worker": f"{one:.1f} s",
                     "split into 8 RQ jobs, 2 workers": f"{two:.1f} s",
                     "speed-up with 2 workers": f"{one / two:.2f}x"}
        report(f"full recompute of {subjects} subjects", {
            "records": records,
            "recompute time (median)": f"{median(times):.1f} s",
            "subjects/s": f"{subjects / median(times):.0f}",
            "peak memory of the recompute process (max)": f"{max(peaks):.0f} MB",
            "pure-SQL aggregate over the same records": f"{median(floors):.2f} s",
            **split,
        })


if __name__ == "__main__":
    main()
