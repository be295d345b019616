"""The app's connections: the database session and Redis.

The session is a thread-scoped SQLAlchemy session removed at the end of every
request; the request (see `api.uow`) owns its unit of work.
"""
from __future__ import annotations

from typing import Any

import fakeredis
import redis
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool

# One in-process Redis stand-in per process, shared by every client made from it,
# so the app, the CLI and RQ's synchronous queue see the same data.
_FAKE_SERVER = fakeredis.FakeServer()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in {"sqlite://", "sqlite:///:memory:"}:
            options["poolclass"] = StaticPool
        options.update(kwargs)
        return create_engine(url, **options)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    options = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10, "pool_recycle": 1800}
    options.update(kwargs)
    return create_engine(url, **options)


def make_redis(url: str) -> redis.Redis:
    if url.startswith("memory://"):
        return fakeredis.FakeRedis(server=_FAKE_SERVER)
    return redis.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=15,
    )


class Database:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._session: scoped_session[Session] | None = None

    def init(self, url: str) -> None:
        self.engine = make_engine(url)
        self._session = scoped_session(sessionmaker(self.engine, expire_on_commit=False))

    @property
    def session(self) -> Session:
        assert self._session is not None, "database not initialised"
        return self._session()

    def current(self) -> Session | None:
        """This thread's session if the request has used one (a cached read has not)."""
        assert self._session is not None, "database not initialised"
        return self._session() if self._session.registry.has() else None

    def remove(self) -> None:
        if self._session is not None:
            self._session.remove()

    def new_session(self) -> Session:
        """A session of its own, for jobs and CLI commands outside a request."""
        assert self._session is not None
        return self._session.session_factory()
