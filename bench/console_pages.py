"""Console page benchmark: server time of each console page with 100,000 records and
10,000 cases (repair applications and objections) in PostgreSQL, measured in-process
(the request through Flask, the database and the template; no network, no browser).

    BENCH_DATABASE_URL=postgresql://…/some_db .venv/bin/python -m bench.console_pages \
        [--records 100000] [--cases 10000] [--runs 7]

The database named by BENCH_DATABASE_URL is dropped and filled anew."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import time

from bench.common import BENCH_DB, BENCH_ENV, fresh_database, median, psycopg_url

PASSWORD = "bench-console-pass-2026"
OFFICE_PAGES = ["/console/office/", "/console/office/departments",
                "/console/office/departments/market/users", "/console/office/merchants?status=",
                "/console/office/rule-sets", "/console/office/calendar",
                "/console/office/quality", "/console/office/audit",
                "/console/office/audit?action=repair."]
CLERK_PAGES = ["/console/dept/", "/console/dept/repairs", "/console/dept/repairs?status=&page=20",
               "/console/dept/repairs?overdue=1", "/console/dept/objections",
               "/console/dept/records?source_ref=bench-5001", "/console/dept/credit-checks",
               "/console/dept/quality-issues?status=", "/console/dept/uploads",
               "/console/dept/repairs/{repair}", "/console/dept/objections/{objection}"]


def fill(records: int, cases: int) -> dict:
    """Departments, subjects, records, scores, cases, checks and audit rows, by COPY-like
    bulk inserts (the ingestion's own speed is bench/ingest.py's subject)."""
    from argon2 import PasswordHasher
    from sqlalchemy import create_engine, insert, select

    from points.infra.crypto import DataCipher
    from points.infra.db import utcnow
    from points.models import AdminAccount, AuditEntry, CreditRecord, Department, Score, Subject
    from points.models.console import DepartmentUser
    from points.models.workers import CreditCheck
    from points.models.workflows import Objection, RepairApplication

    engine = create_engine(psycopg_url(BENCH_DB))
    cipher = DataCipher([BENCH_ENV["DATA_KEY"]], None)
    now, today = utcnow(), dt.date.today()
    rng = random.Random(7)
    people = records // 5
    with engine.begin() as conn:
        ids = {}
        for code, name in (("market", "雨花区市场监督管理局"), ("civil", "雨花区民政局")):
            ids[code] = conn.execute(insert(Department).values(
                code=code, name=name, record_types=["admin.penalty.general"],
                api_key_hash=f"bench-{code}", key_rotated_at=now, enabled=True, created_at=now)
                .returning(Department.id)).scalar_one()
        hashed = PasswordHasher().hash(PASSWORD)
        conn.execute(insert(AdminAccount).values(username="bench-office", password_hash=hashed,
                                                 active=True, created_at=now))
        conn.execute(insert(DepartmentUser).values(
            department_id=ids["market"], username="bench-clerk", display_name="压测经办人",
            password_hash=hashed, must_change_password=False, active=True, created_at=now))
        enc = cipher.encrypt("430104199001011237")
        conn.execute(insert(Subject), [{"id_hash": f"h{i:040d}", "id_number_enc": enc,
                                        "name_enc": enc, "created_at": now}
                                       for i in range(people)])
        subject_ids = list(conn.execute(select(Subject.id).order_by(Subject.id)).scalars())
        conn.execute(insert(Score), [{"subject_id": s, "points": 1000 - rng.randrange(0, 300),
                                      "level": rng.choice(["AAA", "AA", "A", "B", "C", "D"]),
                                      "restricted": False, "rule_set": "changsha-2020",
                                      "as_of": today, "version": 1, "computed_at": now}
                                     for s in subject_ids])
        for start in range(0, records, 10_000):
            conn.execute(insert(CreditRecord), [{
                "subject_id": subject_ids[i % people],
                "department_id": ids["market"] if i % 4 else ids["civil"],
                "source_ref": f"bench-{i}", "type": "admin.penalty.general",
                "decided_on": today - dt.timedelta(days=30 + i % 300), "status": "active",
                "disputed": False, "details": {}, "content_hash": f"{i:064d}", "version": 1,
                "late": False, "received_at": now - dt.timedelta(days=i % 180),
                "updated_at": now} for i in range(start, min(records, start + 10_000))])
        rows = list(conn.execute(select(CreditRecord.id, CreditRecord.subject_id,
                                        CreditRecord.department_id)
                                 .order_by(CreditRecord.id).limit(cases)))
        half = cases // 2
        conn.execute(insert(RepairApplication), [{
            "record_id": r.id, "subject_id": r.subject_id, "department_id": r.department_id,
            "statement": "罚款已缴清，已整改到位", "evidence": [], "status": "submitted",
            "submitted_on": today - dt.timedelta(days=i % 20),
            "decision_due_on": today + dt.timedelta(days=7 - i % 20), "created_at": now}
            for i, r in enumerate(rows[:half])])
        conn.execute(insert(Objection), [{
            "record_id": r.id, "subject_id": r.subject_id, "department_id": r.department_id,
            "reason": "处罚对象有误", "status": "pending",
            "submitted_on": today - dt.timedelta(days=i % 20),
            "decision_due_on": today + dt.timedelta(days=10 - i % 20), "created_at": now}
            for i, r in enumerate(rows[half:])])
        conn.execute(insert(CreditCheck), [{
            "department_id": ids["market"], "subject_id": subject_ids[i % people],
            "id_number_masked": "4301**********1237", "name_masked": "张*",
            "purpose": "administrative_license", "matter_ref": f"XK-{i}", "points": 1000,
            "level": "A", "restricted": False, "rule_set": "changsha-2020",
            "negative_records": [], "checked_at": now, "checked_on": today} for i in range(5000)])
        conn.execute(insert(AuditEntry), [{
            "actor": "department:market", "action": "repair.approved" if i % 2 else "record.ended",
            "target_type": "repair_application", "target_id": str(i), "before": None,
            "after": {"status": "approved"}, "note": None, "at": now} for i in range(50_000)])
        repair = conn.execute(select(RepairApplication.id).where(
            RepairApplication.department_id == ids["market"]).limit(1)).scalar_one()
        objection = conn.execute(select(Objection.id).where(
            Objection.department_id == ids["market"]).limit(1)).scalar_one()
    engine.dispose()
    return {"repair": repair, "objection": objection}


def signed_in(app, username: str):
    import re

    client = app.test_client()
    page = client.get("/console/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/console/sign-in", data={"username": username, "password": PASSWORD,
                                              "csrf_token": token})
    assert r.status_code == 302, r.status_code
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    fresh_database()
    started = time.perf_counter()
    ids = fill(args.records, args.cases)
    print(f"filled {args.records} records and {args.cases} cases in "
          f"{time.perf_counter() - started:.1f} s")
    os.environ.update(BENCH_ENV)
    from api import create_app

    app = create_app({"RATELIMIT_ENABLED": False})
    results = []
    for username, pages in (("bench-office", OFFICE_PAGES), ("bench-clerk", CLERK_PAGES)):
        client = signed_in(app, username)
        for path in pages:
            path = path.format_map(ids)
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                r = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code)
            results.append((path, median(times), max(times)))
    print(f"{'page':58} {'median ms':>10} {'max ms':>8}")
    for path, med, worst in results:
        flag = "" if med < 300 else "  over 300 ms"
        print(f"{path:58} {med:10.1f} {worst:8.1f}{flag}")


if __name__ == "__main__":
    main()
