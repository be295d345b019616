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

from flask import Flask, request
from sqlalchemy import Row, select

from api import gate, scope
from api.context import AppState, cipher, db_session, redis_client
from api.security import account_of, bearer_token
from api.uow import reconnecting
from incentives.merchants import StaffSeat
from points.errors import Forbidden, Unauthenticated
from points.i18n import gettext
from points.infra.crypto import hash_token
from points.infra.db import today
from points.models import AdminAccount, Department, User
from points.people import eligibility

PREFIX_ROLES: list[tuple[str, str]] = [
    ("/v1/admin/", "admin"),
    ("/v1/dept/", "department"),
    ("/v1/merchant/", "merchant"),
    ("/v1/me/", "resident"),  # and /v1/me itself; not /v1/merchants (any signed-in user)
    ("/v1/auth/", "any"),
]


@dataclass
class Principal:
    """Who is calling, as the caller check (`authenticate`) found them."""

    kind: str  # user | admin | department
    id: int
    claims: dict[str, Any] | None = None
    department: Department | None = None
    # Read with the token check in one Redis round trip (None: Redis did not answer):
    # the account gate's [entry, version] (api/gate.py), then the role's cached keys
    # (`AppState.role_cache_keys`); and what a route's prefetch read beyond them.
    cached: list | None = None
    prefetched: list | None = None
    seat: StaffSeat | None = None  # the merchant role: the seat acted in (api/seat_cache.py)
    _user: User | None = field(default=None, repr=False)
    _admin: AdminAccount | None = field(default=None, repr=False)

    @property
    def user(self) -> User:
        if self._user is None:
            user = db_session().get(User, self.id) if self.kind == "user" else None
            self.confirm_account(user)
            self._user = user
        return self._user

    def confirm_account(self, account: User | Row | None) -> None:
        """Refuse a caller whose account is gone or closed, from the account or a row
        with its id and closed_at (the merchant check reads one in its own query and
        leaves `user` to load the account only if a route needs more than the id)."""
        if account is None or account.id != self.id or account.closed_at is not None:
            raise Unauthenticated(gettext("the account no longer exists"))

    @property
    def admin(self) -> AdminAccount:
        if self._admin is None:
            admin = db_session().get(AdminAccount, self.id) if self.kind == "admin" else None
            if admin is None or not admin.active:
                raise Unauthenticated(gettext("the admin account is disabled"))
            self._admin = admin
        return self._admin

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.department.code if self.department else self.id}"


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as open to anonymous callers."""
    view._public = True  # type: ignore[attr-defined]
    return view


# Each prefix is /v1/<one segment>/: the role is the path's first two segments'.
_ROLE_OF = {prefix.rstrip("/"): role for prefix, role in PREFIX_ROLES}
_SECOND_SEGMENT_FROM = len("/v1/")
assert all(prefix.startswith("/v1/") and prefix.count("/") == 3 for prefix, _ in PREFIX_ROLES)


def required_role(path: str) -> str:
    end = path.find("/", _SECOND_SEGMENT_FROM)
    return _ROLE_OF.get(path if end < 0 else path[:end], "user")


def current() -> Principal:
    """The caller the caller check found for this request (api/scope.py)."""
    request_scope = scope.current()
    principal = request_scope.principal if request_scope is not None else None
    if principal is None:  # pragma: no cover - the caller check always sets it
        raise Unauthenticated(gettext("sign in first"))
    return principal


def _bearer_claims(state: AppState, environ: dict[str, Any], role: str,
                   fetch: Callable[[list[str]], list] | None
                   ) -> tuple[dict[str, Any], tuple[str, int], list | None, int]:
    """The verified claims, the account they name (kind, id), and the account's cached
    gate (api/gate.py) and the role's cached keys (`AppState.role_cache_keys`) read in
    the same Redis round trip as the denylist (by `fetch`, a route's prefetch, which may
    answer more values after the keys'; MGET on the thread's own connection without
    one), and how many keys' values come before those."""
    token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
    if token is None:
        raise Unauthenticated(gettext("an access token is required (Authorization: Bearer …)"))
    claims = state.tokens.decode_access(token)
    account = account_of(claims["sub"])
    if account is None:
        raise Unauthenticated(gettext("the access token names no known account"))
    extra: tuple[str, ...] = ()
    if account[0] == "user":
        extra = gate.keys(claims["sub"])
        if role in state.role_cache_keys:
            extra += state.role_cache_keys[role](claims["sub"])
    revoked, values = state.tokens.check(lambda: state.db.session, claims, extra, fetch)
    if revoked:
        raise Unauthenticated(gettext("the access token has been revoked"))
    return claims, account, values, len(extra)


