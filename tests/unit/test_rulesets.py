"""Loading and validating rule sets: a broken rule is refused, naming the rule."""
from __future__ import annotations

import copy
import json

import pytest

from points.rules.rulesets import RuleSetInvalid, default_rule_set, parse_rule_set


def shipped() -> dict:
    """A fresh, mutable copy of the shipped rule set as a table."""
    return copy.deepcopy(default_rule_set().to_dict())


def errors_of(data) -> list[str]:
    with pytest.raises(RuleSetInvalid) as caught:
        parse_rule_set(data)
    return caught.value.errors


def test_shipped_rule_set_loads():
    rule_set = default_rule_set()

    assert rule_set.code == "changsha-2020"
    assert (rule_set.base, rule_set.floor) == (1000, 0)
    assert [lv.name for lv in rule_set.levels] == ["AAA", "AA", "A", "B", "C", "D"]
    assert len(rule_set.record_types) == 34
    assert all(rt.basis and rt.title for rt in rule_set.record_types)
    defaulter = rule_set.record_type("court.defaulter")
    assert defaulter is not None and not defaulter.repairable and defaulter.open_ended
    assert rule_set.record_type("traffic.red_light") is None


def test_default_rule_set_is_parsed_once():
    assert default_rule_set() is default_rule_set()


@pytest.mark.parametrize(("points", "level", "next_level"), [
    (1130, "AAA", None),
    (1050, "AAA", None),
    (1049, "AA", ("AAA", 1)),
    (1000, "A", ("AA", 30)),
    (959, "B", ("A", 1)),
    (600, "C", ("B", 250)),
    (599, "D", ("C", 1)),
    (0, "D", ("C", 600)),
])
def test_levels_and_next_level(points, level, next_level):
    rule_set = default_rule_set()

    assert rule_set.level_for(points) == level
    assert rule_set.next_level(points) == next_level


def test_round_trip_through_to_dict_and_json():
    rule_set = default_rule_set()

    data = json.loads(json.dumps(rule_set.to_dict(), ensure_ascii=False))

    assert parse_rule_set(data) == rule_set


def test_public_view_lists_every_type_with_points_window_and_class():
    view = json.loads(json.dumps(default_rule_set().public_view()))

    types = {t["code"]: t for t in view["record_types"]}
    assert view["code"] == "changsha-2020" and view["base"] == 1000
    assert types["admin.penalty.general"]["points"] == -30
    assert types["admin.penalty.general"]["window_months"] == 12
    assert types["admin.penalty.general"]["class"] == "general"
    assert types["court.defaulter"]["window_months"] is None
    assert types["court.defaulter"]["open_ended"] is True
    assert types["volunteer.service"]["per_unit"] == {"detail": "hours", "size": 10, "points": 1}
    assert types["donation.blood"]["title"] == "无偿献血"
    assert view["levels"][1] == {"name": "AA", "title": "信用优秀", "min_points": 1030,
                                 "max_points": 1049}


def test_toml_text_is_accepted():
    text = """
        code = "tiny"
        base = 100
        floor = 0
        levels = [{ name = "good", min_points = 100 }, { name = "bad" }]
        [classes.minor]
        max_months = 3
        min_months = 0
        [categories.blood]
        cap = 20
        [record_types."donation.blood"]
        kind = "positive"
        title = "无偿献血"
        category = "blood"
        points = 10
        valid_months = 24
        basis = "《中华人民共和国献血法》"
    """

    rule_set = parse_rule_set(text)

    assert rule_set.code == "tiny"
    assert rule_set.resolved_types["donation.blood"].cap == 20


def test_broken_toml_is_refused():
    assert errors_of('code = "x"\nbase = ')[0].startswith("rule set: not valid TOML")


def test_rule_without_basis_is_refused():
    data = shipped()
    del data["record_types"]["admin.penalty.general"]["basis"]

    assert errors_of(data) == ["record type 'admin.penalty.general': missing basis"]


def test_blank_basis_is_refused():
    data = shipped()
    data["record_types"]["donation.blood"]["basis"] = "  "

    assert errors_of(data) == ["record type 'donation.blood': missing basis"]


def test_unordered_levels_are_refused():
    data = shipped()
    levels = data["levels"]
    levels[1], levels[2] = levels[2], levels[1]  # A (960) before AA (1030)

    errors = errors_of(data)

    assert len(errors) == 1
    assert errors[0].startswith("level 'AA': levels out of order")


