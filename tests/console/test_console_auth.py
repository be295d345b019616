"""Signing in to the console: cookie flags, lockout shared with the API's admin sign-in,
CSRF on every form, idle timeout, sign-out, and department users' accounts (first
password changed at first sign-in, reset, disabled)."""
from __future__ import annotations

import re

import time_machine
from sqlalchemy import select, update

from points.models import AuditEntry
from points.models.console import ConsoleSession
from tests.builders.console import (
    ADMIN_PASSWORD,
    CLERK_PASSWORD,
    make_admin,
    make_clerk,
    sign_in,
    token,
)
from tests.builders.departments import department


def test_the_session_cookie_is_httponly_strict_and_only_for_the_console(app, client):
    make_admin(app)
    r = sign_in(client, "officer", ADMIN_PASSWORD)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert r.headers["Location"].endswith("/console/")
    page = client.get("/console/office/")
    assert page.status_code == 200 and "总览" in page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    # The API still keeps no cookie session.
    assert "Set-Cookie" not in client.get("/v1/health").headers


def test_production_marks_the_cookie_secure(settings):
    import secrets

    from api import create_app

    production = create_app({
        **settings, "APP_ENV": "production", "REDIS_URL": "redis://127.0.0.1:9/0",
        "WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": secrets.token_hex(16),
        "SECRET_KEY": secrets.token_urlsafe(48), "DATA_KEY": secrets.token_urlsafe(48)})
    try:
        assert production.config["SESSION_COOKIE_SECURE"] is True
    finally:
        production.state.db.engine.dispose()


def test_pages_need_a_sign_in(client):
    r = client.get("/console/dept/repairs?status=open")
    assert r.status_code == 302 and "/console/sign-in?next=" in r.headers["Location"]


def test_wrong_passwords_lock_the_username_for_console_and_api_alike(app, client):
    make_admin(app)
    for _ in range(app.config["ADMIN_LOCKOUT_ATTEMPTS"] - 1):
        r = sign_in(client, "officer", "wrong-password", expect=401)
        assert "用户名或密码不对" in r.get_data(as_text=True)
    r = sign_in(client, "officer", "wrong-password", expect=429)
    assert "已锁定" in r.get_data(as_text=True) and int(r.headers["Retry-After"]) > 0
    # Locked even with the right password, here and at the API's admin sign-in.
    sign_in(client, "officer", ADMIN_PASSWORD, expect=429)
    api = client.post("/v1/auth/admin/login", json={"username": "officer",
                                                    "password": ADMIN_PASSWORD})
    assert api.status_code == 429 and api.json["error_code"] == "ACCOUNT_LOCKED"


def test_an_unknown_user_is_refused_like_a_wrong_password(client):
    r = sign_in(client, "nobody", "whatever-pass", expect=401)
    assert "用户名或密码不对" in r.get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(app, client):
    make_admin(app)
    sign_in(client, "officer", ADMIN_PASSWORD)
    r = client.post("/console/office/departments", data={"code": "nocsrf", "name": "无令牌"})
    assert r.status_code == 400 and "安全令牌" in r.get_data(as_text=True)
    r = client.post("/console/office/departments", data={"code": "nocsrf", "name": "x",
                                                         "csrf_token": "forged"})
    assert r.status_code == 400
    assert "nocsrf" not in client.get("/console/office/departments").get_data(as_text=True)
    # Nor is a sign-in posted from elsewhere.
    other = app.test_client()
    assert other.post("/console/sign-in", data={"username": "officer",
                                                "password": ADMIN_PASSWORD}).status_code == 400


def test_an_idle_session_ends(app, client):
    make_admin(app)
    with time_machine.travel("2026-12-01 09:00 +0000", tick=False) as clock:
        sign_in(client, "officer", ADMIN_PASSWORD)
        assert client.get("/console/office/").status_code == 200
        clock.shift(60 * (app.config["CONSOLE_IDLE_MINUTES"] - 5))
        assert client.get("/console/office/").status_code == 200  # used: the clock restarts
        clock.shift(60 * (app.config["CONSOLE_IDLE_MINUTES"] - 1))
        assert client.get("/console/office/").status_code == 200
        clock.shift(60 * (app.config["CONSOLE_IDLE_MINUTES"] + 1))
        r = client.get("/console/office/")
        assert r.status_code == 302 and "/console/sign-in" in r.headers["Location"]


def test_signing_out_ends_the_session_even_for_a_copied_cookie(app, client):
    make_admin(app)
    sign_in(client, "officer", ADMIN_PASSWORD)
    copy = app.test_client()
    copy.set_cookie("console_session", client.get_cookie("console_session", path="/console").value,
                    path="/console")
    assert copy.get("/console/office/").status_code == 200
    client.post("/console/sign-out", data={"csrf_token": token(client)})
    assert copy.get("/console/office/").status_code == 302


