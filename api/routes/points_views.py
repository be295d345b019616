"""The resident's points, their history and records (`/v1/me/points…`, `/v1/me/records`)."""
from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from sqlalchemy import select

from api import access, gate
from api.context import db_session, read_session, redis_client
from api.metrics import score_cache_read
from api.pipeline import plain
from api.smorest import Blueprint, Schema, TranslatedText, paginate_select
from incentives.perks import LEVELS
from points.infra.db import today
from points.models import ScoreHistory
from points.recordkeeping import records, statements
from points.rules.engine import STATUSES
from points.rules.rulesets import KINDS
from points.scores import scoring

blp = Blueprint("points", __name__, url_prefix="/v1/me", description="My credit points")


class ItemSchema(Schema):
    record_id = ma.fields.Integer(required=True)
    type = ma.fields.String(
        required=True,
        metadata={"description": "a record type of the rule set"})
    title = ma.fields.String(required=True)
    points = ma.fields.Integer(
        required=True,
        metadata={"description": "what this record adds (negative: takes) today, after caps"})
    raw_points = ma.fields.Integer(metadata={"description": "before its category cap"})
    counted_from = ma.fields.String(required=True, metadata={"format": "date"})
    counted_until = ma.fields.String(
        allow_none=True,
        metadata={"format": "date",
                  "description": "null: counts until it ends or is repaired"})


class NextLevelSchema(Schema):
    level = ma.fields.String(required=True, validate=ma.validate.OneOf(LEVELS))
    points_needed = ma.fields.Integer(required=True)


class PointsSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'points': 985,
                               'level': 'A',
                               'restricted': False,
                               'rule_set': 'changsha-2020',
                               'as_of': '2026-12-03',
                               'base': 1000,
                               'items': [{'record_id': 42,
                                          'type': 'admin.penalty.general',
                                          'title': '一般行政处罚',
                                          'points': -30,
                                          'counted_from': '2026-11-20',
                                          'counted_until': '2027-11-20'},
                                         {'record_id': 57,
                                          'type': 'volunteer.service',
                                          'title': '志愿服务',
                                          'points': 15,
                                          'raw_points': 15,
                                          'counted_from': '2026-06-01',
                                          'counted_until': None}],
                               'next_level': {'level': 'AA', 'points_needed': 45},
                               'next_change_on': '2027-11-20'}
    points = ma.fields.Integer(required=True)
    level = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(LEVELS),
        metadata={"description": "AAA (best) to D; a restricted subject is D"})
    restricted = ma.fields.Boolean(
        required=True,
        metadata={"description": "a serious negative record restricts the subject (联合惩戒): level "
                                 "D, no perks"})
    rule_set = ma.fields.String(required=True)
    as_of = ma.fields.String(required=True, metadata={"format": "date"})
    base = ma.fields.Integer(required=True)
    items = ma.fields.List(ma.fields.Nested(ItemSchema), required=True)
    next_level = ma.fields.Nested(NextLevelSchema, allow_none=True, required=True)
    next_change_on = ma.fields.String(
        allow_none=True,
        metadata={"format": "date",
                  "description": "the next day the points change by themselves (a window opens "
                                 "or ends)"})


class HistorySchema(Schema):
    points = ma.fields.Integer(required=True)
    level = ma.fields.String(required=True, validate=ma.validate.OneOf(LEVELS))
    restricted = ma.fields.Boolean()
    rule_set = ma.fields.String()
    changed_at = ma.fields.DateTime(required=True)
    reason = TranslatedText(
        required=True,
        metadata={"description": "why the points changed, for people (Chinese by default)"})
    cause = ma.fields.String()
    record_id = ma.fields.Integer(allow_none=True)


class DepartmentRefSchema(Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class StatementSchema(Schema):
    record_id = ma.fields.Integer(required=True)
    text = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


class RecordSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'id': 42,
                               'type': 'admin.penalty.general',
                               'title': '一般行政处罚',
                               'kind': 'negative',
                               'class': 'general',
                               'points': -30,
                               'status': 'active',
                               'disputed': False,
                               'occurred_on': '2026-11-02',
                               'decided_on': '2026-11-20',
                               'ended_on': None,
                               'repaired_on': None,
                               'counted_from': '2026-11-20',
                               'counted_until': '2027-11-20',
                               'counting': True,
                               'repairable': True,
                               'repairable_from': '2027-02-20',
                               'department': {'code': 'market', 'name': '雨花区市场监督管理局'},
                               'document_no': '长市监罚〔2026〕123号',
                               'statement': {'record_id': 42,
                                             'text': '罚款已于2026年11月25日缴清',
                                             'created_at': '2026-11-26T09:30:00+08:00',
                                             'updated_at': '2026-11-26T09:30:00+08:00'},
                               'details': {'document_no': '长市监罚〔2026〕123号'}}
    id = ma.fields.Integer(required=True)
    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    kind = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(KINDS))
    class_ = ma.fields.String(data_key="class", attribute="class", allow_none=True)
    points = ma.fields.Integer(metadata={"description": "what it adds or takes while it counts"})
    status = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(STATUSES),
        metadata={"description": "active, disputed (an objection is open), repaired, ended, "
                                 "revoked or expired"})
    disputed = ma.fields.Boolean(
        required=True,
        metadata={"description": "an objection to it is being decided"})
    occurred_on = ma.fields.Date(allow_none=True)
    decided_on = ma.fields.Date(
        allow_none=True,
        metadata={"description": "when the department decided (a penalty counts from this day)"})
    ended_on = ma.fields.Date(allow_none=True)
    repaired_on = ma.fields.Date(allow_none=True)
    counted_from = ma.fields.Date(allow_none=True)
    counted_until = ma.fields.Date(allow_none=True)
    counting = ma.fields.Boolean(metadata={"description": "counts in today's points"})
    repairable = ma.fields.Boolean(
        metadata={"description": "a repair may be applied for now (never for a revoked record)"})
    repairable_from = ma.fields.Date(
        allow_none=True,
        metadata={"description": "the first day a repair may be applied for"})
    department = ma.fields.Nested(DepartmentRefSchema, allow_none=True, required=True,
                                  metadata={"description": "who reported the record"})
    document_no = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "the department's document number (文号), when it sent one"})
    statement = ma.fields.Nested(StatementSchema, allow_none=True, required=True, metadata={
        "description": "my statement (说明) on the record, PUT /v1/me/records/{id}/statement"})
    details = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "the facts the department sent (document_no, amount, …)"})


