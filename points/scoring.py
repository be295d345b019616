"""Keeping scores current: recompute a subject's points whenever its records
change, in the same transaction, and serve the current points to its resident."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import redis
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from points import engine, rule_store, score_cache
from points.db import on_commit, utcnow
from points.models import CreditRecord, Score, ScoreHistory, Subject
from points.rulesets import RuleSet


def facts_of(record: CreditRecord) -> engine.RecordFacts:
    return engine.RecordFacts(
        id=record.id, type=record.type, occurred_on=record.occurred_on,
        decided_on=record.decided_on, ended_on=record.ended_on, repaired_on=record.repaired_on,
        status="revoked" if record.status == "revoked" else "active", details=record.details or {},
    )


_FACT_COLUMNS = (CreditRecord.subject_id, CreditRecord.id, CreditRecord.type,
                 CreditRecord.occurred_on, CreditRecord.decided_on, CreditRecord.ended_on,
                 CreditRecord.repaired_on, CreditRecord.status, CreditRecord.details)


def load_facts(session: Session, subject_ids: Iterable[int]) -> dict[int, list[engine.RecordFacts]]:
    """Every record of these subjects as engine facts, read as plain rows (no ORM objects:
    this runs for a million subjects in the full recompute)."""
    ids = sorted(set(subject_ids))
    found: dict[int, list[engine.RecordFacts]] = defaultdict(list)
    facts = engine.RecordFacts
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        # Core rows on the session's connection: no ORM result machinery per row.
        rows = session.connection().execute(
            select(*_FACT_COLUMNS).where(CreditRecord.subject_id.in_(chunk))
            .order_by(CreditRecord.subject_id, CreditRecord.id))
        for subject_id, id_, type_, occurred, decided, ended, repaired, status, details in rows:
            found[subject_id].append(facts(
                id_, type_, occurred, decided, ended, repaired,
                "revoked" if status == "revoked" else "active", details or {}))
    return found


def next_change(records: list[engine.RecordFacts], rule_set: RuleSet,
                as_of: dt.date) -> dt.date | None:
    """The first date after `as_of` on which a window opens or closes."""
    later = [d for d in engine.boundaries(records, rule_set) if d > as_of]
    return min(later) if later else None


def body_of(score: engine.Score, next_change_on: dt.date | None) -> dict:
    """The resident's view of a score (GET /v1/me/points), JSON-ready."""
    return {
        "points": score.points,
        "level": score.level,
        "restricted": score.restricted,
        "rule_set": score.rule_set,
        "as_of": score.as_of.isoformat(),
        "base": score.base,
        "items": [{
            "record_id": item.record_id, "type": item.type, "title": item.title,
            "points": item.points, "raw_points": item.raw_points,
            "counted_from": item.counted_from.isoformat(),
            "counted_until": item.counted_until.isoformat() if item.counted_until else None,
        } for item in score.items],
        "next_level": None if score.next_level is None else {
            "level": score.next_level[0], "points_needed": score.next_level[1]},
        "next_change_on": next_change_on.isoformat() if next_change_on else None,
    }


