"""Credit repair over HTTP: too early → eligible → applied → decided, with the
deadline in Chinese working days, the points coming back, and the wrong callers."""
from __future__ import annotations

import time_machine

from tests.builders.clock import at
from tests.builders.departments import department, push, record_for
from tests.builders.residents import apply, auth, dev_login, my_record, person, points


def test_repair_story_too_early_then_applied_approved_and_points_back(app, client):
    with time_machine.travel(at("2026-08-20"), tick=False) as clock:
        market = department(app, client, "market")
        zhang = person(client)
        record_id = record_for(client, market, zhang, decided_on="2026-06-10")
        assert points(client, zhang) == 970

        r = apply(client, zhang, record_id)
        assert r.status_code == 409 and r.json["error_code"] == "NOT_YET_REPAIRABLE"
        assert r.json["repairable_from"] == "2026-09-10"

        clock.move_to(at("2026-09-30"))  # the day before the National Day holiday
        zhang["login"]()
        r = apply(client, zhang, record_id)
        assert r.status_code == 201, r.json
        assert r.json["status"] == "submitted"
        # 5 working days: Oct 1-7 are holidays, Sat Oct 10 is an adjusted working day.
        assert r.json["decision_due_on"] == "2026-10-13"
        repair_id = r.json["id"]

        mine = client.get("/v1/me/repairs", headers=zhang["headers"]).json
        assert [(x["id"], x["status"], x["commitment"]) for x in mine] == [
            (repair_id, "submitted", "今后依法经营，不再发生同类违法行为")]
        # The commitment text is now a public repair commitment, name masked.
        public = client.get("/v1/commitments/public").json
        assert [(c["kind"], c["content"], c["name_masked"]) for c in public] == [
            ("repair", "今后依法经营，不再发生同类违法行为", "张*")]
        assert zhang["id_number"] not in client.get("/v1/commitments/public").get_data(
            as_text=True)

        listed = client.get("/v1/dept/repairs?status=submitted", headers=market).json
        assert [(x["id"], x["name_masked"], x["overdue"]) for x in listed] == [
            (repair_id, "张*", False)]

        clock.move_to(at("2026-10-09"))
        zhang["login"]()
        assert points(client, zhang) == 970
        r = client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=market,
                        json={"approve": True, "note": "整改到位"})
        assert r.status_code == 200, r.json
        assert r.json["status"] == "approved" and r.json["decided_on"] == "2026-10-09"

        assert points(client, zhang) == 1000
        shown = my_record(client, zhang, record_id)
        assert shown["status"] == "repaired" and shown["repaired_on"] == "2026-10-09"
        history = client.get("/v1/me/points/history", headers=zhang["headers"]).json
        assert history[0]["points"] == 1000 and history[0]["cause"] == "repair"
        assert f"记录 {record_id}" in history[0]["reason"]  # in Chinese by default
        english = client.get("/v1/me/points/history", headers={**zhang["headers"],
                                                              "Accept-Language": "en"}).json
        assert f"approved the repair of record {record_id}" in english[0]["reason"]

        # Decided once: a second decision is refused, the record is repaired already.
        r = client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=market,
                        json={"approve": False, "note": "x"})
        assert r.status_code == 409 and r.json["error_code"] == "REPAIR_CLOSED"
        r = apply(client, zhang, record_id)
        assert r.status_code == 409 and r.json["error_code"] == "ALREADY_REPAIRED"


def test_repair_keeps_the_earlier_version(app, client, session):
    from sqlalchemy import select

    from points.models import RecordVersion

    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        record_id = record_for(client, market, zhang)
        repair_id = apply(client, zhang, record_id).json["id"]
        client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=market,
                    json={"approve": True})
    versions = session.execute(select(RecordVersion).where(
        RecordVersion.record_id == record_id)).scalars().all()
    assert [(v.change, v.snapshot["status"], v.changed_by) for v in versions] == [
        ("repaired", "active", "department:market")]


