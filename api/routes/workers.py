"""Worker profiles, credit reports and credit checks.

- `/v1/me/worker-profile`, `/v1/me/report-shares`, `/v1/me/reviews`: the resident.
- `/v1/reports/{token}` (JSON, `?format=pdf` or `.pdf`) and its reviews: any
  signed-in resident holding the link.
- `/v1/dept/credit-checks`: departments (X-API-Key), 逢办必查.
"""
from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from flask import Response, current_app
from sqlalchemy import select

from api import access
from api.context import cipher, db_session, redis_client
from api.smorest import MAX_DB_ID, Blueprint, Schema, paginate_select
from incentives.perks import LEVELS
from points.employment import credit_checks, report_pdf, report_text, reports, worker_profiles
from points.employment.workers import BACKGROUND_RESULTS, SAFETY_CODES
from points.infra.db import today, utcnow
from points.models.workers import (
    CHECK_PURPOSES,
    EMPLOYER_STATUSES,
    FEEDBACK_ACTIONS,
    OCCUPATIONS,
    CreditCheck,
)
from points.rules.engine import STATUSES

blp = Blueprint("workers", __name__, url_prefix="/v1",
                description="Worker profiles, credit reports and credit checks")


# ------------------------------------------------------------------ schemas

class WorkerProfileInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"occupation": "housekeeping", "merchant_id": 12}
    occupation = ma.fields.String(required=True, validate=ma.validate.OneOf(OCCUPATIONS))
    merchant_id = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                    validate=ma.validate.Range(min=1, max=MAX_DB_ID))


class WorkerIdentitySchema(Schema):
    verified = ma.fields.Boolean(required=True)
    verified_on = ma.fields.Date(allow_none=True)


class WorkerBackgroundSchema(Schema):
    result = ma.fields.String(
        allow_none=True,
        metadata={"description": "clear or flagged"},
        validate=ma.validate.OneOf(BACKGROUND_RESULTS))
    checked_on = ma.fields.Date(allow_none=True)


class WorkerCertificateSchema(Schema):
    valid = ma.fields.Boolean(required=True, metadata={"description": "valid today"})
    valid_until = ma.fields.Date(allow_none=True, metadata={"description": "last valid day"})


class WorkerTrainingSchema(Schema):
    course = ma.fields.String()
    hours = ma.fields.Raw(metadata={"type": "number", "nullable": True})
    completed_on = ma.fields.Date(allow_none=True)


class WorkerSkillSchema(Schema):
    name = ma.fields.String()
    grade = ma.fields.String()
    obtained_on = ma.fields.Date(allow_none=True)


class WorkerLicenseSchema(Schema):
    occupation = ma.fields.String(validate=ma.validate.OneOf(OCCUPATIONS))
    license_no = ma.fields.String()
    issued_on = ma.fields.Date(allow_none=True)


class WorkerStatusSchema(Schema):
    safety_code = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(SAFETY_CODES),
        metadata={"description": "green: identity, background, health certificate and insurance "
                                 "all in order; yellow: something lapsed; red: not verified or a"
                                 " flagged background"})
    identity = ma.fields.Nested(WorkerIdentitySchema, required=True)
    background = ma.fields.Nested(WorkerBackgroundSchema, required=True)
    health_certificate = ma.fields.Nested(WorkerCertificateSchema, required=True)
    insurance = ma.fields.Nested(WorkerCertificateSchema, required=True)
    training = ma.fields.List(ma.fields.Nested(WorkerTrainingSchema), required=True)
    skill_certificates = ma.fields.List(ma.fields.Nested(WorkerSkillSchema), required=True)
    licenses = ma.fields.List(ma.fields.Nested(WorkerLicenseSchema), required=True)