def test_levels_with_the_same_threshold_overlap():
    data = shipped()
    data["levels"][1]["min_points"] = 1050  # AA starts where AAA starts

    assert errors_of(data) == ["level 'AA': overlaps level 'AAA': both start at 1050"]


def test_level_ranges_that_overlap_are_refused():
    data = shipped()
    data["levels"][1]["max_points"] = 1060  # AA written as 1030-1060, AAA starts at 1050

    errors = errors_of(data)

    assert errors == [("level 'AA': overlaps level 'AAA': max_points 1060 reaches its "
                      "min_points 1050")]


def test_duplicate_levels_are_refused():
    data = shipped()
    data["levels"][2]["name"] = "AA"

    assert "level 'AA': duplicate level name" in errors_of(data)


def test_lowest_level_must_cover_the_floor():
    data = shipped()
    data["levels"][-1]["min_points"] = 100

    assert errors_of(data) == [("level 'D': the lowest level's min_points (100) is above the "
                               "floor (0): some scores would have no level")]


def test_unknown_class_is_refused():
    data = shipped()
    data["record_types"]["tax.major_violation"]["class"] = "catastrophic"

    assert errors_of(data) == ["record type 'tax.major_violation': unknown class 'catastrophic'"]


def test_unknown_category_is_refused():
    data = shipped()
    data["record_types"]["charity.donation"]["category"] = "sports"

    assert errors_of(data) == ["record type 'charity.donation': unknown category 'sports'"]


def test_negative_rule_without_class_is_refused():
    data = shipped()
    del data["record_types"]["commitment.breached"]["class"]

    assert errors_of(data) == ["record type 'commitment.breached': missing class"]


def test_positive_rule_without_window_or_category_is_refused():
    data = shipped()
    del data["record_types"]["brave.act"]["valid_months"]
    del data["record_types"]["brave.act"]["category"]

    assert sorted(errors_of(data)) == ["record type 'brave.act': missing category",
                                       "record type 'brave.act': missing valid_months"]


@pytest.mark.parametrize(("code", "points", "message"), [
    ("donation.blood", 10.5, "points must be an integer (got 10.5)"),
    ("donation.blood", True, "points must be an integer (got True)"),
    ("donation.blood", -10, "points must be above 0 for a positive record type (got -10)"),
    ("admin.penalty.minor", 5, "points must be below 0 for a negative record type (got 5)"),
    ("admin.penalty.minor", 0, "points must be below 0 for a negative record type (got 0)"),
])
def test_points_must_be_integers_of_the_right_sign(code, points, message):
    data = shipped()
    data["record_types"][code]["points"] = points

    assert errors_of(data) == [f"record type '{code}': {message}"]


def test_occupational_rule_with_points_is_refused():
    data = shipped()
    data["record_types"]["worker.insurance"]["points"] = 5

    assert errors_of(data) == [
        "record type 'worker.insurance': 'points' does not apply to occupational record types"]


def test_unknown_keys_are_refused():
    data = shipped()
    data["record_types"]["donation.blood"]["pionts"] = 10
    data["classes"]["minor"]["max_month"] = 3
    data["ceiling"] = 2000

    assert sorted(errors_of(data)) == [
        "class 'minor': unknown key 'max_month'",
        "record type 'donation.blood': unknown key 'pionts'",
        "rule set: unknown key 'ceiling'",
    ]


def test_per_unit_rule_needs_its_detail_declared():
    data = shipped()
    del data["record_types"]["volunteer.service"]["required_details"]

    assert errors_of(data) == [
        ("record type 'volunteer.service': per_unit counts details.hours, which "
        "required_details must list as a number")]


def test_missing_code_base_and_floor_are_refused():
    data = shipped()
    del data["code"], data["base"], data["floor"]

    assert sorted(errors_of(data)) == ["rule set: missing base", "rule set: missing code",
                                       "rule set: missing floor"]


def test_many_errors_are_reported_together():
    data = shipped()
    del data["record_types"]["admin.penalty.general"]["basis"]
    data["record_types"]["admin.penalty.serious"]["class"] = "grave"
    data["record_types"]["honour.city"]["category"] = "fame"
    data["levels"][0]["min_points"] = 900
    data["classes"]["general"]["min_months"] = 24

    errors = errors_of(data)

    assert len(errors) == 5
    for rule in ("record type 'admin.penalty.general'", "record type 'admin.penalty.serious'",
                 "record type 'honour.city'", "level 'AA'", "class 'general'"):
        assert any(e.startswith(rule) for e in errors), rule
    assert "admin.penalty.general" in str(RuleSetInvalid(errors))
