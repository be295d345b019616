"""End-to-end journeys written from the API contract (/work/shared/api-contract.md) and
the rule set (/work/shared/domain/rules-changsha-2020.md) alone, as a client team reads
them: residents, merchants, departments, housekeeping workers and their families, and
the credit office. Every error is checked for its status, its `error_code` and the
contract's error body; bad input must be a 4xx, never a 500.

The clock is frozen on Monday 2026-06-15 10:00 Asia/Shanghai (Dragon Boat Festival
falls on Friday 2026-06-19), so dates and working-day deadlines are exact.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from http import HTTPStatus
from pathlib import Path

import chinese_calendar
import pytest

from tests.builders.clock import SHANGHAI
from tests.builders.departments import admin_headers, department, push
from tests.builders.merchants import (
    approved_merchant,
    code_for,
    make_perk,
    redeem,
    valid_uscc,
    verify,
)
from tests.builders.residents import auth, bind, dev_login, points_body, resident, valid_id
from tests.builders.servers import run_jobs
from tests.builders.workers import at

TODAY = dt.date(2026, 6, 15)
RULES_FILE = Path(__file__).resolve().parents[2] / "points" / "rules" / "changsha-2020.toml"
_seq = itertools.count(1)

ALL_LEVELS = ["AAA", "AA", "A", "B", "C", "D"]
DIMENSIONS = {"completeness", "validity", "accuracy", "timeliness"}
PERK = {"title": "门票八折", "description": "凭信用码购票八折", "min_level": "A",
        "benefit": {"kind": "discount", "value": "8折"}, "total_quota": 2,
        "per_resident_limit": 1, "valid_from": "2026-01-01", "valid_until": "2026-12-31"}


# --------------------------------------------------------------------------- helpers

def add_workdays(day: dt.date, n: int) -> dt.date:
    """The n-th Chinese working day after `day` (holidays and adjusted days included)."""
    while n:
        day += dt.timedelta(days=1)
        if chinese_calendar.is_workday(day):
            n -= 1
    return day


def expect_error(r, status: int, error_code: str | None = None) -> dict:
    """The contract's error body: {"code", "status", "error_code", "message"} (+ "errors")."""
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    body = r.get_json()
    assert isinstance(body, dict), r.get_data(as_text=True)
    assert body["code"] == status
    phrases = {HTTPStatus(status).phrase}
    if status == 422:
        phrases |= {"Unprocessable Entity", "Unprocessable Content"}
    assert body["status"] in phrases, body
    assert isinstance(body["error_code"], str) and body["error_code"], body
    assert body["error_code"] == body["error_code"].upper()
    if error_code is not None:
        assert body["error_code"] == error_code, body
    assert isinstance(body["message"], str) and body["message"]
    if body["error_code"] == "VALIDATION_ERROR":
        assert status == 422
        errors = body["errors"]
        assert isinstance(errors, dict) and errors
        for location, fields in errors.items():
            assert isinstance(location, str) and isinstance(fields, dict) and fields
    return body


def mentions(obj, *texts: str) -> bool:
    dumped = json.dumps(obj, ensure_ascii=False, default=str)
    return all(t in dumped for t in texts)


def iso_ts(value: str) -> dt.datetime:
    """Timestamps are ISO 8601 with an offset."""
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


def record_id(rec: dict):
    return rec.get("id", rec.get("record_id"))


def login(client, openid: str | None = None) -> dict:
    """A resident signed in, not yet bound, no consents."""
    return resident(client, id_number=False, consents=(), openid=openid or f"scenario-{next(_seq)}")


def consent(client, person: dict, scope: str, granted: bool = True):
    r = client.put(f"/v1/me/consents/{scope}", headers=person["headers"],
                   json={"granted": granted, "policy_version": "2026-01"})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def citizen(client, number: str | None = None, name: str = "张三",
            scopes=("credit_points", "merchant_share")) -> dict:
    """A resident bound to `number` (a fresh one by default) with `scopes`."""
    return resident(client, id_number=number or valid_id(seq=next(_seq) % 900 + 50), name=name,
                    consents=tuple(scopes), openid=f"scenario-{next(_seq)}")


def my_records(client, person: dict) -> dict:
    r = client.get("/v1/me/records", headers=person["headers"])
    assert r.status_code == 200, r.get_json()
    return {record_id(rec): rec for rec in r.get_json()}


def pushed(client, dept: dict, *records: dict) -> dict[str, int]:
    """Push records that must all be accepted; returns source_ref -> record_id."""
    body = push(client, dept, *records)
    return {a["source_ref"]: a["record_id"] for a in body["accepted"]}


def merchant(app, client, name: str = "岳麓山景区", sector: str = "tourism") -> dict:
    """An approved merchant and its owner, signed in."""
    owner = login(client)
    return {**owner, **approved_merchant(app, client, name=name, sector=sector, owner=owner),
            "name": name}


def perk(client, shop: dict, **overrides) -> dict:
    return make_perk(client, shop, **{**PERK, **overrides})


# --------------------------------------------------------------------------- public

CONTRACT_OPERATIONS = """
get /v1/health
get /v1/rule-sets/active
post /v1/auth/wechat/login
post /v1/auth/refresh
post /v1/auth/logout
post /v1/auth/admin/login
put /v1/me/identity
post /v1/me/identity/verifications
get /v1/me/consents
put /v1/me/consents/{}
get /v1/me/points
get /v1/me/points/history
get /v1/me/records
get /v1/me/access-log
get /v1/me/export
delete /v1/me
post /v1/me/commitments
get /v1/me/commitments
post /v1/me/commitments/{}/withdraw
get /v1/commitments/public
post /v1/me/repairs
get /v1/me/repairs
post /v1/me/repairs/{}/withdraw
post /v1/me/objections
get /v1/me/objections
get /v1/perks
post /v1/me/verification-tokens
get /v1/me/redemptions
put /v1/me/worker-profile
get /v1/me/worker-profile
post /v1/me/report-shares
delete /v1/me/report-shares/{}
get /v1/reports/{}
post /v1/reports/{}/reviews
post /v1/merchants
get /v1/admin/merchants
post /v1/admin/merchants/{}/approve
post /v1/admin/merchants/{}/reject
post /v1/merchant/perks
get /v1/merchant/perks
patch /v1/merchant/perks/{}
post /v1/merchant/verifications
post /v1/merchant/redemptions
get /v1/merchant/redemptions
get /v1/merchant/stats
post /v1/dept/records
post /v1/dept/records/{}/end
post /v1/dept/records/{}/revoke
get /v1/dept/quality-issues
post /v1/dept/quality-issues/{}/resolve
get /v1/dept/repairs
post /v1/dept/repairs/{}/decision
get /v1/dept/objections
post /v1/dept/objections/{}/decision
get /v1/dept/commitments
post /v1/dept/commitments/{}/outcome
post /v1/dept/credit-checks
post /v1/dept/credit-checks/{}/feedback
post /v1/admin/departments
post /v1/admin/departments/{}/keys
get /v1/admin/rule-sets
post /v1/admin/rule-sets
post /v1/admin/rule-sets/{}/activate
get /v1/admin/jobs/{}
get /v1/admin/quality-report
get /v1/admin/assessment
"""


def test_public_health_rule_set_and_openapi_describe_the_contract(client):
    r = client.get("/v1/health")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}

    r = client.get("/v1/rule-sets/active")
    assert r.status_code == 200
    rules = r.get_json()
    assert rules["code"] == "changsha-2020" and rules["base"] == 1000
    assert len(rules["levels"]) == len(ALL_LEVELS)
    assert mentions(rules["levels"], *[f'"{lvl}"' for lvl in ALL_LEVELS])
    types = {t["code"]: t for t in rules["record_types"]}
    assert types["donation.blood"]["points"] == 10
    assert types["admin.penalty.serious"]["points"] == -100
    assert types["admin.penalty.serious"]["class"] == "serious"
    assert types["court.defaulter"]["points"] == -200
    assert types["housekeeping.verified_complaint"]["class"] == "minor"
    # No traffic violations: there is no legal basis for them (rule set, intro).
    assert not any(code.startswith("traffic") for code in types)
    assert "id_number" not in r.get_data(as_text=True)

    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    documented = {}
    for path, item in spec["paths"].items():
        norm = re.sub(r"\{[^}]+\}", "{}", path)
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                documented[(method, norm)] = op
    missing = []
    for line in CONTRACT_OPERATIONS.strip().splitlines():
        method, path = line.split()
        if (method, path) not in documented:
            missing.append(line)
    assert missing == []
    # Error responses are described too: every authenticated operation names its 401.
    undocumented_401 = [
        f"{m} {p}" for (m, p), op in documented.items()
        if f"{m} {p}" in CONTRACT_OPERATIONS
        and p.startswith(("/v1/me", "/v1/merchant/", "/v1/dept", "/v1/admin"))
        and "401" not in op.get("responses", {})]
    assert undocumented_401 == []


def test_health_names_the_failing_part(app, client, monkeypatch):
    import redis

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(app.state.redis, "ping", down)
    r = client.get("/v1/health")
    assert r.status_code == 503
    body = r.get_json()
    assert body["database"] == "ok" and body["redis"] != "ok" and body["status"] != "ok"


# --------------------------------------------------------------------------- auth

