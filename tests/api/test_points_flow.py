"""Points over HTTP: golden cases end to end, records before binding, history,
end and revoke, windows ending with the passing of time."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.builders.clock import frozen_at
from tests.builders.departments import department, push
from tests.builders.residents import resident, signed_in, valid_id
from tests.builders.rules import GOLDEN

SAMPLE = ["volunteer-cap", "general-penalty-last-day", "defaulter-removed",
          "serious-penalty-leap-day", "mixed", "aaa", "floor"]


@pytest.mark.parametrize("name", SAMPLE)
def test_golden_case_through_the_api(app, client, name):
    case = next(c for c in GOLDEN["cases"] if c["name"] == name)
    number = valid_id(seq=SAMPLE.index(name) + 1)
    with frozen_at(case["as_of"]):
        dept = department(app, client)
        records = []
        for i, rec in enumerate(case["records"]):
            rec = dict(rec)
            if rec.pop("status", None) == "revoked":
                rec["revoke"] = True
            records.append({"source_ref": f"{name}-{i}", "id_number": number, **rec})
        to_revoke = [r.pop("revoke") and r["source_ref"] for r in records if "revoke" in r]
        repaired = {r["source_ref"]: r.pop("repaired_on") for r in records if "repaired_on" in r}
        push(client, dept, *records)
        for ref in to_revoke:
            assert client.post(f"/v1/dept/records/{ref}/revoke", headers=dept,
                               json={"reason": "wrong"}).status_code == 200
        for ref, day in repaired.items():
            # A repaired record stops counting on its repair date, like an end date.
            assert client.post(f"/v1/dept/records/{ref}/end", headers=dept,
                               json={"ended_on": day}).status_code == 200
        person = resident(client, id_number=number)
        body = client.get("/v1/me/points", headers=person["headers"]).json
    expected = case["expected"]
    assert (body["points"], body["level"], body["restricted"]) == (
        expected["points"], expected["level"], expected["restricted"])
    if body["points"] > 0:
        assert body["base"] + sum(i["points"] for i in body["items"]) == body["points"]


def test_records_pushed_before_binding_are_found_after(app, client):
    number = valid_id(seq=901)
    dept = department(app, client)
    push(client, dept, {"type": "donation.blood", "id_number": number, "occurred_on": "2026-05-01"})
    person = resident(client, id_number=number)
    body = client.get("/v1/me/points", headers=person["headers"]).json
    assert body["points"] == 1010
    assert body["items"][0]["type"] == "donation.blood"
    assert body["items"][0]["title"]
    records = client.get("/v1/me/records", headers=person["headers"]).json
    assert records[0]["status"] == "active" and records[0]["counted_until"] == "2028-05-01"


def test_points_update_at_once_and_history_says_why(app, client):
    number = valid_id(seq=902)
    person = resident(client, id_number=number)
    assert client.get("/v1/me/points", headers=person["headers"]).json["points"] == 1000
    dept = department(app, client, name="雨花区市场监督管理局")
    push(client, dept, {"source_ref": "p1", "type": "admin.penalty.general", "id_number": number,
                        "decided_on": "2026-11-20"})
    body = client.get("/v1/me/points", headers=person["headers"]).json
    assert body["points"] == 970
    records = client.get("/v1/me/records", headers=person["headers"]).json
    assert records[0]["class"] == "general"
    assert records[0]["repairable_from"] == "2027-02-20"
    assert client.post("/v1/dept/records/p1/revoke", headers=dept,
                       json={"reason": "issued to the wrong person"}).status_code == 200
    assert client.get("/v1/me/points", headers=person["headers"]).json["points"] == 1000
    history = client.get("/v1/me/points/history", headers=person["headers"]).json
    assert [h["points"] for h in history] == [1000, 970, 1000]
    assert "issued to the wrong person" in history[0]["reason"]
    assert "雨花区市场监督管理局" in history[1]["reason"]
    statuses = client.get("/v1/me/records", headers=person["headers"]).json
    assert statuses[0]["status"] == "revoked"


def test_end_record_and_errors(app, client):
    number = valid_id(seq=903)
    dept = department(app, client)
    push(client, dept, {"source_ref": "d1", "type": "court.defaulter", "id_number": number,
                        "decided_on": "2023-05-01"})
    person = resident(client, id_number=number)
    body = client.get("/v1/me/points", headers=person["headers"]).json
    assert body["points"] == 800 and body["restricted"] is True
    assert body["items"][0]["counted_until"] is None
    r = client.post("/v1/dept/records/d1/end", headers=dept, json={"ended_on": "2022-01-01"})
    assert r.status_code == 422
    r = client.post("/v1/dept/records/d1/end", headers=dept, json={"ended_on": "2026-10-01"})
    assert r.status_code == 200
    body = client.get("/v1/me/points", headers=person["headers"]).json
    assert body["points"] == 1000 and body["restricted"] is False
    assert client.get("/v1/me/records", headers=person["headers"]).json[0]["status"] == "ended"
    assert client.post("/v1/dept/records/nope/end", headers=dept,
                       json={"ended_on": "2026-10-01"}).status_code == 404
    other = department(app, client, code="civil")
    assert client.post("/v1/dept/records/d1/revoke", headers=other,
                       json={"reason": "x"}).status_code == 404


def test_window_ends_with_time_once_sweep_runs(app, client):
    """A record stops counting on its end date with no request touching it."""
    number = valid_id(seq=904)
    with frozen_at("2026-06-01"):
        dept = department(app, client)
        push(client, dept, {"type": "admin.penalty.general", "id_number": number,
                            "decided_on": "2025-12-01"})
        person = resident(client, id_number=number)
        assert client.get("/v1/me/points", headers=person["headers"]).json["points"] == 970
    runner = app.test_cli_runner()
    with frozen_at("2026-11-30"):
        result = runner.invoke(args=["points", "sweep"])
        assert result.exit_code == 0, result.output
        assert "recomputed 0" in result.output  # the window is still open on its last day
    with frozen_at("2026-12-01"):
        result = runner.invoke(args=["points", "sweep"])
        assert "recomputed 1" in result.output and "changed 1" in result.output
        from points.models import Score, ScoreHistory

        s = app.state.db.new_session()
        stored = s.query(Score).one()
        assert stored.points == 1000 and stored.as_of == dt.date(2026, 12, 1)
        latest = s.query(ScoreHistory).order_by(ScoreHistory.id.desc()).first()
        assert latest.points == 1000 and latest.cause == "time"
        s.close()


def test_read_refreshes_a_stale_score_before_the_sweep(app, client):
    number = valid_id(seq=905)
    with frozen_at("2026-06-01"):
        dept = department(app, client)
        push(client, dept, {"type": "admin.penalty.minor", "id_number": number,
                            "decided_on": "2026-05-01"})
        person = resident(client, id_number=number)
        assert client.get("/v1/me/points", headers=person["headers"]).json["points"] == 995
    with frozen_at("2026-08-01"):
        headers = signed_in(client, person["openid"])
        assert client.get("/v1/me/points", headers=headers).json["points"] == 1000


def test_rule_set_is_public(client):
    body = client.get("/v1/rule-sets/active").json
    assert body["code"] == "changsha-2020" and body["base"] == 1000
    codes = {t["code"] for t in body["record_types"]}
    assert {"volunteer.service", "court.defaulter", "worker.insurance"} <= codes
    general = next(t for t in body["record_types"] if t["code"] == "admin.penalty.general")
    assert general["points"] == -30 and general["class"] == "general" and general["basis"]