class WorkerProfileSchema(Schema):
    occupation = ma.fields.String(required=True, validate=ma.validate.OneOf(OCCUPATIONS))
    merchant_id = ma.fields.Integer(allow_none=True)
    employer_status = ma.fields.String(
        allow_none=True, validate=ma.validate.OneOf(EMPLOYER_STATUSES), metadata={
            "description": "pending, confirmed or rejected by the merchant named (null: none)"})
    safety_code = ma.fields.String(required=True, validate=ma.validate.OneOf(SAFETY_CODES),
                                   metadata={"description": "green, yellow or red, today"})
    as_of = ma.fields.Date(required=True)
    status = ma.fields.Nested(WorkerStatusSchema, required=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ReportShareInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"ttl_minutes": 60}
    ttl_minutes = ma.fields.Integer(required=True, strict=True,
                                    validate=ma.validate.Range(min=1,
                                                               max=reports.MAX_TTL_MINUTES))


class ReportShareCreatedSchema(Schema):
    id = ma.fields.Integer(required=True)
    token = ma.fields.String(required=True, metadata={"description": "shown only once"})
    expires_at = ma.fields.DateTime(required=True)
    qr_svg = ma.fields.String(
        required=True,
        metadata={"description": "the url as a QR code: a standalone SVG document"})
    url = ma.fields.String(
        required=True,
        metadata={"description": "{PUBLIC_BASE_URL}/r/{token}: the report page, no sign-in"})


class ReportShareSchema(Schema):
    id = ma.fields.Integer(required=True)
    token_hint = ma.fields.String(metadata={"description": "the token's first characters"})
    status = ma.fields.Function(lambda share: reports.share_state(share, utcnow()),
                                metadata={"type": "string", "enum": list(reports.SHARE_STATES),
                                          "description": "active, expired or revoked"})
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)
    views = ma.fields.Integer()
    last_viewed_at = ma.fields.DateTime(allow_none=True)


class ReportQuerySchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE  # a scanned link may carry the scanner's own parameters

    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "pdf"]),
                              metadata={"description": "pdf: the printable one-page PDF"})


class RecordDepartmentSchema(Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class ReportNegativeRecordSchema(Schema):
    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    class_ = ma.fields.String(data_key="class", attribute="class", allow_none=True)
    decided_on = ma.fields.Date(allow_none=True)
    counted_until = ma.fields.Date(allow_none=True)
    department = ma.fields.Nested(RecordDepartmentSchema, allow_none=True)
    document_no = ma.fields.String(allow_none=True)
    statement = ma.fields.Function(report_text.statement_text, allow_none=True, metadata={
        "type": "string", "description": "the worker's statement (说明) on this record, if any"})


class ReportReviewSummarySchema(Schema):
    count = ma.fields.Integer(required=True)
    average = ma.fields.Float(allow_none=True)


class ReportEmployerSchema(Schema):
    merchant_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)


class CreditReportSchema(WorkerStatusSchema):
    EXAMPLE: ClassVar[dict] = {'safety_code': 'green',
                               'identity': {'verified': True, 'verified_on': '2026-03-02'},
                               'background': {'result': 'clear', 'checked_on': '2026-03-10'},
                               'health_certificate': {'valid': True, 'valid_until': '2027-03-01'},
                               'insurance': {'valid': True, 'valid_until': '2027-01-31'},
                               'training': [{'course': '家政服务员（中级）',
                                             'hours': 40,
                                             'completed_on': '2026-04-20'}],
                               'skill_certificates': [{'name': '育婴员',
                                                       'grade': '四级',
                                                       'obtained_on': '2026-05-18'}],
                               'licenses': [],
                               'name_masked': '李*',
                               'id_number_masked': '4301**********123X',
                               'occupation': 'housekeeping',
                               'employer': {'merchant_id': 12, 'name': '长沙好帮手家政服务有限公司'},
                               'level': 'AA',
                               'level_title': '信用优秀',
                               'negative_records': [],
                               'reviews': {'count': 8, 'average': 4.9},
                               'as_of': '2026-12-03',
                               'expires_at': '2026-12-03T11:00:00+08:00',
                               'report_no': 'R-2026-000123'}
    name_masked = ma.fields.String(required=True)
    id_number_masked = ma.fields.String(required=True)
    occupation = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(OCCUPATIONS))
    employer = ma.fields.Nested(ReportEmployerSchema, allow_none=True, metadata={
        "description": "the employer, once it confirmed the worker"})
    level = ma.fields.String(required=True, validate=ma.validate.OneOf(LEVELS))
    level_title = ma.fields.String(allow_none=True, metadata={"description": "e.g. 信用良好"})
    negative_records = ma.fields.List(ma.fields.Nested(ReportNegativeRecordSchema), required=True)
    reviews = ma.fields.Nested(ReportReviewSummarySchema, required=True)
    as_of = ma.fields.Date(required=True)
    expires_at = ma.fields.DateTime(required=True)
    report_no = ma.fields.String(required=True, metadata={
        "description": "the number printed on the report (the share it came from)"})


class ReportReviewInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"rating": 5, "comment": "准时、细心，推荐"}
    rating = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(1, 5))
    comment = ma.fields.String(load_default=None, allow_none=True,
                               validate=ma.validate.Length(max=500))


class ReportReviewSchema(Schema):
    id = ma.fields.Integer(required=True)
    rating = ma.fields.Integer(required=True)
    comment = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime(required=True)


class CreditCheckSubjectSchema(Schema):
    id_number = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50))


class CreditCheckInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'subject': {'id_number': '430104199001011230', 'name': '张三'},
               'purpose': 'administrative_license',
               'matter_ref': 'XK-2026-0456'}
    subject = ma.fields.Nested(CreditCheckSubjectSchema, required=True)
    purpose = ma.fields.String(required=True, validate=ma.validate.OneOf(CHECK_PURPOSES))
    matter_ref = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))


class CreditCheckRecordSchema(Schema):
    record_id = ma.fields.Integer()
    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    class_ = ma.fields.String(data_key="class", attribute="class", allow_none=True)
    points = ma.fields.Integer()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    decided_on = ma.fields.String(allow_none=True, metadata={"format": "date"})
    counted_until = ma.fields.String(allow_none=True, metadata={"format": "date"})
    department = ma.fields.Nested(RecordDepartmentSchema, allow_none=True)
    document_no = ma.fields.String(allow_none=True)
    statement = ma.fields.String(allow_none=True, metadata={
        "description": "the person's statement (说明) on the record when it was checked"})


class OccupationalEntrySchema(Schema):
    record_id = ma.fields.Integer()
    title = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    occurred_on = ma.fields.Date(allow_none=True)
    decided_on = ma.fields.Date(allow_none=True)
    counted_until = ma.fields.Date(allow_none=True)
    counting = ma.fields.Boolean()
    points = ma.fields.Integer()


class OccupationalFileSchema(Schema):
    occupations = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(OCCUPATIONS)),
                                 required=True)
    licenses = ma.fields.List(ma.fields.Nested(WorkerLicenseSchema), required=True)
    disciplines = ma.fields.List(ma.fields.Nested(OccupationalEntrySchema), required=True)
    commendations = ma.fields.List(ma.fields.Nested(OccupationalEntrySchema), required=True)
    safety_code = ma.fields.String(
        metadata={"description": "housekeeping only"},
        validate=ma.validate.OneOf(SAFETY_CODES))


class CreditCheckFeedbackSchema(Schema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(FEEDBACK_ACTIONS))
    note = ma.fields.String(allow_none=True)
    at = ma.fields.DateTime(required=True)


class CreditCheckSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'id': 88,
                               'subject_known': True,
                               'id_number_masked': '4301**********123X',
                               'name_masked': '张*',
                               'purpose': 'administrative_license',
                               'matter_ref': 'XK-2026-0456',
                               'points': 985,
                               'level': 'A',
                               'restricted': False,
                               'rule_set': 'changsha-2020',
                               'negative_records': [{'record_id': 42,
                                                     'type': 'admin.penalty.general',
                                                     'title': '一般行政处罚',
                                                     'class': 'general',
                                                     'points': -30,
                                                     'status': 'active',
                                                     'decided_on': '2026-11-20',
                                                     'counted_until': '2027-11-20'}],
                               'checked_at': '2026-12-03T10:00:00+08:00',
                               'feedback_due_on': '2026-12-10',
                               'feedback': None}
    id = ma.fields.Integer(required=True)
    subject_known = ma.fields.Boolean(required=True, metadata={
        "description": "false: nobody ever reported on this person; the base score"})
    id_number_masked = ma.fields.String()
    name_masked = ma.fields.String()
    purpose = ma.fields.String(required=True, validate=ma.validate.OneOf(CHECK_PURPOSES))
    matter_ref = ma.fields.String(required=True)
    points = ma.fields.Integer(required=True)
    level = ma.fields.String(required=True, validate=ma.validate.OneOf(LEVELS))
    restricted = ma.fields.Boolean(
        required=True,
        metadata={"description": "a serious negative record restricts the person (联合惩戒)"})
    rule_set = ma.fields.String()
    negative_records = ma.fields.List(
        ma.fields.Nested(CreditCheckRecordSchema),
        required=True,
        metadata={"description": "the negative records counting on the day of the check"})
    checked_at = ma.fields.DateTime(required=True)
    feedback_due_on = ma.fields.Date(
        required=True,
        metadata={"description": "give feedback (POST …/feedback) by this day"})
    feedback = ma.fields.Nested(CreditCheckFeedbackSchema, allow_none=True)
    occupational_file = ma.fields.Nested(OccupationalFileSchema, metadata={
        "description": "only when this department supervises the person's occupation"})


class CreditCheckQuerySchema(Schema):
    missing_feedback = ma.fields.Boolean(load_default=False)
    overdue = ma.fields.Boolean(load_default=False, metadata={
        "description": "no feedback after 10 working days"})
    purpose = ma.fields.String(load_default=None, validate=ma.validate.OneOf(CHECK_PURPOSES))


class CreditCheckFeedbackInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"action": "fast_track", "note": "信用良好，适用容缺受理"}
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(FEEDBACK_ACTIONS))
    note = ma.fields.String(load_default=None, allow_none=True,
                            validate=ma.validate.Length(max=500))


# ------------------------------------------------------------------ worker profile

