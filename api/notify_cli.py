"""Delivering queued WeChat notifications: the RQ job and `flask --app wsgi points-notify`.

Decisions queue their messages in the outbox (points.infra.outbox); after the commit
`enqueue_delivery` (the outbox's delivery hook, installed by api/bootstrap.py)
enqueues `deliver_job` on the `notifications` queue. The command sends whatever is
pending and due, so nothing waits for ever if a job was lost; run it from cron every
few minutes (or as a scheduled job).
"""
from __future__ import annotations

import json
import os

import click
from flask import Flask, current_app

from api import context
from points.infra import outbox
from points.infra.notify import AccessTokenHolder, SubscribeClient, WeChatNotifier

QUEUE = "notifications"


def templates(config) -> dict[str, str]:
    """Template ids per event: `WECHAT_TEMPLATES` in the app config, else the
    environment variable of that name holding a JSON object."""
    configured = config.get("WECHAT_TEMPLATES")
    if configured is None:
        try:
            configured = json.loads(os.environ.get("WECHAT_TEMPLATES") or "{}")
        except ValueError as exc:
            raise click.UsageError("WECHAT_TEMPLATES must be a JSON object") from exc
    return dict(configured or {})


def build_notifier() -> WeChatNotifier:
    """A notifier from the current app's configuration (read on every run, so a
    changed WECHAT_API_BASE or template id takes effect without a restart)."""
    config = context.config()
    state = context.state()
    client = SubscribeClient(config["WECHAT_API_BASE"], config["WECHAT_APPID"],
                             config["WECHAT_SECRET"], config.get("WECHAT_TIMEOUT", 5.0))
    return WeChatNotifier(client, AccessTokenHolder(client, state.redis), templates(config),
                          config.get("WECHAT_MINIPROGRAM_STATE", "formal"))


def deliver_job(ids: list[int] | None = None) -> dict[str, int]:
    """RQ job: send these queued messages (or every due one), each at most once; run by
    a worker in an app context, or at once in the request that queued them
    (REDIS_URL=memory://), in its scope."""
    return outbox.deliver_pending(context.state().db.new_session, build_notifier(), ids=ids)


def enqueue_delivery(ids: list[int]) -> None:
    from api import tasks  # looked up at call time, so tests can stand in for it

    tasks.enqueue(deliver_job, ids, queue_name=QUEUE)


def register_notify_cli(app: Flask) -> None:
    @app.cli.command("points-notify")
    @click.option("--limit", default=outbox.BATCH, show_default=True,
                  help="messages per round")
    def points_notify(limit: int):
        """Send the WeChat notifications that are pending and due."""
        state = current_app.state
        notifier = build_notifier()
        totals: dict[str, int] = {}
        while True:
            counts = outbox.deliver_pending(state.db.new_session, notifier, limit=limit)
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
            if sum(counts.values()) < limit:
                break
        click.echo("notifications: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
