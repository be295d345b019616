"""The person's statement (说明) on a record of theirs (《征信业管理条例》 Art. 16).

One statement per record, written and replaced by the person, removed by them at
will. It stays with the credit subject like the record itself (a later account of
the same person sees it), is shown to the person with the record, to departments in
their credit checks, and on the worker's report while the record counts. Every
change is audited with the text before and after."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from points.errors import Invalid, NotFound
from points.i18n import gettext
from points.infra.db import dialect_insert, utcnow
from points.models import CreditRecord, RecordStatement
from points.office.audit import audit

MAX_LENGTH = 500


def as_dict(statement: RecordStatement) -> dict[str, Any]:
    return {"record_id": statement.record_id, "text": statement.text,
            "created_at": statement.created_at, "updated_at": statement.updated_at}


def of_subject(session: Session, subject_id: int) -> dict[int, dict[str, Any]]:
    """Every statement of a subject, by record id."""
    rows = session.execute(select(RecordStatement)
                           .where(RecordStatement.subject_id == subject_id)).scalars()
    return {s.record_id: as_dict(s) for s in rows}


def _own_record(session: Session, subject_id: int, record_id: int) -> CreditRecord:
    record = session.get(CreditRecord, record_id)
    if record is None or record.subject_id != subject_id:
        raise NotFound(gettext("no such record"), "RECORD_NOT_FOUND")
    return record


def put(session: Session, subject_id: int, record_id: int, text: str,
        actor: str) -> RecordStatement:
    """Write or replace the statement; the same text again changes nothing."""
    text = (text or "").strip()
    if not 1 <= len(text) <= MAX_LENGTH:
        raise Invalid(gettext("the statement must have 1 to {most} characters", most=MAX_LENGTH),
                      errors={"json": {"text": [gettext("1 to {most} characters",
                                                        most=MAX_LENGTH)]}})
    record = _own_record(session, subject_id, record_id)
    now = utcnow()
    before = session.execute(select(RecordStatement).where(
        RecordStatement.record_id == record.id).with_for_update()).scalar_one_or_none()
    if before is not None and before.text == text:
        return before
    session.execute(dialect_insert(session, RecordStatement).values(
        record_id=record.id, subject_id=subject_id, text=text, created_at=now, updated_at=now,
    ).on_conflict_do_update(index_elements=["record_id"],
                            set_={"text": text, "updated_at": now}))
    audit(session, actor, "record.statement_put", "record", record.id,
          before={"text": before.text} if before else None, after={"text": text})
    session.expire_all()
    return session.get(RecordStatement, record.id)


def remove(session: Session, subject_id: int, record_id: int, actor: str) -> None:
    """Delete the statement; deleting one that is not there is not an error (a retry)."""
    record = _own_record(session, subject_id, record_id)
    gone = session.execute(delete(RecordStatement).where(RecordStatement.record_id == record.id)
                           .returning(RecordStatement.text)).scalar_one_or_none()
    if gone is not None:
        audit(session, actor, "record.statement_deleted", "record", record.id,
              before={"text": gone})

