"""The authorization matrix: every route of the URL map, called as every kind of caller.

`MATRIX` says, for each `(method, rule)` of the app, which request to make (path
parameters filled from real objects set up once for the module) and which status
each caller must get. A route added to the app without an entry here fails
`test_every_route_is_in_the_matrix`.

Callers:
    anonymous     no credentials
    resident      the resident who owns the objects (records, repairs, objections,
                  commitments, report shares, verification codes)
    resident2     another signed-in resident
    staff         the owner of merchant A (which owns the perk and the redemption)
    staff2        the owner of merchant B
    dept          department A: pushed the records, owns the repairs, objections,
                  commitment, credit check and quality issue
    dept2         department B: allowed no record types, owns nothing
    admin         a credit-office admin
    clerk2_as_a   a staff member of merchant B naming merchant A in X-Merchant-Id
    retired_admin an admin whose account was disabled after signing in

Expectations come from the API contract (missing or bad credentials → 401, a caller
without the right → 403, another resident's object → 404) and from `api/access.py`
(deny by default, by path prefix). Besides the status, no answer to a stranger may
carry the resident's full name or ID number, nor (but to department A) the texts of
their repair statement, objection reason and private commitments.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from points.infra.db import today
from points.models import AdminAccount
from tests.builders.departments import admin_headers, department, push
from tests.builders.merchants import valid_uscc
from tests.builders.residents import auth, dev_login, resident, valid_id
from tests.builders.servers import clean

ANON, RES, RES2, STAFF, STAFF2, DEPT, DEPT2, ADMIN = (
    "anonymous", "resident", "resident2", "staff", "staff2", "dept", "dept2", "admin")
CLERK2_AS_A, RETIRED_ADMIN = "clerk2_as_a", "retired_admin"
CALLERS = (ANON, RES, RES2, STAFF, STAFF2, DEPT, DEPT2, ADMIN, CLERK2_AS_A, RETIRED_ADMIN)
# The caller expected to succeed on an object comes last, after everyone who must fail:
# a wrong answer cannot be hidden by the owner having changed the object first.
CALL_ORDER = (ANON, RETIRED_ADMIN, ADMIN, DEPT2, CLERK2_AS_A, RES2, STAFF2, STAFF, DEPT, RES)

SKIPPED_ENDPOINTS = ("static",)
SKIPPED_PREFIXES = ("api-docs.", "docs_assets.")  # the docs pages and their static files

RES_NAME = "赵矩阵"
RES_ID = valid_id(birth="19850505", seq=731)
STATEMENT = "MATRIX-STATEMENT-罚款已缴清"
REASON = "MATRIX-REASON-处罚对象错误"
DEPT_COMMITMENT = "MATRIX-COMMITMENT-按期补交材料"  # in department A's matter, not public
OWN_COMMITMENT = "MATRIX-COMMITMENT-诚信生活"  # voluntary, not public
# What no answer to each caller may contain (the resident sees everything of theirs).
IDENTITY = (RES_NAME, RES_ID)
HIDDEN: dict[str, tuple[str, ...]] = {
    caller: IDENTITY + (STATEMENT, REASON, DEPT_COMMITMENT, OWN_COMMITMENT)
    for caller in CALLERS if caller != RES}
HIDDEN[DEPT] = IDENTITY + (OWN_COMMITMENT,)  # department A decides the requests
HIDDEN[RES] = ()

Expected = int  # one status per caller: the contract's


# ------------------------------------------------------------------ expectations

def everyone(status: Expected) -> dict[str, Expected]:
    """Public routes: the same answer whoever calls, never 401."""
    return dict.fromkeys(CALLERS, status)


def signed_in(ok: Expected) -> dict[str, Expected]:
    """Any signed-in resident account (`/v1/…` outside the audience prefixes)."""
    return {ANON: 401, RES: ok, RES2: ok, STAFF: ok, STAFF2: ok, CLERK2_AS_A: ok,
            DEPT: 401, DEPT2: 401, ADMIN: 403, RETIRED_ADMIN: 401}


def mine(ok: Expected) -> dict[str, Expected]:
    """`/v1/me…` without an object: every resident gets their own."""
    return signed_in(ok)


def my_object(ok: Expected) -> dict[str, Expected]:
    """`/v1/me…` on the resident's object: anyone else's → 404."""
    return {**signed_in(404), RES: ok}


def admin_only(ok: Expected) -> dict[str, Expected]:
    return {ANON: 401, RES: 403, RES2: 403, STAFF: 403, STAFF2: 403, CLERK2_AS_A: 403,
            DEPT: 401, DEPT2: 401, ADMIN: ok, RETIRED_ADMIN: 401}


def dept_only(owner: Expected, other: Expected) -> dict[str, Expected]:
    """`/v1/dept…`: only an X-API-Key; a bearer token is no department key (401)."""
    return {ANON: 401, RES: 401, RES2: 401, STAFF: 401, STAFF2: 401, CLERK2_AS_A: 401,
            ADMIN: 401, RETIRED_ADMIN: 401, DEPT: owner, DEPT2: other}


def merchant_only(owner: Expected, other: Expected) -> dict[str, Expected]:
    """`/v1/merchant…`: staff of an approved merchant; other residents, and staff naming
    a merchant they do not work for → 403."""
    return {ANON: 401, RES: 403, RES2: 403, CLERK2_AS_A: 403, DEPT: 401, DEPT2: 401,
            ADMIN: 403, RETIRED_ADMIN: 401, STAFF: owner, STAFF2: other}


# ------------------------------------------------------------------ the matrix

@dataclass(frozen=True)
class Case:
    path: str  # formatted with World.ids
    expect: dict[str, Expected]
    body: Any = None  # JSON, or a callable (world, caller) -> JSON
    headers: Callable[[World, str], dict[str, str]] | None = None
    fresh_tokens: bool = False  # the call ends the caller's session: sign in anew first
    check: Callable[[str, Any], str | None] | None = None  # (caller, response) -> problem
    form: Callable[[World, str], dict] | None = None  # a multipart body instead of JSON


def only_own_types_accepted(caller: str, response) -> str | None:
    if response.status_code != 200:
        return None
    accepted = len(response.json["accepted"])
    wanted = 1 if caller == DEPT else 0
    return None if accepted == wanted else f"{accepted} records accepted, not {wanted}"


def toml_upload(w: World, caller: str) -> dict:
    return {"content": w.rule_set_toml}


def if_match(w: World, caller: str) -> dict[str, str]:
    return {"If-Match": w.ids["perk_etag"]}


def idempotency_key(w: World, caller: str) -> dict[str, str]:
    return {"Idempotency-Key": f"matrix-{caller}"}


def a_pdf() -> bytes:
    from pypdf import PdfWriter

    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=100, height=100)
    writer.write(out)
    return out.getvalue()


def evidence_file(w: World, caller: str) -> dict:
    return {"file": (io.BytesIO(a_pdf()), f"{caller}-收据.pdf")}


def merchant_application(w: World, caller: str) -> dict:
    return {"name": f"{caller} 商店", "uscc": valid_uscc(900 + CALLERS.index(caller)),
            "sector": "catering"}


PERK = {"title": "门票八折", "description": "凭码购票", "min_level": "D",
        "benefit": {"kind": "discount", "value": "8折"}, "total_quota": 100,
        "per_resident_limit": 50, "valid_from": "2020-01-01", "valid_until": "2099-12-31"}

MATRIX: dict[tuple[str, str], Case] = {
    # -- public -------------------------------------------------------------------
    ("GET", "/v1/health"): Case("/v1/health", everyone(200)),
    ("GET", "/v1/health/live"): Case("/v1/health/live", everyone(200)),
    ("GET", "/v1/health/ready"): Case("/v1/health/ready", everyone(200)),
    ("GET", "/v1/rule-sets/active"): Case("/v1/rule-sets/active", everyone(200)),
    ("GET", "/v1/departments"): Case("/v1/departments", everyone(200)),
    ("GET", "/v1/policies/current"): Case("/v1/policies/current", everyone(200)),
    ("GET", "/v1/commitments/public"): Case("/v1/commitments/public", everyone(200)),
    # Empty bodies: 422 shows the route is open (a closed one answers 401 first).
    ("POST", "/v1/auth/wechat/login"): Case("/v1/auth/wechat/login", everyone(422), {}),
    ("POST", "/v1/auth/refresh"): Case("/v1/auth/refresh", everyone(422), {}),
    ("POST", "/v1/auth/admin/login"): Case("/v1/auth/admin/login", everyone(422), {}),
    ("POST", "/v1/auth/dev/login"): Case("/v1/auth/dev/login", everyone(200),
                                         {"openid": "matrix-dev-login"}),

    # -- the resident (/v1/me…) ------------------------------------------------------
    ("GET", "/v1/me"): Case("/v1/me", mine(200)),
    ("GET", "/v1/me/identity"): Case("/v1/me/identity", mine(200)),
    # The resident's own identity again: 200 for them; anyone else is bound elsewhere.
    ("PUT", "/v1/me/identity"): Case(
        "/v1/me/identity", {**mine(409), RES: 200}, {"name": RES_NAME, "id_number": RES_ID}),
    # A resident may start a face verification of their own number; an account bound to
    # another number is refused before WeChat is asked.
    ("POST", "/v1/me/identity/verifications"): Case(
        "/v1/me/identity/verifications", {**mine(409), RES: 201},
        {"name": RES_NAME, "id_number": RES_ID}),
    ("GET", "/v1/me/consents"): Case("/v1/me/consents", mine(200)),
    ("PUT", "/v1/me/consents/<string:scope>"): Case(
        "/v1/me/consents/credit_points", mine(200),
        {"granted": True, "policy_version": "2026-01"}),
    ("GET", "/v1/me/access-log"): Case("/v1/me/access-log", mine(200)),
    ("GET", "/v1/me/export"): Case("/v1/me/export", mine(200)),
    ("GET", "/v1/me/points"): Case("/v1/me/points", mine(200)),
    ("GET", "/v1/me/points/history"): Case("/v1/me/points/history", mine(200)),
    ("GET", "/v1/me/records"): Case("/v1/me/records", mine(200)),
    ("GET", "/v1/me/notifications"): Case("/v1/me/notifications", mine(200)),
    ("POST", "/v1/me/notifications/read-all"): Case("/v1/me/notifications/read-all", mine(204)),
    ("POST", "/v1/me/notifications/<int:notification_id>/read"): Case(
        "/v1/me/notifications/{notification}/read", my_object(204)),
    ("PUT", "/v1/me/records/<int:record_id>/statement"): Case(
        "/v1/me/records/{record_to_object}/statement", my_object(200), {"text": STATEMENT}),
    ("DELETE", "/v1/me/records/<int:record_id>/statement"): Case(
        "/v1/me/records/{record_to_object}/statement", my_object(204)),
    ("GET", "/v1/me/redemptions"): Case("/v1/me/redemptions", mine(200)),
    ("POST", "/v1/me/verification-tokens"): Case("/v1/me/verification-tokens", mine(201)),
    ("GET", "/v1/me/commitments"): Case("/v1/me/commitments", mine(200)),
    ("POST", "/v1/me/commitments"): Case(
        "/v1/me/commitments", mine(201),
        {"kind": "voluntary", "content": "诚信经营", "public": False}),
    ("POST", "/v1/me/commitments/<int:commitment_id>/withdraw"): Case(
        "/v1/me/commitments/{commitment_to_withdraw}/withdraw", my_object(200)),
    ("GET", "/v1/me/repairs"): Case("/v1/me/repairs", mine(200)),
    ("POST", "/v1/me/repairs"): Case(
        "/v1/me/repairs", my_object(201),
        lambda w, c: {"record_id": w.ids["record_to_repair"], "statement": STATEMENT,
                      "commitment": "今后依法经营", "evidence": []}),
    ("POST", "/v1/me/repairs/<int:repair_id>/withdraw"): Case(
        "/v1/me/repairs/{repair_to_withdraw}/withdraw", my_object(200)),
    ("GET", "/v1/me/objections"): Case("/v1/me/objections", mine(200)),
    ("POST", "/v1/me/objections"): Case(
        "/v1/me/objections", my_object(201),
        lambda w, c: {"record_id": w.ids["record_to_object"], "reason": REASON}),
    ("GET", "/v1/me/worker-profile"): Case("/v1/me/worker-profile", mine(200)),
    ("PUT", "/v1/me/worker-profile"): Case("/v1/me/worker-profile", mine(200),
                                           {"occupation": "housekeeping"}),
    ("GET", "/v1/me/report-shares"): Case("/v1/me/report-shares", mine(200)),
    ("POST", "/v1/me/report-shares"): Case("/v1/me/report-shares", mine(201),
                                           {"ttl_minutes": 30}),
    ("DELETE", "/v1/me/report-shares/<string:token>"): Case(
        "/v1/me/report-shares/{share_to_revoke}", my_object(204)),
    ("GET", "/v1/me/reviews"): Case("/v1/me/reviews", mine(200)),
    ("POST", "/v1/me/attachments"): Case("/v1/me/attachments", mine(201), form=evidence_file),
    ("GET", "/v1/me/attachments"): Case("/v1/me/attachments", mine(200)),
    ("GET", "/v1/me/attachments/<int:attachment_id>"): Case(
        "/v1/me/attachments/{attachment}", my_object(200)),

    # -- any signed-in resident --------------------------------------------------------
    ("GET", "/v1/perks"): Case("/v1/perks", signed_in(200)),
    ("POST", "/v1/merchants"): Case("/v1/merchants", signed_in(201), merchant_application),
    ("GET", "/v1/merchants/applications"): Case("/v1/merchants/applications", signed_in(200)),
    # An unknown code: 410 for every resident shows the route is theirs (a real code
    # would make the caller staff of a merchant and change the rest of the matrix).
    ("POST", "/v1/merchants/invitations/<string:code>/accept"): Case(
        "/v1/merchants/invitations/no-such-invitation/accept", signed_in(410)),
    # Anyone holding the link reads the worker's report (that is what sharing means).
    ("GET", "/v1/reports/<string:token>"): Case("/v1/reports/{share_to_view}",
                                                 signed_in(200)),
    ("GET", "/v1/reports/<string:token>.pdf"): Case("/v1/reports/{share_to_view}.pdf",
                                                    signed_in(200)),
    # The web page of the same link: no sign-in at all (the link is the authorisation).
    ("GET", "/r/<string:token>"): Case("/r/{share_to_view}", everyone(200)),
    # Viewers who opened the report review it once; the worker cannot review themself.
    ("POST", "/v1/reports/<string:token>/reviews"): Case(
        "/v1/reports/{share_to_view}/reviews", {**signed_in(201), RES: 403},
        {"rating": 5, "comment": "准时"}),

    # -- merchant staff (/v1/merchant…) ------------------------------------------------
    ("GET", "/v1/merchant"): Case("/v1/merchant", merchant_only(200, 200)),
    ("POST", "/v1/merchant/invitations"): Case("/v1/merchant/invitations",
                                               merchant_only(201, 201)),
    ("GET", "/v1/merchant/staff"): Case("/v1/merchant/staff", merchant_only(200, 200)),
    ("DELETE", "/v1/merchant/staff/<int:user_id>"): Case(
        "/v1/merchant/staff/{clerk_user_id}", merchant_only(204, 404)),
    ("GET", "/v1/merchant/perks"): Case("/v1/merchant/perks", merchant_only(200, 200)),
    ("POST", "/v1/merchant/perks"): Case("/v1/merchant/perks", merchant_only(201, 201), PERK),
    ("GET", "/v1/merchant/perks/<int:perk_id>"): Case(
        "/v1/merchant/perks/{perk_id}", merchant_only(200, 404)),
    ("PATCH", "/v1/merchant/perks/<int:perk_id>"): Case(
        "/v1/merchant/perks/{perk_id}", merchant_only(200, 404), {"description": "新说明"},
        headers=if_match),
    ("POST", "/v1/merchant/verifications"): Case(
        "/v1/merchant/verifications", merchant_only(201, 404),
        lambda w, c: {"token": w.ids["code_to_verify"], "perk_id": w.ids["perk_id"]}),
    ("POST", "/v1/merchant/redemptions"): Case(
        "/v1/merchant/redemptions", merchant_only(201, 404),
        lambda w, c: {"verification_id": w.ids["verification_to_redeem"]},
        headers=idempotency_key),
    ("GET", "/v1/merchant/redemptions"): Case("/v1/merchant/redemptions",
                                              merchant_only(200, 200)),
    ("POST", "/v1/merchant/redemptions/<int:redemption_id>/reverse"): Case(
        "/v1/merchant/redemptions/{redemption_id}/reverse", merchant_only(200, 404),
        {"reason": "顾客退订"}),
    ("GET", "/v1/merchant/stats"): Case("/v1/merchant/stats", merchant_only(200, 200)),
    # A worker names merchant A as employer: only A's staff decide (B's: not found).
    ("GET", "/v1/merchant/workers"): Case("/v1/merchant/workers", merchant_only(200, 200)),
    ("POST", "/v1/merchant/workers/<int:user_id>/confirm"): Case(
        "/v1/merchant/workers/{worker_user_id}/confirm", merchant_only(200, 404)),
    ("POST", "/v1/merchant/workers/<int:user_id>/reject"): Case(
        "/v1/merchant/workers/{worker_user_id}/reject", merchant_only(200, 404)),

    # -- departments (/v1/dept…) ---------------------------------------------------------
    # Department B may push, but its records are refused one by one (200, all rejected).
    ("POST", "/v1/dept/records"): Case(
        "/v1/dept/records", dept_only(200, 200),
        lambda w, c: {"records": [{"source_ref": "matrix-push",
                                   "subject": {"id_number": valid_id(seq=850), "name": "王五"},
                                   "type": "admin.penalty.general",
                                   "decided_on": w.ids["decided_on"]}]},
        check=only_own_types_accepted),
    ("POST", "/v1/dept/records/<string:source_ref>/end"): Case(
        "/v1/dept/records/matrix-end/end", dept_only(200, 404),
        lambda w, c: {"ended_on": w.ids["today"]}),
    ("POST", "/v1/dept/records/<string:source_ref>/revoke"): Case(
        "/v1/dept/records/matrix-revoke/revoke", dept_only(200, 404), {"reason": "错报"}),
    ("GET", "/v1/dept/quality-issues"): Case("/v1/dept/quality-issues", dept_only(200, 200)),
    ("POST", "/v1/dept/quality-issues/<int:issue_id>/resolve"): Case(
        "/v1/dept/quality-issues/{quality_issue_id}/resolve", dept_only(200, 404), {}),
    ("GET", "/v1/dept/repairs"): Case("/v1/dept/repairs", dept_only(200, 200)),
    ("POST", "/v1/dept/repairs/<int:repair_id>/decision"): Case(
        "/v1/dept/repairs/{repair_to_decide}/decision", dept_only(200, 404),
        {"approve": True, "note": "整改到位"}),
    ("GET", "/v1/dept/objections"): Case("/v1/dept/objections", dept_only(200, 200)),
    # The file a repair of department A cites: only A reads it.
    ("GET", "/v1/dept/attachments/<int:attachment_id>"): Case(
        "/v1/dept/attachments/{attachment}", dept_only(200, 404)),
    ("POST", "/v1/dept/objections/<int:objection_id>/decision"): Case(
        "/v1/dept/objections/{objection_to_decide}/decision", dept_only(200, 404),
        {"upheld": False, "note": "处罚无误"}),
    ("GET", "/v1/dept/commitments"): Case("/v1/dept/commitments", dept_only(200, 200)),
    ("POST", "/v1/dept/commitments/<int:commitment_id>/outcome"): Case(
        "/v1/dept/commitments/{commitment_to_judge}/outcome", dept_only(200, 404),
        {"outcome": "fulfilled"}),
    # Every department may check anyone before handling a matter (逢办必查).
    ("POST", "/v1/dept/credit-checks"): Case(
        "/v1/dept/credit-checks", dept_only(201, 201),
        {"subject": {"id_number": RES_ID, "name": RES_NAME}, "purpose": "inspection",
         "matter_ref": "JC-2026-9"}),
    ("GET", "/v1/dept/credit-checks"): Case("/v1/dept/credit-checks", dept_only(200, 200)),
    ("GET", "/v1/dept/credit-checks/<int:check_id>"): Case(
        "/v1/dept/credit-checks/{credit_check_id}", dept_only(200, 404)),
    ("POST", "/v1/dept/credit-checks/<int:check_id>/feedback"): Case(
        "/v1/dept/credit-checks/{credit_check_id}/feedback", dept_only(200, 404),
        {"action": "normal"}),

    # -- the credit office (/v1/admin…) ------------------------------------------------
    ("GET", "/v1/admin/departments"): Case("/v1/admin/departments", admin_only(200)),
    ("POST", "/v1/admin/departments"): Case(
        "/v1/admin/departments", admin_only(201),
        {"code": "matrix-new", "name": "新部门", "record_types": []}),
    ("PATCH", "/v1/admin/departments/<string:code>"): Case(
        "/v1/admin/departments/spare", admin_only(200), {"name": "备用部门"}),
    ("POST", "/v1/admin/departments/<string:code>/keys"): Case(
        "/v1/admin/departments/spare/keys", admin_only(201)),
    ("GET", "/v1/admin/rule-sets"): Case("/v1/admin/rule-sets", admin_only(200)),
    ("POST", "/v1/admin/rule-sets"): Case("/v1/admin/rule-sets", admin_only(201), toml_upload),
    ("POST", "/v1/admin/rule-sets/<string:code>/activate"): Case(
        "/v1/admin/rule-sets/{rule_set_code}/activate", admin_only(202)),
    ("GET", "/v1/admin/jobs/<string:job_id>"): Case("/v1/admin/jobs/{job_id}",
                                                    admin_only(200)),
    ("GET", "/v1/admin/quality-report"): Case("/v1/admin/quality-report", admin_only(200)),
    ("GET", "/v1/admin/assessment"): Case("/v1/admin/assessment", admin_only(200)),
    ("GET", "/v1/admin/calendar/<int:year>"): Case("/v1/admin/calendar/2027", admin_only(200)),
    ("PUT", "/v1/admin/calendar/<int:year>"): Case(
        "/v1/admin/calendar/2027", admin_only(200),
        {"holidays": ["2027-01-01", "2027-02-05", "2027-02-08"], "workdays": ["2027-02-20"]}),
    ("GET", "/v1/admin/audit"): Case("/v1/admin/audit", admin_only(200)),
    ("GET", "/v1/admin/merchants"): Case("/v1/admin/merchants", admin_only(200)),
    ("GET", "/v1/admin/merchants/<int:merchant_id>"): Case(
        "/v1/admin/merchants/{merchant_a}", admin_only(200)),
    ("POST", "/v1/admin/merchants/<int:merchant_id>/approve"): Case(
        "/v1/admin/merchants/{merchant_to_approve}/approve", admin_only(200)),
    ("POST", "/v1/admin/merchants/<int:merchant_id>/reject"): Case(
        "/v1/admin/merchants/{merchant_to_reject}/reject", admin_only(200),
        {"reason": "材料不全"}),
    ("POST", "/v1/admin/merchants/<int:merchant_id>/suspend"): Case(
        "/v1/admin/merchants/{merchant_to_suspend}/suspend", admin_only(200),
        {"reason": "投诉属实"}),
    ("POST", "/v1/admin/merchants/<int:merchant_id>/reinstate"): Case(
        "/v1/admin/merchants/{merchant_to_reinstate}/reinstate", admin_only(200)),

    # -- last: calls that end sessions or accounts ------------------------------------
    # Any signed-in account (resident or admin) may sign out; a department key is no session.
    ("POST", "/v1/auth/logout"): Case(
        "/v1/auth/logout", {**signed_in(204), ADMIN: 204}, fresh_tokens=True),
    ("DELETE", "/v1/me"): Case("/v1/me", mine(204)),
}


# ------------------------------------------------------------------ the world


def _console_cases() -> dict[tuple[str, str], Case]:
    """The console's routes (tests/builders/console_routes.py): a bearer token or an API key is
    no console session, so every page but the sign-in form and the static files sends
    the caller to sign in (302), and a sign-in posted without its CSRF token is refused
    (400). The console's own callers: tests/console/test_console_matrix.py."""
    from tests.builders.console_routes import CONSOLE_ROUTES

    ids = {"repair": 1, "objection": 1, "check": 1, "upload": 1, "merchant": 1, "issue": 1,
           "commitment": 1, "attachment": 1,
           "spare_clerk": 1, "rule_set": "changsha-2020", "job": "x", "record_ref": "x"}
    cases = {}
    for (method, rule), (path, _, expect) in CONSOLE_ROUTES.items():
        status = expect["anonymous"]
        if rule == "/console/sign-in" and method == "POST":
            status = 400
        cases[(method, rule)] = Case(path.format_map(ids).split("?")[0],
                                     everyone(status if isinstance(status, int) else 302))
    return cases


