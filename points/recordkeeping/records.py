"""A record's life after ingestion: ended or revoked by its department, shown to
its subject with status, class, counting window and repair date."""
from __future__ import annotations

import datetime as dt
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from points.errors import Conflict, Invalid, NotFound
from points.i18n import N_, gettext
from points.infra.db import utcnow
from points.models import CreditRecord, Department, RecordVersion
from points.office.audit import audit
from points.people import notifications
from points.recordkeeping import statements
from points.recordkeeping.ingestion import changed_notice, snapshot
from points.rules import engine, rule_store
from points.rules.rulesets import RuleSet
from points.scores import scoring


def department_record(session: Session, department: Department, source_ref: str) -> CreditRecord:
    record = session.execute(
        select(CreditRecord).where(CreditRecord.department_id == department.id,
                                   CreditRecord.source_ref == source_ref)
        .with_for_update(key_share=True)
    ).scalar_one_or_none()
    if record is None:
        raise NotFound(gettext("no record {source_ref!r} from this department", source_ref=source_ref),
                       "RECORD_NOT_FOUND")
    return record


def keep_version(session: Session, record: CreditRecord, change: str, by: str) -> None:
    """Save the record's current state in its history, then bump its version."""
    session.add(RecordVersion(record_id=record.id, version=record.version, change=change,
                              snapshot=snapshot(record), changed_by=by, changed_at=utcnow()))
    record.version += 1
    record.updated_at = utcnow()


def end_record(session: Session, cache: redis.Redis | None, department: Department,
               source_ref: str, ended_on: dt.date, today: dt.date) -> CreditRecord:
    record = department_record(session, department, source_ref)
    if record.status == "revoked":
        raise Conflict(gettext("the record was revoked"), "RECORD_REVOKED")
    resolved = rule_store.active(session).resolved_types.get(record.type)
    if resolved is None or resolved.kind != "negative":
        raise Conflict(gettext(engine.ENDS_ONLY_NEGATIVE), "RECORD_NOT_ENDABLE")
    start = record.decided_on or record.occurred_on
    if start is not None and ended_on < start:
        raise Invalid(gettext("ended_on is before the record's start"), errors={"json": {
            "ended_on": [gettext("must be on or after {start}", start=start.isoformat())]}})
    keep_version(session, record, "ended", f"department:{department.code}")
    audit(session, f"department:{department.code}", "record.ended", "record", record.id,
          before={"ended_on": record.ended_on}, after={"ended_on": ended_on})
    record.ended_on = ended_on
    notifications.send_one(session, changed_notice(record, "ended", department.name,
                                                   rule_store.active(session),
                                                   ended_on=ended_on.isoformat()), today)
    scoring.recompute_subjects(session, cache, [record.subject_id], today, scoring.Occasion(
        "record", record_id=record.id,
        reason=N_("{department} ended record {record_id} ({type}) on {ended_on}").format(
            department=department.name, record_id=record.id, type=record.type,
            ended_on=ended_on.isoformat())))
    return record


def revoke_record(session: Session, cache: redis.Redis | None, department: Department,
                  source_ref: str, reason: str, today: dt.date, *, cause: str = "record",
                  by: str | None = None) -> CreditRecord:
    record = department_record(session, department, source_ref)
    return revoke(session, cache, record, reason, today, cause=cause,
                  by=by or f"department:{department.code}", who=department.name)


def revoke(session: Session, cache: redis.Redis | None, record: CreditRecord, reason: str,
           today: dt.date, *, cause: str, by: str, who: str) -> CreditRecord:
    if record.status == "revoked":
        raise Conflict(gettext("the record was already revoked"), "RECORD_REVOKED")
    keep_version(session, record, "revoked", by)
    audit(session, by, "record.revoked", "record", record.id, before={"status": record.status},
          after={"status": "revoked"}, note=reason)
    record.status = "revoked"
    record.revoked_reason = reason
    record.disputed = False
    notifications.send_one(session, changed_notice(record, "revoked", who,
                                                   rule_store.active(session)), today)
    scoring.recompute_subjects(session, cache, [record.subject_id], today, scoring.Occasion(
        cause, record_id=record.id,
        reason=N_("{who} revoked record {record_id} ({type}): {reason}").format(
            who=who, record_id=record.id, type=record.type, reason=reason)))
    return record


def shown_status(record: CreditRecord, end: dt.date | None, today: dt.date,
                 negative: bool = True) -> str:
    """active, disputed, repaired, ended, revoked or expired, as the resident sees it.
    Only a negative record ends early (an ended_on stored on another kind before
    ingestion refused it does not count)."""
    if record.status in {"revoked", "repaired"}:
        return record.status
    if record.disputed:
        return "disputed"
    if negative and record.ended_on is not None and record.ended_on <= today:
        return "ended"
    if end is not None and end <= today:
        return "expired"
    return "active"


def document_no(record: CreditRecord) -> str | None:
    """The department's document number (文号), when it sent one in `details`."""
    value = (record.details or {}).get("document_no")
    return str(value) if value not in (None, "") else None


def view(record: CreditRecord, rule_set: RuleSet, today: dt.date,
         department: Department | None = None,
         statement: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record as its subject sees it: which department reported it under which
    document number, and the person's own statement (说明) on it, if any."""
    facts = scoring.facts_of(record)
    resolved = rule_set.resolved_types.get(record.type)
    start = end = repairable = None
    if resolved is not None and resolved.kind != "occupational":
        start, end = engine.window(facts, rule_set)
        repairable = engine.repairable_from(facts, rule_set)
    rt = resolved.type if resolved else None
    return {
        "id": record.id,
        "type": record.type,
        "title": rt.title if rt else record.type,
        "kind": rt.kind if rt else None,
        "class": rt.record_class if rt else None,
        "points": (engine.record_points(facts, rule_set)
                   if resolved is not None and resolved.kind != "occupational" else 0),
        "status": shown_status(record, end, today,
                               negative=resolved is not None and resolved.kind == "negative"),
        "disputed": record.disputed,
        "occurred_on": record.occurred_on,
        "decided_on": record.decided_on,
        "ended_on": record.ended_on,
        "repaired_on": record.repaired_on,
        "counted_from": start,
        "counted_until": end,
        "counting": (record.status != "revoked" and start is not None and start <= today
                     and (end is None or today < end)),
        # A revoked record is gone from the file: there is nothing left to repair.
        "repairable": bool(rt and rt.kind == "negative" and rt.repairable
                           and record.status != "revoked"),
        "repairable_from": repairable if record.status != "revoked" else None,
        "department": (None if department is None
                       else {"code": department.code, "name": department.name}),
        "document_no": document_no(record),
        "statement": statement,
        "details": record.details,
    }


def subject_records(session: Session, subject_id: int, today: dt.date) -> list[dict[str, Any]]:
    rule_set = rule_store.active(session)
    rows = session.execute(select(CreditRecord, Department)
                           .join(Department, Department.id == CreditRecord.department_id)
                           .where(CreditRecord.subject_id == subject_id)
                           .order_by(CreditRecord.id.desc())).all()
    said = statements.of_subject(session, subject_id)
    return [view(r, rule_set, today, department, said.get(r.id)) for r, department in rows]
