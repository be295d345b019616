"""The project's thin subclasses of flask-smorest's classes; import these, not
flask-smorest's own, everywhere else in `api/`."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import flask_smorest
import marshmallow as ma
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from api.bodies import BodyRefused, load_json
from points.i18n import N_, translate_text, translate_tree

# The largest id a BIGINT key can hold: larger ids in bodies are refused (422).
MAX_DB_ID = 2**63 - 1
# The dates a period may name: wider than any real question, and far enough from
# date.min and date.max that day arithmetic and time-zone shifts cannot overflow.
PERIOD_DATES = ma.validate.Range(min=dt.date(1900, 1, 1), max=dt.date(9998, 12, 31),
                                 error=N_("must be between {min} and {max}"))

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
# What a plain HTTP error says to people, instead of werkzeug's own English text.
STATUS_MESSAGES = {
    400: N_("the request cannot be read"),
    401: N_("sign in first"),
    403: N_("you may not do this"),
    404: N_("not found"),
    405: N_("this method is not allowed here"),
    409: N_("the change conflicts with existing data"),
    410: N_("no longer available"),
    412: N_("the resource changed since you read it; read it again"),
    413: N_("the request body is over the size limit"),
    415: N_("send the body as application/json"),
    422: N_("some fields are not valid: see errors"),
    428: N_("this change needs an If-Match header"),
    429: N_("too many requests; try again later"),
    500: N_("internal error"),
    503: N_("the service is not available; try again shortly"),
}


class ErrorSchema(ma.Schema):
    code = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    error_code = ma.fields.String(required=True)
    message = ma.fields.String()
    errors = ma.fields.Dict()
    # Extra fields some domain errors carry (points/errors.py `**extra`).
    repairable_from = ma.fields.Date(metadata={"description": "NOT_YET_REPAIRABLE"})
    retry_after = ma.fields.Integer()
    repair_id = ma.fields.Integer(metadata={"description": "REPAIR_PENDING: the open one"})
    objection_id = ma.fields.Integer(
        metadata={"description": "OBJECTION_PENDING: the open one"})
    current_status = ma.fields.String(
        metadata={"description": "the status that refused the change"})
    merchant_status = ma.fields.String(metadata={"description": "MERCHANT_STATE_CONFLICT"})
    reasons = ma.fields.List(ma.fields.String(), metadata={"description": "NOT_ELIGIBLE"})
    limit = ma.fields.Integer(metadata={"description": "LIMIT_REACHED: per-resident limit"})


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        payload, status, headers = super().handle_http_exception(error)
        data = getattr(error, "data", None) or {}
        payload["error_code"] = data.get("error_code") or STATUS_ERROR_CODES.get(
            status, "HTTP_ERROR"
        )
        message = payload.get("message")
        if not message or message == type(error).description or status == 429:
            # werkzeug's own text (or Flask-Limiter's "5 per 1 minute"): ours instead.
            message = STATUS_MESSAGES.get(status) or error.description or error.name
        payload["message"] = translate_text(message)
        if "errors" in payload:
            payload["errors"] = translate_tree(payload["errors"])
        if status == 400 and "json" in (payload.get("errors") or {}):
            payload["error_code"] = "MALFORMED_JSON"
        # Keep werkzeug's own headers (Allow on 405, Retry-After on 429 …) that
        # flask-smorest's handler would otherwise drop.
        merged = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        merged.update(headers or {})
        return payload, status, merged


# Answers the app gives before a view runs, documented on every route they apply to.
BODY_ERRORS = {
    400: "MALFORMED_JSON: the body is not valid JSON, or holds a lone UTF-16 surrogate, "
         "nesting over 64 levels or an integer over 4300 digits",
    413: "PAYLOAD_TOO_LARGE: the body is over the size limit",
}
WRITE_ERRORS = {
    400: BODY_ERRORS[400] + "; MALFORMED_BODY: a chunked body that cannot be read",
    415: "UNSUPPORTED_MEDIA_TYPE: a body that is not application/json",
}
WRITE_METHODS = {"POST", "PUT", "PATCH"}


class Parser(FlaskParser):
    """webargs' parser reading JSON bodies with `api.bodies.load_json` (strict: no lone
    surrogates, no absurd nesting or digit counts), refused as 400 MALFORMED_JSON."""

    def load_json(self, req, schema):
        if not req.is_json:
            return core.missing
        raw = req.get_data(cache=True)
        if not raw:
            return core.missing
        try:
            return load_json(raw)
        except BodyRefused as refused:
            abort(400, message=refused.reason, messages={"json": {"_schema": [refused.reason]}})


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with `errors(*statuses)` to document error answers.

    Also documents what the app answers for every route of a kind: 400 for a body
    that cannot be read and 415 for a non-JSON body on any write (`create_app`'s JSON-only check), 400 for malformed
    JSON and 413 for a body over MAX_CONTENT_LENGTH wherever a JSON body is read."""

    ARGUMENTS_PARSER = Parser()

    def errors(self, *statuses: int, descriptions: dict[int, str] | None = None):
        """Document the error answers a route may give, each with the error body."""

        def decorator(func):
            for status in statuses:
                description = (descriptions or {}).get(status) or STATUS_ERROR_CODES.get(
                    status, "error")
                func = self.alt_response(status, schema=ErrorSchema,
                                         description=description)(func)
            return func

        return decorator

    def arguments(self, schema, *, location="json", **kwargs):
        decorator = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return decorator

        def with_body_errors(func):
            return self.errors(*BODY_ERRORS, descriptions=BODY_ERRORS)(decorator(func))

        return with_body_errors

    def route(self, rule, *, parameters=None, tags=None, **options):
        decorator = super().route(rule, parameters=parameters, tags=tags, **options)
        writes = WRITE_METHODS & {m.upper() for m in options.get("methods", ("GET",))}
        path = (self.url_prefix or "") + rule

        def documented(func):
            func = self.doc(operationId=f"{self.name}_{func.__name__}",
                            security=security_of(path, func))(func)
            if getattr(func, "_idempotent", False):
                from api.idempotency import IDEMPOTENCY_HEADER

                # doc() replaces a list: keep the view's own parameters beside the header.
                own = getattr(func, "_apidoc", {}).get("manual_doc", {}).get("parameters", [])
                func = self.doc(parameters=[*own, IDEMPOTENCY_HEADER])(func)
            if f"{self.name}.{func.__name__}" in rate_limited_endpoints():
                func = self.alt_response(429, schema=ErrorSchema, description=RATE_LIMITED,
                                         headers=RETRY_AFTER_HEADER)(func)
            if writes:
                func = self.errors(*WRITE_ERRORS, descriptions=WRITE_ERRORS)(func)
            return decorator(func)

        return documented


    def _document_pagination_metadata(self, spec, resp_doc):
        """X-Pagination as it is sent: a JSON text (flask-smorest documents an object)."""
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = PAGINATION_HEADER


