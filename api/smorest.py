"""The project's thin subclasses of flask-smorest's classes; import these, not
flask-smorest's own, everywhere else in `api/`.

Documenting a route (the OpenAPI document is checked by tests/api/test_openapi_document.py
and tests/api/test_openapi_completeness.py, and linted by .ci/openapi-lint):

    @blp.route("/merchant/redemptions", methods=["POST"])
    @blp.arguments(PerkRedeemInSchema, example={"verification_id": 42})
    @blp.response(201, RedemptionSchema, example={...})
    @blp.errors("VERIFICATION_NOT_FOUND", "QUOTA_EXHAUSTED", "LIMIT_REACHED", 422)
    def redeem(body):
        '''Grant the perk on a verification (the summary: one line).

        What a client must know beyond the summary (the description).'''

- `errors(...)` names every `error_code` the view itself (or the services it calls)
  can answer; a status number stands for its generic code (409 → CONFLICT). Each
  code's status and meaning come from the catalogue, `points.errors.CODES` (domain)
  and `api.error_docs.HTTP_CODES` (HTTP layer): a new code is added there first.
  `notes={"CODE": "…"}` replaces a code's meaning for this route.
- What the pipeline answers is added by `route` and need not be declared: the
  caller's credentials (`security`, and UNAUTHENTICATED / FORBIDDEN / MERCHANT_REQUIRED
  by the kind of caller the path asks for, api/access.py), VALIDATION_ERROR for any
  `arguments`, MALFORMED_JSON / PAYLOAD_TOO_LARGE for a JSON body, MALFORMED_BODY /
  UNSUPPORTED_MEDIA_TYPE on writes, RATE_LIMITED and Retry-After on rate-limited
  routes (api/ratelimit.py), the Idempotency-Key header and its codes on `@idempotent`
  views, DATABASE_UNAVAILABLE / CACHE_UNAVAILABLE everywhere; the operationId is
  `<blueprint>_<view>`.
- Every request body has an example (`arguments(..., example=...)`), and schemas give
  each field a type, an enum for a closed set (`OneOf` or `metadata={"enum": ...}` on
  output fields), and a `metadata={"description": ...}` where a client needs one."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from copy import deepcopy
from typing import Any

import flask_smorest
import marshmallow as ma
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from api.bodies import BodyRefused, load_json
from api.error_docs import ALWAYS, ROLE_CODES, STATUS_ERROR_CODES, catalogue, code_of
from api.error_docs import responses as error_responses
from incentives.models import MERCHANT_STATUSES
from incentives.perks import REASONS
from points.i18n import N_, translate_text, translate_tree

# The largest id a BIGINT key can hold: larger ids in bodies are refused (422).
MAX_DB_ID = 2**63 - 1
# The dates a period may name: wider than any real question, and far enough from
# date.min and date.max that day arithmetic and time-zone shifts cannot overflow.
PERIOD_DATES = ma.validate.Range(min=dt.date(1900, 1, 1), max=dt.date(9998, 12, 31),
                                 error=N_("must be between {min} and {max}"))

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
    error_code = ma.fields.String(required=True, validate=ma.validate.OneOf(sorted(catalogue())),
                                  metadata={"description": "stable, never translated: "
                                            "what a client branches on"})
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
    merchant_status = ma.fields.String(validate=ma.validate.OneOf(MERCHANT_STATUSES),
                                       metadata={"description": "MERCHANT_STATE_CONFLICT"})
    reasons = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(REASONS)),
                             metadata={"description": "NOT_ELIGIBLE: why not"})
    verify_ret = ma.fields.Integer(metadata={
        "description": "FACE_VERIFICATION_FAILED: WeChat's verify_ret"})
    wechat_errcode = ma.fields.Integer(metadata={
        "description": "FACE_VERIFICATION_FAILED: WeChat's errcode"})
    limit = ma.fields.Integer(metadata={"description": "LIMIT_REACHED: per-resident limit"})
    attachment_ids = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "ATTACHMENT_NOT_FOUND: the cited ids that are not the caller's files"})


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    # Every operation's `default`: the answer no route gives on purpose (INTERNAL_ERROR).
    DEFAULT_ERROR_RESPONSE_NAME = "INTERNAL_SERVER_ERROR"

    def init_app(self, app, *, spec_kwargs=None):
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.ma_plugin.converter.add_attribute_function(nullable_on_branches)

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
    """flask-smorest's Blueprint with `errors(...)` to declare the error_codes a route
    answers (see the module's docstring), and `route` documenting what every route of a
    kind answers."""

    ARGUMENTS_PARSER = Parser()

    @staticmethod
    def errors(*answers: int | str, notes: dict[str, str] | None = None,
               descriptions: dict[int, str] | None = None):
        """Declare the error answers of a route: error_codes, or statuses for their
        generic codes. Documented by `route`; the view is not wrapped.

        `descriptions` ({status: "CODE: text"}) is the older spelling of `notes`."""
        codes = {code_of(answer): None for answer in answers}
        for code, note in (notes or {}).items():
            codes[code_of(code)] = note
        for status, text in (descriptions or {}).items():
            named, _, rest = text.partition(": ")
            code = named if rest and named in catalogue() else code_of(status)
            codes[code] = rest if code == named else text

        def decorator(func):
            func._error_codes = {**getattr(func, "_error_codes", {}), **codes}
            return func

        return decorator

    def route(self, rule, *, parameters=None, tags=None, **options):
        decorator = super().route(rule, parameters=parameters, tags=tags, **options)
        writes = WRITE_METHODS & {m.upper() for m in options.get("methods", ("GET",))}
        path = (self.url_prefix or "") + rule

        def documented(func):
            security = security_of(path, func)
            func = self.doc(operationId=f"{self.name}_{func.__name__}", security=security)(func)
            codes: dict[str, str | None] = {code: None for code in ALWAYS}
            if "<" in rule:  # a path value that cannot name anything (api/__init__.py)
                codes["NOT_FOUND"] = None
            if security:
                codes.update(dict.fromkeys(ROLE_CODES[required_role_of(path)]))
            apidoc = func._apidoc = deepcopy(getattr(func, "_apidoc", {}))
            arguments = apidoc.get("arguments", {})
            if arguments.get("parameters"):
                codes["VALIDATION_ERROR"] = None
                arguments["responses"] = {}  # flask-smorest's bare 422: documented below
            if "pagination" in apidoc:  # ?page= and ?page_size= are read before the view
                codes["VALIDATION_ERROR"] = None
                apidoc["pagination"]["response"] = {}
            if any(p.get("in") == "json" for p in arguments.get("parameters", [])):
                codes.update(dict.fromkeys(("MALFORMED_JSON", "PAYLOAD_TOO_LARGE")))
            if writes:
                codes.update(dict.fromkeys(("MALFORMED_BODY", "UNSUPPORTED_MEDIA_TYPE",
                                            "PAYLOAD_TOO_LARGE")))
            if getattr(func, "_idempotent", False):
                from api.idempotency import IDEMPOTENCY_HEADER

                # doc() replaces a list: keep the view's own parameters beside the header.
                own = apidoc.get("manual_doc", {}).get("parameters", [])
                apidoc.setdefault("manual_doc", {})["parameters"] = [*own, IDEMPOTENCY_HEADER]
                codes.update(dict.fromkeys(("IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_IN_PROGRESS",
                                            "VALIDATION_ERROR")))
            if f"{self.name}.{func.__name__}" in rate_limited_endpoints():
                codes["RATE_LIMITED"] = RATE_LIMITED
            for code, note in getattr(func, "_error_codes", {}).items():
                if note or code not in codes:
                    codes[code] = note
            _examples_from_schemas(arguments.get("parameters", []),
                                   apidoc.get("response", {}).get("responses", {}))
            documented_responses = apidoc.setdefault("response", {}).setdefault("responses", {})
            for status, doc in error_responses(codes).items():
                if status not in documented_responses:  # a view's own (health's 503)
                    documented_responses[status] = [{**doc, "content_type": None}]
            return decorator(func)

        return documented

    def _document_pagination_metadata(self, spec, resp_doc):
        """X-Pagination as it is sent: a JSON text (flask-smorest documents an object)."""
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = PAGINATION_HEADER


def _examples_from_schemas(parameters: list[dict], responses: dict) -> None:
    """A JSON body's or an answer's example is its schema's `EXAMPLE` unless the
    decorator gave one (a list of it for a `many` answer)."""
    for parameter in parameters:
        example = _own_example(parameter.get("schema"))
        if parameter.get("in") == "json" and example is not None:
            parameter.setdefault("example", example)
    for docs in responses.values():
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            schema = doc.get("schema")
            example = _own_example(schema)
            if example is not None and "example" not in doc and "examples" not in doc:
                doc["example"] = [example] if getattr(schema, "many", False) else example


def _own_example(schema: Any) -> Any:
    """The schema class's own EXAMPLE (a subclass with more fields gives its own)."""
    cls = type(schema) if isinstance(schema, ma.Schema) else schema
    return vars(cls).get("EXAMPLE") if isinstance(cls, type) else None


PAGINATION_HEADER = {
    "description": 'JSON text: {"total", "total_pages", "first_page", "last_page", "page", '
                   '"previous_page", "next_page"} (the page numbers only where they exist)',
    "schema": {"type": "string"},
    "example": '{"total": 42, "total_pages": 3, "first_page": 1, "last_page": 3, "page": 1, '
               '"next_page": 2}',
}
RATE_LIMITED = "over this route's rate limit; retry after the seconds in Retry-After"


def nullable_on_branches(self, field, ret, **kwargs) -> dict:
    """OpenAPI 3.0 allows `nullable` only beside a `type`: a field documented as `anyOf`
    or `oneOf` branches (each saying whether it is nullable) loses the one apispec puts
    beside them."""
    if "oneOf" in ret or "anyOf" in ret:
        ret.pop("nullable", None)
        ret.pop("default", None)
    return {}


def rate_limited_endpoints() -> set[str]:
    from api.ratelimit import LIMITS

    return set(LIMITS)


# The security schemes `create_app` declares, as each kind of caller uses them.
BEARER = [{"bearer": []}]
API_KEY = [{"apiKey": []}]


def required_role_of(path: str) -> str:
    from api.access import required_role

    return required_role(path)


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
