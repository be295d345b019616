"""Credit repair (信用修复): a resident applies to repair one of their negative
records; the department that designated the record decides within 5 working days.

An approved repair sets the record `repaired` with `repaired_on` (its counting
window ends that day), keeps the earlier version, and recomputes the points in
the same transaction with the reason in the points history. The application's
commitment text becomes a public `repair` commitment.
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
from points.models.workflows import Commitment, RepairApplication
from points.office.audit import audit
from points.office.workdays import add_working_days
from points.people import notifications
from points.recordkeeping import records
from points.recordkeeping.ingestion import changed_notice
from points.rules import rule_store
from points.rules.rulesets import RuleSet
from points.scores import scoring
from points.workflows.commitments import notice
from points.workflows.status_words import status_word

DECISION_WORKING_DAYS = 5
OPEN = "submitted"


def lock_own_record(session: Session, user: User, record_id: int) -> CreditRecord:
    """The resident's record, locked; another person's record is simply not found."""
    record = session.execute(select(CreditRecord).where(CreditRecord.id == record_id)
                             .with_for_update(key_share=True)).scalar_one_or_none()
    if record is None or user.subject_id is None or record.subject_id != user.subject_id:
        raise NotFound(gettext("no such record"), "RECORD_NOT_FOUND")
    return record


def title_of(session: Session, record: CreditRecord) -> str:
    rt = rule_store.active(session).record_type(record.type)
    return rt.title if rt is not None else record.type


def apply(session: Session, user: User, record_id: int, statement: str, commitment_text: str,
          evidence: list[dict[str, str]], today: dt.date) -> RepairApplication:
    record = lock_own_record(session, user, record_id)
    rule_set = rule_store.active(session)
    if record.status == "revoked":
        raise Conflict(gettext("the record was revoked; it no longer counts"), "RECORD_REVOKED")
    if record.status == "repaired":
        raise Conflict(gettext("the record is repaired already"), "ALREADY_REPAIRED")
    shown = repairable_now(record, rule_set, today)
    _refuse_if_pending(session, record.id)

    department = session.get(Department, record.department_id)
    title = shown["title"]
    matter = f"信用修复：{title}（记录 {record.id}）"
    commitment = Commitment(
        subject_id=record.subject_id, user_id=user.id, kind="repair", content=commitment_text,
        department_id=record.department_id, matter=matter, public=True, status="active",
        signed_on=today, created_at=utcnow(),
        notice=notice(rule_set, "repair", commitment_text, department, matter, None))
    application = RepairApplication(
        record_id=record.id, subject_id=record.subject_id, user_id=user.id,
        department_id=record.department_id, statement=statement, evidence=evidence,
        status=OPEN, submitted_on=today,
        decision_due_on=add_working_days(today, DECISION_WORKING_DAYS), created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(commitment)
            session.flush()
            application.commitment_id = commitment.id
            session.add(application)
            session.flush()
    except IntegrityError as exc:  # a concurrent application won the unique index
        raise Conflict(gettext("an application for this record is being decided"),
                       "REPAIR_PENDING") from exc
    return application


def repairable_now(record: CreditRecord, rule_set: RuleSet, today: dt.date) -> dict[str, Any]:
    """The record as shown, if the rules allow its repair today: a repairable negative
    type, still counting, on or after its repairable_from (rules §6). Checked when the
    resident applies and again when the department approves, since a correction may
    have moved the record's type or dates in between."""
    shown = records.view(record, rule_set, today)
    if not shown["repairable"]:
        raise Conflict("this record cannot be repaired in the app (only its issuing "
                       "authority can end it)" if shown["kind"] == "negative"
                       else "only negative records can be repaired", "NOT_REPAIRABLE")
    until = shown["counted_until"]
    if until is not None and until <= today:
        raise Conflict(gettext("the record no longer counts; there is nothing to repair"),
                       "NOT_REPAIRABLE")
    if shown["repairable_from"] is not None and today < shown["repairable_from"]:
        raise Conflict(gettext("repair may be applied for from {repairable_from}", repairable_from=shown['repairable_from'].isoformat()),
                       "NOT_YET_REPAIRABLE", repairable_from=shown["repairable_from"])
    return shown


def _refuse_if_pending(session: Session, record_id: int) -> None:
    pending = session.execute(select(RepairApplication.id).where(
        RepairApplication.record_id == record_id, RepairApplication.status == OPEN)).first()
    if pending is not None:
        raise Conflict(gettext("an application for this record is being decided"), "REPAIR_PENDING",
                       repair_id=pending[0])


def _lock(session: Session, repair_id: int) -> RepairApplication | None:
    return session.execute(select(RepairApplication).where(RepairApplication.id == repair_id)
                           .with_for_update()).scalar_one_or_none()


