"""Batch work over every subject: full recompute, the daily sweep, retention.

These run from the CLI or as background jobs. Each chunk of subjects is one
transaction, so memory stays constant and a failure loses at most one chunk
(which the next run redoes: every step here is idempotent)."""
from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from points.dates import add_months
from points.i18n import N_
from points.infra.db import utcnow
from points.models import CreditRecord, Job, RecordVersion, Score, Subject
from points.models.workers import CreditCheck
from points.people import face, privacy
from points.rules import engine, rule_store
from points.rules.rulesets import RuleSet
from points.scores import scoring

log = logging.getLogger(__name__)
CHUNK = 1000
RETENTION_YEARS = 5


@dataclass
class Progress:
    total: int = 0
    done: int = 0
    changed: int = 0
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        """The counts as `record_progress` keeps them on the job's row."""
        return {"done": self.done, "changed": self.changed, "total": self.total,
                "errors": self.errors}


# A job row keeps the last errors only.
KEPT_ERRORS = 50


def begin_run(job: Job) -> bool:
    """Start a job (its row locked by the caller) when it is queued, or failed and run
    again, its counts from zero; False when another worker has it or it finished."""
    if job.status not in {"queued", "failed"}:
        return False
    job.status, job.started_at, job.done, job.changed = "running", utcnow(), 0, 0
    return True


def record_progress(session: Session, job_id, *, done: int | None = None,
                    changed: int | None = None, total: int | None = None,
                    errors: list[str] | None = None, params: dict | None = None) -> Job:
    """Keep on a job's row, in the caller's transaction (with the work it counts), the
    counts given, its last errors, and what `params` adds to its parameters (what the
    job found, for the console to show)."""
    job = session.get(Job, job_id)
    if done is not None:
        job.done = done
    if changed is not None:
        job.changed = changed
    if total is not None:
        job.total = total
    if errors is not None:
        job.errors = errors[-KEPT_ERRORS:]
    if params:
        job.params = {**job.params, **params}
    return job


def save_progress(session_factory: Callable[[], Session], job_id, **counts) -> None:
    """`record_progress` in a transaction of its own."""
    with session_factory() as session, session.begin():
        record_progress(session, job_id, **counts)


def mark_done(session: Session, job_id, **counts) -> None:
    """Mark a job done in the caller's transaction (with the last of its work), with
    its final counts (as `record_progress` takes them)."""
    job = record_progress(session, job_id, **counts)
    job.status, job.finished_at = "done", utcnow()


def mark_failed(session_factory: Callable[[], Session], job_id, exc: Exception) -> None:
    """Mark a job failed, its last errors kept with the exception that ended it."""
    with session_factory() as session, session.begin():
        job = session.get(Job, job_id)
        job.status, job.finished_at = "failed", utcnow()
        job.errors = [*(job.errors or []), f"{type(exc).__name__}: {exc}"][-KEPT_ERRORS:]


def _chunks(session: Session, stmt, after: int = 0) -> Iterator[list[int]]:
    """Subject ids in key order, a chunk at a time (keyset pagination: no OFFSET)."""
    while True:
        ids = list(session.execute(stmt.where(Subject.id > after).order_by(Subject.id)
                                   .limit(CHUNK)).scalars())
        if not ids:
            return
        yield ids
        after = ids[-1]


