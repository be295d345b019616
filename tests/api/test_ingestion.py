"""Departments pushing records: quality checks, idempotency, corrections, limits."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine

from tests.builders.departments import department
from tests.builders.residents import resident, valid_id

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NUMBER = valid_id(seq=11)


def rec(source_ref="r1", type_="admin.penalty.general", number=NUMBER, name="张三", **extra):
    body = {"source_ref": source_ref, "subject": {"id_number": number, "name": name},
            "type": type_}
    if type_.startswith("admin.") and "decided_on" not in extra:
        extra["decided_on"] = "2026-11-25"
    body.update(extra)
    return body


def push(client, dept, *records, **headers):
    r = client.post("/v1/dept/records", headers={**dept, **headers}, json={"records": list(records)})
    assert r.status_code == 200, r.json
    return r.json


def problems(result, index=0):
    return {(p["dimension"], p["field"]) for p in result["rejected"][index]["problems"]}


@pytest.fixture
def dept(app, client):
    return department(app, client, record_types=["admin.penalty.general", "volunteer.service",
                                                  "worker.health_certificate"])


def test_completeness(client, dept):
    result = push(client, dept,
                  {"subject": {"id_number": NUMBER}, "type": "admin.penalty.general"},
                  rec("v1", "volunteer.service", occurred_on="2026-06-01"),
                  rec("g1", decided_on=None))
    assert {("completeness", "source_ref"), ("completeness", "subject.name"),
            ("completeness", "decided_on")} <= problems(result, 0)
    assert ("completeness", "details.hours") in problems(result, 1)
    assert ("completeness", "decided_on") in problems(result, 2)
    assert result["accepted"] == []


def test_validity(client, dept):
    bad_check = NUMBER[:-1] + ("1" if NUMBER[-1] != "1" else "2")
    result = push(client, dept,
                  rec("a", number=bad_check),
                  rec("b", type_="no.such.type"),
                  rec("c", decided_on="2026-13-01"),
                  rec("d", "volunteer.service", occurred_on="2026-06-01",
                      details={"hours": "many"}),
                  rec("e", details=["not", "an", "object"]))
    assert ("validity", "subject.id_number") in problems(result, 0)
    assert ("validity", "type") in problems(result, 1)
    assert ("validity", "decided_on") in problems(result, 2)
    assert any(f.startswith("details") and d == "validity" for d, f in problems(result, 3))
    assert ("validity", "details") in problems(result, 4)


def test_details_that_no_database_could_store_are_refused(client, dept):
    # Python's JSON parser takes NaN, Infinity and integers of any size; PostgreSQL's
    # jsonb refuses the first two, and 64 bits is as far as JSON numbers go portably.
    body = ('{"records": ['
            + ", ".join(f'{{"source_ref": "{ref}", "subject": {{"id_number": "{NUMBER}", '
                        f'"name": "张三"}}, "type": "admin.penalty.general", '
                        f'"decided_on": "2026-11-25", "details": {{"note": {value}}}}}'
                        for ref, value in (("nan", "NaN"), ("inf", "[1, -Infinity]"),
                                           ("big", "123456789012345678901234567890"),
                                           ("ok", "9223372036854775807")))
            + "]}")
    r = client.post("/v1/dept/records", headers={**dept, "Content-Type": "application/json"},
                    data=body)

    assert r.status_code == 200, r.json
    assert [a["source_ref"] for a in r.json["accepted"]] == ["ok"]
    assert {x["source_ref"]: problems(r.json, i) for i, x in enumerate(r.json["rejected"])} == {
        ref: {("validity", "details")} for ref in ("nan", "inf", "big")}


def test_disallowed_type(client, dept):
    result = push(client, dept, rec("x", "donation.blood", occurred_on="2026-06-01"))
    assert ("validity", "type") in problems(result)
    assert "无权报送" in result["rejected"][0]["problems"][0]["message"]


def test_accuracy(client, dept):
    person = resident(client, id_number=NUMBER, name="张三")
    result = push(client, dept,
                  rec("f", decided_on="2099-01-01"),
                  rec("o", decided_on="2026-01-01", occurred_on="2026-02-01"),
                  rec("n", name="李四"))
    assert ("accuracy", "decided_on") in problems(result, 0)
    assert ("accuracy", "decided_on") in problems(result, 1)
    assert ("accuracy", "subject.name") in problems(result, 2)
    assert person


def test_timeliness_is_accepted_but_flagged_late(app, client, dept):
    with time_machine.travel(dt.datetime(2026, 11, 30, 10, tzinfo=SHANGHAI), tick=False):
        result = push(client, dept, rec("late", decided_on="2026-11-10"),
                      rec("fresh", decided_on="2026-11-25"))
    assert [a["late"] for a in result["accepted"]] == [True, False]
    assert result["rejected"] == []


def test_a_bad_record_never_blocks_the_good_ones(client, dept):
    result = push(client, dept, rec("ok1"), rec("bad", number="123"), rec("ok2", decided_on="2026-11-20"))
    assert [a["source_ref"] for a in result["accepted"]] == ["ok1", "ok2"]
    assert [r["source_ref"] for r in result["rejected"]] == ["bad"]
    issues = client.get("/v1/dept/quality-issues?status=open", headers=dept).json
    assert len(issues) == 1 and issues[0]["source_ref"] == "bad"
    r = client.post(f"/v1/dept/quality-issues/{issues[0]['id']}/resolve", headers=dept,
                    json={"note": "re-sent with the right number"})
    assert r.status_code == 200 and r.json["status"] == "resolved"
    assert client.get("/v1/dept/quality-issues?status=open", headers=dept).json == []
    assert client.post(f"/v1/dept/quality-issues/{issues[0]['id']}/resolve", headers=dept,
                       json={}).status_code == 409


def test_resend_is_unchanged_and_correction_keeps_history(app, client, dept, session):
    from points.models import CreditRecord, RecordVersion

    first = push(client, dept, rec("r1"))["accepted"][0]
    assert first["result"] == "created"
    again = push(client, dept, rec("r1"))["accepted"][0]
    assert again == {**first, "result": "unchanged"}
    corrected = push(client, dept, rec("r1", decided_on="2026-11-20"))["accepted"][0]
    assert corrected["result"] == "updated" and corrected["record_id"] == first["record_id"]
    record = session.get(CreditRecord, first["record_id"])
    assert record.decided_on == dt.date(2026, 11, 20) and record.version == 2
    history = session.query(RecordVersion).filter_by(record_id=record.id).all()
    assert [h.snapshot["decided_on"] for h in history] == ["2026-11-25"]
    assert session.query(CreditRecord).count() == 1


def test_duplicate_source_ref_in_one_batch(client, dept):
    result = push(client, dept, rec("dup"), rec("dup", decided_on="2026-11-20"))
    assert len(result["accepted"]) == 1
    assert ("validity", "source_ref") in problems(result)


def test_batch_limit(client, dept):
    records = [rec(f"r{i}") for i in range(1001)]
    r = client.post("/v1/dept/records", headers=dept, json={"records": records})
    assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"
    r = client.post("/v1/dept/records", headers=dept, json={"records": []})
    assert r.status_code == 422
    r = client.post("/v1/dept/records", headers=dept, json={"records": "nope"})
    assert r.status_code == 422


def test_idempotency_key_replays_and_refuses_another_body(client, dept):
    body = {"records": [rec("k1")]}
    headers = {**dept, "Idempotency-Key": "batch-0001"}
    first = client.post("/v1/dept/records", headers=headers, json=body)
    replay = client.post("/v1/dept/records", headers=headers, json=body)
    assert first.status_code == replay.status_code == 200
    assert replay.json == first.json and replay.headers["Idempotent-Replayed"] == "true"
    other = client.post("/v1/dept/records", headers=headers, json={"records": [rec("k2")]})
    assert other.status_code == 422 and other.json["error_code"] == "IDEMPOTENCY_KEY_REUSED"


def test_wrong_caller(client, dept):
    person = resident(client)
    assert client.post("/v1/dept/records", headers=person["headers"],
                       json={"records": [rec()]}).status_code == 401
    assert client.post("/v1/dept/records", headers={"X-API-Key": "dk_wrong"},
                       json={"records": [rec()]}).status_code == 401


def test_concurrent_identical_batches_create_each_record_once(app, dept, session):
    """A resend racing itself (the department's retry fired before the first answered)."""
    if app.state.db.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    from points.models import CreditRecord, Subject

    body = {"records": [rec(f"race-{i}", number=valid_id(seq=200 + i)) for i in range(50)]}
    results, barrier = [], threading.Barrier(4)

    def send():
        client = app.test_client()
        barrier.wait()
        results.append(client.post("/v1/dept/records", headers=dept, json=body))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 4
    assert session.query(CreditRecord).count() == 50
    assert session.query(Subject).count() == 50
    outcomes = sorted(a["result"] for r in results for a in r.json["accepted"])
    assert outcomes.count("created") == 50 and outcomes.count("unchanged") == 150
