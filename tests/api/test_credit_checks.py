"""Departments' credit checks over HTTP (逢办必查): the result, the person's access
log, feedback once, the checks still missing feedback, and occupational files."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from points.employment.credit_checks import missing_feedback_stmt
from points.models import Subject
from tests.builders.clock import frozen_at
from tests.builders.departments import department, push
from tests.builders.residents import resident, valid_id

TODAY = "2026-06-15"
CHECK = "/v1/dept/credit-checks"


def check(client, dept, number, name="张三", purpose="administrative_license",
          matter_ref="XK-2026-0001", status=201):
    r = client.post(CHECK, headers=dept, json={"subject": {"id_number": number, "name": name},
                                               "purpose": purpose, "matter_ref": matter_ref})
    assert r.status_code == status, r.json
    return r.json


def test_check_with_feedback_and_access_log(app, client):
    number = valid_id(seq=41)
    with frozen_at(TODAY):
        market = department(app, client, "market")
        push(client, market, {"type": "admin.penalty.general", "id_number": number,
                              "decided_on": "2026-06-10", "details": {"doc": "长市监罚〔2026〕1号"}},
             {"type": "donation.blood", "id_number": number, "occurred_on": "2026-05-01"})
        person = resident(client, id_number=number, name="张三")
        housing = department(app, client, "housing", [], name="住房和城乡建设局")
        body = check(client, housing, number, purpose="financial_support",
                     matter_ref="BT-2026-17")
        assert (body["points"], body["level"], body["restricted"]) == (980, "A", False)
        assert body["subject_known"] is True
        assert body["purpose"] == "financial_support" and body["matter_ref"] == "BT-2026-17"
        assert [(r["type"], r["class"], r["points"], r["decided_on"])
                for r in body["negative_records"]] == [
            ("admin.penalty.general", "general", -30, "2026-06-10")]
        assert "occupational_file" not in body
        assert body["feedback"] is None and body["feedback_due_on"] == "2026-06-30"
        assert number not in str(body)

        # The person sees who checked, why, and for which matter.
        log = client.get("/v1/me/access-log", headers=person["headers"]).json
        assert [(e["actor_kind"], e["organisation"], e["purpose"], e["reference"])
                for e in log] == [("department", "住房和城乡建设局", "financial_support",
                                   "BT-2026-17")]

        url = f"{CHECK}/{body['id']}/feedback"
        # Only the checking department gives feedback, once.
        r = client.post(url, headers=market, json={"action": "normal"})
        assert r.status_code == 404
        assert client.get(f"{CHECK}/{body['id']}", headers=market).status_code == 404
        r = client.post(url, headers=housing, json={"action": "maybe"})
        assert r.status_code == 422
        r = client.post(url, headers=housing, json={"action": "extra_review",
                                                    "note": "近期有一般失信记录，加强审核"})
        assert r.status_code == 200, r.json
        assert r.json["feedback"]["action"] == "extra_review"
        assert r.json["feedback"]["note"] == "近期有一般失信记录，加强审核"
        r = client.post(url, headers=housing, json={"action": "normal"})
        assert r.status_code == 409 and r.json["error_code"] == "FEEDBACK_ALREADY_GIVEN"
        stored = client.get(f"{CHECK}/{body['id']}", headers=housing).json
        assert stored["feedback"]["action"] == "extra_review" and stored["points"] == 980

        # Residents cannot call department routes.
        r = client.post(CHECK, headers=person["headers"], json={
            "subject": {"id_number": number, "name": "张三"}, "purpose": "inspection",
            "matter_ref": "x"})
        assert r.status_code == 401


@pytest.mark.parametrize("payload", [
    {"purpose": "curiosity", "matter_ref": "X-1"},  # not a purpose the rules allow
    {"purpose": "inspection"},  # no matter reference
    {"purpose": "inspection", "matter_ref": ""},
    {"purpose": "inspection", "matter_ref": "x" * 101},
    {"purpose": "inspection", "matter_ref": "X-1", "subject": {"id_number": "430104199001011231",
                                                               "name": "张三"}},  # bad checksum
    {"purpose": "inspection", "matter_ref": "X-1", "subject": {"id_number": "4301", "name": "张"}},
    {"purpose": "inspection", "matter_ref": "X-1", "subject": {"id_number": valid_id()}},
])
def test_invalid_checks_are_422(app, client, payload):
    dept = department(app, client, "market")
    body = {"subject": {"id_number": valid_id(seq=42), "name": "张三"}, **payload}
    r = client.post(CHECK, headers=dept, json=body)
    assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"
    assert client.get(CHECK, headers=dept).json == []


def test_unknown_person_gets_the_base_score_and_nothing_is_created(app, client, session):
    dept = department(app, client, "market")
    body = check(client, dept, valid_id(seq=43), purpose="bidding")
    assert (body["points"], body["level"], body["restricted"]) == (1000, "A", False)
    assert body["subject_known"] is False and body["negative_records"] == []
    assert session.execute(select(func.count(Subject.id))).scalar_one() == 0
    # The check itself is kept, so its feedback can be given.
    r = client.post(f"{CHECK}/{body['id']}/feedback", headers=dept, json={"action": "normal"})
    assert r.status_code == 200


def test_name_must_match_the_verified_or_reported_name(app, client):
    bound, unbound = valid_id(seq=44), valid_id(seq=45)
    dept = department(app, client, "market")
    resident(client, id_number=bound, name="张三")
    push(client, dept, {"type": "donation.blood", "id_number": unbound, "name": "李四",
                        "occurred_on": "2026-01-01"})
    r = client.post(CHECK, headers=dept, json={"subject": {"id_number": bound, "name": "张四"},
                                               "purpose": "inspection", "matter_ref": "J-1"})
    assert r.status_code == 422 and r.json["error_code"] == "NAME_MISMATCH"
    assert "name" in r.json["errors"]["json"]["subject"]
    check(client, dept, bound, name="张三")
    check(client, dept, bound, name="张　三")  # compared after normalisation
    # Before a verified binding, the name departments reported is the one held.
    r = client.post(CHECK, headers=dept, json={"subject": {"id_number": unbound, "name": "李小四"},
                                               "purpose": "inspection", "matter_ref": "J-2"})
    assert r.status_code == 422 and r.json["error_code"] == "NAME_MISMATCH"
    check(client, dept, unbound, name="李 四")


def test_restricted_person_cannot_be_fast_tracked(app, client):
    number = valid_id(seq=46)
    with frozen_at(TODAY):
        dept = department(app, client, "market")
        push(client, dept, {"type": "admin.penalty.serious", "id_number": number,
                            "decided_on": "2026-06-01"})
        body = check(client, dept, number, purpose="administrative_license")
        assert body["restricted"] is True and body["points"] == 900
        url = f"{CHECK}/{body['id']}/feedback"
        r = client.post(url, headers=dept, json={"action": "fast_track"})
        assert r.status_code == 409 and r.json["error_code"] == "FAST_TRACK_EXCLUDED"
        r = client.post(url, headers=dept, json={"action": "denied", "note": "联合惩戒"})
        assert r.status_code == 200


def overdue_checks(session, day, department_id=None):
    """The checks the credit office's dashboard counts as overdue on `day`."""
    return list(session.execute(missing_feedback_stmt(day, department_id)).scalars())