def test_rejected_repair_keeps_points_and_shows_the_reason(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        record_id = record_for(client, market, zhang)
        repair_id = apply(client, zhang, record_id).json["id"]

        r = client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=market,
                        json={"approve": False})
        assert r.status_code == 422 and "note" in r.json["errors"]["json"]
        r = client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=market,
                        json={"approve": False, "note": "罚款尚未缴清"})
        assert r.status_code == 200 and r.json["status"] == "rejected"

        mine = client.get("/v1/me/repairs", headers=zhang["headers"]).json
        assert (mine[0]["status"], mine[0]["decision_note"]) == ("rejected", "罚款尚未缴清")
        assert points(client, zhang) == 970
        assert my_record(client, zhang, record_id)["status"] == "active"
        # The lapsed repair commitment leaves the active list; a new application may follow.
        public = client.get("/v1/commitments/public").json
        assert [c["status"] for c in public] == ["expired"]
        assert apply(client, zhang, record_id).status_code == 201


def test_repair_refusals(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        court = department(app, client, "court")
        zhang = person(client)
        defaulter = record_for(client, court, zhang, "court.defaulter")
        r = apply(client, zhang, defaulter)
        assert r.status_code == 409 and r.json["error_code"] == "NOT_REPAIRABLE"
        positive = record_for(client, court, zhang, "donation.blood", occurred_on="2026-09-01")
        r = apply(client, zhang, positive)
        assert r.status_code == 409 and r.json["error_code"] == "NOT_REPAIRABLE"
        expired = record_for(client, court, zhang, "admin.penalty.minor",
                             decided_on="2026-01-05")
        r = apply(client, zhang, expired)
        assert r.status_code == 409 and r.json["error_code"] == "NOT_REPAIRABLE"

        general = record_for(client, court, zhang)
        assert apply(client, zhang, general).status_code == 201
        r = apply(client, zhang, general)
        assert r.status_code == 409 and r.json["error_code"] == "REPAIR_PENDING"

        r = apply(client, zhang, 999999)
        assert r.status_code == 404
        r = apply(client, zhang, general, evidence=[{"kind": "receipt"}])
        assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"
        r = client.post("/v1/me/repairs", headers=zhang["headers"], json={"record_id": general})
        assert r.status_code == 422


def test_withdrawal_and_wrong_callers(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        tax = department(app, client, "tax")
        zhang, li = person(client, "张三"), person(client, "李四")
        record_id = record_for(client, market, zhang)

        # Another resident's record is not theirs to repair: 404, as if it did not exist.
        r = apply(client, li, record_id)
        assert r.status_code == 404
        repair_id = apply(client, zhang, record_id).json["id"]
        r = client.post(f"/v1/me/repairs/{repair_id}/withdraw", headers=li["headers"])
        assert r.status_code == 404

        # Only the department that reported the record decides or even sees it.
        r = client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=tax,
                        json={"approve": True})
        assert r.status_code == 404
        assert client.get("/v1/dept/repairs", headers=tax).json == []
        # A resident cannot use department routes, nor a department resident ones.
        r = client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=zhang["headers"],
                        json={"approve": True})
        assert r.status_code == 401
        assert client.get("/v1/me/repairs", headers=market).status_code == 401

        r = client.post(f"/v1/me/repairs/{repair_id}/withdraw", headers=zhang["headers"])
        assert r.status_code == 200 and r.json["status"] == "withdrawn"
        r = client.post(f"/v1/me/repairs/{repair_id}/withdraw", headers=zhang["headers"])
        assert r.status_code == 409 and r.json["error_code"] == "REPAIR_CLOSED"
        r = client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=market,
                        json={"approve": True})
        assert r.status_code == 409
        assert points(client, zhang) == 970
        assert client.get("/v1/commitments/public").json == []  # withdrawn: not shown