# Cyclic garbage collection during batch runs (see _fewer_collections).
_BATCH_GC_THRESHOLD = (100_000, 50, 100)
_gc_lock = threading.Lock()
_gc_batches = 0  # batch runs in progress in this process
_gc_saved: tuple[int, ...] = ()
_gc_froze = False  # whether the running batches froze the heap (and so unfreeze it)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect cyclic garbage rarely while a batch runs.

    A chunk makes and drops some 200k small objects (facts, rows, explanation items),
    nearly all freed by reference counting at once. The cyclic collector, run every
    700 allocations by default and now and then over the whole heap (the app's own
    hundreds of thousands of objects included), took about 40% of the recompute's CPU
    time. The objects that exist when the batch starts are frozen out of its scans
    and the young generation is collected every 100k allocations; both are undone by
    the last batch run of the process to finish."""
    global _gc_batches, _gc_saved, _gc_froze
    with _gc_lock:
        if _gc_batches == 0:
            _gc_saved = gc.get_threshold()
            # A process that froze its heap itself (a preforking server) keeps it so.
            _gc_froze = gc.get_freeze_count() == 0
            if _gc_froze:
                gc.freeze()
            gc.set_threshold(*_BATCH_GC_THRESHOLD)
        _gc_batches += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_batches -= 1
            if _gc_batches == 0:
                gc.set_threshold(*_gc_saved)
                if _gc_froze:
                    gc.unfreeze()


def recompute_all(session_factory: Callable[[], Session], cache: redis.Redis | None,
                  as_of: dt.date, *, rule_set_code: str | None = None,
                  reason: str = N_("full recompute"), cause: str = "recompute",
                  subject_ids: list[int] | None = None,
                  id_range: tuple[int, int] | None = None,
                  on_progress: Callable[[Progress], None] | None = None) -> Progress:
    """Rebuild every score (or those of `subject_ids`, or of subjects with ids in
    `id_range` [lo, hi)) from records; reports how many stored scores differed
    from the engine's answer."""
    progress = Progress()
    stmt = select(Subject.id)
    if subject_ids is not None:
        stmt = stmt.where(Subject.id.in_(subject_ids))
    if id_range is not None:
        stmt = stmt.where(Subject.id >= id_range[0], Subject.id < id_range[1])
    with session_factory() as session:
        progress.total = session.execute(
            select(func.count()).select_from(stmt.subquery())).scalar_one()
    # Keyset pagination (no OFFSET). Each chunk is picked and locked by one query that
    # opens its transaction, so no snapshot stays open across chunks and the chunk's
    # records are read, scored and written by key ranges (see scoring.load_facts).
    stmt = stmt.order_by(Subject.id).limit(CHUNK).with_for_update(key_share=True, of=Subject)
    after = 0
    with _fewer_collections():
        while True:
            with session_factory() as session, session.begin():
                ids = list(session.execute(stmt.where(Subject.id > after)).scalars())
                if not ids:
                    break
                rule_set = (rule_store.by_code(session, rule_set_code) if rule_set_code
                            else rule_store.active(session))
                try:
                    result = scoring.recompute_locked(session, cache, ids, as_of,
                                                      scoring.Occasion(cause, reason,
                                                                       rule_set=rule_set))
                except engine.RecordInvalid as exc:  # one bad record: report, go on
                    progress.errors.append(str(exc))
                    result = _one_by_one(session, cache, ids, as_of, cause, reason, rule_set,
                                         progress)
            after = ids[-1]
            progress.done += len(ids)
            progress.changed += len(result.changed)
            if on_progress:
                on_progress(progress)
    return progress


def _one_by_one(session, cache, ids, as_of, cause, reason, rule_set, progress):
    result = scoring.Recomputed()
    for subject_id in ids:
        try:
            with session.begin_nested():
                part = scoring.recompute_subjects(session, cache, [subject_id], as_of,
                                                  scoring.Occasion(cause, reason,
                                                                   rule_set=rule_set))
            result.absorb(part)
        except engine.RecordInvalid as exc:
            progress.errors.append(f"subject {subject_id}: {exc}")
    return result


def sweep(session_factory: Callable[[], Session], cache: redis.Redis | None,
          today: dt.date, *, access_log_retention_days: int) -> dict[str, int]:
    """Recompute the subjects whose window boundaries have passed, and purge what
    the retention periods allow (the app's setting ACCESS_LOG_RETENTION_DAYS)."""
    stmt = select(Subject.id).join(Score, Score.subject_id == Subject.id).where(
        Score.next_change_on.is_not(None), Score.next_change_on <= today)
    recomputed = changed = 0
    reader = session_factory()
    try:
        with _fewer_collections():
            for ids in _chunks(reader, stmt):
                reader.rollback()
                with session_factory() as session, session.begin():
                    result = scoring.recompute_subjects(session, cache, ids, today, scoring.Occasion(
                        "time", N_("a record's counting window opened or closed"),
                        rule_set=scoring.RuleSets.KEPT))
                recomputed += len(ids)
                changed += len(result.changed)
    finally:
        reader.close()
    purged = purge_expired_records(session_factory, today)
    with session_factory() as session, session.begin():
        purged_log = privacy.purge_access_log(session, today, access_log_retention_days)
        erased = face.erase_unused(session)
    return {"recomputed": recomputed, "changed": changed, "purged_records": purged,
            "purged_access_log": purged_log, "erased_face_verifications": erased}


