"""Accessors for the app's shared objects: a request's scope (api/scope.py) inside a
request, Flask's app context outside one (CLI commands, jobs, tests)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from flask import Config, current_app, has_app_context
from sqlalchemy.orm import Session

from api import scope
from api.extensions import Database
from points.infra.crypto import DataCipher
from points.infra.db import UnitOfWork
from points.infra.hooks import Hooks
from points.workflows.attachments import Storage

if TYPE_CHECKING:
    from flask_limiter import Limiter

    from api.access import Principal
    from api.pipeline import Prefetchers
    from api.security import TokenService
    from points.infra.wechat import FaceVerifier, WeChatClient


@dataclass
class AppState:
    """The app's services (`app.state`), built by api/bootstrap.py."""

    db: Database
    redis: redis.Redis
    cipher: DataCipher
    tokens: TokenService
    wechat: WeChatClient
    face: FaceVerifier
    limiter: Limiter | None = None  # made with the routes' rate limits
    files: Storage = field(default_factory=Storage)  # where evidence files are kept (ATTACHMENT_DIR)
    # Who may call (api/access.py), set by api/bootstrap.py: the roles that need more
    # than a token, each with its check (principal, the request's WSGI environ), and
    # the Redis keys it reads (`user:<id>` → keys), fetched with the token check.
    role_checks: dict[str, Callable[[Principal, dict[str, Any]], None]] = field(
        default_factory=dict)
    role_cache_keys: dict[str, Callable[[str], tuple[str, ...]]] = field(default_factory=dict)
    # What the plain routes' caller checks read from Redis with the token (api/pipeline.py).
    prefetchers: Prefetchers | None = None
    # What the domain tells beside its own work, on the app's sessions (points.infra.hooks).
    hooks: Hooks = field(default_factory=Hooks)


def state() -> AppState:
    request = scope.current()
    return request.state if request is not None else current_app.state


def config() -> Config:
    request = scope.current()
    return request.config if request is not None else current_app.config


def state_if_any() -> AppState | None:
    """The app's services, or None for code run outside the app (a script)."""
    request = scope.current()
    if request is not None:
        return request.state
    return current_app.state if has_app_context() else None


def db_session() -> Session:
    """The ORM session of the request's transaction (api/uow.py), or of this thread."""
    request = scope.current()
    if request is None:
        return current_app.state.db.session
    return request.work.session if request.work is not None else request.state.db.session


def unit_of_work() -> UnitOfWork:
    """The request's transaction as the counter's domain functions take it (Core
    statements first, the ORM if they need it): only while `uow.run` runs the work."""
    request = scope.current()
    if request is None or request.work is None:
        raise RuntimeError("no unit of work: the work runs in api.uow.run")
    return request.work


def read_session() -> Session:
    """For reads that may lag a few seconds: the replica's session when there is one."""
    db = state().db
    return db.read_session if db.replica_engine is not None else db_session()


def redis_client() -> redis.Redis:
    return state().redis


def cipher() -> DataCipher:
    return state().cipher
