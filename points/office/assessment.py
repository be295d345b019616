"""The department assessment (目标责任考核): per department over a period — data
timeliness and quality, repairs and objections decided within their deadline and
those overdue, credit checks with and without usage feedback."""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from points.employment.credit_checks import last_day_overdue_if_checked
from points.i18n import N_, gettext
from points.models import Department
from points.models.workers import CreditCheck
from points.models.workflows import Objection, RepairApplication
from points.recordkeeping import quality

COLUMNS = [
    "department", "name", "records_received", "records_accepted", "records_rejected",
    "acceptance_rate", "late_share", "open_quality_issues",
    "repairs_decided", "repairs_decided_on_time", "repairs_overdue",
    "objections_decided", "objections_decided_on_time", "objections_overdue",
    "credit_checks", "credit_checks_with_feedback", "credit_checks_feedback_overdue",
    # The old name of credit_checks_feedback_overdue, kept for one release (deprecated):
    # "missing feedback" means "none yet" in the departments' own list.
    "credit_checks_missing_feedback",
]


def _decisions(session: Session, model, open_status: str, start: dt.date, end: dt.date,
               today: dt.date) -> dict[int, dict[str, int]]:
    """Decided in the period (and how many by their due date), and open ones overdue now."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: {"decided": 0, "on_time": 0,
                                                          "overdue": 0})
    for department_id, decided, on_time in session.execute(
            select(model.department_id, func.count(),
                   func.sum(case((model.decided_on <= model.decision_due_on, 1), else_=0)))
            .where(model.decided_on.is_not(None), model.decided_on >= start,
                   model.decided_on <= end)
            .group_by(model.department_id)):
        out[department_id]["decided"] = int(decided)
        out[department_id]["on_time"] = int(on_time or 0)
    for department_id, overdue in session.execute(
            select(model.department_id, func.count())
            .where(model.status == open_status, model.decision_due_on < today)
            .group_by(model.department_id)):
        out[department_id]["overdue"] = int(overdue)
    return out


def assessment(session: Session, start: dt.date | None, end: dt.date | None,
               today: dt.date) -> list[dict]:
    start = start or dt.date(2000, 1, 1)
    end = end or today
    data_quality = {row["department"]: row for row in quality.quality_report(session, start, end)}
    repairs = _decisions(session, RepairApplication, "submitted", start, end, today)
    objections = _decisions(session, Objection, "pending", start, end, today)
    checks = {row[0]: (int(row[1]), int(row[2] or 0)) for row in session.execute(
        select(CreditCheck.department_id, func.count(),
               func.sum(case((CreditCheck.feedback_at.is_not(None), 1), else_=0)))
        .where(CreditCheck.checked_on >= start, CreditCheck.checked_on <= end)
        .group_by(CreditCheck.department_id))}
    # Same rule as the departments' own list (?overdue=true): no feedback 10 working days on.
    overdue = dict(session.execute(
        select(CreditCheck.department_id, func.count())
        .where(CreditCheck.feedback_at.is_(None),
               CreditCheck.checked_on <= last_day_overdue_if_checked(today),
               CreditCheck.checked_on >= start, CreditCheck.checked_on <= end)
        .group_by(CreditCheck.department_id)).all())
    rows = []
    for department in session.execute(select(Department).order_by(Department.code)).scalars():
        q = data_quality[department.code]
        r, o = repairs[department.id], objections[department.id]
        total_checks, with_feedback = checks.get(department.id, (0, 0))
        rows.append({
            "department": department.code, "name": department.name,
            "records_received": q["received"], "records_accepted": q["accepted"],
            "records_rejected": q["rejected"],
            "acceptance_rate": round(q["accepted"] / q["received"], 4) if q["received"] else None,
            "late_share": q["late_share"], "open_quality_issues": q["open_issues"],
            "repairs_decided": r["decided"], "repairs_decided_on_time": r["on_time"],
            "repairs_overdue": r["overdue"],
            "objections_decided": o["decided"], "objections_decided_on_time": o["on_time"],
            "objections_overdue": o["overdue"],
            "credit_checks": total_checks, "credit_checks_with_feedback": with_feedback,
            "credit_checks_feedback_overdue": int(overdue.get(department.id, 0)),
            "credit_checks_missing_feedback": int(overdue.get(department.id, 0)),
        })
    return rows


# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula, prefixed with ' (OWASP); numbers
    are numbers, and a negative one is not a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# The CSV's header row, in the reader's language (the JSON keeps the column names).
HEADERS = {
    "department": N_("department code"), "name": N_("department"),
    "records_received": N_("records received"), "records_accepted": N_("records accepted"),
    "records_rejected": N_("records rejected"), "acceptance_rate": N_("acceptance rate"),
    "late_share": N_("share reported late"), "open_quality_issues": N_("open quality issues"),
    "repairs_decided": N_("repairs decided"),
    "repairs_decided_on_time": N_("repairs decided on time"),
    "repairs_overdue": N_("repairs overdue"), "objections_decided": N_("objections decided"),
    "objections_decided_on_time": N_("objections decided on time"),
    "objections_overdue": N_("objections overdue"), "credit_checks": N_("credit checks"),
    "credit_checks_with_feedback": N_("credit checks with feedback"),
    "credit_checks_feedback_overdue": N_("credit checks with feedback overdue"),
    "credit_checks_missing_feedback": N_("credit checks without feedback (deprecated)"),
}


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writerow({column: gettext(HEADERS[column]) for column in COLUMNS})
    writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()
