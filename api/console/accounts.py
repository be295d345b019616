"""Department users (clerks): created by the credit office with a first password the
clerk changes at the first sign-in, disabled, reset; and the console's sessions."""
from __future__ import annotations

import datetime as dt
import re
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api import passwords
from points.errors import Conflict, Invalid, NotFound
from points.i18n import gettext
from points.infra.crypto import hash_token
from points.infra.db import utcnow
from points.models import AdminAccount, Department
from points.models.console import ConsoleSession, DepartmentUser
from points.office.audit import audit

hasher = passwords.hasher
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{2,63}$")
MIN_PASSWORD = 10


def first_password() -> str:
    """A first password the office hands over (the clerk must change it)."""
    return secrets.token_urlsafe(9)


def check_new_password(password: str, username: str) -> None:
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(gettext("at least {count} characters", count=MIN_PASSWORD))
    if username and username.lower() in password.lower():
        problems.append(gettext("it must not contain the username"))
    if password.isdigit() or password.isalpha():
        problems.append(gettext("letters together with digits or symbols"))
    if problems:
        raise Invalid(gettext("the password is too weak: {problems}", problems="; ".join(problems)),
                      "WEAK_PASSWORD", errors={"form": {"password": problems}})


def create_clerk(session: Session, department: Department, username: str, display_name: str,
                 actor: str) -> tuple[DepartmentUser, str]:
    username = (username or "").strip().lower()
    display_name = (display_name or "").strip()
    if not USERNAME_RE.match(username):
        raise Invalid(gettext("a username is 3 to 64 lower-case letters, digits, dots, underscores "
                              "or hyphens, starting with a letter"),
                      errors={"form": {"username": [gettext("not in that form")]}})
    if not display_name or len(display_name) > 100:
        raise Invalid(gettext("give the name (at most 100 characters)"),
                      errors={"form": {"display_name": [gettext("required")]}})
    # One sign-in form and one lockout per username: no clerk may share an admin's name.
    taken = session.execute(select(DepartmentUser.id).where(
        DepartmentUser.username == username)).first() or session.execute(
        select(AdminAccount.id).where(AdminAccount.username == username)).first()
    if taken:
        raise Conflict(gettext("the username {username} is taken", username=username),
                       "USERNAME_TAKEN")
    password = first_password()
    clerk = DepartmentUser(department_id=department.id, username=username,
                           display_name=display_name, password_hash=hasher.hash(password),
                           must_change_password=True, active=True, created_by=actor,
                           created_at=utcnow())
    session.add(clerk)
    session.flush()
    audit(session, actor, "department_user.created", "department_user", clerk.id,
          after={"username": username, "department": department.code})
    return clerk, password


def department_clerk(session: Session, department: Department, clerk_id: int) -> DepartmentUser:
    clerk = session.get(DepartmentUser, clerk_id, with_for_update=True)
    if clerk is None or clerk.department_id != department.id:
        raise NotFound(gettext("no such department user"), "DEPARTMENT_USER_NOT_FOUND")
    return clerk


def reset_password(session: Session, clerk: DepartmentUser, actor: str) -> str:
    password = first_password()
    clerk.password_hash = hasher.hash(password)
    clerk.must_change_password = True
    end_sessions(session, f"clerk:{clerk.id}")
    audit(session, actor, "department_user.password_reset", "department_user", clerk.id)
    return password


def set_active(session: Session, clerk: DepartmentUser, active: bool, actor: str) -> None:
    before = clerk.active
    clerk.active = active
    if not active:
        end_sessions(session, f"clerk:{clerk.id}")
    audit(session, actor, "department_user.enabled" if active else "department_user.disabled",
          "department_user", clerk.id, before={"active": before}, after={"active": active})


def change_password(session: Session, clerk: DepartmentUser, current: str, new: str,
                    keep_session: int) -> None:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        hasher.verify(clerk.password_hash, current)
    except (VerificationError, InvalidHashError) as exc:
        raise Invalid(gettext("the current password is not right"), "WRONG_PASSWORD",
                      errors={"form": {"current": [gettext("not right")]}}) from exc
    check_new_password(new, clerk.username)
    if new == current:
        raise Invalid(gettext("the new password must differ from the current one"),
                      "WEAK_PASSWORD")
    clerk.password_hash = hasher.hash(new)
    clerk.must_change_password = False
    clerk.password_changed_at = utcnow()
    # Every other session of this clerk ends: whoever knew the old password is out.
    session.execute(update(ConsoleSession).where(
        ConsoleSession.principal == f"clerk:{clerk.id}", ConsoleSession.id != keep_session,
        ConsoleSession.ended_at.is_(None)).values(ended_at=utcnow()))
    audit(session, f"clerk:{clerk.username}", "department_user.password_changed",
          "department_user", clerk.id)


# -- sessions ------------------------------------------------------------------------

def start_session(session: Session, principal: str) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(ConsoleSession(token_hash=hash_token(token), principal=principal,
                               created_at=now, last_seen_at=now))
    return token


def live_session(session: Session, token: str, idle: dt.timedelta) -> ConsoleSession | None:
    """The session of this token if it has neither ended nor idled out; its last use
    moves on (written at most once a minute)."""
    row = session.execute(select(ConsoleSession).where(
        ConsoleSession.token_hash == hash_token(token))).scalar_one_or_none()
    now = utcnow()
    if row is None or row.ended_at is not None:
        return None
    if row.last_seen_at + idle <= now:
        row.ended_at = now
        return None
    if now - row.last_seen_at > dt.timedelta(minutes=1):
        row.last_seen_at = now
    return row


def end_sessions(session: Session, principal: str) -> None:
    session.execute(update(ConsoleSession).where(
        ConsoleSession.principal == principal, ConsoleSession.ended_at.is_(None))
        .values(ended_at=utcnow()))
