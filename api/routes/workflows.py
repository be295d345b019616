"""Commitments, repairs and objections: the resident's requests (`/v1/me/…`), the
departments' decisions (`/v1/dept/…`) and the public list of commitments."""
from __future__ import annotations

from typing import ClassVar

import marshmallow as ma

from api import access
from api.access import public
from api.context import cipher, db_session, read_session, redis_client
from api.idempotency import idempotent
from api.schemas import AttachmentSchema, attachment_ids_field
from api.smorest import MAX_DB_ID, Blueprint, Schema, paginate_select
from points.infra.db import today
from points.models.workflows import (
    COMMITMENT_KINDS,
    COMMITMENT_STATUSES,
    OBJECTION_STATUSES,
    REPAIR_STATUSES,
)
from points.recordkeeping import subjects
from points.workflows import attachments, commitments, objections, repairs

blp = Blueprint("workflows", __name__, url_prefix="/v1", description="Commitments, repairs and objections")


# ------------------------------------------------------------------ schemas


class NoticeSchema(Schema):
    promise = ma.fields.String(required=True)
    verification = ma.fields.String(required=True)
    consequence = ma.fields.String(required=True)
    rule_set = ma.fields.String()


class CommitmentInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'kind': 'missing_materials',
               'content': '本人承诺在30日内补齐营业执照复印件。',
               'department': 'market',
               'matter': '食品经营许可',
               'due_on': '2027-01-05',
               'public': True}
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(COMMITMENT_KINDS))
    content = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))
    department = ma.fields.String(load_default=None, allow_none=True,
                                  validate=ma.validate.Length(min=1, max=40),
                                  metadata={"description": "a department code: needed for "
                                            "approval_substitute and missing_materials"})
    matter = ma.fields.String(load_default=None, allow_none=True,
                              validate=ma.validate.Length(min=1, max=200))
    due_on = ma.fields.Date(
        load_default=None,
        allow_none=True,
        metadata={"description": "when the materials are due (missing_materials)"})
    public = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "shown on the public board with the name masked"})


class CommitmentSchema(Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(COMMITMENT_KINDS))
    content = ma.fields.String(required=True)
    department = ma.fields.String(allow_none=True)
    department_name = ma.fields.String(allow_none=True)
    matter = ma.fields.String(allow_none=True)
    due_on = ma.fields.Date(allow_none=True)
    public = ma.fields.Boolean(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(COMMITMENT_STATUSES))
    overdue = ma.fields.Boolean(required=True)
    notice = ma.fields.Nested(
        NoticeSchema,
        required=True,
        metadata={"description": "the notice shown when signing, kept with it"})
    signed_on = ma.fields.Date(required=True)
    outcome_on = ma.fields.Date(allow_none=True)
    outcome_serious = ma.fields.Boolean(allow_none=True)
    outcome_record_id = ma.fields.Integer(allow_none=True)


class DeptCommitmentSchema(CommitmentSchema):
    name_masked = ma.fields.String(required=True)


class PublicCommitmentSchema(Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(COMMITMENT_KINDS))
    content = ma.fields.String(required=True)
    name_masked = ma.fields.String(required=True)
    department_name = ma.fields.String(allow_none=True)
    matter = ma.fields.String(allow_none=True)
    due_on = ma.fields.Date(allow_none=True)
    signed_on = ma.fields.Date(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(COMMITMENT_STATUSES))


class CommitmentQuerySchema(Schema):
    status = ma.fields.String(load_default=None,
                              validate=ma.validate.OneOf(COMMITMENT_STATUSES))


class DeptCommitmentQuerySchema(CommitmentQuerySchema):
    overdue = ma.fields.Boolean(load_default=None)


class PublicQuerySchema(Schema):
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(COMMITMENT_KINDS))


class OutcomeSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"outcome": "fulfilled", "serious": False}
    outcome = ma.fields.String(required=True,
                               validate=ma.validate.OneOf(["fulfilled", "breached"]))
    serious = ma.fields.Boolean(load_default=False)


