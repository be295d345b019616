"""The credit office: rule-set versions and recompute jobs, data quality, audit."""
from __future__ import annotations

import tomllib

from points.rules.rulesets import default_rule_set
from tests.builders.departments import admin_headers, department, push
from tests.builders.residents import resident, valid_id
from tests.builders.servers import run_jobs


def toml_of(rules: dict) -> str:
    """Write the rule set back as TOML (simple writer for the shapes the file uses)."""
    import json

    lines = []

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        raise TypeError(v)

    for key, v in rules.items():
        if not isinstance(v, (dict, list)) or (isinstance(v, list) and not v):
            lines.append(f"{key} = {value(v)}")
    for level in rules["levels"]:
        lines.append("[[levels]]")
        lines += [f"{k} = {value(x)}" for k, x in level.items()]
    for table in ("classes", "categories", "record_types"):
        for name, body in rules[table].items():
            lines.append(f'[{table}."{name}"]')
            lines += [f"{k} = {value(x)}" for k, x in body.items()]
    return "\n".join(lines) + "\n"


def changed_rules(code: str, general_points: int) -> dict:
    rules = default_rule_set().to_dict()
    rules["code"] = code
    rules["record_types"]["admin.penalty.general"]["points"] = general_points
    return rules


def test_invalid_rule_sets_are_refused_naming_the_rule(app, client):
    admin = admin_headers(app, client)
    rules = changed_rules("changsha-bad", -40)
    del rules["record_types"]["admin.penalty.general"]["basis"]
    rules["levels"] = list(reversed(rules["levels"]))
    r = client.post("/v1/admin/rule-sets", headers=admin, json=rules)
    assert r.status_code == 422 and r.json["error_code"] == "RULE_SET_INVALID"
    messages = " ".join(r.json["errors"]["rules"])
    assert "admin.penalty.general" in messages and "basis" in messages
    assert "level" in messages
    listed = client.get("/v1/admin/rule-sets", headers=admin).json
    assert [v["code"] for v in listed] == ["changsha-2020"]  # nothing half-stored
    r = client.post("/v1/admin/rule-sets", headers={**admin, "Content-Type": "application/toml"},
                    data="this is = = not toml")
    assert r.status_code == 422
    r = client.post("/v1/admin/rule-sets", headers={**admin, "Content-Type": "image/png"},
                    data=b"\x89PNG")
    assert r.status_code == 415


def test_activation_moves_scores_with_history_and_rolls_back(app, client):
    admin = admin_headers(app, client)
    dept = department(app, client)
    number, other = valid_id(seq=61), valid_id(seq=62)
    push(client, dept, {"type": "admin.penalty.general", "id_number": number,
                        "decided_on": "2026-10-01"},
         {"type": "donation.blood", "id_number": other, "occurred_on": "2026-10-01"})
    person = resident(client, id_number=number)
    assert client.get("/v1/me/points", headers=person["headers"]).json["points"] == 970

    text = toml_of(changed_rules("changsha-2026", -40))
    assert tomllib.loads(text)["code"] == "changsha-2026"
    r = client.post("/v1/admin/rule-sets", headers={**admin, "Content-Type": "application/toml"},
                    data=text.encode())
    assert r.status_code == 201, r.json
    assert client.post("/v1/admin/rule-sets", headers=admin,
                       json={"content": text}).status_code == 409  # same code twice
    r = client.post("/v1/admin/rule-sets/changsha-2026/activate", headers=admin)
    assert r.status_code == 202
    run_jobs(app)
    job = client.get(f"/v1/admin/jobs/{r.json['job_id']}", headers=admin).json
    assert job["status"] == "done" and job["done"] == job["total"] == 2
    assert job["changed"] == 2  # both moved to the new version (one also in points)
    body = client.get("/v1/me/points", headers=person["headers"]).json
    assert body["points"] == 960 and body["rule_set"] == "changsha-2026"
    history = client.get("/v1/me/points/history", headers=person["headers"]).json
    assert history[0]["rule_set"] == "changsha-2026" and "changsha-2026" in history[0]["reason"]
    active = client.get("/v1/rule-sets/active").json
    assert active["code"] == "changsha-2026"

    r = client.post("/v1/admin/rule-sets/changsha-2020/activate", headers=admin)
    run_jobs(app)
    assert client.get(f"/v1/admin/jobs/{r.json['job_id']}", headers=admin).json["status"] == "done"
    body = client.get("/v1/me/points", headers=person["headers"]).json
    assert body["points"] == 970 and body["rule_set"] == "changsha-2020"
    assert client.post("/v1/admin/rule-sets/nope/activate", headers=admin).status_code == 404
    audit = client.get("/v1/admin/audit?target_type=rule_set", headers=admin).json
    assert [a["action"] for a in audit][:3] == ["rule_set.activated", "rule_set.activated",
                                                "rule_set.uploaded"]


