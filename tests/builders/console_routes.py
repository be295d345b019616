"""Every console route with a path to call it by and the answer each console caller
must get: shared by the console's matrix (tests/console/test_console_matrix.py) and
the API's (tests/api/test_authorization_matrix.py), where API credentials are no
console session.

Console callers:
    anonymous   no console session
    clerk_a     a clerk of department A (owns the repair, objection, check, upload)
    clerk_b     a clerk of department B
    office      a credit-office admin signed in to the console
    newcomer    a clerk of department A who has not changed the first password yet

Answers: an int status, SIGN_IN (302 to the sign-in form), PASSWORD (302 to the
password form) or DONE (302 elsewhere: the action was taken or refused on its page).
"""
from __future__ import annotations

ANON, CLERK_A, CLERK_B, OFFICE, NEWCOMER = "anonymous", "clerk_a", "clerk_b", "office", "newcomer"
CONSOLE_CALLERS = (ANON, CLERK_A, CLERK_B, OFFICE, NEWCOMER)
SIGN_IN, PASSWORD, DONE = "sign-in", "password", "done"


def everyone(status):
    return dict.fromkeys(CONSOLE_CALLERS, status)


def staff(ok, office=None):
    """Any signed-in staff member (a newcomer is sent to change the password first)."""
    return {ANON: SIGN_IN, CLERK_A: ok, CLERK_B: ok, OFFICE: ok if office is None else office,
            NEWCOMER: PASSWORD}


def office_only(ok):
    return {ANON: SIGN_IN, CLERK_A: 403, CLERK_B: 403, OFFICE: ok, NEWCOMER: PASSWORD}


def clerks(ok):
    """A clerk's page without an object: each clerk sees their own department's."""
    return {ANON: SIGN_IN, CLERK_A: ok, CLERK_B: ok, OFFICE: 403, NEWCOMER: PASSWORD}


def dept_object(ok):
    """One of department A's objects: department B's clerk gets 404."""
    return {ANON: SIGN_IN, CLERK_A: ok, CLERK_B: 404, OFFICE: 403, NEWCOMER: PASSWORD}


