"""Keeping scores current: recompute a subject's points whenever its records
change, in the same transaction, and serve the current points to its resident."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import partial

import orjson
import redis
from sqlalchemy import Row, Text, cast, insert, select, text
from sqlalchemy.orm import Session

from points.i18n import N_
from points.infra.db import dialect_insert, on_commit, utcnow
from points.models import CreditRecord, Score, ScoreHistory, Subject
from points.people import notifications
from points.rules import engine, rule_store
from points.rules.rulesets import RuleSet
from points.scores import score_cache


def facts_of(record: CreditRecord) -> engine.RecordFacts:
    return engine.RecordFacts(
        id=record.id, type=record.type, occurred_on=record.occurred_on,
        decided_on=record.decided_on, ended_on=record.ended_on, repaired_on=record.repaired_on,
        status="revoked" if record.status == "revoked" else "active", details=record.details or {},
    )


_FACT_COLUMNS = (CreditRecord.subject_id, CreditRecord.id, CreditRecord.type,
                 CreditRecord.occurred_on, CreditRecord.decided_on, CreditRecord.ended_on,
                 CreditRecord.repaired_on, CreditRecord.status,
                 # as text, parsed below only when not '{}' (most records have no
                 # details), rather than by the driver's JSON loader for every row
                 cast(CreditRecord.details, Text))
_IN_LIST_SIZE = 1000


def _dense(ids: list[int]) -> bool:
    """Whether sorted distinct ids are better read as the range ids[0]..ids[-1] (one
    index scan, no parameter list) than by an IN list: true of a batch's key-ordered
    chunks. A range may take in rows of a few other subjects, which callers drop."""
    return ids[-1] - ids[0] < 2 * len(ids)


def _parts(column, ids: list[int]) -> list[tuple[object, set[int] | None]]:
    """WHERE clauses covering the rows of these subjects (sorted, distinct), each with
    the set of ids to keep when the clause may take in other subjects' rows."""
    if _dense(ids):
        exact = ids[-1] - ids[0] + 1 == len(ids)
        return [(column.between(ids[0], ids[-1]), None if exact else set(ids))]
    return [(column.in_(ids[start:start + _IN_LIST_SIZE]), None)
            for start in range(0, len(ids), _IN_LIST_SIZE)]


def load_facts(session: Session, subject_ids: Iterable[int]) -> dict[int, list[engine.RecordFacts]]:
    """Every record of these subjects as engine facts, read as plain rows (no ORM objects:
    this runs for a million subjects in the full recompute)."""
    ids = sorted(set(subject_ids))
    found: dict[int, list[engine.RecordFacts]] = {}
    if not ids:
        return found
    facts = engine.RecordFacts
    loads = orjson.loads
    connection = session.connection()
    for where, keep in _parts(CreditRecord.subject_id, ids):
        # Core rows on the session's connection, fetched at once (the driver builds
        # them in C): no ORM result machinery and no fetch call per row.
        rows = connection.execute(select(*_FACT_COLUMNS).where(where)
                                  .order_by(CreditRecord.subject_id, CreditRecord.id)).all()
        last = None
        for subject_id, id_, type_, occurred, decided, ended, repaired, status, details in rows:
            if subject_id != last:  # rows come in subject order: one list per subject
                if keep is not None and subject_id not in keep:
                    continue
                last = subject_id
                current = found[subject_id] = []
            current.append(facts(
                id_, type_, occurred, decided, ended, repaired,
                "revoked" if status == "revoked" else "active",
                {} if details is None or details == "{}" else loads(details) or {}))
    return found


def cache_body(score: engine.Score, next_change_on: dt.date | None) -> bytes:
    """The resident's view of a score (GET /v1/me/points) as JSON, as the score cache
    keeps it. orjson encodes the engine's explanation items (dataclasses whose fields
    are the body's item keys) and dates (ISO 8601) in C: the batch writers cache
    thousands of these per second."""
    return orjson.dumps({
        "points": score.points, "level": score.level, "restricted": score.restricted,
        "rule_set": score.rule_set, "as_of": score.as_of, "base": score.base,
        "items": score.items,
        "next_level": None if score.next_level is None else {
            "level": score.next_level[0], "points_needed": score.next_level[1]},
        "next_change_on": next_change_on,
    })