def test_checks_missing_feedback_after_ten_working_days(app, client, session):
    number = valid_id(seq=47)
    with frozen_at("2026-06-08"):  # a Monday; 2026-06-19 (端午节) is a holiday
        dept = department(app, client, "market")
        other = department(app, client, "tax")
        late = check(client, dept, number, matter_ref="A-1")
        answered = check(client, dept, number, matter_ref="A-2")
        elsewhere = check(client, other, number, matter_ref="T-1")
        assert late["feedback_due_on"] == "2026-06-23"  # ten working days, holiday skipped
        assert client.post(f"{CHECK}/{answered['id']}/feedback", headers=dept,
                           json={"action": "normal"}).status_code == 200
    with frozen_at("2026-06-09"):
        recent = check(client, dept, number, matter_ref="A-3")

    with frozen_at("2026-06-23"):  # the last day for feedback: nothing is overdue yet
        assert overdue_checks(session, dt.date(2026, 6, 23)) == []
        r = client.get(f"{CHECK}?overdue=true", headers=dept)
        assert r.status_code == 200 and r.json == []
        r = client.get(f"{CHECK}?missing_feedback=true", headers=dept)
        assert [c["id"] for c in r.json] == [recent["id"], late["id"]]
    with frozen_at("2026-06-24"):
        overdue = overdue_checks(session, dt.date(2026, 6, 24))
        assert sorted(c.id for c in overdue) == sorted([late["id"], elsewhere["id"]])
        assert [c.id for c in overdue_checks(session, dt.date(2026, 6, 24),
                                             overdue[0].department_id)] == [late["id"]]
        r = client.get(f"{CHECK}?overdue=true", headers=dept)
        assert [c["id"] for c in r.json] == [late["id"]]
        assert [c["id"] for c in client.get(CHECK, headers=dept).json] == [
            recent["id"], answered["id"], late["id"]]
        assert client.get(f"{CHECK}?missing_feedback=maybe", headers=dept).status_code == 422