class EvidenceSchema(Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    ref = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class RepairInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'record_id': 42,
               'statement': '已于2026年11月缴清罚款并完成整改。',
               'commitment': '本人承诺今后依法经营，不再发生同类违法行为。',
               'evidence': [{'kind': 'payment_receipt', 'ref': '缴款书 No.43010020261125'}],
               'attachments': [7]}
    record_id = ma.fields.Integer(required=True, strict=True,
                                  validate=ma.validate.Range(min=1, max=MAX_DB_ID))
    statement = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=2000),
        metadata={"description": "what was done to put things right"})
    commitment = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=1000),
        metadata={"description": "becomes a public repair commitment"})
    evidence = ma.fields.List(ma.fields.Nested(EvidenceSchema), load_default=list,
                              validate=ma.validate.Length(max=20))
    attachments = attachment_ids_field()


class RepairSchema(Schema):
    id = ma.fields.Integer(required=True)
    record_id = ma.fields.Integer(required=True)
    record_type = ma.fields.String(allow_none=True)
    record_title = ma.fields.String(allow_none=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(REPAIR_STATUSES))
    statement = ma.fields.String(required=True)
    commitment = ma.fields.String(allow_none=True)
    commitment_id = ma.fields.Integer(allow_none=True)
    evidence = ma.fields.List(ma.fields.Nested(EvidenceSchema))
    attachments = ma.fields.List(ma.fields.Nested(AttachmentSchema), required=True, metadata={
        "description": "the evidence files cited, in the order given"})
    submitted_on = ma.fields.Date(required=True)
    decision_due_on = ma.fields.Date(
        required=True,
        metadata={"description": "the department decides by this day (working days)"})
    overdue = ma.fields.Boolean(required=True)
    decided_on = ma.fields.Date(allow_none=True)
    decision_note = ma.fields.String(allow_none=True)


class DeptRepairSchema(RepairSchema):
    source_ref = ma.fields.String(allow_none=True)
    name_masked = ma.fields.String(required=True)


class ObjectionInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"record_id": 42, "reason": "该处罚决定书中的当事人不是本人，身份证号有误。",
                               "attachments": [8]}
    record_id = ma.fields.Integer(required=True, strict=True,
                                  validate=ma.validate.Range(min=1, max=MAX_DB_ID))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    attachments = attachment_ids_field()


class ObjectionSchema(Schema):
    id = ma.fields.Integer(required=True)
    record_id = ma.fields.Integer(required=True)
    record_type = ma.fields.String(allow_none=True)
    record_title = ma.fields.String(allow_none=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(OBJECTION_STATUSES))
    reason = ma.fields.String(required=True)
    attachments = ma.fields.List(ma.fields.Nested(AttachmentSchema), required=True, metadata={
        "description": "the evidence files cited, in the order given"})
    submitted_on = ma.fields.Date(required=True)
    decision_due_on = ma.fields.Date(
        required=True,
        metadata={"description": "the department decides by this day (working days)"})
    overdue = ma.fields.Boolean(required=True)
    decided_on = ma.fields.Date(allow_none=True)
    decision_note = ma.fields.String(allow_none=True)


class DeptObjectionSchema(ObjectionSchema):
    source_ref = ma.fields.String(allow_none=True)
    name_masked = ma.fields.String(required=True)


class RepairQuerySchema(Schema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(REPAIR_STATUSES))
    overdue = ma.fields.Boolean(load_default=None)


class ObjectionQuerySchema(Schema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(OBJECTION_STATUSES))
    overdue = ma.fields.Boolean(load_default=None)


class RepairDecisionSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"approve": True, "note": "整改到位，同意修复"}
    approve = ma.fields.Boolean(required=True)
    note = ma.fields.String(load_default=None, allow_none=True,
                            validate=ma.validate.Length(max=1000))


class ObjectionDecisionSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"upheld": False, "note": "经核实，记录准确"}
    upheld = ma.fields.Boolean(required=True)
    note = ma.fields.String(load_default=None, allow_none=True,
                            validate=ma.validate.Length(max=1000))


# ------------------------------------------------------------------ helpers


def _me():
    access.credit_subject_id(require_consent=False)  # 409 IDENTITY_REQUIRED, 403 NOT_ELIGIBLE
    return access.current().user


