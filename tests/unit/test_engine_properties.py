"""Properties of the engine that must hold for any records, not only the worked cases."""
from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from points.dates import add_months
from points.rules.engine import (
    RecordFacts,
    RecordInvalid,
    boundaries,
    check_record,
    compute,
    repairable_from,
    window,
)
from tests.builders.rules import (
    EXAMPLES,
    POSITIVE_TYPES,
    RULE_SET,
    days,
    numbered,
    records,
    subjects,
)


@EXAMPLES
@given(subjects, records(statuses=("revoked",)), days)
def test_a_revoked_record_never_changes_the_result(recs, revoked, as_of):
    with_revoked = recs + numbered([revoked], first=len(recs) + 1)

    assert compute(with_revoked, RULE_SET, as_of) == compute(recs, RULE_SET, as_of)


@EXAMPLES
@given(subjects, records(types=POSITIVE_TYPES), days)
def test_adding_a_positive_record_never_lowers_points(recs, positive, as_of):
    more = recs + numbered([positive], first=len(recs) + 1)

    assert compute(more, RULE_SET, as_of).points >= compute(recs, RULE_SET, as_of).points


@EXAMPLES
@given(subjects, days)
def test_category_caps_hold(recs, as_of):
    score = compute(recs, RULE_SET, as_of)

    per_category: dict[str, int] = {}
    for item in score.items:
        rt = RULE_SET.record_type(item.type)
        if rt.kind == "positive":
            assert 0 <= item.points <= item.raw_points
            per_category[rt.category] = per_category.get(rt.category, 0) + item.points
    for category in RULE_SET.categories:
        if category.cap is not None:
            assert per_category.get(category.name, 0) <= category.cap


@EXAMPLES
@given(subjects, days)
def test_explanation_sums_to_points_unless_the_floor_applies(recs, as_of):
    score = compute(recs, RULE_SET, as_of)

    unfloored = RULE_SET.base + sum(item.points for item in score.items)
    assert score.points == max(RULE_SET.floor, unfloored)
    assert score.level == RULE_SET.level_for(score.points)
    assert all(item.points != 0 or RULE_SET.record_type(item.type).kind == "positive"
               for item in score.items)


@EXAMPLES
@given(records(statuses=("active", "disputed", "repaired", "ended", "expired")))
def test_window_end_is_exclusive(record):
    record = record._replace(id=1)
    start, end = window(record, RULE_SET)

    if start is None:  # occupational: never counts
        assert compute([record], RULE_SET, record.occurred_on).items == ()
        return
    if end is None:  # open-ended: counts from its start for good
        assert len(compute([record], RULE_SET, start).items) == 1
        return
    counted = {day: len(compute([record], RULE_SET, day).items)
               for day in (start, end - dt.timedelta(days=1), end)}
    assert counted[end] == 0
    if end > start:
        assert counted[start] == 1 and counted[end - dt.timedelta(days=1)] == 1
    else:  # repaired or ended before it began: never counts
        assert counted[start] == 0


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2900, 12, 31)),
       st.integers(-1200, 1200))
def test_add_months_clamps_to_the_end_of_the_month(day, months):
    result = add_months(day, months)

    assert result.year * 12 + result.month == day.year * 12 + day.month + months
    assert result.day == min(day.day, calendar.monthrange(result.year, result.month)[1])


def test_add_months_examples():
    assert add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 12, 15), 1) == dt.date(2027, 1, 15)


@EXAMPLES
@given(records())
def test_repairable_from_is_decided_on_plus_the_class_minimum(record):
    rt = RULE_SET.record_type(record.type)

    result = repairable_from(record, RULE_SET)

    if rt.kind != "negative" or not rt.repairable:
        assert result is None
        return
    record_class = next(c for c in RULE_SET.classes if c.name == rt.record_class)
    assert result == add_months(record.decided_on, record_class.min_months)
    assert record.decided_on <= result <= add_months(record.decided_on, record_class.max_months)


def test_repairable_from_examples():
    def penalty(record_type):
        return RecordFacts(id=1, type=record_type, decided_on=dt.date(2025, 11, 30))

    assert repairable_from(penalty("admin.penalty.minor"), RULE_SET) == dt.date(2025, 11, 30)
    assert repairable_from(penalty("admin.penalty.general"), RULE_SET) == dt.date(2026, 2, 28)
    assert repairable_from(penalty("admin.penalty.serious"), RULE_SET) == dt.date(2026, 11, 30)
    assert repairable_from(penalty("court.defaulter"), RULE_SET) is None
    assert repairable_from(RecordFacts(id=2, type="donation.blood",
                                       occurred_on=dt.date(2025, 1, 1)), RULE_SET) is None


def test_capped_records_are_listed_in_start_order_with_their_share():
    def volunteering(record_id, on, hours):
        return RecordFacts(id=record_id, type="volunteer.service", occurred_on=on,
                           details={"hours": hours})
    recs = [volunteering(3, dt.date(2026, 9, 10), 50), volunteering(1, dt.date(2026, 1, 10), 200),
            volunteering(2, dt.date(2026, 4, 10), 150)]

    score = compute(recs, RULE_SET, dt.date(2026, 11, 30))

    assert [(i.record_id, i.raw_points, i.points) for i in score.items] == [
        (1, 20, 20), (2, 15, 10), (3, 5, 0)]
    assert score.items[0].counted_from == dt.date(2026, 1, 10)
    assert score.items[0].counted_until == dt.date(2027, 1, 10)
    assert score.next_level == ("AAA", 20)


def test_unknown_types_and_occupational_records_give_no_items():
    recs = [RecordFacts(id=1, type="traffic.red_light", decided_on=dt.date(2026, 1, 1)),
            RecordFacts(id=2, type="worker.identity_verified", occurred_on=dt.date(2026, 1, 1))]

    score = compute(recs, RULE_SET, dt.date(2026, 11, 30))

    assert (score.points, score.items) == (1000, ())
    assert window(recs[1], RULE_SET) == (None, None)


def test_a_record_without_its_start_date_is_refused():
    penalty = RecordFacts(id=7, type="admin.penalty.general", occurred_on=dt.date(2026, 1, 1))

    assert check_record(penalty, RULE_SET) == [("completeness", "decided_on", "is required")]
    with pytest.raises(RecordInvalid, match="record 7 .*decided_on is required"):
        compute([penalty], RULE_SET, dt.date(2026, 11, 30))


def test_check_record_reports_bad_details():
    volunteering = RecordFacts(id=1, type="volunteer.service", occurred_on=dt.date(2026, 1, 1),
                               details={"hours": 0})
    check = RecordFacts(id=2, type="worker.background_check", occurred_on=dt.date(2026, 1, 1),
                        details={"result": "maybe"})

    assert check_record(volunteering, RULE_SET) == [
        ("validity", "details.hours", "must be a number greater than 0")]
    assert check_record(check, RULE_SET) == [
        ("validity", "details.result", "must be one of clear, flagged")]


def test_boundaries_are_the_window_starts_and_ends():
    recs = [RecordFacts(id=1, type="admin.penalty.general", decided_on=dt.date(2026, 1, 31),
                        repaired_on=dt.date(2026, 6, 1)),
            RecordFacts(id=2, type="court.defaulter", decided_on=dt.date(2025, 5, 1)),
            RecordFacts(id=3, type="donation.blood", occurred_on=dt.date(2026, 3, 3),
                        status="revoked")]

    assert boundaries(recs, RULE_SET) == {dt.date(2026, 1, 31), dt.date(2026, 6, 1),
                                          dt.date(2025, 5, 1)}
