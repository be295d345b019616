"""Rule sets: the data that says how many points each kind of record is worth.

A rule set is uploaded by the credit office as TOML (the shipped default is
`points/rules/changsha-2020.toml`, whose header documents the format). It is
validated completely before it is accepted: every broken rule is reported at
once, each message naming the rule, so the office can fix a file in one pass.
A rule without a legal `basis` is refused (国办发〔2020〕49号).
"""
from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any, NamedTuple

from points.dates import as_date
from points.i18n import N_

KINDS = ("positive", "negative", "occupational")
DETAIL_KINDS = ("positive_number", "number", "date", "text")
DEFAULT_RULE_SET_FILE = "changsha-2020.toml"


class RuleSetInvalid(ValueError):
    """A rule set that cannot be used; `errors` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid rule set: " + "; ".join(errors))
        self.errors = list(errors)


class DetailProblem(NamedTuple):
    """One problem with a record's details, in the data-quality vocabulary."""

    dimension: str  # "completeness" (missing) or "validity" (wrong value)
    field: str
    message: str


@dataclass(frozen=True)
class Level:
    name: str
    min_points: int | None  # None only for the lowest level: it takes every lower score
    title: str | None = None


@dataclass(frozen=True)
class RecordClass:
    name: str
    max_months: int  # the record stops counting decided_on + max_months
    min_months: int  # repair may be applied for from decided_on + min_months
    restricts: bool = False  # a counting record of this class restricts the subject
    title: str | None = None


@dataclass(frozen=True)
class Category:
    name: str
    cap: int | None = None  # None: uncapped
    title: str | None = None