MATRIX.update(_console_cases())

@dataclass
class World:
    app: Any
    client: Any
    headers: dict[str, dict[str, str]]
    openids: dict[str, str]
    extra_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)
    rule_set_toml: str = ""

    def fresh_headers(self, caller: str) -> dict[str, str]:
        """A new session for the caller (for calls that end the session)."""
        if caller in self.openids:
            return {**auth(dev_login(self.client, self.openids[caller])["access_token"]),
                    **self.extra_headers.get(caller, {})}
        if caller == ADMIN:
            return admin_headers(self.app, self.client)
        return self.headers[caller]


def _ok(response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def _build(app, client) -> World:
    day = today()
    decided_on = (day - dt.timedelta(days=150)).isoformat()  # repairable, still counting
    admin = admin_headers(app, client)
    market = department(app, client, "market")  # every record type
    idle = department(app, client, "idle", record_types=[])
    department(app, client, "spare", record_types=[])

    people = {
        RES: resident(client, id_number=RES_ID, name=RES_NAME, openid="matrix-resident"),
        RES2: resident(client, id_number=valid_id(seq=811), name="李四",
                       openid="matrix-resident2"),
        STAFF: resident(client, id_number=valid_id(seq=812), name="王老板",
                        openid="matrix-staff"),
        STAFF2: resident(client, id_number=valid_id(seq=813), name="钱老板",
                         openid="matrix-staff2"),
        CLERK2_AS_A: resident(client, id_number=valid_id(seq=814), name="孙店员",
                              openid="matrix-clerk2"),
    }
    h = {caller: p["headers"] for caller, p in people.items()}
    retired = admin_headers(app, client, "matrix-retired", "retired-pass")
    world = World(app, client, {ANON: {}, **h, DEPT: market, DEPT2: idle, ADMIN: admin,
                                RETIRED_ADMIN: retired},
                  {caller: p["openid"] for caller, p in people.items()})
    ids = world.ids
    ids.update(today=day.isoformat(), decided_on=decided_on, rule_set_code="changsha-2020")
    for caller in people:
        _ok(client.put("/v1/me/worker-profile", headers=h[caller],
                       json={"occupation": "housekeeping"}))

    # Commitments, before the negative records (a fast-track commitment needs a clean slate).
    ids["commitment_to_judge"] = _ok(client.post("/v1/me/commitments", headers=h[RES], json={
        "kind": "approval_substitute", "department": "market",
        "matter": "食品经营许可", "due_on": (day + dt.timedelta(days=30)).isoformat(),
        "public": False, "content": DEPT_COMMITMENT}), 201)["id"]
    ids["commitment_to_withdraw"] = _ok(client.post("/v1/me/commitments", headers=h[RES], json={
        "kind": "voluntary", "content": OWN_COMMITMENT, "public": False}), 201)["id"]

    # The resident's records, pushed by department A (one per use, so no use disturbs another).
    refs = ("repair-decide", "repair-withdraw", "repair-new", "objection-decide",
            "objection-new", "end", "revoke")
    pushed = push(client, market, *({"source_ref": f"matrix-{ref}", "id_number": RES_ID,
                                     "name": RES_NAME, "type": "admin.penalty.general",
                                     "decided_on": decided_on} for ref in refs))
    record = {a["source_ref"].removeprefix("matrix-"): a["record_id"] for a in pushed["accepted"]}
    ids["record_to_repair"], ids["record_to_object"] = record["repair-new"], record["objection-new"]
    # An evidence file of the resident's, cited by the repair department A decides.
    ids["attachment"] = _ok(client.post("/v1/me/attachments", headers=h[RES], data={
        "file": (io.BytesIO(a_pdf()), "缴款书.pdf")}, content_type="multipart/form-data"),
        201)["id"]
    for key, ref in (("repair_to_decide", "repair-decide"),
                     ("repair_to_withdraw", "repair-withdraw")):
        ids[key] = _ok(client.post("/v1/me/repairs", headers=h[RES], json={
            "record_id": record[ref], "statement": STATEMENT, "commitment": "今后依法经营",
            "attachments": [ids["attachment"]] if key == "repair_to_decide" else []}),
            201)["id"]
    ids["objection_to_decide"] = _ok(client.post("/v1/me/objections", headers=h[RES], json={
        "record_id": record["objection-decide"], "reason": REASON}), 201)["id"]

    # A rejected record becomes department A's quality issue.
    push(client, market, {"source_ref": "matrix-bad", "id_number": RES_ID, "name": RES_NAME,
                          "type": "admin.penalty.general"}, expect_rejected=1)
    issues = _ok(client.get("/v1/dept/quality-issues", headers=market))
    ids["quality_issue_id"] = issues[0]["id"]

    ids["credit_check_id"] = _ok(client.post("/v1/dept/credit-checks", headers=market, json={
        "subject": {"id_number": RES_ID, "name": RES_NAME}, "purpose": "administrative_license",
        "matter_ref": "XK-2026-1"}), 201)["id"]
    # The resident was told of each record and of the check.
    ids["notification"] = _ok(client.get("/v1/me/notifications", headers=h[RES]))[0]["id"]

    # Report shares: one to view and review, one to revoke. Viewers open it first.
    ids["share_to_view"], ids["share_to_revoke"] = (
        _ok(client.post("/v1/me/report-shares", headers=h[RES], json={"ttl_minutes": 1440}),
            201)["token"] for _ in range(2))
    for caller in (RES2, STAFF, STAFF2, CLERK2_AS_A):
        _ok(client.get(f"/v1/reports/{ids['share_to_view']}", headers=h[caller]))

    # Merchants: A (owner: staff) with a clerk, B (owner: staff2), and four for the office.
    def apply(headers: dict, name: str) -> int:
        return _ok(client.post("/v1/merchants", headers=headers, json={
            "name": name, "uscc": valid_uscc(), "sector": "tourism"}), 201)["id"]

    def approve(merchant_id: int) -> None:
        _ok(client.post(f"/v1/admin/merchants/{merchant_id}/approve", headers=admin))

    ids["merchant_a"], merchant_b = apply(h[STAFF], "岳麓山景区"), apply(h[STAFF2], "橘子洲")
    approve(ids["merchant_a"])
    approve(merchant_b)
    applicant = auth(dev_login(client, "matrix-applicant")["access_token"])
    ids["merchant_to_approve"] = apply(applicant, "待批商户")
    ids["merchant_to_reject"] = apply(applicant, "待拒商户")
    ids["merchant_to_suspend"] = apply(applicant, "待停商户")
    ids["merchant_to_reinstate"] = apply(applicant, "已停商户")
    approve(ids["merchant_to_suspend"])
    approve(ids["merchant_to_reinstate"])
    _ok(client.post(f"/v1/admin/merchants/{ids['merchant_to_reinstate']}/suspend",
                    headers=admin, json={"reason": "整改"}))
    # A worker (none of the callers, whose own profiles the matrix rewrites) names A.
    worker = resident(client, id_number=valid_id(seq=815), name="周阿姨", openid="matrix-worker")
    _ok(client.put("/v1/me/worker-profile", headers=worker["headers"],
                   json={"occupation": "housekeeping", "merchant_id": ids["merchant_a"]}))
    ids["worker_user_id"] = worker["user"]["id"]
    invitation = _ok(client.post("/v1/merchant/invitations", headers=h[STAFF]), 201)["code"]
    clerk = dev_login(client, "matrix-clerk")
    _ok(client.post(f"/v1/merchants/invitations/{invitation}/accept",
                    headers=auth(clerk["access_token"])))
    ids["clerk_user_id"] = clerk["user"]["id"]
    # A staff member of merchant B who names merchant A in every request.
    invitation = _ok(client.post("/v1/merchant/invitations", headers=h[STAFF2]), 201)["code"]
    _ok(client.post(f"/v1/merchants/invitations/{invitation}/accept", headers=h[CLERK2_AS_A]))
    world.extra_headers[CLERK2_AS_A] = {"X-Merchant-Id": str(ids["merchant_a"])}
    world.headers[CLERK2_AS_A] = {**h[CLERK2_AS_A], **world.extra_headers[CLERK2_AS_A]}

    # Merchant A's perk, a redemption of it, a verification to redeem and a code to verify.
    r = client.post("/v1/merchant/perks", headers=h[STAFF], json=PERK)
    ids["perk_id"], ids["perk_etag"] = _ok(r, 201)["id"], r.headers["ETag"]

    def verification() -> int:
        code = _ok(client.post("/v1/me/verification-tokens", headers=h[RES]), 201)["token"]
        return _ok(client.post("/v1/merchant/verifications", headers=h[STAFF], json={
            "token": code, "perk_id": ids["perk_id"]}), 201)["id"]

    ids["redemption_id"] = _ok(client.post("/v1/merchant/redemptions", headers=h[STAFF],
                                           json={"verification_id": verification()}), 201)["id"]
    ids["verification_to_redeem"] = verification()
    ids["code_to_verify"] = _ok(client.post("/v1/me/verification-tokens", headers=h[RES]),
                                201)["token"]

    # A rule-set version to upload (the shipped file under a new code) and a job to read.
    shipped = Path(__file__).resolve().parents[2] / "points" / "rules" / "changsha-2020.toml"
    world.rule_set_toml = shipped.read_text(encoding="utf-8").replace(
        'code = "changsha-2020"', 'code = "matrix-2026"', 1)
    ids["job_id"] = _ok(client.post("/v1/admin/rule-sets/changsha-2020/activate",
                                    headers=admin), 202)["job_id"]

    # The retired admin's account is disabled while their access token is still fresh.
    session = app.state.db.new_session()
    session.execute(update(AdminAccount).where(AdminAccount.username == "matrix-retired")
                    .values(active=False))
    session.commit()
    session.close()
    return world


@pytest.fixture(scope="module")
def world(app):
    clean(app)
    try:
        yield _build(app, app.test_client())
    finally:
        app.state.db.remove()
        clean(app)


# ------------------------------------------------------------------ the tests

def _url_map_pairs(app) -> set[tuple[str, str]]:
    pairs = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS or rule.endpoint.startswith(SKIPPED_PREFIXES):
            continue
        pairs |= {(method, rule.rule) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return pairs


def _show(pairs) -> str:
    return "\n  ".join(f"{m} {r}" for r, m in sorted((r, m) for m, r in pairs))


def test_every_route_is_in_the_matrix(app):
    routes, table = _url_map_pairs(app), set(MATRIX)
    missing, stale = routes - table, table - routes
    assert not missing and not stale, (
        (f"routes without an entry in MATRIX (add one, with the status every caller must "
         f"get):\n  {_show(missing)}\n" if missing else "")
        + (f"MATRIX entries for routes that no longer exist:\n  {_show(stale)}" if stale else ""))
    assert sorted(CALL_ORDER) == sorted(CALLERS)
    for key, case in MATRIX.items():
        assert set(case.expect) == set(CALLERS), f"{key}: expectations for {set(case.expect)}"


def _leaks(caller: str, response) -> list[str]:
    if not HIDDEN[caller] or response.mimetype == "application/pdf":
        return []
    data = response.get_json(silent=True)
    text = (response.get_data(as_text=True) if data is None
            else json.dumps(data, ensure_ascii=False))
    return [marker for marker in HIDDEN[caller] if marker in text]


def test_authorization_matrix(app, world):
    client = world.client
    adapter = app.url_map.bind("localhost")
    mismatches: list[str] = []
    checked = 0
    for (method, rule), case in MATRIX.items():
        path = case.path.format_map(world.ids)
        matched, _ = adapter.match(path, method=method, return_rule=True)
        assert matched.rule == rule, f"{method} {path} reaches {matched.rule}, not {rule}"
        for caller in CALL_ORDER:
            headers = world.fresh_headers(caller) if case.fresh_tokens else world.headers[caller]
            if case.headers is not None:
                headers = {**headers, **case.headers(world, caller)}
            body = case.body(world, caller) if callable(case.body) else case.body
            kwargs = {"json": body} if body is not None else {}
            if case.form is not None:
                kwargs = {"data": case.form(world, caller), "content_type": "multipart/form-data"}
            response = client.open(path, method=method, headers=headers, **kwargs)
            checked += 1
            expected = case.expect[caller]
            if response.status_code != expected:
                payload = response.get_json(silent=True)
                payload = payload if isinstance(payload, dict) else {}
                mismatches.append(
                    f"{method} {rule} as {caller}: expected {expected}, got "
                    f"{response.status_code} {payload.get('error_code', '')} "
                    f"{payload.get('message', '')}".rstrip())
            problem = case.check(caller, response) if case.check else None
            if problem:
                mismatches.append(f"{method} {rule} as {caller}: {problem}")
            leaked = _leaks(caller, response)
            response.close()  # a static file's answer holds the file open
            if leaked:
                mismatches.append(f"{method} {rule} as {caller}: the answer carries the "
                                  f"resident's {leaked}")
    assert checked == len(MATRIX) * len(CALLERS)
    assert not mismatches, f"{len(mismatches)} wrong answers of {checked}:\n" + "\n".join(
        mismatches)


@pytest.mark.parametrize(("path", "role"), [
    ("/v1/me", "resident"), ("/v1/me/points", "resident"), ("/v1/merchants", "user"),
    ("/v1/merchants/applications", "user"), ("/v1/media", "user"), ("/v1/merchant", "merchant"),
    ("/v1/merchant/perks", "merchant"), ("/v1/dept/records", "department"),
    ("/v1/admin/audit", "admin"), ("/v1/auth/logout", "any"), ("/v1/perks", "user")])
def test_audience_by_path_prefix(path, role):
    """`/v1/me` is a prefix of the resident's paths only, not of every path starting so."""
    from api.access import required_role

    assert required_role(path) == role


def test_a_disabled_admin_can_neither_call_nor_refresh(app, client):
    admin_headers(app, client, "leaving", "leaving-pass")
    tokens = client.post("/v1/auth/admin/login",
                         json={"username": "leaving", "password": "leaving-pass"}).json
    headers = auth(tokens["access_token"])
    assert client.get("/v1/admin/departments", headers=headers).status_code == 200
    session = app.state.db.new_session()
    session.execute(update(AdminAccount).where(AdminAccount.username == "leaving")
                    .values(active=False))
    session.commit()
    session.close()

    for method, path in (("GET", "/v1/admin/departments"), ("POST", "/v1/admin/rule-sets"),
                         ("POST", "/v1/admin/departments/x/keys"), ("GET", "/v1/me"),
                         ("POST", "/v1/auth/logout")):
        r = client.open(path, method=method, headers=headers)
        assert (r.status_code, r.json["error_code"]) == (401, "UNAUTHENTICATED"), (path, r.json)
    r = client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401, r.json
    r = client.post("/v1/auth/admin/login", json={"username": "leaving",
                                                  "password": "leaving-pass"})
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
