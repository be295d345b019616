"""Departments (`/v1/dept…`, X-API-Key): records, quality issues."""
from __future__ import annotations

import json
from typing import ClassVar

import marshmallow as ma
from sqlalchemy import select

from api import access
from api.context import cipher, db_session, redis_client
from api.idempotency import idempotent
from api.smorest import Blueprint, Schema, TranslatedText, paginate_select
from points.errors import Conflict, NotFound
from points.i18n import gettext
from points.infra.db import today, utcnow
from points.models import QualityIssue
from points.models.records import RECORD_STATUSES
from points.recordkeeping import ingestion, quality, records

blp = Blueprint("department", __name__, url_prefix="/v1/dept",
                description="Departments: records, decisions, credit checks")


class IncomingSubjectSchema(Schema):
    id_number = ma.fields.String(required=True, metadata={
        "description": "the 18-character resident ID number (GB 11643, checksum checked); "
                       "the person must be 18 or over"})
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50), metadata={
        "description": "the name the department holds; compared after normalisation with a "
                       "verified or earlier reported name (accuracy)"})


class IncomingRecordSchema(Schema):
    """One record as a department sends it (documentation: `points.recordkeeping.ingestion.check_one`
    checks each record on its own and reports its problems by dimension and field)."""

    source_ref = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100),
                                  metadata={"description": "the department's own reference, "
                                            "unique per department: a resend with the same "
                                            "content is `unchanged`, with other content a "
                                            "correction (`updated`)"})
    subject = ma.fields.Nested(IncomingSubjectSchema, required=True)
    type = ma.fields.String(required=True, metadata={
        "description": "a record type of the active rule set (GET /v1/rule-sets/active) that "
                       "this department may report"})
    occurred_on = ma.fields.Date(metadata={"description": "when the fact happened"})
    decided_on = ma.fields.Date(metadata={
        "description": "when the department decided (penalties: counted from this day; late "
                       "after 7 working days, the timeliness dimension)"})
    ended_on = ma.fields.Date(metadata={"description": "a negative record ended early"})
    details = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw(metadata={
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}), metadata={
        "description": "the facts the record type's rule declares (document_no, amount, …); "
                       "no health data"})


class Unchecked(ma.fields.Nested):
    """Documented as its schema, loaded as it came: the ingestion service checks each
    record on its own, so that one bad record is reported back with its problems instead
    of failing the batch."""

    def _deserialize(self, value, attr, data, **kwargs):
        return value


class BatchSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'records': [{'source_ref': 'CS-SCJG-2026-000123',
                            'subject': {'id_number': '430104199001011230', 'name': '张三'},
                            'type': 'admin.penalty.general',
                            'decided_on': '2026-11-20',
                            'details': {'document_no': '长市监罚〔2026〕123号'}}]}
    records = ma.fields.List(Unchecked(IncomingRecordSchema), required=True,
                             validate=ma.validate.Length(min=1, max=ingestion.MAX_BATCH))

    @ma.pre_load
    def _refuse_nul(self, data, **kwargs):
        """The base check, walking every value of up to 1000 records in Python, only
        when one C-speed JSON encoding of the body shows a NUL somewhere (JSON always
        writes NUL as \\u0000); it then builds the same errors as for any body."""
        try:
            if "\\u0000" not in json.dumps(data):
                return data
        except (TypeError, ValueError):  # not a JSON document: the base check decides
            pass
        return super()._refuse_nul(data, **kwargs)


class ProblemSchema(Schema):
    dimension = ma.fields.String(required=True, validate=ma.validate.OneOf(quality.DIMENSIONS))
    field = ma.fields.String(
        required=True,
        metadata={"description": "the field at fault, e.g. subject.id_number"})
    message = TranslatedText(
        required=True,
        metadata={"description": "what is wrong, for people: in the reader's language "
                                 "(Accept-Language; dimension and field never change)"})


class AcceptedSchema(Schema):
    source_ref = ma.fields.String(required=True)
    record_id = ma.fields.Integer(required=True)
    result = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(ingestion.RESULTS),
        metadata={"description": "created, unchanged (a resend) or updated (a correction)"})
    late = ma.fields.Boolean(metadata={"description": "reported after the deadline (timeliness)"})


class RejectedSchema(Schema):
    source_ref = ma.fields.String(allow_none=True)
    index = ma.fields.Integer(
        metadata={"description": "the record's position in the batch (from 0)"})
    problems = ma.fields.List(ma.fields.Nested(ProblemSchema), required=True)