PAGINATION_HEADER = {
    "description": 'JSON text: {"total", "total_pages", "first_page", "last_page", "page", '
                   '"previous_page", "next_page"} (the page numbers only where they exist)',
    "schema": {"type": "string"},
    "example": '{"total": 42, "total_pages": 3, "first_page": 1, "last_page": 3, "page": 1, '
               '"next_page": 2}',
}
RATE_LIMITED = ("RATE_LIMITED: over this route's rate limit; retry after the seconds in "
                "Retry-After")
RETRY_AFTER_HEADER = {"Retry-After": {"description": "seconds to wait before retrying",
                                      "schema": {"type": "integer"}}}


def rate_limited_endpoints() -> set[str]:
    from api.ratelimit import LIMITS

    return set(LIMITS)


# The security schemes `create_app` declares, as each kind of caller uses them.
BEARER = [{"bearer": []}]
API_KEY = [{"apiKey": []}]


def security_of(path: str, view) -> list[dict[str, list]]:
    """What an operation's caller sends, by the same rule `api.access` enforces:
    nothing for a `@public` view, the department's API key under /v1/dept, else a
    bearer token. (The route decorator sees `@public` because it is applied above it.)"""
    from api.access import required_role

    if getattr(view, "_public", False):
        return []
    return API_KEY if required_role(path) == "department" else BEARER


NUL_MESSAGE = N_("must not contain NUL characters")


def _nul_errors(value: Any) -> Any:
    """The error messages for every text holding a NUL, shaped like the input."""
    if isinstance(value, str):
        return [NUL_MESSAGE] if "\x00" in value else None
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    errors = {}
    for key, item in items:
        key_error = _nul_errors(key)
        item_errors = key_error or _nul_errors(item)
        if item_errors:
            errors[key] = item_errors
    return errors or None


class Schema(ma.Schema):
    """Base for every request and response schema (unknown input fields are refused).

    Input texts may not hold NUL characters anywhere, however deep: no real input
    has them, and PostgreSQL cannot store them (422 instead of a database error)."""

    @ma.pre_load
    def _refuse_nul(self, data, **kwargs):
        errors = _nul_errors(data)
        if errors:
            raise ma.ValidationError(errors if isinstance(errors, dict) else {"_schema": errors})
        return data


class TranslatedText(ma.fields.String):
    """A text stored in English (a score-history reason), shown in the reader's language
    (`points.i18n.translate_text`); documented as the string it is."""

    def _serialize(self, value, attr, obj, **kwargs):
        text = super()._serialize(value, attr, obj, **kwargs)
        return translate_text(text) if text is not None else None


class Page(flask_smorest.Page):
    pass


def paginate_select(session, stmt, pagination_parameters):
    """Run `stmt` for one page and tell flask-smorest the total for X-Pagination."""
    from sqlalchemy import func, select

    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = session.execute(counted).scalar_one()
    pagination_parameters.item_count = total
    page, size = pagination_parameters.page, pagination_parameters.page_size
    offset = (page - 1) * size
    if offset >= total:  # past the end; also keeps a huge ?page= out of the SQL OFFSET
        return []
    return list(session.execute(stmt.limit(size).offset(offset)).scalars())
