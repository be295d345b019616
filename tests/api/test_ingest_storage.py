"""What a pushed batch leaves in the database, column by column: the bulk paths
(one JSON recordset and `= ANY(array)` look-ups on PostgreSQL, executemany and IN
lists on SQLite) must store and find exactly the same things."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from points.models import CreditRecord, QualityIssue, Subject
from tests.builders.departments import department
from tests.builders.residents import resident, valid_id


@pytest.fixture
def dept(app, client):
    return department(app, client, record_types=["admin.penalty.general", "volunteer.service"])


def post(client, dept, records):
    r = client.post("/v1/dept/records", headers=dept, json={"records": records})
    assert r.status_code == 200, r.json
    return r.json


def test_every_column_is_stored_as_sent(app, client, dept, session):
    number = valid_id(seq=31)
    details = {"hours": 12, "note": "社区服务 \"quoted\" \\ 'x'", "nested": {"a": [1, 2.5, None]}}
    result = post(client, dept, [
        {"source_ref": "v-1", "subject": {"id_number": number.lower(), "name": " 王五 "},
         "type": "volunteer.service", "occurred_on": "2026-06-01", "details": details},
        {"source_ref": "p-1", "subject": {"id_number": number, "name": "王五"},
         "type": "admin.penalty.general", "decided_on": "2026-01-05",
         "occurred_on": "2026-01-02", "ended_on": "2026-03-01"},
    ])
    assert result["rejected"] == []
    assert [a["result"] for a in result["accepted"]] == ["created", "created"]
    cipher = app.state.cipher
    subject = session.execute(select(Subject)).scalar_one()
    assert subject.id_hash == cipher.lookup_hash(number)
    assert cipher.decrypt(subject.id_number_enc) == number
    assert cipher.decrypt(subject.name_enc) == "王五"
    assert subject.created_at.tzinfo is not None

    rows = {r.source_ref: r for r in session.execute(select(CreditRecord)).scalars()}
    ids = {a["source_ref"]: a["record_id"] for a in result["accepted"]}
    assert {ref: row.id for ref, row in rows.items()} == ids
    volunteer, penalty = rows["v-1"], rows["p-1"]
    assert (volunteer.type, volunteer.occurred_on, volunteer.decided_on, volunteer.ended_on) == (
        "volunteer.service", dt.date(2026, 6, 1), None, None)
    assert volunteer.details == details
    assert (penalty.occurred_on, penalty.decided_on, penalty.ended_on) == (
        dt.date(2026, 1, 2), dt.date(2026, 1, 5), dt.date(2026, 3, 1))
    assert penalty.details == {}
    assert penalty.late is True and volunteer.late is False  # decided long ago
    for row in rows.values():
        assert row.subject_id == subject.id and row.status == "active"
        assert row.version == 1 and row.disputed is False and row.repaired_on is None
        assert row.received_at == row.updated_at and row.received_at.tzinfo is not None
    # the stored digest is the one a resend is compared with: unchanged, not corrected
    again = post(client, dept, [{"source_ref": "v-1", "subject": {"id_number": number,
                                                                  "name": "王五"},
                                 "type": "volunteer.service", "occurred_on": "2026-06-01",
                                 "details": details}])
    assert again["accepted"] == [{**result["accepted"][0], "result": "unchanged"}]


def test_a_full_batch_finds_old_subjects_and_bound_names(app, client, dept, session):
    """1000 records over 600 people, some known from an earlier batch, one with a name
    bound by the resident: every record lands on its own subject (the look-ups span
    more values than one SQLite IN chunk), and only the wrong name is refused."""
    numbers = [valid_id(birth=f"19{50 + i // 12 % 50:02d}{1 + i % 12:02d}01", seq=i % 997)
               for i in range(600)]
    assert len(set(numbers)) == 600
    bound = numbers[350]
    resident(client, id_number=bound, name="赵六")
    post(client, dept, [{"source_ref": f"old-{i}", "subject": {"id_number": numbers[i],
                                                                "name": "张三"},
                         "type": "volunteer.service", "occurred_on": "2026-05-01",
                         "details": {"hours": 2}} for i in range(0, 600, 3)])
    records = [{"source_ref": f"r-{i}", "subject": {"id_number": numbers[i % 600],
                                                    "name": "赵六" if i == 350 else "张三"},
                "type": "admin.penalty.general", "decided_on": "2026-11-25"}
               for i in range(1000)]
    result = post(client, dept, records)
    assert [r["index"] for r in result["rejected"]] == [950]  # 350's number, not 赵六
    assert {p["message"] for r in result["rejected"] for p in r["problems"]} == {
        "与该身份证号绑定的姓名不一致"}
    assert len(result["accepted"]) == 999
    cipher = app.state.cipher
    subject_by_hash = dict(session.execute(select(Subject.id_hash, Subject.id)).all())
    assert len(subject_by_hash) == 600
    stored = dict(session.execute(select(CreditRecord.source_ref, CreditRecord.subject_id)
                                  .where(CreditRecord.source_ref.like("r-%"))).all())
    assert stored == {f"r-{i}": subject_by_hash[cipher.lookup_hash(numbers[i % 600])]
                      for i in range(1000) if i != 950}
    issue = session.execute(select(QualityIssue)).scalar_one()
    assert issue.source_ref == "r-950" and issue.dimensions == ["accuracy"]


def test_resending_a_full_batch_changes_nothing(client, dept, session):
    records = [{"source_ref": f"s-{i}", "subject": {"id_number": valid_id(seq=i % 900),
                                                    "name": "张三"},
                "type": "admin.penalty.general", "decided_on": "2026-11-25"}
               for i in range(1000)]
    first = post(client, dept, records)
    records[700] = {**records[700], "decided_on": "2026-11-24"}
    second = post(client, dept, records)
    assert [a["record_id"] for a in second["accepted"]] == [
        a["record_id"] for a in first["accepted"]]
    assert [a["result"] for a in second["accepted"]] == (
        ["unchanged"] * 700 + ["updated"] + ["unchanged"] * 299)
    assert session.query(CreditRecord).count() == 1000


def test_bulk_insert_keeps_every_row_and_value(client, dept, session):
    """`_insert_rows` sends a column holding one value in every row only once: rows
    alike in all plain columns must still all be stored, JSON values that == would
    confuse (1 and true) kept apart, and a single row stored as given."""
    from points.infra.db import utcnow
    from points.models import Department, IngestBatch
    from points.recordkeeping.ingestion import _insert_params, _insert_rows

    department_id = session.execute(select(Department.id)).scalar_one()
    batch = IngestBatch(department_id=department_id, received=0, accepted=0, rejected=0,
                        late=0, received_at=utcnow())
    session.add(batch)
    session.flush()
    now = utcnow()
    alike = {"department_id": department_id, "batch_id": batch.id, "source_ref": "same",
             "record_type": None, "dimensions": ["validity"], "status": "open",
             "created_at": now}
    rows = [{**alike, "problems": [{"n": value}]} for value in (1, True, 1.5)]
    session.connection().execute(_insert_rows(session, QualityIssue, rows),
                                 _insert_params(session, rows))
    lone = [{"id_hash": "h" * 64, "id_number_enc": "enc", "name_enc": None, "created_at": now}]
    session.connection().execute(_insert_rows(session, Subject, lone),
                                 _insert_params(session, lone))
    stored = session.execute(select(QualityIssue).order_by(QualityIssue.id)).scalars().all()
    assert [(i.problems, type(i.problems[0]["n"])) for i in stored] == [
        ([{"n": 1}], int), ([{"n": True}], bool), ([{"n": 1.5}], float)]
    assert {(i.source_ref, i.status, i.created_at, tuple(i.dimensions)) for i in stored} == {
        ("same", "open", now, ("validity",))}
    subject = session.execute(select(Subject)).scalar_one()
    assert (subject.id_hash, subject.id_number_enc, subject.name_enc, subject.created_at) == (
        "h" * 64, "enc", None, now)


def test_bulk_insert_refuses_naive_timestamps_like_the_column_type(session):
    """Timestamps inside the PostgreSQL JSON skip UTCDateTime's bind processing; the
    JSON encoder refuses a naive one just as the column type does on SQLite."""
    from sqlalchemy.exc import StatementError

    from points.recordkeeping.ingestion import _insert_params, _insert_rows

    rows = [{"id_hash": f"{i}" * 64, "id_number_enc": "enc", "name_enc": None,
             "created_at": dt.datetime(2026, 1, 1, i)} for i in range(2)]
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        session.connection().execute(_insert_rows(session, Subject, rows),
                                     _insert_params(session, rows))
