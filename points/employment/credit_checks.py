"""Departments' credit checks before handling a matter (逢办必查), the feedback on
how each result was used, and occupational credit files.

Decisions:
- A person the system does not know (no department ever reported on them) is
  answered with the base score and no records; no subject is created for a mere
  check. The check itself is kept (so its feedback can be given), but there is no
  access log to write: nobody's credit was read.
- The name must match the name held for the ID number: the one face verification
  confirmed, else the one departments reported (never one a resident typed),
  compared after normalisation (`points.people.identity.same_name`); otherwise 422
  NAME_MISMATCH (the request is wrong, not in conflict with the server's state).
  A subject with no name held is checked by ID number only, as ingestion does.
- A check needs no consent from the person: it is an administrative act with its
  own legal basis, and it is always written to the person's access log.
- Departments see the occupational file (licences, discipline, commendations) of a
  person whose occupation (declared in the worker profile, or on a practising
  licence) maps to the department's code; the mapping is configuration
  (`OCCUPATION_DEPARTMENTS`, default below).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from points.employment.worker_profiles import profile_of_subject, status_of
from points.employment.workers import LICENSE
from points.errors import Conflict, Invalid, NotFound
from points.i18n import gettext
from points.infra.crypto import DataCipher
from points.infra.db import utcnow
from points.models import Department
from points.models.workers import CreditCheck
from points.office.audit import audit
from points.office.workdays import add_working_days
from points.people import accounts, notifications
from points.people.identity import mask_id_number, mask_name, normalise_id_number, same_name
from points.recordkeeping import records
from points.recordkeeping.subjects import find_subject, reference_name
from points.rules import rule_store
from points.scores import scoring

FEEDBACK_WORKING_DAYS = 10
DEFAULT_OCCUPATION_DEPARTMENTS: dict[str, list[str]] = {
    "teacher": ["education"],
    "lawyer": ["justice"],
    "doctor": ["health"],
    "housekeeping": ["commerce"],
}
OCCUPATIONAL_TYPES = ("occupation.discipline", "occupation.commendation")


def feedback_due_on(checked_on: dt.date) -> dt.date:
    return add_working_days(checked_on, FEEDBACK_WORKING_DAYS)


def _negative_records(session: Session, subject_id: int, today: dt.date) -> list[dict[str, Any]]:
    return [{"record_id": r["id"], "type": r["type"], "title": r["title"], "class": r["class"],
             "points": r["points"], "status": r["status"],
             "decided_on": r["decided_on"].isoformat() if r["decided_on"] else None,
             "counted_until": r["counted_until"].isoformat() if r["counted_until"] else None,
             "department": r["department"], "document_no": r["document_no"],
             "statement": r["statement"]["text"] if r["statement"] else None}
            for r in records.subject_records(session, subject_id, today)
            if r["kind"] == "negative" and r["counting"]]


def run_check(session: Session, cipher: DataCipher, cache: redis.Redis,
              department: Department, id_number: str, name: str, purpose: str,
              matter_ref: str, today: dt.date,
              occupation_departments: Mapping[str, Sequence[str]] | None = None,
              ) -> tuple[CreditCheck, dict[str, Any] | None]:
    """Check a person's credit for a matter; returns the stored check and, when the
    department has the right, the person's occupational file."""
    try:
        number = normalise_id_number(id_number)
    except ValueError as exc:
        raise Invalid(gettext("the ID number is not valid"),
                      errors={"json": {"subject": {"id_number": [str(exc)]}}}) from exc
    name = (name or "").strip()
    subject = find_subject(session, cipher, number)
    file = None
    if subject is None:
        rule_set = rule_store.active(session)
        points, level, restricted, code = rule_set.base, rule_set.level_for(rule_set.base), \
            False, rule_set.code
        negatives: list[dict[str, Any]] = []
    else:
        held = reference_name(cipher, subject)
        if held is not None and not same_name(held, name):
            raise Invalid(gettext("the name does not match the name bound to this ID number"),
                          "NAME_MISMATCH", errors={"json": {"subject": {"name": [
                              gettext("does not match the name bound to this ID number")]}}})
        score = scoring.current_points(session, cache, subject.id, today)
        points, level, restricted, code = (score["points"], score["level"], score["restricted"],
                                           score["rule_set"])
        negatives = _negative_records(session, subject.id, today)
        file = occupational_file(session, subject.id, department,
                                 occupation_departments or DEFAULT_OCCUPATION_DEPARTMENTS, today)
        accounts.record_access(session, subject.id, "department", purpose,
                               actor_id=department.code, organisation=department.name,
                               reference=matter_ref[:200])
    check = CreditCheck(
        department_id=department.id, subject_id=subject.id if subject else None,
        id_number_masked=mask_id_number(number), name_masked=mask_name(name)[:50],
        purpose=purpose, matter_ref=matter_ref, points=points, level=level,
        restricted=restricted, rule_set=code, negative_records=negatives,
        checked_at=utcnow(), checked_on=today)
    session.add(check)
    session.flush()
    if subject is not None:
        notifications.send_one(session, notifications.Notice(
            kind="credit_checked", dedupe_key=f"credit_check:{check.id}", subject_id=subject.id,
            ref=("credit_check", check.id),
            params={"department": department.name, "purpose": purpose,
                    "matter_ref": matter_ref[:200]}), today)
    return check, file