def purge_expired_records(session_factory: Callable[[], Session], today: dt.date) -> int:
    """Delete negative records 5 years after their window ended (《征信业管理条例》 Art. 16).

    A window ends at the latest `decided_on + max_months`, so only records decided
    about 5 years ago or earlier can qualify; each is then checked with the engine.
    The copies the credit checks kept of what they saw go with them."""
    # A few days' margin: month arithmetic clamps (a window ending 29 Feb 2024 is
    # purged on 28 Feb 2029, when 5 years before is 28 Feb 2024).
    cutoff = add_months(today, -12 * RETENTION_YEARS) + dt.timedelta(days=3)
    purged = 0
    with session_factory() as session, session.begin():
        rule_set: RuleSet = rule_store.active(session)
        negative = [code for code, r in rule_set.resolved_types.items() if r.kind == "negative"]
        candidates = session.execute(select(CreditRecord).where(
            CreditRecord.type.in_(negative), CreditRecord.decided_on <= cutoff)).scalars().all()
        doomed: dict[int, set[int]] = {}  # record id: the subjects it was about
        for record in candidates:
            _, end = engine.window(scoring.facts_of(record), rule_set)
            if record.status == "revoked":
                end = end or record.decided_on
            if end is not None and add_months(end, 12 * RETENTION_YEARS) <= today:
                doomed[record.id] = {record.subject_id}
        ids = list(doomed)
        for start in range(0, len(ids), 500):
            # A correction may have moved a record from one person to another: a check
            # of the first person listed it too (its versions, deleted with it, say who).
            for record_id, snapshot in session.execute(
                    select(RecordVersion.record_id, RecordVersion.snapshot)
                    .where(RecordVersion.record_id.in_(ids[start:start + 500]))):
                if isinstance(snapshot, dict) and snapshot.get("subject_id") is not None:
                    doomed[record_id].add(snapshot["subject_id"])
        _forget_in_credit_checks(session, doomed)
        for start in range(0, len(ids), 500):
            session.execute(delete(CreditRecord).where(CreditRecord.id.in_(ids[start:start + 500])))
        purged = len(doomed)
    if purged:
        log.info("retention: purged %d negative records", purged)
    return purged


def _forget_in_credit_checks(session: Session, purged: dict[int, set[int]]) -> None:
    """Take purged records out of the credit checks that listed them (each check keeps
    the negative records it saw, for the department's file of the matter)."""
    subjects = sorted(set().union(*purged.values()))
    for start in range(0, len(subjects), 500):
        checks = session.execute(select(CreditCheck).where(
            CreditCheck.subject_id.in_(subjects[start:start + 500]))).scalars()
        for check in checks:
            kept = [r for r in check.negative_records or [] if r.get("record_id") not in purged]
            if len(kept) != len(check.negative_records or []):
                check.negative_records = kept


def subject_ranges(session: Session, parts: int) -> list[tuple[int, int]]:
    """Split the subject ids into about `parts` [lo, hi) ranges of similar size."""
    lo, hi = session.execute(select(func.min(Subject.id), func.max(Subject.id))).one()
    if lo is None:
        return []
    step = max(1, (hi - lo + parts) // parts)
    return [(start, min(start + step, hi + 1)) for start in range(lo, hi + 1, step)]


def start_split_recompute(session: Session, parts: int, actor: str,
                          rule_set_code: str | None = None) -> tuple[Job, list[tuple[int, int]]]:
    """A recompute job cut into subject-id ranges that any number of workers take."""
    ranges = subject_ranges(session, parts)
    total = session.execute(select(func.count(Subject.id))).scalar_one()
    job = Job(id=str(uuid.uuid4()), kind="recompute_split",
              status="queued" if ranges else "done", created_by=actor, created_at=utcnow(),
              params={"ranges": [list(r) for r in ranges], "rule_set": rule_set_code},
              total=total, done=0, changed=0, errors=[])
    session.add(job)
    return job, ranges


def run_range_part(session_factory: Callable[[], Session], cache: redis.Redis | None,
                   job_id: str, lo: int, hi: int, today: dt.date) -> Progress:
    """One part of a split recompute (an RQ job body); adds its counts to the job row
    with one UPDATE, which also marks the job done when the last part lands."""
    with session_factory() as session, session.begin():
        code = session.execute(select(Job.params).where(Job.id == job_id)).scalar_one()["rule_set"]
        session.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                        .values(status="running", started_at=utcnow()))
    progress = recompute_all(session_factory, cache, today, rule_set_code=code,
                             id_range=(lo, hi))
    with session_factory() as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(
            done=Job.done + progress.done, changed=Job.changed + progress.changed,
            status=case((Job.done + progress.done >= Job.total, "done"), else_="running"),
            finished_at=case((Job.done + progress.done >= Job.total, utcnow()),
                             else_=Job.finished_at)))
    return progress
