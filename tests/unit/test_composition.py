"""The app is wired in one place (api/bootstrap.py, called by `create_app`): importing
a module registers nothing, and two apps made in one process have the same wiring,
each exactly once. Run in a fresh interpreter, where nothing has made an app yet."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib, json, pkgutil, sys

import api.routes
from sqlalchemy.orm import Session

for module in pkgutil.iter_modules(api.routes.__path__):
    importlib.import_module("api.routes." + module.name)
for name in ("api.access", "api.bootstrap", "api.pipeline", "api.gate", "api.notify_cli", "api.seat_cache", "points.infra.db"):
    importlib.import_module(name)

from points.infra import hooks
from points.office import workdays


def names(callables):
    return sorted(f"{hook.__module__}.{hook.__qualname__}" for hook in callables)


def wiring(session):  # the domain's hooks a session carries (points.infra.hooks), by name
    carried = hooks.of(session)
    return {
        "account_erasers": names(carried.account_erasers),
        "identity_removed": names(carried.identity_removed),
        "account_changed": names(carried.account_changed),
        "delivery_hook": names([carried.deliver] if carried.deliver else []),
        "merchant_name": names([carried.merchant_name] if carried.merchant_name else []),
    }


def session_listeners(session):
    return {event: names(getattr(session.dispatch, event))
            for event in ("after_commit", "after_soft_rollback", "before_flush",
                          "do_orm_execute")}


report = {"imported": wiring(Session()), "workdays_source": workdays._source is not None,
          "global_session": session_listeners(Session())}
from api import create_app

apps = [create_app({"TESTING": True}) for _ in range(2)]
report["made"] = [wiring(app.state.db.new_session()) for app in apps]
report["workdays_source_made"] = workdays._source is not None
# Each app's sessions carry that app's own hooks, never another app's.
report["own_hooks"] = [hooks.of(app.state.db.new_session()) is app.state.hooks
                       and hooks.of(app.state.db.session) is app.state.hooks for app in apps]
report["distinct_hooks"] = apps[0].state.hooks is not apps[1].state.hooks
report["plain_session_hooks"] = wiring(Session())
# Who may call is each app's own state (typed attributes of AppState).
report["access"] = [
    {"role_checks": {role: names([check]) for role, check in app.state.role_checks.items()},
     "role_cache_keys": {role: names([keys]) for role, keys
                         in app.state.role_cache_keys.items()}}
    for app in apps]
report["global_session_after"] = session_listeners(Session())
report["app_sessions"] = []
for app in apps:
    db = app.state.db
    report["app_sessions"].append(session_listeners(db.new_session()))
# A session of one app carries only that app's listeners, once: commit runs a callback once.
from points.infra.db import on_commit
from sqlalchemy import text

ran = []
session = apps[0].state.db.new_session()
session.execute(text("SELECT 1"))
on_commit(session, lambda: ran.append(1))
session.commit()
report["on_commit_runs"] = len(ran)
print("REPORT" + json.dumps(report))
"""


def _probe(tmp_path) -> dict:
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path}/w.db",
           "REDIS_URL": "memory://",
           "SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
           "DATA_KEY": "test-data-key"}
    env.pop("DATABASE_REPLICA_URL", None)
    done = subprocess.run([sys.executable, "-c", PROBE], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("REPORT"))
    return json.loads(line[len("REPORT"):])


def test_importing_registers_nothing_and_create_app_wires_once(tmp_path):
    report = _probe(tmp_path)
    nothing = {"after_commit": [], "after_soft_rollback": [], "before_flush": [],
               "do_orm_execute": []}
    # Importing every route module and the modules holding hooks wired nothing …
    none = {"account_erasers": [], "identity_removed": [], "account_changed": [],
            "delivery_hook": [], "merchant_name": []}
    assert report["imported"] == none and report["workdays_source"] is False
    assert report["global_session"] == nothing
    # … create_app did, and a second app left each registration single.
    assert report["access"] == [{
        "role_checks": {"merchant": ["api.seat_cache.merchant_check"]},
        "role_cache_keys": {"merchant": ["api.seat_cache.keys"]}}] * 2
    assert report["made"] == [{
        "account_erasers": ["api.bootstrap.wire.<locals>.erase_attachments",
                            "api.idempotency.erase_account",
                            "incentives.merchants.erase_account",
                            "points.employment.reports.erase_account",
                            "points.people.notifications.erase_account"],
        "identity_removed": ["incentives.codes.drop_unused"],
        "account_changed": ["api.gate.account_changed"],
        "delivery_hook": ["api.notify_cli.enqueue_delivery"],
        "merchant_name": ["incentives.merchants.name_of"]}] * 2
    assert report["workdays_source_made"] is True
    # The hooks are each app's own: a second app does not take over the first's.
    assert report["own_hooks"] == [True, True] and report["distinct_hooks"] is True
    assert report["plain_session_hooks"] == none
    # Session listeners sit on each app's own session factory, never on Session.
    assert report["global_session_after"] == nothing
    assert report["app_sessions"] == [{
        "after_commit": ["points.infra.db._run_on_commit"],
        "after_soft_rollback": ["points.infra.db._drop_on_commit"],
        "before_flush": ["api.seat_cache._flushing"],
        "do_orm_execute": ["api.seat_cache._executing"]}] * 2
    assert report["on_commit_runs"] == 1
