"""Signing in to the console, and who is signed in.

One form for both kinds of staff account: credit-office admins (the API's admin
accounts) and department users (clerks). The lockout is the API admin sign-in's
(api/ratelimit.py, per username: a clerk's name is never an admin's). The browser
keeps a random session token in the signed, HttpOnly, SameSite=Strict cookie; the
`console_sessions` row is the truth, ended at sign-out, when the account is disabled
or its password reset, and after CONSOLE_IDLE_MINUTES without a request.

Pages under /console/office/ are the credit office's, under /console/dept/ a
clerk's; a clerk sees only their own department's objects (404 otherwise).
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from argon2.exceptions import InvalidHashError, VerificationError
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, generate_csrf
from sqlalchemy import select

from api import ratelimit
from api.console import accounts
from api.context import db_session, redis_client
from api.security import CONSOLE_KINDS, account_of
from points.errors import DomainError
from points.infra.db import utcnow
from points.models import AdminAccount, Department
from points.models.console import ConsoleSession, DepartmentUser
from points.office.audit import audit

OPEN_ENDPOINTS = {"console.sign_in_form", "console.sign_in", "console.static"}
PASSWORD_ENDPOINTS = {"console.password_form", "console.change_password", "console.sign_out"}


@dataclass
class Staff:
    kind: str  # admin | clerk
    id: int
    username: str
    display_name: str
    session_row: ConsoleSession
    department: Department | None = None
    clerk: DepartmentUser | None = None

    @property
    def is_office(self) -> bool:
        return self.kind == "admin"

    @property
    def actor(self) -> str:
        """The audit actor the API writes for the same action."""
        return f"admin:{self.id}" if self.kind == "admin" else f"department:{self.department.code}"


def staff() -> Staff:
    return g.staff


def _load(row: ConsoleSession) -> Staff | None:
    account = account_of(row.principal, CONSOLE_KINDS)
    if account is None:
        return None
    kind, ident = account
    s = db_session()
    if kind == "admin":
        admin = s.get(AdminAccount, ident)
        if admin is None or not admin.active:
            return None
        return Staff("admin", admin.id, admin.username, admin.username, row)
    clerk = s.get(DepartmentUser, ident)
    if clerk is None or not clerk.active:
        return None
    department = s.get(Department, clerk.department_id)
    if department is None or not department.enabled:
        return None
    return Staff("clerk", clerk.id, clerk.username, clerk.display_name, row, department, clerk)


def _signed_in() -> Staff | None:
    token = session.get("sid")
    if not token:
        return None
    idle = dt.timedelta(minutes=current_app.config["CONSOLE_IDLE_MINUTES"])
    row = accounts.live_session(db_session(), token, idle)
    who = _load(row) if row is not None else None
    if who is None:
        session.pop("sid", None)
    return who


def install(bp: Blueprint) -> None:
    @bp.before_request
    def _console_access():
        g.staff = None
        if request.endpoint in OPEN_ENDPOINTS:
            if request.method == "POST":
                _check_csrf()
            return None
        who = _signed_in()
        if who is None:
            if request.method == "GET":
                return redirect(url_for("console.sign_in_form", next=request.full_path
                                        if request.query_string else request.path))
            return redirect(url_for("console.sign_in_form"))
        g.staff = who
        if request.method == "POST":
            _check_csrf()
        if who.clerk is not None and who.clerk.must_change_password \
                and request.endpoint not in PASSWORD_ENDPOINTS:
            return redirect(url_for("console.password_form"))
        area = (request.endpoint or "").split(".", 1)[-1]
        if area.startswith("office_") and who.kind != "admin":
            abort(403)
        if area.startswith("dept_") and who.kind != "clerk":
            abort(403)
        return None

    @bp.app_context_processor
    def _globals():
        return {"me": g.get("staff"), "csrf_token": generate_csrf}

    @bp.errorhandler(CSRFError)
    def _csrf_refused(error):
        return render_template("console/error.html", status=400,
                               title="表单已失效", message="表单缺少有效的安全令牌（CSRF），"
                               "未被受理。请刷新页面后重新提交。"), 400

    for status, title, message in (
            (403, "无权访问", "这个页面只对信用办或部门用户中的另一类开放。"),
            (404, "没有找到", "没有这个页面或对象，或者它不属于您的部门。"),
            (405, "不支持的操作", "这个地址不接受这种请求。")):
        bp.register_error_handler(status, functools.partial(
            _error_page, status=status, title=title, message=message))


def _error_page(error, *, status, title, message):
    return render_template("console/error.html", status=status, title=title,
                           message=message), status


def _check_csrf() -> None:
    """Flask-WTF's check of the form's token (400 CSRFError without a valid one)."""
    current_app.extensions["csrf"].protect()


# -- routes -----------------------------------------------------------------------------

from api.console import bp

install(bp)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return url_for("console.home")


@bp.get("/sign-in")
def sign_in_form():
    return render_template("console/sign_in.html", next=request.args.get("next", ""))


@bp.post("/sign-in")
def sign_in():
    username = (request.form.get("username") or "").strip()[:64]
    password = (request.form.get("password") or "")[:256]
    nxt = request.form.get("next", "")
    config, client = current_app.config, redis_client()

    def refused(message: str, status: int):
        return render_template("console/sign_in.html", error=message, username=username,
                               next=nxt), status

    if not username or not password:
        return refused("请输入用户名和密码。", 422)
    locked = ratelimit.admin_locked_for(client, username)
    if locked:
        return _locked(refused, locked)
    s = db_session()
    admin = s.execute(select(AdminAccount).where(AdminAccount.username == username)) \
        .scalar_one_or_none()
    clerk = None if admin is not None else s.execute(select(DepartmentUser).where(
        DepartmentUser.username == username)).scalar_one_or_none()
    account = admin or clerk
    try:
        if account is None or not account.active or (
                clerk is not None and not s.get(Department, clerk.department_id).enabled):
            from api.passwords import dummy_hash

            accounts.hasher.verify(dummy_hash(), password)  # the same time taken
            raise VerificationError
        accounts.hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        locked = ratelimit.admin_login_failed(client, username, config["ADMIN_LOCKOUT_ATTEMPTS"],
                                              config["ADMIN_LOCKOUT_MINUTES"] * 60)
        if locked:
            return _locked(refused, locked)
        return refused("用户名或密码不对。", 401)
    ratelimit.admin_login_succeeded(client, username)
    if accounts.hasher.check_needs_rehash(account.password_hash):
        account.password_hash = accounts.hasher.hash(password)
    principal = f"admin:{admin.id}" if admin else f"clerk:{clerk.id}"
    if clerk is not None:
        clerk.last_sign_in_at = utcnow()
    session.clear()  # a new session: nothing of a previous one (nor its CSRF secret) stays
    session["sid"] = accounts.start_session(s, principal)
    audit(s, f"admin:{admin.id}" if admin else f"clerk:{clerk.username}", "console.signed_in",
          "console_session", principal)
    if clerk is not None and clerk.must_change_password:
        return redirect(url_for("console.password_form"))
    return redirect(_safe_next(nxt))


def _locked(refused, seconds: int):
    minutes = max(1, -(-seconds // 60))
    response, status = refused(f"登录失败次数过多，该账号已锁定，请 {minutes} 分钟后再试。", 429)
    return response, status, {"Retry-After": str(seconds)}


@bp.post("/sign-out")
def sign_out():
    staff().session_row.ended_at = utcnow()
    session.clear()
    flash("您已退出登录。")
    return redirect(url_for("console.sign_in_form"))


@bp.get("/")
def home():
    if staff().is_office:
        return redirect(url_for("console.office_dashboard"))
    return redirect(url_for("console.dept_home"))


@bp.get("/password")
def password_form():
    return render_template("console/password.html")


@bp.post("/password")
def change_password():
    me = staff()
    if me.clerk is None:
        abort(404)  # admins' passwords are managed by the office's own procedure
    new = request.form.get("new", "")
    if new != request.form.get("confirm", ""):
        return render_template("console/password.html", error="两次输入的新密码不一致。"), 422
    try:
        accounts.change_password(db_session(), me.clerk, request.form.get("current", ""),
                                 new, me.session_row.id)
    except DomainError as error:
        db_session().rollback()
        return render_template("console/password.html", error=error.message), 422
    flash("密码已修改。")
    return redirect(url_for("console.home"))
