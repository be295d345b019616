"""Objections over HTTP: the record shows disputed at once and keeps counting; the
department upholds (record revoked, points back) or rejects with a note."""
from __future__ import annotations

import time_machine

from tests.builders.clock import at
from tests.builders.departments import department, record_for
from tests.builders.residents import my_record, person, points


def object_to(client, who: dict, record_id: int, reason: str = "处罚对象错误，当日本人不在长沙"):
    return client.post("/v1/me/objections", headers=who["headers"],
                       json={"record_id": record_id, "reason": reason})


def test_objection_upheld_revokes_the_record(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False) as clock:
        market = department(app, client, "market")
        zhang = person(client)
        record_id = record_for(client, market, zhang, "admin.penalty.serious",
                               decided_on="2026-09-01")
        assert points(client, zhang) == 900

        r = object_to(client, zhang, record_id)
        assert r.status_code == 201, r.json
        assert r.json["status"] == "pending"
        assert r.json["decision_due_on"] == "2026-10-13"  # across the National Day holiday
        objection_id = r.json["id"]

        shown = my_record(client, zhang, record_id)
        assert shown["status"] == "disputed" and shown["disputed"] is True
        assert shown["counting"] is True
        assert points(client, zhang) == 900  # a dispute is not a finding: it keeps counting

        r = object_to(client, zhang, record_id)
        assert r.status_code == 409 and r.json["error_code"] == "OBJECTION_PENDING"

        listed = client.get("/v1/dept/objections?status=pending", headers=market).json
        assert [(o["id"], o["name_masked"], o["reason"]) for o in listed] == [
            (objection_id, "张*", "处罚对象错误，当日本人不在长沙")]

        clock.move_to(at("2026-10-08"))
        zhang["login"]()
        r = client.post(f"/v1/dept/objections/{objection_id}/decision", headers=market,
                        json={"upheld": True, "note": "经核实，当事人身份录入错误"})
        assert r.status_code == 200, r.json
        assert r.json["status"] == "upheld" and r.json["decided_on"] == "2026-10-08"

        assert points(client, zhang) == 1000
        shown = my_record(client, zhang, record_id)
        assert shown["status"] == "revoked" and shown["disputed"] is False
        history = client.get("/v1/me/points/history", headers=zhang["headers"]).json
        assert history[0]["cause"] == "objection" and history[0]["points"] == 1000
        assert "经核实，当事人身份录入错误" in history[0]["reason"]
        mine = client.get("/v1/me/objections", headers=zhang["headers"]).json
        assert [(o["status"], o["decision_note"]) for o in mine] == [
            ("upheld", "经核实，当事人身份录入错误")]

        r = client.post(f"/v1/dept/objections/{objection_id}/decision", headers=market,
                        json={"upheld": False, "note": "x"})
        assert r.status_code == 409 and r.json["error_code"] == "OBJECTION_CLOSED"
        r = object_to(client, zhang, record_id)
        assert r.status_code == 409 and r.json["error_code"] == "RECORD_REVOKED"


def test_objection_rejected_with_a_note(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        record_id = record_for(client, market, zhang)
        objection_id = object_to(client, zhang, record_id).json["id"]

        r = client.post(f"/v1/dept/objections/{objection_id}/decision", headers=market,
                        json={"upheld": False})
        assert r.status_code == 422 and "note" in r.json["errors"]["json"]
        r = client.post(f"/v1/dept/objections/{objection_id}/decision", headers=market,
                        json={"upheld": False, "note": "处罚决定书送达回证齐全"})
        assert r.status_code == 200 and r.json["status"] == "rejected"

        shown = my_record(client, zhang, record_id)
        assert shown["status"] == "active" and shown["disputed"] is False
        assert points(client, zhang) == 970
        mine = client.get("/v1/me/objections", headers=zhang["headers"]).json
        assert (mine[0]["status"], mine[0]["decision_note"]) == ("rejected", "处罚决定书送达回证齐全")
        # A rejected objection leaves room for a new one with new grounds.
        assert object_to(client, zhang, record_id, "新的证据").status_code == 201


def test_objection_wrong_callers(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        tax = department(app, client, "tax")
        zhang, li = person(client, "张三"), person(client, "李四")
        record_id = record_for(client, market, zhang)

        r = object_to(client, li, record_id)
        assert r.status_code == 404
        assert my_record(client, zhang, record_id)["disputed"] is False
        objection_id = object_to(client, zhang, record_id).json["id"]
        assert client.get("/v1/me/objections", headers=li["headers"]).json == []

        r = client.post(f"/v1/dept/objections/{objection_id}/decision", headers=tax,
                        json={"upheld": True})
        assert r.status_code == 404
        assert client.get("/v1/dept/objections", headers=tax).json == []
        assert points(client, zhang) == 970
        r = client.post("/v1/me/objections", headers=zhang["headers"],
                        json={"record_id": record_id, "reason": ""})
        assert r.status_code == 422


def test_overdue_objections(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False) as clock:
        market = department(app, client, "market")
        zhang = person(client)
        objection_id = object_to(client, zhang, record_for(client, market, zhang)).json["id"]
        clock.move_to(at("2026-10-14"))
        listed = client.get("/v1/dept/objections?overdue=true", headers=market).json
        assert [(o["id"], o["overdue"]) for o in listed] == [(objection_id, True)]
        assert client.get("/v1/dept/objections?overdue=false", headers=market).json == []
