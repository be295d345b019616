"""A clerk's work in the console, through the API's services: batch files with rejected
rows to fix, repairs and objections decided, records ended and revoked, credit checks."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import Workbook, load_workbook

from points.infra.db import today
from tests.builders.console import CLERK_PASSWORD, make_clerk, sign_in, token
from tests.builders.departments import department, push
from tests.builders.residents import resident, signed_in, valid_id
from tests.builders.servers import run_jobs

PERSON = valid_id(birth="19880808", seq=321)


@pytest.fixture
def market(app, client):
    headers = department(app, client, "market")
    make_clerk(app, "market", "clerk-a")
    clerk = app.test_client()
    sign_in(clerk, "clerk-a", CLERK_PASSWORD)
    return headers, clerk


def _xlsx(rows: list[list]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
        for cell in book.active[book.active.max_row]:
            if cell.data_type == "f":  # typed as text in Excel, not a formula
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(app, clerk, name: str, data: bytes):
    r = clerk.post("/console/dept/uploads", data={"csrf_token": token(clerk, "/console/dept/uploads"),
                                                   "file": (io.BytesIO(data), name)})
    assert r.status_code == 302, r.get_data(as_text=True)[:1000]
    run_jobs(app, "default")
    return r.headers["Location"]


def test_the_template_has_chinese_headers(market):
    _, clerk = market
    r = clerk.get("/console/dept/uploads/template.xlsx")
    sheet = load_workbook(io.BytesIO(r.data)).active
    assert [c.value for c in sheet[1]][:4] == ["业务编号", "姓名", "身份证号", "记录类型"]


def test_bad_rows_are_shown_downloaded_fixed_and_uploaded_again(app, client, market):
    _, clerk = market
    decided = (today() - dt.timedelta(days=3)).isoformat()
    header = ["业务编号", "姓名", "身份证号", "记录类型", "发生日期", "决定日期"]
    rows = [header,
            ["XL-1", "孙良民", PERSON, "admin.penalty.general", "", decided],
            ["XL-2", "孙良民", "430104199001011238", "admin.penalty.general", "", decided],
            ["XL-3", "孙良民", PERSON, "no.such.type", "", decided],
            ["=HYPERLINK(\"x\")", "", PERSON, "admin.penalty.general", "", "2026/01/01"]]
    where = _upload(app, clerk, "十一月.xlsx", _xlsx(rows))
    page = clerk.get(where).get_data(as_text=True)
    assert "已完成" in page and 'id="rejected-count">3<' in page
    assert "身份证号" in page and "未知的记录类型" in page and "须为日期" in page

    upload_id = where.rstrip("/").rsplit("/", 1)[-1]
    got = clerk.get(f"/console/dept/uploads/{upload_id}/rejected.xlsx")
    sheet = load_workbook(io.BytesIO(got.data)).active
    table = [[c.value for c in row] for row in sheet.iter_rows()]
    assert len(table) == 4 and table[0][-1].startswith("问题")
    assert [r[0] for r in table[1:]] == ["XL-2", "XL-3", "=HYPERLINK(\"x\")"]
    assert sheet["A4"].data_type == "s"  # text, never a formula
    # Fixed in the downloaded file (problems column left in) and uploaded again.
    book = load_workbook(io.BytesIO(got.data))
    fixed = book.active
    fixed["C2"] = PERSON
    fixed["D3"] = "admin.penalty.general"
    fixed["A4"], fixed["B4"], fixed["F4"] = "XL-4", "孙良民", decided
    out = io.BytesIO()
    book.save(out)
    again = clerk.get(_upload(app, clerk, "改正.xlsx", out.getvalue())).get_data(as_text=True)
    assert 'id="rejected-count">0<' in again
    assert "全部记录已入库" in again
    # The records exist for the API as for any push, and the quality issues closed.
    issues = clerk.get("/console/dept/quality-issues?status=open").get_data(as_text=True)
    assert "XL-2" not in issues and "XL-3" not in issues
    listing = clerk.get("/console/dept/records?source_ref=XL-3").get_data(as_text=True)
    assert "XL-3" in listing and "admin.penalty.general" in listing


def test_a_csv_upload_and_a_file_that_is_not_one(app, market):
    _, clerk = market
    decided = (today() - dt.timedelta(days=3)).isoformat()
    data = f"业务编号,姓名,身份证号,记录类型,决定日期\nCSV-1,孙良民,{PERSON},admin.penalty.general,{decided}\n"
    page = clerk.get(_upload(app, clerk, "a.csv", data.encode("gb18030"))).get_data(as_text=True)
    assert "全部记录已入库" in page
    r = clerk.post("/console/dept/uploads", data={"csrf_token": token(clerk, "/console/dept/uploads"),
                                                  "file": (io.BytesIO(b"PK\x03\x04junk"), "x.xlsx")},
                   follow_redirects=True)
    assert "无法读取这个 Excel 文件" in r.get_data(as_text=True)
    r = clerk.post("/console/dept/uploads", data={"csrf_token": token(clerk, "/console/dept/uploads"),
                                                  "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                   follow_redirects=True)
    assert "缺少" in r.get_data(as_text=True)


def _repairable(client, headers):
    decided_on = (today() - dt.timedelta(days=150)).isoformat()
    pushed = push(client, headers, {"source_ref": "R-1", "id_number": PERSON, "name": "孙良民",
                                    "type": "admin.penalty.general", "decided_on": decided_on},
                  {"source_ref": "R-2", "id_number": PERSON, "name": "孙良民",
                   "type": "admin.penalty.general", "decided_on": decided_on})
    who = resident(client, id_number=PERSON, name="孙良民")
    return who, [a["record_id"] for a in pushed["accepted"]]


def test_a_clerk_approves_a_repair_and_the_points_change(app, client, market):
    headers, clerk = market
    who, records = _repairable(client, headers)
    before = client.get("/v1/me/points", headers=who["headers"]).json["points"]
    repair = client.post("/v1/me/repairs", headers=who["headers"], json={
        "record_id": records[0], "statement": "罚款已缴清，已整改", "commitment": "守法经营",
        "evidence": [{"kind": "receipt", "ref": "https://example.org/receipt.pdf"}]}).json
    assert "id" in repair, repair
    queue = clerk.get("/console/dept/repairs").get_data(as_text=True)
    assert "罚款已缴清" in queue and "孙*" in queue
    case = clerk.get(f"/console/dept/repairs/{repair['id']}").get_data(as_text=True)
    assert "receipt.pdf" in case and repair["decision_due_on"] in case
    r = clerk.post(f"/console/dept/repairs/{repair['id']}/decision",
                   data={"decision": "approve", "csrf_token": token(clerk, "/console/dept/repairs")},
                   follow_redirects=True)
    assert "已通过修复申请" in r.get_data(as_text=True)
    after = client.get("/v1/me/points", headers=who["headers"]).json["points"]
    assert after > before
    # Decided once: a second decision is refused on the page, not as an error answer.
    r = clerk.post(f"/console/dept/repairs/{repair['id']}/decision",
                   data={"decision": "reject", "note": "x", "csrf_token": token(clerk)},
                   follow_redirects=True)
    assert "已经处理过了" in r.get_data(as_text=True)


def test_a_case_shows_its_evidence_files_to_download(app, client, market):
    """Repairs and objections are served by one set of views: both show the files cited,
    which download through the console for this department only."""
    from tests.builders.files import jpeg, pdf

    headers, clerk = market
    who, records = _repairable(client, headers)
    files = {}
    for make, name in ((pdf, "罚款缴款书.pdf"), (jpeg, "整改后照片.jpg")):
        files[name] = make()
        r = client.post("/v1/me/attachments", headers=who["headers"], data={
            "file": (io.BytesIO(files[name]), name)}, content_type="multipart/form-data")
        assert r.status_code == 201, r.json
        files[name] = (r.json["id"], files[name])
    ids = [i for i, _ in files.values()]
    repair = client.post("/v1/me/repairs", headers=who["headers"], json={
        "record_id": records[0], "statement": "罚款已缴清", "commitment": "守法经营",
        "attachments": ids}).json
    objection = client.post("/v1/me/objections", headers=who["headers"], json={
        "record_id": records[1], "reason": "不是我本人", "attachments": ids[1:]}).json
    for path, names in ((f"/console/dept/repairs/{repair['id']}", list(files)),
                        (f"/console/dept/objections/{objection['id']}", list(files)[1:])):
        page = clerk.get(path).get_data(as_text=True)
        assert all(name in page for name in names), path
        assert ("PDF 文档" in page) == (len(names) == 2) and "JPEG 图片" in page
        assert f"/console/dept/attachments/{ids[1]}" in page
    queue = clerk.get("/console/dept/objections").get_data(as_text=True)
    assert "不是我本人" in queue
    got = clerk.get(f"/console/dept/attachments/{ids[0]}")
    assert got.status_code == 200 and got.data == files["罚款缴款书.pdf"][1]
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    # Another department's clerk finds nothing.
    department(app, client, "civil")
    make_clerk(app, "civil", "clerk-civil")
    other = app.test_client()
    sign_in(other, "clerk-civil", CLERK_PASSWORD)
    assert other.get(f"/console/dept/attachments/{ids[0]}").status_code == 404


def test_an_overdue_case_is_highlighted_and_a_refusal_needs_a_reason(app, client, market):
    headers, clerk = market
    who, records = _repairable(client, headers)
    objection = client.post("/v1/me/objections", headers=who["headers"], json={
        "record_id": records[1], "reason": "不是我本人"}).json
    import time_machine

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=40)):
        sign_in(clerk, "clerk-a", CLERK_PASSWORD)  # the session idled out meanwhile
        page = clerk.get("/console/dept/objections?overdue=1").get_data(as_text=True)
        assert 'class="overdue"' in page and "已逾期" in page
    sign_in(clerk, "clerk-a", CLERK_PASSWORD)  # a cookie signed in the future is refused
    r = clerk.post(f"/console/dept/objections/{objection['id']}/decision",
                   data={"decision": "reject", "note": "", "csrf_token": token(clerk)},
                   follow_redirects=True)
    assert "未办理" in r.get_data(as_text=True)
    r = clerk.post(f"/console/dept/objections/{objection['id']}/decision",
                   data={"decision": "uphold", "note": "核实有误", "csrf_token": token(clerk)},
                   follow_redirects=True)
    assert "异议成立" in r.get_data(as_text=True)
    records_seen = client.get("/v1/me/records", headers=who["headers"]).json
    assert any(r["status"] == "revoked" for r in records_seen)


def test_a_record_is_found_ended_and_revoked(app, client, market):
    headers, clerk = market
    _repairable(client, headers)
    page = clerk.get("/console/dept/records?source_ref=R-1")
    assert page.status_code == 200 and "历史版本" in page.get_data(as_text=True)
    assert clerk.get("/console/dept/records?source_ref=nope").status_code == 404
    r = clerk.post("/console/dept/records/end", data={
        "source_ref": "R-1", "ended_on": today().isoformat(), "csrf_token": token(clerk)},
        follow_redirects=True)
    assert "终止计分" in r.get_data(as_text=True)
    r = clerk.post("/console/dept/records/revoke", data={
        "source_ref": "R-2", "reason": "录入错误", "csrf_token": token(clerk)},
        follow_redirects=True)
    body = r.get_data(as_text=True)
    assert "已撤销，不再计分" in body and "录入错误" in body and "revoked" in body


def test_a_credit_check_and_its_feedback(app, client, market):
    headers, clerk = market
    _repairable(client, headers)
    r = clerk.post("/console/dept/credit-checks", data={
        "name": "孙良民", "id_number": PERSON, "purpose": "administrative_license",
        "matter_ref": "XK-9", "csrf_token": token(clerk)}, follow_redirects=True)
    body = r.get_data(as_text=True)
    assert "信用积分" in body and "计分中的负面记录" in body and "请在" in body
    r = clerk.post("/console/dept/credit-checks", data={
        "name": "别人", "id_number": PERSON, "purpose": "administrative_license",
        "matter_ref": "XK-10", "csrf_token": token(clerk)}, follow_redirects=True)
    assert "姓名与该身份证号登记的姓名不一致" in r.get_data(as_text=True)
    check_path = clerk.get("/console/dept/credit-checks").get_data(as_text=True)
    import re

    check_id = re.search(r"/console/dept/credit-checks/(\d+)", check_path).group(1)
    r = clerk.post(f"/console/dept/credit-checks/{check_id}/feedback", data={
        "action": "extra_review", "note": "加强审查", "csrf_token": token(clerk)},
        follow_redirects=True)
    assert "已反馈：加强审查" in r.get_data(as_text=True)


def test_a_commitment_breached_is_recorded_and_an_issue_resolved(app, client, market):
    headers, clerk = market
    who = resident(client, id_number=valid_id(seq=322), name="周承诺")
    commitment = client.post("/v1/me/commitments", headers=who["headers"], json={
        "kind": "missing_materials", "department": "market", "matter": "食品经营许可",
        "due_on": (today() + dt.timedelta(days=10)).isoformat(), "public": False,
        "content": "十日内补交健康证明"}).json
    r = clerk.post(f"/console/dept/commitments/{commitment['id']}/outcome", data={
        "outcome": "breached", "csrf_token": token(clerk)}, follow_redirects=True)
    assert "未办理" in r.get_data(as_text=True)  # not due yet: a breach comes after the day
    import time_machine

    traveller = time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=20), tick=True)
    traveller.start()
    sign_in(clerk, "clerk-a", CLERK_PASSWORD)
    page = clerk.get("/console/dept/commitments").get_data(as_text=True)
    assert "十日内补交" in page and "周*" in page
    r = clerk.post(f"/console/dept/commitments/{commitment['id']}/outcome", data={
        "outcome": "breached", "csrf_token": token(clerk)}, follow_redirects=True)
    assert "已记录违约" in r.get_data(as_text=True), re.findall(r"class=\"flash\"[^<]*>([^<]*)", r.get_data(as_text=True))
    mine = client.get("/v1/me/commitments", headers=signed_in(client, who["openid"])).json
    assert mine[0]["status"] == "breached" and mine[0]["outcome_record_id"]
    traveller.stop()
    sign_in(clerk, "clerk-a", CLERK_PASSWORD)

    push(client, headers, {"source_ref": "bad-1", "id_number": PERSON, "name": "孙良民",
                           "type": "admin.penalty.general"}, expect_rejected=1)
    issue_id = client.get("/v1/dept/quality-issues", headers=headers).json[0]["id"]
    r = clerk.post(f"/console/dept/quality-issues/{issue_id}/resolve",
                   data={"csrf_token": token(clerk)}, follow_redirects=True)
    assert "已标记为解决" in r.get_data(as_text=True)
    assert client.get("/v1/dept/quality-issues?status=open", headers=headers).json == []
