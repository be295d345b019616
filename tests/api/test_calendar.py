"""The office's calendar (issue 19 part 7, contract v1.1 "the year's holiday
arrangement"): chinese-calendar knows nothing of 2027 and the computed fallback cannot
know the swapped working days; once the office enters the State Council's arrangement,
working days follow it and the open deadlines are computed again.

The arrangement used here swaps days around the 2027 Spring Festival (6 Feb): days off
Fri 5 to Fri 12 Feb, Sunday 31 Jan and Saturday 20 Feb worked. The computed fallback
has 5–10 Feb off and 11–12 Feb working, and no weekend working."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from points.office import workdays
from tests.builders.clock import at
from tests.builders.departments import admin_headers, department, push
from tests.builders.residents import apply, person
from tests.builders.servers import clean

CALENDAR = "/v1/admin/calendar/2027"
ARRANGEMENT = {
    "holidays": ["2027-01-01", *(f"2027-02-{d:02d}" for d in range(5, 13))],
    "workdays": ["2027-01-31", "2027-02-20"],
}


@pytest.fixture(autouse=True)
def _forget_the_arrangement(app):
    """Later tests (the unit tests of points/office/workdays.py among them) meet no 2027 entry."""
    yield
    clean(app)


def _day(calendar: dict, day: str) -> dict:
    return next(d for d in calendar["days"] if d["date"] == day)


def test_the_arrangement_decides_working_days_and_moves_open_deadlines(app, client):
    with time_machine.travel(at("2027-01-29"), tick=False):  # a Friday
        market = department(app, client, "market")
        zhang = person(client)
        records = push(client, market, *({"source_ref": f"cal-{i}", "type": "admin.penalty.general",
                                          "id_number": zhang["id_number"], "name": zhang["name"],
                                          "decided_on": "2026-10-01"} for i in range(3)))
        first, second, third = (a["record_id"] for a in records["accepted"])
        repair = apply(client, zhang, first)
        assert repair.status_code == 201, repair.json
        assert repair.json["decision_due_on"] == "2027-02-11"  # 1–4 Feb, then 11 Feb
    with time_machine.travel(at("2027-02-03"), tick=False):  # a Wednesday
        zhang["login"]()
        objection = client.post("/v1/me/objections", headers=zhang["headers"],
                                json={"record_id": second, "reason": "处罚对象错误"})
        assert objection.status_code == 201, objection.json
        assert objection.json["decision_due_on"] == "2027-02-16"
        decided = client.post("/v1/me/objections", headers=zhang["headers"],
                              json={"record_id": third, "reason": "金额有误"})
        r = client.post(f"/v1/dept/objections/{decided.json['id']}/decision", headers=market,
                        json={"upheld": False, "note": "核实无误"})
        assert r.status_code == 200, r.json
        check = client.post("/v1/dept/credit-checks", headers=market, json={
            "subject": {"id_number": zhang["id_number"], "name": zhang["name"]},
            "purpose": "administrative_license", "matter_ref": "XK-2027-1"})
        assert check.status_code == 201, check.json
        checks = client.get("/v1/dept/credit-checks", headers=market).json
        assert checks[0]["feedback_due_on"] == "2027-02-23"

        admin = admin_headers(app, client)
        before = client.get(CALENDAR, headers=admin)
        assert before.status_code == 200, before.json
        assert (before.json["source"], before.json["entered"]) == ("computed", None)
        assert _day(before.json, "2027-02-11") == {"date": "2027-02-11", "working": True,
                                                    "source": "computed"}
        assert before.json["workdays"] == []

        r = client.put(CALENDAR, headers=admin, json=ARRANGEMENT)
        assert r.status_code == 200, r.json
        assert r.json["deadlines_moved"] == {"repairs": 1, "objections": 1}
        assert r.json["source"] == "office"
        assert _day(r.json, "2027-02-11") == {"date": "2027-02-11", "working": False,
                                               "source": "office"}
        assert _day(r.json, "2027-01-31")["working"] is True
        assert r.json["workdays"] == ["2027-01-31", "2027-02-20"]
        assert "2027-02-12" in r.json["days_off"] and "2027-02-13" not in r.json["days_off"]
        assert r.json["entered"]["workdays"] == ARRANGEMENT["workdays"]
        assert len(r.json["days"]) == 365
        assert client.get(CALENDAR, headers=admin).json["days"] == r.json["days"]

        # Sunday 31 Jan is worked: the repair is due earlier; 11-12 Feb are off: later.
        repairs = client.get("/v1/me/repairs", headers=zhang["headers"]).json
        assert repairs[0]["decision_due_on"] == "2027-02-04"
        objections = {o["id"]: o for o in client.get("/v1/me/objections",
                                                      headers=zhang["headers"]).json}
        assert objections[objection.json["id"]]["decision_due_on"] == "2027-02-18"
        assert objections[decided.json["id"]]["decision_due_on"] == "2027-02-16"  # decided
        checks = client.get("/v1/dept/credit-checks", headers=market).json
        assert checks[0]["feedback_due_on"] == "2027-02-24"  # Saturday 20 Feb worked
        assert workdays.source_of(dt.date(2027, 2, 11)) == "office"

        # the same arrangement again moves nothing
        again = client.put(CALENDAR, headers=admin, json=ARRANGEMENT)
        assert again.status_code == 200 and again.json["deadlines_moved"] == {
            "repairs": 0, "objections": 0}


def test_a_year_the_package_knows_says_so(app, client):
    admin = admin_headers(app, client)
    r = client.get("/v1/admin/calendar/2026", headers=admin)
    assert r.status_code == 200, r.json
    assert r.json["source"] == "package"
    assert _day(r.json, "2026-10-01") == {"date": "2026-10-01", "working": False,
                                           "source": "package"}


def test_an_arrangement_that_cannot_be_is_refused(app, client):
    admin = admin_headers(app, client)
    for body, field in (
            ({"holidays": ["2027-02-05"], "workdays": ["2027-02-17"]}, "workdays"),  # a Wed
            ({"holidays": ["2026-12-31"], "workdays": []}, "holidays"),
            ({"holidays": ["2027-02-06"], "workdays": ["2027-02-06"]}, "workdays"),
            ({"holidays": [], "workdays": []}, "holidays")):
        r = client.put(CALENDAR, headers=admin, json=body)
        assert r.status_code == 422 and field in r.json["errors"]["json"], (body, r.json)
    r = client.put("/v1/admin/calendar/1999", headers=admin, json=ARRANGEMENT)
    assert r.status_code == 422, r.json
    assert client.get(CALENDAR, headers=admin).json["entered"] is None  # nothing stored


def test_an_arrangement_rolled_back_is_not_used():
    """The process that enters an arrangement uses it at once; after the transaction it
    reads what is stored again (here: nothing, as after a rollback)."""
    day = dt.date(2027, 2, 11)
    assert workdays.is_working_day(day)
    workdays.use(2027, [day], [])
    assert not workdays.is_working_day(day)
    assert workdays.source_of(day) == "office"
    workdays.invalidate()
    assert workdays.is_working_day(day)
