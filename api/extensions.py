"""The app's connections: the database session and Redis.

The session is a thread-scoped SQLAlchemy session removed at the end of every
request; the request (see `api.uow`) owns its unit of work.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
from flask import has_request_context
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool

from api import scope
from points.infra.db import sqlite_pragmas

log = logging.getLogger(__name__)
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


def make_engine(url: str, *, pgbouncer: bool = False, **kwargs: Any) -> Engine:
    """The engine for `url`. Its statements' parameters (openids, names, ID-number
    hashes) are never written into an error's text or a log line (`hide_parameters`):
    a failing statement's traceback would otherwise carry them into the logs.

    `pgbouncer`: the database is reached through PgBouncer in transaction pooling,
    where consecutive transactions of one client connection may run on different
    server connections: psycopg must not prepare statements on the server
    (`prepare_threshold=None`), or a later transaction would name a statement its
    server connection never prepared."""
    kwargs.setdefault("hide_parameters", True)
    if pgbouncer and not url.startswith("sqlite"):
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "prepare_threshold": None}
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in {"sqlite://", "sqlite:///:memory:"}:
            options["poolclass"] = StaticPool
        options.update(kwargs)
        engine = create_engine(url, **options)
        sqlite_pragmas(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    options = {"pool_size": 10, "max_overflow": 10, "pool_recycle": 1800}
    options.update(kwargs)
    engine = create_engine(url, **options)
    sqlite_pragmas(engine)  # a replica's engine may make SQLite connections (tests)
    ping_when_idle(engine)
    return engine


# A connection back in the pool for longer than this is pinged before it is lent out.
PING_AFTER_IDLE_SECONDS = 10.0


def runs_again_on_disconnect() -> bool:
    """Whether the caller runs its statements again if the connection turns out dead: a
    request (its scope, api/scope.py: Flask's run or a plain route's; `uow.run` runs
    it again), or code working in a Flask request context (tests)."""
    return scope.current() is not None or has_request_context()


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


# A replica found unreachable is not tried again for this long (its reads go to the primary).
REPLICA_RETRY_SECONDS = 5.0


def make_replica_engine(url: str, primary_url: str, *, pgbouncer: bool = False) -> Engine:
    """The engine of reads that may lag (docs/scaling.md). A connection it cannot make
    to the replica (stopped, restarting, unreachable) is made to the primary instead,
    which has everything the replica has and more; for REPLICA_RETRY_SECONDS the
    replica is not tried again, and after that such a stand-in connection is dropped
    when next lent out, so the reads move back to the replica by themselves."""
    targets = []
    for target in (url, primary_url):
        target = _with_driver(target)
        parsed = make_url(target)
        dialect_class = parsed.get_dialect()
        dialect = dialect_class(dbapi=dialect_class.import_dbapi())
        cargs, cparams = dialect.create_connect_args(parsed)
        if target.startswith("postgresql"):
            cparams.setdefault("connect_timeout", 2)
            if pgbouncer:
                cparams["prepare_threshold"] = None
        elif target.startswith("sqlite"):
            cparams.update(check_same_thread=False, timeout=30)
        targets.append((dialect.loaded_dbapi, cargs, cparams))
    (replica_dbapi, replica_args, replica_params), (dbapi, args, params) = targets
    down_until = [0.0]
    made = threading.local()  # the stand-in just made by this thread, for the record

    def connect() -> Any:
        if time.monotonic() >= down_until[0]:
            try:
                return replica_dbapi.connect(*replica_args, **replica_params)
            except replica_dbapi.Error as error:
                down_until[0] = time.monotonic() + REPLICA_RETRY_SECONDS
                log.warning("the read replica is unreachable (%s); its reads go to the "
                            "primary", type(error).__name__)
        connection = made.stand_in = dbapi.connect(*args, **params)
        return connection

    engine = make_engine(url, creator=connect)

    @event.listens_for(engine, "connect")
    def _made(dbapi_connection: Any, record: Any) -> None:
        record.info["stand_in"] = getattr(made, "stand_in", None) is dbapi_connection
        record.info["fresh"] = True  # lent out as made, whatever it is
        made.stand_in = None

    @event.listens_for(engine, "checkout")
    def _back_to_the_replica(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.pop("fresh", False):
            return
        if record.info.get("stand_in") and time.monotonic() >= down_until[0]:
            raise DisconnectionError("a stand-in for the replica; the replica is tried again")

    return engine


def _with_driver(url: str) -> str:
    return ("postgresql+psycopg://" + url[len("postgresql://"):]
            if url.startswith("postgresql://") else url)


@dataclass(frozen=True)
class SentinelURL:
    """`redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]`: the
    Redis primary that the Sentinels at those addresses name for `service`. The password
    (if any) is the Redis servers' and the Sentinels'."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SentinelURL:
        scheme, _, rest = url.partition("://")
        if scheme != "redis+sentinel" or not rest:
            raise ValueError(f"not a redis+sentinel:// URL: {url!r}")
        location, _, path = rest.partition("/")
        userinfo, _, hosts = location.rpartition("@")
        username, _, password = userinfo.partition(":")
        sentinels = []
        for host in hosts.split(","):
            name, _, port = host.strip().rpartition(":")
            if not name or not port.isdigit():
                raise ValueError(f"each Sentinel is host:port, not {host!r}")
            sentinels.append((name.strip("[]"), int(port)))
        parts = [p for p in path.split("/") if p]
        if not 1 <= len(parts) <= 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise ValueError("the path is /service or /service/db")
        return cls(sentinels, unquote(parts[0]), int(parts[1]) if len(parts) == 2 else 0,
                   unquote(username) or None, unquote(password) or None)

    def limits_storage(self) -> tuple[str, dict]:
        """The rate limits' storage URI and options (the `limits` package's own form,
        which has no place for the db number)."""
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        options: dict = {"db": self.db, "use_replicas": False}
        if self.password:
            options["password"] = self.password
        if self.username:
            options["username"] = self.username
        return f"redis+sentinel://{hosts}/{self.service}", options


