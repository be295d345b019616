"""The credit office's tools (`/v1/admin…`): rule-set versions, jobs, data quality,
the audit trail."""
from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from flask import request
from sqlalchemy import select

from api import access
from api.context import db_session, read_session
from api.smorest import PERIOD_DATES, Blueprint, Schema, paginate_select
from points.errors import Invalid, NotFound
from points.i18n import gettext
from points.infra.db import on_commit
from points.models import AuditEntry, Job, RuleSetVersion
from points.models.office import JOB_KINDS, JOB_STATUSES
from points.office import calendar
from points.office.workdays import COMPUTED, OFFICE, PACKAGE
from points.recordkeeping import quality
from points.rules import rule_admin

blp = Blueprint("office", __name__, url_prefix="/v1/admin", description="The credit office")
TOML_TYPES = {"application/toml", "text/toml", "text/x-toml", "text/plain"}


class RuleSetVersionSchema(Schema):
    code = ma.fields.String(required=True)
    active = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime()
    activated_at = ma.fields.DateTime(allow_none=True)


class JobCreatedSchema(Schema):
    job_id = ma.fields.String(required=True)


class JobSchema(Schema):
    id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(JOB_KINDS))
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(JOB_STATUSES))
    params = ma.fields.Dict()
    total = ma.fields.Integer()
    done = ma.fields.Integer()
    changed = ma.fields.Integer()
    errors = ma.fields.List(ma.fields.String())
    created_at = ma.fields.DateTime()
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)


class PeriodSchema(Schema):
    start = ma.fields.Date(data_key="from", load_default=None, validate=PERIOD_DATES)
    end = ma.fields.Date(data_key="to", load_default=None, validate=PERIOD_DATES)


class QualityRowSchema(Schema):
    department = ma.fields.String(required=True)
    name = ma.fields.String()
    received = ma.fields.Integer(required=True)
    accepted = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)
    rejected_by_dimension = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    late = ma.fields.Integer()
    late_share = ma.fields.Float()
    open_issues = ma.fields.Integer()
    oldest_open_issue_days = ma.fields.Integer(allow_none=True)


class AuditQuerySchema(Schema):
    target_type = ma.fields.String(load_default=None)
    target_id = ma.fields.String(load_default=None)
    actor = ma.fields.String(load_default=None)


class AuditSchema(Schema):
    id = ma.fields.Integer(required=True)
    actor = ma.fields.String(required=True)
    action = ma.fields.String(required=True)
    target_type = ma.fields.String(required=True)
    target_id = ma.fields.String(required=True)
    before = ma.fields.Dict(allow_none=True)
    after = ma.fields.Dict(allow_none=True)
    note = ma.fields.String(allow_none=True)
    at = ma.fields.DateTime(required=True)


def _actor() -> str:
    return access.current().label


@blp.route("/rule-sets", methods=["GET"])
@blp.response(200, RuleSetVersionSchema(many=True))
@blp.paginate()
@blp.errors()
def list_rule_sets(pagination_parameters):
    """Every stored rule-set version, the active one marked.

    Credit office. Every version with its code, title, when it was stored and by whom,
    and which one is active.
    """
    from points.rules import rule_store

    rule_store.ensure_default(db_session())
    return paginate_select(db_session(), select(RuleSetVersion).order_by(RuleSetVersion.id),
                           pagination_parameters)


# The start of a rule-set file (the whole format: points/rules/changsha-2020.toml).
RULE_SET_TOML_EXAMPLE = """code = "changsha-2027"
title = "长沙市个人信用积分规则（2027版）"
base = 1000
floor = 0
# … levels, classes, categories and record types as in points/rules/changsha-2020.toml
"""


@blp.route("/rule-sets", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {
    "application/toml": {"schema": {"type": "string"}, "example": RULE_SET_TOML_EXAMPLE},
    "application/json": {"schema": {"type": "object", "description":
                                    "either {\"content\": \"<TOML>\"} or the parsed rule set"},
                         "example": {"content": RULE_SET_TOML_EXAMPLE}}}})
@blp.response(201, RuleSetVersionSchema)
@blp.errors("MALFORMED_JSON", "RULE_SET_EXISTS", "RULE_SET_INVALID", "VALIDATION_ERROR", notes={
    "UNSUPPORTED_MEDIA_TYPE": "a body that is neither application/toml nor application/json"})