@blp.route("/me/worker-profile", methods=["PUT"])
@blp.arguments(WorkerProfileInSchema)
@blp.response(200, WorkerProfileSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def put_profile(body):
    """Declare my occupation (and the housekeeping company I work for).

    Needs a face-verified identity. A housekeeping worker may name the company they work
    for (`merchant_id`); it shows on the report once that merchant confirms.
    """
    access.credit_subject_id(require_consent=False)
    user = access.current().user
    worker_profiles.save_profile(db_session(), user, body["occupation"], body["merchant_id"])
    return worker_profiles.profile_view(db_session(), user.id, today())


@blp.route("/me/worker-profile", methods=["GET"])
@blp.response(200, WorkerProfileSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE", "WORKER_PROFILE_NOT_FOUND")
def get_profile():
    """My worker profile with today's safety code (安心码) and certificates.

    Needs a face-verified identity (404 WORKER_PROFILE_NOT_FOUND before declaring an
    occupation). `safety_code`: green when identity, background check, health
    certificate and insurance are all in order, yellow when something lapsed, red when
    not verified or the background is flagged.
    """
    access.credit_subject_id(require_consent=False)
    return worker_profiles.profile_view(db_session(), access.current().user.id, today())


# ------------------------------------------------------------------ report shares

@blp.route("/me/report-shares", methods=["POST"])
@blp.arguments(ReportShareInSchema)
@blp.response(201, ReportShareCreatedSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE", "NOT_A_WORKER")
def create_share(body):
    """Share my credit report for a while: a link and its QR code (sharing is consent).

    Needs a worker profile (409 NOT_A_WORKER). `ttl_minutes` 1–1440. The answer's `url`
    opens the report page without sign-in; its QR code encodes that URL. Every view is
    logged in my access log.
    """
    access.credit_subject_id(require_consent=False)
    new = reports.create_share(db_session(), access.current().user, body["ttl_minutes"],
                               current_app.config["PUBLIC_BASE_URL"])
    return {"id": new.share.id, "token": new.token, "expires_at": new.share.expires_at,
            "qr_svg": new.qr_svg, "url": new.url}


@blp.route("/me/report-shares", methods=["GET"])
@blp.response(200, ReportShareSchema(many=True))
@blp.paginate()
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def list_shares(pagination_parameters):
    """My report shares, newest first, with their state and number of views.

    The tokens are not shown again, only their first characters.
    """
    return paginate_select(db_session(), reports.shares_stmt(access.current().user.id),
                           pagination_parameters)


@blp.route("/me/report-shares/<string:token>", methods=["DELETE"])
@blp.response(204)
@blp.errors("SHARE_NOT_FOUND")
def revoke_share(token):
    """Revoke a share by its token (or by its id from the list); the link stops working.

    Answers 204; the link then answers 410.
    """
    reports.revoke_share(db_session(), access.current().user, token)


@blp.route("/me/reviews", methods=["GET"])
@blp.response(200, ReportReviewSchema(many=True))
@blp.paginate()
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def my_reviews(pagination_parameters):
    """Reviews clients left on my shared reports (reviewers are not named).

    Ratings and comments, newest first.
    """
    subject_id = access.credit_subject_id(require_consent=False)
    return paginate_select(db_session(), reports.my_reviews_stmt(subject_id),
                           pagination_parameters)


# ------------------------------------------------------------------ reports (viewer)

PDF_BODY = {"type": "string", "format": "binary"}


def _report(token: str) -> dict:
    return reports.view_report(db_session(), redis_client(), cipher(), token,
                               access.current().user.id, today())


def _pdf(token: str, report: dict) -> Response:
    url = reports.report_url(current_app.config["PUBLIC_BASE_URL"], token)
    return Response(report_pdf.render(report, url), mimetype="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="credit-report.pdf"'})


@blp.route("/reports/<string:token>")
@blp.arguments(ReportQuerySchema, location="query")
@blp.response(200, CreditReportSchema)
@blp.alt_response(200, schema=PDF_BODY, content_type="application/pdf", success=True,
                  description="With format=pdf: the same report as a one-page PDF")
@blp.errors("SHARE_NOT_FOUND", "SHARE_EXPIRED")
def view_report(query, token):
    """A worker's credit report: masked identity, safety code, level (never points).

    Any signed-in user with the link's token. Masked identity, safety code, certificates
    with dates, level and counting negative records (never points). Expired or revoked:
    410 SHARE_EXPIRED. `?format=pdf` for the PDF.
    """
    report = _report(token)
    return _pdf(token, report) if query["format"] == "pdf" else report


@blp.route("/reports/<string:token>.pdf")
@blp.response(200, PDF_BODY, content_type="application/pdf",
              description="The credit report as a printable one-page PDF with its QR code")
@blp.errors("SHARE_NOT_FOUND", "SHARE_EXPIRED")
def view_report_pdf(token):
    """The worker's credit report as a printable PDF (counts as a view).

    Any signed-in user. One A4 page with an embedded Chinese font and the link's QR
    code.
    """
    return _pdf(token, _report(token))


@blp.route("/reports/<string:token>/reviews", methods=["POST"])
@blp.arguments(ReportReviewInSchema)
@blp.response(201, ReportReviewSchema)
@blp.errors("SHARE_NOT_FOUND", "SHARE_EXPIRED", "SELF_REVIEW", "REPORT_NOT_VIEWED",
            "ALREADY_REVIEWED")
def review(body, token):
    """Rate the worker (1-5) once per shared report, after opening it.

    Any signed-in user who opened the report through this link (409 REPORT_NOT_VIEWED
    before); once per link (409 ALREADY_REVIEWED); not the worker themselves (403
    SELF_REVIEW).
    """
    return reports.add_review(db_session(), token, access.current().user.id, body["rating"],
                              body["comment"])


# ------------------------------------------------------------------ credit checks (dept)

def _check_body(check: CreditCheck, file: dict | None = None) -> dict:
    body = {
        "id": check.id, "subject_known": check.subject_id is not None,
        "id_number_masked": check.id_number_masked, "name_masked": check.name_masked,
        "purpose": check.purpose, "matter_ref": check.matter_ref, "points": check.points,
        "level": check.level, "restricted": check.restricted, "rule_set": check.rule_set,
        "negative_records": check.negative_records, "checked_at": check.checked_at,
        "feedback_due_on": credit_checks.feedback_due_on(check.checked_on),
        "feedback": None if check.feedback_at is None else {
            "action": check.feedback_action, "note": check.feedback_note,
            "at": check.feedback_at},
    }
    if file is not None:
        body["occupational_file"] = file
    return body


@blp.route("/dept/credit-checks", methods=["POST"])
@blp.arguments(CreditCheckInSchema)
@blp.response(201, CreditCheckSchema)
@blp.errors("NAME_MISMATCH")
def credit_check(body):
    """Check a person's credit before handling a matter (逢办必查); logged for the person.

    X-API-Key. `purpose` is one of the listed administrative purposes and `matter_ref`
    the department's own case reference. The name must match the name bound to the ID
    number (422 NAME_MISMATCH). The person sees the check in their access log. Give
    feedback by `feedback_due_on`.
    """
    department = access.current().department
    mapping = current_app.config.get("OCCUPATION_DEPARTMENTS")
    check, file = credit_checks.run_check(
        db_session(), cipher(), redis_client(), department, body["subject"]["id_number"],
        body["subject"]["name"], body["purpose"], body["matter_ref"], today(), mapping)
    return _check_body(check, file)


@blp.route("/dept/credit-checks", methods=["GET"])
@blp.arguments(CreditCheckQuerySchema, location="query")
@blp.response(200, CreditCheckSchema(many=True))
@blp.paginate()
@blp.errors()
def list_checks(query, pagination_parameters):
    """This department's credit checks; missing_feedback / overdue filter the to-do list.

    X-API-Key. `?missing_feedback=true` and `?overdue=true` make the to-do list; filter
    by `purpose`.
    """
    department = access.current().department
    if query["missing_feedback"] or query["overdue"]:
        stmt = credit_checks.missing_feedback_stmt(today(), department.id,
                                                   overdue_only=query["overdue"])
    else:
        stmt = select(CreditCheck).where(CreditCheck.department_id == department.id)
    if query["purpose"]:
        stmt = stmt.where(CreditCheck.purpose == query["purpose"])
    checks = paginate_select(db_session(), stmt.order_by(None).order_by(CreditCheck.id.desc()),
                             pagination_parameters)
    return [_check_body(c) for c in checks]


@blp.route("/dept/credit-checks/<int:check_id>", methods=["GET"])
@blp.response(200, CreditCheckSchema)
@blp.errors("CREDIT_CHECK_NOT_FOUND")
def get_check(check_id):
    """One of this department's credit checks, with the result as it was then.

    X-API-Key. The result as it was when checked, not as it is today.
    """
    return _check_body(credit_checks.get_check(db_session(), access.current().department,
                                               check_id))


@blp.route("/dept/credit-checks/<int:check_id>/feedback", methods=["POST"])
@blp.arguments(CreditCheckFeedbackInSchema)
@blp.response(200, CreditCheckSchema)
@blp.errors("CREDIT_CHECK_NOT_FOUND", "FAST_TRACK_EXCLUDED", "FEEDBACK_ALREADY_GIVEN")
def feedback(body, check_id):
    """Say once how the check's result was used (fast_track, normal, extra_review, denied).

    X-API-Key. Once per check (409 FEEDBACK_ALREADY_GIVEN); `fast_track` is refused for
    a restricted person (409 FAST_TRACK_EXCLUDED).
    """
    check = credit_checks.give_feedback(db_session(), access.current().department, check_id,
                                        body["action"], body["note"])
    return _check_body(check)

