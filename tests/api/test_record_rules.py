"""Record handling held to the rule set's text (rules-changsha-2020.md), where the
points formula is not involved: which records may end early (§4, §5), which must
arrive on time (§8), and what may never be collected (§4, 征信业管理条例 Art. 14)."""
from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import select

from points.infra.db import SHANGHAI
from points.models import CreditRecord
from points.rules.engine import RecordFacts, compute, window
from points.rules.rulesets import default_rule_set
from tests.builders.departments import admin_headers, department, push
from tests.builders.residents import resident, valid_id


def _at(day: str):
    return time_machine.travel(
        dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=SHANGHAI), tick=False)


def _late_flags(session) -> dict[str, bool]:
    return dict(session.execute(select(CreditRecord.source_ref, CreditRecord.late)).all())


def _quality_row(app, client, day: str) -> dict:
    """The quality report's row, for that day, of the department that pushed."""
    report = client.get(f"/v1/admin/quality-report?from={day}&to={day}",
                        headers=admin_headers(app, client)).json
    return next(r for r in report if r["received"])


def _problems(body: dict) -> list[tuple[str, str]]:
    return [(p["dimension"], p["field"]) for r in body["rejected"] for p in r["problems"]]


# -- §4/§5: only a negative record's window ends early --------------------------------

def test_a_positive_records_window_is_not_cut_by_an_end_date():
    """A positive record stored with an end date (before ingestion refused them)
    still counts for its whole window: occurred_on + valid_months."""
    rules = default_rule_set()
    blood = RecordFacts(id=1, type="donation.blood", occurred_on=dt.date(2026, 1, 1),
                        ended_on=dt.date(2026, 2, 1))
    assert window(blood, rules) == (dt.date(2026, 1, 1), dt.date(2028, 1, 1))
    assert compute([blood], rules, dt.date(2026, 3, 1)).points == 1010
    penalty = RecordFacts(id=2, type="admin.penalty.general", decided_on=dt.date(2026, 1, 1),
                          ended_on=dt.date(2026, 2, 1))
    assert window(penalty, rules) == (dt.date(2026, 1, 1), dt.date(2026, 2, 1))


def test_an_end_date_on_a_positive_record_is_refused(app, client):
    dept = department(app, client)
    number = valid_id(seq=611)
    body = push(client, dept,
                {"source_ref": "blood-1", "type": "donation.blood", "id_number": number,
                 "occurred_on": "2026-01-01", "ended_on": "2026-02-01"},
                {"source_ref": "pen-1", "type": "admin.penalty.minor", "id_number": number,
                 "decided_on": "2026-11-02", "ended_on": "2026-11-20"},
                expect_rejected=1)
    assert body["rejected"][0]["source_ref"] == "blood-1"
    assert _problems(body) == [("validity", "ended_on")]
    assert [a["source_ref"] for a in body["accepted"]] == ["pen-1"]


def test_a_department_cannot_end_a_positive_record(app, client, session):
    with _at("2026-11-30"):
        dept = department(app, client)
        number = valid_id(seq=612)
        push(client, dept, {"source_ref": "honour-1", "type": "honour.city", "id_number": number,
                            "occurred_on": "2026-01-01"},
             {"source_ref": "pen-1", "type": "admin.penalty.general", "id_number": number,
              "decided_on": "2026-06-01"})
        person = resident(client, id_number=number)
        before = client.get("/v1/me/points", headers=person["headers"]).json["points"]
        assert before == 1000 + 20 - 30

        r = client.post("/v1/dept/records/honour-1/end", headers=dept, json={"ended_on": "2026-02-01"})
        assert r.status_code == 409 and r.json["error_code"] == "RECORD_NOT_ENDABLE", r.json
        record = session.execute(select(CreditRecord).where(
            CreditRecord.source_ref == "honour-1")).scalar_one()
        assert record.ended_on is None and record.version == 1
        assert client.get("/v1/me/points", headers=person["headers"]).json["points"] == before

        r = client.post("/v1/dept/records/pen-1/end", headers=dept, json={"ended_on": "2026-11-01"})
        assert r.status_code == 200, r.json
        assert client.get("/v1/me/points", headers=person["headers"]).json["points"] == 1020


# -- §8: the 7-working-day deadline is for administrative penalties -------------------