def _department(state: AppState, environ: dict[str, Any]) -> Principal:
    key = environ.get("HTTP_X_API_KEY", "")
    if not key:
        raise Unauthenticated(gettext("a department API key is required (X-API-Key)"))
    department = state.db.session.execute(
        select(Department).where(Department.api_key_hash == hash_token(key))
    ).scalar_one_or_none()
    if department is None or not department.enabled:
        raise Unauthenticated(gettext("the API key is not valid"))
    return Principal("department", department.id, department=department)


def authenticate(state: AppState, environ: dict[str, Any],
                 fetch: Callable[[list[str]], list] | None = None) -> Principal:
    """The caller of a request (its WSGI environ) and the access rule for its path:
    the one check every route goes through, Flask's views (`init_access`) and the
    plain routes (api/pipeline.py) alike. Values a route's `fetch` read beyond the
    keys go to `Principal.prefetched`."""
    role = required_role(environ.get("PATH_INFO", ""))
    if role == "department":
        return _department(state, environ)
    claims, (kind, ident), cached, known = _bearer_claims(state, environ, role, fetch)
    principal = Principal(kind, ident, claims)
    if kind == "admin":
        principal.admin  # noqa: B018 - a disabled account's tokens stop working at once (401)
    if cached is not None and kind == "user":
        # The gate's [entry, version] as Redis holds them, then the role's keys.
        principal.cached = cached[:known]
        if fetch is not None:
            principal.prefetched = cached[known:]
    if role == "admin" and kind != "admin":
        raise Forbidden(gettext("only the credit office may do this"))
    if role in {"resident", "merchant", "user"} and kind != "user":
        raise Forbidden(gettext("this needs a resident account"))
    check = state.role_checks.get(role)
    if check is not None:
        check(principal, environ)
    return principal


def credit_subject_id(require_consent: bool = True) -> int:
    """The signed-in resident's subject, refusing as the contract says when the
    identity is not bound or the credit_points consent is missing (the domain's rule,
    `eligibility.refusal`, on the account's standing as the gate caches it)."""
    principal = current()
    cached = principal.cached  # None when Redis did not answer
    entry, version = cached[:2] if cached else (None, None)
    account = gate.usable(entry, version)
    if account is None:  # not cached: read the account once and cache it after commit
        account = gate.compute(db_session(), cipher(), principal.user, int(version or 0))
        if cached is not None:
            gate.store(redis_client(), db_session(), principal.id, account)
    refused = eligibility.refusal(gate.standing(account), today(), require_consent)
    if refused is not None:
        raise refused
    return account["subject_id"]


def open_to_anyone(endpoint: str, view: Callable[..., Any] | None) -> bool:
    """Routes answered without a caller: `@public` views, the API docs, the console
    (which signs its staff in with its own cookie, api/console/auth.py)."""
    return (endpoint.startswith(("api-docs.", "console."))
            or getattr(view, "_public", False))


def init_access(app: Flask) -> None:
    @app.before_request
    def _authorize() -> None:
        request_scope = scope.current()
        if request_scope is None:  # every request through app.wsgi_app has one
            raise RuntimeError("a request outside the app's pipeline (api/pipeline.py)")
        request_scope.principal = None
        endpoint = request.endpoint
        if endpoint is None or request.method == "OPTIONS":
            return  # 404 / 405 / CORS preflight are answered without a caller
        if open_to_anyone(endpoint, app.view_functions.get(endpoint)):
            return
        credit = request_scope.state
        fetch = credit.prefetchers.for_view(app.view_functions.get(endpoint))
        request_scope.principal = reconnecting(
            lambda: authenticate(credit, request.environ, fetch))
