"""What a rule-set version would change before it is activated: every subject scored
with it and with the active version (a job over subject-id chunks, nothing stored
but the counts), and the difference of the two versions' rules as text."""
from __future__ import annotations

import datetime as dt
import difflib
import json
import uuid
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from points.infra.db import utcnow
from points.models import Job, Subject
from points.rules import engine, rule_store
from points.rules.rulesets import RuleSet
from points.scores import jobs, scoring

CHUNK = 1000


def rules_text(rule_set: RuleSet) -> list[str]:
    return json.dumps(rule_set.to_dict(), ensure_ascii=False, indent=2, sort_keys=True,
                      default=str).splitlines()


def diff(active: RuleSet, candidate: RuleSet) -> list[str]:
    """A unified diff of the two versions' rules (the stored, normalised form)."""
    return list(difflib.unified_diff(rules_text(active), rules_text(candidate),
                                     fromfile=active.code, tofile=candidate.code, lineterm="",
                                     n=2))


def start(session: Session, code: str, actor: str) -> Job:
    rule_store.by_code(session, code)  # 404 RULE_SET_NOT_FOUND for an unknown code
    against = rule_store.active(session).code
    total = session.execute(select(func.count(Subject.id))).scalar_one()
    job = Job(id=str(uuid.uuid4()), kind="rule_set_preview", status="queued",
              params={"rule_set": code, "against": against}, total=total, done=0, changed=0,
              errors=[], created_by=actor, created_at=utcnow())
    session.add(job)
    return job


def run(session_factory: Callable[[], Session], job_id: str, today: dt.date) -> None:
    """Score every subject with both versions (RQ job body); the job keeps how many
    residents would change level, and between which levels."""
    with session_factory() as session, session.begin():
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or not jobs.begin_run(job):
            return
        candidate = rule_store.by_code(session, job.params["rule_set"])
        active = rule_store.by_code(session, job.params["against"])
        counted = job.total
    moves: Counter[str] = Counter()
    after, done, changed, points_moved = 0, 0, 0, 0
    try:
        while True:
            with session_factory() as session, session.begin():
                ids = list(session.execute(select(Subject.id).where(Subject.id > after)
                                           .order_by(Subject.id).limit(CHUNK)).scalars())
                if not ids:
                    break
                facts = scoring.load_facts(session, ids)
                for subject_id in ids:
                    records = facts.get(subject_id, [])
                    now = engine.compute(records, active, today)
                    then = engine.compute(records, candidate, today)
                    points_moved += then.points != now.points
                    if then.level != now.level:
                        changed += 1
                        moves[f"{now.level}→{then.level}"] += 1
                done += len(ids)
                after = ids[-1]
                jobs.record_progress(session, job_id, done=done, changed=changed)
    except Exception as exc:
        jobs.mark_failed(session_factory, job_id, exc)
        raise
    # Subjects added while it ran were scored too.
    with session_factory() as session, session.begin():
        jobs.mark_done(session, job_id, done=done, changed=changed, total=max(counted, done),
                       params={"moves": dict(moves.most_common()),
                               "points_changed": points_moved})
