"""What a worker's credit report says to people, in Chinese: the names of the
safety code's colours and what they mean, why this worker has their colour, what
the level means, and the lines of each section. The web page (`GET /r/{token}`)
and the PDF say the same things from here.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

CODE_NAMES = {"green": "绿码", "yellow": "黄码", "red": "红码"}
CODE_MEANINGS = {
    "green": "身份已核验，背景审查无犯罪记录，健康证明和责任保险都在有效期内：可以安排上门服务。",
    "yellow": "身份已核验，未发现犯罪记录，但背景审查、健康证明或责任保险有缺项或已过期："
              "请先核实缺少的材料，再决定是否安排上门服务。",
    "red": "身份未经核验，或背景审查发现犯罪记录：不建议安排上门服务。",
}
OCCUPATION_NAMES = {"housekeeping": "家政服务员", "lawyer": "律师", "teacher": "教师",
                    "doctor": "医师"}
CLASS_NAMES = {"minor": "轻微", "general": "一般", "serious": "严重"}
BACKGROUND_NAMES = {"clear": "无犯罪记录", "flagged": "有犯罪记录"}
NONE = "无"


def day(value: dt.date | str | None) -> str:
    """A date as people write it: 2026年6月15日."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return f"{value.year}年{value.month}月{value.day}日"


def code_name(code: str) -> str:
    return CODE_NAMES.get(code, code)


def _certificate_reason(label: str, cert: dict[str, Any]) -> str | None:
    """Why a certificate keeps the code from green, or None if it does not."""
    if cert["valid"]:
        return None
    if cert["valid_until"] is None:
        return f"没有{label}记录"
    return f"{label}已于{day(cert['valid_until'])}到期"


def code_reasons(report: dict[str, Any]) -> list[str]:
    """Why this worker has today's colour, one short sentence per fact (rule set §6)."""
    code, identity, background = report["safety_code"], report["identity"], report["background"]
    if code == "red":
        reasons = []
        if not identity["verified"]:
            reasons.append("身份未经家政服务平台核验")
        if background["result"] == "flagged":
            reasons.append(f"最近一次背景审查（{day(background['checked_on'])}）发现犯罪记录")
        return reasons
    if code == "yellow":
        reasons = []
        if background["result"] is None:
            reasons.append("没有背景审查记录")
        for label, key in (("健康证明", "health_certificate"), ("责任保险", "insurance")):
            reason = _certificate_reason(label, report[key])
            if reason:
                reasons.append(reason)
        return reasons
    return [f"身份已核验（{day(identity['verified_on'])}）",
            f"背景审查无犯罪记录（{day(background['checked_on'])}）",
            f"健康证明有效期至{day(report['health_certificate']['valid_until'])}",
            f"责任保险有效期至{day(report['insurance']['valid_until'])}"]


def level_lines(report: dict[str, Any]) -> list[str]:
    """What the level means: its title, its range of points on the rule set's scale,
    and where everyone starts. The worker's own points are never shown."""
    scale = report.get("level_scale") or {}
    lines = []
    for lv in scale.get("levels", []):
        if lv["name"] != report["level"]:
            continue
        if lv["min_points"] is None:
            span = f"积分低于{lv['max_points'] + 1}分"
        elif lv["max_points"] is None:
            span = f"积分{lv['min_points']}分及以上"
        else:
            span = f"积分{lv['min_points']}至{lv['max_points']}分"
        lines.append(f"{lv['name']}级（{lv['title'] or lv['name']}）对应{span}。")
    if scale.get("base") is not None:
        names = "、".join(lv["name"] for lv in scale.get("levels", []))
        lines.append(f"信用等级由高到低为 {names}。每人起始积分为{scale['base']}分，"
                     "守信记录加分，失信记录在计入期内扣分；本报告只显示等级，不显示积分。")
    return lines


def _certificate(cert: dict[str, Any]) -> str:
    if cert["valid_until"] is None:
        return "无记录"
    state = "有效" if cert["valid"] else "已过期"
    return f"{state}（有效期至{day(cert['valid_until'])}）"


def employer_name(report: dict[str, Any]) -> str:
    """The confirmed employer, if the report names one."""
    employer = report.get("employer")
    if isinstance(employer, dict):
        employer = employer.get("name")
    return employer or "未登记经确认的服务机构"


def check_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """Each check of the safety code with its result and date."""
    identity, background = report["identity"], report["background"]
    return [
        ("身份核验", f"已核验（{day(identity['verified_on'])}）" if identity["verified"]
         else "未核验"),
        ("背景审查", f"{BACKGROUND_NAMES.get(background['result'], background['result'])}"
                    f"（{day(background['checked_on'])}）" if background["result"] else "无记录"),
        ("健康证明", _certificate(report["health_certificate"])),
        ("责任保险", _certificate(report["insurance"])),
    ]


def training_lines(report: dict[str, Any]) -> list[str]:
    return [f"{t['course'] or '培训'}，{t['hours']}学时（{day(t['completed_on'])}完成）"
            for t in report["training"]]


def certificate_lines(report: dict[str, Any]) -> list[str]:
    skills = [f"{s['name'] or '职业技能证书'} {s['grade'] or ''}（{day(s['obtained_on'])}取得）"
              for s in report["skill_certificates"]]
    licenses = [f"{OCCUPATION_NAMES.get(x['occupation'], x['occupation'] or '')}执业证 "
                f"{x['license_no'] or ''}（{day(x['issued_on'])}发证）" for x in report["licenses"]]
    return skills + licenses


def last_counted_day(record: dict[str, Any]) -> dt.date | None:
    """`counted_until` is the first day the record no longer counts."""
    until = record["counted_until"]
    if isinstance(until, str):
        until = dt.date.fromisoformat(until)
    return None if until is None else until - dt.timedelta(days=1)


def record_line(record: dict[str, Any]) -> str:
    klass = CLASS_NAMES.get(record["class"], record["class"] or "")
    department = record.get("department")
    source = f"，{department['name']}" if isinstance(department, dict) else ""
    document = f"，文号 {record['document_no']}" if record.get("document_no") else ""
    return (f"{record['title']}（{klass}失信{source}{document}，{day(record['decided_on'])}"
            f"认定，计入至{day(last_counted_day(record))}）")


def statement_text(record: dict[str, Any]) -> str | None:
    """The worker's statement (说明) on a record: its text, if the record has one."""
    statement = record.get("statement")
    if isinstance(statement, dict):
        statement = statement.get("text")
    return statement or None


def review_line(report: dict[str, Any]) -> str:
    reviews = report["reviews"]
    if not reviews["count"]:
        return "暂无评价"
    return f"{reviews['count']}条评价，平均{reviews['average']}分（满分5分）"
