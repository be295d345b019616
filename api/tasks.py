"""Background jobs on RQ.

With the in-process Redis stand-in (`REDIS_URL=memory://`) jobs run at once in
the calling process, so `make run` needs no worker; with a real Redis they are
queued and `flask --app wsgi worker` runs them. Job functions run inside the
app context (the worker command provides it) and open their own sessions.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rq
from flask import Flask

from api.context import config, state

QUEUES = ("default", "recompute", "notifications")


def queue(name: str = "default") -> rq.Queue:
    """A queue of the app's Redis: in a request (its scope, api/scope.py: a plain
    run has no app context) or in an app context (a job, a CLI command)."""
    inline = config()["REDIS_URL"].startswith("memory://")
    return rq.Queue(name, connection=state().redis, is_async=not inline)


def enqueue(func: Callable[..., Any] | str, *args: Any, queue_name: str = "default",
            job_id: str | None = None, **kwargs: Any) -> rq.job.Job:
    return queue(queue_name).enqueue(func, *args, job_id=job_id, **kwargs)


def register_worker_cli(app: Flask) -> None:
    import click

    @app.cli.command("worker")
    @click.option("--queue", "queues", multiple=True, help="queues to take jobs from")
    @click.option("--burst", is_flag=True, help="stop when the queues are empty")
    def worker(queues: tuple[str, ...], burst: bool):
        """Run background jobs from Redis (RQ), in this app's context."""
        state = app.state
        if app.config["REDIS_URL"].startswith("memory://"):
            raise click.UsageError("REDIS_URL=memory:// runs jobs in-process; no worker needed")
        names = queues or QUEUES
        # Maintenance every 30 s (RQ's default: 10 minutes) finds the jobs of a worker
        # that died and queues those with retries left again; an idle worker wakes for
        # it every worker_ttl - 15 s (RQ's default: 405 s).
        w = rq.SimpleWorker([rq.Queue(n, connection=state.redis) for n in names],
                            connection=state.redis, maintenance_interval=30, worker_ttl=45)
        w.work(burst=burst, with_scheduler=True)