# (method, rule): (path formatted with the world's ids, form fields, expectations)
CONSOLE_ROUTES = {
    ("GET", "/console/sign-in"): ("/console/sign-in", None, everyone(200)),
    # Empty credentials with a valid token: the form answers 422 to anyone.
    ("POST", "/console/sign-in"): ("/console/sign-in", {"username": ""}, everyone(422)),
    ("GET", "/console/static/<path:filename>"): ("/console/static/console.css", None,
                                                 everyone(200)),
    # Back to the sign-in form, signed out or not (the matrix checks the session ended).
    ("POST", "/console/sign-out"): ("/console/sign-out", {}, everyone(SIGN_IN)),
    ("GET", "/console/"): ("/console/", None, staff(DONE)),
    ("GET", "/console/password"): ("/console/password", None, {**staff(200), NEWCOMER: 200}),
    # Wrong current password: refused on the page (422); an admin has no form (404).
    ("POST", "/console/password"): ("/console/password", {"current": "x", "new": "y" * 12,
                                                          "confirm": "y" * 12},
                                    {**staff(422, office=404), NEWCOMER: 422}),

    ("GET", "/console/office/"): ("/console/office/", None, office_only(200)),
    ("GET", "/console/office/departments"): ("/console/office/departments", None,
                                             office_only(200)),
    ("POST", "/console/office/departments"): ("/console/office/departments",
                                              {"code": "newdept", "name": "新部门"},
                                              office_only(200)),
    ("POST", "/console/office/departments/<code>/enabled"): (
        "/console/office/departments/spare/enabled", {"enabled": "1"}, office_only(DONE)),
    ("POST", "/console/office/departments/<code>/key"): (
        "/console/office/departments/spare/key", {}, office_only(200)),
    ("POST", "/console/office/departments/<code>/types"): (
        "/console/office/departments/spare/types", {}, office_only(DONE)),
    ("GET", "/console/office/departments/<code>/users"): (
        "/console/office/departments/market/users", None, office_only(200)),
    ("POST", "/console/office/departments/<code>/users"): (
        "/console/office/departments/spare/users", {"username": "spare-clerk",
                                                    "display_name": "李办事员"},
        office_only(200)),
    ("POST", "/console/office/departments/<code>/users/<int:user_id>/active"): (
        "/console/office/departments/spare/users/{spare_clerk}/active", {"active": "1"},
        office_only(DONE)),
    ("POST", "/console/office/departments/<code>/users/<int:user_id>/reset"): (
        "/console/office/departments/spare/users/{spare_clerk}/reset", {}, office_only(200)),
    ("GET", "/console/office/merchants"): ("/console/office/merchants", None, office_only(200)),
    ("POST", "/console/office/merchants/<int:merchant_id>/<action>"): (
        "/console/office/merchants/{merchant}/approve", {}, office_only(DONE)),
    ("GET", "/console/office/rule-sets"): ("/console/office/rule-sets", None, office_only(200)),
    ("POST", "/console/office/rule-sets"): ("/console/office/rule-sets", {"content": "x = 1"},
                                            office_only(422)),
    ("GET", "/console/office/rule-sets/<code>"): ("/console/office/rule-sets/{rule_set}", None,
                                                  office_only(200)),
    ("POST", "/console/office/rule-sets/<code>/preview"): (
        "/console/office/rule-sets/{rule_set}/preview", {}, office_only(DONE)),
    ("POST", "/console/office/rule-sets/<code>/activate"): (
        "/console/office/rule-sets/changsha-2020/activate", {}, office_only(DONE)),
    ("GET", "/console/office/jobs/<job_id>"): ("/console/office/jobs/{job}", None,
                                               office_only(200)),
    ("GET", "/console/office/jobs/<job_id>/progress"): ("/console/office/jobs/{job}/progress",
                                                        None, office_only(200)),
    ("GET", "/console/office/calendar"): ("/console/office/calendar", None, office_only(200)),
    ("POST", "/console/office/calendar"): ("/console/office/calendar",
                                           {"year": "2030", "holidays": "", "workdays": ""},
                                           office_only(DONE)),
    ("GET", "/console/office/quality"): ("/console/office/quality", None, office_only(200)),
    ("GET", "/console/office/audit"): ("/console/office/audit", None, office_only(200)),

    ("GET", "/console/dept/"): ("/console/dept/", None, clerks(200)),
    ("GET", "/console/dept/repairs"): ("/console/dept/repairs", None, clerks(200)),
    ("GET", "/console/dept/repairs/<int:repair_id>"): ("/console/dept/repairs/{repair}", None,
                                                       dept_object(200)),
    ("POST", "/console/dept/repairs/<int:repair_id>/decision"): (
        "/console/dept/repairs/{repair}/decision", {"decision": "reject", "note": "材料不全"},
        dept_object(DONE)),
    # The evidence file the repair cites: only the deciding department's clerks.
    ("GET", "/console/dept/attachments/<int:attachment_id>"): (
        "/console/dept/attachments/{attachment}", None, dept_object(200)),
    ("GET", "/console/dept/objections"): ("/console/dept/objections", None, clerks(200)),
    ("GET", "/console/dept/objections/<int:objection_id>"): (
        "/console/dept/objections/{objection}", None, dept_object(200)),
    ("POST", "/console/dept/objections/<int:objection_id>/decision"): (
        "/console/dept/objections/{objection}/decision", {"decision": "reject", "note": "无误"},
        dept_object(DONE)),
    # Department B has no record of that source_ref: its own search finds nothing (404).
    ("GET", "/console/dept/records"): ("/console/dept/records?source_ref={record_ref}", None,
                                       dept_object(200)),
    ("POST", "/console/dept/records/end"): ("/console/dept/records/end",
                                            {"source_ref": "{record_ref}", "ended_on": "x"},
                                            clerks(DONE)),
    ("POST", "/console/dept/records/revoke"): ("/console/dept/records/revoke",
                                               {"source_ref": "{record_ref}", "reason": ""},
                                               clerks(DONE)),
    ("GET", "/console/dept/credit-checks"): ("/console/dept/credit-checks", None, clerks(200)),
    ("POST", "/console/dept/credit-checks"): ("/console/dept/credit-checks", {"purpose": "x"},
                                              clerks(DONE)),
    ("GET", "/console/dept/credit-checks/<int:check_id>"): (
        "/console/dept/credit-checks/{check}", None, dept_object(200)),
    ("POST", "/console/dept/credit-checks/<int:check_id>/feedback"): (
        "/console/dept/credit-checks/{check}/feedback", {"action": "normal"}, dept_object(DONE)),
    ("GET", "/console/dept/quality-issues"): ("/console/dept/quality-issues", None, clerks(200)),
    ("POST", "/console/dept/quality-issues/<int:issue_id>/resolve"): (
        "/console/dept/quality-issues/{issue}/resolve", {}, dept_object(DONE)),
    ("GET", "/console/dept/commitments"): ("/console/dept/commitments", None, clerks(200)),
    ("POST", "/console/dept/commitments/<int:commitment_id>/outcome"): (
        "/console/dept/commitments/{commitment}/outcome", {"outcome": "fulfilled"},
        dept_object(DONE)),
    ("GET", "/console/dept/uploads"): ("/console/dept/uploads", None, clerks(200)),
    ("POST", "/console/dept/uploads"): ("/console/dept/uploads", {}, clerks(DONE)),
    ("GET", "/console/dept/uploads/template.xlsx"): ("/console/dept/uploads/template.xlsx", None,
                                                     clerks(200)),
    ("GET", "/console/dept/uploads/<int:upload_id>"): ("/console/dept/uploads/{upload}", None,
                                                       dept_object(200)),
    ("GET", "/console/dept/uploads/<int:upload_id>/progress"): (
        "/console/dept/uploads/{upload}/progress", None, dept_object(200)),
    ("GET", "/console/dept/uploads/<int:upload_id>/rejected.xlsx"): (
        "/console/dept/uploads/{upload}/rejected.xlsx", None, dept_object(200)),
}
