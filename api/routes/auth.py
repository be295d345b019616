"""Sign-in for residents (WeChat), credit-office admins, and token refresh/logout."""
from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app
from sqlalchemy import select

from api import access, passwords, ratelimit
from api.access import public
from api.context import db_session, state
from api.smorest import Blueprint, Schema
from api.uow import once
from points.errors import TooManyAttempts, Unauthenticated
from points.i18n import gettext
from points.models import AdminAccount
from points.people.accounts import user_for_openid

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Authentication")


class WeChatLoginSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"code": "0a3Bcd000aBcDe1FgH2jKl3mNo4Bcd0x"}
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128))


class RefreshSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"refresh_token": "c2VjcmV0LXJlZnJlc2gtdG9rZW4tZXhhbXBsZQ"}
    refresh_token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256))


class AdminLoginSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"username": "office", "password": "s3cret-pass"}
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(min=1, max=256))


class DevLoginSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"openid": "demo-resident-1"}
    # Stored as "dev:<openid>" in a 64-character column.
    openid = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=60))


class UserSummarySchema(Schema):
    id = ma.fields.Integer(required=True)
    identity_bound = ma.fields.Boolean(
        required=True,
        metadata={"description": "false: bind a face-verified identity before credit endpoints"})
    identity_verified = ma.fields.Boolean(metadata={
        "description": "bound by face verification; false with identity_bound: bound "
                       "before face verification, no credit data until the person verifies"})


class TokenSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'access_token': 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyOjEifQ.c2ln',
                               'refresh_token': 'c2VjcmV0LXJlZnJlc2gtdG9rZW4tZXhhbXBsZQ',
                               'expires_in': 900,
                               'token_type': 'Bearer',
                               'user': {'id': 1, 'identity_bound': False}}
    access_token = ma.fields.String(
        required=True,
        metadata={"description": "send as Authorization: Bearer <access_token>"})
    refresh_token = ma.fields.String(
        required=True,
        metadata={"description": "works once, with POST /v1/auth/refresh"})
    expires_in = ma.fields.Integer(
        required=True,
        metadata={"description": "seconds the access token lives"})
    token_type = ma.fields.String(validate=ma.validate.OneOf(["Bearer"]))
    user = ma.fields.Nested(UserSummarySchema)


def _tokens():
    return state().tokens


def _resident_login(openid: str) -> dict:
    session = db_session()
    # A closed account has its openid erased, so the same WeChat user gets a new account.
    user, _ = user_for_openid(session, openid)
    pair = _tokens().issue_pair(session, f"user:{user.id}", "resident")
    verified = user.subject_id is not None  # only a face-verified binding sets it
    return {**pair.as_dict(), "user": {
        "id": user.id, "identity_bound": verified or user.unverified_subject_id is not None,
        "identity_verified": verified}}


@blp.route("/wechat/login", methods=["POST"])
@public
@blp.arguments(WeChatLoginSchema)
@blp.response(200, TokenSchema)
@blp.errors("WECHAT_LOGIN_FAILED", "WECHAT_UNAVAILABLE")
def wechat_login(body):
    """Sign in from the mini-program with a wx.login code.

    The server exchanges the code with WeChat (jscode2session); `session_key` never
    leaves the server. The answer's `user.identity_bound` says whether the account must
    still bind a real-name identity. Access tokens live `expires_in` seconds; refresh
    them with POST /v1/auth/refresh.
    """
    # WeChat refuses a login code used twice: asked once even if the view runs again.
    session = once("wechat_session", lambda: state().wechat.code_to_session(
        body["code"]))
    return _resident_login(session.openid)


# Development only: registered (and so documented) only where DEV_LOGIN_ENABLED, never in
# production, whose document and routes do not have it.
dev_blp = Blueprint("dev", __name__, url_prefix="/v1/auth",
                    description="Development only: sign in without WeChat")


@dev_blp.route("/dev/login", methods=["POST"])
@public
@dev_blp.arguments(DevLoginSchema)
@dev_blp.response(200, TokenSchema)
@dev_blp.errors("NOT_FOUND")
def dev_login(body):
    """Development only: sign in as a given openid without WeChat (absent in production).

    Only when the app runs outside production (APP_ENV development or testing): signs in
    the resident with this openid, made on first use. Not in the production document.
    """
    if not current_app.config["DEV_LOGIN_ENABLED"]:
        abort(404)  # a second app in the same process may not enable it
    return _resident_login("dev:" + body["openid"])


@blp.route("/refresh", methods=["POST"])
@public
@blp.arguments(RefreshSchema)
@blp.response(200, TokenSchema)
@blp.errors("UNAUTHENTICATED")
def refresh(body):
    """Exchange a refresh token for a new pair; the old one stops working.

    No access token needed. Each refresh token works once: the answer is a new pair.
    Reusing a spent refresh token ends the whole session family (its access tokens stop
    working too) and answers 401.
    """
    return _tokens().refresh(db_session(), body["refresh_token"]).as_dict()


@blp.route("/logout", methods=["POST"])
@blp.response(204)
@blp.errors()
def logout():
    """End this session: its access and refresh tokens stop working at once.

    Any signed-in account. Answers 204; the access token used and the session's refresh
    token stop working at once.
    """
    _tokens().logout(db_session(), access.current().claims)


@blp.route("/admin/login", methods=["POST"])
@public
@blp.arguments(AdminLoginSchema)
@blp.response(200, TokenSchema)
@blp.errors("UNAUTHENTICATED", "ACCOUNT_LOCKED", notes={
    "UNAUTHENTICATED": "wrong username or password, or a disabled account",
    "RATE_LIMITED": "too many sign-ins from this address; Retry-After says for how long",
    "CACHE_UNAVAILABLE": "failed sign-ins cannot be counted (Redis down)"})
def admin_login(body):
    """Sign in as a credit-office admin; repeated failures lock the username for a while.

    For credit-office accounts (made with `flask create-admin`). After
    ADMIN_LOCKOUT_ATTEMPTS failures within ADMIN_LOCKOUT_MINUTES the username is locked:
    429 ACCOUNT_LOCKED with Retry-After.
    """
    config, client = current_app.config, state().redis
    username = body["username"]
    locked = ratelimit.admin_locked_for(client, username)
    if locked:
        raise TooManyAttempts(gettext("too many failed sign-ins; try again later"), "ACCOUNT_LOCKED",
                              retry_after=locked)
    session = db_session()
    admin = session.execute(
        select(AdminAccount).where(AdminAccount.username == username)
    ).scalar_one_or_none()
    try:
        if admin is None or not admin.active:
            # The same work as for a real account, so the time taken tells nothing.
            passwords.hasher.verify(passwords.dummy_hash(), body["password"])
            raise VerificationError
        passwords.hasher.verify(admin.password_hash, body["password"])
    except (VerificationError, InvalidHashError) as exc:
        locked = ratelimit.admin_login_failed(client, username,
                                              config["ADMIN_LOCKOUT_ATTEMPTS"],
                                              config["ADMIN_LOCKOUT_MINUTES"] * 60)
        if locked:
            raise TooManyAttempts(gettext("too many failed sign-ins; try again later"),
                                  "ACCOUNT_LOCKED", retry_after=locked) from exc
        raise Unauthenticated(gettext("wrong username or password")) from exc
    ratelimit.admin_login_succeeded(client, username)
    if passwords.hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = passwords.hasher.hash(body["password"])
    return _tokens().issue_pair(session, f"admin:{admin.id}", "admin").as_dict()