def _department():
    return access.current().department


def _masked_names(subject_ids, session=None) -> dict[int, str]:
    return subjects.masked_names(session or db_session(), cipher(), subject_ids)


def _commitment_views(rows, with_names: bool = False, session=None) -> list[dict]:
    departments = commitments.departments_of(session or db_session(), rows)
    names = _masked_names((c.subject_id for c in rows), session) if with_names else {}
    day = today()
    out = []
    for c in rows:
        item = commitments.view(c, day, departments.get(c.department_id))
        if with_names:
            item["name_masked"] = names.get(c.subject_id, "*")
        out.append(item)
    return out


def _repair_views(session, rows) -> list[dict]:
    """Repair applications as shown, with the evidence files each cites."""
    cited = attachments.of_cases(session, "repair", [r.id for r in rows])
    return [{**repairs.view(session, r, today()), "attachments": cited[r.id]} for r in rows]


def _objection_views(session, rows) -> list[dict]:
    cited = attachments.of_cases(session, "objection", [o.id for o in rows])
    return [{**objections.view(session, o, today()), "attachments": cited[o.id]} for o in rows]


def _with_names(views: list[dict], rows) -> list[dict]:
    names = _masked_names(r.subject_id for r in rows)
    for item, row in zip(views, rows, strict=True):
        item["name_masked"] = names.get(row.subject_id, "*")
    return views


# ------------------------------------------------------------------ commitments


