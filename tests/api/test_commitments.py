"""Commitments over HTTP: signing with notice, withdrawal, the public list, the
department's outcomes written as records, and the fast-track exclusion."""
from __future__ import annotations

import time_machine
from sqlalchemy import select

from tests.builders.clock import at
from tests.builders.departments import admin_headers, department, record_for
from tests.builders.residents import apply, my_record, person, points


def commit(client, who: dict, **body):
    payload = {"kind": "voluntary", "content": "诚信经营，明码标价", "public": True, **body}
    return client.post("/v1/me/commitments", headers=who["headers"], json=payload)


def fast_track(client, who: dict, due_on: str = "2026-10-20", **body):
    return commit(client, who, kind="missing_materials", content="十个工作日内补齐营业执照副本",
                  department="market", matter="食品经营许可", due_on=due_on, **body)


def test_voluntary_commitment_notice_list_and_withdraw(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        department(app, client, "market")
        zhang, li = person(client, "张三"), person(client, "李四")
        r = commit(client, zhang, department="market")
        assert r.status_code == 201, r.json
        body = r.json
        assert (body["kind"], body["status"], body["signed_on"]) == (
            "voluntary", "active", "2026-09-30")
        notice = body["notice"]
        assert "诚信经营，明码标价" in notice["promise"]
        assert "market 局" in notice["verification"] and "核查" in notice["verification"]
        assert "-20" in notice["consequence"] and "-50" in notice["consequence"]
        private = commit(client, zhang, content="按时缴纳物业费", public=False).json

        assert [c["id"] for c in client.get("/v1/me/commitments",
                                            headers=zhang["headers"]).json] == [
            private["id"], body["id"]]
        public = client.get("/v1/commitments/public").json
        assert [(c["id"], c["name_masked"], c["department_name"]) for c in public] == [
            (body["id"], "张*", "market 局")]
        assert "id_number" not in public[0] and zhang["id_number"] not in str(public)

        r = client.post(f"/v1/me/commitments/{body['id']}/withdraw", headers=li["headers"])
        assert r.status_code == 404
        r = client.post(f"/v1/me/commitments/{body['id']}/withdraw", headers=zhang["headers"])
        assert r.status_code == 200 and r.json["status"] == "withdrawn"
        r = client.post(f"/v1/me/commitments/{body['id']}/withdraw", headers=zhang["headers"])
        assert r.status_code == 409 and r.json["error_code"] == "COMMITMENT_CLOSED"
        assert client.get("/v1/commitments/public").json == []


def test_commitment_validation(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        department(app, client, "market")
        zhang = person(client)
        r = commit(client, zhang, kind="missing_materials")
        assert r.status_code == 422
        assert set(r.json["errors"]["json"]) == {"department", "matter", "due_on"}
        r = fast_track(client, zhang, due_on="2026-09-01")
        assert r.status_code == 422 and "due_on" in r.json["errors"]["json"]
        r = commit(client, zhang, kind="approval_substitute", department="nowhere",
                   matter="m", due_on="2026-10-30")
        assert r.status_code == 422 and "department" in r.json["errors"]["json"]
        r = commit(client, zhang, kind="repair")
        assert r.status_code == 422 and "kind" in r.json["errors"]["json"]
        assert "POST /v1/me/repairs" in str(r.json["errors"]["json"]["kind"])
        r = commit(client, zhang, kind="promise")
        assert r.status_code == 422
        # The contract asks department, matter and due_on of the fast-track kinds only.
        assert commit(client, zhang, kind="industry").status_code == 201
        assert commit(client, zhang, kind="industry", matter="长沙市家政服务协会").status_code == 201


def test_fulfilled_and_breached_outcomes_and_fast_track_exclusion(app, client, session):
    from points.models import CreditRecord, Department

    with time_machine.travel(at("2026-09-30"), tick=False) as clock:
        # The department may push penalties only; commitment records are its findings anyway.
        market = department(app, client, "market", ["admin.penalty.general"])
        tax = department(app, client, "tax")
        zhang = person(client)
        first = fast_track(client, zhang)
        assert first.status_code == 201, first.json
        second = fast_track(client, zhang, due_on="2026-10-09")
        listed = client.get("/v1/dept/commitments?status=active", headers=market).json
        assert {c["id"] for c in listed} == {first.json["id"], second.json["id"]}
        assert client.get("/v1/dept/commitments", headers=tax).json == []

        clock.move_to(at("2026-10-12"))
        zhang["login"]()
        overdue = client.get("/v1/dept/commitments?overdue=true", headers=market).json
        assert [(c["id"], c["overdue"]) for c in overdue] == [(second.json["id"], True)]

        r = client.post(f"/v1/dept/commitments/{first.json['id']}/outcome", headers=tax,
                        json={"outcome": "fulfilled"})
        assert r.status_code == 404
        r = client.post(f"/v1/dept/commitments/{first.json['id']}/outcome", headers=market,
                        json={"outcome": "fulfilled"})
        assert r.status_code == 200, r.json
        assert r.json["status"] == "fulfilled"
        assert points(client, zhang) == 1002
        fulfilled = my_record(client, zhang, r.json["outcome_record_id"])
        assert (fulfilled["type"], fulfilled["occurred_on"]) == ("commitment.fulfilled",
                                                                 "2026-10-12")
        r = client.post(f"/v1/dept/commitments/{first.json['id']}/outcome", headers=market,
                        json={"outcome": "breached"})
        assert r.status_code == 409 and r.json["error_code"] == "COMMITMENT_CLOSED"

        r = client.post(f"/v1/dept/commitments/{second.json['id']}/outcome", headers=market,
                        json={"outcome": "breached", "serious": False})
        assert r.status_code == 200 and r.json["status"] == "breached"
        breach_id = r.json["outcome_record_id"]
        assert points(client, zhang) == 982
        assert client.get("/v1/dept/commitments?overdue=true", headers=market).json == []

        r = fast_track(client, zhang, due_on="2026-11-30")
        assert r.status_code == 409 and r.json["error_code"] == "FAST_TRACK_EXCLUDED"
        r = commit(client, zhang, kind="approval_substitute", department="market",
                   matter="户外广告设置", due_on="2026-11-30")
        assert r.status_code == 409 and r.json["error_code"] == "FAST_TRACK_EXCLUDED"
        assert commit(client, zhang).status_code == 201  # a voluntary one is still welcome

        # Once the breach is repaired, fast-track commitments are open again.
        clock.move_to(at("2027-01-12"))
        zhang["login"]()
        repair = apply(client, zhang, breach_id)
        assert repair.status_code == 201, repair.json
        client.post(f"/v1/dept/repairs/{repair.json['id']}/decision", headers=market,
                    json={"approve": True})
        assert fast_track(client, zhang, due_on="2027-02-01").status_code == 201

    records = session.execute(select(CreditRecord.source_ref, CreditRecord.type).order_by(
        CreditRecord.id)).all()
    assert records == [(f"commitment-{first.json['id']}", "commitment.fulfilled"),
                       (f"commitment-{second.json['id']}", "commitment.breached")]
    allowed = session.execute(select(Department.record_types).where(
        Department.code == "market")).scalar_one()
    assert allowed == ["admin.penalty.general"]  # the bypass changed nothing stored


def test_serious_breach_and_restricted_subject(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang, li = person(client, "张三"), person(client, "李四")
        made = commit(client, zhang, kind="approval_substitute", department="market",
                      matter="户外广告设置", due_on="2026-10-30").json
        r = client.post(f"/v1/dept/commitments/{made['id']}/outcome", headers=market,
                        json={"outcome": "fulfilled", "serious": True})
        assert r.status_code == 422
        r = client.post(f"/v1/dept/commitments/{made['id']}/outcome", headers=market,
                        json={"outcome": "breached", "serious": True})
        assert r.status_code == 200 and r.json["outcome_serious"] is True
        assert points(client, zhang) == 950
        assert my_record(client, zhang, r.json["outcome_record_id"])["type"] == \
            "commitment.breached_serious"

        # Li has no breach but a serious penalty: restricted, so no fast track either.
        record_for(client, market, li, "admin.penalty.serious", decided_on="2026-09-01")
        r = fast_track(client, li)
        assert r.status_code == 409 and r.json["error_code"] == "FAST_TRACK_EXCLUDED"


def test_repair_commitment_is_not_withdrawn_directly(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        repair = apply(client, zhang, record_for(client, market, zhang)).json
        r = client.post(f"/v1/me/commitments/{repair['commitment_id']}/withdraw",
                        headers=zhang["headers"])
        assert r.status_code == 409 and r.json["error_code"] == "COMMITMENT_NOT_WITHDRAWABLE"
        mine = client.get("/v1/me/commitments", headers=zhang["headers"]).json
        assert [(c["kind"], c["public"], c["department"]) for c in mine] == [
            ("repair", True, "market")]


def test_voluntary_commitment_expires_on_its_date(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False) as clock:
        zhang = person(client)
        made = commit(client, zhang, due_on="2026-10-08").json
        clock.move_to(at("2026-10-09"))
        zhang["login"]()
        mine = client.get("/v1/me/commitments?status=expired", headers=zhang["headers"]).json
        assert [(c["id"], c["status"]) for c in mine] == [(made["id"], "expired")]
        assert client.get("/v1/me/commitments?status=active",
                          headers=zhang["headers"]).json == []


def test_public_list_is_open_and_private_ones_need_a_caller(app, client):
    assert client.get("/v1/commitments/public").status_code == 200
    assert client.get("/v1/me/commitments").status_code == 401
    assert client.get("/v1/dept/commitments").status_code == 401
    r = client.get("/v1/dept/commitments", headers=admin_headers(app, client))
    assert r.status_code == 401


def test_openapi_documents_the_workflow_routes(client):
    paths = client.get("/openapi.json").json["paths"]
    post = paths["/v1/me/commitments"]["post"]
    assert {"201", "401", "409", "422"} <= set(post["responses"]) and post["summary"]
    for path, method in [("/v1/me/repairs", "post"), ("/v1/me/objections", "post"),
                         ("/v1/dept/repairs/{repair_id}/decision", "post"),
                         ("/v1/dept/objections/{objection_id}/decision", "post"),
                         ("/v1/dept/commitments/{commitment_id}/outcome", "post"),
                         ("/v1/commitments/public", "get")]:
        assert paths[path][method]["summary"], path
    assert "409" in paths["/v1/me/repairs"]["post"]["responses"]


def test_missing_materials_cannot_be_breached_before_they_are_due(app, client):
    """容缺受理: the materials may come until the end of due_on, so no breach before
    (409 COMMITMENT_NOT_DUE, nothing written); a false statement under 告知承诺
    (approval_substitute) can be found at once."""
    from points.models import CreditRecord

    with time_machine.travel(at("2026-09-30"), tick=False) as clock:
        market = department(app, client, "market")
        zhang = person(client)
        materials = fast_track(client, zhang, due_on="2026-10-20").json
        substitute = commit(client, zhang, kind="approval_substitute", department="market",
                            matter="户外广告设置", due_on="2026-12-30").json
        for day in ("2026-09-30", "2026-10-20"):
            clock.move_to(at(day))
            r = client.post(f"/v1/dept/commitments/{materials['id']}/outcome", headers=market,
                            json={"outcome": "breached"})
            assert r.status_code == 409, r.json
            assert (r.json["error_code"], r.json["due_on"]) == ("COMMITMENT_NOT_DUE",
                                                                "2026-10-20")
        s = app.state.db.new_session()
        assert s.execute(select(CreditRecord)).first() is None
        s.close()
        clock.move_to(at("2026-10-08"))
        r = client.post(f"/v1/dept/commitments/{substitute['id']}/outcome", headers=market,
                        json={"outcome": "breached"})
        assert r.status_code == 200 and r.json["status"] == "breached", r.json
        clock.move_to(at("2026-10-21"))
        r = client.post(f"/v1/dept/commitments/{materials['id']}/outcome", headers=market,
                        json={"outcome": "breached"})
        assert r.status_code == 200 and r.json["status"] == "breached", r.json


def test_missing_materials_may_be_fulfilled_before_they_are_due(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        materials = fast_track(client, zhang, due_on="2026-10-20").json
        r = client.post(f"/v1/dept/commitments/{materials['id']}/outcome", headers=market,
                        json={"outcome": "fulfilled"})
        assert r.status_code == 200 and r.json["status"] == "fulfilled", r.json
