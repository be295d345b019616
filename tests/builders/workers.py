"""Housekeeping workers: the records a platform pushes, the worker profile, report
shares, the worker's access log, and the report page's visible text. The worker
tests' day is TODAY (`with at():`)."""
from __future__ import annotations

import re

import time_machine

from tests.builders.clock import frozen_at
from tests.builders.departments import department, push
from tests.builders.residents import auth, bind, dev_login, valid_id

TODAY = "2026-06-15"
NAME = "王小花"
WORKER_TYPES = ["worker.identity_verified", "worker.background_check",
                "worker.health_certificate", "worker.insurance", "worker.training",
                "worker.skill_certificate", "housekeeping.verified_complaint"]
LONG_COURSE = ("母婴护理与新生儿照护综合实操培训（含沐浴、抚触、脐部护理、辅食制作、"
               "早期发展指导、产妇营养膳食、居家安全与急救常识）")


def at(day: str = TODAY, hour: int = 10, minute: int = 0) -> time_machine.travel:
    """The clock stopped at that moment of a Shanghai day (the workers' day by default):
    `with at(): ...`."""
    return frozen_at(day, hour, minute)


def sign_in(client, openid: str) -> dict:
    """Bearer headers for this openid (the same openid is always the same account)."""
    return auth(dev_login(client, openid)["access_token"])


def worker_records(number: str, *, identity: bool = True, background: str | None = "clear",
                   health: str | None = "2026-12-31", insurance: str | None = "2026-12-31"):
    """The records a platform pushes for a worker (each certificate can be left out)."""
    recs = []
    if identity:
        recs.append({"type": "worker.identity_verified", "occurred_on": "2026-01-05"})
    if background:
        recs.append({"type": "worker.background_check", "occurred_on": "2026-01-06",
                     "details": {"result": background}})
    if health:
        recs.append({"type": "worker.health_certificate", "occurred_on": "2026-01-07",
                     "details": {"valid_until": health}})
    if insurance:
        recs.append({"type": "worker.insurance", "occurred_on": "2026-01-08",
                     "details": {"valid_until": insurance}})
    return [{**r, "id_number": number, "name": NAME} for r in recs]


def make_worker(app, client, number: str, **certificates) -> dict:
    """A housekeeping worker with the records a platform pushed; returns the
    worker's headers, openid (to sign in again later) and the department's key."""
    dept = department(app, client, "commerce", WORKER_TYPES)
    records = worker_records(number, **certificates)
    if records:
        push(client, dept, *records)
    openid = f"worker-{number}"
    headers = sign_in(client, openid)
    bind(client, headers, NAME, number)
    r = client.put("/v1/me/worker-profile", headers=headers, json={"occupation": "housekeeping"})
    assert r.status_code == 200, r.json
    return {"headers": headers, "openid": openid, "dept": dept, "number": number}


def report_worker(app, client, seq: int) -> dict:
    """A yellow-coded worker (insurance ended the day before) with training, a skill
    certificate and a counting negative record."""
    worker = make_worker(app, client, valid_id(seq=seq), insurance="2026-06-14")
    person = {"id_number": worker["number"], "name": NAME}
    push(client, worker["dept"],
         {**person, "type": "worker.training", "occurred_on": "2026-02-01",
          "details": {"course": LONG_COURSE, "hours": 40}},
         {**person, "type": "worker.skill_certificate", "occurred_on": "2026-03-01",
          "details": {"name": "家政服务员", "grade": "四级"}},
         {**person, "type": "housekeeping.verified_complaint", "decided_on": "2026-06-10",
          "details": {"complainant": "李大妈", "summary": "打碎花瓶"}})
    return worker


def share(client, worker: dict, ttl: int = 60) -> dict:
    """A report share of the worker's (its token and QR codes)."""
    r = client.post("/v1/me/report-shares", headers=worker["headers"], json={"ttl_minutes": ttl})
    assert r.status_code == 201, r.json
    return r.json


def access_log(client, headers) -> list[dict]:
    """The caller's own access log (GET /v1/me/access-log)."""
    r = client.get("/v1/me/access-log", headers=headers)
    assert r.status_code == 200, r.json
    return r.json


def page_text(html: str) -> str:
    """The page's visible text, tags removed and entities kept as written."""
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", html))
