"""The console's authorization matrix: every console route, called by every console
caller (tests/console/routes.py says who gets what). A route added to the console
without an entry there fails `test_every_console_route_is_in_the_matrix`."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from points.infra.db import today
from tests.builders.console import (
    ADMIN_PASSWORD,
    CLERK_PASSWORD,
    csrf_of,
    make_admin,
    make_clerk,
    sign_in,
)
from tests.builders.console_routes import (
    ANON,
    CLERK_A,
    CLERK_B,
    CONSOLE_CALLERS,
    CONSOLE_ROUTES,
    DONE,
    NEWCOMER,
    OFFICE,
    PASSWORD,
    SIGN_IN,
)
from tests.builders.departments import admin_headers, department, push
from tests.builders.residents import resident, valid_id
from tests.builders.servers import clean

SHIPPED = Path(__file__).resolve().parents[2] / "points" / "rules" / "changsha-2020.toml"
ORDER = (ANON, NEWCOMER, OFFICE, CLERK_B, CLERK_A)  # the owner last


def _world(app):
    client = app.test_client()
    admin = admin_headers(app, client)
    market = department(app, client, "market")
    department(app, client, "civil")
    department(app, client, "spare", record_types=[])
    make_admin(app)
    make_clerk(app, "market", "clerk-a")
    make_clerk(app, "civil", "clerk-b")
    make_clerk(app, "market", "newcomer", must_change=True)
    ids = {"spare_clerk": make_clerk(app, "spare", "spare-one")}
    person = valid_id(birth="19800303", seq=401)
    decided_on = (today() - dt.timedelta(days=150)).isoformat()
    pushed = push(client, market, *({"source_ref": f"console-{n}", "id_number": person,
                                     "name": "赵控台", "type": "admin.penalty.general",
                                     "decided_on": decided_on} for n in range(3)))
    records = [a["record_id"] for a in pushed["accepted"]]
    ids["record_ref"] = "console-2"
    who = resident(client, id_number=person, name="赵控台")
    from tests.builders.files import png

    ids["attachment"] = client.post("/v1/me/attachments", headers=who["headers"], data={
        "file": (io.BytesIO(png()), "整改照片.png")}, content_type="multipart/form-data").json["id"]
    ids["repair"] = client.post("/v1/me/repairs", headers=who["headers"], json={
        "record_id": records[0], "statement": "已整改", "commitment": "守法经营",
        "attachments": [ids["attachment"]]}).json["id"]
    ids["objection"] = client.post("/v1/me/objections", headers=who["headers"], json={
        "record_id": records[1], "reason": "处罚对象错误"}).json["id"]
    ids["check"] = client.post("/v1/dept/credit-checks", headers=market, json={
        "subject": {"id_number": person, "name": "赵控台"}, "purpose": "administrative_license",
        "matter_ref": "XK-1"}).json["id"]
    promiser = resident(client, id_number=valid_id(seq=403), name="孙承诺")
    ids["commitment"] = client.post("/v1/me/commitments", headers=promiser["headers"], json={
        "kind": "approval_substitute", "department": "market", "matter": "食品经营许可",
        "due_on": (today() + dt.timedelta(days=30)).isoformat(), "public": False,
        "content": "按期补交材料"}).json["id"]
    push(client, market, {"source_ref": "console-bad", "id_number": person, "name": "赵控台",
                          "type": "admin.penalty.general"}, expect_rejected=1)
    ids["issue"] = client.get("/v1/dept/quality-issues", headers=market).json[0]["id"]
    applicant = resident(client, id_number=valid_id(seq=402), name="钱商户")
    from tests.builders.merchants import valid_uscc

    ids["merchant"] = client.post("/v1/merchants", headers=applicant["headers"], json={
        "name": "矩阵商店", "uscc": valid_uscc(), "sector": "catering"}).json["id"]
    toml = SHIPPED.read_text(encoding="utf-8").replace(
        'code = "changsha-2020"', 'code = "console-2026"', 1)
    assert client.post("/v1/admin/rule-sets", headers=admin, json={"content": toml}).status_code == 201
    ids["rule_set"] = "console-2026"
    ids["job"] = client.post("/v1/admin/rule-sets/changsha-2020/activate",
                             headers=admin).json["job_id"]
    callers = {ANON: app.test_client()}
    for caller, username, password in ((CLERK_A, "clerk-a", CLERK_PASSWORD),
                                       (CLERK_B, "clerk-b", CLERK_PASSWORD),
                                       (OFFICE, "officer", ADMIN_PASSWORD),
                                       (NEWCOMER, "newcomer", CLERK_PASSWORD)):
        callers[caller] = app.test_client()
        sign_in(callers[caller], username, password)
    # Department A's upload (a CSV of one good row).
    a = callers[CLERK_A]
    page = a.get("/console/dept/uploads").get_data(as_text=True)

    csv = ("业务编号,姓名,身份证号,记录类型,决定日期\n"
           f"console-up-1,赵控台,{person},admin.penalty.general,{decided_on}\n").encode()
    r = a.post("/console/dept/uploads", data={"csrf_token": csrf_of(page),
                                              "file": (io.BytesIO(csv), "batch.csv")})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    ids["upload"] = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    return callers, ids


@pytest.fixture(scope="module")
def world(app):
    clean(app)
    try:
        yield _world(app)
    finally:
        app.state.db.remove()
        clean(app)


def test_every_console_route_is_in_the_matrix(app):
    routes = {(m, r.rule) for r in app.url_map.iter_rules() if r.endpoint.startswith("console.")
              for m in r.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(CONSOLE_ROUTES), (routes ^ set(CONSOLE_ROUTES))
    for key, (_, _, expect) in CONSOLE_ROUTES.items():
        assert set(expect) == set(CONSOLE_CALLERS), key


def _outcome(response) -> object:
    if response.status_code != 302:
        return response.status_code
    location = response.headers["Location"]
    if "/console/sign-in" in location:
        return SIGN_IN
    if location.endswith("/console/password"):
        return PASSWORD
    return DONE


def test_console_authorization_matrix(app, world):
    callers, ids = world
    tokens = {}
    for caller in CONSOLE_CALLERS:
        page = callers[caller].get("/console/sign-in" if caller == ANON else "/console/password")
        tokens[caller] = csrf_of(page.get_data(as_text=True))
    wrong = []
    # Signing out ends the session: last.
    keys = sorted(CONSOLE_ROUTES, key=lambda k: k == ("POST", "/console/sign-out"))
    for method, rule in keys:
        path, form, expect = CONSOLE_ROUTES[(method, rule)]
        path = path.format_map(ids)
        for caller in ORDER:
            client = callers[caller]
            if method == "POST":
                data = {k: v.format_map(ids) for k, v in (form or {}).items()}
                response = client.post(path, data={**data, "csrf_token": tokens[caller]})
            else:
                response = client.get(path)
            got = _outcome(response)
            response.close()
            if got != expect[caller]:
                wrong.append(f"{method} {rule} as {caller}: expected {expect[caller]}, got {got}")
    assert not wrong, "\n".join(wrong)
    for caller in (CLERK_A, CLERK_B, OFFICE):  # signed out by the last call
        assert _outcome(callers[caller].get("/console/dept/")) == SIGN_IN


def test_a_clerk_never_sees_another_departments_person(app, world):
    callers, ids = world
    sign_in(callers[CLERK_B], "clerk-b", CLERK_PASSWORD)
    for path in (f"/console/dept/repairs/{ids['repair']}", (f"/console/dept/objections/"
                 f"{ids['objection']}"), f"/console/dept/credit-checks/{ids['check']}"):
        body = callers[CLERK_B].get(path).get_data(as_text=True)
        assert "处罚对象错误" not in body and "已整改" not in body and "控台" not in body
