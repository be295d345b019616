"""Everything held about a resident, for the PIPL right of access and copy
(GET /v1/me/export). Identity is masked; records are the resident's own."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from points.infra.crypto import DataCipher
from points.models import AccessLogEntry, ScoreHistory, User
from points.models.workers import ReportShare, WorkerProfile
from points.people import accounts
from points.recordkeeping import records
from points.workflows import commitments, objections, repairs


def _row(obj: Any, skip: set[str] = frozenset()) -> dict[str, Any]:
    out = {}
    for column in obj.__table__.columns:
        if column.key in skip:
            continue
        value = getattr(obj, column.key)
        out[column.key] = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value
    return out


def rows(session: Session, stmt, skip: set[str] = frozenset()) -> list[dict[str, Any]]:
    """The ORM objects `stmt` selects, as JSON-ready dicts without the columns `skip`."""
    return [_row(o, skip) for o in session.execute(stmt).scalars()]


# A section of the export held by another package: (session, user) → its rows.
Section = Callable[[Session, User], Any]


def export(session: Session, cipher: DataCipher, user: User, today: dt.date,
           sections: Mapping[str, Section] = {}) -> dict[str, Any]:
    """Everything held about the user; `sections` adds what other packages hold
    (the merchants' redemptions), keyed by the name it appears under."""
    identity = accounts.identity_of(cipher, user, today)
    subject_id = user.subject_id
    data: dict[str, Any] = {
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "account": {"id": user.id, "created_at": user.created_at.isoformat(),
                    "identity_bound_at": user.identity_bound_at.isoformat()
                    if user.identity_bound_at else None},
        "identity": None if identity is None else identity.__dict__,
        "consents": [_row(c, {"user_id"}) for c in accounts.consent_history(session, user.id)],
        "report_shares": rows(session, select(ReportShare).where(ReportShare.user_id == user.id)
                               .order_by(ReportShare.id), {"token_hash", "user_id"}),
        "worker_profile": next(iter(rows(session, select(WorkerProfile)
                                          .where(WorkerProfile.user_id == user.id))), None),
        **{name: section(session, user) for name, section in sections.items()},
    }
    if subject_id is None:
        data.update(records=[], points_history=[], commitments=[], repairs=[], objections=[],
                    access_log=[])
        return data
    data["records"] = [{k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v)
                        for k, v in r.items()}
                       for r in records.subject_records(session, subject_id, today)]
    data["points_history"] = rows(session, select(ScoreHistory)
                                   .where(ScoreHistory.subject_id == subject_id)
                                   .order_by(ScoreHistory.id), {"subject_id"})
    data["commitments"] = rows(session, commitments.mine(subject_id, None, today),
                                {"subject_id"})
    data["repairs"] = rows(session, repairs.mine(subject_id), {"subject_id"})
    data["objections"] = rows(session, objections.mine(subject_id), {"subject_id"})
    data["access_log"] = rows(session, select(AccessLogEntry)
                               .where(AccessLogEntry.subject_id == subject_id)
                               .order_by(AccessLogEntry.id), {"subject_id"})
    return data
