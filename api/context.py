"""Accessors for the app's shared objects, for use inside a request or app context."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from flask import current_app
from sqlalchemy.orm import Session

from api.extensions import Database
from points.infra.crypto import DataCipher
from points.workflows.attachments import Storage

if TYPE_CHECKING:
    from flask_limiter import Limiter

    from api.access import Principal
    from api.pipeline import Prefetchers
    from api.security import TokenService
    from points.infra.wechat import FaceVerifier, WeChatClient


@dataclass
class AppState:
    """The app's services (`app.extensions["credit"]`), built by api/bootstrap.py."""

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


def state() -> AppState:
    return current_app.extensions["credit"]


def db_session() -> Session:
    return state().db.session


def read_session() -> Session:
    """For reads that may lag a few seconds: the replica's session when there is one."""
    return state().db.read_session


def redis_client() -> redis.Redis:
    return state().redis


def cipher() -> DataCipher:
    return state().cipher
