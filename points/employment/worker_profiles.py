"""Worker profiles: the occupation a resident declares, and their safety code
(安心码) computed from the occupational records departments pushed (rule set §6)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from points.employment.workers import worker_status
from points.errors import Invalid, NotFound
from points.i18n import gettext
from points.infra import hooks
from points.infra.db import utcnow
from points.models import User
from points.models.workers import OCCUPATIONS, WorkerProfile
from points.office.audit import audit
from points.scores import scoring


def profile_of(session: Session, user_id: int, *, lock: bool = False) -> WorkerProfile | None:
    stmt = select(WorkerProfile).where(WorkerProfile.user_id == user_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def profile_of_subject(session: Session, subject_id: int) -> WorkerProfile | None:
    return session.execute(select(WorkerProfile).where(WorkerProfile.subject_id == subject_id)
                           .order_by(WorkerProfile.id.desc()).limit(1)).scalar_one_or_none()


def _merchant_name(session: Session, merchant_id: int) -> str | None:
    """The name of the merchant a worker names as employer, None if there is no such
    merchant: merchants are incentives', asked through the app's hooks (a session
    made outside an app cannot answer: an error, not a merchant taken for missing)."""
    name_of = hooks.of(session).merchant_name
    if name_of is None:
        raise RuntimeError("this session carries no app's hooks: a merchant's name is "
                           "asked of incentives through them (api/bootstrap.py)")
    return name_of(session, merchant_id)


def _check_merchant(session: Session, merchant_id: int) -> None:
    if _merchant_name(session, merchant_id) is None:
        raise Invalid(gettext("no such merchant"),
                      errors={"json": {"merchant_id": [gettext("no such merchant")]}})


def save_profile(session: Session, user: User, occupation: str,
                 merchant_id: int | None) -> WorkerProfile:
    """Create or replace the signed-in resident's worker profile (the caller has
    checked that the identity is bound)."""
    if occupation not in OCCUPATIONS:
        raise Invalid(gettext("unknown occupation"), errors={"json": {
            "occupation": [gettext("one of {value}", value=', '.join(OCCUPATIONS))]}})
    if merchant_id is not None:
        _check_merchant(session, merchant_id)
    profile = profile_of(session, user.id, lock=True)
    now = utcnow()
    if profile is None:
        # Two first PUTs at once: the unique user_id makes the second a 409.
        profile = WorkerProfile(user_id=user.id, subject_id=user.subject_id, created_at=now)
        session.add(profile)
    profile.subject_id = user.subject_id
    profile.occupation = occupation
    if profile.merchant_id != merchant_id or (merchant_id is not None
                                              and profile.employer_status is None):
        # A newly named employer is pending until its staff confirm it; naming the same
        # one again changes nothing of their decision.
        profile.employer_status = "pending" if merchant_id is not None else None
        profile.employer_decided_at = profile.employer_decided_by = None
    profile.merchant_id = merchant_id
    profile.updated_at = now
    session.flush()
    return profile


def status_of(session: Session, subject_id: int, today: dt.date) -> dict[str, Any]:
    """The occupational summary (safety code, certificates, licences) on `today`."""
    facts = scoring.load_facts(session, [subject_id]).get(subject_id, [])
    return worker_status(facts, today)


def profile_view(session: Session, user_id: int, today: dt.date) -> dict[str, Any]:
    profile = profile_of(session, user_id)
    if profile is None:
        raise NotFound(gettext("declare your occupation first (PUT /v1/me/worker-profile)"),
                       "WORKER_PROFILE_NOT_FOUND")
    return body_of(profile, status_of(session, profile.subject_id, today), today)


def confirmed_employer(profile: WorkerProfile | None) -> int | None:
    """The merchant the worker works for, once its staff confirmed it (else None)."""
    if profile is None or profile.employer_status != "confirmed":
        return None
    return profile.merchant_id


def employer_of(session: Session, profile: WorkerProfile | None) -> dict[str, Any] | None:
    """{"merchant_id", "name"} of the confirmed employer, for the report (else None)."""
    merchant_id = confirmed_employer(profile)
    if merchant_id is None:
        return None
    name = _merchant_name(session, merchant_id)
    return None if name is None else {"merchant_id": merchant_id, "name": name}


def of_merchant(merchant_id: int, status: str | None) -> Select:
    """The worker profiles naming this merchant as employer (with status), oldest first."""
    stmt = select(WorkerProfile).where(WorkerProfile.merchant_id == merchant_id)
    if status is not None:
        stmt = stmt.where(WorkerProfile.employer_status == status)
    return stmt.order_by(WorkerProfile.id)


def decide_employment(session: Session, merchant_id: int, user_id: int, confirm: bool,
                      staff_user_id: int) -> WorkerProfile:
    """The merchant's staff confirm (or reject) that the worker works for them. Either
    decision may be changed later (a worker who left is rejected); the same one again
    is a no-op, so a retry is harmless."""
    profile = session.execute(select(WorkerProfile).where(
        WorkerProfile.user_id == user_id, WorkerProfile.merchant_id == merchant_id)
        .with_for_update()).scalar_one_or_none()
    if profile is None:
        raise NotFound(gettext("no worker names this merchant as employer"), "WORKER_NOT_FOUND")
    status = "confirmed" if confirm else "rejected"
    if profile.employer_status != status:
        before = profile.employer_status
        profile.employer_status = status
        profile.employer_decided_at = utcnow()
        profile.employer_decided_by = staff_user_id
        audit(session, f"user:{staff_user_id}", f"worker.employer_{status}", "worker_profile",
              profile.id, before={"employer_status": before},
              after={"employer_status": status, "merchant_id": merchant_id})
    session.flush()
    return profile


def body_of(profile: WorkerProfile, status: dict[str, Any], today: dt.date) -> dict[str, Any]:
    return {
        "occupation": profile.occupation,
        "merchant_id": profile.merchant_id,
        "employer_status": profile.employer_status,
        "safety_code": status["safety_code"],
        "as_of": today,
        "status": status,
        "created_at": profile.created_at,
        "updated_at": profile.updated_at,
    }