class Recomputed(dict):
    """{subject_id: engine.Score}, with `changed`: the subjects whose stored score moved."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: set[int] = set()


_SCORE_FIELDS = ("points", "level", "restricted", "rule_set", "as_of", "next_change_on",
                 "version", "computed_at")


def _upsert(session: Session, model, key: str):
    stmt = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert)(model)
    return stmt.on_conflict_do_update(index_elements=[key],
                                      set_={f: stmt.excluded[f] for f in _SCORE_FIELDS})


def recompute_subjects(session: Session, cache: redis.Redis | None, subject_ids: Iterable[int],
                       as_of: dt.date, *, cause: str, reason: str,
                       record_id: int | None = None, rule_set: RuleSet | None = None,
                       keep_rule_set: bool = False, fill_cache: bool = False) -> Recomputed:
    """Recompute, store and (after commit) cache the scores of these subjects.

    Subjects are locked in id order (SELECT … FOR NO KEY UPDATE) so concurrent
    changes to one person's records are applied one after the other. NO KEY UPDATE,
    not UPDATE: the records just inserted hold KEY SHARE locks on their subjects
    (foreign-key checks), and FOR UPDATE would deadlock two batches that share one. Only scores that moved
    (points, level, restriction, rule set or the next date they can change) are
    written, with a history row when the score itself moved; `fill_cache` also
    caches the unchanged ones (a read that found the cache empty). `keep_rule_set`
    keeps each subject on the rule set its score was computed with (a read refreshing
    a score while a new rule set is rolled out must not jump ahead of the job).
    """
    ids = sorted(set(subject_ids))
    results = Recomputed()
    if not ids:
        return results
    session.connection().execute(select(Subject.id).where(Subject.id.in_(ids))
                                 .order_by(Subject.id).with_for_update(key_share=True)).all()
    active = rule_set or rule_store.active(session)
    facts = load_facts(session, ids)
    stored = {row.subject_id: row for row in session.connection().execute(
        select(Score.subject_id, Score.points, Score.level, Score.restricted, Score.rule_set,
               Score.next_change_on, Score.version).where(Score.subject_id.in_(ids)))}
    now = utcnow()
    writes: list[dict] = []
    history: list[dict] = []
    to_cache: list[tuple[int, int, dict]] = []
    for subject_id in ids:
        previous = stored.get(subject_id)
        use = active
        if keep_rule_set and previous is not None and previous.rule_set != active.code:
            use = rule_store.by_code(session, previous.rule_set)
        records = facts.get(subject_id, [])
        score = engine.compute(records, use, as_of)
        change_on = next_change(records, use, as_of)
        results[subject_id] = score
        state = (score.points, score.level, score.restricted, score.rule_set)
        moved = previous is None or (previous.points, previous.level, previous.restricted,
                                     previous.rule_set) != state
        version = (previous.version if previous is not None else 0) + (1 if moved else 0)
        if moved or previous.next_change_on != change_on:
            writes.append({"subject_id": subject_id, "points": score.points, "level": score.level,
                           "restricted": score.restricted, "rule_set": score.rule_set,
                           "as_of": as_of, "next_change_on": change_on, "version": version,
                           "computed_at": now})
        if moved:
            results.changed.add(subject_id)
            history.append({"subject_id": subject_id, "points": score.points,
                            "level": score.level, "restricted": score.restricted,
                            "rule_set": score.rule_set, "reason": reason, "cause": cause,
                            "record_id": record_id, "changed_at": now})
        if moved or fill_cache:
            to_cache.append((subject_id, version, body_of(score, change_on)))
    if writes:
        # Core executemany (not the ORM's bulk path): batched into few statements.
        session.connection().execute(_upsert(session, Score, "subject_id"), writes)
    if history:
        session.connection().execute(insert(ScoreHistory), history)
    if cache is not None and to_cache:
        on_commit(session, lambda: score_cache.put_many(cache, to_cache))
    return results


NOT_READ = object()


def cached_points(cache: redis.Redis, subject_id: int, today: dt.date,
                  prefetched: bytes | None | object = NOT_READ) -> dict | None:
    """The resident's points from Redis if the cached score is still right today
    (it stays right until its `next_change_on` date), else None. `prefetched` is
    the cached body (None: not cached) when the caller has read it already, in the
    same Redis round trip as the token check."""
    body = (score_cache.get(cache, subject_id) if prefetched is NOT_READ
            else score_cache.prefetched(cache, subject_id, prefetched))
    if body is not None and (body["next_change_on"] is None
                             or dt.date.fromisoformat(body["next_change_on"]) > today):
        return {**body, "as_of": today.isoformat()}
    return None


def current_points(session: Session, cache: redis.Redis, subject_id: int,
                   today: dt.date) -> dict:
    """The resident's points today: from Redis when fresh, else rebuilt from records
    (and stored), even before the nightly sweep runs."""
    return cached_points(cache, subject_id, today) or rebuilt_points(session, cache, subject_id,
                                                                      today)


def rebuilt_points(session: Session, cache: redis.Redis, subject_id: int,
                   today: dt.date) -> dict:
    """The resident's points recomputed from records, stored and cached."""
    stored = session.get(Score, subject_id)
    if stored is not None and stored.next_change_on is not None and stored.next_change_on <= today:
        reason = "a record's counting window opened or closed"
    else:
        reason = "first computation"
    score = recompute_subjects(session, cache, [subject_id], today, cause="time", reason=reason,
                               keep_rule_set=True, fill_cache=True)[subject_id]
    records = load_facts(session, [subject_id]).get(subject_id, [])
    return body_of(score, next_change(records, rule_store.by_code(session, score.rule_set), today))
