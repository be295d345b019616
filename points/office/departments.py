"""Departments: creation, API keys (shown once, stored hashed), allowed types."""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from points.errors import Conflict, Invalid, NotFound
from points.i18n import gettext
from points.infra.crypto import hash_token
from points.infra.db import utcnow
from points.models import Department
from points.office.audit import audit

CODE_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


def new_api_key() -> str:
    return "dk_" + secrets.token_urlsafe(32)


def _check_types(record_types: Iterable[str], known: set[str]) -> list[str]:
    types = sorted(set(record_types))
    unknown = [t for t in types if t not in known]
    if unknown:
        raise Invalid(gettext("unknown record types"), errors={"json": {
            "record_types": [f"unknown record type {t!r}" for t in unknown]}})
    return types


def _state(department: Department) -> dict:
    return {"name": department.name, "record_types": department.record_types,
            "enabled": department.enabled}


def create_department(session: Session, code: str, name: str, record_types: Iterable[str],
                      known_types: set[str], actor: str = "system",
                      key: str | None = None) -> tuple[Department, str]:
    """A new department and its API key (a new random one unless `key` is given: the
    demo data's keys are derived so that they stay the same across restarts)."""
    if not CODE_RE.match(code):
        raise Invalid(gettext("bad department code"), errors={"json": {"code": [
            gettext("2-40 characters: lower-case letters, digits, '_' or '-', starting with a letter")]}})
    if session.execute(select(Department.id).where(Department.code == code)).first():
        raise Conflict(gettext("department {code!r} exists already", code=code), "DEPARTMENT_EXISTS")
    key = key or new_api_key()
    department = Department(code=code, name=name, record_types=_check_types(record_types, known_types),
                            api_key_hash=hash_token(key), key_rotated_at=utcnow(), enabled=True,
                            created_at=utcnow())
    session.add(department)
    session.flush()
    audit(session, actor, "department.created", "department", code, after=_state(department))
    return department, key


def get_department(session: Session, code: str) -> Department:
    department = session.execute(
        select(Department).where(Department.code == code)).scalar_one_or_none()
    if department is None:
        raise NotFound(gettext("no department {code!r}", code=code))
    return department


def rotate_key(session: Session, code: str, actor: str = "system",
               key: str | None = None) -> tuple[Department, str]:
    """A new key (`key`, or a random one); the old one stops working at once."""
    department = get_department(session, code)
    key = key or new_api_key()
    department.api_key_hash = hash_token(key)
    department.key_rotated_at = utcnow()
    audit(session, actor, "department.key_rotated", "department", code)
    return department, key


def update_department(session: Session, code: str, known_types: set[str], *,
                      name: str | None = None, record_types: Iterable[str] | None = None,
                      enabled: bool | None = None, actor: str = "system") -> Department:
    department = get_department(session, code)
    before = _state(department)
    if name is not None:
        department.name = name
    if record_types is not None:
        department.record_types = _check_types(record_types, known_types)
    if enabled is not None:
        department.enabled = enabled
    audit(session, actor, "department.updated", "department", code, before=before,
          after=_state(department))
    return department
