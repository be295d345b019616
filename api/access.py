"""Who is calling, and may they? Checked in one place, deny by default.

Every route needs a signed-in caller unless its view is marked `@public`. The
path prefix says which kind of caller it wants:

    /v1/admin…     credit-office admin (Bearer)
    /v1/dept…      department (X-API-Key)
    /v1/merchant/… staff of an approved merchant (Bearer, resident account)
    /v1/me…        resident (Bearer)
    /v1/auth/…     any signed-in account, resident or admin (logout)
    anything else  any signed-in resident account (Bearer)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import Row, select

from api import gate
from api.context import db_session
from api.uow import reconnecting
from points.errors import Forbidden, Unauthenticated
from points.i18n import gettext
from points.infra.crypto import hash_token
from points.models import AdminAccount, Department, User

PREFIX_ROLES: list[tuple[str, str]] = [
    ("/v1/admin/", "admin"),
    ("/v1/dept/", "department"),
    ("/v1/merchant/", "merchant"),
    ("/v1/me/", "resident"),  # and /v1/me itself; not /v1/merchants (any signed-in user)
    ("/v1/auth/", "any"),
]
# Extra checks for roles that need more than a token (set by api/bootstrap.py).
ROLE_CHECKS: dict[str, Callable[[Principal], None]] = {}
# Redis keys such a check reads, fetched with the token check after the account's
# gate keys (`user:<id>` → keys); their values land in `Principal.extras["cached"]`.
ROLE_CACHE_KEYS: dict[str, Callable[[str], tuple[str, ...]]] = {}


@dataclass
class Principal:
    kind: str  # user | admin | department
    id: int
    claims: dict[str, Any] | None = None
    department: Department | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> User:
        if "user" not in self.extras:
            user = db_session().get(User, self.id) if self.kind == "user" else None
            self.confirm_account(user)
            self.extras["user"] = user
        return self.extras["user"]

    def confirm_account(self, account: User | Row | None) -> None:
        """Refuse a caller whose account is gone or closed, from the account or a row
        with its id and closed_at (the merchant check reads one in its own query and
        leaves `user` to load the account only if a route needs more than the id)."""
        if account is None or account.id != self.id or account.closed_at is not None:
            raise Unauthenticated(gettext("the account no longer exists"))

    @property
    def admin(self) -> AdminAccount:
        if "admin" not in self.extras:
            admin = db_session().get(AdminAccount, self.id) if self.kind == "admin" else None
            if admin is None or not admin.active:
                raise Unauthenticated(gettext("the admin account is disabled"))
            self.extras["admin"] = admin
        return self.extras["admin"]

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.department.code if self.department else self.id}"


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as open to anonymous callers."""
    view._public = True  # type: ignore[attr-defined]
    return view


def required_role(path: str) -> str:
    for prefix, role in PREFIX_ROLES:
        if path == prefix.rstrip("/") or path.startswith(prefix):
            return role
    return "user"


def current() -> Principal:
    principal = g.get("principal")
    if principal is None:  # pragma: no cover - the before_request hook always sets it
        raise Unauthenticated(gettext("sign in first"))
    return principal


def _bearer_claims(role: str) -> tuple[dict[str, Any], list | None]:
    """The verified claims, and the account's cached gate (api/gate.py) and the
    role's cached keys (ROLE_CACHE_KEYS) read in the same Redis round trip as the
    denylist."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(gettext("an access token is required (Authorization: Bearer …)"))
    tokens = current_app.extensions["credit"].tokens
    claims = tokens.decode_access(token.strip())
    extra: tuple[str, ...] = ()
    if claims["sub"].startswith("user:"):
        extra = gate.keys(claims["sub"])
        if role in ROLE_CACHE_KEYS:
            extra += ROLE_CACHE_KEYS[role](claims["sub"])
    revoked, values = tokens.check(db_session, claims, extra)
    if revoked:
        raise Unauthenticated(gettext("the access token has been revoked"))
    return claims, values


def _department() -> Principal:
    key = request.headers.get("X-API-Key", "")
    if not key:
        raise Unauthenticated(gettext("a department API key is required (X-API-Key)"))
    department = db_session().execute(
        select(Department).where(Department.api_key_hash == hash_token(key))
    ).scalar_one_or_none()
    if department is None or not department.enabled:
        raise Unauthenticated(gettext("the API key is not valid"))
    return Principal("department", department.id, department=department)


def authenticate() -> Principal:
    role = required_role(request.path)
    if role == "department":
        return _department()
    claims, cached = _bearer_claims(role)
    kind, _, ident = claims["sub"].partition(":")
    if kind not in {"user", "admin"} or not ident.isdigit():
        raise Unauthenticated(gettext("the access token names no known account"))
    principal = Principal(kind, int(ident), claims)
    if kind == "admin":
        principal.admin  # noqa: B018 - a disabled account's tokens stop working at once (401)
    if cached is not None and kind == "user":
        # The gate's [entry, version] as Redis holds them, then the role's keys.
        principal.extras["cached"] = cached
    if role == "admin" and kind != "admin":
        raise Forbidden(gettext("only the credit office may do this"))
    if role in {"resident", "merchant", "user"} and kind != "user":
        raise Forbidden(gettext("this needs a resident account"))
    if role in ROLE_CHECKS:
        ROLE_CHECKS[role](principal)
    return principal


def init_access(app: Flask) -> None:
    @app.before_request
    def _authorize() -> None:
        g.principal = None
        endpoint = request.endpoint
        if endpoint is None or request.method == "OPTIONS":
            return  # 404 / 405 / CORS preflight are answered without a caller
        view = app.view_functions.get(endpoint)
        if endpoint.startswith("api-docs.") or getattr(view, "_public", False):
            return
        if endpoint.startswith("console."):
            return  # the console signs its staff in with its own cookie (api/console/auth.py)
        g.principal = reconnecting(authenticate)
