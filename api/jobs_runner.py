"""RQ job entry points: thin wrappers that find the app's connections and call
the domain's job functions."""
from __future__ import annotations

from flask import current_app


def run_rule_set_job(job_id: str) -> None:
    from points.infra.db import today
    from points.rules import rule_admin

    state = current_app.state
    rule_admin.run_job(state.db.new_session, state.redis, job_id, today())


def enqueue_rule_set_job(job_id: str) -> None:
    """Queue the job; if Redis cannot take it, it stays `queued` in the database and
    `points sweep` queues it again (the jobs table is the outbox)."""
    import logging

    import redis

    from api.tasks import enqueue

    try:
        enqueue(run_rule_set_job, job_id, queue_name="recompute", job_id=f"job-{job_id}")
    except redis.exceptions.RedisError:
        logging.getLogger(__name__).warning("redis unavailable; job %s stays queued", job_id)


def run_range_part(job_id: str, lo: int, hi: int) -> None:
    from points.infra.db import today
    from points.scores import jobs

    state = current_app.state
    jobs.run_range_part(state.db.new_session, state.redis, job_id, lo, hi, today())


def enqueue_split(job_id: str, ranges: list[tuple[int, int]]) -> None:
    from rq import Retry

    from api.tasks import enqueue

    # A part whose worker died (kill -9, a lost machine) is found abandoned by a
    # worker's maintenance (api/tasks.py) and queued again: recomputing a range twice
    # stores the same scores.
    for lo, hi in ranges:
        enqueue(run_range_part, job_id, lo, hi, queue_name="recompute",
                job_id=f"job-{job_id}-{lo}", retry=Retry(max=3, interval=5))


def run_console_upload(job_id: str) -> None:
    from points.infra.db import today
    from points.recordkeeping import batch_files

    state = current_app.state
    batch_files.run(state.db.new_session, state.cipher, state.redis, job_id, today())


def run_rule_set_preview(job_id: str) -> None:
    from points.infra.db import today
    from points.rules import rule_preview

    state = current_app.state
    rule_preview.run(state.db.new_session, job_id, today())


def enqueue_console_job(func, job_id: str) -> None:
    """A console job (an uploaded batch, a rule set's preview) on the default queue; with
    Redis down it stays `queued` and the page says so."""
    import logging

    import redis

    from api.tasks import enqueue

    try:
        enqueue(func, job_id, queue_name="default", job_id=f"job-{job_id}")
    except redis.exceptions.RedisError:
        logging.getLogger(__name__).warning("redis unavailable; job %s stays queued", job_id)