def upload_rule_set():
    """Store a new rule-set version (TOML, or JSON with the file content); 422 names every broken rule.

    Credit office. The format is the shipped file's (points/rules/changsha-2020.toml);
    the version is stored, not activated. A version code may be used once (409
    RULE_SET_EXISTS).
    """
    if request.is_json:
        body = request.get_json()  # unreadable: 400 MALFORMED_JSON (api/bodies.py)
        if not isinstance(body, dict):
            raise Invalid(gettext("send a JSON object"), errors={"json": {"_schema": [gettext("not an object")]}})
        source = body["content"] if isinstance(body.get("content"), str) else body
    elif request.mimetype in TOML_TYPES:
        source = request.get_data(as_text=True)
    else:
        from api.errors import error_response

        return error_response(415, "UNSUPPORTED_MEDIA_TYPE",
                              gettext("send application/toml or application/json"))
    return rule_admin.upload(db_session(), source, _actor()), 201


@blp.route("/rule-sets/<string:code>/activate", methods=["POST"])
@blp.response(202, JobCreatedSchema)
@blp.errors("RULE_SET_NOT_FOUND")
def activate_rule_set(code):
    """Activate a rule-set version (or roll back to an earlier one); starts the recompute job.

    Credit office. Answers 202 with the job that recomputes every subject's points under
    the version (GET /v1/admin/jobs/{job_id}); scores keep the version they were
    computed with.
    """
    from api.jobs_runner import enqueue_rule_set_job

    session = db_session()
    job = rule_admin.activate(session, code, _actor())
    on_commit(session, lambda: enqueue_rule_set_job(job.id))
    return {"job_id": job.id}


@blp.route("/jobs/<string:job_id>")
@blp.response(200, JobSchema)
@blp.errors("NOT_FOUND")
def get_job(job_id):
    """A background job's status and progress.

    Credit office. `status` queued, running, done or failed; `done` of `total` subjects,
    how many changed, and the errors of a failed job.
    """
    job = db_session().get(Job, job_id)
    if job is None:
        raise NotFound(gettext("no such job"))
    return job


@blp.route("/quality-report")
@blp.arguments(PeriodSchema, location="query")
@blp.response(200, QualityRowSchema(many=True))
@blp.errors()
def quality_report(period):
    """Per department: records received, accepted, rejected by dimension, late share, open issues.

    Credit office. For a period (default: the last 30 days).
    """
    return quality.quality_report(read_session(), period["start"], period["end"])


@blp.route("/audit")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditSchema(many=True))
@blp.paginate()
@blp.errors()
def audit_log(query, pagination_parameters):
    """The audit trail of admin and department actions, newest first.

    Credit office. Who did what to which object, with the values before and after;
    filter by actor and target.
    """
    stmt = select(AuditEntry)
    for field in ("target_type", "target_id", "actor"):
        if query[field]:
            stmt = stmt.where(getattr(AuditEntry, field) == query[field])
    return paginate_select(db_session(), stmt.order_by(AuditEntry.id.desc()), pagination_parameters)


class AssessmentQuerySchema(PeriodSchema):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "csv"]))


class AssessmentRowSchema(Schema):
    department = ma.fields.String(required=True)
    name = ma.fields.String()
    records_received = ma.fields.Integer()
    records_accepted = ma.fields.Integer()
    records_rejected = ma.fields.Integer()
    acceptance_rate = ma.fields.Float(allow_none=True)
    late_share = ma.fields.Float()
    open_quality_issues = ma.fields.Integer()
    repairs_decided = ma.fields.Integer()
    repairs_decided_on_time = ma.fields.Integer()
    repairs_overdue = ma.fields.Integer()
    objections_decided = ma.fields.Integer()
    objections_decided_on_time = ma.fields.Integer()
    objections_overdue = ma.fields.Integer()
    credit_checks = ma.fields.Integer()
    credit_checks_with_feedback = ma.fields.Integer()
    credit_checks_feedback_overdue = ma.fields.Integer(metadata={
        "description": "credit checks still without feedback 10 working days after them"})
    credit_checks_missing_feedback = ma.fields.Integer(metadata={
        "deprecated": True,
        "description": "deprecated: the old name of credit_checks_feedback_overdue (the same "
                       "count), kept for one release"})


