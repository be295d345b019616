"""The department assessment (with CSV) and a resident's export of all their data."""
from __future__ import annotations

import csv
import io

from points.office import assessment
from tests.builders.clock import frozen_at
from tests.builders.departments import admin_headers, department, push
from tests.builders.residents import resident, valid_id


def test_assessment_counts_decisions_on_time_overdue_and_check_feedback(app, client):
    number, other = valid_id(seq=131), valid_id(seq=132)
    with frozen_at("2026-09-01"):
        dept = department(app, client, name="雨花区市场监督管理局")
        person = resident(client, id_number=number)
        second = resident(client, id_number=other)
        push(client, dept,
             {"source_ref": "p1", "type": "admin.penalty.minor", "id_number": number,
              "decided_on": "2026-08-30"},
             {"source_ref": "p2", "type": "admin.penalty.minor", "id_number": other,
              "decided_on": "2026-08-30"})
        records = {r["id"]: r for r in client.get("/v1/me/records", headers=person["headers"]).json}
        record_id = next(iter(records))
        other_id = client.get("/v1/me/records", headers=second["headers"]).json[0]["id"]
        repair = client.post("/v1/me/repairs", headers=person["headers"], json={
            "record_id": record_id, "statement": "已整改", "commitment": "今后守法经营",
            "evidence": [{"kind": "receipt", "ref": "R-1"}]})
        assert repair.status_code == 201, repair.json
        objection = client.post("/v1/me/objections", headers=second["headers"],
                                json={"record_id": other_id, "reason": "不是本人"})
        assert objection.status_code == 201, objection.json
        for purpose in ("administrative_license", "inspection"):
            r = client.post("/v1/dept/credit-checks", headers=dept, json={
                "subject": {"id_number": number, "name": "张三"}, "purpose": purpose,
                "matter_ref": f"M-{purpose}"})
            assert r.status_code == 201, r.json
            check_id = r.json["id"]
        client.post(f"/v1/dept/credit-checks/{check_id}/feedback", headers=dept,
                    json={"action": "normal", "note": "按正常程序办理"})
    with frozen_at("2026-09-03"):  # the repair is decided within its 5 working days
        r = client.post(f"/v1/dept/repairs/{repair.json['id']}/decision", headers=dept,
                        json={"approve": True, "note": "同意修复"})
        assert r.status_code == 200, r.json
    with frozen_at("2026-10-20"):  # the objection is long overdue; one check never got feedback
        admin = admin_headers(app, client)
        rows = client.get("/v1/admin/assessment?from=2026-09-01&to=2026-10-20",
                          headers=admin).json
        row = next(r for r in rows if r["department"] == "market")
        assert (row["repairs_decided"], row["repairs_decided_on_time"], row["repairs_overdue"]) == (
            1, 1, 0)
        assert (row["objections_decided"], row["objections_overdue"]) == (0, 1)
        assert (row["credit_checks"], row["credit_checks_with_feedback"],
                row["credit_checks_feedback_overdue"]) == (2, 1, 1)
        # the old name, kept one release with the same count
        assert row["credit_checks_missing_feedback"] == 1
        assert row["records_accepted"] >= 2
        r = client.get("/v1/admin/assessment?from=2026-09-01&to=2026-10-20&format=csv",
                       headers=admin)
        assert r.status_code == 200 and r.mimetype == "text/csv"
        header, *lines = csv.reader(io.StringIO(r.get_data(as_text=True)))
        assert header[:2] == ["部门编码", "部门"]  # the header row is in Chinese by default
        parsed = [dict(zip(assessment.COLUMNS, line, strict=True)) for line in lines]
        english = client.get("/v1/admin/assessment?from=2026-09-01&to=2026-10-20&format=csv",
                             headers={**admin, "Accept-Language": "en"})
        assert next(csv.reader(io.StringIO(english.get_data(as_text=True))))[:2] == [
            "department code", "department"]
        market = next(p for p in parsed if p["department"] == "market")
        assert market["objections_overdue"] == "1" and market["name"] == "雨花区市场监督管理局"
        assert market["credit_checks_feedback_overdue"] == "1"
        earlier = client.get("/v1/admin/assessment?from=2026-01-01&to=2026-01-31",
                             headers=admin).json
        assert next(r for r in earlier if r["department"] == "market")["credit_checks"] == 0


def test_export_contains_every_kind_of_data(app, client):
    number = valid_id(seq=133)
    dept = department(app, client)
    person = resident(client, id_number=number)
    push(client, dept, {"source_ref": "e1", "type": "admin.penalty.minor", "id_number": number,
                        "decided_on": "2026-11-20"})
    record_id = client.get("/v1/me/records", headers=person["headers"]).json[0]["id"]
    client.post("/v1/me/objections", headers=person["headers"],
                json={"record_id": record_id, "reason": "金额有误"})
    client.post("/v1/me/commitments", headers=person["headers"],
                json={"kind": "voluntary", "content": "诚信经营", "public": False})
    client.put("/v1/me/worker-profile", headers=person["headers"],
               json={"occupation": "housekeeping"})
    client.post("/v1/me/report-shares", headers=person["headers"], json={"ttl_minutes": 30})
    client.post("/v1/dept/credit-checks", headers=dept, json={
        "subject": {"id_number": number, "name": "张三"}, "purpose": "inspection",
        "matter_ref": "M-1"})
    body = client.get("/v1/me/export", headers=person["headers"]).json
    for key in ("identity", "consents", "records", "points_history", "commitments", "repairs",
                "objections", "redemptions", "report_shares", "access_log", "worker_profile"):
        assert key in body, key
    assert body["identity"]["id_number_masked"].startswith(number[:4])
    assert number not in str(body)
    assert {c["scope"] for c in body["consents"]} == {"credit_points", "merchant_share"}
    assert body["records"][0]["type"] == "admin.penalty.minor"
    assert body["points_history"] and body["commitments"] and body["objections"]
    assert body["report_shares"] and "token_hash" not in body["report_shares"][0]
    assert body["access_log"][0]["purpose"] == "inspection"


def test_the_old_name_of_feedback_overdue_is_deprecated_in_the_openapi(client):
    """`missing_feedback` means "none yet" in the departments' list; the assessment's
    overdue count is `credit_checks_feedback_overdue`, its old name deprecated."""
    properties = client.get("/openapi.json").json["components"]["schemas"]["AssessmentRow"][
        "properties"]
    assert properties["credit_checks_missing_feedback"].get("deprecated") is True
    assert not properties["credit_checks_feedback_overdue"].get("deprecated")
