"""The full recompute's batch path: records read by subject ranges, scores and history
written a batch at a time, the cache filled in batches — with the same results as
one subject at a time, idempotent reruns, and one bad record reported without
stopping the run."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from points.models import CreditRecord, Score, ScoreHistory, Subject
from points.scores import jobs, score_cache, scoring
from tests.builders.departments import department, push
from tests.builders.residents import valid_id

AS_OF = dt.date(2026, 11, 30)


def subjects_with_records(app, client, session, count: int = 6) -> list[int]:
    """`count` subjects with mixed records (per-unit details, a negative record, an
    occupational one, a revoked one); their ids in order."""
    dept = department(app, client)
    records = []
    for n in range(count):
        number = valid_id(seq=500 + n)
        records += [
            {"type": "donation.blood", "id_number": number, "occurred_on": "2026-06-01"},
            {"type": "volunteer.service", "id_number": number, "occurred_on": "2026-03-01",
             "details": {"hours": 20 + 10 * n}},
        ]
        if n % 2:
            records.append({"type": "admin.penalty.general", "id_number": number,
                            "decided_on": "2026-02-10"})
        if n % 3 == 0:
            records.append({"type": "worker.identity_verified", "id_number": number,
                            "occurred_on": "2026-01-05"})
    push(client, dept, *records)
    ids = list(session.execute(select(Subject.id).order_by(Subject.id)).scalars())
    assert len(ids) == count
    return ids


def test_load_facts_reads_exactly_the_subjects_asked_for(app, client, session):
    ids = subjects_with_records(app, client, session)
    one_by_one = {i: scoring.load_facts(session, [i])[i] for i in ids}

    # every subject (a range), a range with a gap (a subject in it left out), and ids
    # too far apart for a range (an IN list)
    for asked in (ids, [ids[0], ids[1], ids[3], ids[4]], [ids[0], ids[5]]):
        facts = scoring.load_facts(session, asked)
        assert facts == {i: one_by_one[i] for i in asked}
    details = {f.type: f.details for facts in one_by_one.values() for f in facts
               if f.type == "volunteer.service" or f.details}
    hours = sorted(f.details["hours"] for facts in one_by_one.values() for f in facts
                   if f.type == "volunteer.service")
    assert hours == [20 + 10 * n for n in range(len(ids))]
    assert set(details) == {"volunteer.service"}  # every other record: details {}


def test_full_recompute_fills_scores_history_and_cache_and_a_rerun_changes_nothing(
        app, client, session):
    ids = subjects_with_records(app, client, session)
    cache = app.state.redis
    expected = {i: scoring.recompute_subjects(session, None, [i], AS_OF,
                                              scoring.Occasion("test", "expected"))[i]
                for i in ids}
    session.rollback()  # only the answers were wanted
    session.execute(ScoreHistory.__table__.delete())
    session.execute(Score.__table__.delete())
    session.commit()
    cache.flushdb()
    state = app.state

    progress = jobs.recompute_all(state.db.new_session, cache, AS_OF)

    assert (progress.done, progress.changed, progress.errors) == (len(ids), len(ids), [])
    scores = {s.subject_id: s for s in session.query(Score)}
    assert {i: (s.points, s.level, s.restricted) for i, s in scores.items()} == {
        i: (e.points, e.level, e.restricted) for i, e in expected.items()}
    history = session.query(ScoreHistory).all()
    assert sorted(h.subject_id for h in history) == ids
    assert {h.cause for h in history} == {"recompute"}
    for subject_id, score in scores.items():
        assert score.version == 1 and score.as_of == AS_OF
        cached = score_cache.get(cache, subject_id)
        assert cached["points"] == score.points
        assert cached["next_change_on"] == (score.next_change_on.isoformat()
                                            if score.next_change_on else None)
        assert int(cache.hget(f"score:{subject_id}", "v")) == score.version

    again = jobs.recompute_all(state.db.new_session, cache, AS_OF)

    assert (again.done, again.changed) == (len(ids), 0)
    session.expire_all()
    assert session.query(ScoreHistory).count() == len(ids)
    assert {s.version for s in session.query(Score)} == {1}


def test_a_subject_whose_score_cannot_change_again_stores_no_next_date(app, client, session):
    dept = department(app, client)
    push(client, dept, {"type": "worker.identity_verified", "id_number": valid_id(seq=520),
                        "occurred_on": "2026-01-05"})
    state = app.state

    progress = jobs.recompute_all(state.db.new_session, state.redis, AS_OF)

    assert progress.errors == []
    score = session.query(Score).one()
    assert (score.points, score.next_change_on) == (scoring.rule_store.active(session).base,
                                                    None)


def test_a_bad_record_is_reported_and_the_others_recomputed(app, client, session):
    ids = subjects_with_records(app, client, session, count=4)
    bad, subject_id = session.execute(
        select(CreditRecord.id, CreditRecord.subject_id)
        .where(CreditRecord.type == "admin.penalty.general").limit(1)).one()
    # As if stored before ingestion checked it: a penalty without its decision date.
    session.execute(update(CreditRecord).where(CreditRecord.id == bad).values(decided_on=None))
    session.execute(Score.__table__.delete())
    session.commit()
    state = app.state

    progress = jobs.recompute_all(state.db.new_session, state.redis, AS_OF)

    assert progress.done == 4
    assert any(f"record {bad}" in error and "decided_on is required" in error
               for error in progress.errors), progress.errors
    stored = set(session.execute(select(Score.subject_id)).scalars())
    assert stored == set(ids) - {subject_id}


def test_subject_ids_and_id_ranges_limit_the_run(app, client, session):
    ids = subjects_with_records(app, client, session)
    session.execute(Score.__table__.delete())
    session.commit()
    state = app.state

    picked = jobs.recompute_all(state.db.new_session, None, AS_OF, subject_ids=[ids[1], ids[4]])
    ranged = jobs.recompute_all(state.db.new_session, None, AS_OF, id_range=(ids[2], ids[4]))

    assert (picked.done, ranged.done) == (2, 2)
    assert sorted(session.execute(select(Score.subject_id)).scalars()) == [
        ids[1], ids[2], ids[3], ids[4]]


def test_the_cache_takes_a_large_batch_and_keeps_newer_versions(app):
    cache = app.state.redis
    cache.flushdb()
    size = 2 * score_cache._BATCH + 7  # several script calls
    score_cache.put_many(cache, [(n, 5, {"points": 5}) for n in range(0, size, 3)])

    score_cache.put_many(cache, [(n, 4, {"points": 4}) for n in range(size)])

    assert [score_cache.get(cache, n)["points"] for n in range(6)] == [5, 4, 4, 5, 4, 4]
    assert score_cache.get(cache, size - 1)["points"] == (5 if (size - 1) % 3 == 0 else 4)
    assert len(cache.keys("score:*")) == size
    assert cache.ttl("score:1") > 0


def test_history_rows_carry_the_reason_cause_and_record(app, client, session):
    ids = subjects_with_records(app, client, session, count=2)
    session.execute(Score.__table__.delete())
    session.commit()
    record = session.execute(select(func.min(CreditRecord.id))).scalar_one()

    scoring.recompute_subjects(session, None, ids, AS_OF,
                               scoring.Occasion("record", "a test", record_id=record))
    session.commit()

    rows = session.query(ScoreHistory).filter(ScoreHistory.reason == "a test").all()
    assert sorted(r.subject_id for r in rows) == ids
    assert {(r.cause, r.record_id) for r in rows} == {("record", record)}
    assert all(r.changed_at.tzinfo is not None for r in rows)
