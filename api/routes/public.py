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
    return _dependencies()


class LiveSchema(Schema):
    status = ma.fields.String(required=True)


@blp.route("/health/live")
@public
@blp.response(200, LiveSchema)
def live():
    """Liveness: the process answers (nothing else is asked; restart it if this fails)."""
    return {"status": "ok"}


@blp.route("/health/ready")
@public
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="the database or Redis is down")
def ready():
    """Readiness: the database and Redis answer (a load balancer sends no traffic on 503)."""
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
