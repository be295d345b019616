"""The console in a real browser: sign-in and lockout, CSRF, another department's case,
a rule set from error to activation, an Excel upload fixed and sent again, a repair
with its evidence files downloaded and approved, the resident's points changing in the
API."""
from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from points.infra.db import today
from tests.builders.console import ADMIN_PASSWORD, CLERK_PASSWORD, make_admin, make_clerk
from tests.builders.departments import department, push
from tests.builders.residents import resident, valid_id

SHIPPED = Path(__file__).resolve().parents[2] / "points" / "rules" / "changsha-2020.toml"
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")  # a folder: each step's page saved as PNG
PERSON = valid_id(birth="19870707", seq=517)
OTHER = valid_id(birth="19870708", seq=518)


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.fixture(scope="module")
def world(live_app):
    client = live_app.test_client()
    market = department(live_app, client, "market", name="雨花区市场监督管理局")
    department(live_app, client, "civil", name="雨花区民政局")
    make_admin(live_app)
    make_clerk(live_app, "market", "clerk-a")
    make_clerk(live_app, "civil", "clerk-b")
    make_admin(live_app, "locked-officer")
    decided_on = (today() - dt.timedelta(days=150)).isoformat()
    pushed = push(client, market, *({"source_ref": f"B-{n}", "id_number": PERSON, "name": "钱浏览",
                                     "type": "admin.penalty.general", "decided_on": decided_on}
                                    for n in range(2)))
    who = resident(client, id_number=PERSON, name="钱浏览")
    records = [a["record_id"] for a in pushed["accepted"]]
    from tests.builders.files import jpeg, pdf

    files = [client.post("/v1/me/attachments", headers=who["headers"], data={
        "file": (io.BytesIO(make()), name)}, content_type="multipart/form-data").json["id"]
        for make, name in ((pdf, "罚款缴款书.pdf"), (jpeg, "整改后门店照片.jpg"))]
    repair = client.post("/v1/me/repairs", headers=who["headers"], json={
        "record_id": records[0], "statement": "罚款已按期缴清，整改到位", "commitment": "守法经营",
        "evidence": [{"kind": "缴款凭证", "ref": "https://example.org/receipt-2026.pdf"}],
        "attachments": files}).json
    return {"client": client, "resident": who, "repair": repair["id"]}


