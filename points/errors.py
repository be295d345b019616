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


class TooLarge(DomainError):
    """Content over its size limit (413)."""

    kind = "too_large"
    default_code = "FILE_TOO_LARGE"


class Unsupported(DomainError):
    """Content of a kind the service does not take (415)."""

    kind = "unsupported"
    default_code = "UNSUPPORTED_FILE"


class Unavailable(DomainError):
    """A dependency (WeChat, Redis, the database) cannot answer now (503)."""

    kind = "unavailable"
    default_code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, error_code: str | None = None,
                 retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(message, error_code, **extra)
        self.retry_after = retry_after


# Every error_code the domain raises, with the kind of error it is raised as and what
# it means for a client. The OpenAPI document's `error_code` enum and each operation's
# list of answers are built from this (with the HTTP layer's own codes,
# api/error_docs.py); tests/unit/test_error_catalogue.py checks that every code raised
# in the code is here, as the kind it is raised with. A new code: add it here.
CODES: dict[str, tuple[type[DomainError], str]] = {
    # Generic codes, when nothing more specific applies.
    "NOT_FOUND": (NotFound, "no such object, or one that belongs to someone else"),
    "CONFLICT": (Conflict, ("the change conflicts with data written at the same moment; "
                           "read again and retry")),
    "FORBIDDEN": (Forbidden, ("this kind of caller may not do this (e.g. an admin token on a "
                             "resident route, staff who are not the owner)")),
    "UNAUTHENTICATED": (Unauthenticated, ("no credentials, or a token or API key that is "
                                         "expired, revoked, unknown or of a closed account")),
    "GONE": (Gone, "the object existed but is no longer usable"),
    "VALIDATION_ERROR": (Invalid, ("a field is missing or malformed, or breaks a rule; "
                                  "`errors` names each field with its messages")),
    "RATE_LIMITED": (TooManyAttempts, ("too many requests; retry after the seconds in "
                                      "Retry-After")),
    "SERVICE_UNAVAILABLE": (Unavailable, ("a dependency cannot answer now; retry after "
                                         "Retry-After")),
    # Accounts, identity, sessions.
    "WECHAT_LOGIN_FAILED": (Unauthenticated, ("WeChat did not accept the wx.login code (used, "
                                             "expired or of another app)")),
    "WECHAT_UNAVAILABLE": (Unavailable, "WeChat is down, slow or busy; retry after Retry-After"),
    "ACCOUNT_LOCKED": (TooManyAttempts, ("too many failed sign-ins with this username; "
                                        "Retry-After says for how long")),
    "IDENTITY_REQUIRED": (Conflict, ("bind (and face-verify) a real-name identity first: "
                                    "POST /v1/me/identity/verifications, then PUT /v1/me/identity")),
    "IDENTITY_ALREADY_BOUND": (Conflict, "this account is bound to another ID number"),
    "CONSENT_REQUIRED": (Forbidden, ("grant the consent scope this needs first "
                                    "(PUT /v1/me/consents/{scope})")),
    "NOT_ELIGIBLE": (Forbidden, ("credit points and perks are for residents aged 18 or over; "
                                "on a redemption: the resident may not have this perk "
                                "(`reasons` says why)")),
    "FACE_VERIFICATION_FAILED": (Invalid, ("WeChat refused the verification request, or the "
                                          "face did not match (`verify_ret` in the body)")),
    "FACE_VERIFICATION_REQUIRED": (Invalid, ("a binding needs a face verification: send its "
                                            "`verify_id`")),
    "FACE_VERIFICATION_NOT_FOUND": (NotFound, ("no usable face verification with this verify_id "
                                              "for this account (unknown, used or expired)")),
    "NAME_MISMATCH": (Invalid, "the name does not match the name bound to this ID number"),
    # Records, repairs, objections, commitments.
    "RECORD_NOT_FOUND": (NotFound, "no such record (for this department, or of this resident)"),
    "RECORD_REVOKED": (Conflict, "the record was revoked; it no longer counts"),
    "RECORD_NOT_ENDABLE": (Conflict, "only negative records can be ended"),
    "ALREADY_REPAIRED": (Conflict, "the record is repaired already"),
    "NOT_REPAIRABLE": (Conflict, ("this record cannot be repaired in the app (its type, or it "
                                 "no longer counts)")),
    "NOT_YET_REPAIRABLE": (Conflict, ("too early to apply for repair; `repairable_from` gives "
                                     "the first day")),
    "REPAIR_PENDING": (Conflict, ("an application for this record is being decided "
                                 "(`repair_id`)")),
    "REPAIR_NOT_FOUND": (NotFound, "no such repair application (for this caller)"),
    "REPAIR_CLOSED": (Conflict, ("the repair application is decided or withdrawn already "
                                "(`current_status`)")),
    "OBJECTION_PENDING": (Conflict, ("an objection to this record is being decided "
                                    "(`objection_id`)")),
    "OBJECTION_NOT_FOUND": (NotFound, "no such objection for this department"),
    "OBJECTION_CLOSED": (Conflict, "the objection is decided already (`current_status`)"),
    "COMMITMENT_NOT_FOUND": (NotFound, "no such commitment (for this caller)"),
    "COMMITMENT_CLOSED": (Conflict, "the commitment is closed already (`current_status`)"),
    "COMMITMENT_NOT_WITHDRAWABLE": (Conflict, ("a repair commitment ends with its repair "
                                              "application: withdraw the application instead")),
    "COMMITMENT_NOT_DUE": (Conflict, ("a missing-materials commitment cannot be breached before "
                                     "its due_on")),
    "FAST_TRACK_EXCLUDED": (Conflict, ("a restricted subject, or one with an unrepaired breached "
                                      "commitment, may not be fast-tracked")),
    "ALREADY_RESOLVED": (Conflict, "the quality issue is resolved already"),
    "DEPARTMENT_EXISTS": (Conflict, "a department with this code exists already"),
    "RULE_SET_NOT_FOUND": (NotFound, "no rule set with this code"),
    "RULE_SET_EXISTS": (Conflict, ("a rule set with this code exists already; give the new "
                                  "version its own code")),
    "RULE_SET_INVALID": (Invalid, "the rule set breaks the format; `errors` names the rule"),
    # Consent policy, statements, notifications, evidence files.
    "POLICY_VERSION_UNKNOWN": (Invalid, ("the consent names another policy version than the one "
                                        "in force (GET /v1/policies/current)")),
    "NOTIFICATION_NOT_FOUND": (NotFound, "no such notification of this resident"),
    "UNSUPPORTED_FILE": (Unsupported, ("the file is not a PDF, JPEG or PNG by its content, is "
                                      "empty or malformed, or its name or declared type names "
                                      "another type")),
    "FILE_TOO_LARGE": (TooLarge, "the file is over the 5 MB an evidence file may have"),
    "ATTACHMENT_NOT_FOUND": (NotFound, ("no such evidence file of this resident (for a "
                                       "department: none cited by a case it decides); "
                                       "`attachment_ids` names those not found")),
    "ATTACHMENT_QUOTA_EXCEEDED": (Conflict, ("the resident's evidence files would exceed their "
                                            "quota (`limit_files`, `limit_bytes`)")),
    # Credit checks, workers, reports.
    "CREDIT_CHECK_NOT_FOUND": (NotFound, "no such credit check by this department"),
    "FEEDBACK_ALREADY_GIVEN": (Conflict, "feedback for this credit check was given already"),
    "WORKER_PROFILE_NOT_FOUND": (NotFound, ("declare an occupation first "
                                           "(PUT /v1/me/worker-profile)")),
    "WORKER_NOT_FOUND": (NotFound, "no worker with this user id names this merchant as employer"),
    "NOT_A_WORKER": (Conflict, ("only a worker's credit report can be shared: declare an "
                               "occupation first")),
    "SHARE_NOT_FOUND": (NotFound, "no such report share (token unknown)"),
    "SHARE_EXPIRED": (Gone, "the report link has expired or was revoked"),
    "SELF_REVIEW": (Forbidden, "a worker cannot review themselves"),
    "REPORT_NOT_VIEWED": (Conflict, "open the credit report (GET) before reviewing it"),
    "ALREADY_REVIEWED": (Conflict, ("this viewer has reviewed the worker through this link "
                                   "already")),
    # Merchants, perks, codes, redemptions.
    "MERCHANT_EXISTS": (Conflict, ("a merchant with this unified social credit code exists "
                                  "already")),
    "MERCHANT_NOT_FOUND": (NotFound, "no such merchant"),
    "MERCHANT_STATE_CONFLICT": (Conflict, ("the merchant is not in the status this needs "
                                          "(`merchant_status`)")),
    "MERCHANT_REQUIRED": (Invalid, "staff of several merchants name one in X-Merchant-Id"),
    "INVITATION_USED": (Conflict, "this invitation code has been used"),
    "INVITATION_EXPIRED": (Gone, "this invitation code is unknown or has expired"),
    "ALREADY_STAFF": (Conflict, "the caller already works for this merchant"),
    "OWNER_NOT_REMOVABLE": (Conflict, "the merchant's owner cannot be removed"),
    "PERK_NOT_FOUND": (NotFound, "no such perk of this merchant"),
    "TOKEN_USED": (Conflict, "the resident's one-time code has been used; ask for a new one"),
    "TOKEN_EXPIRED": (Gone, ("the one-time code is unknown or older than 120 s; ask for a "
                            "new one")),
    "OWN_CODE": (Conflict, "staff cannot verify or redeem their own code"),
    "VERIFICATION_NOT_FOUND": (NotFound, "no such verification at this merchant"),
    "VERIFICATION_EXPIRED": (Gone, "the verification is older than 10 minutes; scan a new code"),
    "ALREADY_REDEEMED": (Conflict, "this verification has been redeemed already"),
    "QUOTA_EXHAUSTED": (Conflict, "the perk's quota is used up"),
    "LIMIT_REACHED": (Conflict, ("the resident has had this perk as often as allowed "
                                "(`limit`)")),
    "REDEMPTION_NOT_FOUND": (NotFound, "no such redemption at this merchant"),
    "ALREADY_REVERSED": (Conflict, "this redemption has been reversed already"),
    "REVERSAL_WINDOW_CLOSED": (Conflict, "a redemption can only be reversed within a day"),
    "DATABASE_BUSY": (Unavailable, ("the row is locked by another change; retry after "
                                   "Retry-After")),
    # Idempotency-Key.
    "IDEMPOTENCY_KEY_REUSED": (Invalid, "this Idempotency-Key was used with another body"),
    "IDEMPOTENCY_IN_PROGRESS": (Conflict, ("the first request with this Idempotency-Key is "
                                          "still running; retry shortly")),
    # The staff console (api/console): its pages show these; no API route answers them.
    "WEAK_PASSWORD": (Invalid, "the new password is too short or too simple"),
    "WRONG_PASSWORD": (Invalid, "the current password given is wrong"),
    "USERNAME_TAKEN": (Conflict, "a department user or admin has this username already"),
    "DEPARTMENT_USER_NOT_FOUND": (NotFound, "no such department user in this department"),
    "UNSUPPORTED_BATCH_FILE": (Invalid, "an uploaded batch is neither .xlsx nor .csv"),
    "UNREADABLE_FILE": (Invalid, "an uploaded .xlsx file cannot be read"),
    "EMPTY_FILE": (Invalid, "an uploaded batch file holds no rows"),
    "MISSING_HEADERS": (Invalid, "an uploaded batch file lacks required column headers"),
    "TOO_MANY_ROWS": (Invalid, "an uploaded batch file holds more rows than allowed"),
}
