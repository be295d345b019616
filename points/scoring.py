"""Keeping scores current: recompute a subject's points whenever its records
change, in the same transaction, and serve the current points to its resident."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import redis
from sqlalchemy import select
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


def load_facts(session: Session, subject_ids: Iterable[int]) -> dict[int, list[engine.RecordFacts]]:
    ids = sorted(set(subject_ids))
    found: dict[int, list[engine.RecordFacts]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = session.execute(select(CreditRecord).where(CreditRecord.subject_id.in_(chunk))
                               .order_by(CreditRecord.subject_id, CreditRecord.id)).scalars()
        for record in rows:
            found[record.subject_id].append(facts_of(record))
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


def recompute_subjects(session: Session, cache: redis.Redis | None, subject_ids: Iterable[int],
                       as_of: dt.date, *, cause: str, reason: str,
                       record_id: int | None = None, rule_set: RuleSet | None = None,
                       keep_rule_set: bool = False) -> Recomputed:
    """Recompute, store and (after commit) cache the scores of these subjects.

    Subjects are locked in id order (SELECT … FOR UPDATE) so concurrent changes to
    one person's records are applied one after the other. `keep_rule_set` keeps
    each subject on the rule set its score was computed with (a read refreshing a
    score while a new rule set is being rolled out must not jump ahead of the job).
    """
    ids = sorted(set(subject_ids))
    results = Recomputed()
    if not ids:
        return results
    session.execute(select(Subject.id).where(Subject.id.in_(ids)).order_by(Subject.id)
                    .with_for_update()).all()
    active = rule_set or rule_store.active(session)
    facts = load_facts(session, ids)
    stored = {s.subject_id: s for s in session.execute(
        select(Score).where(Score.subject_id.in_(ids))).scalars()}
    now = utcnow()
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
        changed = previous is None or (previous.points, previous.level, previous.restricted,
                                       previous.rule_set) != (score.points, score.level,
                                                              score.restricted, score.rule_set)
        if previous is None:
            previous = Score(subject_id=subject_id, version=0)
            session.add(previous)
        if changed:
            results.changed.add(subject_id)
            previous.version = (previous.version or 0) + 1
            session.add(ScoreHistory(subject_id=subject_id, points=score.points,
                                     level=score.level, restricted=score.restricted,
                                     rule_set=score.rule_set, reason=reason, cause=cause,
                                     record_id=record_id, changed_at=now))
        previous.points, previous.level = score.points, score.level
        previous.restricted, previous.rule_set = score.restricted, score.rule_set
        previous.as_of, previous.next_change_on, previous.computed_at = as_of, change_on, now
        to_cache.append((subject_id, previous.version, body_of(score, change_on)))
    if cache is not None:
        on_commit(session, lambda: [score_cache.put(cache, sid, v, b) for sid, v, b in to_cache])
    return results


def current_points(session: Session, cache: redis.Redis, subject_id: int,
                   today: dt.date) -> dict:
    """The resident's points today: from Redis when fresh, else rebuilt from records.

    A cached score stays right until its `next_change_on` date; from that day on
    it is recomputed here (and stored), even before the nightly sweep runs."""
    body = score_cache.get(cache, subject_id)
    if body is not None and (body["next_change_on"] is None
                             or dt.date.fromisoformat(body["next_change_on"]) > today):
        return {**body, "as_of": today.isoformat()}
    stored = session.get(Score, subject_id)
    if stored is not None and stored.next_change_on is not None and stored.next_change_on <= today:
        reason = "a record's counting window opened or closed"
    else:
        reason = "first computation"
    score = recompute_subjects(session, cache, [subject_id], today, cause="time", reason=reason,
                               keep_rule_set=True)[subject_id]
    records = load_facts(session, [subject_id]).get(subject_id, [])
    return body_of(score, next_change(records, rule_store.by_code(session, score.rule_set), today))
