"""Accessors for the app's shared objects, for use inside a request or app context."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from flask import current_app
from sqlalchemy.orm import Session

from api.extensions import Database
from points.crypto import DataCipher


@dataclass
class AppState:
    db: Database
    redis: redis.Redis
    cipher: DataCipher
    extras: dict[str, Any] = field(default_factory=dict)


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
