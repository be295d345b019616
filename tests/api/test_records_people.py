"""Records residents can tell apart (department, document number, statement), a
revoked record never repairable, the public list of departments, and the consent
policy in force."""
from __future__ import annotations

from tests.builders.departments import department, push
from tests.builders.residents import auth, dev_login, resident, valid_id


def test_records_carry_department_and_document_number(app, client):
    dept = department(app, client, code="market", name="雨花区市场监督管理局")
    number = valid_id(seq=301)
    who = resident(client, id_number=number, consents=("credit_points",))
    push(client, dept,
         {"source_ref": "a", "type": "admin.penalty.general", "id_number": number,
          "decided_on": "2026-06-01", "details": {"document_no": "雨市监罚〔2026〕17号"}},
         {"source_ref": "b", "type": "admin.penalty.general", "id_number": number,
          "decided_on": "2026-06-01"})
    r = client.get("/v1/me/records", headers=who["headers"])
    assert r.status_code == 200, r.json
    by_no = {rec["document_no"]: rec for rec in r.json}
    assert set(by_no) == {"雨市监罚〔2026〕17号", None}
    for rec in r.json:
        assert rec["department"] == {"code": "market", "name": "雨花区市场监督管理局"}
        assert rec["statement"] is None


def test_revoked_record_is_never_repairable(app, client):
    dept = department(app, client)
    number = valid_id(seq=302)
    who = resident(client, id_number=number, consents=("credit_points",))
    push(client, dept, {"source_ref": "gone", "type": "admin.penalty.general",
                        "id_number": number, "decided_on": "2026-06-01"})
    before = client.get("/v1/me/records", headers=who["headers"]).json[0]
    assert before["repairable"] is True
    r = client.post("/v1/dept/records/gone/revoke", headers=dept, json={"reason": "认定有误"})
    assert r.status_code == 200, r.json
    after = client.get("/v1/me/records", headers=who["headers"]).json[0]
    assert after["status"] == "revoked"
    assert after["repairable"] is False and after["repairable_from"] is None


def test_departments_are_public(app, client):
    department(app, client, code="market", name="市场监督管理局")
    department(app, client, code="tax", name="税务局")
    r = client.get("/v1/departments")
    assert r.status_code == 200, r.json
    assert {"code": "market", "name": "市场监督管理局"} in r.json
    assert {"code": "tax", "name": "税务局"} in r.json
    assert all(set(d) == {"code", "name"} for d in r.json)


def test_policy_and_unknown_version(app, client):
    r = client.get("/v1/policies/current")
    assert r.status_code == 200, r.json
    version = r.json["version"]
    assert version == app.config["CONSENT_POLICY_VERSION"]
    assert set(r.json["scopes"]) == {"credit_points", "merchant_share"}
    assert "积分" in r.json["scopes"]["credit_points"]["text"]
    headers = auth(dev_login(client)["access_token"])
    r = client.put("/v1/me/consents/credit_points", headers=headers,
                   json={"granted": True, "policy_version": "1999-01"})
    assert r.status_code == 422, r.json
    assert r.json["error_code"] == "POLICY_VERSION_UNKNOWN"
    assert "现行版本" in r.json["message"]
    assert client.get("/v1/me/consents", headers=headers).json["history"] == []
    r = client.put("/v1/me/consents/credit_points", headers=headers,
                   json={"granted": True, "policy_version": version})
    assert r.status_code == 200, r.json
