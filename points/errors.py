"""Domain errors. Services raise these; `api.errors` maps each kind to HTTP once.

Each carries a stable `error_code` from the API contract and optional extra
fields that belong in the error body (e.g. `repairable_from`).
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    kind = "conflict"
    default_code = "CONFLICT"

    def __init__(self, message: str, error_code: str | None = None, *,
                 commit: bool = False, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code or self.default_code
        self.extra = extra
        # Rarely, a refusal must still keep what it wrote (e.g. revoking a stolen
        # refresh-token family); the unit of work commits instead of rolling back.
        self.commit = commit


class NotFound(DomainError):
    kind = "not_found"
    default_code = "NOT_FOUND"


class Conflict(DomainError):
    kind = "conflict"
    default_code = "CONFLICT"


class Forbidden(DomainError):
    kind = "forbidden"
    default_code = "FORBIDDEN"


class Unauthenticated(DomainError):
    kind = "unauthenticated"
    default_code = "UNAUTHENTICATED"


class Gone(DomainError):
    kind = "gone"
    default_code = "GONE"


class Invalid(DomainError):
    """Input that is well-formed but breaks a rule (422)."""

    kind = "invalid"
    default_code = "VALIDATION_ERROR"

    def __init__(self, message: str, error_code: str | None = None,
                 errors: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(message, error_code, **extra)
        self.errors = errors


class TooManyAttempts(DomainError):
    """Refused for a while after repeated failures (429, with Retry-After)."""

    kind = "too_many"
    default_code = "RATE_LIMITED"

    def __init__(self, message: str, error_code: str | None = None,
                 retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(message, error_code, **extra)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency (WeChat, Redis, the database) cannot answer now (503)."""

    kind = "unavailable"
    default_code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, error_code: str | None = None,
                 retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(message, error_code, **extra)
        self.retry_after = retry_after