def body_of(score: engine.Score, next_change_on: dt.date | None) -> dict:
    """The resident's view of a score, JSON-ready: the cached body, decoded."""
    return orjson.loads(cache_body(score, next_change_on))


class Recomputed(dict):
    """{subject_id: engine.Score}, with `changed`: the subjects whose stored score moved,
    and `next_change`: each subject's next window boundary after the date (or None)."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: set[int] = set()
        self.next_change: dict[int, dt.date | None] = {}

    def absorb(self, part: Recomputed) -> None:
        self.update(part)
        self.changed |= part.changed
        self.next_change.update(part.next_change)


_SCORE_FIELDS = ("points", "level", "restricted", "rule_set", "as_of", "next_change_on",
                 "version", "computed_at")


def _upsert(session: Session, model, key: str):
    stmt = dialect_insert(session, model)
    return stmt.on_conflict_do_update(index_elements=[key],
                                      set_={f: stmt.excluded[f] for f in _SCORE_FIELDS})


# On PostgreSQL the rows go as one array per column (unnest): one statement and one
# round trip per batch, with no per-row parameters for the driver to bind.
_PG_UPSERT = text("""
INSERT INTO scores (subject_id, points, level, restricted, rule_set, next_change_on, version,
                    as_of, computed_at)
SELECT u.*, CAST(:as_of AS date), CAST(:now AS timestamptz)
FROM unnest(CAST(:subject_id AS bigint[]), CAST(:points AS integer[]), CAST(:level AS text[]),
            CAST(:restricted AS boolean[]), CAST(:rule_set AS text[]),
            CAST(:next_change_on AS date[]), CAST(:version AS integer[]))
     AS u(subject_id, points, level, restricted, rule_set, next_change_on, version)
ON CONFLICT (subject_id) DO UPDATE SET
    points = excluded.points, level = excluded.level, restricted = excluded.restricted,
    rule_set = excluded.rule_set, as_of = excluded.as_of,
    next_change_on = excluded.next_change_on, version = excluded.version,
    computed_at = excluded.computed_at
""")
_PG_HISTORY = text("""
INSERT INTO score_history (subject_id, points, level, restricted, rule_set, reason, cause,
                           record_id, changed_at)
SELECT u.*, CAST(:reason AS text), CAST(:cause AS text), CAST(:record_id AS bigint),
       CAST(:now AS timestamptz)
FROM unnest(CAST(:subject_id AS bigint[]), CAST(:points AS integer[]), CAST(:level AS text[]),
            CAST(:restricted AS boolean[]), CAST(:rule_set AS text[]))
     AS u(subject_id, points, level, restricted, rule_set)
""")
_WRITE_COLUMNS = ("subject_id", "points", "level", "restricted", "rule_set", "next_change_on",
                  "version")


def _columns(names: tuple[str, ...], rows: list[tuple]) -> dict[str, list]:
    """Rows turned into one list per column."""
    return {name: list(values) for name, values in zip(names, zip(*rows), strict=True)}


def _write(session: Session, writes: list[tuple], history: list[tuple], as_of: dt.date,
           now: dt.datetime, reason: str, cause: str, record_id: int | None) -> None:
    """Upsert the scores that moved (`writes`: rows of _WRITE_COLUMNS) and add the
    history rows of those whose score itself moved (`history`: their first five)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if writes:
            connection.execute(_PG_UPSERT, {"as_of": as_of, "now": now,
                                            **_columns(_WRITE_COLUMNS, writes)})
        if history:
            connection.execute(_PG_HISTORY, {"reason": reason, "cause": cause,
                                             "record_id": record_id, "now": now,
                                             **_columns(_WRITE_COLUMNS[:5], history)})
        return
    # Elsewhere Core executemany (not the ORM's bulk path): batched into few statements.
    if writes:
        connection.execute(_upsert(session, Score, "subject_id"), [
            {**dict(zip(_WRITE_COLUMNS, row, strict=True)), "as_of": as_of, "computed_at": now}
            for row in writes])
    if history:
        connection.execute(insert(ScoreHistory), [
            {**dict(zip(_WRITE_COLUMNS[:5], row, strict=True)), "reason": reason,
             "cause": cause, "record_id": record_id, "changed_at": now} for row in history])


