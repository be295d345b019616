"""The office's calendar: the State Council's holiday arrangement for a year, entered
by the credit office, which then decides working days in that year (points/office/workdays.py),
and the deadlines it moves.

chinese-calendar knows a year only once a release carries its arrangement, and the
computed fallback cannot know the swapped working days (调休). Entering the
arrangement makes working days follow it at once, and every deadline still open that
counts days of that year is computed again: repair and objection decisions (stored
with the application) and credit-check feedback (computed from the check's date, so
it follows by itself). Decided cases keep the deadline they were judged against.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from points.errors import Invalid
from points.i18n import gettext
from points.infra.db import on_commit, utcnow
from points.models import HolidayArrangement
from points.models.workflows import Objection, RepairApplication
from points.office import workdays
from points.office.audit import audit
from points.workflows.objections import OPEN as OBJECTION_OPEN
from points.workflows.repairs import DECISION_WORKING_DAYS
from points.workflows.repairs import OPEN as REPAIR_OPEN

FIRST_YEAR, LAST_YEAR = 2000, 2100


def source_for(engine: Engine) -> workdays.Source:
    """What points/office/workdays.py reads the office's arrangements with: a short read of
    its own on the engine (outside any request's transaction)."""
    def read():
        with engine.connect() as connection:
            rows = connection.execute(select(HolidayArrangement.year, HolidayArrangement.holidays,
                                             HolidayArrangement.workdays)).all()
        return [(year, _dates(holidays), _dates(days)) for year, holidays, days in rows]
    return read


def _dates(values: list[str]) -> list[dt.date]:
    return [dt.date.fromisoformat(value) for value in values]


def _check(year: int, holidays: list[dt.date], workdays_: list[dt.date]) -> None:
    errors: dict[str, list[str]] = {}
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(gettext("the calendar covers {first_year}–{last_year}", first_year=FIRST_YEAR, last_year=LAST_YEAR),
                      errors={"path": {"year": [gettext("between {first_year} and {last_year}", first_year=FIRST_YEAR, last_year=LAST_YEAR)]}})
    for name, days in (("holidays", holidays), ("workdays", workdays_)):
        outside = sorted({d.isoformat() for d in days if d.year != year})
        if outside:
            errors[name] = [f"not in {year}: {', '.join(outside)}"]
    if not holidays:
        errors.setdefault("holidays", []).append("the arrangement names its days off")
    weekdays = sorted({d.isoformat() for d in workdays_ if d.weekday() < 5})
    if weekdays:  # a swapped working day is a Saturday or Sunday made a working day
        errors.setdefault("workdays", []).append(
            f"only a Saturday or Sunday can be a swapped working day: {', '.join(weekdays)}")
    both = sorted({d.isoformat() for d in set(holidays) & set(workdays_)})
    if both:
        errors.setdefault("workdays", []).append(f"also named as days off: {', '.join(both)}")
    if errors:
        raise Invalid(gettext("the arrangement is not valid"), errors={"json": errors})


def enter(session: Session, year: int, holidays: list[dt.date], workdays_: list[dt.date],
          by: str) -> dict[str, Any]:
    """Store the office's arrangement for `year` (a PUT: the same one again changes
    nothing) and recompute the open deadlines it moves."""
    _check(year, holidays, workdays_)
    holidays, workdays_ = sorted(set(holidays)), sorted(set(workdays_))
    row = session.get(HolidayArrangement, year, with_for_update=True)
    before = None if row is None else {"holidays": row.holidays, "workdays": row.workdays}
    after = {"holidays": [d.isoformat() for d in holidays],
             "workdays": [d.isoformat() for d in workdays_]}
    if row is None:
        row = HolidayArrangement(year=year)
        session.add(row)
    row.holidays, row.workdays = after["holidays"], after["workdays"]
    row.entered_by, row.entered_at = by, utcnow()
    session.flush()
    # This process answers with the new arrangement now; every process (this one too,
    # should the transaction roll back) reads the stored one again after the commit.
    workdays.use(year, holidays, workdays_)
    on_commit(session, workdays.invalidate)
    try:
        moved = _recompute_deadlines(session, year)
        entered = view(session, year)
    finally:
        workdays.invalidate()
    audit(session, by, "calendar.entered", "calendar", year, before=before,
          after={**after, "deadlines_moved": moved})
    return {**entered, "deadlines_moved": moved}


def _recompute_deadlines(session: Session, year: int) -> dict[str, int]:
    """Open repairs and objections whose deadline counts days of `year` (it falls in
    that year or later, from an application made by its end), with the deadline
    computed again; how many moved."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    moved = {"repairs": 0, "objections": 0}
    for key, model, open_status in (("repairs", RepairApplication, REPAIR_OPEN),
                                    ("objections", Objection, OBJECTION_OPEN)):
        for case in session.execute(select(model).where(
                model.status == open_status, model.decision_due_on >= first,
                model.submitted_on <= last).with_for_update()).scalars():
            due = workdays.add_working_days(case.submitted_on, DECISION_WORKING_DAYS)
            if due != case.decision_due_on:
                case.decision_due_on = due
                moved[key] += 1
    session.flush()
    return moved


def view(session: Session, year: int) -> dict[str, Any]:
    """Every day of `year` as deadlines count it: working or not, and the source of the
    answer; the days off on weekdays and the working weekend days; the office's entry."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(gettext("the calendar covers {first_year}–{last_year}", first_year=FIRST_YEAR, last_year=LAST_YEAR),
                      errors={"path": {"year": [gettext("between {first_year} and {last_year}", first_year=FIRST_YEAR, last_year=LAST_YEAR)]}})
    row = session.get(HolidayArrangement, year)
    days = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        days.append({"date": day, "working": workdays.is_working_day(day),
                     "source": workdays.source_of(day)})
        day += dt.timedelta(days=1)
    return {
        "year": year,
        "source": days[0]["source"],
        "days_off": [d["date"] for d in days if not d["working"] and d["date"].weekday() < 5],
        "workdays": [d["date"] for d in days if d["working"] and d["date"].weekday() >= 5],
        "entered": None if row is None else {
            "holidays": _dates(row.holidays), "workdays": _dates(row.workdays),
            "entered_by": row.entered_by, "entered_at": row.entered_at},
        "days": days,
    }