@dataclass(frozen=True)
class PerUnit:
    """`points` for every full `size` units of `details[detail]`."""

    detail: str
    size: int
    points: int

    def points_for(self, amount: float | Decimal) -> int:
        return int(amount // self.size) * self.points


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    # An int is always finite (math.isfinite would overflow converting a huge one).
    return isinstance(value, int) or math.isfinite(value)


@dataclass(frozen=True)
class DetailRule:
    """What one field of `details` must hold for a record of a type."""

    name: str
    kind: str  # one of DETAIL_KINDS, or "choice" with `choices`
    choices: tuple[str, ...] = ()

    def problem(self, value: object) -> str | None:
        if self.kind == "choice":
            ok = value in self.choices
            return None if ok else N_("must be one of {choices}").format(
                choices=", ".join(self.choices))
        if self.kind == "positive_number":
            positive = _is_number(value) and value > 0
            return None if positive else N_("must be a number greater than 0")
        if self.kind == "number":
            return None if _is_number(value) else N_("must be a number")
        if self.kind == "date":
            return None if as_date(value) is not None else N_("must be a date (YYYY-MM-DD)")
        return None if isinstance(value, str) and value.strip() else N_("must be non-empty text")

    def spec(self) -> str | list[str]:
        return list(self.choices) if self.kind == "choice" else self.kind


@dataclass(frozen=True)
class RecordType:
    code: str
    kind: str  # positive | negative | occupational
    title: str
    basis: str
    points: int | None = None  # fixed points; None for per-unit and occupational types
    per_unit: PerUnit | None = None
    category: str | None = None  # positive only
    valid_months: int | None = None  # positive only
    record_class: str | None = None  # negative only ("class" in the file)
    repairable: bool = False  # negative only: repair may be applied for in the app
    open_ended: bool = False  # negative only: no max window, counts until ended_on
    required_details: tuple[DetailRule, ...] = ()
    description: str | None = None

    def details_problems(self, details: Mapping[str, Any] | None) -> list[DetailProblem]:
        """What is missing or wrong in a record's details (for ingestion)."""
        details = details or {}
        problems = []
        for rule in self.required_details:
            where = f"details.{rule.name}"
            if details.get(rule.name) is None:
                problems.append(DetailProblem("completeness", where, N_("is required")))
            elif (message := rule.problem(details[rule.name])) is not None:
                problems.append(DetailProblem("validity", where, message))
        return problems


@dataclass(frozen=True, slots=True)
class ResolvedType:
    """A record type joined with its class and category, so the engine's inner
    loop does one dictionary lookup per record instead of three."""

    type: RecordType
    kind: str
    window_months: int | None  # None: open-ended (negative) or no window (occupational)
    min_months: int | None  # negative and repairable only
    cap: int | None
    restricts: bool


@dataclass(frozen=True)
class RuleSet:
    code: str
    base: int
    floor: int
    levels: tuple[Level, ...]  # highest first
    classes: tuple[RecordClass, ...]
    categories: tuple[Category, ...]
    record_types: tuple[RecordType, ...]
    title: str | None = None
    description: str | None = None
    # Lookups built once here rather than on every compute() call.
    resolved_types: Mapping[str, ResolvedType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        classes = {c.name: c for c in self.classes}
        caps = {c.name: c.cap for c in self.categories}
        resolved = {}
        for rt in self.record_types:
            cls = classes.get(rt.record_class) if rt.record_class else None
            if rt.kind == "positive":
                months = rt.valid_months
            elif cls is not None and not rt.open_ended:
                months = cls.max_months
            else:
                months = None
            resolved[rt.code] = ResolvedType(
                type=rt,
                kind=rt.kind,
                window_months=months,
                min_months=cls.min_months if cls is not None and rt.repairable else None,
                cap=caps.get(rt.category) if rt.category else None,
                restricts=cls.restricts if cls is not None else False,
            )
        object.__setattr__(self, "resolved_types", resolved)

    def record_type(self, code: str) -> RecordType | None:
        resolved = self.resolved_types.get(code)
        return None if resolved is None else resolved.type

    def level_for(self, points: int) -> str:
        for level in self.levels:
            if level.min_points is None or points >= level.min_points:
                return level.name
        return self.levels[-1].name  # below every threshold (only under the floor)

    def next_level(self, points: int) -> tuple[str, int] | None:
        """The next higher level and the points still needed; None at the top."""
        above = None
        for level in self.levels:
            if level.min_points is None or points >= level.min_points:
                break
            above = level
        if above is None or above.min_points is None:
            return None
        return above.name, above.min_points - points

    def to_dict(self) -> dict[str, Any]:
        """The rule set in the shape of the TOML file (JSON-serialisable);
        `parse_rule_set(rs.to_dict()) == rs`."""
        out: dict[str, Any] = {"code": self.code}
        _put(out, "title", self.title)
        _put(out, "description", self.description)
        out["base"] = self.base
        out["floor"] = self.floor
        out["levels"] = [
            _without_none({"name": lv.name, "min_points": lv.min_points, "title": lv.title})
            for lv in self.levels
        ]
        out["classes"] = {
            c.name: _without_none({"title": c.title, "max_months": c.max_months,
                                   "min_months": c.min_months, "restricts": c.restricts})
            for c in self.classes
        }
        out["categories"] = {
            c.name: _without_none({"title": c.title, "cap": c.cap}) for c in self.categories
        }
        out["record_types"] = {rt.code: _record_type_dict(rt) for rt in self.record_types}
        return out

    def public_view(self) -> dict[str, Any]:
        """What residents may see (GET /v1/rule-sets/active): no personal data."""
        levels = []
        ceiling = None  # the level above's min_points, so each level shows its range
        for lv in self.levels:
            levels.append({"name": lv.name, "title": lv.title, "min_points": lv.min_points,
                           "max_points": None if ceiling is None else ceiling - 1})
            ceiling = lv.min_points
        types = []
        for rt in self.record_types:
            resolved = self.resolved_types[rt.code]
            types.append({
                "code": rt.code,
                "title": rt.title,
                "kind": rt.kind,
                "category": rt.category,
                "points": rt.points,
                "per_unit": None if rt.per_unit is None else {
                    "detail": rt.per_unit.detail, "size": rt.per_unit.size,
                    "points": rt.per_unit.points},
                "cap": resolved.cap,
                "window_months": resolved.window_months,
                "open_ended": rt.open_ended,
                "class": rt.record_class,
                "repairable": rt.repairable if rt.kind == "negative" else None,
                "repairable_after_months": resolved.min_months,
                "basis": rt.basis,
            })
        return {
            "code": self.code,
            "title": self.title,
            "base": self.base,
            "floor": self.floor,
            "levels": levels,
            "classes": [{"name": c.name, "title": c.title, "max_months": c.max_months,
                         "min_months": c.min_months, "restricts": c.restricts}
                        for c in self.classes],
            "categories": [{"name": c.name, "title": c.title, "cap": c.cap}
                           for c in self.categories],
            "record_types": types,
        }


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _without_none(d: dict[str, Any]) -> dict[str, Any]:
    # TOML has no null: an absent key is how the file says "none".
    return {k: v for k, v in d.items() if v is not None}


def _record_type_dict(rt: RecordType) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": rt.kind, "title": rt.title}
    if rt.kind == "positive":
        out["category"] = rt.category
        _put(out, "points", rt.points)
        if rt.per_unit is not None:
            out["per_unit"] = {"detail": rt.per_unit.detail, "size": rt.per_unit.size,
                               "points": rt.per_unit.points}
        out["valid_months"] = rt.valid_months
    elif rt.kind == "negative":
        out["class"] = rt.record_class
        out["points"] = rt.points
        out["repairable"] = rt.repairable
        out["open_ended"] = rt.open_ended
    out["basis"] = rt.basis
    if rt.required_details:
        out["required_details"] = {r.name: r.spec() for r in rt.required_details}
    _put(out, "description", rt.description)
    return out


@functools.cache
def default_rule_set() -> RuleSet:
    """The shipped rule set, parsed once per process."""
    text = (resources.files("points") / "rules" / DEFAULT_RULE_SET_FILE).read_text("utf-8")
    return parse_rule_set(text)



# ---------------------------------------------------------------- parsing

_TOP_KEYS = {"code", "title", "description", "base", "floor", "levels", "classes",
             "categories", "record_types"}
_LEVEL_KEYS = {"name", "min_points", "max_points", "title"}
_CLASS_KEYS = {"max_months", "min_months", "restricts", "title"}
_CATEGORY_KEYS = {"cap", "title"}
_PER_UNIT_KEYS = {"detail", "size", "points"}
_COMMON_TYPE_KEYS = {"kind", "title", "basis", "description", "required_details"}
_TYPE_KEYS = {
    "positive": _COMMON_TYPE_KEYS | {"category", "points", "per_unit", "valid_months"},
    "negative": _COMMON_TYPE_KEYS | {"class", "points", "repairable", "open_ended"},
    "occupational": _COMMON_TYPE_KEYS,
}
_ALL_TYPE_KEYS = set().union(*_TYPE_KEYS.values())


# No number in a rule set comes near this; far larger ones would overflow stored scores.
MAX_RULE_INT = 1_000_000


class _Checker:
    """Collects every problem instead of stopping at the first, so the credit
    office sees the whole list of what to fix in one answer."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def unknown_keys(self, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                self.error(where, f"unknown key '{key}'")

    def integer(self, where: str, table: Mapping[str, Any], key: str, *, required: bool,
                minimum: int | None = None) -> int | None:
        value = table.get(key)
        if value is None:
            if required:
                self.error(where, f"missing {key}")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, f"{key} must be an integer (got {value!r})")
            return None
        if abs(value) > MAX_RULE_INT:  # scores are stored as 32-bit integers
            self.error(where, f"{key} must be between -{MAX_RULE_INT} and {MAX_RULE_INT} "
                              f"(got {value})")
            return None
        if minimum is not None and value < minimum:
            self.error(where, f"{key} must be at least {minimum} (got {value})")
            return None
        return value

    def text(self, where: str, table: Mapping[str, Any], key: str, *,
             required: bool) -> str | None:
        value = table.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.error(where, f"missing {key}")
            return None
        if not isinstance(value, str):
            self.error(where, f"{key} must be text (got {value!r})")
            return None
        return value

    def boolean(self, where: str, table: Mapping[str, Any], key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.error(where, f"{key} must be true or false (got {value!r})")
            return default
        return value

    def table(self, where: str, value: Any, what: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.error(where, f"{what} must be a table")
            return None
        return value


def _nul_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths of every key or text holding a NUL character."""
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    if isinstance(value, Mapping):
        found = []
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found += [where] if isinstance(key, str) and "\x00" in key else []
            found += _nul_paths(item, where)
        return found
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in _nul_paths(item, f"{path}[{i}]")]
    return []


def parse_rule_set(source: str | Mapping[str, Any]) -> RuleSet:
    """A validated RuleSet from TOML text or an already-parsed table.

    Raises RuleSetInvalid listing every problem, each naming its rule."""
    if isinstance(source, str):
        try:
            data: Any = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            raise RuleSetInvalid([f"rule set: not valid TOML: {exc}"]) from exc
        except RecursionError:  # tomllib parses nested arrays and tables recursively
            raise RuleSetInvalid(["rule set: not valid TOML: nested too deeply"]) from None
    else:
        data = source
    check = _Checker()
    if check.table("rule set", data, "the rule set") is None:
        raise RuleSetInvalid(check.errors)
    # No text anywhere may hold NUL: nothing needs it, and PostgreSQL cannot store it.
    nul = [f"rule set: {where or 'a key'} must not contain NUL characters"
           for where in _nul_paths(data)]
    if nul:
        raise RuleSetInvalid(nul)
    check.unknown_keys("rule set", data, _TOP_KEYS)
    code = check.text("rule set", data, "code", required=True)
    title = check.text("rule set", data, "title", required=False)
    description = check.text("rule set", data, "description", required=False)
    base = check.integer("rule set", data, "base", required=True)
    floor = check.integer("rule set", data, "floor", required=True)
    if base is not None and floor is not None and floor > base:
        check.error("rule set", f"floor ({floor}) must not be above base ({base})")
    levels = _parse_levels(check, data.get("levels"), floor)
    classes = _parse_named(check, data, "classes", "class", _parse_class)
    categories = _parse_named(check, data, "categories", "category", _parse_category)
    record_types = _parse_named(
        check, data, "record_types", "record type",
        functools.partial(_parse_record_type, classes={c.name for c in classes},
                          categories={c.name for c in categories}))
    if check.errors:
        raise RuleSetInvalid(check.errors)
    assert code is not None and base is not None and floor is not None  # checked above
    return RuleSet(code=code, base=base, floor=floor, levels=levels, classes=classes,
                   categories=categories, record_types=record_types, title=title,
                   description=description)


def _parse_named(check: _Checker, data: Mapping[str, Any], key: str, label: str,
                 parse_one: Callable[[_Checker, str, str, Mapping[str, Any]], Any],
                 ) -> tuple[Any, ...]:
    raw = data.get(key)
    if raw is None:
        check.error("rule set", f"missing {key}")
        return ()
    if check.table("rule set", raw, key) is None:
        return ()
    if key == "record_types" and not raw:
        check.error("rule set", "record_types must not be empty")
    parsed = []
    for name, body in raw.items():
        where = f"{label} '{name}'"
        if check.table(where, body, label) is not None:
            item = parse_one(check, where, str(name), body)
            if item is not None:
                parsed.append(item)
    return tuple(parsed)


def _parse_levels(check: _Checker, raw: Any, floor: int | None) -> tuple[Level, ...]:
    if not isinstance(raw, list) or not raw:
        check.error("rule set", "levels must be a non-empty list of tables, highest first")
        return ()
    levels: list[Level] = []
    names: set[str] = set()
    above: Level | None = None  # the nearest level above with a threshold
    for i, body in enumerate(raw):
        name = body.get("name") if isinstance(body, Mapping) else None
        where = f"level '{name}'" if isinstance(name, str) and name else f"level #{i + 1}"
        if check.table(where, body, "a level") is None:
            continue
        check.unknown_keys(where, body, _LEVEL_KEYS)
        name = check.text(where, body, "name", required=True)
        if name is not None and name in names:
            check.error(where, "duplicate level name")
        names.add(name or "")
        lowest = i == len(raw) - 1
        min_points = check.integer(where, body, "min_points", required=not lowest)
        max_points = check.integer(where, body, "max_points", required=False)
        if lowest and min_points is not None and floor is not None and min_points > floor:
            check.error(where, f"the lowest level's min_points ({min_points}) is above the "
                               f"floor ({floor}): some scores would have no level")
        if above is not None and above.min_points is not None and min_points is not None:
            if min_points == above.min_points:
                check.error(where, f"overlaps level '{above.name}': both start at {min_points}")
            elif min_points > above.min_points:
                check.error(where, f"levels out of order: min_points {min_points} is not below "
                                   f"level '{above.name}' ({above.min_points}); list them "
                                   "highest first")
        # max_points is optional and only checked: it is implied by the level above.
        if max_points is not None:
            if min_points is not None and max_points < min_points:
                check.error(where, f"max_points {max_points} is below min_points {min_points}")
            if above is None:
                check.error(where, "the highest level must not have max_points")
            elif above.min_points is not None and max_points >= above.min_points:
                check.error(where, f"overlaps level '{above.name}': max_points {max_points} "
                                   f"reaches its min_points {above.min_points}")
            elif above.min_points is not None and max_points < above.min_points - 1:
                check.error(where, f"leaves a gap below level '{above.name}': max_points "
                                   f"{max_points}, next level starts at {above.min_points}")
        level = Level(name=name or "", min_points=min_points,
                      title=check.text(where, body, "title", required=False))
        levels.append(level)
        if min_points is not None:
            above = level
    return tuple(levels)


def _parse_class(check: _Checker, where: str, name: str,
                 body: Mapping[str, Any]) -> RecordClass | None:
    check.unknown_keys(where, body, _CLASS_KEYS)
    max_months = check.integer(where, body, "max_months", required=True, minimum=1)
    min_months = check.integer(where, body, "min_months", required=True, minimum=0)
    restricts = check.boolean(where, body, "restricts", False)
    title = check.text(where, body, "title", required=False)
    if max_months is None or min_months is None:
        return None
    if min_months > max_months:
        check.error(where, f"min_months ({min_months}) must not exceed max_months "
                           f"({max_months})")
    return RecordClass(name, max_months, min_months, restricts, title)


def _parse_category(check: _Checker, where: str, name: str,
                    body: Mapping[str, Any]) -> Category:
    check.unknown_keys(where, body, _CATEGORY_KEYS)
    cap = check.integer(where, body, "cap", required=False, minimum=1)
    return Category(name, cap, check.text(where, body, "title", required=False))


def _parse_record_type(check: _Checker, where: str, code: str, body: Mapping[str, Any], *,
                       classes: set[str], categories: set[str]) -> RecordType | None:
    kind = body.get("kind")
    if kind is None:
        check.error(where, "missing kind")
    elif kind not in KINDS:
        check.error(where, f"unknown kind {kind!r} (expected positive, negative or "
                           "occupational)")
        kind = None
    for key in body:
        if key not in _ALL_TYPE_KEYS:
            check.error(where, f"unknown key '{key}'")
        elif kind is not None and key not in _TYPE_KEYS[kind]:
            check.error(where, f"'{key}' does not apply to {kind} record types")
    title = check.text(where, body, "title", required=True)
    basis = check.text(where, body, "basis", required=True)
    description = check.text(where, body, "description", required=False)
    details = _parse_required_details(check, where, body.get("required_details"))
    fields: dict[str, Any] = {}
    if kind == "positive":
        fields = _parse_positive(check, where, body, categories, details)
    elif kind == "negative":
        fields = _parse_negative(check, where, body, classes)
    if kind is None or title is None or basis is None:
        return None
    return RecordType(code=code, kind=kind, title=title, basis=basis,
                      required_details=details, description=description, **fields)


def _parse_positive(check: _Checker, where: str, body: Mapping[str, Any],
                    categories: set[str], details: tuple[DetailRule, ...]) -> dict[str, Any]:
    category = check.text(where, body, "category", required=True)
    if category is not None and category not in categories:
        check.error(where, f"unknown category '{category}'")
    valid_months = check.integer(where, body, "valid_months", required=True, minimum=1)
    points = check.integer(where, body, "points", required=False)
    if points is not None and points <= 0:
        check.error(where, f"points must be above 0 for a positive record type (got {points})")
    per_unit = None
    if body.get("per_unit") is not None:
        per_unit = _parse_per_unit(check, where, body["per_unit"], details)
        if "points" in body:
            check.error(where, "give points or per_unit, not both")
    elif "points" not in body:
        check.error(where, "missing points (or per_unit)")
    return {"category": category, "valid_months": valid_months, "points": points,
            "per_unit": per_unit}


def _parse_per_unit(check: _Checker, where: str, raw: Any,
                    details: tuple[DetailRule, ...]) -> PerUnit | None:
    if check.table(where, raw, "per_unit") is None:
        return None
    check.unknown_keys(f"{where} per_unit", raw, _PER_UNIT_KEYS)
    detail = check.text(where, raw, "detail", required=True)
    size = check.integer(where, raw, "size", required=True, minimum=1)
    points = check.integer(where, raw, "points", required=True, minimum=1)
    numeric = {r.name for r in details if r.kind in ("positive_number", "number")}
    if detail is not None and detail not in numeric:
        # Otherwise a record without the quantity would arrive and score nothing silently.
        check.error(where, f"per_unit counts details.{detail}, which required_details must "
                           "list as a number")
    if detail is None or size is None or points is None:
        return None
    return PerUnit(detail, size, points)


def _parse_negative(check: _Checker, where: str, body: Mapping[str, Any],
                    classes: set[str]) -> dict[str, Any]:
    record_class = check.text(where, body, "class", required=True)
    if record_class is not None and record_class not in classes:
        check.error(where, f"unknown class '{record_class}'")
    points = check.integer(where, body, "points", required=True)
    if points is not None and points >= 0:
        check.error(where, f"points must be below 0 for a negative record type (got {points})")
    return {"record_class": record_class, "points": points,
            "repairable": check.boolean(where, body, "repairable", True),
            "open_ended": check.boolean(where, body, "open_ended", False)}


def _parse_required_details(check: _Checker, where: str, raw: Any) -> tuple[DetailRule, ...]:
    if raw is None or check.table(where, raw, "required_details") is None:
        return ()
    rules = []
    for name, spec in raw.items():
        if isinstance(spec, str) and spec in DETAIL_KINDS:
            rules.append(DetailRule(str(name), spec))
        elif (isinstance(spec, list) and spec
              and all(isinstance(v, str) and v for v in spec)):
            rules.append(DetailRule(str(name), "choice", tuple(spec)))
        else:
            check.error(where, f"required_details '{name}': expected one of "
                               f"{', '.join(DETAIL_KINDS)} or a list of allowed values "
                               f"(got {spec!r})")
    return tuple(rules)
