"""The credit office's console pages: departments and keys, merchants, rule sets
(problems named, diff, preview job, activation job), calendar, quality downloads,
audit log, dashboard."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.builders.console import ADMIN_PASSWORD, make_admin, sign_in, token
from tests.builders.departments import department, push
from tests.builders.residents import resident, valid_id
from tests.builders.servers import run_jobs

SHIPPED = Path(__file__).resolve().parents[2] / "points" / "rules" / "changsha-2020.toml"


@pytest.fixture
def office(app, client):
    make_admin(app)
    sign_in(client, "officer", ADMIN_PASSWORD)
    return client


def test_a_department_is_created_its_key_shown_once_and_rotated(app, office):
    r = office.post("/console/office/departments", data={
        "code": "housing", "name": "雨花区住建局", "record_types": ["volunteer.service"],
        "csrf_token": token(office)})
    key = re.search(r'id="secret">([^<]+)<', r.get_data(as_text=True)).group(1)
    assert app.test_client().get("/v1/dept/quality-issues",
                                 headers={"X-API-Key": key}).status_code == 200
    r = office.post("/console/office/departments/housing/key", data={"csrf_token": token(office)})
    new_key = re.search(r'id="secret">([^<]+)<', r.get_data(as_text=True)).group(1)
    assert new_key != key
    assert app.test_client().get("/v1/dept/quality-issues",
                                 headers={"X-API-Key": key}).status_code == 401
    r = office.post("/console/office/departments", data={
        "code": "housing", "name": "重名", "csrf_token": token(office)}, follow_redirects=True)
    assert "已有同一编码的部门" in r.get_data(as_text=True)
    audit = office.get("/console/office/audit?target_type=department&action=department.")
    assert "department.key_rotated" in audit.get_data(as_text=True)


def test_a_rule_set_with_errors_is_named_then_a_good_one_previewed_and_activated(app, office):
    broken = SHIPPED.read_text(encoding="utf-8").replace(
        'code = "changsha-2020"', 'code = "broken-2027"', 1).replace("base = ", "base_typo = ", 1)
    r = office.post("/console/office/rule-sets", data={"content": broken,
                                                      "csrf_token": token(office)})
    assert r.status_code == 422
    assert 'id="rule-problems"' in r.get_data(as_text=True)
    good = SHIPPED.read_text(encoding="utf-8").replace(
        'code = "changsha-2020"', 'code = "yuhua-2027"', 1)
    r = office.post("/console/office/rule-sets", data={
        "file": (io.BytesIO(good.encode()), "yuhua-2027.toml"), "csrf_token": token(office)})
    assert r.headers["Location"].endswith("/console/office/rule-sets/yuhua-2027")
    page = office.get("/console/office/rule-sets/yuhua-2027").get_data(as_text=True)
    assert "yuhua-2027" in page and 'class="add"' in page  # the code differs at least
    office.post("/console/office/rule-sets/yuhua-2027/preview", data={"csrf_token": token(office)})
    run_jobs(app, "default")
    page = office.get("/console/office/rule-sets/yuhua-2027").get_data(as_text=True)
    assert 'id="preview-result"' in page and "位居民的等级会变化" in page
    r = office.post("/console/office/rule-sets/yuhua-2027/activate",
                    data={"csrf_token": token(office)})
    job_path = r.headers["Location"]
    run_jobs(app)
    progress = office.get(job_path + "/progress").json
    assert progress["status"] == "done" and "已完成" in progress["text"]
    assert app.test_client().get("/v1/rule-sets/active").json["code"] == "yuhua-2027"


def test_merchants_are_approved_and_suspended_with_a_reason(app, client, office):
    from tests.builders.merchants import valid_uscc

    applicant = resident(client, id_number=valid_id(seq=611), name="周老板")
    merchant = client.post("/v1/merchants", headers=applicant["headers"], json={
        "name": "湘菜馆", "uscc": valid_uscc(), "sector": "catering"}).json
    page = office.get("/console/office/merchants").get_data(as_text=True)
    assert "湘菜馆" in page and "校验通过" in page
    office.post(f"/console/office/merchants/{merchant['id']}/approve",
                data={"csrf_token": token(office)})
    r = office.post(f"/console/office/merchants/{merchant['id']}/suspend",
                    data={"csrf_token": token(office)}, follow_redirects=True)
    assert "须写明理由" in r.get_data(as_text=True)
    office.post(f"/console/office/merchants/{merchant['id']}/suspend",
                data={"reason": "投诉核实", "csrf_token": token(office)})
    page = office.get("/console/office/merchants?status=suspended").get_data(as_text=True)
    assert "湘菜馆" in page and "投诉核实" in page
    assert office.post("/console/office/merchants/999999/approve",
                       data={"csrf_token": token(office)}).status_code == 404


def test_quality_and_assessment_download_as_csv_and_excel(app, client, office):
    market = department(app, client, "market")
    push(client, market, {"source_ref": "q-1", "id_number": valid_id(seq=612),
                          "name": "吴六", "type": "volunteer.service"}, expect_rejected=1)
    page = office.get("/console/office/quality").get_data(as_text=True)
    assert "<svg" in page and "market 局" in page
    csv = office.get("/console/office/quality?download=csv").get_data(as_text=True)
    assert csv.lstrip("\ufeff").startswith("部门编码,部门,收到记录")
    xlsx = office.get("/console/office/quality?download=xlsx&table=quality")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet["A1"].value == "部门编码" and sheet["E2"].value == 1  # one rejected


def test_the_calendar_is_entered(app, office):
    r = office.post("/console/office/calendar", data={
        "year": "2031", "holidays": "2031-10-01\n2031-10-02", "workdays": "2031-09-27",
        "csrf_token": token(office)}, follow_redirects=True)
    body = r.get_data(as_text=True)
    assert "已保存" in body and "2031-10-01" in body and "2031-09-27" in body
    r = office.post("/console/office/calendar", data={
        "year": "2031", "holidays": "not-a-date", "workdays": "", "csrf_token": token(office)},
        follow_redirects=True)
    assert "YYYY-MM-DD" in r.get_data(as_text=True)


def test_the_dashboard_counts_and_charts(app, client, office):
    market = department(app, client, "market")
    person = valid_id(seq=613)
    push(client, market, {"source_ref": "d-1", "id_number": person, "name": "郑七",
                          "type": "volunteer.service", "occurred_on": "2026-11-01",
                          "details": {"hours": 10}})
    resident(client, id_number=person, name="郑七")
    page = office.get("/console/office/").get_data(as_text=True)
    assert "已绑定身份的居民" in page and page.count("<svg") == 2 and "market 局" in page


def test_records_are_counted_in_the_shanghai_month_they_arrived(app, client, session):
    """2026-01-31T17:00Z is 1 a.m. on 1 February in Changsha: a February record; an hour
    and a minute earlier it is still January there."""
    import datetime as dt

    from sqlalchemy import select, update

    from api.console.office import records_per_month
    from points.models import CreditRecord, Department

    market = department(app, client, "market")
    person = valid_id(seq=614)
    pushed = push(client, market, *({"source_ref": f"m-{n}", "id_number": person, "name": "郑八",
                                      "type": "volunteer.service", "occurred_on": "2026-01-20",
                                      "details": {"hours": 2}} for n in range(2)))
    first, second = (a["record_id"] for a in pushed["accepted"])
    for record_id, at in ((first, dt.datetime(2026, 1, 31, 17, 0, tzinfo=dt.UTC)),
                          (second, dt.datetime(2026, 1, 31, 15, 59, tzinfo=dt.UTC))):
        session.execute(update(CreditRecord).where(CreditRecord.id == record_id)
                        .values(received_at=at))
    session.commit()
    market_id = session.execute(select(Department.id).where(Department.code == "market")).scalar()
    assert records_per_month(session, ["2026-01", "2026-02"]) == {
        market_id: {"2026-01": 1, "2026-02": 1}}
    assert records_per_month(session, ["2026-02"]) == {market_id: {"2026-02": 1}}
