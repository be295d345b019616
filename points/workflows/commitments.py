"""Credit commitments (信用承诺): signed by residents, verified by departments.

A commitment keeps the notice the resident was shown when signing — what is
promised, the department's power to verify it and the consequence of a breach —
as evidence that they were told. The department reports the outcome; it becomes a
`commitment.fulfilled` or `commitment.breached(_serious)` record written through
ingestion like any pushed record, so the points change at once.

Fast-track commitments (审批替代, 容缺受理) let a procedure go ahead on a promise,
so they are refused to a restricted subject and to one with a breach that still
counts (联合惩戒).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from points.errors import Conflict, Invalid, NotFound
from points.i18n import gettext
from points.infra.crypto import DataCipher
from points.infra.db import utcnow
from points.models import Department, Subject, User
from points.models.workflows import FAST_TRACK_KINDS, Commitment
from points.office.audit import audit
from points.people import notifications
from points.recordkeeping import ingestion
from points.rules import engine, rule_store
from points.rules.rulesets import RuleSet
from points.scores import scoring
from points.workflows.status_words import status_word

BREACH_TYPES = ("commitment.breached", "commitment.breached_serious")
FULFILLED_TYPE = "commitment.fulfilled"
# Kinds whose promise simply lapses on its due date: nobody reports an outcome.
LAPSING_KINDS = ("voluntary", "industry")
LONGEST_TERM = dt.timedelta(days=3 * 366)


def _points_of(rule_set: RuleSet, code: str) -> int | None:
    rt = rule_set.record_type(code)
    return rt.points if rt is not None else None


def notice(rule_set: RuleSet, kind: str, content: str, department: Department | None,
           matter: str | None, due_on: dt.date | None) -> dict[str, Any]:
    """The text shown at signing, kept with the commitment."""
    who = department.name if department is not None else "有关行政机关和信用主管部门"
    promise = content if due_on is None else f"{content}（于 {due_on.isoformat()} 前履行）"
    if matter:
        promise = f"就“{matter}”承诺：{promise}"
    breached = _points_of(rule_set, "commitment.breached")
    serious = _points_of(rule_set, "commitment.breached_serious")
    consequence = (f"如违反承诺，将记入个人信用记录：违反信用承诺 {breached} 分，"
                   f"严重违反信用承诺 {serious} 分，可依法申请信用修复。")
    if kind in FAST_TRACK_KINDS:
        consequence += "违诺记录有效期间，不再适用审批替代、容缺受理等承诺便利措施。"
    return {
        "promise": promise,
        "verification": f"{who}有权对承诺内容及履行情况进行核查，本人应予配合。",
        "consequence": consequence,
        "rule_set": rule_set.code,
    }


def exclusion(session: Session, subject_id: int, today: dt.date) -> str | None:
    """Why the subject may not make fast-track commitments today, or None."""
    rule_set = rule_store.active(session)
    facts = scoring.load_facts(session, [subject_id]).get(subject_id, [])
    if engine.compute(facts, rule_set, today).restricted:
        return "a serious dishonesty record restricts you (联合惩戒)"
    for fact in facts:
        if fact.type in BREACH_TYPES and fact.type in rule_set.resolved_types \
                and engine.counts_on(fact, rule_set, today):
            return "a breached commitment has not been repaired"
    return None


def _department(session: Session, code: str) -> Department:
    department = session.execute(select(Department).where(
        Department.code == code, Department.enabled)).scalar_one_or_none()
    if department is None:
        raise Invalid(gettext("unknown department"), errors={"json": {"department": [
            gettext("no department {code!r}", code=code)]}})
    return department


def make(session: Session, user: User, *, kind: str, content: str, department_code: str | None,
         matter: str | None, due_on: dt.date | None, public: bool,
         today: dt.date) -> Commitment:
    """A commitment signed by the resident through POST /v1/me/commitments."""
    errors: dict[str, list[str]] = {}
    if kind == "repair":
        errors["kind"] = [("a repair commitment is made with a repair application "
                           "(POST /v1/me/repairs)")]
    if kind in FAST_TRACK_KINDS:
        for name, value in (("department", department_code), ("matter", matter),
                            ("due_on", due_on)):
            if not value:
                errors[name] = [f"is required for a {kind} commitment"]
    if due_on is not None and due_on < today:
        errors["due_on"] = ["must be today or later"]
    elif due_on is not None and due_on > today + LONGEST_TERM:
        errors["due_on"] = ["must be within three years"]
    if errors:
        raise Invalid(gettext("the commitment is not complete"), errors={"json": errors})
    department = _department(session, department_code) if department_code else None
    if kind in FAST_TRACK_KINDS:
        reason = exclusion(session, user.subject_id, today)
        if reason is not None:
            raise Conflict(gettext("fast-track commitments are not available: {reason}", reason=reason),
                           "FAST_TRACK_EXCLUDED")
    commitment = Commitment(
        subject_id=user.subject_id, user_id=user.id, kind=kind, content=content,
        department_id=department.id if department else None, matter=matter, due_on=due_on,
        public=public, status="active", signed_on=today, created_at=utcnow(),
        notice=notice(rule_store.active(session), kind, content, department, matter, due_on))
    session.add(commitment)
    session.flush()
    return commitment


def withdraw(session: Session, user: User, commitment_id: int) -> Commitment:
    commitment = session.execute(select(Commitment).where(
        Commitment.id == commitment_id).with_for_update()).scalar_one_or_none()
    if commitment is None or commitment.subject_id != user.subject_id:
        raise NotFound(gettext("no such commitment"), "COMMITMENT_NOT_FOUND")
    if commitment.kind == "repair":
        raise Conflict(gettext("a repair commitment ends with its repair application; withdraw the "
                       "application instead"), "COMMITMENT_NOT_WITHDRAWABLE")
    if commitment.status != "active":
        raise Conflict(gettext("the commitment is {status} already", status=status_word(commitment.status)), "COMMITMENT_CLOSED",
                       current_status=commitment.status)
    commitment.status = "withdrawn"
    commitment.closed_at = utcnow()
    return commitment


def shown_status(commitment: Commitment, today: dt.date) -> str:
    if (commitment.status == "active" and commitment.kind in LAPSING_KINDS
            and commitment.due_on is not None and commitment.due_on < today):
        return "expired"
    return commitment.status


def is_overdue(commitment: Commitment, today: dt.date) -> bool:
    """A missing-materials commitment past its date with no outcome reported."""
    return (commitment.kind == "missing_materials" and commitment.status == "active"
            and commitment.due_on is not None and commitment.due_on < today)


def _lapsed(today: dt.date):
    return and_(Commitment.status == "active", Commitment.kind.in_(LAPSING_KINDS),
                Commitment.due_on.is_not(None), Commitment.due_on < today)


def with_status(stmt: Select, status: str | None, today: dt.date) -> Select:
    """Filter by the status as shown (an active, lapsed promise shows `expired`)."""
    if status is None:
        return stmt
    if status == "expired":
        return stmt.where(or_(Commitment.status == "expired", _lapsed(today)))
    if status == "active":
        return stmt.where(Commitment.status == "active", ~_lapsed(today))
    return stmt.where(Commitment.status == status)


def mine(subject_id: int, status: str | None, today: dt.date) -> Select:
    stmt = select(Commitment).where(Commitment.subject_id == subject_id)
    return with_status(stmt, status, today).order_by(Commitment.id.desc())


def public_list(kind: str | None) -> Select:
    stmt = select(Commitment).where(Commitment.public, Commitment.status != "withdrawn")
    if kind:
        stmt = stmt.where(Commitment.kind == kind)
    return stmt.order_by(Commitment.id.desc())


def department_list(department: Department, status: str | None, overdue: bool | None,
                    today: dt.date) -> Select:
    stmt = with_status(select(Commitment).where(Commitment.department_id == department.id),
                       status, today)
    late = and_(Commitment.kind == "missing_materials", Commitment.status == "active",
                Commitment.due_on.is_not(None), Commitment.due_on < today)
    if overdue is True:
        stmt = stmt.where(late)
    elif overdue is False:
        stmt = stmt.where(~late)
    return stmt.order_by(Commitment.due_on.is_(None), Commitment.due_on, Commitment.id)


@dataclass(frozen=True)
class _DepartmentWriting:
    """The department as `ingestion.ingest` sees it (it reads only these fields),
    allowed also the one commitment record type being written.

    A commitment's outcome is the finding of the department the promise was made
    to, whatever types it pushes in its batches, so only the allowed-types check is
    widened; every other check of ingestion still applies. The real Department row
    is not touched, so nothing of this is ever stored."""

    id: int
    code: str
    name: str
    record_types: tuple[str, ...]


def record_outcome(session: Session, cipher: DataCipher, cache: redis.Redis | None,
                   department: Department, commitment_id: int, outcome: str, serious: bool,
                   today: dt.date) -> Commitment:
    if outcome == "fulfilled" and serious:
        raise Invalid(gettext("only a breach can be serious"), errors={"json": {"serious": [
            gettext("must be false when the outcome is fulfilled")]}})
    commitment = session.execute(select(Commitment).where(
        Commitment.id == commitment_id).with_for_update()).scalar_one_or_none()
    if commitment is None or commitment.department_id != department.id:
        raise NotFound(gettext("no such commitment in this department's matters"),
                       "COMMITMENT_NOT_FOUND")
    if commitment.status != "active":
        raise Conflict(gettext("the commitment is {status} already", status=status_word(commitment.status)), "COMMITMENT_CLOSED",
                       current_status=commitment.status)
    if (outcome == "breached" and commitment.kind == "missing_materials"
            and commitment.due_on is not None and today <= commitment.due_on):
        # 容缺受理: the materials may still come until the end of due_on; a breach is the
        # finding that they did not. (A false statement under approval_substitute may be
        # found at any time, so that kind has no such wait.)
        raise Conflict(gettext("the materials are due on {due_on}: a breach can be found only after that day", due_on=commitment.due_on.isoformat()), "COMMITMENT_NOT_DUE",
                       due_on=commitment.due_on.isoformat())
    record_type = (FULFILLED_TYPE if outcome == "fulfilled"
                   else BREACH_TYPES[1] if serious else BREACH_TYPES[0])
    subject = session.get(Subject, commitment.subject_id)
    user = session.get(User, commitment.user_id) if commitment.user_id else None
    name_enc = (user.name_enc if user is not None and user.name_enc else subject.name_enc)
    raw = {
        "source_ref": f"commitment-{commitment.id}",
        "subject": {"id_number": cipher.decrypt(subject.id_number_enc),
                    "name": cipher.decrypt(name_enc) if name_enc else "—"},
        "type": record_type,
        ("occurred_on" if outcome == "fulfilled" else "decided_on"): today.isoformat(),
        "details": {"commitment_id": commitment.id, "kind": commitment.kind,
                    "matter": commitment.matter},
    }
    writer = _DepartmentWriting(department.id, department.code, department.name,
                                (*(department.record_types or []), record_type))
    result = ingestion.ingest(session, cipher, cache, writer, [raw], today)  # type: ignore[arg-type]
    if result["rejected"]:
        raise Invalid(gettext("the outcome record could not be written"),
                      errors={"record": result["rejected"][0]["problems"]})
    audit(session, f"department:{department.code}", f"commitment.{outcome}", "commitment",
          commitment.id, before={"status": commitment.status},
          after={"status": outcome, "record_id": result["accepted"][0]["record_id"],
                 "serious": serious})
    commitment.status = "fulfilled" if outcome == "fulfilled" else "breached"
    commitment.outcome_on = today
    commitment.outcome_serious = serious if outcome == "breached" else None
    commitment.outcome_record_id = result["accepted"][0]["record_id"]
    commitment.decided_by = f"department:{department.code}"
    commitment.closed_at = utcnow()
    notifications.send_one(session, notifications.Notice(
        kind="commitment_outcome", dedupe_key=f"commitment:{commitment.id}:outcome",
        user_id=commitment.user_id, subject_id=commitment.subject_id,
        ref=("commitment", commitment.id),
        params={"matter": commitment.matter or commitment.content, "outcome": outcome,
                "department": department.name, "serious": commitment.outcome_serious}), today)
    return commitment


def view(commitment: Commitment, today: dt.date, department: Department | None = None
         ) -> dict[str, Any]:
    return {
        "id": commitment.id, "kind": commitment.kind, "content": commitment.content,
        "department": department.code if department else None,
        "department_name": department.name if department else None,
        "matter": commitment.matter, "due_on": commitment.due_on, "public": commitment.public,
        "status": shown_status(commitment, today), "overdue": is_overdue(commitment, today),
        "notice": commitment.notice, "signed_on": commitment.signed_on,
        "outcome_on": commitment.outcome_on, "outcome_serious": commitment.outcome_serious,
        "outcome_record_id": commitment.outcome_record_id,
    }


def departments_of(session: Session, commitments: list[Commitment]) -> dict[int, Department]:
    ids = {c.department_id for c in commitments if c.department_id is not None}
    if not ids:
        return {}
    return {d.id: d for d in session.execute(
        select(Department).where(Department.id.in_(ids))).scalars()}
