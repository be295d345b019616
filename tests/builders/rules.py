"""The rule set's worked cases (tests/unit/golden_cases.json) and Hypothesis
strategies for records, shared by the engine's tests."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st

from points.rules.engine import STATUSES, RecordFacts
from points.rules.rulesets import default_rule_set

GOLDEN = json.loads((Path(__file__).parents[1] / "unit" / "golden_cases.json")
                    .read_text("utf-8"))
DATE_FIELDS = ("occurred_on", "decided_on", "ended_on", "repaired_on")

RULE_SET = default_rule_set()
TYPES = sorted(rt.code for rt in RULE_SET.record_types)
POSITIVE_TYPES = sorted(rt.code for rt in RULE_SET.record_types if rt.kind == "positive")
EXAMPLES = settings(max_examples=150, deadline=None)

days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))


def to_facts(index: int, raw: dict) -> RecordFacts:
    """A worked case's record as the engine takes it."""
    fields = {k: dt.date.fromisoformat(v) if k in DATE_FIELDS else v for k, v in raw.items()}
    return RecordFacts(id=index, **fields)


@st.composite
def records(draw, types=TYPES, statuses=STATUSES):
    record_type = draw(st.sampled_from(types))
    start = draw(days)
    details = {"hours": draw(st.integers(1, 300))} if record_type == "volunteer.service" else {}
    return RecordFacts(
        id=None,  # numbered by `subjects` so ids are unique
        type=record_type,
        occurred_on=start,
        decided_on=start,
        ended_on=draw(st.none() | days),
        repaired_on=draw(st.none() | days),
        status=draw(st.sampled_from(statuses)),
        details=details,
    )


def numbered(recs, first=1):
    return [r._replace(id=i) for i, r in enumerate(recs, start=first)]


subjects = st.lists(records(), max_size=12).map(numbered)