def test_occupational_file_for_the_supervising_department(app, client, monkeypatch):
    teacher, lawyer = valid_id(seq=48), valid_id(seq=49)
    with frozen_at(TODAY):
        education = department(app, client, "education", ["occupation.license",
                                                          "occupation.discipline",
                                                          "occupation.commendation"])
        justice = department(app, client, "justice", [])
        push(client, education,
             {"type": "occupation.license", "id_number": teacher, "occurred_on": "2015-09-01",
              "details": {"occupation": "teacher", "license_no": "20154300000123"}},
             {"type": "occupation.discipline", "id_number": teacher,
              "decided_on": "2026-03-01"},
             {"type": "occupation.commendation", "id_number": teacher,
              "occurred_on": "2025-09-10"})
        body = check(client, education, teacher, purpose="commendation")
        file = body["occupational_file"]
        assert file["occupations"] == ["teacher"]
        assert file["licenses"] == [{"occupation": "teacher", "license_no": "20154300000123",
                                     "issued_on": "2015-09-01"}]
        assert [(d["decided_on"], d["counting"], d["points"]) for d in file["disciplines"]] == [
            ("2026-03-01", True, -30)]
        assert [(c["occurred_on"], c["counting"]) for c in file["commendations"]] == [
            ("2025-09-10", True)]
        assert "safety_code" not in file
        # The justice bureau does not supervise teachers.
        assert "occupational_file" not in check(client, justice, teacher)

        # A declared occupation counts too, even before any licence is on record.
        person = resident(client, id_number=lawyer, consents=())
        assert client.put("/v1/me/worker-profile", headers=person["headers"],
                          json={"occupation": "lawyer"}).status_code == 200
        file = check(client, justice, lawyer)["occupational_file"]
        assert file == {"occupations": ["lawyer"], "licenses": [], "disciplines": [],
                        "commendations": []}
        assert "occupational_file" not in check(client, education, lawyer)

        # The mapping is configuration.
        monkeypatch.setitem(app.config, "OCCUPATION_DEPARTMENTS", {"lawyer": ["education"]})
        assert "occupational_file" in check(client, education, lawyer)
        assert "occupational_file" not in check(client, justice, lawyer)


def test_housekeeping_file_carries_the_safety_code(app, client):
    number = valid_id(seq=50)
    with frozen_at(TODAY):
        commerce = department(app, client, "commerce", ["worker.identity_verified"])
        push(client, commerce, {"type": "worker.identity_verified", "id_number": number,
                                "occurred_on": "2026-01-01"})
        person = resident(client, id_number=number, consents=())
        client.put("/v1/me/worker-profile", headers=person["headers"],
                   json={"occupation": "housekeeping"})
        file = check(client, commerce, number, purpose="inspection")["occupational_file"]
        assert file["occupations"] == ["housekeeping"] and file["safety_code"] == "yellow"
