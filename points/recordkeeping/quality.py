"""The data-quality report of each department over a period: what it sent, what
was accepted, what was rejected and why, how much came late, and the problem
data still open — so the office can push problems back to their source."""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from points.infra.db import SHANGHAI, utcnow
from points.models import Department, IngestBatch, QualityIssue

DIMENSIONS = ("completeness", "validity", "accuracy", "timeliness")
ISSUE_STATUSES = ("open", "resolved")


def period_bounds(start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in Asia/Shanghai, as aware datetimes."""
    lo = dt.datetime.combine(start or dt.date(2000, 1, 1), dt.time(), SHANGHAI)
    hi = dt.datetime.combine((end or dt.date(2999, 12, 31)) + dt.timedelta(days=1), dt.time(),
                             SHANGHAI)
    return lo, hi


def quality_report(session: Session, start: dt.date | None, end: dt.date | None) -> list[dict]:
    lo, hi = period_bounds(start, end)
    totals = {row.department_id: row for row in session.execute(
        select(IngestBatch.department_id, func.sum(IngestBatch.received).label("received"),
               func.sum(IngestBatch.accepted).label("accepted"),
               func.sum(IngestBatch.rejected).label("rejected"),
               func.sum(IngestBatch.late).label("late"))
        .where(IngestBatch.received_at >= lo, IngestBatch.received_at < hi)
        .group_by(IngestBatch.department_id))}
    by_dimension: dict[int, Counter] = defaultdict(Counter)
    for department_id, dimensions in session.execute(
            select(QualityIssue.department_id, QualityIssue.dimensions)
            .where(QualityIssue.created_at >= lo, QualityIssue.created_at < hi)):
        by_dimension[department_id].update(dimensions or [])
    now = utcnow()
    open_issues = {row.department_id: row for row in session.execute(
        select(QualityIssue.department_id, func.count().label("count"),
               func.min(QualityIssue.created_at).label("oldest"))
        .where(QualityIssue.status == "open").group_by(QualityIssue.department_id))}
    report = []
    for department in session.execute(select(Department).order_by(Department.code)).scalars():
        t = totals.get(department.id)
        received, accepted = int(t.received or 0) if t else 0, int(t.accepted or 0) if t else 0
        late = int(t.late or 0) if t else 0
        oi = open_issues.get(department.id)
        oldest = oi.oldest if oi else None
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        report.append({
            "department": department.code,
            "name": department.name,
            "received": received,
            "accepted": accepted,
            "rejected": int(t.rejected or 0) if t else 0,
            "rejected_by_dimension": {d: by_dimension[department.id][d] for d in DIMENSIONS},
            "late": late,
            "late_share": round(late / accepted, 4) if accepted else 0.0,
            "open_issues": int(oi.count) if oi else 0,
            "oldest_open_issue_days": (now - oldest).days if oldest else None,
        })
    return report