@blp.route("/assessment")
@blp.doc(responses={"200": {
    "description": "one row per department; CSV with ?format=csv or Accept: text/csv",
    "content": {
    "application/json": {"schema": {"type": "array",
                                    "items": {"$ref": "#/components/schemas/AssessmentRow"}}},
    "text/csv": {"schema": {"type": "string"}}}}})
@blp.arguments(AssessmentQuerySchema, location="query")
@blp.response(200, AssessmentRowSchema(many=True))
@blp.errors()
def department_assessment(query):
    """Per department: data timeliness and quality, decisions on time, checks with feedback.

    Credit office. For a period: records reported on time, rejected by dimension,
    repairs and objections decided within their deadlines, credit checks with feedback.
    `?format=csv` (or Accept: text/csv) for CSV.
    """
    from flask import Response

    from points.infra.db import today
    from points.office import assessment

    rows = assessment.assessment(read_session(), query["start"], query["end"], today())
    if query["format"] == "csv" or request.accept_mimetypes.best == "text/csv":
        return Response(assessment.to_csv(rows), mimetype="text/csv", headers={
            "Content-Disposition": "attachment; filename=assessment.csv"})
    return rows


# -- the year's holiday arrangement --------------------------------------------------

class CalendarInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'holidays': ['2027-01-01', '2027-02-05', '2027-02-06'],
                               'workdays': ['2027-02-14']}
    holidays = ma.fields.List(ma.fields.Date(), required=True, validate=ma.validate.Length(
        max=366), metadata={"description": "the days off, weekends inside a holiday included"})
    workdays = ma.fields.List(ma.fields.Date(), required=True, validate=ma.validate.Length(
        max=366), metadata={"description": "the Saturdays and Sundays made working days"})


class CalendarDaySchema(Schema):
    date = ma.fields.Date(required=True)
    working = ma.fields.Boolean(required=True)
    source = ma.fields.String(
        required=True,
        metadata={"description": "office, package or computed"},
        validate=ma.validate.OneOf((OFFICE, PACKAGE, COMPUTED)))


class CalendarEntrySchema(Schema):
    holidays = ma.fields.List(ma.fields.Date())
    workdays = ma.fields.List(ma.fields.Date())
    entered_by = ma.fields.String(allow_none=True)
    entered_at = ma.fields.DateTime()


class DeadlinesMovedSchema(Schema):
    repairs = ma.fields.Integer()
    objections = ma.fields.Integer()


class CalendarSchema(Schema):
    year = ma.fields.Integer(required=True)
    source = ma.fields.String(required=True,
                              validate=ma.validate.OneOf((OFFICE, PACKAGE, COMPUTED)),
                              metadata={"description": "office (entered here), package "
                                                       "(chinese-calendar) or computed"})
    days_off = ma.fields.List(ma.fields.Date(), metadata={
        "description": "Monday to Friday days that are not working days"})
    workdays = ma.fields.List(ma.fields.Date(), metadata={
        "description": "Saturdays and Sundays that are working days"})
    entered = ma.fields.Nested(CalendarEntrySchema, allow_none=True)
    days = ma.fields.List(ma.fields.Nested(CalendarDaySchema))
    deadlines_moved = ma.fields.Nested(DeadlinesMovedSchema, metadata={
        "description": "after a PUT: open deadlines recomputed with the arrangement"})


@blp.route("/calendar/<int:year>", methods=["PUT"])
@blp.arguments(CalendarInSchema)
@blp.response(200, CalendarSchema)
@blp.errors()
def put_calendar(body, year):
    """Enter the State Council's holiday arrangement for a year; open deadlines follow it.

    Credit office. `holidays` are the days off (weekends inside a holiday included),
    `workdays` the weekend days made working days. Deadlines of open repairs, objections
    and credit-check feedback are recomputed; the answer says how many moved.
    """
    return calendar.enter(db_session(), year, body["holidays"], body["workdays"], _actor())


@blp.route("/calendar/<int:year>", methods=["GET"])
@blp.response(200, CalendarSchema)
@blp.errors("VALIDATION_ERROR")
def get_calendar(year):
    """The working days of a year as deadlines count them, and the source of each day.

    Credit office. `source`: `office` (entered here), `package` (the chinese-calendar
    package's data) or `computed` (weekends only, for years nobody knows yet).
    """
    return calendar.view(db_session(), year)