def test_identity_required(client):
    tokens = dev_login(client)
    r = client.post("/v1/me/repairs", headers=auth(tokens["access_token"]),
                    json={"record_id": 1, "statement": "s", "commitment": "c", "evidence": []})
    assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED"
    r = client.get("/v1/me/repairs", headers=auth(tokens["access_token"]))
    assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED"


def test_overdue_repairs_are_listed(app, client, session):
    with time_machine.travel(at("2026-09-30"), tick=False) as clock:
        market = department(app, client, "market")
        zhang = person(client)
        repair_id = apply(client, zhang, record_for(client, market, zhang)).json["id"]
        assert client.get("/v1/dept/repairs?overdue=true", headers=market).json == []
        clock.move_to(at("2026-10-13"))  # the last day to decide: not yet overdue
        assert client.get("/v1/dept/repairs?overdue=true", headers=market).json == []
        clock.move_to(at("2026-10-14"))
        listed = client.get("/v1/dept/repairs?overdue=true", headers=market).json
        assert [(x["id"], x["overdue"]) for x in listed] == [(repair_id, True)]


def test_retried_application_with_idempotency_key(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        record_id = record_for(client, market, zhang)
        headers = {**zhang["headers"], "Idempotency-Key": "repair-1"}
        body = {"record_id": record_id, "statement": "s", "commitment": "c", "evidence": []}
        first = client.post("/v1/me/repairs", headers=headers, json=body)
        again = client.post("/v1/me/repairs", headers=headers, json=body)
        assert first.status_code == again.status_code == 201
        assert first.json == again.json
        assert len(client.get("/v1/me/repairs", headers=zhang["headers"]).json) == 1


def test_two_applications_at_once_make_one(app, client):
    import threading

    from points.infra.db import today as shanghai_today

    market = department(app, client, "market")
    zhang = person(client)
    record_id = record_for(client, market, zhang, "admin.penalty.minor",
                           decided_on=shanghai_today().isoformat())
    start = threading.Barrier(2)
    answers: list[tuple[int, str | None]] = []

    def send() -> None:
        own = app.test_client()
        start.wait()
        r = apply(own, zhang, record_id)
        answers.append((r.status_code, r.json.get("error_code")))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers, key=lambda a: a[0]) == [(201, None), (409, "REPAIR_PENDING")]
    assert len(client.get("/v1/me/repairs", headers=zhang["headers"]).json) == 1


def test_an_approval_the_rules_no_longer_allow_after_a_correction_is_refused(app, client):
    """Applied for in time, then the department corrected the decision date: the
    repair is not allowed yet (rules §6), so approving it answers 409
    NOT_YET_REPAIRABLE and changes nothing; refusing it still works."""
    with time_machine.travel(at("2026-09-10"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        penalty = {"source_ref": "pen-corrected", "type": "admin.penalty.general",
                   "id_number": zhang["id_number"], "name": zhang["name"]}
        record_id = push(client, market, {**penalty, "decided_on": "2026-06-01"})[
            "accepted"][0]["record_id"]
        repair = apply(client, zhang, record_id)
        assert repair.status_code == 201, repair.json

        body = push(client, market, {**penalty, "decided_on": "2026-08-01"})
        assert body["accepted"][0]["result"] == "updated"
        decision = f"/v1/dept/repairs/{repair.json['id']}/decision"
        r = client.post(decision, headers=market, json={"approve": True, "note": "同意"})
        assert r.status_code == 409, r.json
        assert (r.json["error_code"], r.json["repairable_from"]) == ("NOT_YET_REPAIRABLE",
                                                                     "2026-11-01")
        assert my_record(client, zhang, record_id)["status"] == "active"
        assert points(client, zhang) == 970

        r = client.post(decision, headers=market,
                        json={"approve": False, "note": "处罚决定日期已更正，未到修复期"})
        assert r.status_code == 200 and r.json["status"] == "rejected", r.json
