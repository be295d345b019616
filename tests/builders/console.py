"""The staff console: staff accounts (credit-office admins, department clerks) and
signing in with the form and its CSRF token."""
from __future__ import annotations

import re

from argon2 import PasswordHasher
from sqlalchemy import select

from points.models import AdminAccount, Department
from points.models.console import DepartmentUser

CLERK_PASSWORD = "clerk-pass-2026!"
ADMIN_PASSWORD = "office-pass-2026!"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def make_admin(app, username: str = "officer") -> int:
    """The credit office's account `username` (password ADMIN_PASSWORD), made once; its id."""
    s = app.state.db.new_session()
    admin = s.execute(select(AdminAccount).where(AdminAccount.username == username)).scalar()
    if admin is None:
        admin = AdminAccount(username=username, password_hash=PasswordHasher().hash(ADMIN_PASSWORD))
        s.add(admin)
        s.commit()
    admin_id = admin.id
    s.close()
    return admin_id


def make_clerk(app, department_code: str, username: str, *, must_change: bool = False,
               password: str = CLERK_PASSWORD) -> int:
    s = app.state.db.new_session()
    department = s.execute(select(Department).where(Department.code == department_code)).scalar_one()
    clerk = DepartmentUser(department_id=department.id, username=username, display_name="王办事员",
                           password_hash=PasswordHasher().hash(password),
                           must_change_password=must_change, active=True)
    s.add(clerk)
    s.commit()
    clerk_id = clerk.id
    s.close()
    return clerk_id


def sign_in(client, username: str, password: str, expect: int = 302):
    page = client.get("/console/sign-in")
    r = client.post("/console/sign-in", data={"username": username, "password": password,
                                              "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert r.status_code == expect, r.get_data(as_text=True)[:2000]
    return r


def token(client, path: str = "/console/") -> str:
    """A CSRF token of the signed-in session (read from a page with a form)."""
    r = client.get(path, follow_redirects=True)
    return csrf_of(r.get_data(as_text=True))