@blp.route("/points")
@blp.response(200, PointsSchema)
@blp.errors("CONSENT_REQUIRED", "IDENTITY_REQUIRED", "NOT_ELIGIBLE")
@plain(switch="POINTS_FAST_PATH", as_is=True, prefetch=gate.fetch_with_score)
def my_points():
    """My points today, with one explanation line per counting record.

    Needs a face-verified identity (409 IDENTITY_REQUIRED) and the `credit_points`
    consent (403 CONSENT_REQUIRED). `items` explain the points: one line per counting
    record with its points and counting window; `next_level` says how many points the
    next level needs (null at the top or when restricted).
    """
    subject_id = access.credit_subject_id()
    day = today()
    # The cached score was read with the token check (the route's prefetch).
    prefetched = access.current().prefetched
    body = scoring.cached_points(redis_client(), subject_id, day,
                                 prefetched[0] if prefetched else scoring.NOT_READ)
    score_cache_read(body is not None)
    if body is None:
        body = scoring.rebuilt_points(db_session(), redis_client(), subject_id, day)
    # The body is the engine's own view, already in the documented shape (and checked
    # against PointsSchema by the fuzzing tests): sent as is (no dump schema), the
    # hottest read skips a marshmallow round trip.
    return body


@blp.route("/points/history")
@blp.response(200, HistorySchema(many=True))
@blp.paginate()
@blp.errors("CONSENT_REQUIRED", "IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def my_history(pagination_parameters):
    """Every change of my points, newest first, with its reason.

    Each change with the points and level after it and a reason for people (Chinese by
    default; `Accept-Language: en` for English).
    """
    subject_id = access.credit_subject_id()
    stmt = (select(ScoreHistory).where(ScoreHistory.subject_id == subject_id)
            .order_by(ScoreHistory.id.desc()))
    return paginate_select(read_session(), stmt, pagination_parameters)


@blp.route("/records")
@blp.response(200, RecordSchema(many=True))
@blp.paginate()
@blp.errors("CONSENT_REQUIRED", "IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def my_records(pagination_parameters):
    """My credit records with status, class, counting window and repair date.

    Every record about me, counting or not: `status` (active, disputed, repaired, ended,
    revoked, expired), `class` for negative records, `counted_from`/`counted_until`, and
    `repairable_from`: the first day a repair may be applied for.
    """
    items = records.subject_records(db_session(), access.credit_subject_id(), today())
    pagination_parameters.item_count = len(items)
    start = (pagination_parameters.page - 1) * pagination_parameters.page_size
    return items[start:start + pagination_parameters.page_size]


class StatementInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"text": "罚款已于2026年11月25日缴清，违法行为已改正。"}
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500),
                            metadata={"description": "1 to 500 characters"})


@blp.route("/records/<int:record_id>/statement", methods=["PUT"])
@blp.arguments(StatementInSchema, example={"text": "罚款已于2026年11月25日缴清，涉事商品已全部下架"})
@blp.response(200, StatementSchema)
@blp.errors("CONSENT_REQUIRED", "IDENTITY_REQUIRED", "NOT_ELIGIBLE", "RECORD_NOT_FOUND")
def put_statement(body, record_id):
    """Add or replace my statement (说明) on a record of mine (Art. 16).

    Resident, on my own records (anyone else's: 404). The statement is shown with the
    record to me, to departments in their credit checks, and on my worker's report while
    the record counts; it is in my export.
    """
    subject_id = access.credit_subject_id()
    saved = statements.put(db_session(), subject_id, record_id, body["text"],
                           f"user:{access.current().user.id}")
    return statements.as_dict(saved)


@blp.route("/records/<int:record_id>/statement", methods=["DELETE"])
@blp.response(204)
@blp.errors("CONSENT_REQUIRED", "IDENTITY_REQUIRED", "NOT_ELIGIBLE", "RECORD_NOT_FOUND")
def delete_statement(record_id):
    """Remove my statement from a record of mine.

    Resident, on my own records (anyone else's: 404). It leaves the record, the checks
    and the report at once.
    """
    statements.remove(db_session(), access.credit_subject_id(), record_id,
                      f"user:{access.current().user.id}")
