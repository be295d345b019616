"""The batch recompute's shortcuts give what the plain paths give: engine.evaluate
(one walk over a subject's records) the score of `compute` and, as the next change,
the first of `boundaries` after the day; scoring.cache_body the documented view of the
score; and the garbage collector is as it was once a batch run ends. Facts and the
engine's explanation items cannot be changed."""
from __future__ import annotations

import dataclasses
import datetime as dt
import gc

import orjson
import pytest
from hypothesis import given

from points.rules import engine
from points.rules.engine import (
    ExplanationItem,
    RecordFacts,
    RecordInvalid,
    boundaries,
    compute,
    evaluate,
)
from points.scores import jobs, scoring
from tests.builders.rules import EXAMPLES, GOLDEN, RULE_SET, days, subjects, to_facts


def first_boundary_after(records, as_of):
    later = [d for d in boundaries(records, RULE_SET) if d > as_of]
    return min(later) if later else None


@EXAMPLES
@given(subjects, days)
def test_evaluate_gives_the_score_and_the_first_boundary_after_the_day(recs, as_of):
    score, next_change = evaluate(recs, RULE_SET, as_of)

    assert score == compute(recs, RULE_SET, as_of)
    assert next_change == first_boundary_after(recs, as_of)


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_evaluate_on_the_golden_cases(case):
    records = [to_facts(i, raw) for i, raw in enumerate(case["records"], start=1)]
    as_of = dt.date.fromisoformat(case["as_of"])

    score, next_change = evaluate(records, RULE_SET, as_of)

    expected = case["expected"]
    assert (score.points, score.level, score.restricted) == (
        expected["points"], expected["level"], expected["restricted"])
    assert next_change == first_boundary_after(records, as_of)


@EXAMPLES
@given(subjects, days)
def test_the_cached_body_is_the_documented_view_of_the_score(recs, as_of):
    score, next_change = evaluate(recs, RULE_SET, as_of)

    assert orjson.loads(scoring.cache_body(score, next_change)) == documented_view(
        score, next_change)
    assert scoring.body_of(score, next_change) == documented_view(score, next_change)


def documented_view(score: engine.Score, next_change_on: dt.date | None) -> dict:
    """GET /v1/me/points as the contract spells it, field by field."""
    return {
        "points": score.points, "level": score.level, "restricted": score.restricted,
        "rule_set": score.rule_set, "as_of": score.as_of.isoformat(), "base": score.base,
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


def test_the_cached_body_of_a_capped_and_windowed_score():
    records = [RecordFacts(1, "donation.blood", occurred_on=dt.date(2026, 3, 31)),
               RecordFacts(2, "admin.penalty.general", decided_on=dt.date(2026, 5, 1)),
               RecordFacts(3, "volunteer.service", occurred_on=dt.date(2026, 6, 1),
                           details={"hours": 120})]
    score, next_change = evaluate(records, RULE_SET, dt.date(2026, 11, 30))
    body = scoring.body_of(score, next_change)
    assert body["items"] and body["next_change_on"] and body["next_level"]
    assert any(item["counted_until"] for item in body["items"])

    assert body == documented_view(score, next_change)


def test_next_change_examples():
    blood = RecordFacts(1, "donation.blood", occurred_on=dt.date(2026, 3, 31))  # 24 months
    later = RecordFacts(2, "honour.city", occurred_on=dt.date(2027, 1, 15))  # not yet counting
    revoked = RecordFacts(3, "charity.donation", occurred_on=dt.date(2026, 12, 1),
                          status="revoked")
    occupational = RecordFacts(4, "worker.identity_verified", occurred_on=dt.date(2026, 12, 2))

    assert evaluate([blood, later, revoked, occupational], RULE_SET,
                    dt.date(2026, 11, 30))[1] == dt.date(2027, 1, 15)
    assert evaluate([blood, later], RULE_SET, dt.date(2027, 6, 1))[1] == dt.date(2028, 3, 31)
    assert evaluate([blood, later], RULE_SET, dt.date(2030, 6, 1))[1] is None
    assert evaluate([revoked, occupational], RULE_SET, dt.date(2026, 11, 30))[1] is None


def test_evaluate_refuses_a_record_without_its_start_date():
    penalty = RecordFacts(7, "admin.penalty.general")  # no decided_on

    with pytest.raises(RecordInvalid, match="decided_on is required"):
        evaluate([penalty], RULE_SET, dt.date(2026, 11, 30))


def test_facts_cannot_be_changed():
    facts = RecordFacts(1, "donation.blood", dt.date(2026, 1, 1))
    with pytest.raises(AttributeError):
        facts.id = 2  # type: ignore[misc]
    assert facts.details == {} and not hasattr(facts.details, "__setitem__")


@EXAMPLES
@given(subjects, days)
def test_the_engines_items_are_frozen_explanation_items(recs, as_of):
    for item in compute(recs, RULE_SET, as_of).items:
        fields = [getattr(item, f.name) for f in dataclasses.fields(ExplanationItem)]
        assert type(item) is ExplanationItem and item == ExplanationItem(*fields)
        assert hash(item) == hash(ExplanationItem(*fields))
        with pytest.raises(dataclasses.FrozenInstanceError):
            item.points = item.points + 1  # type: ignore[misc]
        assert not hasattr(item, "__dict__")  # slotted: no per-item dict


def test_batch_runs_collect_rarely_and_restore_the_collector_after():
    before = gc.get_threshold()

    with jobs._fewer_collections():
        assert gc.get_threshold() == jobs._BATCH_GC_THRESHOLD
        assert gc.get_freeze_count() > 0
        with jobs._fewer_collections():  # a second batch run in another thread
            pass
        assert gc.get_threshold() == jobs._BATCH_GC_THRESHOLD  # still inside the first
    with pytest.raises(RuntimeError), jobs._fewer_collections():
        raise RuntimeError("a failed run")

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_the_process_stays_frozen_after_a_batch_run():
    gc.freeze()
    try:
        with jobs._fewer_collections():
            pass
        assert gc.get_freeze_count() > 0  # not unfrozen (objects may have died meanwhile)
    finally:
        gc.unfreeze()
