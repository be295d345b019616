"""Each request's own state, in one typed object.

A `RequestScope` holds what a request's code reads of the app and of the request
itself: the app's services (`AppState`) and configuration, the caller once the caller
check has found them (api/access.py), the transaction while the work runs
(`uow.RequestWork`), and values kept for the request (`uow.once`).
The pipeline (api/pipeline.py) opens one for every request before Flask or the plain
run sees it, and closes it after; the accessors of api/context.py, `access.current`
and `uow.once` read it through one context variable. It stands in for Flask's `g`
and `current_app` inside a request: a string-keyed bag behind proxies whose every
use costs about as much as a Redis command's Python side (measured with callgrind,
docs/performance.md). Code outside a request — CLI commands, jobs, tests working in
an app context — has no scope, and the accessors read Flask's app context instead.
"""
from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Config, Flask

    from api.access import Principal
    from api.context import AppState
    from points.infra.db import UnitOfWork


@dataclass(slots=True)
class RequestScope:
    state: AppState
    config: Config
    principal: Principal | None = None  # set by the caller check (None: not yet, or public)
    work: UnitOfWork | None = None  # the transaction while `uow.run` runs the work
    kept: dict[str, Any] = field(default_factory=dict)  # `uow.once`


_CURRENT: ContextVar[RequestScope | None] = ContextVar("credit_request_scope", default=None)


def enter(app: Flask) -> Token:
    """Open a request's scope (the pipeline does, for every request)."""
    return _CURRENT.set(RequestScope(app.state, app.config))


def leave(token: Token) -> None:
    _CURRENT.reset(token)


def current() -> RequestScope | None:
    """The request's scope; None outside a request."""
    return _CURRENT.get()