def test_only_administrative_penalties_are_flagged_late(app, client, session):
    dept = department(app, client)
    number = valid_id(seq=613)
    with _at("2026-10-13"):  # 7 working days after 2026-09-25 end on 2026-10-12 (National Day)
        body = push(client, dept, *(
            {"source_ref": ref, "type": type_, "id_number": number, "decided_on": "2026-09-25"}
            for ref, type_ in (("court", "court.defaulter"), ("tax", "tax.major_violation"),
                               ("breach", "commitment.breached"),
                               ("penalty", "admin.penalty.general"))))
    assert {a["source_ref"]: a["result"] for a in body["accepted"]} == dict.fromkeys(
        ("court", "tax", "breach", "penalty"), "created")
    late = _late_flags(session)
    assert late == {"court": False, "tax": False, "breach": False, "penalty": True}
    row = _quality_row(app, client, "2026-10-13")
    assert (row["accepted"], row["late"]) == (4, 1)


def test_a_penalty_on_the_last_working_day_is_on_time(app, client, session):
    dept = department(app, client)
    with _at("2026-10-12"):
        push(client, dept, {"source_ref": "p", "type": "admin.penalty.minor",
                            "id_number": valid_id(seq=614), "decided_on": "2026-09-25"})
    assert session.execute(select(CreditRecord.late)).scalar_one() is False


def test_a_correction_is_judged_by_when_the_record_first_arrived(app, client, session):
    """An on-time penalty corrected months later stays on time; a late one corrected
    stays late. Either way the correction's batch counts no late arrival: a late
    record counts once, in the quality report of the batch it first arrived in."""
    dept = department(app, client)
    number = valid_id(seq=615)
    with _at("2026-03-03"):
        push(client, dept,
             {"source_ref": "on-time", "type": "admin.penalty.general", "id_number": number,
              "decided_on": "2026-03-02"},
             {"source_ref": "late", "type": "admin.penalty.general", "id_number": number,
              "decided_on": "2026-01-05"})
    with _at("2026-06-01"):
        body = push(client, dept,
                    {"source_ref": "on-time", "type": "admin.penalty.general",
                     "id_number": number, "decided_on": "2026-03-02",
                     "details": {"document": "长市监罚〔2026〕12号"}},
                    {"source_ref": "late", "type": "admin.penalty.general", "id_number": number,
                     "decided_on": "2026-01-05", "details": {"document": "更正"}})
    assert [a["result"] for a in body["accepted"]] == ["updated", "updated"]
    late = _late_flags(session)
    assert late == {"on-time": False, "late": True}
    row = _quality_row(app, client, "2026-06-01")
    assert (row["received"], row["late"]) == (2, 0)


# -- §4 and 征信业管理条例 Art. 14: no health data ---------------------------------------

def test_health_data_is_never_collected(app, client, session):
    dept = department(app, client)
    number = valid_id(seq=616)
    body = push(client, dept,
                {"source_ref": "blood-typed", "type": "donation.blood", "id_number": number,
                 "occurred_on": "2026-05-01", "details": {"blood_type": "O", "rh": "+"}},
                {"source_ref": "cert-diagnosis", "type": "worker.health_certificate",
                 "id_number": number, "details": {"valid_until": "2027-05-01",
                                                  "diagnosis": "乙肝携带"}},
                {"source_ref": "stem", "type": "donation.stem_cell", "id_number": number,
                 "occurred_on": "2026-05-01", "details": {"hla": "A*02"}},
                {"source_ref": "blood", "type": "donation.blood", "id_number": number,
                 "occurred_on": "2026-05-01"},
                {"source_ref": "cert", "type": "worker.health_certificate", "id_number": number,
                 "details": {"valid_until": "2027-05-01"}},
                expect_rejected=3)
    assert {r["source_ref"]: [p["field"] for p in r["problems"]] for r in body["rejected"]} == {
        "blood-typed": ["details.blood_type", "details.rh"],
        "cert-diagnosis": ["details.diagnosis"],
        "stem": ["details.hla"]}
    assert all(p["dimension"] == "validity" and "第十四条" in p["message"]
               for r in body["rejected"] for p in r["problems"])
    stored = dict(session.execute(select(CreditRecord.source_ref, CreditRecord.details)).all())
    assert stored == {"blood": {}, "cert": {"valid_until": "2027-05-01"}}
    # Nor is it kept in the quality issue returned to the department.
    issues = client.get("/v1/dept/quality-issues?status=open", headers=dept).json
    assert "乙肝" not in str(issues) and "A*02" not in str(issues)


# -- §1: subjects are persons aged 18 or more -----------------------------------------

