"""What the worker report says about the safety code and the level (pure text)."""
from __future__ import annotations

import datetime as dt

from points.employment import report_text as txt

D = dt.date


def status(**changes) -> dict:
    report = {
        "safety_code": "green",
        "identity": {"verified": True, "verified_on": D(2026, 1, 5)},
        "background": {"result": "clear", "checked_on": D(2026, 1, 6)},
        "health_certificate": {"valid": True, "valid_until": D(2026, 12, 31)},
        "insurance": {"valid": True, "valid_until": D(2027, 1, 31)},
        "level": "B",
        "level_scale": {"base": 1000, "levels": [
            {"name": "A", "title": "信用良好", "min_points": 960, "max_points": 1029},
            {"name": "B", "title": "信用一般", "min_points": 850, "max_points": 959},
            {"name": "D", "title": "信用差", "min_points": None, "max_points": 599}]},
    }
    report.update(changes)
    return report


def test_green_says_every_check_with_its_date():
    assert txt.code_reasons(status()) == [
        "身份已核验（2026年1月5日）", "背景审查无犯罪记录（2026年1月6日）",
        "健康证明有效期至2026年12月31日", "责任保险有效期至2027年1月31日"]


def test_yellow_names_what_is_missing_or_expired():
    report = status(safety_code="yellow", background={"result": None, "checked_on": None},
                    health_certificate={"valid": False, "valid_until": None},
                    insurance={"valid": False, "valid_until": D(2026, 6, 14)})
    assert txt.code_reasons(report) == ["没有背景审查记录", "没有健康证明记录",
                                        "责任保险已于2026年6月14日到期"]


def test_red_names_the_missing_identity_and_the_finding():
    report = status(safety_code="red", identity={"verified": False, "verified_on": None},
                    background={"result": "flagged", "checked_on": D(2026, 2, 1)})
    assert txt.code_reasons(report) == ["身份未经家政服务平台核验",
                                        "最近一次背景审查（2026年2月1日）发现犯罪记录"]
    assert txt.code_name("red") == "红码" and "不建议" in txt.code_meaning("red")


def test_level_lines_give_the_range_never_the_points():
    lines = txt.level_lines(status())
    assert lines[0] == "B级（信用一般）对应积分850至959分。"
    assert "起始积分为1000分" in lines[1] and "A、B、D" in lines[1]
    assert txt.level_lines(status(level="D"))[0] == "D级（信用差）对应积分低于600分。"


def test_record_line_says_the_last_counted_day_and_the_statement():
    record = {"title": "行政处罚（一般）", "class": "general", "decided_on": D(2026, 5, 20),
              "counted_until": D(2027, 5, 20), "department": {"code": "m", "name": "市场监管局"},
              "document_no": "罚〔2026〕1号", "statement": {"text": "已缴清"}}
    assert txt.record_line(record) == ("行政处罚（一般）（一般失信，市场监管局，文号 罚〔2026〕1号，"
                                       "2026年5月20日认定，计入至2027年5月19日）")
    assert txt.statement_text(record) == "已缴清"
    assert txt.statement_text({**record, "statement": None}) is None
    assert txt.employer_name({"employer": {"name": "好帮手家政"}}) == "好帮手家政"
    assert txt.employer_name({}) == "未登记经确认的服务机构"


def test_the_same_lines_in_english():
    from points.i18n import use_locale

    yellow = status(safety_code="yellow", background={"result": None, "checked_on": None},
                    health_certificate={"valid": False, "valid_until": None},
                    insurance={"valid": False, "valid_until": D(2026, 6, 14)})
    record = {"title": "行政处罚（一般）", "class": "general", "decided_on": D(2026, 5, 20),
              "counted_until": D(2027, 5, 20), "department": {"code": "m", "name": "市场监管局"},
              "document_no": "罚〔2026〕1号"}
    with use_locale("en"):
        assert txt.code_reasons(yellow) == [
            "No background check on record", "No health certificate on record",
            "The liability insurance expired on June 14, 2026"]
        assert txt.code_name("red") == "Red" and "not advised" in txt.code_meaning("red")
        assert txt.level_lines(status())[0] == "Level B (信用一般) means 850 to 959 points."
        assert "A, B, D" in txt.level_lines(status())[1]
        assert txt.level_lines(status(level="D"))[0] == "Level D (信用差) means points below 600."
        assert txt.record_line(record) == (
            "行政处罚（一般） (general negative record, 市场监管局, document 罚〔2026〕1号, "
            "decided May 20, 2026, counts until May 19, 2027)")
        assert txt.check_lines(status())[0] == ("Identity", "verified (January 5, 2026)")
        assert txt.review_line({"reviews": {"count": 3, "average": 4.7}}) == (
            "Reviews: 3, average 4.7 out of 5")
        assert txt.employer_name({}) == "no confirmed employer on record"
    # and Chinese again outside the block
    assert txt.code_reasons(yellow)[0] == "没有背景审查记录"
