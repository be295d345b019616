"""Batch work over every subject: full recompute, the daily sweep, retention.

These run from the CLI or as background jobs. Each chunk of subjects is one
transaction, so memory stays constant and a failure loses at most one chunk
(which the next run redoes: every step here is idempotent)."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import redis
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from points import engine, privacy, rule_store, scoring
from points.dates import add_months
from points.models import CreditRecord, Score, Subject
from points.rulesets import RuleSet

log = logging.getLogger(__name__)
CHUNK = 1000
RETENTION_YEARS = 5


@dataclass
class Progress:
    total: int = 0
    done: int = 0
    changed: int = 0
    errors: list[str] = field(default_factory=list)


def _chunks(session: Session, stmt, after: int = 0) -> Iterator[list[int]]:
    """Subject ids in key order, a chunk at a time (keyset pagination: no OFFSET)."""
    while True:
        ids = list(session.execute(stmt.where(Subject.id > after).order_by(Subject.id)
                                   .limit(CHUNK)).scalars())
        if not ids:
            return
        yield ids
        after = ids[-1]


def recompute_all(session_factory: Callable[[], Session], cache: redis.Redis | None,
                  as_of: dt.date, *, rule_set_code: str | None = None,
                  reason: str = "full recompute", cause: str = "recompute",
                  subject_ids: list[int] | None = None,
                  on_progress: Callable[[Progress], None] | None = None) -> Progress:
    """Rebuild every score (or those of `subject_ids`) from records; reports how
    many stored scores differed from the engine's answer."""
    progress = Progress()
    with session_factory() as session:
        if subject_ids is None:
            progress.total = session.execute(select(func.count(Subject.id))).scalar_one()
        else:
            progress.total = len(subject_ids)
    stmt = select(Subject.id)
    if subject_ids is not None:
        stmt = stmt.where(Subject.id.in_(subject_ids))
    reader = session_factory()
    try:
        for ids in _chunks(reader, stmt):
            reader.rollback()  # do not hold a snapshot open across chunks
            with session_factory() as session, session.begin():
                rule_set = (rule_store.by_code(session, rule_set_code) if rule_set_code
                            else rule_store.active(session))
                try:
                    result = scoring.recompute_subjects(session, cache, ids, as_of, cause=cause,
                                                        reason=reason, rule_set=rule_set)
                except engine.RecordInvalid as exc:  # one bad record: report, go on
                    progress.errors.append(str(exc))
                    result = _one_by_one(session, cache, ids, as_of, cause, reason, rule_set,
                                         progress)
            progress.done += len(ids)
            progress.changed += len(result.changed)
            if on_progress:
                on_progress(progress)
    finally:
        reader.close()
    return progress


def _one_by_one(session, cache, ids, as_of, cause, reason, rule_set, progress):
    result = scoring.Recomputed()
    for subject_id in ids:
        try:
            with session.begin_nested():
                part = scoring.recompute_subjects(session, cache, [subject_id], as_of,
                                                  cause=cause, reason=reason, rule_set=rule_set)
            result.update(part)
            result.changed |= part.changed
        except engine.RecordInvalid as exc:
            progress.errors.append(f"subject {subject_id}: {exc}")
    return result


def sweep(session_factory: Callable[[], Session], cache: redis.Redis | None,
          today: dt.date, access_log_retention_days: int = 5 * 365) -> dict[str, int]:
    """Recompute the subjects whose window boundaries have passed, and purge what
    the retention periods allow."""
    stmt = select(Subject.id).join(Score, Score.subject_id == Subject.id).where(
        Score.next_change_on.is_not(None), Score.next_change_on <= today)
    recomputed = changed = 0
    reader = session_factory()
    try:
        for ids in _chunks(reader, stmt):
            reader.rollback()
            with session_factory() as session, session.begin():
                result = scoring.recompute_subjects(
                    session, cache, ids, today, cause="time",
                    reason="a record's counting window opened or closed", keep_rule_set=True)
            recomputed += len(ids)
            changed += len(result.changed)
    finally:
        reader.close()
    purged = purge_expired_records(session_factory, today)
    with session_factory() as session, session.begin():
        purged_log = privacy.purge_access_log(session, today, access_log_retention_days)
    return {"recomputed": recomputed, "changed": changed, "purged_records": purged,
            "purged_access_log": purged_log}


def purge_expired_records(session_factory: Callable[[], Session], today: dt.date) -> int:
    """Delete negative records 5 years after their window ended (《征信业管理条例》 Art. 16).

    A window ends at the latest `decided_on + max_months`, so only records decided
    more than 5 years ago can qualify; each is then checked with the engine."""
    cutoff = add_months(today, -12 * RETENTION_YEARS)
    purged = 0
    with session_factory() as session, session.begin():
        rule_set: RuleSet = rule_store.active(session)
        negative = [code for code, r in rule_set.resolved_types.items() if r.kind == "negative"]
        candidates = session.execute(select(CreditRecord).where(
            CreditRecord.type.in_(negative), CreditRecord.decided_on <= cutoff)).scalars().all()
        doomed = []
        for record in candidates:
            _, end = engine.window(scoring.facts_of(record), rule_set)
            if record.status == "revoked":
                end = end or record.decided_on
            if end is not None and add_months(end, 12 * RETENTION_YEARS) <= today:
                doomed.append(record.id)
        for start in range(0, len(doomed), 500):
            session.execute(delete(CreditRecord).where(CreditRecord.id.in_(doomed[start:start + 500])))
        purged = len(doomed)
    if purged:
        log.info("retention: purged %d negative records", purged)
    return purged