def lock_subjects(session: Session, ids: list[int]) -> None:
    """SELECT … FOR NO KEY UPDATE of these subjects (sorted, distinct), in id order."""
    where = (Subject.id.between(ids[0], ids[-1]) if ids[-1] - ids[0] + 1 == len(ids)
             else Subject.id.in_(ids))
    session.connection().execute(select(Subject.id).where(where).order_by(Subject.id)
                                 .with_for_update(key_share=True)).all()


class RuleSets(Enum):
    """Which rule set a recompute scores each subject with (or a given `RuleSet`)."""

    ACTIVE = "active"  # the active rule set
    # Each subject's own: the rule set its stored score was computed with (the active
    # one for a subject without a score). A read refreshing a score while a new rule
    # set is rolled out must not jump ahead of the job.
    KEPT = "kept"


class Caching(Enum):
    """Which recomputed scores are cached (after the commit)."""

    CHANGED = "changed"  # those whose cached body is out of date
    ALL = "all"  # every one: a read that found the cache empty


@dataclass(frozen=True)
class Occasion:
    """Why scores are recomputed — the cause, a reason for people and the record behind
    it, kept with each history row — and how: the rule set (`RuleSets` or a given
    one), the subjects whose explanation may have changed with their points unmoved
    (None: every subject for a change of records, `RECORDS_CHANGED`; none otherwise),
    and what is cached (`Caching`)."""

    cause: str
    reason: str
    record_id: int | None = None
    rule_set: RuleSet | RuleSets = RuleSets.ACTIVE
    explanation_changed: Collection[int] | None = None
    caching: Caching = Caching.CHANGED


def recompute_subjects(session: Session, cache: redis.Redis | None, subject_ids: Iterable[int],
                       as_of: dt.date, occasion: Occasion) -> Recomputed:
    """Recompute, store and (after commit) cache the scores of these subjects.

    Subjects are locked in id order (SELECT … FOR NO KEY UPDATE) so concurrent
    changes to one person's records are applied one after the other. NO KEY UPDATE,
    not UPDATE: the records just inserted hold KEY SHARE locks on their subjects
    (foreign-key checks), and FOR UPDATE would deadlock two batches that share one. Only scores whose cached
    body is out of date (points, level, restriction, rule set, the next date they
    can change, or — for a change of records — the explanation) are written, with a
    new version, and a history row when the score itself moved (see `Occasion` for
    the rule set and what is cached).
    """
    ids = sorted(set(subject_ids))
    if not ids:
        return Recomputed()
    lock_subjects(session, ids)
    return recompute_locked(session, cache, ids, as_of, occasion)


# Causes that change a subject's records: the explanation (which records count, until
# when, as what type) may change with the points unmoved, so the score's version moves
# and the cached body is replaced (unless the caller names the subjects it may
# change for: `explanation_changed`).
RECORDS_CHANGED = frozenset({"record", "repair", "objection"})


def recompute_locked(session: Session, cache: redis.Redis | None, ids: list[int],
                     as_of: dt.date, occasion: Occasion) -> Recomputed:
    """`recompute_subjects` for sorted, distinct ids the caller has locked already
    (the full recompute locks each chunk in the query that picks it): each subject's
    score evaluated on its rule set, then what changed written, noticed and cached."""
    results = Recomputed()
    if not ids:
        return results
    facts = load_facts(session, ids)
    stored = _stored_scores(session, ids)
    changes = _Changes(_explained(occasion, ids), occasion.caching is Caching.ALL)
    rule_set_of = _rule_sets(session, occasion.rule_set)
    evaluate = engine.evaluate
    for subject_id in ids:
        previous = stored.get(subject_id)
        # The score and its next boundary in one walk over the records.
        score, change_on = evaluate(facts.get(subject_id, ()), rule_set_of(previous), as_of)
        results[subject_id] = score
        results.next_change[subject_id] = change_on
        if changes.note(subject_id, previous, score, change_on):
            results.changed.add(subject_id)
    _write(session, changes.writes, changes.history, as_of, utcnow(), occasion.reason,
           occasion.cause, occasion.record_id)
    notifications.send(session, changes.levels, as_of)
    if cache is not None and changes.to_cache:
        on_commit(session, partial(score_cache.put_many, cache, changes.to_cache))
    return results


