"""All mapped classes, imported here so `Base.metadata` knows every table."""
from points.db import Base
from points.models.accounts import (
    AccessLogEntry,
    AdminAccount,
    Consent,
    RefreshToken,
    RevokedToken,
    User,
)
from points.models.credit import Department, Subject
from points.models.records import (
    CreditRecord,
    IdempotencyKey,
    IngestBatch,
    QualityIssue,
    RecordVersion,
    RuleSetVersion,
    Score,
    ScoreHistory,
)

__all__ = [
    "AccessLogEntry",
    "AdminAccount",
    "Base",
    "Consent",
    "CreditRecord",
    "Department",
    "IdempotencyKey",
    "IngestBatch",
    "QualityIssue",
    "RecordVersion",
    "RefreshToken",
    "RevokedToken",
    "RuleSetVersion",
    "Score",
    "ScoreHistory",
    "Subject",
    "User",
]
