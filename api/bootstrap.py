"""What the app is made of and who is told of what: the services `create_app` puts on
`app.state` (a typed `AppState`), and every registry, domain hook and session or
pool listener the app uses, each set here by an explicit call. Importing a module
registers nothing. `create_app` (api/__init__.py) is the one composition root: it
calls these two, then adds the web layer's own parts in order (blueprints, the
console, error handlers, the transaction and Idempotency-Key wrappers, rate limits,
the caller check, Flask's request hooks and the WSGI middleware). How an engine
connects (SQLite's pragmas, the ping after idling, the replica's fallback to the
primary) is part of making the engine, in api/extensions.py.

The hooks and registries below are the domain's (points, incentives) and the access
rule's, each the app's own: the domain's hooks ride on the app's session factories
(points.infra.hooks), the access rule's on `AppState`, and session listeners attach
to the app's own session factories, never to SQLAlchemy's `Session` class. One
setting is the process's: the working-day calendar reads the holiday arrangements
from the database of the app made last (every app of a process shares one database
in practice: tests, the CLI, gunicorn's workers).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from api import gate, idempotency, seat_cache
from api.context import AppState
from api.extensions import Database, make_redis
from api.metrics import watch_pool
from api.notify_cli import enqueue_delivery
from api.pipeline import Prefetchers
from api.security import TokenService
from incentives import codes, merchants
from points.employment import reports
from points.infra import hooks
from points.infra.crypto import DataCipher
from points.infra.db import run_on_commit
from points.infra.hooks import Hooks
from points.infra.wechat import AccessTokenHolder, WeChatClient, WeChatFaceVerifier
from points.office import calendar, workdays
from points.people import face, notifications
from points.workflows import attachments


def build_state(config: dict) -> AppState:
    """The app's services from its configuration."""
    db = Database()
    db.init(config["DATABASE_URL"], replica_url=config["DATABASE_REPLICA_URL"],
            pgbouncer=config["DATABASE_PGBOUNCER"])
    client = make_redis(config["REDIS_URL"])
    wechat = WeChatClient(config["WECHAT_API_BASE"], config["WECHAT_APPID"],
                          config["WECHAT_SECRET"], config["WECHAT_TIMEOUT"])
    directory = config.get("ATTACHMENT_DIR")
    return AppState(db=db, redis=client,
                    cipher=DataCipher(config["DATA_KEYS"], config["DATA_HASH_KEY"]),
                    tokens=TokenService(config, client), wechat=wechat,
                    face=face_verifier(config, wechat, client),
                    files=attachments.Storage(Path(directory) if directory else None),
                    prefetchers=Prefetchers(client))


def face_verifier(config: dict, wechat: WeChatClient, client):
    """WeChat's face verification, or the development stand-in (never in production:
    `load_config` refuses it, and the stand-in refuses to be made there)."""
    if config["FACE_VERIFIER"] == "stand-in":
        return face.StandInVerifier(config["APP_ENV"])
    return WeChatFaceVerifier(wechat, AccessTokenHolder(wechat, client))


def wire(state: AppState) -> None:
    """Every hook, registry and listener, for the app whose services are `state`."""
    db = state.db
    # Sessions: side effects registered with `points.infra.db.on_commit` run after the
    # commit; a commit changing merchants or their staff outdates the cached seats.
    db.listen_sessions(run_on_commit)
    db.listen_sessions(seat_cache.watch)
    # Engines: /metrics counts each pool's connections in use and waits.
    watch_pool(db.engine, "primary")
    if db.replica_engine is not None:
        watch_pool(db.replica_engine, "replica")

    # Working days follow the office's holiday arrangements stored in this database.
    workdays.configure(calendar.source_for(db.engine))

    # The domain's hooks, this app's own (on its session factories, read by the domain
    # from the session it works in): what else goes with an account closed or a credit
    # file moved to another account, which caches an account change outdates, and what
    # runs after a commit that queued notifications.
    def erase_attachments(session, user):  # the files' place as the state has it then
        attachments.erase_account(session, user, state.files)

    state.hooks = Hooks(
        account_erasers=(reports.erase_account, merchants.erase_account,
                         notifications.erase_account, erase_attachments,
                         idempotency.erase_account),
        identity_removed=(codes.drop_unused,),
        account_changed=(gate.account_changed,),
        deliver=enqueue_delivery,  # decisions' WeChat messages: an RQ job
        merchant_name=merchants.name_of)  # a worker's employer
    db.listen_sessions(partial(hooks.install, hooks=state.hooks))

    # Who may call: the merchant role needs a seat at an approved merchant, read with
    # the token check from the staff seats cached in Redis.
    state.role_checks = {"merchant": seat_cache.merchant_check}
    state.role_cache_keys = {"merchant": seat_cache.keys}