@blp.route("/me/commitments", methods=["POST"])
@blp.arguments(CommitmentInSchema)
@idempotent
@blp.response(201, CommitmentSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE", "FAST_TRACK_EXCLUDED")
def make_commitment(body):
    """Sign a credit commitment; the notice shown is kept with it.

    Needs a face-verified identity. `approval_substitute` and `missing_materials` need
    `department`, `matter` and `due_on`, and are refused (409 FAST_TRACK_EXCLUDED) to a
    restricted person or one with an unrepaired breached commitment. `repair`
    commitments are made with POST /v1/me/repairs (422 here). A fulfilled commitment may
    add points, a breached one takes them.
    """
    user = _me()
    commitment = commitments.make(
        db_session(), user, kind=body["kind"], content=body["content"],
        department_code=body["department"], matter=body["matter"], due_on=body["due_on"],
        public=body["public"], today=today())
    return _commitment_views([commitment])[0]


@blp.route("/me/commitments")
@blp.arguments(CommitmentQuerySchema, location="query")
@blp.response(200, CommitmentSchema(many=True))
@blp.paginate()
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def my_commitments(query, pagination_parameters):
    """My commitments, newest first.

    With their status: active, fulfilled, breached, withdrawn or expired.
    """
    user = _me()
    rows = paginate_select(db_session(), commitments.mine(user.subject_id, query["status"],
                                                          today()), pagination_parameters)
    return _commitment_views(rows)


@blp.route("/me/commitments/<int:commitment_id>/withdraw", methods=["POST"])
@blp.response(200, CommitmentSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE", "COMMITMENT_NOT_FOUND", "COMMITMENT_CLOSED",
            "COMMITMENT_NOT_WITHDRAWABLE")
def withdraw_commitment(commitment_id):
    """Withdraw one of my active commitments.

    Only an active commitment; a repair commitment ends with its repair application
    instead (409 COMMITMENT_NOT_WITHDRAWABLE).
    """
    commitment = commitments.withdraw(db_session(), _me(), commitment_id)
    return _commitment_views([commitment])[0]


@blp.route("/commitments/public")
@public
@blp.arguments(PublicQuerySchema, location="query")
@blp.response(200, PublicCommitmentSchema(many=True))
@blp.paginate()
@blp.errors()
def public_commitments(query, pagination_parameters):
    """Public commitments, with masked names and no ID numbers.

    No sign-in. Commitments made public, for the public notice board: kind, content,
    matter and status, the person's name masked.
    """
    session = read_session()  # a list that may lag: the replica's, if any
    rows = paginate_select(session, commitments.public_list(query["kind"]),
                           pagination_parameters)
    return _commitment_views(rows, with_names=True, session=session)


@blp.route("/dept/commitments")
@blp.arguments(DeptCommitmentQuerySchema, location="query")
@blp.response(200, DeptCommitmentSchema(many=True))
@blp.paginate()
@blp.errors()
def department_commitments(query, pagination_parameters):
    """Commitments made in this department's matters (overdue=true: missing materials late).

    X-API-Key. `?status=` and `?overdue=true` (missing materials past their due day)
    make the to-do list.
    """
    stmt = commitments.department_list(_department(), query["status"], query["overdue"], today())
    return _commitment_views(paginate_select(db_session(), stmt, pagination_parameters),
                             with_names=True)


@blp.route("/dept/commitments/<int:commitment_id>/outcome", methods=["POST"])
@blp.arguments(OutcomeSchema)
@idempotent
@blp.response(200, DeptCommitmentSchema)
@blp.errors("COMMITMENT_NOT_FOUND", "COMMITMENT_CLOSED", "COMMITMENT_NOT_DUE")
def commitment_outcome(body, commitment_id):
    """Report a commitment fulfilled or breached; the record is written and points change.

    X-API-Key. Writes `commitment.fulfilled`, `commitment.breached` or (serious)
    `commitment.breached_serious` for the person; a missing-materials commitment cannot
    be breached before its `due_on` (409 COMMITMENT_NOT_DUE).
    """
    commitment = commitments.record_outcome(
        db_session(), cipher(), redis_client(), _department(), commitment_id, body["outcome"],
        body["serious"], today())
    return _commitment_views([commitment], with_names=True)[0]


# ------------------------------------------------------------------ repairs


@blp.route("/me/repairs", methods=["POST"])
@blp.arguments(RepairInSchema)
@idempotent
@blp.response(201, RepairSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE", "RECORD_NOT_FOUND", "RECORD_REVOKED",
            "ALREADY_REPAIRED", "NOT_REPAIRABLE", "NOT_YET_REPAIRABLE", "REPAIR_PENDING",
            "ATTACHMENT_NOT_FOUND")
def apply_for_repair(body):
    """Apply to repair one of my negative records.

    Needs a face-verified identity. Only a negative record whose type may be repaired in
    the app, from its `repairable_from` (409 NOT_YET_REPAIRABLE with the date), one open
    application per record. The `commitment` text becomes a public repair commitment.
    The department that reported the record decides by `decision_due_on` (working days).
    `attachments` cites up to 10 of my evidence files (POST /v1/me/attachments); the
    department deciding reads them.
    """
    session, user = db_session(), _me()
    cited = attachments.own_ids(session, user, body["attachments"])  # before anything is written
    application = repairs.apply(session, user, body["record_id"], body["statement"],
                                body["commitment"], body["evidence"], today())
    attachments.cite(session, cited, application.department_id, repair_id=application.id)
    return _repair_views(session, [application])[0]


@blp.route("/me/repairs")
@blp.response(200, RepairSchema(many=True))
@blp.paginate()
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def my_repairs(pagination_parameters):
    """My repair applications, newest first, with the department's answer.

    With status (submitted, approved, rejected, withdrawn), the decision's note and
    date.
    """
    session = db_session()
    rows = paginate_select(session, repairs.mine(_me().subject_id), pagination_parameters)
    return _repair_views(session, rows)


@blp.route("/me/repairs/<int:repair_id>/withdraw", methods=["POST"])
@blp.response(200, RepairSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE", "REPAIR_NOT_FOUND", "REPAIR_CLOSED")
def withdraw_repair(repair_id):
    """Withdraw my repair application before it is decided.

    Only a submitted application (409 REPAIR_CLOSED otherwise); its repair commitment is
    withdrawn with it.
    """
    session = db_session()
    return _repair_views(session, [repairs.withdraw(session, _me(), repair_id)])[0]


@blp.route("/dept/repairs")
@blp.arguments(RepairQuerySchema, location="query")
@blp.response(200, DeptRepairSchema(many=True))
@blp.paginate()
@blp.errors()
def department_repairs(query, pagination_parameters):
    """Repair applications for this department's records (overdue=true: past due).

    X-API-Key. `?status=submitted` and `?overdue=true` make the to-do list; with the
    person's name masked.
    """
    session = db_session()
    stmt = repairs.department_list(_department(), query["status"], query["overdue"], today())
    rows = paginate_select(session, stmt, pagination_parameters)
    return _with_names(_repair_views(session, rows), rows)


@blp.route("/dept/repairs/<int:repair_id>/decision", methods=["POST"])
@blp.arguments(RepairDecisionSchema)
@idempotent
@blp.response(200, DeptRepairSchema)
@blp.errors("REPAIR_NOT_FOUND", "REPAIR_CLOSED", "RECORD_REVOKED", "ALREADY_REPAIRED",
            "NOT_REPAIRABLE", "NOT_YET_REPAIRABLE")
def decide_repair(body, repair_id):
    """Approve (the record is repaired, points recomputed) or refuse, with a note.

    X-API-Key; only the department that reported the record. Approval repairs the
    record: it stops counting and the points are recomputed at once; the person is
    notified either way.
    """
    session = db_session()
    application = repairs.decide(session, redis_client(), _department(), repair_id,
                                 body["approve"], body["note"], today())
    return _with_names(_repair_views(session, [application]), [application])[0]


# ------------------------------------------------------------------ objections


@blp.route("/me/objections", methods=["POST"])
@blp.arguments(ObjectionInSchema)
@idempotent
@blp.response(201, ObjectionSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE", "RECORD_NOT_FOUND", "RECORD_REVOKED",
            "OBJECTION_PENDING", "ATTACHMENT_NOT_FOUND")
def raise_objection(body):
    """Dispute one of my records; it shows `disputed` at once.

    Needs a face-verified identity. The record shows `disputed` at once; the department
    that reported it decides by `decision_due_on`. One open objection per record.
    `attachments` cites up to 10 of my evidence files, as for a repair.
    """
    session, user = db_session(), _me()
    cited = attachments.own_ids(session, user, body["attachments"])
    objection = objections.raise_objection(session, user, body["record_id"], body["reason"],
                                           today())
    attachments.cite(session, cited, objection.department_id, objection_id=objection.id)
    return _objection_views(session, [objection])[0]


@blp.route("/me/objections")
@blp.response(200, ObjectionSchema(many=True))
@blp.paginate()
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def my_objections(pagination_parameters):
    """My objections, newest first, with the department's answer.

    With status (pending, upheld, rejected), the decision's note and date.
    """
    session = db_session()
    rows = paginate_select(session, objections.mine(_me().subject_id), pagination_parameters)
    return _objection_views(session, rows)


@blp.route("/dept/objections")
@blp.arguments(ObjectionQuerySchema, location="query")
@blp.response(200, DeptObjectionSchema(many=True))
@blp.paginate()
@blp.errors()
def department_objections(query, pagination_parameters):
    """Objections to this department's records (overdue=true: past due).

    X-API-Key. `?status=pending` and `?overdue=true` make the to-do list.
    """
    session = db_session()
    stmt = objections.department_list(_department(), query["status"], query["overdue"], today())
    rows = paginate_select(session, stmt, pagination_parameters)
    return _with_names(_objection_views(session, rows), rows)


@blp.route("/dept/objections/<int:objection_id>/decision", methods=["POST"])
@blp.arguments(ObjectionDecisionSchema)
@idempotent
@blp.response(200, DeptObjectionSchema)
@blp.errors("OBJECTION_NOT_FOUND", "OBJECTION_CLOSED", "RECORD_REVOKED")
def decide_objection(body, objection_id):
    """Uphold (the record is revoked, points recomputed) or reject with a note.

    X-API-Key; only the department that reported the record. An upheld objection revokes
    the record (it never counts again); a rejected one leaves it as it was. The person
    is notified either way.
    """
    session = db_session()
    objection = objections.decide(session, redis_client(), _department(), objection_id,
                                  body["upheld"], body["note"], today())
    return _with_names(_objection_views(session, [objection]), [objection])[0]
