"""The points engine: records and a rule set in, points and their explanation out.

Pure functions over plain data: no database, no clock (the date is the `as_of`
argument), no Flask. The same code serves a resident's request and the batch job
that recomputes a million subjects, so `compute` keeps its inner loop to one
dictionary lookup and a little date arithmetic per record.

Window convention: a record counts on D when `start <= D < end`. `end` is
exclusive and None means open-ended (a court defaulter the court has not yet
removed). Occupational records carry no points and have no window.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple

from points.dates import add_months
from points.i18n import N_
from points.rules.rulesets import DetailProblem, ResolvedType, RuleSet

# Window ends are date + months for a few thousand distinct dates and a handful of
# month counts: a batch over a million subjects asks the same few thousand questions.
_window_end = lru_cache(maxsize=1 << 16)(add_months)

STATUSES = ("active", "disputed", "repaired", "ended", "revoked", "expired")
# Only `revoked` changes counting: it means the record was wrong. The others are
# labels; the cut-off of a repaired or ended record is in repaired_on / ended_on,
# and an expired record is simply past its window end.
REVOKED = "revoked"
# Rules §4 and §5: only a negative record's window can end early (ended_on, a repair).
ENDS_ONLY_NEGATIVE = N_("only a negative record can be ended early; a positive record counts its "
                      "full window and an occupational one never counts")


class RecordInvalid(ValueError):
    """A record the engine cannot place in time (e.g. a penalty without decided_on).
    Ingestion should refuse such records first (see `check_record`)."""


class RecordFacts(NamedTuple):
    """What the engine needs to know about one record (immutable: a named tuple, made
    at the speed of a tuple for the batch reader's ten million records)."""

    id: int | str | None
    type: str
    occurred_on: dt.date | None = None
    decided_on: dt.date | None = None
    ended_on: dt.date | None = None
    repaired_on: dt.date | None = None
    status: str = "active"
    details: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ExplanationItem:
    """One counting record's part of a score: what the API shows for it (orjson writes
    it into the cached body as that object)."""

    record_id: int | str | None
    type: str
    title: str
    points: int  # after category caps
    counted_from: dt.date
    counted_until: dt.date | None  # exclusive window end: the first day it no longer counts
    raw_points: int  # before category caps, so the UI can say "capped"


@dataclass(frozen=True)
class Score:
    points: int
    level: str
    restricted: bool
    items: tuple[ExplanationItem, ...]
    next_level: tuple[str, int] | None
    rule_set: str  # the rule set's code, stored with any cached score
    as_of: dt.date
    base: int


def _resolve(record: RecordFacts, rule_set: RuleSet) -> ResolvedType:
    resolved = rule_set.resolved_types.get(record.type)
    if resolved is None:
        raise RecordInvalid(f"record {record.id!r}: unknown record type '{record.type}' in "
                            f"rule set '{rule_set.code}'")
    return resolved


def _missing(record: RecordFacts, field_name: str) -> RecordInvalid:
    return RecordInvalid(f"record {record.id!r} ({record.type}): {field_name} is required")


def _window(record: RecordFacts, resolved: ResolvedType) -> tuple[dt.date, dt.date | None]:
    """(start, exclusive end) of a positive or negative record."""
    if resolved.kind == "positive":
        start = record.occurred_on
        if start is None:
            raise _missing(record, "occurred_on")
    else:
        start = record.decided_on
        if start is None:
            raise _missing(record, "decided_on")
    months = resolved.window_months
    end = None if months is None else _window_end(start, months)
    if resolved.kind != "negative":  # rules §4: a positive record's window is fixed
        return start, end
    # Rules §5: a repair decision or the department's end date cuts the window short.
    for cut in (record.ended_on, record.repaired_on):
        if cut is not None and (end is None or cut < end):
            end = cut
    return start, end


def window(record: RecordFacts, rule_set: RuleSet) -> tuple[dt.date | None, dt.date | None]:
    """(start, exclusive end) of the days on which the record counts, whatever its status.

    Occupational records never count: (None, None). A repaired_on or ended_on before
    the start gives an empty window (end <= start)."""
    resolved = _resolve(record, rule_set)
    if resolved.kind == "occupational":
        return None, None
    return _window(record, resolved)


def counts_on(record: RecordFacts, rule_set: RuleSet, day: dt.date) -> bool:
    """Does the record count on `day` (`start <= day < end`, and not revoked)?"""
    if record.status == REVOKED:
        return False
    start, end = window(record, rule_set)
    return start is not None and start <= day and (end is None or day < end)


def repairable_from(record: RecordFacts, rule_set: RuleSet) -> dt.date | None:
    """decided_on + the class's min_months; None when the record is not negative or
    its type cannot be repaired in the app (court.defaulter: only the court ends it)."""
    resolved = _resolve(record, rule_set)
    if resolved.min_months is None:
        return None
    if record.decided_on is None:
        raise _missing(record, "decided_on")
    return add_months(record.decided_on, resolved.min_months)


def _raw_points(record: RecordFacts, resolved: ResolvedType) -> int:
    rt = resolved.type
    if rt.per_unit is None:
        return rt.points or 0
    amount = record.details.get(rt.per_unit.detail)
    problem = next((r.problem(amount) for r in rt.required_details
                    if r.name == rt.per_unit.detail), None)
    if amount is None or problem is not None:
        raise RecordInvalid(f"record {record.id!r} ({record.type}): details."
                            f"{rt.per_unit.detail} {problem or 'is required'}")
    return rt.per_unit.points_for(amount)


def record_points(record: RecordFacts, rule_set: RuleSet) -> int:
    """The record's points before category caps (0 for occupational records)."""
    return _raw_points(record, _resolve(record, rule_set))


def record_order_key(record_id: int | str | None) -> tuple[int, int | str]:
    # Ids may be ints, strings or missing; this orders them without comparing across types.
    if record_id is None:
        return (2, 0)
    if isinstance(record_id, str):
        return (1, record_id)
    return (0, record_id)


def compute(records: Iterable[RecordFacts], rule_set: RuleSet, as_of: dt.date) -> Score:
    """The subject's score on `as_of` with one explanation item per counting record.

    Records of a type the rule set does not know are ignored: a rule set without a
    rule (and so without a legal basis) for them gives them no points. Within a
    capped category, records take points in (start, id) order until the cap is
    used; a record cut to 0 is still listed with 0 points."""
    return evaluate(records, rule_set, as_of)[0]


def evaluate(records: Iterable[RecordFacts], rule_set: RuleSet,
             as_of: dt.date) -> tuple[Score, dt.date | None]:
    """`compute` and the first boundary after `as_of` (see `boundaries`) in one walk
    over the records: the batch recompute needs both, and each record's window is
    worked out once."""
    resolved_types = rule_set.resolved_types
    counting = []
    next_change = None  # the earliest window start or end after as_of
    for record in records:
        if record.status == REVOKED:
            continue
        resolved = resolved_types.get(record.type)
        if resolved is None or resolved.kind == "occupational":
            continue
        start, end = _window(record, resolved)
        if start > as_of:
            if next_change is None or start < next_change:
                next_change = start
        elif end is None or as_of < end:
            counting.append((start, record_order_key(record.id), record, resolved, end))
        if end is not None and end > as_of and (next_change is None or end < next_change):
            next_change = end
    counting.sort(key=itemgetter(0, 1))

    used: dict[str, int] = {}  # points already taken per capped category
    items = []
    total = 0
    restricted = False
    for start, _, record, resolved, end in counting:
        raw = _raw_points(record, resolved)
        points = raw
        if resolved.cap is not None:
            category = resolved.type.category or ""
            taken = used.get(category, 0)
            points = min(raw, resolved.cap - taken)
            used[category] = taken + points
        restricted = restricted or resolved.restricts
        total += points
        items.append(ExplanationItem(record.id, record.type, resolved.type.title, points,
                                     start, end, raw))

    points = max(rule_set.floor, rule_set.base + total)
    score = Score(points=points, level=rule_set.level_for(points), restricted=restricted,
                  items=tuple(items), next_level=rule_set.next_level(points),
                  rule_set=rule_set.code, as_of=as_of, base=rule_set.base)
    return score, next_change


def boundaries(records: Iterable[RecordFacts], rule_set: RuleSet) -> set[dt.date]:
    """Every date on which one of the records starts or stops counting.

    A subject's score can only change on these dates, so a daily sweep recomputes
    the subjects with a boundary on that day. Revoked, occupational and unknown-type
    records never count and add no dates."""
    dates: set[dt.date] = set()
    for record in records:
        resolved = rule_set.resolved_types.get(record.type)
        if record.status == REVOKED or resolved is None or resolved.kind == "occupational":
            continue
        start, end = _window(record, resolved)
        dates.add(start)
        if end is not None:
            dates.add(end)
    return dates


def check_record(record: RecordFacts, rule_set: RuleSet) -> list[DetailProblem]:
    """Problems that would stop the engine using a record, for ingestion to refuse it
    before it is stored (dimension, field, message)."""
    resolved = rule_set.resolved_types.get(record.type)
    if resolved is None:
        return [DetailProblem("validity", "type", N_("unknown record type {record_type!r}").format(
            record_type=record.type))]
    problems = []
    if record.status not in STATUSES:
        problems.append(DetailProblem("validity", "status",
                                      N_("must be one of {choices}").format(
                                          choices=", ".join(STATUSES))))
    start_field = {"positive": "occurred_on", "negative": "decided_on"}.get(resolved.kind)
    if start_field is not None:
        start = getattr(record, start_field)
        if start is None:
            problems.append(DetailProblem("completeness", start_field, N_("is required")))
    if resolved.kind != "negative" and record.ended_on is not None:
        problems.append(DetailProblem("validity", "ended_on", ENDS_ONLY_NEGATIVE))
    elif start_field is not None:
        for cut_field in ("ended_on", "repaired_on"):
            cut = getattr(record, cut_field)
            if start is not None and cut is not None and cut < start:
                problems.append(DetailProblem("accuracy", cut_field,
                                              N_("is before {field}").format(
                                                  field=start_field)))
    problems.extend(resolved.type.details_problems(record.details))
    return problems
