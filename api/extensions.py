"""The app's connections: the database session and Redis.

The session is a thread-scoped SQLAlchemy session removed at the end of every
request; the request (see `api.uow`) owns its unit of work.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis
from flask import g, has_app_context, has_request_context
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool

_FAKE_SERVER = None
_FAKE_SERVER_LOCK = threading.Lock()


def _fake_redis() -> redis.Redis:
    """The in-process Redis stand-in (development and tests only: fakeredis is in the
    `dev` extra, not installed in production). One server per process, shared by every
    client made from it, so the app, the CLI and RQ's synchronous queue see the same data."""
    global _FAKE_SERVER
    import fakeredis

    with _FAKE_SERVER_LOCK:
        if _FAKE_SERVER is None:
            _FAKE_SERVER = fakeredis.FakeServer()
    return fakeredis.FakeRedis(server=_FAKE_SERVER)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """The engine for `url`. Its statements' parameters (openids, names, ID-number
    hashes) are never written into an error's text or a log line (`hide_parameters`):
    a failing statement's traceback would otherwise carry them into the logs."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in {"sqlite://", "sqlite:///:memory:"}:
            options["poolclass"] = StaticPool
        options.update(kwargs)
        return create_engine(url, **options)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    options = {"pool_size": 10, "max_overflow": 10, "pool_recycle": 1800}
    options.update(kwargs)
    engine = create_engine(url, **options)
    ping_when_idle(engine)
    return engine


# A connection back in the pool for longer than this is pinged before it is lent out.
PING_AFTER_IDLE_SECONDS = 10.0


def runs_again_on_disconnect() -> bool:
    """Whether the caller runs its statements again if the connection turns out dead: a
    request (api/uow.py), or the merchant counter's fast path, which leaves any failure
    to Flask (api/counter_fastpath.py sets `g.runs_again_on_disconnect`)."""
    return has_request_context() or (has_app_context() and g.get("runs_again_on_disconnect",
                                                                  False))


def ping_when_idle(engine: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Ping a pooled connection only if it has sat idle (SQLAlchemy's custom pessimistic
    disconnect handling). `pool_pre_ping` pings on every checkout: a round trip per
    request, a tenth of a busy counter's database round trips. A connection that was
    in use a moment ago is alive unless the server went away since; that case is the
    first statement failing with a disconnect, which invalidates the pool and is
    retried once by the request (api/uow.py), so the caller never sees it. Outside a
    request (RQ jobs, CLI commands), where nothing runs a statement again, every
    checkout is pinged, as with `pool_pre_ping`."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None:  # made just now
            return
        if runs_again_on_disconnect() and time.monotonic() - idle_since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # whatever the driver raises, the connection is dead
            # The pool discards this connection and lends out another (or a new one).
            raise DisconnectionError("the pooled connection is gone") from error


def make_redis(url: str) -> redis.Redis:
    if url.startswith("memory://"):
        return _fake_redis()
    return redis.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=15,
    )


class _ThreadConnection:
    """A thread's own Redis connection, closed when the thread or the command that made
    it is gone (a socket left to the garbage collector raises ResourceWarning)."""

    __slots__ = ("__weakref__", "connection")

    def __init__(self, connection: redis.Connection) -> None:
        self.connection = connection
        weakref.finalize(self, connection.disconnect)


def thread_local_command(client: redis.Redis) -> Callable[..., Any]:
    """`command(*args)`: one Redis command on a connection of the calling thread's own
    rather than through redis-py's pool, whose bookkeeping per command (fork check,
    checkout and release, deprecation and telemetry hooks) costs more CPU than a
    short command's round trip (profiled on the cached points read and the merchant
    counter). Errors are redis-py's, so callers handle them as before; after any
    error the connection starts afresh on its next command."""
    pool = client.connection_pool
    local = threading.local()

    def command(*args: Any) -> Any:
        slot = getattr(local, "slot", None)
        if slot is None:
            slot = local.slot = _ThreadConnection(pool.connection_class(**pool.connection_kwargs))
        connection = slot.connection
        try:
            connection.send_command(*args)
            return connection.read_response()
        except BaseException:
            connection.disconnect()
            raise

    return command


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