def make_redis(url: str) -> redis.Redis:
    if url.startswith("memory://"):
        return _fake_redis()
    options = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0, "health_check_interval": 15}
    if url.startswith("redis+sentinel://"):
        from redis.sentinel import Sentinel

        parsed = SentinelURL.parse(url)
        auth = {"username": parsed.username, "password": parsed.password}
        sentinel = Sentinel(parsed.sentinels, sentinel_kwargs={
            **auth, "socket_timeout": 0.5, "socket_connect_timeout": 0.5})
        return sentinel.master_for(parsed.service, db=parsed.db, **auth, **options)
    return redis.Redis.from_url(url, **options)


class _ThreadConnection:
    """A thread's own Redis connection, closed when the thread or the command that made
    it is gone (a socket left to the garbage collector raises ResourceWarning)."""

    __slots__ = ("__weakref__", "connected", "connection")

    def __init__(self, connection: redis.Connection) -> None:
        self.connection = connection
        self.connected = False
        weakref.finalize(self, connection.disconnect)


def thread_local_command(client: redis.Redis) -> Callable[..., Any]:
    """`command(*args)`: one Redis command on a connection of the calling thread's own
    rather than through redis-py's pool, whose bookkeeping per command (fork check,
    checkout and release, deprecation and telemetry hooks) costs more CPU than a
    short command's round trip (profiled on the cached points read and the merchant
    counter). Errors are redis-py's, so callers handle them as before; after any
    error the connection starts afresh on its next command.

    The connection is opened by its own `connect()`, as the pool opens its
    connections: a Sentinel-managed one (REDIS_URL=redis+sentinel://) asks the
    Sentinels for the primary there. Sent to unopened, it would open itself at its
    default address, localhost:6379 — another server, or none."""
    pool = client.connection_pool
    local = threading.local()

    def command(*args: Any) -> Any:
        slot = getattr(local, "slot", None)
        if slot is None:
            slot = local.slot = _ThreadConnection(pool.connection_class(**pool.connection_kwargs))
        connection = slot.connection
        try:
            if not slot.connected:
                connection.connect()
                slot.connected = True
            connection.send_command(*args)
            return connection.read_response()
        except BaseException:
            slot.connected = False
            connection.disconnect()
            raise

    return command


class Database:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._session: scoped_session[Session] | None = None
        self.replica_engine: Engine | None = None
        self._replica: scoped_session[Session] | None = None
        self._session_listeners: list[Callable[[sessionmaker], None]] = []

    def init(self, url: str, *, replica_url: str | None = None, pgbouncer: bool = False) -> None:
        self.engine = make_engine(url, pgbouncer=pgbouncer)
        self._session = scoped_session(self._factory(self.engine))
        if replica_url:
            self.init_replica(replica_url, url, pgbouncer=pgbouncer)

    def init_replica(self, url: str, primary_url: str, *, pgbouncer: bool = False) -> None:
        self.replica_engine = make_replica_engine(url, primary_url, pgbouncer=pgbouncer)
        self._replica = scoped_session(self._factory(self.replica_engine))

    def listen_sessions(self, install: Callable[[sessionmaker], None]) -> None:
        """Attach session event listeners (`install(factory)`) to this database's
        session factories, those made so far and any made later (a replica's)."""
        self._session_listeners.append(install)
        for scoped in (self._session, self._replica):
            if scoped is not None:
                install(scoped.session_factory)

    def _factory(self, engine: Engine) -> sessionmaker:
        factory = sessionmaker(engine, expire_on_commit=False)
        for install in self._session_listeners:
            install(factory)
        return factory

    def dispose(self) -> None:
        """Close every pooled connection of the primary and the replica."""
        for engine in (self.engine, self.replica_engine):
            if engine is not None:
                engine.dispose()

    def drop_replica(self) -> None:
        if self.replica_engine is not None:
            self._replica.remove()
            self.replica_engine.dispose()
        self.replica_engine = self._replica = None

    @property
    def read_session(self) -> Session:
        """The session for reads that may lag (the lists docs/scaling.md names): the
        replica's when DATABASE_REPLICA_URL is set, else the primary's. Nothing is
        written through it."""
        return self._replica() if self._replica is not None else self.session

    def current_replica(self) -> Session | None:
        return self._replica() if self._replica is not None and self._replica.registry.has() \
            else None

    @property
    def session(self) -> Session:
        assert self._session is not None, "database not initialised"
        return self._session()

    def joined_session(self, connection: Connection) -> Session:
        """A session in `connection`'s transaction that commits and rolls it back, with
        the listeners of this database's sessions (api/uow.py)."""
        assert self._session is not None, "database not initialised"
        return self._session.session_factory(bind=connection,
                                             join_transaction_mode="control_fully")

    def current(self) -> Session | None:
        """This thread's session if the request has used one (a cached read has not)."""
        assert self._session is not None, "database not initialised"
        return self._session() if self._session.registry.has() else None

    def remove(self) -> None:
        """Close this thread's sessions, if it made any (a cached read makes none)."""
        for scoped in (self._session, self._replica):
            if scoped is not None and scoped.registry.has():
                scoped.remove()

    def new_session(self) -> Session:
        """A session of its own, for jobs and CLI commands outside a request."""
        assert self._session is not None
        return self._session.session_factory()
