"""What each kind of notification says: a title and a body in Chinese, rendered
from the notice's stored parameters when it is read, and the four fields of the
WeChat subscription message sent for it (points.notify: thing1 事项, phrase2 结果,
date3 日期, thing4 说明)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from points.outbox import message_data

KINDS = ("record_negative", "record_changed", "level_changed", "credit_checked",
         "report_viewed", "repair_decided", "objection_decided", "commitment_outcome",
         "identity_moved")

CLASS_NAMES = {"minor": "轻微", "general": "一般", "serious": "严重"}
CHANGES = {"corrected": "更正", "ended": "提前终止", "revoked": "撤销", "repaired": "修复"}
PURPOSES = {"administrative_license": "行政许可", "administrative_penalty": "行政处罚",
            "inspection": "监督检查", "financial_support": "财政资金支持",
            "government_procurement": "政府采购", "bidding": "招标投标",
            "land_transfer": "土地出让", "research_funding": "科研项目",
            "civil_service_hiring": "公务员录用", "commendation": "评优评先"}


def _date(value: str | None) -> str:
    if not value:
        return ""
    day = dt.date.fromisoformat(value)
    return f"{day.year}年{day.month}月{day.day}日"


def _record_negative(p: dict[str, Any]) -> tuple[str, str]:
    klass = CLASS_NAMES.get(p.get("class") or "", "")
    document = f"，文号 {p['document_no']}" if p.get("document_no") else ""
    when = f"于{_date(p.get('decided_on'))}" if p.get("decided_on") else ""
    if p.get("repairable"):
        repair = (f"符合条件后可在“信用修复”中申请修复（最早{_date(p['repairable_from'])}起）。"
                  if p.get("repairable_from") else "符合条件后可在“信用修复”中申请修复。")
    else:
        repair = "此类记录不能在小程序中申请修复，由作出决定的部门依法处理。"
    body = (f"{p['department']}{when}报送了关于您的{klass}失信记录：{p['title']}"
            f"（记录编号 {p['record_id']}{document}）。依据《征信业管理条例》第十五条告知您："
            f"您可以在“我的记录”中为该记录添加本人说明；如认为记录有误，可提出异议，"
            f"部门将在规定期限内核查答复；{repair}")
    return "新增失信记录告知", body


def _record_changed(p: dict[str, Any]) -> tuple[str, str]:
    change = CHANGES.get(p["change"], p["change"])
    extra = ""
    if p["change"] == "ended" and p.get("ended_on"):
        extra = f"，自{_date(p['ended_on'])}起不再计入"
    return (f"信用记录已{change}",
            (f"{p['department']}{change}了您的记录：{p['title']}（记录编号 {p['record_id']}）{extra}。"
            f"积分已随之重新计算。"))


def _level_changed(p: dict[str, Any]) -> tuple[str, str]:
    return ("信用等级变化",
            (f"您的信用等级由 {p['from']} 级变为 {p['to']} 级，当前积分 {p['points']} 分。"
            f"可在“我的积分”中查看每条变化的原因。"))


def _credit_checked(p: dict[str, Any]) -> tuple[str, str]:
    purpose = PURPOSES.get(p.get("purpose") or "", p.get("purpose") or "依法办事")
    return ("信用查询告知",
            (f"{p['department']}因办理{purpose}事项（事项编号 {p['matter_ref']}）"
            f"查询了您的信用状况。查询记录可在“查询记录”中查看。"))


def _report_viewed(p: dict[str, Any]) -> tuple[str, str]:
    return ("信用报告被查看",
            (f"有人通过您分享的信用报告链接（报告编号 {p['report_no']}）查看了您的报告。"
            f"不想再被查看时，可在“分享记录”中撤销该链接。"))


def _decided(what: str, p: dict[str, Any]) -> tuple[str, str]:
    note = f"说明：{p['note']}" if p.get("note") else ""
    return (f"{what}结果",
            f"您就“{p['title']}”提出的{what}，{p['department']}的决定是：{p['answer']}。{note}")


def _commitment_outcome(p: dict[str, Any]) -> tuple[str, str]:
    outcome = "已履约" if p["outcome"] == "fulfilled" else "未履约（违诺）"
    return ("信用承诺结果",
            f"{p['department']}认定您的承诺“{p['matter']}”{outcome}，已记入信用记录。")


def _identity_moved(p: dict[str, Any]) -> tuple[str, str]:
    return ("实名绑定已转移",
            ("该身份证号已由本人通过人脸核身绑定到另一个微信账号，本账号不再显示其信用信息。"
            "如非本人操作，请联系信用办。"))


def render(kind: str, params: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of a notice."""
    if kind == "repair_decided":
        return _decided("信用修复申请", params)
    if kind == "objection_decided":
        return _decided("异议申请", params)
    return {
        "record_negative": _record_negative, "record_changed": _record_changed,
        "level_changed": _level_changed, "credit_checked": _credit_checked,
        "report_viewed": _report_viewed, "commitment_outcome": _commitment_outcome,
        "identity_moved": _identity_moved,
    }[kind](params)


def wechat(kind: str, params: dict[str, Any], today: dt.date) -> dict[str, str]:
    """The subscription message's four fields for a notice."""
    title, _body = render(kind, params)
    subject, result = {
        "record_negative": (params.get("title"), "新增记录"),
        "record_changed": (params.get("title"), CHANGES.get(params.get("change"), "变更")),
        "level_changed": ("信用等级", f"{params.get('to')}级"),
        "credit_checked": (params.get("department"), "已查询"),
        "report_viewed": ("信用报告", "被查看"),
        "repair_decided": (params.get("title"), params.get("answer") or ""),
        "objection_decided": (params.get("title"), params.get("answer") or ""),
        "commitment_outcome": (params.get("matter"),
                               "已履约" if params.get("outcome") == "fulfilled" else "违诺"),
        "identity_moved": ("实名绑定", "已转移"),
    }[kind]
    note = params.get("note") or params.get("department") or title
    if kind == "identity_moved":
        note = "该身份证号已由本人人脸核身后绑定到另一账号"
    return message_data(subject or title, result, today, note)