def _close_commitment(session: Session, application: RepairApplication, status: str) -> None:
    if application.commitment_id is None:
        return
    commitment = session.get(Commitment, application.commitment_id)
    if commitment is not None and commitment.status == "active":
        commitment.status = status
        commitment.closed_at = utcnow()


def withdraw(session: Session, user: User, repair_id: int) -> RepairApplication:
    application = _lock(session, repair_id)
    if application is None or application.subject_id != user.subject_id:
        raise NotFound(gettext("no such repair application"), "REPAIR_NOT_FOUND")
    if application.status != OPEN:
        raise Conflict(gettext("the application is {status} already", status=status_word(application.status)), "REPAIR_CLOSED",
                       current_status=application.status)
    application.status = "withdrawn"
    application.closed_at = utcnow()
    _close_commitment(session, application, "withdrawn")
    return application


def decide(session: Session, cache: redis.Redis | None, department: Department, repair_id: int,
           approve: bool, note: str | None, today: dt.date) -> RepairApplication:
    application = _lock(session, repair_id)
    if application is None or application.department_id != department.id:
        raise NotFound(gettext("no such repair application for this department"), "REPAIR_NOT_FOUND")
    if application.status != OPEN:
        raise Conflict(gettext("the application is {status} already", status=status_word(application.status)), "REPAIR_CLOSED",
                       current_status=application.status)
    note = (note or "").strip() or None
    if not approve and note is None:
        raise Invalid(gettext("say why the repair is refused"), errors={"json": {"note": [
            gettext("is required when the repair is refused; the resident sees it")]}})
    record = session.execute(select(CreditRecord).where(CreditRecord.id == application.record_id)
                             .with_for_update(key_share=True)).scalar_one()
    by = f"department:{department.code}"
    title = title_of(session, record)
    if approve:
        if record.status != "active":
            raise Conflict(gettext("the record is {status}; refuse the application instead", status=status_word(record.status)),
                           "RECORD_REVOKED" if record.status == "revoked" else "ALREADY_REPAIRED")
        # A correction since the application may have moved the record's dates or type:
        # an approval the rules no longer allow is refused (NOT_YET_REPAIRABLE …).
        repairable_now(record, rule_store.active(session), today)
        records.keep_version(session, record, "repaired", by)
        record.status = "repaired"
        record.repaired_on = today
        notifications.send_one(session, changed_notice(record, "repaired", department.name,
                                                       rule_store.active(session)), today)
        scoring.recompute_subjects(session, cache, [record.subject_id], today, scoring.Occasion(
            "repair", record_id=record.id,
            reason=N_("{department} approved the repair of record {record_id} ({title}), application "
                      "{application_id}").format(department=department.name, record_id=record.id,
                                                 title=title, application_id=application.id)))
    else:
        _close_commitment(session, application, "expired")
    audit(session, by, "repair.approved" if approve else "repair.rejected", "repair_application",
          application.id, before={"status": application.status, "record_status": "active"},
          after={"status": "approved" if approve else "rejected",
                 "record_status": record.status}, note=note)
    notifications.close_decided(session, application, kind="repair",
                         status="approved" if approve else "rejected", by=by, note=note,
                         today=today, title=title, answer=N_("approved") if approve else N_("not approved"),
                         sender=department.name)
    return application


def mine(subject_id: int) -> Select:
    return (select(RepairApplication).where(RepairApplication.subject_id == subject_id)
            .order_by(RepairApplication.id.desc()))


def department_list(department: Department, status: str | None, overdue: bool | None,
                    today: dt.date) -> Select:
    stmt = select(RepairApplication).where(RepairApplication.department_id == department.id)
    if status:
        stmt = stmt.where(RepairApplication.status == status)
    late = (RepairApplication.status == OPEN) & (RepairApplication.decision_due_on < today)
    if overdue is True:
        stmt = stmt.where(late)
    elif overdue is False:
        stmt = stmt.where(~late)
    return stmt.order_by(RepairApplication.decision_due_on, RepairApplication.id)


def view(session: Session, application: RepairApplication, today: dt.date) -> dict[str, Any]:
    record = session.get(CreditRecord, application.record_id)
    commitment = (session.get(Commitment, application.commitment_id)
                  if application.commitment_id else None)
    return {
        "id": application.id, "record_id": application.record_id,
        "record_type": record.type if record else None,
        "record_title": title_of(session, record) if record else None,
        "source_ref": record.source_ref if record else None,
        "status": application.status, "statement": application.statement,
        "commitment": commitment.content if commitment else None,
        "commitment_id": application.commitment_id, "evidence": application.evidence,
        "submitted_on": application.submitted_on,
        "decision_due_on": application.decision_due_on,
        "overdue": application.status == OPEN and application.decision_due_on < today,
        "decided_on": application.decided_on, "decision_note": application.decision_note,
    }