def _occupations(session: Session, subject_id: int, licences: list[dict[str, Any]]) -> set[str]:
    found = {x["occupation"] for x in licences if x["occupation"]}
    profile = profile_of_subject(session, subject_id)
    if profile is not None:
        found.add(profile.occupation)
    return found


def occupational_file(session: Session, subject_id: int, department: Department,
                      occupation_departments: Mapping[str, Sequence[str]],
                      today: dt.date) -> dict[str, Any] | None:
    """The person's occupational file, if the department supervises one of their
    occupations; None otherwise."""
    status = status_of(session, subject_id, today)
    occupations = _occupations(session, subject_id, status["licenses"])
    covered = sorted(o for o in occupations
                     if department.code in (occupation_departments.get(o) or ()))
    if not covered:
        return None
    rows = [r for r in records.subject_records(session, subject_id, today)
            if r["type"] in (*OCCUPATIONAL_TYPES, LICENSE) and r["status"] != "revoked"]

    def entries(record_type: str) -> list[dict[str, Any]]:
        return [{"record_id": r["id"], "title": r["title"], "status": r["status"],
                 "occurred_on": r["occurred_on"], "decided_on": r["decided_on"],
                 "counted_until": r["counted_until"], "counting": r["counting"],
                 "points": r["points"]} for r in rows if r["type"] == record_type]

    file: dict[str, Any] = {
        "occupations": covered,
        "licenses": [{"occupation": x["occupation"], "license_no": x["license_no"],
                      "issued_on": x["issued_on"]} for x in status["licenses"]
                     if x["occupation"] in covered],
        "disciplines": entries("occupation.discipline"),
        "commendations": entries("occupation.commendation"),
    }
    if "housekeeping" in covered:
        file["safety_code"] = status["safety_code"]
    return file


def get_check(session: Session, department: Department, check_id: int, *,
              lock: bool = False) -> CreditCheck:
    stmt = select(CreditCheck).where(CreditCheck.id == check_id,
                                     CreditCheck.department_id == department.id)
    check = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if check is None:  # another department's check is not this one's business
        raise NotFound(gettext("no such credit check"), "CREDIT_CHECK_NOT_FOUND")
    return check


def give_feedback(session: Session, department: Department, check_id: int, action: str,
                  note: str | None) -> CreditCheck:
    """Record once how the result was used. A restricted person may not be fast-tracked
    (joint punishment, rule set §3)."""
    check = get_check(session, department, check_id)
    if action == "fast_track" and check.restricted:
        raise Conflict(gettext("a restricted person may not be fast-tracked"), "FAST_TRACK_EXCLUDED")
    done = session.execute(
        update(CreditCheck).where(CreditCheck.id == check.id, CreditCheck.feedback_at.is_(None))
        .values(feedback_action=action, feedback_note=(note or "").strip() or None,
                feedback_at=utcnow()))
    if done.rowcount != 1:
        raise Conflict(gettext("feedback for this check was given already"), "FEEDBACK_ALREADY_GIVEN")
    audit(session, f"department:{department.code}", "credit_check.feedback", "credit_check",
          check.id, after={"action": action})
    session.refresh(check)
    return check


def last_day_overdue_if_checked(today: dt.date) -> dt.date:
    """The latest check date whose feedback deadline is before `today`.

    add_working_days is monotonic in its start date, so every check made on or
    before this date and still without feedback is overdue."""
    day = today - dt.timedelta(days=FEEDBACK_WORKING_DAYS)
    while feedback_due_on(day) >= today:
        day -= dt.timedelta(days=1)
    return day


def missing_feedback_stmt(today: dt.date, department_id: int | None = None,
                          overdue_only: bool = True):
    stmt = select(CreditCheck).where(CreditCheck.feedback_at.is_(None))
    if overdue_only:
        stmt = stmt.where(CreditCheck.checked_on <= last_day_overdue_if_checked(today))
    if department_id is not None:
        stmt = stmt.where(CreditCheck.department_id == department_id)
    return stmt.order_by(CreditCheck.id)

