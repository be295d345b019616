"""Resident accounts: sign-in by WeChat openid, the bound identity as the resident
sees it (binding itself is `points.people.face`: face verification first), consents, and the
access log of who looked at a person's credit."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from points.errors import Invalid
from points.i18n import gettext
from points.infra import hooks
from points.infra.crypto import DataCipher
from points.infra.db import dialect_insert, utcnow
from points.models import AccessLogEntry, Consent, User
from points.models.workers import CHECK_PURPOSES
from points.people import policy
from points.people.identity import (
    is_adult,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_id_number,
)

CONSENT_SCOPES = ("credit_points", "merchant_share")
# Who may appear in a person's access log, and why (record_access's callers).
ACCESS_ACTOR_KINDS = ("merchant", "department", "report_viewer", "account")
ACCESS_PURPOSES = ("perk_verification", "credit_report", "identity_moved", *CHECK_PURPOSES)
def account_changed(session: Session, user_id: int) -> None:
    """An account's identity or consents changed: the app's hooks drop caches of them
    once the change commits (points.infra.hooks; api/gate.py)."""
    for hook in hooks.of(session).account_changed:
        hook(session, user_id)


PHONE_RE = re.compile(r"^1\d{10}$")


def user_for_openid(session: Session, openid: str) -> tuple[User, bool]:
    """The same openid is always the same user; returns (user, created)."""
    user = session.execute(select(User).where(User.openid == openid)).scalar_one_or_none()
    if user is not None:
        return user, False
    result = session.execute(dialect_insert(session, User).values(openid=openid, created_at=utcnow())
                             .on_conflict_do_nothing(index_elements=["openid"]))
    user = session.execute(select(User).where(User.openid == openid)).scalar_one()
    return user, bool(result.rowcount)


@dataclass(frozen=True)
class IdentityView:
    name_masked: str
    id_number_masked: str
    phone_masked: str | None
    eligible: bool
    verified_at: dt.datetime | None = None


def checked_identity(name: str | None, id_number: str | None,
                     phone: str | None = None) -> tuple[str, str]:
    """(name, canonical ID number) as a person gave them, or 422 naming each problem."""
    errors: dict[str, list[str]] = {}
    try:
        number = normalise_id_number(id_number or "")
    except ValueError as exc:
        errors["id_number"] = [str(exc)]
        number = ""
    name = (name or "").strip()
    if not name or len(name) > 50:
        errors["name"] = ["give the name on the ID card (1 to 50 characters)"]
    if phone is not None and not PHONE_RE.match(phone):
        errors["phone"] = ["a mainland mobile number has 11 digits starting with 1"]
    if errors:
        raise Invalid(gettext("the identity is not valid"), errors={"json": errors})
    return name, number


def identity_of(cipher: DataCipher, user: User, today: dt.date) -> IdentityView | None:
    """The account's binding, masked: the verified one, or one made before face
    verification (`verified_at` None), which shows no credit data."""
    subject = user.subject or user.unverified_subject
    if subject is None or user.name_enc is None:
        return None
    number = cipher.decrypt(subject.id_number_enc)
    name = cipher.decrypt(user.name_enc)
    phone = cipher.decrypt(user.phone_enc) if user.phone_enc else None
    return IdentityView(mask_name(name), mask_id_number(number),
                        mask_phone(phone) if phone else None, is_adult(number, today),
                        user.identity_verified_at if user.subject is not None else None)


def is_eligible(cipher: DataCipher, user: User, today: dt.date) -> bool:
    return user.subject is not None and is_adult(cipher.decrypt(user.subject.id_number_enc), today)


def set_consent(session: Session, user: User, scope: str, granted: bool,
                policy_version: str, current_version: str | None = None) -> Consent:
    """Record a consent; with `current_version`, only one given under the policy in
    force (points.people.policy) is accepted."""
    if scope not in CONSENT_SCOPES:
        raise Invalid(gettext("unknown consent scope {scope!r}", scope=scope),
                      errors={"path": {"scope": [gettext("one of {value}", value=', '.join(CONSENT_SCOPES))]}})
    if current_version is not None:
        policy.check_version(policy_version, current_version)
    consent = Consent(user_id=user.id, scope=scope, granted=granted,
                      policy_version=policy_version, at=utcnow())
    session.add(consent)
    account_changed(session, user.id)
    session.flush()
    return consent


def current_consents(session: Session, user_id: int) -> dict[str, Consent | None]:
    latest = (select(Consent.scope, func.max(Consent.id).label("id"))
              .where(Consent.user_id == user_id).group_by(Consent.scope).subquery())
    rows = session.execute(select(Consent).join(latest, Consent.id == latest.c.id)).scalars()
    found = {c.scope: c for c in rows}
    return {scope: found.get(scope) for scope in CONSENT_SCOPES}


def latest_granted(user_id, scope: str):
    """Whether the account's latest `scope` consent is a grant (NULL: none given)."""
    return (select(Consent.granted).where(Consent.user_id == user_id, Consent.scope == scope)
            .order_by(Consent.id.desc()).limit(1).scalar_subquery())


def has_consent(session: Session, user_id: int, scope: str) -> bool:
    return bool(session.execute(select(latest_granted(user_id, scope))).scalar())


def consent_history(session: Session, user_id: int) -> list[Consent]:
    return list(session.execute(
        select(Consent).where(Consent.user_id == user_id).order_by(Consent.id)).scalars())


def record_access(session: Session, subject_id: int, actor_kind: str, purpose: str,
                  actor_id: str | None = None, organisation: str | None = None,
                  reference: str | None = None) -> AccessLogEntry:
    """Every read of a person's credit by someone else goes through here (or, on the
    merchant counter, inserts the same `access_row` with a prebuilt statement)."""
    entry = AccessLogEntry(**access_row(subject_id, actor_kind, purpose, actor_id,
                                        organisation, reference))
    session.add(entry)
    return entry


def access_row(subject_id: int, actor_kind: str, purpose: str, actor_id: str | None = None,
               organisation: str | None = None, reference: str | None = None,
               at: dt.datetime | None = None) -> dict:
    """The access-log row of one read of a person's credit, as column values."""
    return {"subject_id": subject_id, "actor_kind": actor_kind, "actor_id": actor_id,
            "organisation": organisation, "purpose": purpose, "reference": reference,
            "at": at or utcnow()}