def test_no_record_is_kept_about_a_minor(app, client, session):
    from points.models import QualityIssue, Subject

    dept = department(app, client)
    minor = valid_id(birth="20090105", seq=617)  # 18 on 5 January 2027
    record = {"source_ref": "teen", "type": "admin.penalty.serious", "id_number": minor,
              "decided_on": "2026-11-02"}
    with _at("2026-11-30"):
        body = push(client, dept, record, expect_rejected=1)
    assert _problems(body) == [("validity", "subject.id_number")]
    assert "未满 18 周岁" in body["rejected"][0]["problems"][0]["message"]
    assert session.execute(select(Subject)).scalars().all() == []
    assert session.execute(select(CreditRecord)).scalars().all() == []
    assert session.execute(select(QualityIssue.source_ref)).scalars().all() == ["teen"]
    with _at("2027-01-05"):  # an adult from the birthday on
        body = push(client, dept, record)
    assert [a["result"] for a in body["accepted"]] == ["created"]


def test_a_correction_to_another_person_restores_the_first_persons_points(app, client):
    """A department corrects a record sent about the wrong person: both people's points
    are recomputed at once, the first one's without the record."""
    with _at("2026-11-30"):
        dept = department(app, client)
        wrong, right = valid_id(seq=618), valid_id(seq=619)
        record = {"source_ref": "mixup", "type": "admin.penalty.general",
                  "decided_on": "2026-11-02"}
        push(client, dept, {**record, "id_number": wrong})
        first = resident(client, id_number=wrong)
        assert client.get("/v1/me/points", headers=first["headers"]).json["points"] == 970
        body = push(client, dept, {**record, "id_number": right, "name": "李四"})
        assert [a["result"] for a in body["accepted"]] == ["updated"]
        assert client.get("/v1/me/points", headers=first["headers"]).json["points"] == 1000
        second = resident(client, id_number=right, name="李四")
        assert client.get("/v1/me/points", headers=second["headers"]).json["points"] == 970


def test_a_capped_record_appears_in_the_explanation_at_once(app, client):
    """A fourth blood donation adds nothing above the category's cap of 30, so the
    points do not move; the explanation still lists it as soon as it is pushed."""
    with _at("2026-11-30"):
        dept = department(app, client)
        number = valid_id(seq=620)
        person = resident(client, id_number=number)
        for month in (1, 3, 5):
            push(client, dept, {"source_ref": f"blood-{month}", "type": "donation.blood",
                                "id_number": number, "occurred_on": f"2026-{month:02d}-10"})
        before = client.get("/v1/me/points", headers=person["headers"]).json
        assert before["points"] == 1030 and len(before["items"]) == 3
        push(client, dept, {"source_ref": "blood-7", "type": "donation.blood",
                            "id_number": number, "occurred_on": "2026-07-10"})
        after = client.get("/v1/me/points", headers=person["headers"]).json
        assert after["points"] == 1030
        assert sorted(i["counted_from"] for i in after["items"]) == [
            "2026-01-10", "2026-03-10", "2026-05-10", "2026-07-10"]


def test_a_correction_that_leaves_the_points_unmoved_updates_the_explanation(app, client):
    """Same date, same points, another type: only the explanation changes, and the
    resident sees it at once."""
    with _at("2026-11-30"):
        dept = department(app, client)
        number = valid_id(seq=621)
        person = resident(client, id_number=number)
        record = {"source_ref": "r", "id_number": number, "decided_on": "2026-11-02"}
        push(client, dept, {**record, "type": "admin.penalty.general"})
        before = client.get("/v1/me/points", headers=person["headers"]).json
        assert [(i["type"], i["points"]) for i in before["items"]] == [
            ("admin.penalty.general", -30)]
        body = push(client, dept, {**record, "type": "occupation.discipline"})
        assert [a["result"] for a in body["accepted"]] == ["updated"]
        after = client.get("/v1/me/points", headers=person["headers"]).json
        assert after["points"] == before["points"] == 970
        assert [(i["type"], i["points"]) for i in after["items"]] == [
            ("occupation.discipline", -30)]


def test_an_end_date_stored_on_a_positive_record_before_is_not_shown_as_ended(
        app, client, session):
    with _at("2026-11-30"):
        dept = department(app, client)
        number = valid_id(seq=622)
        push(client, dept, {"source_ref": "b", "type": "donation.blood", "id_number": number,
                            "occurred_on": "2026-01-01"})
        stored = session.execute(select(CreditRecord)).scalar_one()
        stored.ended_on = dt.date(2026, 2, 1)  # as ingestion accepted it before
        session.commit()
        person = resident(client, id_number=number)
        [shown] = client.get("/v1/me/records", headers=person["headers"]).json
        assert (shown["status"], shown["counting"], shown["counted_until"]) == (
            "active", True, "2028-01-01")