def test_quality_report(app, client):
    admin = admin_headers(app, client)
    dept = department(app, client, record_types=["admin.penalty.general"])
    client.post("/v1/dept/records", headers=dept, json={"records": [
        {"source_ref": "ok", "subject": {"id_number": valid_id(seq=63), "name": "王五"},
         "type": "admin.penalty.general", "decided_on": "2026-01-05"},   # late
        {"source_ref": "bad", "subject": {"id_number": "123", "name": "王五"},
         "type": "admin.penalty.general"},                                 # validity+completeness
        {"source_ref": "fut", "subject": {"id_number": valid_id(seq=64), "name": "王五"},
         "type": "admin.penalty.general", "decided_on": "2099-01-01"},   # accuracy
    ]})
    rows = client.get("/v1/admin/quality-report", headers=admin).json
    row = next(r for r in rows if r["department"] == "market")
    assert (row["received"], row["accepted"], row["rejected"], row["late"]) == (3, 1, 2, 1)
    assert row["rejected_by_dimension"] == {"completeness": 1, "validity": 1, "accuracy": 1,
                                            "timeliness": 0}
    assert row["late_share"] == 1.0 and row["open_issues"] == 2
    assert row["oldest_open_issue_days"] == 0
    empty = client.get("/v1/admin/quality-report?from=2020-01-01&to=2020-12-31",
                       headers=admin).json
    assert next(r for r in empty if r["department"] == "market")["received"] == 0
    assert client.get("/v1/admin/quality-report?from=notadate",
                      headers=admin).status_code == 422


def test_department_changes_are_audited(app, client):
    admin = admin_headers(app, client)
    department(app, client, code="civil", record_types=["volunteer.service"])
    client.patch("/v1/admin/departments/civil", headers=admin,
                 json={"record_types": ["volunteer.service", "charity.donation"]})
    client.post("/v1/admin/departments/civil/keys", headers=admin)
    entries = client.get("/v1/admin/audit?target_type=department&target_id=civil",
                         headers=admin).json
    assert [e["action"] for e in entries] == ["department.key_rotated", "department.updated",
                                              "department.created"]
    updated = entries[1]
    assert updated["before"]["record_types"] == ["volunteer.service"]
    assert updated["after"]["record_types"] == ["charity.donation", "volunteer.service"]
    assert updated["actor"].startswith("admin:")
    person = resident(client)
    assert client.get("/v1/admin/audit", headers=person["headers"]).status_code == 403


def test_department_decisions_are_audited(app, client):
    admin = admin_headers(app, client)
    dept = department(app, client)
    number = valid_id(seq=66)
    person = resident(client, id_number=number)
    push(client, dept, {"source_ref": "o1", "type": "admin.penalty.minor", "id_number": number,
                        "decided_on": "2026-11-20"})
    record_id = client.get("/v1/me/records", headers=person["headers"]).json[0]["id"]
    objection = client.post("/v1/me/objections", headers=person["headers"],
                            json={"record_id": record_id, "reason": "不是本人"}).json
    r = client.post(f"/v1/dept/objections/{objection['id']}/decision", headers=dept,
                    json={"upheld": True, "note": "核实有误"})
    assert r.status_code == 200, r.json
    entries = client.get("/v1/admin/audit?actor=department:market", headers=admin).json
    actions = [e["action"] for e in entries]
    assert "objection.upheld" in actions and "record.revoked" in actions
    upheld = next(e for e in entries if e["action"] == "objection.upheld")
    assert upheld["before"]["status"] == "pending" and upheld["after"]["status"] == "upheld"
