"""The error answers of the OpenAPI document: every `error_code` with its status and
meaning, and the error responses an operation documents from the codes it can answer.

`points.errors.CODES` holds the domain's codes; `HTTP_CODES` the ones the HTTP layer
answers itself (bodies it cannot read, rate limits, preconditions, a database or
cache that is down). How a route declares its codes: see `api.smorest`."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from points import errors as domain

# The status each kind of domain error is answered with (api/errors.py maps them).
KIND_STATUS = {
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
    "unauthenticated": 401,
    "gone": 410,
    "invalid": 422,
    "too_large": 413,
    "unsupported": 415,
    "too_many": 429,
    "unavailable": 503,
}

# The generic code of each status, for plain HTTP errors (domain errors carry their
# own); also what `errors(404)` declares.
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

HTTP_CODES: dict[str, tuple[int, str]] = {
    "BAD_REQUEST": (400, "the request cannot be read"),
    "MALFORMED_JSON": (400, ("the body is not valid JSON, or holds a lone UTF-16 surrogate, "
                            "nesting over 64 levels or an integer over 4300 digits")),
    "MALFORMED_BODY": (400, "a chunked body that cannot be read"),
    "METHOD_NOT_ALLOWED": (405, "the path exists, not with this method (see Allow)"),
    "PRECONDITION_FAILED": (412, ("the object changed since it was read: read it again for "
                                 "its new ETag")),
    "PAYLOAD_TOO_LARGE": (413, "the body is over the size limit"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "a body that is not application/json"),
    "PRECONDITION_REQUIRED": (428, "send the object's ETag in If-Match"),
    "HTTP_ERROR": (400, "another HTTP error; the status says which"),
    "INTERNAL_ERROR": (500, "an unexpected failure (never an answer to bad input)"),
    "DATABASE_UNAVAILABLE": (503, "the database is not reachable; retry after Retry-After"),
    "CACHE_UNAVAILABLE": (503, "Redis is not reachable; retry after Retry-After"),
}

RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                               "schema": {"type": "integer", "minimum": 0}}}
# Answered by any route whose caller signs in, by kind of caller (api/access.py).
ROLE_CODES: dict[str, tuple[str, ...]] = {
    "department": ("UNAUTHENTICATED",),
    "any": ("UNAUTHENTICATED",),
    "admin": ("UNAUTHENTICATED", "FORBIDDEN"),
    "resident": ("UNAUTHENTICATED", "FORBIDDEN"),
    "user": ("UNAUTHENTICATED", "FORBIDDEN"),
    "merchant": ("UNAUTHENTICATED", "FORBIDDEN", "MERCHANT_REQUIRED", "VALIDATION_ERROR"),
}
# Answered by every route: a database or cache that is down.
ALWAYS = ("DATABASE_UNAVAILABLE", "CACHE_UNAVAILABLE")


def catalogue() -> dict[str, tuple[int, str]]:
    """Every error_code: its status and meaning."""
    codes = {code: (KIND_STATUS[kind.kind], text) for code, (kind, text) in domain.CODES.items()}
    codes.update(HTTP_CODES)
    return codes


def code_of(item: int | str) -> str:
    """A declared answer as its error_code: a code as it is, a status as its generic code."""
    if isinstance(item, int):
        if item not in STATUS_ERROR_CODES:
            raise ValueError(f"no generic error code for status {item}")
        return STATUS_ERROR_CODES[item]
    if item not in catalogue():
        raise ValueError(f"unknown error_code {item!r}: add it to points.errors.CODES "
                         "(or api.error_docs.HTTP_CODES)")
    return item


def responses(codes: dict[str, str | None]) -> dict[int, dict[str, Any]]:
    """The error responses for these codes (code → an extra note or None), one per
    status: a description listing each code and what it means, the error body with
    `error_code` narrowed to these codes, an example, Retry-After on 429 and 503."""
    known = catalogue()
    by_status: dict[int, list[str]] = {}
    for code in sorted(codes):
        by_status.setdefault(known[code][0], []).append(code)
    answers = {}
    for status, listed in sorted(by_status.items()):
        lines = [f"`{code}`: {codes[code] or known[code][1]}" for code in listed]
        doc: dict[str, Any] = {
            "description": f"{HTTPStatus(status).phrase}, one of:\n\n"
                           + "\n".join(f"- {line}" for line in lines),
            "schema": {"allOf": [{"$ref": "#/components/schemas/Error"}, {
                "type": "object",
                "properties": {"error_code": {"type": "string", "enum": listed}}}]},
            "example": {"code": status, "status": HTTPStatus(status).phrase,
                        "error_code": listed[0], "message": known[listed[0]][1]},
        }
        if status in {429, 503}:
            doc["headers"] = RETRY_AFTER
        answers[status] = doc
    return answers