class PlainList(ma.fields.List):
    """A list of Nested(schema) for OpenAPI, dumped by copying each item's declared
    fields: the items are plain dicts that already hold those fields with the right
    types (the ingestion service builds them), and marshmallow's per-item dump of a
    1000-record answer cost more than the rest of the response."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        names = list(self.inner.schema.dump_fields)
        return [{name: item[name] for name in names if name in item} for item in value]


class BatchResultSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'accepted': [{'source_ref': 'CS-SCJG-2026-000123',
                                             'record_id': 42,
                                             'result': 'created',
                                             'late': False}],
                               'rejected': [{'source_ref': 'CS-SCJG-2026-000124',
                                             'index': 1,
                                             'problems': [{'dimension': 'validity',
                                                           'field': 'subject.id_number',
                                                           'message': '校验位不正确'}]}]}
    accepted = PlainList(ma.fields.Nested(AcceptedSchema), required=True)
    rejected = ma.fields.List(ma.fields.Nested(RejectedSchema), required=True)


class EndSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"ended_on": "2026-12-01"}
    ended_on = ma.fields.Date(required=True)


class RevokeSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"reason": "处罚决定已被复议机关撤销"}
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class RecordStateSchema(Schema):
    id = ma.fields.Integer(required=True)
    source_ref = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(RECORD_STATUSES))
    ended_on = ma.fields.Date(allow_none=True)
    version = ma.fields.Integer()


class QualityIssueSchema(Schema):
    id = ma.fields.Integer(required=True)
    source_ref = ma.fields.String(allow_none=True)
    record_type = ma.fields.String(allow_none=True)
    problems = ma.fields.List(ma.fields.Nested(ProblemSchema), required=True)
    dimensions = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(quality.DIMENSIONS)))
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(quality.ISSUE_STATUSES))
    created_at = ma.fields.DateTime()
    resolved_at = ma.fields.DateTime(allow_none=True)
    resolution_note = TranslatedText(allow_none=True, metadata={
        "description": "the note given when resolving it, or (in the reader's language) "
                       "that a resend corrected it"})


class IssueQuerySchema(Schema):
    status = ma.fields.String(load_default=None,
                              validate=ma.validate.OneOf(["open", "resolved"]))


class ResolveSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"note": "已补正身份证号后重新报送"}
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


def _department():
    return access.current().department


@blp.route("/records", methods=["POST"])
@blp.arguments(BatchSchema)
@idempotent
@blp.response(200, BatchResultSchema)
@blp.errors()
def push_records(body):
    """Push up to 1000 records; each is accepted or returned with its problems.

    X-API-Key. Each record is checked on its own (completeness, validity, accuracy,
    timeliness): good ones are stored and answered under `accepted` (`created`; a resend
    of the same content `unchanged`; changed content under the same `source_ref` a
    correction, `updated`), bad ones under `rejected` with their problems, each also
    kept as a quality issue for this department. Points are recomputed at once. Send an
    Idempotency-Key to retry safely.
    """
    return ingestion.ingest(db_session(), cipher(), redis_client(), _department(),
                            body["records"], today())


@blp.route("/records/<string:source_ref>/end", methods=["POST"])
@blp.arguments(EndSchema)
@blp.response(200, RecordStateSchema)
@blp.errors("RECORD_NOT_FOUND", "RECORD_NOT_ENDABLE", "RECORD_REVOKED")
def end_record(body, source_ref):
    """End a negative record's counting on a date (e.g. the court removed a defaulter);
    a positive record counts its whole window (409 RECORD_NOT_ENDABLE).

    X-API-Key; the department's own record by its `source_ref`. The record stops
    counting from `ended_on`; points are recomputed at once.
    """
    return records.end_record(db_session(), redis_client(), _department(), source_ref,
                              body["ended_on"], today())


@blp.route("/records/<string:source_ref>/revoke", methods=["POST"])
@blp.arguments(RevokeSchema)
@blp.response(200, RecordStateSchema)
@blp.errors("RECORD_NOT_FOUND", "RECORD_REVOKED")
def revoke_record(body, source_ref):
    """Revoke a wrong record: it never counts again.

    X-API-Key. A revoked record never counts again and cannot be repaired; the reason is
    kept in the audit trail; points are
    recomputed at once.
    """
    return records.revoke_record(db_session(), redis_client(), _department(), source_ref,
                                 body["reason"], today())


@blp.route("/quality-issues")
@blp.arguments(IssueQuerySchema, location="query")
@blp.response(200, QualityIssueSchema(many=True))
@blp.paginate()
@blp.errors()
def quality_issues(query, pagination_parameters):
    """Problem data returned to this department.

    X-API-Key. Each rejected record becomes an issue naming its problems by dimension
    (completeness, validity, accuracy, timeliness) and field; `?status=open` lists what
    is still to fix.
    """
    stmt = select(QualityIssue).where(QualityIssue.department_id == _department().id)
    if query["status"]:
        stmt = stmt.where(QualityIssue.status == query["status"])
    return paginate_select(db_session(), stmt.order_by(QualityIssue.id.desc()),
                           pagination_parameters)


@blp.route("/quality-issues/<int:issue_id>/resolve", methods=["POST"])
@blp.arguments(ResolveSchema)
@blp.response(200, QualityIssueSchema)
@blp.errors("NOT_FOUND", "ALREADY_RESOLVED")
def resolve_issue(body, issue_id):
    """Mark a quality issue resolved (the record was fixed and re-sent).

    X-API-Key. With an optional note; resolving twice answers 409 ALREADY_RESOLVED.
    """
    issue = db_session().get(QualityIssue, issue_id)
    if issue is None or issue.department_id != _department().id:
        raise NotFound(gettext("no such quality issue"))
    if issue.status == "resolved":
        raise Conflict(gettext("the issue is resolved already"), "ALREADY_RESOLVED")
    issue.status, issue.resolved_at, issue.resolution_note = "resolved", utcnow(), body["note"]
    return issue
