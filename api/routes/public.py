"""Public endpoints: health and the active rule set."""
from __future__ import annotations

import logging

import marshmallow as ma
import redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.access import public
from api.context import db_session, redis_client
from api.smorest import Blueprint, Schema
from incentives.perks import LEVELS
from points.rules.rulesets import KINDS

log = logging.getLogger(__name__)
blp = Blueprint("public", __name__, url_prefix="/v1", description="Public endpoints")


class HealthSchema(Schema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(["ok", "unavailable"]))
    database = ma.fields.String(required=True, validate=ma.validate.OneOf(["ok", "unavailable"]))
    redis = ma.fields.String(required=True, validate=ma.validate.OneOf(["ok", "unavailable"]))


@blp.route("/health")
@public
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="a dependency is down")
@blp.errors()
def health():
    """Check the database and Redis.

    No sign-in. 200 when the database and Redis both answer; 503 names the part that is
    down (`database` or `redis`: `unavailable`). For load balancers and monitoring.
    """
    return _dependencies()


class LiveSchema(Schema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(["ok"]))


@blp.route("/health/live")
@public
@blp.response(200, LiveSchema)
@blp.errors()
def live():
    """Liveness: the process answers.

    No sign-in. Nothing else is asked: a process that does not answer 200 is restarted
    (a container's liveness probe, systemd's watchdog).
    """
    return {"status": "ok"}


@blp.route("/health/ready")
@public
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="the database or Redis is down")
@blp.errors()
def ready():
    """Readiness: the database and Redis answer.

    No sign-in. 200 when both answer; 503 names the part that is down, and a load
    balancer sends the node no traffic until it answers 200 again.
    """
    return _dependencies()


def _dependencies():
    parts = {"database": "ok", "redis": "ok"}
    try:
        db_session().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health: database down: %s", type(exc).__name__)
        parts["database"] = "unavailable"
        db_session().rollback()
    try:
        redis_client().ping()
    except redis.exceptions.RedisError as exc:
        log.warning("health: redis down: %s", type(exc).__name__)
        parts["redis"] = "unavailable"
    ok = all(v == "ok" for v in parts.values())
    return {"status": "ok" if ok else "unavailable", **parts}, 200 if ok else 503


class RuleLevelSchema(Schema):
    name = ma.fields.String(required=True, validate=ma.validate.OneOf(LEVELS))
    title = ma.fields.String(allow_none=True, metadata={"description": "e.g. 信用优秀"})
    min_points = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "null for the lowest level: it takes every lower score"})
    max_points = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "null for the highest level"})


class RuleClassSchema(Schema):
    name = ma.fields.String(required=True, metadata={"description": "e.g. minor, general, "
                                                                     "serious"})
    title = ma.fields.String(allow_none=True)
    max_months = ma.fields.Integer(required=True, metadata={
        "description": "a negative record of this class stops counting this many months after "
                       "decided_on"})
    min_months = ma.fields.Integer(required=True, metadata={
        "description": "repair may be applied for this many months after decided_on"})
    restricts = ma.fields.Boolean(required=True, metadata={
        "description": "a counting record of this class restricts the subject (level D)"})


class RuleCategorySchema(Schema):
    name = ma.fields.String(required=True)
    title = ma.fields.String(allow_none=True)
    cap = ma.fields.Integer(allow_none=True, metadata={"description": "null: uncapped"})


class RulePerUnitSchema(Schema):
    detail = ma.fields.String(required=True, metadata={"description": "the detail counted "
                                                                      "(e.g. hours)"})
    size = ma.fields.Integer(required=True)
    points = ma.fields.Integer(required=True, metadata={"description": "per `size` units"})


class RuleRecordTypeSchema(Schema):
    code = ma.fields.String(required=True, metadata={"description": "what departments send "
                                                                    "as `type`"})
    title = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    category = ma.fields.String(allow_none=True, metadata={"description": "positive only"})
    points = ma.fields.Integer(allow_none=True, metadata={
        "description": "fixed points; null for per-unit and occupational types"})
    per_unit = ma.fields.Nested(RulePerUnitSchema, allow_none=True)
    cap = ma.fields.Integer(allow_none=True)
    window_months = ma.fields.Integer(allow_none=True, metadata={
        "description": "how long a record counts"})
    open_ended = ma.fields.Boolean(metadata={"description": "counts until ended_on"})
    class_ = ma.fields.String(data_key="class", attribute="class", allow_none=True,
                              metadata={"description": "negative only: a class's name"})
    repairable = ma.fields.Boolean(allow_none=True, metadata={
        "description": "negative only: repair may be applied for in the app"})
    repairable_after_months = ma.fields.Integer(allow_none=True)
    basis = ma.fields.String(allow_none=True, metadata={"description": "the legal basis"})


class RuleSetPublicSchema(Schema):
    code = ma.fields.String(required=True)
    title = ma.fields.String(allow_none=True)
    base = ma.fields.Integer(required=True, metadata={"description": "everyone's starting "
                                                                     "points"})
    floor = ma.fields.Integer(required=True, metadata={"description": "points never go "
                                                                      "below this"})
    levels = ma.fields.List(ma.fields.Nested(RuleLevelSchema), required=True,
                            metadata={"description": "best first"})
    classes = ma.fields.List(ma.fields.Nested(RuleClassSchema), required=True)
    categories = ma.fields.List(ma.fields.Nested(RuleCategorySchema), required=True)
    record_types = ma.fields.List(ma.fields.Nested(RuleRecordTypeSchema), required=True)


@blp.route("/rule-sets/active")
@public
@blp.response(200, RuleSetPublicSchema)
@blp.errors()
def active_rule_set():
    """The rule set in force: base, levels and every record type (no personal data).

    No sign-in. What residents may read about how points are computed: the base and
    floor, the levels best first with their point ranges, the classes of negative
    records (how long they count, when repair may be applied for, which restrict), the
    categories' caps and every record type departments may report.
    """
    from points.rules import rule_store

    return rule_store.active(db_session()).public_view()


class DepartmentPublicSchema(Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


@blp.route("/departments")
@public
@blp.response(200, DepartmentPublicSchema(many=True))
@blp.errors()
def departments():
    """Every department in service: the codes commitments and checks name.

    No sign-in. Code and name of each department that is not disabled, for the
    mini-program's pickers (a commitment names the department of its matter).
    """
    from sqlalchemy import select

    from points.models import Department

    return db_session().execute(select(Department).where(Department.enabled.is_(True))
                                .order_by(Department.code)).scalars().all()


class PolicyScopeSchema(Schema):
    title = ma.fields.String(required=True)
    text = ma.fields.String(required=True)


class PolicySchema(Schema):
    version = ma.fields.String(required=True)
    scopes = ma.fields.Dict(keys=ma.fields.String(),
                            values=ma.fields.Nested(PolicyScopeSchema), required=True)


@blp.route("/policies/current")
@public
@blp.response(200, PolicySchema)
@blp.errors()
def current_policy():
    """The consent policy in force: its version, and what each consent scope means.

    No sign-in. A consent (`PUT /v1/me/consents/{scope}`) must name this `version`;
    another is refused with 422 `POLICY_VERSION_UNKNOWN`.
    """
    from flask import current_app

    from points.people import policy

    return policy.current(current_app.config["CONSENT_POLICY_VERSION"])