def test_wechat_login_refresh_rotation_and_logout(client, wechat_login):
    wechat_login.expect_request("/sns/jscode2session").respond_with_json(
        {"openid": "o-contract-1", "session_key": "SK-NEVER-LEAVES"})
    r = client.post("/v1/auth/wechat/login", json={"code": "js-code-1"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert {"access_token", "refresh_token", "expires_in", "user"} <= set(body)
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["user"]["identity_bound"] is False and body["user"]["id"]
    assert "SK-NEVER-LEAVES" not in r.get_data(as_text=True)
    headers = auth(body["access_token"])

    # A WeChat error is 401 WECHAT_LOGIN_FAILED; WeChat busy is 503 WECHAT_UNAVAILABLE.
    wechat_login.expect_oneshot_request("/sns/jscode2session").respond_with_json(
        {"errcode": 40029, "errmsg": "invalid code"})
    expect_error(client.post("/v1/auth/wechat/login", json={"code": "bad"}), 401,
                 "WECHAT_LOGIN_FAILED")
    wechat_login.expect_oneshot_request("/sns/jscode2session").respond_with_json(
        {"errcode": -1, "errmsg": "system busy"})
    expect_error(client.post("/v1/auth/wechat/login", json={"code": "busy"}), 503,
                 "WECHAT_UNAVAILABLE")
    expect_error(client.post("/v1/auth/wechat/login", json={}), 422, "VALIDATION_ERROR")

    # Refresh: a new pair; the old refresh token stops working; reuse revokes the family.
    r = client.post("/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 200, r.get_json()
    second = r.get_json()
    assert second["refresh_token"] != body["refresh_token"] and second["access_token"]
    assert client.get("/v1/me/consents",
                      headers=auth(second["access_token"])).status_code == 200
    expect_error(client.post("/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}),
                 401)
    # The replay of a spent token revoked the whole family, including the newest one.
    expect_error(client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}),
                 401)
    expect_error(client.post("/v1/auth/refresh", json={"refresh_token": "garbage"}), 401)
    # v1.1: the family's access tokens stopped working at once too.
    for token in (body["access_token"], second["access_token"]):
        expect_error(client.get("/v1/me/consents", headers=auth(token)), 401)

    # The same WeChat user signs in again after real-name binding: same account, bound.
    r = client.post("/v1/auth/wechat/login", json={"code": "js-code-2"})
    headers = auth(r.get_json()["access_token"])
    bind(client, headers, "张三", valid_id(seq=333))
    r = client.post("/v1/auth/wechat/login", json={"code": "js-code-3"})
    assert r.status_code == 200
    assert r.get_json()["user"] == {**r.get_json()["user"], "id": body["user"]["id"],
                                    "identity_bound": True}
    later = r.get_json()

    # Logout: 204 and the access token stops working at once; v1.1: so does the
    # session's refresh token; another session of the account is not touched.
    r = client.get("/v1/me/consents", headers=headers)
    assert r.status_code == 200
    r = client.post("/v1/auth/logout", headers=headers)
    assert r.status_code == 204
    # (its error_code is checked in test_every_bad_credential_is_unauthenticated)
    expect_error(client.get("/v1/me/consents", headers=headers), 401)
    assert client.get("/v1/me/consents",
                      headers=auth(later["access_token"])).status_code == 200

    # Admin login: wrong password is 401, right one gives tokens.
    expect_error(client.post("/v1/auth/admin/login",
                             json={"username": "nobody", "password": "wrong-password"}), 401)


def test_roles_missing_and_bad_credentials(app, client):
    person = citizen(client)
    dept = department(app, client)
    admin = admin_headers(app, client)
    # Missing or bad credentials → 401 UNAUTHENTICATED.
    for method, path in [("get", "/v1/me/points"), ("get", "/v1/merchant/perks"),
                         ("get", "/v1/admin/rule-sets"), ("post", "/v1/me/verification-tokens")]:
        expect_error(getattr(client, method)(path), 401, "UNAUTHENTICATED")
        expect_error(getattr(client, method)(path, headers={"Authorization": "Bearer x.y.z"}),
                     401, "UNAUTHENTICATED")
    expect_error(client.get("/v1/dept/quality-issues"), 401, "UNAUTHENTICATED")
    expect_error(client.get("/v1/dept/quality-issues", headers={"X-API-Key": "not-a-key"}), 401,
                 "UNAUTHENTICATED")
    # A valid caller without the right → 403 FORBIDDEN.
    expect_error(client.get("/v1/admin/rule-sets", headers=person["headers"]), 403, "FORBIDDEN")
    expect_error(client.get("/v1/admin/merchants", headers=person["headers"]), 403, "FORBIDDEN")
    expect_error(client.get("/v1/merchant/perks", headers=person["headers"]), 403, "FORBIDDEN")
    expect_error(client.post("/v1/merchant/verifications", headers=person["headers"],
                             json={"token": "t" * 40, "perk_id": 1}), 403, "FORBIDDEN")
    # An admin is not a resident with points, nor a department.
    r = client.get("/v1/admin/rule-sets", headers=admin)
    assert r.status_code == 200
    # A department key opens department routes only.
    assert client.get("/v1/dept/quality-issues", headers=dept).status_code == 200
    # Either credential on the other's routes is no credential there → 401.
    expect_error(client.get("/v1/admin/rule-sets", headers=dept), 401, "UNAUTHENTICATED")
    expect_error(client.get("/v1/dept/quality-issues", headers=person["headers"]), 401,
                 "UNAUTHENTICATED")


def test_every_bad_access_token_is_unauthenticated(client):
    with at() as clock:
        codes = {}
        logged_out = login(client)
        assert client.post("/v1/auth/logout", headers=logged_out["headers"]).status_code == 204
        r = client.get("/v1/me/consents", headers=logged_out["headers"])
        codes["logged out"] = (r.status_code, r.get_json()["error_code"])
        closed = citizen(client)
        assert client.delete("/v1/me", headers=closed["headers"]).status_code == 204
        r = client.get("/v1/me/consents", headers=closed["headers"])
        codes["account closed"] = (r.status_code, r.get_json()["error_code"])
        stale = login(client)
        clock.shift(dt.timedelta(seconds=stale["expires_in"] + 60))  # past any clock-skew leeway
        r = client.get("/v1/me/consents", headers=stale["headers"])
        codes["expired"] = (r.status_code, r.get_json()["error_code"])
    assert codes == {case: (401, "UNAUTHENTICATED") for case in codes}


# --------------------------------------------------------------------------- resident

def test_resident_binds_identity_and_reads_explained_points(app, client):
    number = valid_id(seq=111)
    with at():
        dept = department(app, client, name="雨花区市场监督管理局")
        # Records pushed before the person ever opens the mini-program.
        refs = pushed(client, dept,
                      {"source_ref": "blood-1", "type": "donation.blood", "id_number": number,
                       "occurred_on": "2026-03-01"},
                      {"source_ref": "vol-1", "type": "volunteer.service", "id_number": number,
                       "occurred_on": "2026-02-01", "details": {"hours": 25}},
                      {"source_ref": "pen-1", "type": "admin.penalty.general",
                       "id_number": number, "decided_on": "2026-06-10"})

        person = login(client)
        assert person["user"]["identity_bound"] is False
        expect_error(client.get("/v1/me/points", headers=person["headers"]), 409,
                     "IDENTITY_REQUIRED")

        # Invalid ID numbers: checksum and date → 422.
        bad_checksum = number[:-1] + ("0" if number[-1] != "0" else "1")
        expect_error(client.post("/v1/me/identity/verifications", headers=person["headers"],
                                 json={"name": "张三", "id_number": bad_checksum}), 422)
        bad_date = valid_id(birth="19900230", seq=5)
        expect_error(client.post("/v1/me/identity/verifications", headers=person["headers"],
                                 json={"name": "张三", "id_number": bad_date}), 422)
        expect_error(client.post("/v1/me/identity/verifications", headers=person["headers"],
                                 json={"name": "张三"}), 422, "VALIDATION_ERROR")
        expect_error(client.put("/v1/me/identity", headers=person["headers"],
                                json={"name": "张三"}), 422, "VALIDATION_ERROR")

        body = bind(client, person["headers"], "张三", number).get_json()
        assert body["name_masked"] == "张*"
        assert body["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
        assert body["eligible"] is True
        assert number not in json.dumps(body)

        # Without credit_points consent → 403 CONSENT_REQUIRED.
        expect_error(client.get("/v1/me/points", headers=person["headers"]), 403,
                     "CONSENT_REQUIRED")
        r = client.get("/v1/me/consents", headers=person["headers"])
        assert r.status_code == 200
        expect_error(client.put("/v1/me/consents/no_such_scope", headers=person["headers"],
                                json={"granted": True, "policy_version": "2026-01"}), 422,
                     "VALIDATION_ERROR")
        consent(client, person, "credit_points")

        pts = points_body(client, person)
        # 1000 + 10 (blood) + 2 (25 h volunteering: 2 full tens) − 30 (general penalty).
        assert pts["points"] == 982 and pts["level"] == "A" and pts["restricted"] is False
        assert pts["base"] == 1000 and pts["rule_set"] == "changsha-2020"
        assert pts["as_of"] == "2026-06-15"
        assert pts["next_level"] == {"level": "AA", "points_needed": 48}
        items = {i["record_id"]: i for i in pts["items"]}
        assert set(items) == set(refs.values())
        assert pts["base"] + sum(i["points"] for i in pts["items"]) == pts["points"]
        blood = items[refs["blood-1"]]
        assert (blood["type"], blood["points"], blood["counted_from"], blood["counted_until"]) == (
            "donation.blood", 10, "2026-03-01", "2028-03-01")
        assert blood["title"]
        assert items[refs["vol-1"]]["points"] == 2
        assert items[refs["vol-1"]]["counted_until"] == "2027-02-01"
        penalty = items[refs["pen-1"]]
        assert (penalty["points"], penalty["counted_from"], penalty["counted_until"]) == (
            -30, "2026-06-10", "2027-06-10")

        records = my_records(client, person)
        assert set(records) == set(refs.values())
        rec = records[refs["pen-1"]]
        assert rec["status"] == "active" and rec["class"] == "general"
        assert rec["counted_until"] == "2027-06-10" and rec["repairable_from"] == "2026-09-10"
        assert records[refs["blood-1"]]["counted_until"] == "2028-03-01"

        # The department revokes the penalty: points change at once and history says why.
        r = client.post("/v1/dept/records/pen-1/revoke", headers=dept,
                        json={"reason": "issued to the wrong person"})
        assert r.status_code == 200, r.get_json()
        pts = points_body(client, person)
        assert pts["points"] == 1012 and pts["next_level"] == {"level": "AA", "points_needed": 18}
        assert my_records(client, person)[refs["pen-1"]]["status"] == "revoked"
        r = client.get("/v1/me/points/history", headers=person["headers"])
        assert r.status_code == 200
        history = r.get_json()
        assert history[0]["points"] == 1012 and history[0]["level"] == "A"
        assert "issued to the wrong person" in history[0]["reason"]
        assert any(h["points"] == 982 for h in history[1:])
        stamps = [iso_ts(h["changed_at"]) for h in history]
        assert stamps == sorted(stamps, reverse=True)

        # Withdrawing consent stops the points view again.
        consent(client, person, "credit_points", granted=False)
        expect_error(client.get("/v1/me/points", headers=person["headers"]), 403,
                     "CONSENT_REQUIRED")


def test_level_boundaries_restriction_and_next_level(app, client):
    with at():
        dept = department(app, client)
        # 1000 + 50 (brave act) = 1050: AAA, nothing above.
        top = valid_id(seq=121)
        pushed(client, dept, {"type": "brave.act", "id_number": top, "occurred_on": "2026-01-01"})
        body = points_body(client, citizen(client, top))
        assert (body["points"], body["level"], body["next_level"]) == (1050, "AAA", None)
        # The floor is 0: six court defaulter listings (−1200) give 0, level D.
        floor = valid_id(seq=124)
        pushed(client, dept, *[{"type": "court.defaulter", "id_number": floor,
                                "decided_on": f"2025-0{m}-01"} for m in range(1, 7)])
        body = points_body(client, citizen(client, floor))
        assert (body["points"], body["level"], body["restricted"]) == (0, "D", True)
        assert body["next_level"] == {"level": "C", "points_needed": 600}
        # 1000 − 100 (serious penalty) = 900: B and restricted.
        low = valid_id(seq=122)
        pushed(client, dept, {"type": "admin.penalty.serious", "id_number": low,
                              "decided_on": "2026-05-01"})
        body = points_body(client, citizen(client, low))
        assert (body["points"], body["level"], body["restricted"]) == (900, "B", True)
        assert body["next_level"] == {"level": "A", "points_needed": 60}
        # Blood donation cap 30: four donations give 30, not 40.
        capped = valid_id(seq=123)
        pushed(client, dept, *[{"type": "donation.blood", "id_number": capped,
                                "occurred_on": f"2026-0{m}-01"} for m in (1, 2, 3, 4)])
        body = points_body(client, citizen(client, capped))
        assert body["points"] == 1030 and body["level"] == "AA"


def test_minor_and_other_residents_objects(app, client):
    with at():
        dept = department(app, client)
        alice_no = valid_id(seq=131)
        refs = pushed(client, dept, {"source_ref": "a-pen", "type": "admin.penalty.general",
                                     "id_number": alice_no, "decided_on": "2026-01-10"})
        alice = citizen(client, alice_no)
        bob = citizen(client)

        # An intruder typing Alice's number is refused by face verification, which
        # the development stand-in of these tests passes: see
        # tests/api/test_identity_move.py::test_hidden_takeover_is_refused.
        minor = login(client)
        body = bind(client, minor["headers"], "李小", valid_id(birth="20150101", seq=7)).get_json()
        assert body["eligible"] is False

        # Alice's objects are not Bob's: 404, not 403.
        r = client.post("/v1/me/commitments", headers=alice["headers"],
                        json={"kind": "voluntary", "content": "诚信经营", "public": False})
        assert r.status_code == 201, r.get_json()
        commitment = r.get_json()["id"]
        expect_error(client.post(f"/v1/me/commitments/{commitment}/withdraw",
                                 headers=bob["headers"]), 404)
        expect_error(client.post("/v1/me/objections", headers=bob["headers"],
                                 json={"record_id": refs["a-pen"], "reason": "不是我"}), 404)
        expect_error(client.post("/v1/me/repairs", headers=bob["headers"], json={
            "record_id": refs["a-pen"], "statement": "已整改", "commitment": "今后守法",
            "evidence": [{"kind": "receipt", "ref": "R-1"}]}), 404)
        r = client.post("/v1/me/repairs", headers=alice["headers"], json={
            "record_id": refs["a-pen"], "statement": "已缴纳罚款并整改",
            "commitment": "今后守法经营",
            "evidence": [{"kind": "receipt", "ref": "R-1"}]})
        assert r.status_code == 201, r.get_json()
        expect_error(client.post(f"/v1/me/repairs/{r.get_json()['id']}/withdraw",
                                 headers=bob["headers"]), 404)
        assert client.get("/v1/me/repairs", headers=bob["headers"]).get_json() == []
        assert my_records(client, bob) == {}


# --------------------------------------------------------------------------- commitments

def test_commitments_public_outcomes_and_fast_track_exclusion(app, client):
    with at():
        dept = department(app, client, code="market")
        person = citizen(client, name="王五")
        r = client.post("/v1/me/commitments", headers=person["headers"],
                        json={"kind": "voluntary", "content": "诚信为本，守法经营", "public": True})
        assert r.status_code == 201, r.get_json()
        voluntary = r.get_json()

        # Fast-track kinds need department, matter and due_on.
        expect_error(client.post("/v1/me/commitments", headers=person["headers"],
                                 json={"kind": "approval_substitute", "content": "承诺补交材料",
                                       "public": False}), 422)
        expect_error(client.post("/v1/me/commitments", headers=person["headers"],
                                 json={"kind": "no_such_kind", "content": "x", "public": False}),
                     422, "VALIDATION_ERROR")
        fast = {"kind": "missing_materials", "content": "十个工作日内补齐材料",
                "department": "market", "matter": "个体工商户设立登记", "due_on": "2026-06-30",
                "public": False}
        r = client.post("/v1/me/commitments", headers=person["headers"], json=fast)
        assert r.status_code == 201, r.get_json()
        missing_materials = r.get_json()

        mine = client.get("/v1/me/commitments", headers=person["headers"])
        assert mine.status_code == 200 and "X-Pagination" in mine.headers
        assert {c["id"] for c in mine.get_json()} == {voluntary["id"], missing_materials["id"]}

        public = client.get("/v1/commitments/public")
        assert public.status_code == 200
        assert mentions(public.get_json(), "诚信为本，守法经营")
        assert not mentions(public.get_json(), "王五")  # names masked
        assert not mentions(public.get_json(), "十个工作日内补齐材料")  # not public

        # The department sees the commitment and records a breach.
        r = client.get("/v1/dept/commitments", headers=dept)
        assert r.status_code == 200
        assert missing_materials["id"] in [c["id"] for c in r.get_json()]
        expect_error(client.post(f"/v1/dept/commitments/{missing_materials['id']}/outcome",
                                 headers=dept, json={"outcome": "maybe", "serious": False}), 422)
        # Missing materials may still come until their due date: no breach before it.
        expect_error(client.post(f"/v1/dept/commitments/{missing_materials['id']}/outcome",
                                 headers=dept, json={"outcome": "breached", "serious": False}),
                     409, "COMMITMENT_NOT_DUE")
        # A false statement under 告知承诺 is a breach found at once.
        r = client.post("/v1/me/commitments", headers=person["headers"],
                        json={**fast, "kind": "approval_substitute"})
        assert r.status_code == 201, r.get_json()
        r = client.post(f"/v1/dept/commitments/{r.get_json()['id']}/outcome", headers=dept,
                        json={"outcome": "breached", "serious": False})
        assert r.status_code == 200, r.get_json()
        body = points_body(client, person)
        assert body["points"] == 980  # commitment.breached −20
        assert [i["type"] for i in body["items"]] == ["commitment.breached"]

        # An unrepaired breached commitment excludes the fast track.
        expect_error(client.post("/v1/me/commitments", headers=person["headers"],
                                 json={**fast, "kind": "approval_substitute"}), 409,
                     "FAST_TRACK_EXCLUDED")
        # ...but not a voluntary commitment, which can be withdrawn.
        r = client.post("/v1/me/commitments", headers=person["headers"],
                        json={"kind": "voluntary", "content": "按时缴纳水电费", "public": False})
        assert r.status_code == 201, r.get_json()
        r = client.post(f"/v1/me/commitments/{r.get_json()['id']}/withdraw",
                        headers=person["headers"])
        assert r.status_code == 200, r.get_json()

        # A fulfilled commitment writes commitment.fulfilled (+2) for another subject.
        other = citizen(client)
        r = client.post("/v1/me/commitments", headers=other["headers"], json=fast)
        assert r.status_code == 201, r.get_json()
        r = client.post(f"/v1/dept/commitments/{r.get_json()['id']}/outcome", headers=dept,
                        json={"outcome": "fulfilled", "serious": False})
        assert r.status_code == 200, r.get_json()
        assert points_body(client, other)["points"] == 1002

        # A serious breach writes commitment.breached_serious (−50, class serious).
        third = citizen(client)
        r = client.post("/v1/me/commitments", headers=third["headers"],
                        json={**fast, "kind": "approval_substitute"})
        r = client.post(f"/v1/dept/commitments/{r.get_json()['id']}/outcome", headers=dept,
                        json={"outcome": "breached", "serious": True})
        assert r.status_code == 200, r.get_json()
        body = points_body(client, third)
        assert (body["points"], body["restricted"]) == (950, True)
        assert [i["type"] for i in body["items"]] == ["commitment.breached_serious"]
        assert next(iter(my_records(client, third).values()))["class"] == "serious"
        # Only the department the commitment was made to records its outcome, once.
        stranger = department(app, client, code="tax")
        fourth = citizen(client)
        r = client.post("/v1/me/commitments", headers=fourth["headers"], json=fast)
        mm = r.get_json()["id"]
        assert client.get("/v1/dept/commitments", headers=stranger).get_json() == []
        r = client.post(f"/v1/dept/commitments/{mm}/outcome", headers=stranger,
                        json={"outcome": "breached", "serious": True})
        expect_error(r, 404, "COMMITMENT_NOT_FOUND")  # another department's: not there
        assert points_body(client, fourth)["points"] == 1000
        assert client.post(f"/v1/dept/commitments/{mm}/outcome", headers=dept,
                           json={"outcome": "fulfilled", "serious": False}).status_code == 200
        r = client.post(f"/v1/dept/commitments/{mm}/outcome", headers=dept,
                        json={"outcome": "breached", "serious": True})
        expect_error(r, 409, "COMMITMENT_CLOSED")
        assert points_body(client, fourth)["points"] == 1002

        # A restricted subject is excluded from the fast track too.
        restricted_no = valid_id(seq=141)
        pushed(client, dept, {"type": "food.safety_blacklist", "id_number": restricted_no,
                              "decided_on": "2026-03-01"})
        restricted = citizen(client, restricted_no)
        assert points_body(client, restricted)["restricted"] is True
        expect_error(client.post("/v1/me/commitments", headers=restricted["headers"], json=fast),
                     409, "FAST_TRACK_EXCLUDED")


def test_an_industry_commitment_needs_no_matter(client):
    with at():
        person = citizen(client)
        r = client.post("/v1/me/commitments", headers=person["headers"],
                        json={"kind": "industry", "content": "遵守家政行业自律公约",
                              "public": True})
        assert r.status_code == 201, r.get_json()


def test_a_repair_commitment_is_made_with_a_repair_application(client):
    """`repair` is one of the contract's kinds, but such a commitment is the one signed
    with a repair application (POST /v1/me/repairs, issue 4), which makes it: posted on
    its own it is refused with a 422 that says where to make it."""
    with at():
        person = citizen(client)
        r = client.post("/v1/me/commitments", headers=person["headers"],
                        json={"kind": "repair", "content": "今后按时履行法定义务", "public": True})
        expect_error(r, 422, "VALIDATION_ERROR")
        assert "/v1/me/repairs" in r.get_json()["errors"]["json"]["kind"][0]


# --------------------------------------------------------------------------- repairs

REPAIR = {"statement": "罚款已缴清，问题已整改", "commitment": "今后严格遵守食品安全规定",
          "evidence": [{"kind": "receipt", "ref": "缴款书 2026-001"}]}


def test_repair_applied_and_decided_by_the_designating_department(app, client):
    number = valid_id(seq=151)
    with at():
        market = department(app, client, code="market")
        civil = department(app, client, code="civil")
        refs = pushed(client, market, {"source_ref": "m-1", "type": "admin.penalty.general",
                                       "id_number": number, "decided_on": "2026-01-10"})
        person = citizen(client, number, name="赵六")
        assert points_body(client, person)["points"] == 970
        assert my_records(client, person)[refs["m-1"]]["repairable_from"] == "2026-04-10"

        r = client.post("/v1/me/repairs", headers=person["headers"],
                        json={"record_id": refs["m-1"], **REPAIR})
        assert r.status_code == 201, r.get_json()
        repair = r.get_json()
        assert repair["status"] == "submitted" and repair["id"]
        # Five Chinese working days (the Dragon Boat Festival, 19 June, is skipped).
        assert repair["decision_due_on"] == add_workdays(TODAY, 5).isoformat() == "2026-06-23"
        expect_error(client.post("/v1/me/repairs", headers=person["headers"],
                                 json={"record_id": refs["m-1"], **REPAIR}), 409,
                     "REPAIR_PENDING")
        # The repair commitment is public at once, with the name masked.
        public = client.get("/v1/commitments/public").get_json()
        assert mentions(public, REPAIR["commitment"]) and not mentions(public, "赵六")

        # Only the designating department sees and decides it.
        assert client.get("/v1/dept/repairs", headers=civil).get_json() == []
        r = client.post(f"/v1/dept/repairs/{repair['id']}/decision", headers=civil,
                        json={"approve": True, "note": "not ours"})
        expect_error(r, 404, "REPAIR_NOT_FOUND")  # another department's: not there
        r = client.get("/v1/dept/repairs?status=submitted", headers=market)
        assert r.status_code == 200 and [x["id"] for x in r.get_json()] == [repair["id"]]
        expect_error(client.post(f"/v1/dept/repairs/{repair['id']}/decision", headers=market,
                                 json={"note": "no decision"}), 422, "VALIDATION_ERROR")
        r = client.post(f"/v1/dept/repairs/{repair['id']}/decision", headers=market,
                        json={"approve": True, "note": "整改到位"})
        assert r.status_code == 200, r.get_json()

        # Approval repairs the record and recomputes the points at once.
        body = points_body(client, person)
        assert body["points"] == 1000 and body["items"] == []
        rec = my_records(client, person)[refs["m-1"]]
        assert rec["status"] == "repaired" and rec["counted_until"] == "2026-06-15"
        mine = client.get("/v1/me/repairs", headers=person["headers"]).get_json()
        assert [x["id"] for x in mine] == [repair["id"]] and mine[0]["status"] != "submitted"
        assert client.get("/v1/dept/repairs?status=submitted", headers=market).get_json() == []
        # Deciding twice is a conflict, not a second decision.
        r = client.post(f"/v1/dept/repairs/{repair['id']}/decision", headers=market,
                        json={"approve": False, "note": "again"})
        expect_error(r, 409, "REPAIR_CLOSED")


def test_repair_refusals_and_withdrawal(app, client):
    number = valid_id(seq=161)
    with at():
        dept = department(app, client)
        refs = pushed(client, dept,
                      {"source_ref": "early", "type": "admin.penalty.general",
                       "id_number": number, "decided_on": "2026-05-20"},
                      {"source_ref": "court", "type": "court.defaulter", "id_number": number,
                       "decided_on": "2025-01-01"},
                      {"source_ref": "minor", "type": "admin.penalty.minor", "id_number": number,
                       "decided_on": "2026-06-01"},
                      {"source_ref": "blood", "type": "donation.blood", "id_number": number,
                       "occurred_on": "2026-01-01"})
        person = citizen(client, number)
        body = expect_error(client.post("/v1/me/repairs", headers=person["headers"],
                                        json={"record_id": refs["early"], **REPAIR}), 409,
                            "NOT_YET_REPAIRABLE")
        assert body["repairable_from"] == "2026-08-20"
        expect_error(client.post("/v1/me/repairs", headers=person["headers"],
                                 json={"record_id": refs["court"], **REPAIR}), 409,
                     "NOT_REPAIRABLE")
        r = client.post("/v1/me/repairs", headers=person["headers"],
                        json={"record_id": refs["blood"], **REPAIR})
        expect_error(r, 409, "NOT_REPAIRABLE")
        expect_error(client.post("/v1/me/repairs", headers=person["headers"],
                                 json={"record_id": 99_999_999, **REPAIR}), 404)
        expect_error(client.post("/v1/me/repairs", headers=person["headers"],
                                 json={"record_id": refs["minor"], "statement": "x"}), 422,
                     "VALIDATION_ERROR")
        # A minor penalty is repairable at once; withdrawing frees the record again.
        r = client.post("/v1/me/repairs", headers=person["headers"],
                        json={"record_id": refs["minor"], **REPAIR})
        assert r.status_code == 201, r.get_json()
        first = r.get_json()["id"]
        r = client.post(f"/v1/me/repairs/{first}/withdraw", headers=person["headers"])
        assert r.status_code == 200, r.get_json()
        r = client.post("/v1/me/repairs", headers=person["headers"],
                        json={"record_id": refs["minor"], **REPAIR})
        assert r.status_code == 201, r.get_json()
        # The defaulter still counts: restricted until the court ends it.
        body = points_body(client, person)
        assert body["restricted"] is True and body["points"] == 1000 + 10 - 30 - 200 - 5


# --------------------------------------------------------------------------- objections

def test_objection_disputed_at_once_then_upheld_or_not(app, client):
    number = valid_id(seq=171)
    with at():
        dept = department(app, client)
        refs = pushed(client, dept,
                      {"source_ref": "wrong", "type": "admin.penalty.general",
                       "id_number": number, "decided_on": "2026-06-01"},
                      {"source_ref": "right", "type": "admin.penalty.minor",
                       "id_number": number, "decided_on": "2026-06-02"})
        person = citizen(client, number)
        assert points_body(client, person)["points"] == 965

        expect_error(client.post("/v1/me/objections", headers=person["headers"],
                                 json={"record_id": refs["wrong"]}), 422, "VALIDATION_ERROR")
        expect_error(client.post("/v1/me/objections", headers=person["headers"],
                                 json={"record_id": 99_999_999, "reason": "?"}), 404)
        r = client.post("/v1/me/objections", headers=person["headers"],
                        json={"record_id": refs["wrong"], "reason": "处罚对象不是我本人"})
        assert r.status_code == 201, r.get_json()
        wrong = r.get_json()
        assert wrong["status"] == "pending"
        assert wrong["decision_due_on"] == add_workdays(TODAY, 5).isoformat()
        r = client.post("/v1/me/objections", headers=person["headers"],
                        json={"record_id": refs["right"], "reason": "金额有误"})
        assert r.status_code == 201
        right = r.get_json()

        # Disputed at once, still counting.
        records = my_records(client, person)
        assert records[refs["wrong"]]["status"] == "disputed"
        assert records[refs["right"]]["status"] == "disputed"
        assert points_body(client, person)["points"] == 965
        mine = client.get("/v1/me/objections", headers=person["headers"]).get_json()
        assert {o["id"] for o in mine} == {wrong["id"], right["id"]}

        r = client.get("/v1/dept/objections?status=pending", headers=dept)
        assert r.status_code == 200
        assert {o["id"] for o in r.get_json()} == {wrong["id"], right["id"]}
        expect_error(client.post(f"/v1/dept/objections/{wrong['id']}/decision", headers=dept,
                                 json={"upheld": "perhaps", "note": "?"}), 422,
                     "VALIDATION_ERROR")
        r = client.post(f"/v1/dept/objections/{wrong['id']}/decision", headers=dept,
                        json={"upheld": True, "note": "核实确属错误"})
        assert r.status_code == 200, r.get_json()
        r = client.post(f"/v1/dept/objections/{right['id']}/decision", headers=dept,
                        json={"upheld": False, "note": "处罚无误"})
        assert r.status_code == 200, r.get_json()

        # Upheld revokes the record and recomputes at once; not upheld: counting as before.
        records = my_records(client, person)
        assert records[refs["wrong"]]["status"] == "revoked"
        assert records[refs["right"]]["status"] == "active"
        assert points_body(client, person)["points"] == 995
        assert client.get("/v1/dept/objections?status=pending", headers=dept).get_json() == []
        statuses = {o["id"]: o["status"] for o in
                    client.get("/v1/me/objections", headers=person["headers"]).get_json()}
        assert statuses[wrong["id"]] != "pending" and statuses[right["id"]] != "pending"
        assert statuses[wrong["id"]] != statuses[right["id"]]


# --------------------------------------------------------------------------- merchants

def test_merchant_application_approval_and_perk_editing(app, client):
    with at():
        admin = admin_headers(app, client)
        applicant = login(client)
        expect_error(client.post("/v1/merchants", headers=applicant["headers"],
                                 json={"name": "坏码商户", "uscc": "91430104MA4L000000",
                                       "sector": "tourism"}), 422)
        expect_error(client.post("/v1/merchants", headers=applicant["headers"],
                                 json={"name": "无行业", "uscc": valid_uscc(), "sector": "mining"}),
                     422, "VALIDATION_ERROR")
        expect_error(client.post("/v1/merchants",
                                 json={"name": "匿名", "uscc": valid_uscc(), "sector": "hotel"}),
                     401, "UNAUTHENTICATED")
        r = client.post("/v1/merchants", headers=applicant["headers"],
                        json={"name": "湘江宾馆", "uscc": valid_uscc(), "sector": "hotel"})
        assert r.status_code == 201 and r.get_json()["status"] == "pending"
        hotel = r.get_json()["id"]
        loser = login(client)
        r = client.post("/v1/merchants", headers=loser["headers"],
                        json={"name": "可疑商户", "uscc": valid_uscc(), "sector": "other"})
        assert r.status_code == 201
        rejected = r.get_json()["id"]

        # Not yet approved: no merchant routes.
        expect_error(client.post("/v1/merchant/perks", headers=applicant["headers"], json=PERK),
                     403, "FORBIDDEN")
        r = client.get("/v1/admin/merchants?status=pending", headers=admin)
        assert r.status_code == 200 and "X-Pagination" in r.headers
        assert {m["id"] for m in r.get_json()} == {hotel, rejected}
        assert client.post(f"/v1/admin/merchants/{hotel}/approve",
                           headers=admin).status_code == 200
        assert client.post(f"/v1/admin/merchants/{rejected}/reject", headers=admin,
                           json={"reason": "材料不全"}).status_code == 200
        expect_error(client.post("/v1/admin/merchants/99999999/approve", headers=admin), 404)
        assert {m["id"] for m in client.get("/v1/admin/merchants?status=pending",
                                            headers=admin).get_json()} == set()
        expect_error(client.post("/v1/merchant/perks", headers=loser["headers"], json=PERK),
                     403, "FORBIDDEN")

        # The applicant is now the owner: perks with ETag / If-Match.
        expect_error(client.post("/v1/merchant/perks", headers=applicant["headers"],
                                 json={**PERK, "min_level": "Z"}), 422, "VALIDATION_ERROR")
        expect_error(client.post("/v1/merchant/perks", headers=applicant["headers"],
                                 json={**PERK, "benefit": {"kind": "cashback", "value": 5}}),
                     422, "VALIDATION_ERROR")
        r = client.post("/v1/merchant/perks", headers=applicant["headers"],
                        json={**PERK, "title": "免押金入住", "benefit": {"kind": "deposit_free",
                                                                      "value": "免押金"}})
        assert r.status_code == 201, r.get_json()
        etag, perk_id = r.headers["ETag"], r.get_json()["id"]
        listed = client.get("/v1/merchant/perks", headers=applicant["headers"])
        assert listed.status_code == 200 and [p["id"] for p in listed.get_json()] == [perk_id]
        expect_error(client.patch(f"/v1/merchant/perks/{perk_id}", headers=applicant["headers"],
                                  json={"title": "免押金入住（新）"}), 428)
        r = client.patch(f"/v1/merchant/perks/{perk_id}",
                         headers={**applicant["headers"], "If-Match": etag},
                         json={"title": "免押金入住（新）"})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["title"] == "免押金入住（新）" and r.headers["ETag"] != etag
        expect_error(client.patch(f"/v1/merchant/perks/{perk_id}",
                                  headers={**applicant["headers"], "If-Match": etag},
                                  json={"title": "stale"}), 412)
        # Another merchant's perk is not ours.
        other = merchant(app, client, name="橘子洲游船")
        r = client.patch(f"/v1/merchant/perks/{perk_id}",
                         headers={**other["headers"], "If-Match": r.headers["ETag"]},
                         json={"title": "hijack"})
        expect_error(r, 404, "PERK_NOT_FOUND")


def test_code_verify_redeem_exactly_once_and_access_log(app, client):
    number = valid_id(seq=181)
    with at() as clock:
        shop = merchant(app, client)
        offer = perk(client, shop)
        alice = citizen(client, number, name="张小三", scopes=("credit_points",))
        # Without merchant_share consent → 403 CONSENT_REQUIRED.
        expect_error(client.post("/v1/me/verification-tokens", headers=alice["headers"]), 403,
                     "CONSENT_REQUIRED")
        consent(client, alice, "merchant_share")

        r = client.get(f"/v1/perks?sector=tourism&merchant_id={shop['id']}",
                       headers=alice["headers"])
        assert r.status_code == 200
        assert [(p["id"], p["eligible"]) for p in r.get_json()] == [(offer["id"], True)]
        assert client.get("/v1/perks?sector=hotel", headers=alice["headers"]).get_json() == []

        r = client.post("/v1/me/verification-tokens", headers=alice["headers"])
        assert r.status_code == 201
        token = r.get_json()
        assert {"token", "expires_at", "qr_svg"} <= set(token)
        assert "<svg" in token["qr_svg"]
        lives = iso_ts(token["expires_at"]) - dt.datetime.now(SHANGHAI)
        assert lives == dt.timedelta(seconds=120)

        expect_error(client.post("/v1/merchant/verifications", headers=shop["headers"],
                                 json={"token": token["token"]}), 422, "VALIDATION_ERROR")
        r = client.post("/v1/merchant/verifications", headers=shop["headers"],
                        json={"token": token["token"], "perk_id": offer["id"]})
        assert r.status_code == 201, r.get_json()
        v = r.get_json()
        assert (v["eligible"], v["level"], v["reasons"]) == (True, "A", [])
        assert v["display_name"] != "张小三" and v["display_name"].startswith("张")
        assert "*" in v["display_name"]
        # The merchant learns the level and a masked name only.
        text = r.get_data(as_text=True)
        assert number not in text and number[-4:] not in text
        assert not ({"points", "records", "items", "id_number", "restricted", "name"} & set(v))
        # One-time: the same code again → 409 TOKEN_USED; unknown → 410 TOKEN_EXPIRED.
        expect_error(client.post("/v1/merchant/verifications", headers=shop["headers"],
                                 json={"token": token["token"], "perk_id": offer["id"]}), 409,
                     "TOKEN_USED")
        expect_error(client.post("/v1/merchant/verifications", headers=shop["headers"],
                                 json={"token": "x" * 43, "perk_id": offer["id"]}), 410,
                     "TOKEN_EXPIRED")

        r = redeem(client, shop, v["id"], "key-A")
        assert r.status_code == 201, r.get_json()
        grant = r.get_json()
        assert grant["perk_id"] == offer["id"] and grant["status"] == "granted"
        assert iso_ts(grant["redeemed_at"]) == dt.datetime.now(SHANGHAI)
        # Replay with the same key and body: the same answer, and still one redemption.
        r = redeem(client, shop, v["id"], "key-A")
        assert r.status_code == 201 and r.get_json() == grant
        # The same key with another body → 422 IDEMPOTENCY_KEY_REUSED.
        expect_error(redeem(client, shop, v["id"] + 1, "key-A"), 422, "IDEMPOTENCY_KEY_REUSED")
        # The same verification with another key → 409 ALREADY_REDEEMED.
        expect_error(redeem(client, shop, v["id"], "key-B"), 409, "ALREADY_REDEEMED")
        mine = client.get("/v1/me/redemptions", headers=alice["headers"])
        assert mine.status_code == 200 and [x["id"] for x in mine.get_json()] == [grant["id"]]
        theirs = client.get("/v1/merchant/redemptions", headers=shop["headers"])
        assert theirs.status_code == 200 and [x["id"] for x in theirs.get_json()] == [grant["id"]]
        assert number not in theirs.get_data(as_text=True)
        stats = client.get("/v1/merchant/stats", headers=shop["headers"])
        assert stats.status_code == 200

        # Another merchant cannot redeem our verification.
        rival = merchant(app, client, name="橘子洲游船")
        r = redeem(client, rival, v["id"], "key-R")
        expect_error(r, 404, "VERIFICATION_NOT_FOUND")

        # Consent withdrawn after the code was shown: the merchant learns nothing.
        withdrawn = code_for(client, alice)
        consent(client, alice, "merchant_share", granted=False)
        r = client.post("/v1/merchant/verifications", headers=shop["headers"],
                        json={"token": withdrawn, "perk_id": offer["id"]})
        assert r.status_code == 201, r.get_json()  # scanned, and refused in the answer
        assert r.get_json()["eligible"] is False and r.get_json()["level"] is None
        consent(client, alice, "merchant_share")
        log_size = len(client.get("/v1/me/access-log", headers=alice["headers"]).get_json())

        # An unused code dies after 120 s.
        stale = code_for(client, alice)
        clock.shift(dt.timedelta(seconds=121))
        expect_error(client.post("/v1/merchant/verifications", headers=shop["headers"],
                                 json={"token": stale, "perk_id": offer["id"]}), 410,
                     "TOKEN_EXPIRED")

        # Alice sees who looked at her credit: the merchant, when and why.
        r = client.get("/v1/me/access-log", headers=alice["headers"])
        assert r.status_code == 200
        log = r.get_json()
        assert len(log) == log_size >= 1 and mentions(log[-1], shop["name"])
        stamps = [v for v in log[0].values() if isinstance(v, str) and re.match(r"\d{4}-", v)]
        assert stamps and iso_ts(stamps[0]).date() == TODAY
        assert any(k in log[0] for k in ("purpose", "reason"))


def test_limits_quota_eligibility_and_verification_expiry(app, client):
    with at() as clock:
        shop = merchant(app, client)
        offer = perk(client, shop, total_quota=2, per_resident_limit=1)
        alice, bob, carol = citizen(client), citizen(client), citizen(client)

        assert redeem(client, shop, verify(client, shop, alice, offer["id"])["id"],
                      "a-1").status_code == 201
        # The per-resident limit: a second redemption for Alice → 409 LIMIT_REACHED.
        r = client.post("/v1/merchant/verifications", headers=shop["headers"],
                        json={"token": code_for(client, alice), "perk_id": offer["id"]})
        assert r.status_code == 201, r.get_json()
        expect_error(redeem(client, shop, r.get_json()["id"], "a-2"), 409, "LIMIT_REACHED")
        assert redeem(client, shop, verify(client, shop, bob, offer["id"])["id"],
                      "b-1").status_code == 201
        # The quota is gone → 409 QUOTA_EXHAUSTED.
        r = client.post("/v1/merchant/verifications", headers=shop["headers"],
                        json={"token": code_for(client, carol), "perk_id": offer["id"]})
        assert r.status_code == 201, r.get_json()
        expect_error(redeem(client, shop, r.get_json()["id"], "c-1"), 409, "QUOTA_EXHAUSTED")
        assert len(client.get("/v1/merchant/redemptions", headers=shop["headers"]).get_json()) == 2

        # Restricted: ineligible for every perk, whatever the points.
        dept = department(app, client)
        number = valid_id(seq=191)
        pushed(client, dept, {"type": "brave.act", "id_number": number,
                              "occurred_on": "2026-01-01"},
                             {"type": "brave.act", "id_number": number,
                              "occurred_on": "2026-02-01"},
                             {"type": "honour.national", "id_number": number,
                              "occurred_on": "2026-03-01"},
                             {"type": "court.defaulter", "id_number": number,
                              "decided_on": "2026-05-01"})
        dave = citizen(client, number)
        assert points_body(client, dave)["points"] == 1000 + 50 + 50 + 50 - 200
        open_offer = perk(client, shop, title="普通会员价", min_level="D", total_quota=100)
        listed = {p["id"]: p["eligible"] for p in
                  client.get("/v1/perks", headers=dave["headers"]).get_json()}
        assert listed[open_offer["id"]] is False
        v = verify(client, shop, dave, open_offer["id"])
        assert v["eligible"] is False and v["reasons"] and v["level"] in ALL_LEVELS
        expect_error(redeem(client, shop, v["id"], "d-1"), 403, "NOT_ELIGIBLE")

        # Below the perk's level: ineligible too.
        elite = perk(client, shop, title="AAA 贵宾通道", min_level="AAA",
                     benefit={"kind": "priority", "value": "优先入园"}, total_quota=10)
        erin = citizen(client)
        v = verify(client, shop, erin, elite["id"])
        assert (v["eligible"], v["level"]) == (False, "A") and v["reasons"]
        expect_error(redeem(client, shop, v["id"], "e-1"), 403, "NOT_ELIGIBLE")

        # A verification older than 10 minutes → 410 VERIFICATION_EXPIRED.
        frank, gina = citizen(client), citizen(client)
        v = verify(client, shop, frank, open_offer["id"])
        w = verify(client, shop, gina, open_offer["id"])
        assert v["eligible"] is True and w["eligible"] is True
        clock.shift(dt.timedelta(minutes=9, seconds=55))
        assert redeem(client, shop, w["id"], "g-1").status_code == 201
        clock.shift(dt.timedelta(seconds=6))
        expect_error(redeem(client, shop, v["id"], "f-1"), 410, "VERIFICATION_EXPIRED")

        # A one-time code still works just before its 120 s are up.
        harry = citizen(client)
        token = code_for(client, harry)
        clock.shift(dt.timedelta(seconds=118))
        r = client.post("/v1/merchant/verifications", headers=shop["headers"],
                        json={"token": token, "perk_id": open_offer["id"]})
        assert r.status_code == 201, r.get_json()


def test_only_active_perks_are_listed_and_verified_for_their_merchant(app, client):
    with at("2026-05-01"):
        shop = merchant(app, client)
        perk(client, shop, title="已过期", valid_from="2026-01-01", valid_until="2026-06-01")
    with at():
        shop["headers"] = login(client, shop["openid"])["headers"]
        current = perk(client, shop, title="当季优惠")
        perk(client, shop, title="未开始", valid_from="2026-07-01", valid_until="2026-12-31")
        person = citizen(client)
        listed = client.get("/v1/perks", headers=person["headers"]).get_json()
        assert [p["id"] for p in listed] == [current["id"]]
        assert listed[0]["eligible"] is True
        # Invalid perk dates are refused.
        expect_error(client.post("/v1/merchant/perks", headers=shop["headers"],
                                 json={**PERK, "valid_from": "2026-12-31",
                                       "valid_until": "2026-01-01"}), 422)
        expect_error(client.post("/v1/merchant/perks", headers=shop["headers"],
                                 json={**PERK, "valid_until": "2026-02-30"}), 422,
                     "VALIDATION_ERROR")
        # Another merchant cannot verify a code against our perk.
        rival = merchant(app, client, name="橘子洲游船")
        r = client.post("/v1/merchant/verifications", headers=rival["headers"],
                        json={"token": code_for(client, person), "perk_id": current["id"]})
        expect_error(r, 404, "PERK_NOT_FOUND")


def test_idempotency_keys_belong_to_their_caller(app, client):
    """Another caller using the same Idempotency-Key must not get the first caller's answer."""
    number = valid_id(seq=311)
    with at():
        shop, rival = merchant(app, client), merchant(app, client, name="橘子洲游船")
        offer = perk(client, shop)
        v = verify(client, shop, citizen(client), offer["id"])
        first = redeem(client, shop, v["id"], "shared-key")
        assert first.status_code == 201
        r = redeem(client, rival, v["id"], "shared-key")
        expect_error(r, 404, "VERIFICATION_NOT_FOUND")  # the rival's key: not a replay
        assert r.get_json() != first.get_json()

        market = department(app, client, code="market")
        civil = department(app, client, code="civil")
        batch = {"records": [{"source_ref": "same-ref",
                              "subject": {"id_number": number, "name": "张三"},
                              "type": "charity.donation", "occurred_on": "2026-05-01"}]}
        a = client.post("/v1/dept/records", json=batch,
                        headers={**market, "Idempotency-Key": "batch-key"})
        b = client.post("/v1/dept/records", json=batch,
                        headers={**civil, "Idempotency-Key": "batch-key"})
        assert a.status_code == b.status_code == 200
        # Two departments, two records: civil's batch was processed, not replayed.
        assert a.get_json()["accepted"][0]["record_id"] != b.get_json()["accepted"][0]["record_id"]
        person = citizen(client, number)
        assert points_body(client, person)["points"] == 1010  # two charity donations, +5 each


# --------------------------------------------------------------------------- departments

def test_department_batch_with_bad_rows_quality_issues_and_idempotency(app, client):
    good_no, other_no = valid_id(seq=201), valid_id(seq=202)
    with at():
        dept = department(app, client, code="health",
                          record_types=["donation.blood", "volunteer.service",
                                        "admin.penalty.general", "medical.insurance_fraud"])
        bad_checksum = good_no[:-1] + ("0" if good_no[-1] != "0" else "1")
        batch = {"records": [
            {"source_ref": "ok-1", "subject": {"id_number": good_no, "name": "张三"},
             "type": "donation.blood", "occurred_on": "2026-05-01"},
            {"source_ref": "ok-2", "subject": {"id_number": other_no, "name": "李四"},
             "type": "admin.penalty.general", "decided_on": "2026-06-10"},
            {"source_ref": "bad-id", "subject": {"id_number": bad_checksum, "name": "张三"},
             "type": "donation.blood", "occurred_on": "2026-05-01"},
            {"source_ref": "no-name", "subject": {"id_number": good_no},
             "type": "donation.blood", "occurred_on": "2026-05-02"},
            {"source_ref": "no-date", "subject": {"id_number": good_no, "name": "张三"},
             "type": "admin.penalty.general"},
            {"source_ref": "unknown-type", "subject": {"id_number": good_no, "name": "张三"},
             "type": "traffic.red_light", "decided_on": "2026-06-01"},
            {"source_ref": "not-allowed", "subject": {"id_number": good_no, "name": "张三"},
             "type": "court.defaulter", "decided_on": "2026-06-01"},
            {"source_ref": "future", "subject": {"id_number": good_no, "name": "张三"},
             "type": "donation.blood", "occurred_on": "2026-12-01"},
            {"source_ref": "no-hours", "subject": {"id_number": good_no, "name": "张三"},
             "type": "volunteer.service", "occurred_on": "2026-05-01"},
        ]}
        r = client.post("/v1/dept/records", headers={**dept, "Idempotency-Key": "batch-1"},
                        json=batch)
        assert r.status_code == 200, r.get_json()
        first = r.get_json()
        assert [(a["source_ref"], a["result"]) for a in first["accepted"]] == [
            ("ok-1", "created"), ("ok-2", "created")]
        assert all(a["record_id"] for a in first["accepted"])
        rejected = {x["source_ref"]: x["problems"] for x in first["rejected"]}
        assert set(rejected) == {"bad-id", "no-name", "no-date", "unknown-type", "not-allowed",
                                 "future", "no-hours"}
        for ref, problems in rejected.items():
            assert problems, ref
            for p in problems:
                assert p["dimension"] in DIMENSIONS, (ref, p)
                assert isinstance(p["field"], str) and p["field"], (ref, p)
                assert isinstance(p["message"], str) and p["message"], (ref, p)
        assert any(p["dimension"] == "validity" and "id_number" in p["field"]
                   for p in rejected["bad-id"])
        assert any(p["dimension"] == "completeness" and "name" in p["field"]
                   for p in rejected["no-name"])
        assert any(p["dimension"] == "completeness" and "decided_on" in p["field"]
                   for p in rejected["no-date"])
        assert any("type" in p["field"] for p in rejected["unknown-type"])
        assert any("type" in p["field"] for p in rejected["not-allowed"])
        assert any("hours" in p["field"] for p in rejected["no-hours"])
        assert bad_checksum not in json.dumps(first["accepted"])

        # Same key, same body: the first answer again (not "unchanged").
        r = client.post("/v1/dept/records", headers={**dept, "Idempotency-Key": "batch-1"},
                        json=batch)
        assert r.status_code == 200 and r.get_json() == first
        # Same key, another body → 422 IDEMPOTENCY_KEY_REUSED.
        expect_error(client.post("/v1/dept/records",
                                 headers={**dept, "Idempotency-Key": "batch-1"},
                                 json={"records": batch["records"][:1]}), 422,
                     "IDEMPOTENCY_KEY_REUSED")
        # A resend without a key is "unchanged"; a changed resend is a correction.
        r = client.post("/v1/dept/records", headers=dept, json={"records": [
            batch["records"][0], {**batch["records"][1], "decided_on": "2026-06-11"}]})
        assert r.status_code == 200
        assert [(a["source_ref"], a["result"], a["record_id"]) for a in r.get_json()["accepted"]] \
            == [("ok-1", "unchanged", first["accepted"][0]["record_id"]),
                ("ok-2", "updated", first["accepted"][1]["record_id"])]
        li = citizen(client, other_no, name="李四")
        corrected = my_records(client, li)[first["accepted"][1]["record_id"]]
        assert corrected["counted_until"] == "2027-06-11"
        assert corrected["repairable_from"] == "2026-09-11"
        # (the points explanation is checked in test_a_correction_updates_the_explanation)

        # Every rejected record is a quality issue returned to the department.
        r = client.get("/v1/dept/quality-issues?status=open", headers=dept)
        assert r.status_code == 200 and "X-Pagination" in r.headers
        issues = r.get_json()
        for ref in rejected:
            assert any(mentions(i, f'"{ref}"') for i in issues), ref
        one = next(i for i in issues if mentions(i, '"bad-id"'))
        r = client.post(f"/v1/dept/quality-issues/{one['id']}/resolve", headers=dept)
        assert r.status_code == 200, r.get_json()
        still_open = client.get("/v1/dept/quality-issues?status=open", headers=dept).get_json()
        assert one["id"] not in [i["id"] for i in still_open]
        assert len(still_open) == len(issues) - 1
        # Another department neither sees nor resolves them.
        other = department(app, client, code="tax")
        assert client.get("/v1/dept/quality-issues?status=open", headers=other).get_json() == []
        r = client.post(f"/v1/dept/quality-issues/{still_open[0]['id']}/resolve", headers=other)
        expect_error(r, 404)

        # End and revoke by source_ref.
        expect_error(client.post("/v1/dept/records/ok-2/end", headers=dept,
                                 json={"ended_on": "2026-01-01"}), 422)
        assert client.post("/v1/dept/records/ok-2/end", headers=dept,
                           json={"ended_on": "2026-06-15"}).status_code == 200
        assert points_body(client, li)["points"] == 1000
        expect_error(client.post("/v1/dept/records/nope/revoke", headers=dept,
                                 json={"reason": "x"}), 404)
        expect_error(client.post("/v1/dept/records/ok-1/revoke", headers=dept, json={}), 422,
                     "VALIDATION_ERROR")

        # More than 1000 records per call is refused, with an error_code.
        many = [{"source_ref": f"m-{i}", "subject": {"id_number": good_no, "name": "张三"},
                 "type": "donation.blood", "occurred_on": "2026-05-01"} for i in range(1001)]
        expect_error(client.post("/v1/dept/records", headers=dept, json={"records": many}), 422,
                     "VALIDATION_ERROR")


def test_a_correction_updates_the_explanation(app, client):
    number = valid_id(seq=205)
    with at():
        dept = department(app, client)
        person = citizen(client, number)
        original = {"source_ref": "fix-1", "subject": {"id_number": number, "name": "张三"},
                    "type": "admin.penalty.general", "decided_on": "2026-06-10"}
        r = client.post("/v1/dept/records", headers=dept, json={"records": [original]})
        assert r.get_json()["accepted"][0]["result"] == "created"
        assert points_body(client, person)["items"][0]["type"] == "admin.penalty.general"
        # Corrected: another general −30 type, decided a day later. Same total (970).
        r = client.post("/v1/dept/records", headers=dept, json={"records": [
            {**original, "type": "occupation.discipline", "decided_on": "2026-06-11"}]})
        assert r.get_json()["accepted"][0]["result"] == "updated"
        record = my_records(client, person)[r.get_json()["accepted"][0]["record_id"]]
        assert record["counted_until"] == "2027-06-11"
        body = points_body(client, person)
        assert body["points"] == 970
        item = body["items"][0]
        assert (item["type"], item["counted_from"], item["counted_until"]) == (
            "occupation.discipline", "2026-06-11", "2027-06-11")


def test_department_credit_check_feedback_and_access_log(app, client):
    number = valid_id(seq=211)
    with at():
        dept = department(app, client, code="housing", name="雨花区住房和城乡建设局")
        refs = pushed(client, dept,
                      {"source_ref": "h-1", "type": "utility.arrears_adjudicated",
                       "id_number": number, "decided_on": "2026-03-01"},
                      {"source_ref": "h-2", "type": "charity.donation", "id_number": number,
                       "occurred_on": "2026-03-01"})
        subject = {"id_number": number, "name": "张三"}
        expect_error(client.post("/v1/dept/credit-checks", headers=dept,
                                 json={"subject": subject, "purpose": "curiosity",
                                       "matter_ref": "X"}), 422, "VALIDATION_ERROR")
        expect_error(client.post("/v1/dept/credit-checks", headers=dept,
                                 json={"subject": {"id_number": "123", "name": "张三"},
                                       "purpose": "inspection", "matter_ref": "X"}), 422)
        r = client.post("/v1/dept/credit-checks", headers=dept,
                        json={"subject": subject, "purpose": "administrative_license",
                              "matter_ref": "建许〔2026〕88号"})
        assert r.status_code == 201, r.get_json()
        check = r.get_json()
        assert (check["points"], check["level"], check["restricted"]) == (955, "B", False)
        assert len(check["negative_records"]) == 1
        assert mentions(check["negative_records"], "utility.arrears_adjudicated")
        assert not mentions(check["negative_records"], "charity.donation")
        expect_error(client.post(f"/v1/dept/credit-checks/{check['id']}/feedback",
                                 headers=dept, json={"note": "no action"}), 422,
                     "VALIDATION_ERROR")
        r = client.post(f"/v1/dept/credit-checks/{check['id']}/feedback", headers=dept,
                        json={"action": "normal", "note": "加强事后监管"})
        assert r.status_code == 200, r.get_json()
        expect_error(client.post("/v1/dept/credit-checks/99999999/feedback", headers=dept,
                                 json={"action": "normal", "note": ""}), 404)
        other = department(app, client, code="tax")
        r = client.post(f"/v1/dept/credit-checks/{check['id']}/feedback", headers=other,
                        json={"action": "normal", "note": "not mine"})
        expect_error(r, 404, "CREDIT_CHECK_NOT_FOUND")  # another department's: not there

        # The resident sees the department's look, with its purpose.
        person = citizen(client, number)
        log = client.get("/v1/me/access-log", headers=person["headers"]).get_json()
        assert len(log) == 1
        assert mentions(log[0], "雨花区住房和城乡建设局", "administrative_license")
        assert refs  # the records are the resident's own
        assert points_body(client, person)["points"] == 955


# --------------------------------------------------------------------------- workers

WORKER_TYPES = ["worker.identity_verified", "worker.background_check",
                "worker.health_certificate", "worker.insurance", "worker.training",
                "worker.skill_certificate", "housekeeping.verified_complaint"]


def worker_records(number: str, *, background: str = "clear", insurance: str = "2026-12-31"):
    return [{"type": "worker.identity_verified", "id_number": number, "name": "王小花",
             "occurred_on": "2026-01-05"},
            {"type": "worker.background_check", "id_number": number, "name": "王小花",
             "occurred_on": "2026-01-06", "details": {"result": background}},
            {"type": "worker.health_certificate", "id_number": number, "name": "王小花",
             "occurred_on": "2026-01-07", "details": {"valid_until": "2026-12-31"}},
            {"type": "worker.insurance", "id_number": number, "name": "王小花",
             "occurred_on": "2026-01-08", "details": {"valid_until": insurance}},
            {"type": "worker.training", "id_number": number, "name": "王小花",
             "occurred_on": "2026-02-01", "details": {"course": "母婴护理", "hours": 40}},
            {"type": "worker.skill_certificate", "id_number": number, "name": "王小花",
             "occurred_on": "2026-03-01", "details": {"name": "育婴员", "grade": "四级"}}]


def test_housekeeping_report_shared_read_reviewed_expired_revoked(app, client):
    number = valid_id(birth="19850505", seq=221)
    with at() as clock:
        platform = department(app, client, code="commerce", record_types=WORKER_TYPES)
        pushed(client, platform, *worker_records(number),
               {"type": "housekeeping.verified_complaint", "id_number": number,
                "name": "王小花", "decided_on": "2026-06-01"})
        worker = citizen(client, number, name="王小花")
        expect_error(client.put("/v1/me/worker-profile", headers=worker["headers"],
                                json={"occupation": "astronaut"}), 422, "VALIDATION_ERROR")
        r = client.put("/v1/me/worker-profile", headers=worker["headers"],
                       json={"occupation": "housekeeping"})
        assert r.status_code == 200, r.get_json()
        r = client.get("/v1/me/worker-profile", headers=worker["headers"])
        assert r.status_code == 200 and r.get_json()["safety_code"] == "green"

        for ttl in (0, 1441, "soon"):
            expect_error(client.post("/v1/me/report-shares", headers=worker["headers"],
                                     json={"ttl_minutes": ttl}), 422, "VALIDATION_ERROR")
        r = client.post("/v1/me/report-shares", headers=worker["headers"],
                        json={"ttl_minutes": 30})
        assert r.status_code == 201, r.get_json()
        share = r.get_json()
        assert {"token", "expires_at", "qr_svg"} <= set(share) and "<svg" in share["qr_svg"]
        assert iso_ts(share["expires_at"]) - dt.datetime.now(SHANGHAI) == dt.timedelta(minutes=30)

        # A family member (any signed-in user) reads the report.
        family = login(client)
        expect_error(client.get(f"/v1/reports/{share['token']}"), 401, "UNAUTHENTICATED")
        r = client.get(f"/v1/reports/{share['token']}", headers=family["headers"])
        assert r.status_code == 200, r.get_json()
        report = r.get_json()
        text = r.get_data(as_text=True)
        assert number not in text and "王小花" not in text  # masked identity only
        assert report["safety_code"] == "green"
        assert report["level"] == "A"  # 1000 − 10
        assert mentions(report, "母婴护理", "育婴员", "2026-12-31")
        negatives = [v for k, v in report.items() if "negative" in k]
        assert negatives and (negatives[0] == 1 or (isinstance(negatives[0], list)
                                                    and len(negatives[0]) == 1))
        # An unknown share (neither expired nor revoked) is simply not there.
        r = client.get("/v1/reports/not-a-share", headers=family["headers"])
        expect_error(r, 404, "SHARE_NOT_FOUND")

        # One review per viewer per share.
        for bad in ({"rating": 0, "comment": "x"}, {"rating": 6, "comment": "x"},
                    {"comment": "no rating"}):
            expect_error(client.post(f"/v1/reports/{share['token']}/reviews",
                                     headers=family["headers"], json=bad), 422,
                         "VALIDATION_ERROR")
        r = client.post(f"/v1/reports/{share['token']}/reviews", headers=family["headers"],
                        json={"rating": 5, "comment": "细心负责"})
        assert r.status_code == 201, r.get_json()
        r = client.post(f"/v1/reports/{share['token']}/reviews", headers=family["headers"],
                        json={"rating": 4, "comment": "again"})
        expect_error(r, 409, "ALREADY_REVIEWED")
        report = client.get(f"/v1/reports/{share['token']}", headers=family["headers"]).get_json()
        summary = [v for k, v in report.items() if "review" in k]
        assert summary and mentions(summary, "1") and mentions(summary, "5")

        # Every view is in the worker's access log.
        log = client.get("/v1/me/access-log", headers=worker["headers"]).get_json()
        assert len(log) == 2

        # Someone else's share cannot be revoked by the family.
        expect_error(client.delete(f"/v1/me/report-shares/{share['token']}",
                                   headers=family["headers"]), 404)

        # Expiry: after 30 minutes the report is gone.
        clock.shift(dt.timedelta(minutes=30, seconds=1))
        family = {"headers": auth(dev_login(client, family["openid"])["access_token"])}
        expect_error(client.get(f"/v1/reports/{share['token']}", headers=family["headers"]), 410,
                     "SHARE_EXPIRED")

        # Revocation: a fresh share, revoked, is gone at once.
        worker["headers"] = auth(dev_login(client, worker["openid"])["access_token"])
        r = client.post("/v1/me/report-shares", headers=worker["headers"],
                        json={"ttl_minutes": 1440})
        assert r.status_code == 201
        fresh = r.get_json()["token"]
        assert client.get(f"/v1/reports/{fresh}", headers=family["headers"]).status_code == 200
        r = client.delete(f"/v1/me/report-shares/{fresh}", headers=worker["headers"])
        assert r.status_code == 204
        expect_error(client.get(f"/v1/reports/{fresh}", headers=family["headers"]), 410,
                     "SHARE_EXPIRED")


@pytest.mark.parametrize(("background", "insurance", "expected"), [
    ("clear", "2026-12-31", "green"),
    ("clear", "2026-06-15", "green"),    # valid until today: still valid today
    ("clear", "2026-06-14", "yellow"),   # insurance lapsed yesterday
    ("flagged", "2026-12-31", "red"),
])
def test_safety_code_follows_the_records(app, client, background, insurance, expected):
    number = valid_id(birth="19800101", seq=231)
    with at():
        platform = department(app, client, code="commerce", record_types=WORKER_TYPES)
        pushed(client, platform, *worker_records(number, background=background,
                                                 insurance=insurance))
        worker = citizen(client, number, name="王小花")
        assert client.put("/v1/me/worker-profile", headers=worker["headers"],
                          json={"occupation": "housekeeping"}).status_code == 200
        assert client.get("/v1/me/worker-profile",
                          headers=worker["headers"]).get_json()["safety_code"] == expected


def test_unverified_worker_is_red(client):
    with at():
        worker = citizen(client)
        assert client.put("/v1/me/worker-profile", headers=worker["headers"],
                          json={"occupation": "housekeeping"}).status_code == 200
        assert client.get("/v1/me/worker-profile",
                          headers=worker["headers"]).get_json()["safety_code"] == "red"


# --------------------------------------------------------------------------- credit office

def test_office_manages_departments_and_keys(app, client):
    with at():
        admin = admin_headers(app, client)
        expect_error(client.post("/v1/admin/departments", headers=admin,
                                 json={"code": "traffic", "name": "交警",
                                       "record_types": ["traffic.red_light"]}), 422)
        expect_error(client.post("/v1/admin/departments", headers=admin,
                                 json={"name": "无代码"}), 422, "VALIDATION_ERROR")
        r = client.post("/v1/admin/departments", headers=admin,
                        json={"code": "civil", "name": "民政局",
                              "record_types": ["volunteer.service", "charity.donation"]})
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        assert body["code"] == "civil" and body["api_key"]
        key1 = {"X-API-Key": body["api_key"]}
        r = client.post("/v1/admin/departments", headers=admin,
                        json={"code": "civil", "name": "again", "record_types": []})
        expect_error(r, 409, "DEPARTMENT_EXISTS")

        number = valid_id(seq=241)
        push(client, key1, {"type": "charity.donation", "id_number": number,
                            "occurred_on": "2026-05-01"})
        r = client.post("/v1/dept/records", headers=key1, json={"records": [
            {"source_ref": "x", "subject": {"id_number": number, "name": "张三"},
             "type": "donation.blood", "occurred_on": "2026-05-01"}]})
        assert r.status_code == 200 and len(r.get_json()["rejected"]) == 1

        r = client.post("/v1/admin/departments/civil/keys", headers=admin)
        assert r.status_code == 201, r.get_json()
        key2 = {"X-API-Key": r.get_json()["api_key"]}
        assert key2 != key1
        expect_error(client.get("/v1/dept/quality-issues", headers=key1), 401, "UNAUTHENTICATED")
        assert client.get("/v1/dept/quality-issues", headers=key2).status_code == 200
        expect_error(client.post("/v1/admin/departments/nope/keys", headers=admin), 404)


def test_office_rule_set_versions_activation_and_recompute(app, client):
    number = valid_id(seq=251)
    with at():
        admin = admin_headers(app, client)
        dept = department(app, client)
        pushed(client, dept, {"type": "donation.blood", "id_number": number,
                              "occurred_on": "2026-05-01"})
        person = citizen(client, number)
        assert points_body(client, person)["points"] == 1010

        r = client.get("/v1/admin/rule-sets", headers=admin)
        assert r.status_code == 200
        assert "changsha-2020" in [v["code"] for v in r.get_json()]

        shipped = RULES_FILE.read_text(encoding="utf-8")
        new = shipped.replace('code = "changsha-2020"', 'code = "changsha-2027"', 1)
        # Blood donation: 15 points instead of 10.
        block = re.search(r'\[record_types\."donation\.blood"\][^\[]*', new).group(0)
        assert "points = 10" in block
        new = new.replace(block, block.replace("points = 10", "points = 15", 1))

        # A rule without a legal basis is refused, naming the rule.
        nb_block = re.search(r'\[record_types\."charity\.donation"\][^\[]*', new).group(0)
        no_basis = new.replace(nb_block, re.sub(r'\nbasis\s*=.*', "", nb_block, count=1))
        assert no_basis != new
        r = client.post("/v1/admin/rule-sets", headers={**admin, "Content-Type":
                                                        "application/toml"}, data=no_basis)
        body = expect_error(r, 422)
        assert "charity.donation" in json.dumps(body, ensure_ascii=False)
        expect_error(client.post("/v1/admin/rule-sets", headers={**admin, "Content-Type":
                                                                 "application/toml"},
                                 data="this is = = not toml"), 422, "RULE_SET_INVALID")
        expect_error(client.post("/v1/admin/rule-sets", headers={
            **person["headers"], "Content-Type": "application/toml"}, data=new), 403, "FORBIDDEN")

        r = client.post("/v1/admin/rule-sets",
                        headers={**admin, "Content-Type": "application/toml"}, data=new)
        assert r.status_code == 201, r.get_json()
        assert "changsha-2027" in [v["code"] for v in
                                   client.get("/v1/admin/rule-sets", headers=admin).get_json()]
        # Uploading is not activating.
        assert client.get("/v1/rule-sets/active").get_json()["code"] == "changsha-2020"

        expect_error(client.post("/v1/admin/rule-sets/no-such/activate", headers=admin), 404)
        r = client.post("/v1/admin/rule-sets/changsha-2027/activate", headers=admin)
        assert r.status_code == 202, r.get_json()
        job_id = r.get_json()["job_id"]
        r = client.get(f"/v1/admin/jobs/{job_id}", headers=admin)
        assert r.status_code == 200 and r.get_json()["status"]
        run_jobs(app)
        job = None
        for _ in range(50):
            r = client.get(f"/v1/admin/jobs/{job_id}", headers=admin)
            assert r.status_code == 200
            job = r.get_json()
            if job["status"] not in ("queued", "pending", "running", "started"):
                break
        assert job["status"] in ("done", "finished", "succeeded", "completed"), job
        expect_error(client.get("/v1/admin/jobs/no-such-job", headers=admin), 404)

        active = client.get("/v1/rule-sets/active").get_json()
        assert active["code"] == "changsha-2027"
        assert {t["code"]: t for t in active["record_types"]}["donation.blood"]["points"] == 15
        body = points_body(client, person)
        assert (body["points"], body["rule_set"]) == (1015, "changsha-2027")
        history = client.get("/v1/me/points/history", headers=person["headers"]).get_json()
        assert history[0]["points"] == 1015

        # Rolling back to the shipped version recomputes again.
        r = client.post("/v1/admin/rule-sets/changsha-2020/activate", headers=admin)
        assert r.status_code == 202
        run_jobs(app)
        for _ in range(50):
            if client.get(f"/v1/admin/jobs/{r.get_json()['job_id']}",
                          headers=admin).get_json()["status"] in ("done", "finished",
                                                                   "succeeded", "completed"):
                break
        assert client.get("/v1/rule-sets/active").get_json()["code"] == "changsha-2020"
        body = points_body(client, person)
        assert (body["points"], body["rule_set"]) == (1010, "changsha-2020")


def test_office_quality_report_and_assessment(app, client):
    with at():
        admin = admin_headers(app, client)
        dept = department(app, client, code="market", name="雨花区市场监督管理局")
        number = valid_id(seq=261)
        r = client.post("/v1/dept/records", headers=dept, json={"records": [
            # Decided Friday 5 June: 15 June is its 6th working day (on time), though
            # 10 calendar days later.
            {"source_ref": "on-time", "subject": {"id_number": number, "name": "张三"},
             "type": "admin.penalty.general", "decided_on": "2026-06-05"},
            {"source_ref": "late", "subject": {"id_number": number, "name": "张三"},
             "type": "admin.penalty.minor", "decided_on": "2026-04-01"},
            {"source_ref": "broken", "subject": {"id_number": "43010419900101123", "name": "张三"},
             "type": "admin.penalty.minor", "decided_on": "2026-06-12"}]})
        assert r.status_code == 200
        assert len(r.get_json()["accepted"]) == 2 and len(r.get_json()["rejected"]) == 1
        # A late record is accepted but flagged.
        r = client.post("/v1/dept/credit-checks", headers=dept,
                        json={"subject": {"id_number": number, "name": "张三"},
                              "purpose": "inspection", "matter_ref": "检-1"})
        assert r.status_code == 201

        r = client.get("/v1/admin/quality-report", headers=admin)
        assert r.status_code == 200, r.get_json()
        rows = [row for row in r.get_json() if mentions(row, '"market"')]
        assert len(rows) == 1
        row = rows[0]
        assert row["received"] == 3 and row["accepted"] == 2 and row["rejected"] == 1
        assert sum(row["rejected_by_dimension"].values()) >= 1
        assert set(row["rejected_by_dimension"]) <= DIMENSIONS
        assert row["late_share"] == pytest.approx(0.5)
        assert row["open_issues"] == 1

        r = client.get("/v1/admin/assessment", headers=admin)
        assert r.status_code == 200, r.get_json()
        rows = [row for row in r.get_json() if mentions(row, '"market"')]
        assert len(rows) == 1
        assert rows[0]["credit_checks"] == 1 and rows[0]["credit_checks_with_feedback"] == 0

        expect_error(client.get("/v1/admin/quality-report", headers=dept), 401,
                     "UNAUTHENTICATED")
        expect_error(client.get("/v1/admin/assessment", headers=citizen(client)["headers"]), 403,
                     "FORBIDDEN")


# --------------------------------------------------------------------------- privacy

def test_export_then_close_account_keeps_the_subjects_records(app, client):
    number = valid_id(seq=271)
    with at():
        dept = department(app, client)
        pushed(client, dept, {"type": "admin.penalty.general", "id_number": number,
                              "decided_on": "2026-05-01"})
        person = citizen(client, number)
        assert points_body(client, person)["points"] == 970
        r = client.get("/v1/me/export", headers=person["headers"])
        assert r.status_code == 200
        assert mentions(r.get_json(), "admin.penalty.general")

        r = client.delete("/v1/me", headers=person["headers"])
        assert r.status_code == 204
        expect_error(client.get("/v1/me/consents", headers=person["headers"]), 401)
        # The ID number is free again, and the records stayed with the subject.
        again = login(client, person["openid"])
        assert again["user"]["identity_bound"] is False
        bind(client, again["headers"], "张三", number)
        consent(client, again, "credit_points")
        assert points_body(client, again)["points"] == 970


# --------------------------------------------------------------------------- bad input

# Each bad body and its status: not JSON → 400; JSON the route refuses → 422.
BAD_BODIES = [("not json at all", 400), ("[1, 2, 3]", 422),
              ('{"x": ' + '"' + "y" * 5000 + '"}', 422),
              ('{"record_id": "abc", "token": 5, "records": "x", "rating": "five"}', 422),
              ("null", 422)]


@pytest.mark.parametrize("who,method,path", [
    ("anon", "post", "/v1/auth/wechat/login"),
    ("anon", "post", "/v1/auth/refresh"),
    ("anon", "post", "/v1/auth/admin/login"),
    ("resident", "put", "/v1/me/identity"),
    ("resident", "put", "/v1/me/consents/credit_points"),
    ("resident", "post", "/v1/me/commitments"),
    ("resident", "post", "/v1/me/repairs"),
    ("resident", "post", "/v1/me/objections"),
    ("resident", "put", "/v1/me/worker-profile"),
    ("resident", "post", "/v1/me/report-shares"),
    ("resident", "post", "/v1/merchants"),
    ("merchant", "post", "/v1/merchant/perks"),
    ("merchant", "post", "/v1/merchant/verifications"),
    ("merchant", "post", "/v1/merchant/redemptions"),
    ("dept", "post", "/v1/dept/records"),
    ("dept", "post", "/v1/dept/credit-checks"),
    ("dept", "post", "/v1/dept/records/some-ref/end"),
    ("dept", "post", "/v1/dept/objections/1/decision"),
    ("dept", "post", "/v1/dept/repairs/1/decision"),
    ("dept", "post", "/v1/dept/commitments/1/outcome"),
    ("admin", "post", "/v1/admin/departments"),
    ("admin", "post", "/v1/admin/rule-sets"),
])
def test_bad_bodies_are_4xx_with_an_error_code(app, client, who, method, path):
    with at():
        headers = {}
        if who == "resident":
            headers = citizen(client)["headers"]
        elif who == "merchant":
            headers = merchant(app, client)["headers"]
        elif who == "dept":
            headers = department(app, client)
        elif who == "admin":
            headers = admin_headers(app, client)
        for body, status in BAD_BODIES:
            r = getattr(client, method)(path, data=body,
                                        headers={**headers, "Content-Type": "application/json",
                                                 "Idempotency-Key": f"k-{len(body)}"})
            expect_error(r, status)


@pytest.mark.parametrize("path", ["/v1/me/records", "/v1/me/points/history",
                                  "/v1/me/access-log", "/v1/me/commitments", "/v1/me/repairs",
                                  "/v1/me/objections", "/v1/me/redemptions", "/v1/perks",
                                  "/v1/commitments/public"])
def test_lists_are_paginated_and_refuse_pages_over_100(client, path):
    with at():
        person = citizen(client)
        r = client.get(path, headers=person["headers"])
        assert r.status_code == 200 and isinstance(r.get_json(), list)
        assert "X-Pagination" in r.headers
        expect_error(client.get(f"{path}?page_size=101", headers=person["headers"]), 422,
                     "VALIDATION_ERROR")
        for page in ("abc", "0"):
            expect_error(client.get(f"{path}?page={page}", headers=person["headers"]), 422,
                         "VALIDATION_ERROR")


def test_unknown_ids_and_paths_are_404_with_an_error_code(app, client):
    with at():
        person = citizen(client)
        for path in ["/v1/me/commitments/999999/withdraw", "/v1/me/repairs/999999/withdraw"]:
            expect_error(client.post(path, headers=person["headers"]), 404)
        expect_error(client.delete("/v1/me/report-shares/nope", headers=person["headers"]), 404)
        expect_error(client.get("/v1/no-such-endpoint"), 404)
        r = client.post("/v1/reports/nope/reviews", headers=person["headers"],
                        json={"rating": 5, "comment": "x"})
        expect_error(r, 404, "SHARE_NOT_FOUND")
        expect_error(client.delete("/v1/health"), 405)


def test_dates_are_shanghai_dates_and_months_clamp(app, client):
    """At 01:00 in Shanghai it is still the day before in UTC: dates follow Shanghai."""
    number = valid_id(seq=281)
    with at(TODAY.isoformat(), hour=1):
        dept = department(app, client)
        refs = pushed(client, dept,
                      # Today in Shanghai: not a future date.
                      {"source_ref": "today", "type": "donation.blood", "id_number": number,
                       "occurred_on": "2026-06-15"},
                      # A minor penalty's 3 months ended today (end exclusive).
                      {"source_ref": "ended", "type": "admin.penalty.minor",
                       "id_number": number, "decided_on": "2026-03-15"},
                      # End-of-month clamping: 2025-11-30 + 3 months = 2026-02-28.
                      {"source_ref": "clamp", "type": "admin.penalty.general",
                       "id_number": number, "decided_on": "2025-11-30"})
        person = citizen(client, number)
        body = points_body(client, person)
        assert body["as_of"] == "2026-06-15"
        assert {i["record_id"] for i in body["items"]} == {refs["today"], refs["clamp"]}
        assert body["points"] == 1000 + 10 - 30
        records = my_records(client, person)
        assert records[refs["clamp"]]["repairable_from"] == "2026-02-28"
        assert records[refs["clamp"]]["counted_until"] == "2026-11-30"
        assert records[refs["ended"]]["counted_until"] == "2026-06-15"
        assert records[refs["ended"]]["status"] == "expired"  # its window ran out
        token = client.post("/v1/me/verification-tokens", headers=person["headers"]).get_json()
        assert iso_ts(token["expires_at"]) - dt.datetime.now(SHANGHAI) == dt.timedelta(
            seconds=120)


def test_pagination_metadata_and_pages(app, client):
    number = valid_id(seq=291)
    with at():
        dept = department(app, client)
        pushed(client, dept, *[{"type": "charity.donation", "id_number": number,
                                "occurred_on": f"2026-0{m}-01"} for m in (1, 2, 3)])
        person = citizen(client, number)
        r = client.get("/v1/me/records?page=1&page_size=2", headers=person["headers"])
        assert r.status_code == 200 and len(r.get_json()) == 2
        meta = json.loads(r.headers["X-Pagination"])
        assert meta["total"] == 3
        r2 = client.get("/v1/me/records?page=2&page_size=2", headers=person["headers"])
        assert len(r2.get_json()) == 1
        ids = [record_id(x) for x in r.get_json() + r2.get_json()]
        assert len(set(ids)) == 3
        # Department and office lists are paginated the same way.
        admin = admin_headers(app, client)
        for headers, path in [(dept, "/v1/dept/quality-issues"), (dept, "/v1/dept/repairs"),
                              (dept, "/v1/dept/objections"), (dept, "/v1/dept/commitments"),
                              (admin, "/v1/admin/merchants"), (admin, "/v1/admin/rule-sets")]:
            r = client.get(path, headers=headers)
            assert r.status_code == 200 and "X-Pagination" in r.headers, path
            expect_error(client.get(f"{path}?page_size=101", headers=headers), 422,
                         "VALIDATION_ERROR")


def test_second_objection_on_the_same_record_is_a_conflict(app, client):
    number = valid_id(seq=301)
    with at():
        dept = department(app, client)
        refs = pushed(client, dept, {"type": "admin.penalty.minor", "id_number": number,
                                     "decided_on": "2026-06-01"})
        person = citizen(client, number)
        rid = next(iter(refs.values()))
        r = client.post("/v1/me/objections", headers=person["headers"],
                        json={"record_id": rid, "reason": "不是我"})
        assert r.status_code == 201
        r = client.post("/v1/me/objections", headers=person["headers"],
                        json={"record_id": rid, "reason": "还是不是我"})
        expect_error(r, 409, "OBJECTION_PENDING")
        assert len(client.get("/v1/me/objections", headers=person["headers"]).get_json()) == 1


# Ids no row has. 2**31 fits a database key: each route answers its own "not found".
# 2**63 and 10**30 are beyond a BIGINT and -1 is below 1: in a path such an id is simply
# not found (404 NOT_FOUND), in a body or a query it is invalid (422).
KEY = 2**31
HUGE = [KEY, 2**63, 10**30, -1]


def absent(n: int, error_code: str) -> tuple[int, str]:
    """The status and error_code for id `n` in a body or a query that names no row."""
    return (404, error_code) if n == KEY else (422, "VALIDATION_ERROR")


def test_odd_values_never_answer_500(app, client):
    """Huge ids, NUL characters and very long strings: refused or stored, never a 500."""
    with at():
        dept = department(app, client)
        shop = merchant(app, client)
        offer = perk(client, shop)
        person = citizen(client)
        admin = admin_headers(app, client)
        me = person["headers"]
        for n in HUGE:
            for path, missing in ((f"/v1/me/commitments/{n}/withdraw", "COMMITMENT_NOT_FOUND"),
                                  (f"/v1/me/repairs/{n}/withdraw", "REPAIR_NOT_FOUND"),
                                  (f"/v1/admin/merchants/{n}/approve", "MERCHANT_NOT_FOUND")):
                expect_error(client.post(path, headers=admin if "admin" in path else me),
                             404, missing if n == KEY else "NOT_FOUND")
            for path, body, missing in (
                    (f"/v1/dept/repairs/{n}/decision", {"approve": True, "note": ""},
                     "REPAIR_NOT_FOUND"),
                    (f"/v1/dept/objections/{n}/decision", {"upheld": True, "note": ""},
                     "OBJECTION_NOT_FOUND"),
                    (f"/v1/dept/commitments/{n}/outcome",
                     {"outcome": "fulfilled", "serious": False}, "COMMITMENT_NOT_FOUND"),
                    (f"/v1/dept/credit-checks/{n}/feedback", {"action": "normal", "note": ""},
                     "CREDIT_CHECK_NOT_FOUND"),
                    (f"/v1/dept/quality-issues/{n}/resolve", {}, "NOT_FOUND")):
                expect_error(client.post(path, headers=dept, json=body),
                             404, missing if n == KEY else "NOT_FOUND")
            expect_error(client.post("/v1/me/objections", headers=me,
                                     json={"record_id": n, "reason": "x"}),
                         *absent(n, "RECORD_NOT_FOUND"))
            expect_error(client.post("/v1/me/repairs", headers=me,
                                     json={"record_id": n, **REPAIR}),
                         *absent(n, "RECORD_NOT_FOUND"))
            expect_error(client.post("/v1/merchant/verifications", headers=shop["headers"],
                                     json={"token": "t" * 43, "perk_id": n}),
                         *absent(n, "PERK_NOT_FOUND"))
            expect_error(redeem(client, shop, n, f"huge-{n}"),
                         *absent(n, "VERIFICATION_NOT_FOUND"))
            expect_error(client.patch(f"/v1/merchant/perks/{n}",
                                      headers={**shop["headers"], "If-Match": '"x"'},
                                      json={"title": "x"}),
                         404, "PERK_NOT_FOUND" if n == KEY else "NOT_FOUND")
            r = client.get(f"/v1/me/records?page={n}", headers=me)
            if n > 0:  # a page past the last one is empty
                assert r.status_code == 200 and r.get_json() == [], r.get_json()
            else:
                expect_error(r, 422, "VALIDATION_ERROR")
            r = client.get(f"/v1/perks?merchant_id={n}", headers=me)
            if n == KEY:  # a merchant no row has offers nothing
                assert r.status_code == 200 and r.get_json() == [], r.get_json()
            else:
                expect_error(r, 422, "VALIDATION_ERROR")
            expect_error(client.post("/v1/merchant/perks", headers=shop["headers"],
                                     json={**PERK, "total_quota": n}), 422, "VALIDATION_ERROR")
            r = client.post("/v1/dept/records", headers=dept, json={"records": [
                {"source_ref": f"big-{n}",
                 "subject": {"id_number": valid_id(seq=5), "name": "张三"},
                 "type": "volunteer.service", "occurred_on": "2026-05-01",
                 "details": {"hours": n}}]})
            # Hours that fit 64 bits are stored; more, or below 1, reject the row.
            assert r.status_code == 200, r.get_json()
            body = r.get_json()
            assert (len(body["accepted"]), len(body["rejected"])) == (
                (1, 0) if n == KEY else (0, 1)), body

        nul, long = "张\u0000三", "长" * 20000
        for value in (nul, long):
            expect_error(client.put("/v1/me/identity", headers=login(client)["headers"],
                                    json={"name": value, "id_number": valid_id(seq=6)}),
                         422, "VALIDATION_ERROR")
            expect_error(client.post("/v1/me/commitments", headers=me,
                                     json={"kind": "voluntary", "content": value,
                                           "public": True}),
                         422, "VALIDATION_ERROR")
            expect_error(client.post("/v1/merchants", headers=login(client)["headers"],
                                     json={"name": value, "uscc": valid_uscc(),
                                           "sector": "other"}),
                         422, "VALIDATION_ERROR")
            expect_error(client.post("/v1/merchant/perks", headers=shop["headers"],
                                     json={**PERK, "title": value, "description": value}),
                         422, "VALIDATION_ERROR")
            r = client.post("/v1/dept/records", headers=dept, json={"records": [
                {"source_ref": value, "subject": {"id_number": valid_id(seq=7), "name": value},
                 "type": "charity.donation", "occurred_on": "2026-05-01",
                 "details": {"note": value}}]})
            if value == nul:
                expect_error(r, 422, "VALIDATION_ERROR")
            else:  # too long: the batch is taken and the row rejected
                assert r.status_code == 200, r.get_json()
                body = r.get_json()
                assert (len(body["accepted"]), len(body["rejected"])) == (0, 1), body
            expect_error(client.post("/v1/dept/credit-checks", headers=dept, json={
                "subject": {"id_number": valid_id(seq=7), "name": "张三"},
                "purpose": "inspection", "matter_ref": value}), 422, "VALIDATION_ERROR")
            expect_error(client.post("/v1/admin/departments", headers=admin,
                                     json={"code": value, "name": value,
                                           "record_types": ["charity.donation"]}),
                         422, "VALIDATION_ERROR")
            expect_error(client.post("/v1/merchant/redemptions", json={"verification_id": 1},
                                     headers={**shop["headers"],
                                              "Idempotency-Key": value[:8000]}),
                         422, "VALIDATION_ERROR")
            # A token with a NUL names nothing that can exist; a long one no share.
            expect_error(client.get(f"/v1/reports/{value[:2000]}", headers=me),
                         404, "NOT_FOUND" if value == nul else "SHARE_NOT_FOUND")
            expect_error(client.post("/v1/merchant/verifications", headers=shop["headers"],
                                     json={"token": value, "perk_id": offer["id"]}),
                         422, "VALIDATION_ERROR")
            expect_error(client.post("/v1/auth/admin/login",
                                     json={"username": value, "password": value}),
                         422, "VALIDATION_ERROR")


def test_concurrent_redemptions_grant_the_quota_exactly_once(app, client):
    """Counter staff at two tills: the last unit of quota and one verification, raced."""
    from concurrent.futures import ThreadPoolExecutor

    with at():
        shop = merchant(app, client)
        offer = perk(client, shop, total_quota=1, per_resident_limit=1)
        verifications = [verify(client, shop, citizen(client), offer["id"])["id"]
                         for _ in range(4)]
        double = verify(client, shop, citizen(client),
                        perk(client, shop, title="双人套餐", total_quota=10)["id"])["id"]

        def attempt(args):
            vid, key = args
            with app.test_client() as c:
                r = c.post("/v1/merchant/redemptions", json={"verification_id": vid},
                           headers={**shop["headers"], "Idempotency-Key": key})
                return r.status_code, (r.get_json() or {}).get("error_code")

        with ThreadPoolExecutor(4) as pool:
            quota = list(pool.map(attempt, [(v, f"q-{v}") for v in verifications]))
        with ThreadPoolExecutor(4) as pool:
            same = list(pool.map(attempt, [(double, f"d-{i}") for i in range(4)]))
    assert sorted(quota) == [(201, None)] + [(409, "QUOTA_EXHAUSTED")] * 3, quota
    assert sorted(same) == [(201, None)] + [(409, "ALREADY_REDEEMED")] * 3, same
