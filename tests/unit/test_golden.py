"""Every worked case of the rule set reproduces exactly through the engine."""
from __future__ import annotations

import datetime as dt

import pytest

from points.rules.engine import compute
from points.rules.rulesets import default_rule_set
from tests.builders.rules import GOLDEN, to_facts


def test_golden_cases_use_the_shipped_rule_set():
    assert GOLDEN["rule_set"] == default_rule_set().code


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_golden_case(case):
    rule_set = default_rule_set()
    records = [to_facts(i, raw) for i, raw in enumerate(case["records"], start=1)]

    score = compute(records, rule_set, dt.date.fromisoformat(case["as_of"]))

    expected = case["expected"]
    assert (score.points, score.level, score.restricted) == (
        expected["points"], expected["level"], expected["restricted"])
    if score.points > rule_set.floor:
        assert rule_set.base + sum(item.points for item in score.items) == score.points
