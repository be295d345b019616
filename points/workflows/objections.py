"""Objections (异议): a resident disputes one of their records.

The record shows `disputed` at once and keeps counting (a dispute is not a
finding); the department that reported it decides within 5 working days. Upheld:
the record is revoked and the points recomputed, the history saying why.
Rejected: the record is no longer disputed and the note tells the resident why.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import redis
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from points.errors import Conflict, Invalid, NotFound
from points.i18n import N_, gettext
from points.infra.db import utcnow
from points.models import CreditRecord, Department, User
from points.models.workflows import Objection
from points.office.audit import audit
from points.office.workdays import add_working_days
from points.people import notifications
from points.recordkeeping import records
from points.workflows.repairs import DECISION_WORKING_DAYS, lock_own_record, title_of
from points.workflows.status_words import status_word

OPEN = "pending"


def raise_objection(session: Session, user: User, record_id: int, reason: str,
                    today: dt.date) -> Objection:
    record = lock_own_record(session, user, record_id)
    if record.status == "revoked":
        raise Conflict(gettext("the record was revoked; it no longer counts"), "RECORD_REVOKED")
    pending = session.execute(select(Objection.id).where(
        Objection.record_id == record.id, Objection.status == OPEN)).first()
    if pending is not None:
        raise Conflict(gettext("an objection to this record is being decided"), "OBJECTION_PENDING",
                       objection_id=pending[0])
    objection = Objection(
        record_id=record.id, subject_id=record.subject_id, user_id=user.id,
        department_id=record.department_id, reason=reason, status=OPEN, submitted_on=today,
        decision_due_on=add_working_days(today, DECISION_WORKING_DAYS), created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(objection)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(gettext("an objection to this record is being decided"),
                       "OBJECTION_PENDING") from exc
    records.keep_version(session, record, "disputed", f"user:{user.id}")
    record.disputed = True
    return objection


def decide(session: Session, cache: redis.Redis | None, department: Department,
           objection_id: int, upheld: bool, note: str | None, today: dt.date) -> Objection:
    objection = session.execute(select(Objection).where(Objection.id == objection_id)
                                .with_for_update()).scalar_one_or_none()
    if objection is None or objection.department_id != department.id:
        raise NotFound(gettext("no such objection for this department"), "OBJECTION_NOT_FOUND")
    if objection.status != OPEN:
        raise Conflict(gettext("the objection is {status} already", status=status_word(objection.status)), "OBJECTION_CLOSED",
                       current_status=objection.status)
    note = (note or "").strip() or None
    if not upheld and note is None:
        raise Invalid(gettext("say why the objection is rejected"), errors={"json": {"note": [
            gettext("is required when the objection is rejected; the resident sees it")]}})
    record = session.execute(select(CreditRecord).where(CreditRecord.id == objection.record_id)
                             .with_for_update(key_share=True)).scalar_one()
    by = f"department:{department.code}"
    title = title_of(session, record)
    if upheld:
        if record.status != "revoked":  # the department may have revoked it meanwhile
            records.revoke(session, cache, record,
                           N_("objection {objection_id} upheld: {reason}").format(
                               objection_id=objection.id, reason=note or objection.reason),
                           today, cause="objection", by=by, who=department.name)
    else:
        records.keep_version(session, record, "dispute_rejected", by)
        record.disputed = False
    audit(session, by, "objection.upheld" if upheld else "objection.rejected", "objection",
          objection.id, before={"status": objection.status},
          after={"status": "upheld" if upheld else "rejected", "record_status": record.status},
          note=note)
    notifications.close_decided(session, objection, kind="objection",
                         status="upheld" if upheld else "rejected", by=by, note=note,
                         today=today, title=title, answer=N_("upheld") if upheld else N_("not accepted"),
                         sender=department.name)
    return objection


def mine(subject_id: int) -> Select:
    return select(Objection).where(Objection.subject_id == subject_id).order_by(
        Objection.id.desc())


def department_list(department: Department, status: str | None, overdue: bool | None,
                    today: dt.date) -> Select:
    stmt = select(Objection).where(Objection.department_id == department.id)
    if status:
        stmt = stmt.where(Objection.status == status)
    late = (Objection.status == OPEN) & (Objection.decision_due_on < today)
    if overdue is True:
        stmt = stmt.where(late)
    elif overdue is False:
        stmt = stmt.where(~late)
    return stmt.order_by(Objection.decision_due_on, Objection.id)


def view(session: Session, objection: Objection, today: dt.date) -> dict[str, Any]:
    record = session.get(CreditRecord, objection.record_id)
    return {
        "id": objection.id, "record_id": objection.record_id,
        "record_type": record.type if record else None,
        "record_title": title_of(session, record) if record else None,
        "source_ref": record.source_ref if record else None,
        "status": objection.status, "reason": objection.reason,
        "submitted_on": objection.submitted_on, "decision_due_on": objection.decision_due_on,
        "overdue": objection.status == OPEN and objection.decision_due_on < today,
        "decided_on": objection.decided_on, "decision_note": objection.decision_note,
    }
