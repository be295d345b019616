"""The project's thin subclasses of flask-smorest's classes; import these, not
flask-smorest's own, everywhere else in `api/`."""
from __future__ import annotations

import flask_smorest
import marshmallow as ma
from werkzeug.exceptions import HTTPException

# The contract's error codes for plain HTTP errors (domain errors carry their own).
STATUS_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    410: "GONE",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    428: "PRECONDITION_REQUIRED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ErrorSchema(ma.Schema):
    code = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    error_code = ma.fields.String(required=True)
    message = ma.fields.String()
    errors = ma.fields.Dict()
    repairable_from = ma.fields.Date()
    retry_after = ma.fields.Integer()


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        payload, status, headers = super().handle_http_exception(error)
        data = getattr(error, "data", None) or {}
        payload["error_code"] = data.get("error_code") or STATUS_ERROR_CODES.get(
            status, "HTTP_ERROR"
        )
        if "message" not in payload:
            payload["message"] = error.description or error.name
        if status == 400 and "json" in (payload.get("errors") or {}):
            payload["error_code"] = "MALFORMED_JSON"
        # Keep werkzeug's own headers (Allow on 405, Retry-After on 429 …) that
        # flask-smorest's handler would otherwise drop.
        merged = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        merged.update(headers or {})
        return payload, status, merged


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with `errors(*statuses)` to document error answers."""

    def errors(self, *statuses: int):
        """Document the error answers a route may give, each with the error body."""

        def decorator(func):
            for status in statuses:
                func = self.alt_response(status, schema=ErrorSchema,
                                         description=STATUS_ERROR_CODES.get(status, "error"))(func)
            return func

        return decorator


class Schema(ma.Schema):
    """Base for every request and response schema (unknown input fields are refused)."""


class Page(flask_smorest.Page):
    pass


def paginate_select(session, stmt, pagination_parameters):
    """Run `stmt` for one page and tell flask-smorest the total for X-Pagination."""
    from sqlalchemy import func, select

    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = session.execute(counted).scalar_one()
    pagination_parameters.item_count = total
    page, size = pagination_parameters.page, pagination_parameters.page_size
    return list(session.execute(stmt.limit(size).offset((page - 1) * size)).scalars())