def test_a_session_naming_no_staff_account_is_signed_out(app, client, session):
    """A session row whose owner names no admin or clerk (a user's `user:1`, or no
    number) sends the browser to sign in; it never fails the page."""
    admin = make_admin(app)
    for principal in ("user:1", "clerk:x", "admin:", f"admin:{str(admin).translate(ARABIC)}"):
        sign_in(client, "officer", ADMIN_PASSWORD)
        assert client.get("/console/office/").status_code == 200
        session.execute(update(ConsoleSession).where(ConsoleSession.ended_at.is_(None))
                        .values(principal=principal))
        session.commit()
        r = client.get("/console/office/")
        assert r.status_code == 302 and "/console/sign-in" in r.headers["Location"], principal


ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")  # digits int() reads, not ASCII


def test_the_office_creates_a_clerk_who_changes_the_first_password(app, client):
    department(app, client, "market")
    make_admin(app)
    sign_in(client, "officer", ADMIN_PASSWORD)
    r = client.post("/console/office/departments/market/users", data={
        "username": "wang.clerk", "display_name": "王五", "csrf_token": token(client)})
    assert r.status_code == 200
    first = re.search(r'id="secret">([^<]+)<', r.get_data(as_text=True)).group(1)
    # Shown once: the users page does not repeat it.
    assert first not in client.get("/console/office/departments/market/users").get_data(as_text=True)

    clerk = app.test_client()
    r = sign_in(clerk, "wang.clerk", first)
    assert r.headers["Location"].endswith("/console/password")
    assert clerk.get("/console/dept/repairs").headers["Location"].endswith("/console/password")
    form = {"current": first, "csrf_token": token(clerk, "/console/password")}
    weak = clerk.post("/console/password", data={**form, "new": "12345678901",
                                                 "confirm": "12345678901"})
    assert weak.status_code == 422 and "字母" in weak.get_data(as_text=True)
    mismatch = clerk.post("/console/password", data={**form, "new": "Good-pass-2026",
                                                     "confirm": "Other-pass-2026"})
    assert mismatch.status_code == 422
    ok = clerk.post("/console/password", data={**form, "new": "Good-pass-2026",
                                               "confirm": "Good-pass-2026"})
    assert ok.status_code == 302
    assert clerk.get("/console/dept/repairs").status_code == 200
    assert clerk.get("/console/office/").status_code == 403  # not the office's pages
    assert client.get("/console/dept/").status_code == 403  # nor the office a clerk's

    s = app.state.db.new_session()
    actions = set(s.execute(select(AuditEntry.action)).scalars())
    s.close()
    assert {"department_user.created", "department_user.password_changed",
            "console.signed_in"} <= actions


def test_reset_and_disable_end_the_clerks_sessions(app, client):
    department(app, client, "market")
    make_admin(app)
    clerk_id = make_clerk(app, "market", "li.clerk")
    sign_in(client, "officer", ADMIN_PASSWORD)
    clerk = app.test_client()
    sign_in(clerk, "li.clerk", CLERK_PASSWORD)
    assert clerk.get("/console/dept/").status_code == 200

    r = client.post(f"/console/office/departments/market/users/{clerk_id}/reset",
                    data={"csrf_token": token(client)})
    new_first = re.search(r'id="secret">([^<]+)<', r.get_data(as_text=True)).group(1)
    assert clerk.get("/console/dept/").status_code == 302  # the old session ended
    sign_in(clerk, "li.clerk", CLERK_PASSWORD, expect=401)  # the old password is gone
    sign_in(clerk, "li.clerk", new_first)  # and the new one must be changed first
    assert clerk.get("/console/dept/").headers["Location"].endswith("/console/password")

    client.post(f"/console/office/departments/market/users/{clerk_id}/active",
                data={"active": "0", "csrf_token": token(client)})
    assert clerk.get("/console/password").status_code == 302
    sign_in(clerk, "li.clerk", new_first, expect=401)
    # Another department's path does not reach the clerk.
    department(app, client, "civil")
    r = client.post(f"/console/office/departments/civil/users/{clerk_id}/active",
                    data={"active": "1", "csrf_token": token(client)})
    assert r.status_code == 404


def test_a_clerk_cannot_take_an_admins_username(app, client):
    department(app, client, "market")
    make_admin(app)
    sign_in(client, "officer", ADMIN_PASSWORD)
    r = client.post("/console/office/departments/market/users", data={
        "username": "officer", "display_name": "冒名", "csrf_token": token(client)},
        follow_redirects=True)
    assert "已被使用" in r.get_data(as_text=True)


def test_a_disabled_department_signs_its_clerks_out(app, client):
    department(app, client, "market")
    make_admin(app)
    make_clerk(app, "market", "zhao.clerk")
    clerk = app.test_client()
    sign_in(clerk, "zhao.clerk", CLERK_PASSWORD)
    sign_in(client, "officer", ADMIN_PASSWORD)
    client.post("/console/office/departments/market/enabled",
                data={"enabled": "0", "csrf_token": token(client)})
    assert clerk.get("/console/dept/").status_code == 302
    sign_in(app.test_client(), "zhao.clerk", CLERK_PASSWORD, expect=401)


