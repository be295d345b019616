"""Corrections held to what the department sent (issue 19, parts 1–3): a resend keeps
every optional field it omits, a revoked record is not corrected, and an accepted
resend closes the quality issue it fixes."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from points.infra.db import SHANGHAI
from points.models import CreditRecord, QualityIssue
from tests.builders.departments import department, push
from tests.builders.residents import resident, valid_id


def _at(day: str):
    return time_machine.travel(
        dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=SHANGHAI), tick=False)


def _points(client, person) -> int:
    return client.get("/v1/me/points", headers=person["headers"]).json["points"]


DEFAULTER = {"source_ref": "court-1", "type": "court.defaulter", "decided_on": "2026-03-02"}


# -- part 1: a correction keeps what the department did not change --------------------

def test_a_resend_without_ended_on_keeps_the_end_set_through_the_endpoint(app, client, session):
    """A court defaulter ended through …/end and later resent with another change stays
    ended (1000, not 800); only an explicit null clears the end."""
    with _at("2026-11-30"):
        court = department(app, client, code="court")
        number = valid_id(seq=701)
        push(client, court, {**DEFAULTER, "id_number": number})
        person = resident(client, id_number=number)
        assert _points(client, person) == 800
        r = client.post("/v1/dept/records/court-1/end", headers=court,
                        json={"ended_on": "2026-10-01"})
        assert r.status_code == 200, r.json
        assert _points(client, person) == 1000

        # the same content again: nothing changes
        body = push(client, court, {**DEFAULTER, "id_number": number})
        assert [a["result"] for a in body["accepted"]] == ["unchanged"]
        # another change, ended_on omitted: the end stays
        body = push(client, court, {**DEFAULTER, "id_number": number,
                                    "details": {"case_no": "(2026)湘0104执123号"}})
        assert [a["result"] for a in body["accepted"]] == ["updated"]
        record = session.execute(select(CreditRecord)).scalar_one()
        assert record.ended_on == dt.date(2026, 10, 1)
        assert record.details == {"case_no": "(2026)湘0104执123号"}
        assert _points(client, person) == 1000

        # details omitted too: both kept, nothing to correct
        body = push(client, court, {**DEFAULTER, "id_number": number})
        assert [a["result"] for a in body["accepted"]] == ["unchanged"]

        # an explicit null clears the end: the listing counts again
        body = push(client, court, {**DEFAULTER, "id_number": number, "ended_on": None})
        assert [a["result"] for a in body["accepted"]] == ["updated"]
        session.expire_all()
        record = session.execute(select(CreditRecord)).scalar_one()
        assert record.ended_on is None
        assert record.details == {"case_no": "(2026)湘0104执123号"}
        assert _points(client, person) == 800


def test_omitted_dates_are_kept_and_checked_as_stored(app, client, session):
    """A resend that omits decided_on keeps it; the kept value is checked with the
    new ones (an occurred_on after the kept decision is refused)."""
    with _at("2026-11-30"):
        dept = department(app, client)
        number = valid_id(seq=702)
        push(client, dept, {"source_ref": "pen-1", "type": "admin.penalty.general",
                            "id_number": number, "occurred_on": "2026-05-01",
                            "decided_on": "2026-06-01"})
        body = push(client, dept, {"source_ref": "pen-1", "type": "admin.penalty.general",
                                   "id_number": number, "occurred_on": "2026-05-20"})
        assert [a["result"] for a in body["accepted"]] == ["updated"]
        record = session.execute(select(CreditRecord)).scalar_one()
        assert (record.occurred_on, record.decided_on) == (dt.date(2026, 5, 20),
                                                           dt.date(2026, 6, 1))
        body = push(client, dept, {"source_ref": "pen-1", "type": "admin.penalty.general",
                                   "id_number": number, "occurred_on": "2026-07-01"},
                    expect_rejected=1)
        assert [(p["dimension"], p["field"]) for p in body["rejected"][0]["problems"]] == [
            ("accuracy", "decided_on")]


FULL = {"source_ref": "pen-9", "type": "admin.penalty.general", "occurred_on": "2026-05-01",
        "decided_on": "2026-06-01", "ended_on": "2026-10-01",
        "details": {"document_no": "长市监罚〔2026〕9号"}}
CHANGED = {"occurred_on": "2026-05-02", "decided_on": "2026-06-02", "ended_on": "2026-10-02",
           "details": {"document_no": "长市监罚〔2026〕10号"}}


@pytest.mark.parametrize("omitted", ["occurred_on", "decided_on", "ended_on", "details"])
def test_every_optional_field_omitted_from_a_correction_is_kept(app, client, session,
                                                                 omitted):
    """Whichever optional field a correction omits keeps its stored value, while the
    fields it sends are changed."""
    with _at("2026-11-30"):
        dept = department(app, client)
        number = valid_id(seq=705)
        push(client, dept, {**FULL, "id_number": number})
        resend = {**FULL, **CHANGED, "id_number": number}
        del resend[omitted]
        body = push(client, dept, resend)
        assert [a["result"] for a in body["accepted"]] == ["updated"]
        record = session.execute(select(CreditRecord)).scalar_one()
        stored = {"occurred_on": record.occurred_on.isoformat(),
                  "decided_on": record.decided_on.isoformat(),
                  "ended_on": record.ended_on.isoformat(), "details": record.details}
        assert stored == {**CHANGED, omitted: FULL[omitted]}


# -- part 2: a revoked record is not corrected ----------------------------------------

def test_a_correction_to_a_revoked_record_is_returned_to_the_department(app, client, session):
    with _at("2026-11-30"):
        dept = department(app, client)
        number = valid_id(seq=703)
        record = {"source_ref": "pen-2", "type": "admin.penalty.general", "id_number": number,
                  "decided_on": "2026-06-01"}
        push(client, dept, record)
        person = resident(client, id_number=number)
        r = client.post("/v1/dept/records/pen-2/revoke", headers=dept,
                        json={"reason": "wrong person"})
        assert r.status_code == 200, r.json
        assert _points(client, person) == 1000

        # an identical resend (a retried batch) is still unchanged
        body = push(client, dept, record)
        assert [a["result"] for a in body["accepted"]] == ["unchanged"]
        # a changed one is a problem returned, not a silent "updated"
        body = push(client, dept, {**record, "decided_on": "2026-07-01"}, expect_rejected=1)
        problem = body["rejected"][0]["problems"][0]
        assert (problem["dimension"], problem["field"]) == ("validity", "source_ref")
        assert "已撤销" in problem["message"]  # the problems speak Chinese by default
        stored = session.execute(select(CreditRecord)).scalar_one()
        assert (stored.status, stored.decided_on, stored.version) == (
            "revoked", dt.date(2026, 6, 1), 2)
        issues = client.get("/v1/dept/quality-issues?status=open", headers=dept).json
        assert [i["source_ref"] for i in issues] == ["pen-2"]
        assert _points(client, person) == 1000


# -- part 3: a corrected resend closes the issue it fixes -----------------------------

def test_a_corrected_resend_closes_the_quality_issue(app, client, session):
    with _at("2026-11-30"):
        dept = department(app, client)
        other = department(app, client, code="tax")
        number = valid_id(seq=704)
        bad = {"source_ref": "pen-3", "type": "admin.penalty.general", "id_number": number,
               "decided_on": "2026-12-01"}  # in the future
        push(client, dept, bad, {**bad, "source_ref": "pen-4"}, expect_rejected=2)
        push(client, other, {**bad, "source_ref": "pen-3"}, expect_rejected=1)
        open_refs = [i["source_ref"] for i in
                     client.get("/v1/dept/quality-issues?status=open", headers=dept).json]
        assert sorted(open_refs) == ["pen-3", "pen-4"]

        body = push(client, dept, {**bad, "decided_on": "2026-11-02"})
        assert [a["result"] for a in body["accepted"]] == ["created"]
        still_open = client.get("/v1/dept/quality-issues?status=open", headers=dept).json
        assert [i["source_ref"] for i in still_open] == ["pen-4"]
        closed = session.execute(select(QualityIssue).where(
            QualityIssue.source_ref == "pen-3",
            QualityIssue.status == "resolved")).scalar_one()
        assert closed.resolved_at is not None and "corrected" in closed.resolution_note
        # another department's issue with the same source_ref is its own
        assert [i["source_ref"] for i in client.get(
            "/v1/dept/quality-issues?status=open", headers=other).json] == ["pen-3"]