def sign_in(page, username: str, password: str) -> None:
    page.goto("/console/sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_sign_in_and_lockout(live_app, world, page):
    for attempt in range(live_app.config["ADMIN_LOCKOUT_ATTEMPTS"]):
        sign_in(page, "locked-officer", "wrong-password")
        if attempt == 0:
            assert page.locator(".error").inner_text() == "用户名或密码不对。"
            shot(page, "01-sign-in-refused")
    assert "已锁定" in page.locator(".error").inner_text()
    sign_in(page, "locked-officer", ADMIN_PASSWORD)
    assert "已锁定" in page.locator(".error").inner_text()
    shot(page, "02-locked")
    sign_in(page, "officer", ADMIN_PASSWORD)
    page.wait_for_url("**/console/office/")
    assert page.locator("h1").inner_text() == "总览"
    shot(page, "03-office-dashboard")


def test_a_form_without_its_csrf_token_is_refused(world, page):
    sign_in(page, "officer", ADMIN_PASSWORD)
    page.goto("/console/office/departments")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.fill("#code", "forged")
    page.fill("#name", "伪造的部门")
    page.click("text=创建并生成接口密钥")
    assert page.locator("h1").inner_text() == "表单已失效"
    shot(page, "04-csrf-refused")
    page.goto("/console/office/departments")
    assert "forged" not in page.content()


def test_a_clerk_opening_another_departments_case_gets_404(world, page):
    sign_in(page, "clerk-b", CLERK_PASSWORD)
    response = page.goto(f"/console/dept/repairs/{world['repair']}")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "没有找到"
    assert "罚款已按期缴清" not in page.content()
    shot(page, "05-other-department-404")


def test_a_rule_set_error_named_then_previewed_and_activated(world, page):
    sign_in(page, "officer", ADMIN_PASSWORD)
    page.goto("/console/office/rule-sets")
    broken = SHIPPED.read_text(encoding="utf-8").replace(
        'code = "changsha-2020"', 'code = "broken-2027"', 1).replace("base = ", "base_typo = ", 1)
    page.fill("#content", broken)
    page.click("button:has-text('校验并上传')")
    problems = page.locator("#rule-problems")
    assert "处问题" in problems.inner_text() and "base" in problems.inner_text()
    shot(page, "06-rule-set-problems")
    good = SHIPPED.read_text(encoding="utf-8").replace(
        'code = "changsha-2020"', 'code = "yuhua-2027"', 1)
    page.fill("#content", "")
    page.set_input_files("#file", files=[{"name": "yuhua-2027.toml", "mimeType": "text/plain",
                                          "buffer": good.encode()}])
    page.click("button:has-text('校验并上传')")
    page.wait_for_url("**/console/office/rule-sets/yuhua-2027")
    page.click("#preview")
    page.wait_for_selector("#preview-result")
    assert "位居民的等级会变化" in page.locator("#preview-result").inner_text()
    shot(page, "07-rule-set-preview")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#activate")
    page.wait_for_url("**/console/office/jobs/*")
    page.wait_for_function("document.querySelector('progress').value === 100")
    page.wait_for_function("document.querySelector('.job-text').textContent.includes('已完成')")
    shot(page, "08-activation-done")
    assert world["client"].get("/v1/rule-sets/active").json["code"] == "yuhua-2027"


def _xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_clerk_fixes_rejected_rows_and_uploads_them_again(world, page, tmp_path):
    sign_in(page, "clerk-a", CLERK_PASSWORD)
    page.goto("/console/dept/uploads")
    shot(page, "09-uploads")
    decided = (today() - dt.timedelta(days=2)).isoformat()
    rows = [["业务编号", "姓名", "身份证号", "记录类型", "发生日期", "决定日期"],
            ["XB-1", "孙浏览", OTHER, "admin.penalty.general", "", decided],
            ["XB-2", "孙浏览", OTHER[:-1] + ("0" if OTHER[-1] != "0" else "1"),
             "admin.penalty.general", "", decided],
            ["XB-3", "孙浏览", OTHER, "admin.penalty.general", "", "2026年1月1日"]]
    page.set_input_files("#file", files=[{"name": "十一月处罚.xlsx", "buffer": _xlsx(rows),
                                          "mimeType": "application/octet-stream"}])
    page.click("#upload")
    page.wait_for_selector("#rejected-count")
    assert page.locator("#rejected-count").inner_text() == "2"
    shot(page, "10-upload-rejected")
    with page.expect_download() as info:
        page.click("#download-rejected")
    path = tmp_path / "rejected.xlsx"
    info.value.save_as(path)
    book = load_workbook(path)
    sheet = book.active
    assert [sheet["A2"].value, sheet["A3"].value] == ["XB-2", "XB-3"]
    sheet["C2"] = OTHER
    sheet["F3"] = decided
    book.save(path)
    page.goto("/console/dept/uploads")
    page.set_input_files("#file", str(path))
    page.click("#upload")
    page.wait_for_selector("#rejected-count")
    assert page.locator("#rejected-count").inner_text() == "0"
    assert "全部记录已入库" in page.content()
    shot(page, "11-upload-fixed")


def test_a_clerk_approves_a_repair_and_the_points_change(world, page):
    client, who = world["client"], world["resident"]
    before = client.get("/v1/me/points", headers=who["headers"]).json["points"]
    sign_in(page, "clerk-a", CLERK_PASSWORD)
    page.goto("/console/dept/repairs")
    shot(page, "12-repairs-queue")
    page.click(f"a[href='/console/dept/repairs/{world['repair']}']")
    assert "罚款已按期缴清" in page.content() and "receipt-2026.pdf" in page.content()
    assert "整改后门店照片.jpg" in page.content() and "JPEG 图片" in page.content()
    with page.expect_download() as downloading:
        page.click("table.files a >> nth=0")
    assert downloading.value.suggested_filename == "罚款缴款书.pdf"
    page.check("input[value=approve]")
    shot(page, "13-repair-case")
    page.click("text=提交决定")
    assert "已通过修复申请" in page.locator(".flash").inner_text()
    after = client.get("/v1/me/points", headers=who["headers"]).json["points"]
    assert after > before


OFFICE_PAGES = ("/console/office/", "/console/office/departments",
                "/console/office/departments/market/users", "/console/office/merchants?status=",
                "/console/office/rule-sets", "/console/office/rule-sets/changsha-2020",
                "/console/office/calendar", "/console/office/quality", "/console/office/audit")
CLERK_PAGES = ("/console/dept/", "/console/dept/uploads", "/console/dept/repairs?status=",
               "/console/dept/objections", "/console/dept/records?source_ref=B-1",
               "/console/dept/credit-checks", "/console/dept/quality-issues?status=",
               "/console/password")


@pytest.mark.parametrize("width", [1280, 800])
def test_every_page_renders_without_script_errors(world, browser, live_app, width):
    """Each page at 1280 px and on a tablet: a heading, no script error, no horizontal
    scrolling of the page itself (wide tables scroll in their card)."""
    errors: list[str] = []
    for username, password, pages in (("officer", ADMIN_PASSWORD, OFFICE_PAGES),
                                      ("clerk-a", CLERK_PASSWORD, CLERK_PAGES)):
        context = browser.new_context(base_url=live_app.config["BASE"], locale="zh-CN",
                                      viewport={"width": width, "height": 900})
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        sign_in(tab, username, password)
        for path in pages:
            response = tab.goto(path)
            assert response.status == 200, path
            assert tab.locator("h1").count() == 1, path
            name = path.strip("/").replace("/", "-").split("?")[0]
            shot(tab, f"page-{width}-{name}")
        context.close()
        assert not errors, errors
