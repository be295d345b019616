"""Rule-set versions managed by the credit office: upload, activate (which starts
a recompute job), roll back by activating an earlier version again."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from points.errors import Invalid, NotFound
from points.i18n import N_, gettext
from points.infra.db import utcnow
from points.models import Job, RuleSetVersion, Subject
from points.office.audit import audit
from points.rules import rule_store
from points.rules.rulesets import RuleSetInvalid, parse_rule_set
from points.scores import jobs


def upload(session: Session, source: str | dict, actor: str) -> RuleSetVersion:
    """Validate exactly as the loader does; refuse with every broken rule named."""
    try:
        rule_set = parse_rule_set(source)
    except RuleSetInvalid as exc:
        raise Invalid(gettext("the rule set is not valid"), "RULE_SET_INVALID",
                      errors={"rules": exc.errors}) from exc
    except ValueError as exc:  # not TOML at all
        raise Invalid(gettext("the rule set cannot be read: {exc}", exc=exc), "RULE_SET_INVALID",
                      errors={"rules": [str(exc)]}) from exc
    version = rule_store.store(session, rule_set)
    audit(session, actor, "rule_set.uploaded", "rule_set", rule_set.code,
          after={"code": rule_set.code})
    return version


def activate(session: Session, code: str, actor: str) -> Job:
    """Make `code` the active rule set and create the job that moves every score to it.

    Scores keep their previous rule set until the job reaches them, so residents
    see a consistent score throughout the roll-out."""
    previous = session.execute(
        select(RuleSetVersion.code).where(RuleSetVersion.active)).scalar_one_or_none()
    version = rule_store.activate(session, code)
    total = session.execute(select(func.count(Subject.id))).scalar_one()
    job = Job(id=str(uuid.uuid4()), kind="rule_set_recompute", status="queued",
              params={"rule_set": version.code, "previous": previous}, total=total, done=0,
              changed=0, errors=[], created_by=actor, created_at=utcnow())
    session.add(job)
    audit(session, actor, "rule_set.activated", "rule_set", version.code,
          before={"active": previous}, after={"active": version.code, "job_id": job.id})
    return job


def run_job(session_factory: Callable[[], Session], cache: redis.Redis | None, job_id: str,
            today: dt.date) -> None:
    """Run a queued recompute job, recording progress as it goes (RQ job body)."""
    with session_factory() as session, session.begin():
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise NotFound(gettext("no job {job_id}", job_id=job_id))
        if not jobs.begin_run(job):
            return  # already taken by another worker, or finished
        code, previous = job.params["rule_set"], job.params.get("previous")

    try:
        progress = jobs.recompute_all(
            session_factory, cache, today, rule_set_code=code, cause="rule_set",
            reason=N_("rule set {code} activated (was {previous})").format(
                code=code, previous=previous),
            on_progress=lambda progress: jobs.save_progress(session_factory, job_id,
                                                            **progress.counts()))
    except Exception as exc:
        jobs.mark_failed(session_factory, job_id, exc)
        raise
    with session_factory() as session, session.begin():
        jobs.mark_done(session, job_id, **progress.counts())


def queued_jobs(session: Session) -> list[str]:
    """Jobs created but never started (e.g. Redis was down when they were queued)."""
    return list(session.execute(select(Job.id).where(Job.status == "queued")).scalars())
