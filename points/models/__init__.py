"""All mapped classes, imported here so `Base.metadata` knows every table."""
from points.infra.db import Base
from points.models import attachments as _attachments  # noqa: F401  (registers its tables)
from points.models import console as _console  # noqa: F401  (registers its tables)
from points.models import workers as _workers  # noqa: F401  (registers its tables)
from points.models import workflows as _workflows  # noqa: F401
from points.models.accounts import (
    AccessLogEntry,
    AdminAccount,
    Consent,
    FaceVerification,
    RefreshToken,
    RevokedToken,
    User,
)
from points.models.credit import Department, Subject
from points.models.notices import Notification
from points.models.office import AuditEntry, HolidayArrangement, Job
from points.models.records import (
    CreditRecord,
    IdempotencyKey,
    IngestBatch,
    QualityIssue,
    RecordStatement,
    RecordVersion,
    RuleSetVersion,
    Score,
    ScoreHistory,
)

__all__ = [
    "AccessLogEntry",
    "AdminAccount",
    "AuditEntry",
    "Base",
    "Consent",
    "CreditRecord",
    "Department",
    "FaceVerification",
    "HolidayArrangement",
    "IdempotencyKey",
    "IngestBatch",
    "Job",
    "Notification",
    "QualityIssue",
    "RecordStatement",
    "RecordVersion",
    "RefreshToken",
    "RevokedToken",
    "RuleSetVersion",
    "Score",
    "ScoreHistory",
    "Subject",
    "User",
]