def _explained(occasion: Occasion, ids: list[int]) -> frozenset[int]:
    """The subjects whose explanation may have changed with their points unmoved."""
    if occasion.explanation_changed is not None:
        return frozenset(occasion.explanation_changed)
    return frozenset(ids) if occasion.cause in RECORDS_CHANGED else frozenset()


def _rule_sets(session: Session, choice: RuleSet | RuleSets
               ) -> Callable[[Row | None], RuleSet]:
    """`rule_set_of(stored score or None)`: the rule set to score a subject with."""
    if isinstance(choice, RuleSet):
        return lambda previous: choice
    active = rule_store.active(session)
    if choice is RuleSets.ACTIVE:
        return lambda previous: active
    return lambda previous: _rule_set_kept(session, active, previous)


def _stored_scores(session: Session, ids: list[int]) -> dict[int, Row]:
    """The stored scores of these subjects (sorted, distinct), by subject id."""
    return {row[0]: row for where, _ in _parts(Score.subject_id, ids)
            for row in session.connection().execute(
                select(Score.subject_id, Score.points, Score.level, Score.restricted,
                       Score.rule_set, Score.next_change_on, Score.version).where(where))}


def _rule_set_kept(session: Session, active: RuleSet, previous: Row | None) -> RuleSet:
    """The rule set a subject's stored score was computed with (the active one for a
    subject without a score)."""
    if previous is not None and previous.rule_set != active.code:
        return rule_store.by_code(session, previous.rule_set)
    return active


@dataclass
class _Changes:
    """What a recompute writes: the scores whose cached body is out of date (points,
    level, restriction, rule set, next change, or the explanation of a subject in
    `explained`) with a new version, a history row for each score that moved, a notice
    for each level that changed, and the bodies to cache (every one with `cache_all`)."""

    explained: frozenset[int]
    cache_all: bool
    writes: list[tuple] = field(default_factory=list)
    history: list[tuple] = field(default_factory=list)
    levels: list[notifications.Notice] = field(default_factory=list)
    to_cache: list[tuple[int, int, bytes]] = field(default_factory=list)

    def note(self, subject_id: int, previous: Row | None, score: engine.Score,
             change_on: dt.date | None) -> bool:
        """Note a subject's score against its stored one; whether the score moved."""
        state = (score.points, score.level, score.restricted, score.rule_set)
        moved = previous is None or (previous.points, previous.level, previous.restricted,
                                     previous.rule_set) != state
        # The cached body (points, explanation, next change) is out of date.
        stale = (moved or subject_id in self.explained
                 or previous.next_change_on != change_on)
        version = (previous.version if previous is not None else 0) + (1 if stale else 0)
        if stale:
            self.writes.append((subject_id, *state, change_on, version))
        if moved:
            self.history.append((subject_id, *state))
            if previous is not None and previous.level != score.level:
                self.levels.append(notifications.Notice(
                    kind="level_changed", dedupe_key=f"level:{subject_id}:{version}",
                    subject_id=subject_id, params={"from": previous.level, "to": score.level,
                                                   "points": score.points}))
        if stale or self.cache_all:
            self.to_cache.append((subject_id, version, cache_body(score, change_on)))
        return moved


NOT_READ = object()


def cached_points(cache: redis.Redis, subject_id: int, today: dt.date,
                  prefetched: bytes | None | object = NOT_READ) -> dict | None:
    """The resident's points from Redis if the cached score is still right today
    (it stays right until its `next_change_on` date), else None. `prefetched` is
    the cached body (None: not cached) when the caller has read it already, in the
    same Redis round trip as the token check."""
    body = (score_cache.get(cache, subject_id) if prefetched is NOT_READ
            else score_cache.prefetched(cache, subject_id, prefetched))
    if body is None:
        return None
    day = today.isoformat()
    next_change_on = body["next_change_on"]  # ISO dates: their order is their text's
    if next_change_on is not None and next_change_on <= day:
        return None
    body["as_of"] = day  # a body decoded for this call alone
    return body


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
        reason = N_("a record's counting window opened or closed")
    else:
        reason = N_("first computation")
    result = recompute_subjects(session, cache, [subject_id], today, Occasion(
        "time", reason, rule_set=RuleSets.KEPT, caching=Caching.ALL))
    return body_of(result[subject_id], result.next_change[subject_id])
