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

log = logging.getLogger(__name__)
blp = Blueprint("public", __name__, url_prefix="/v1", description="Public endpoints")


class HealthSchema(Schema):
    status = ma.fields.String(required=True)
    database = ma.fields.String(required=True)
    redis = ma.fields.String(required=True)


@blp.route("/health")
@public
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="a dependency is down")
def health():
    """Check the database and Redis."""
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


class RuleSetPublicSchema(Schema):
    code = ma.fields.String(required=True)
    title = ma.fields.String(allow_none=True)
    base = ma.fields.Integer(required=True)
    floor = ma.fields.Integer(required=True)
    levels = ma.fields.List(ma.fields.Dict(), required=True)
    classes = ma.fields.List(ma.fields.Dict(), required=True)
    categories = ma.fields.List(ma.fields.Dict(), required=True)
    record_types = ma.fields.List(ma.fields.Dict(), required=True)


@blp.route("/rule-sets/active")
@public
@blp.response(200, RuleSetPublicSchema)
def active_rule_set():
    """The rule set in force: base, levels and every record type (no personal data)."""
    from points import rule_store

    return rule_store.active(db_session()).public_view()


class DepartmentPublicSchema(Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


@blp.route("/departments")
@public
@blp.response(200, DepartmentPublicSchema(many=True))
def departments():
    """Every department in service: the codes commitments and checks name."""
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
def current_policy():
    """The consent policy in force: its version, and what each consent scope means."""
    from flask import current_app

    from points import policy

    return policy.current(current_app.config["CONSENT_POLICY_VERSION"])
