"""What each kind of notification says: a title and a body in the reader's language, rendered
from the notice's stored parameters when it is read, and the four fields of the
WeChat subscription message sent for it (points.infra.notify: thing1 事项, phrase2 结果,
date3 日期, thing4 说明)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from points.i18n import N_, gettext, translate_text
from points.infra.outbox import message_data

KINDS = ("record_negative", "record_changed", "level_changed", "credit_checked",
         "report_viewed", "repair_decided", "objection_decided", "commitment_outcome",
         "identity_moved")

CLASS_NAMES = {"minor": N_("minor"), "general": N_("general"), "serious": N_("serious")}
CHANGES = {"corrected": N_("corrected"), "ended": N_("ended early"), "revoked": N_("revoked"),
           "repaired": N_("repaired")}
PURPOSES = {"administrative_license": N_("an administrative licence"),
            "administrative_penalty": N_("an administrative penalty"),
            "inspection": N_("an inspection"), "financial_support": N_("financial support"),
            "government_procurement": N_("government procurement"),
            "bidding": N_("a tender"), "land_transfer": N_("a land transfer"),
            "research_funding": N_("research funding"),
            "civil_service_hiring": N_("civil service hiring"),
            "commendation": N_("a commendation")}
# The WeChat subscription message's short fields (thing1 事项, phrase2 结果: at most 5
# characters in Chinese) where the notice's own words are too long.
WECHAT_SUBJECTS = {"level_changed": N_("credit level"), "report_viewed": N_("credit report"),
                   "identity_moved": N_("real-name binding")}
WECHAT_RESULTS = {"record_negative": N_("new record"), "credit_checked": N_("checked"),
                  "report_viewed": N_("viewed"), "identity_moved": N_("moved")}
WECHAT_OUTCOMES = {"fulfilled": N_("fulfilled"), "breached": N_("breached")}
IDENTITY_MOVED_NOTE = N_("this ID number was bound to another account after its holder's "
                         "face verification")


def _date(value: str | None) -> str:
    if not value:
        return ""
    return dt.date.fromisoformat(value).isoformat()


def _record_negative(p: dict[str, Any]) -> tuple[str, str]:
    klass = gettext(CLASS_NAMES[p["class"]]) if p.get("class") in CLASS_NAMES else ""
    document = (gettext(", document {document_no}", document_no=p["document_no"])
                if p.get("document_no") else "")
    if p.get("repairable"):
        repair = gettext("once the conditions are met you may apply for its repair under "
                         "\"Credit repair\".")
    else:
        repair = gettext("this kind of record cannot be repaired in the app; the department "
                         "that decided it handles it as the law provides.")
    body = gettext(
        "{department} reported a {klass} negative record about you on {day}: {title} "
        "(record {record_id}{document}). As Art. 15 of the Regulation on the Administration "
        "of the Credit Reporting Industry requires, you are told: you may add your own "
        "statement to the record under \"My records\"; if you think it is wrong, you may "
        "object, and the department answers within the set time; {repair}",
        department=p["department"], klass=klass, day=_date(p.get("decided_on")),
        title=p["title"], record_id=p["record_id"], document=document, repair=repair)
    return gettext("Notice of a new negative record"), body


def _record_changed(p: dict[str, Any]) -> tuple[str, str]:
    change = gettext(CHANGES[p["change"]]) if p["change"] in CHANGES else p["change"]
    extra = ""
    if p["change"] == "ended" and p.get("ended_on"):
        extra = gettext(", no longer counted from {day}", day=_date(p["ended_on"]))
    return (gettext("Credit record {change}", change=change),
            gettext("{department} {change} your record {title} (record {record_id}){extra}. "
                    "Your points were computed again.", department=p["department"],
                    change=change, title=p["title"], record_id=p["record_id"], extra=extra))


def _level_changed(p: dict[str, Any]) -> tuple[str, str]:
    return (gettext("Credit level changed"),
            gettext("Your credit level changed from {old} to {new}; your points are now "
                    "{points}. \"My points\" shows the reason of every change.",
                    old=p["from"], new=p["to"], points=p["points"]))


def _credit_checked(p: dict[str, Any]) -> tuple[str, str]:
    purpose = (gettext(PURPOSES[p["purpose"]]) if p.get("purpose") in PURPOSES
               else p.get("purpose") or "")
    return (gettext("Notice of a credit check"),
            gettext("{department} checked your credit to handle {purpose} (matter "
                    "{matter_ref}). \"Access log\" lists every check.",
                    department=p["department"], purpose=purpose, matter_ref=p["matter_ref"]))


def _report_viewed(p: dict[str, Any]) -> tuple[str, str]:
    return (gettext("Your credit report was viewed"),
            gettext("Someone opened the credit report you shared (report {report_no}). To stop "
                    "it being viewed, revoke the link under \"My shares\".",
                    report_no=p["report_no"]))


def _decided(what: str, p: dict[str, Any]) -> tuple[str, str]:
    note = gettext(" Note: {note}", note=p["note"]) if p.get("note") else ""
    return (gettext("Result of your {what}", what=what),
            gettext("{department} decided on your {what} about \"{title}\": {answer}.{note}",
                    department=p["department"], what=what, title=p["title"],
                    answer=translate_text(p["answer"]), note=note))


def _commitment_outcome(p: dict[str, Any]) -> tuple[str, str]:
    outcome = (gettext("fulfilled") if p["outcome"] == "fulfilled"
               else gettext("not fulfilled (breached)"))
    return (gettext("Outcome of your credit commitment"),
            gettext("{department} found your commitment \"{matter}\" {outcome}; this is in "
                    "your credit records.", department=p["department"], matter=p["matter"],
                    outcome=outcome))


def _identity_moved(p: dict[str, Any]) -> tuple[str, str]:
    return (gettext("Real-name binding moved"),
            gettext("The ID number was bound to another WeChat account after its holder's face "
                    "verification; this account no longer shows its credit. If this was not "
                    "you, contact the credit office."))


def render(kind: str, params: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of a notice, in the current language (points.i18n)."""
    if kind == "repair_decided":
        return _decided(gettext("credit repair application"), params)
    if kind == "objection_decided":
        return _decided(gettext("objection"), params)
    return {
        "record_negative": _record_negative, "record_changed": _record_changed,
        "level_changed": _level_changed, "credit_checked": _credit_checked,
        "report_viewed": _report_viewed, "commitment_outcome": _commitment_outcome,
        "identity_moved": _identity_moved,
    }[kind](params)


def wechat(kind: str, params: dict[str, Any], today: dt.date) -> dict[str, str]:
    """The subscription message's four fields for a notice, in Chinese (the templates'
    language) whatever the current language: `message_data` translates the labels."""
    title, _body = render(kind, params)
    # English messages (N_): message_data gives them in the templates' language.
    subject, result = {
        "record_negative": (params.get("title"), WECHAT_RESULTS["record_negative"]),
        "record_changed": (params.get("title"), CHANGES.get(params.get("change"),
                                                            N_("changed"))),
        "level_changed": (WECHAT_SUBJECTS["level_changed"],
                          N_("level {level}").format(level=params.get("to"))),
        "credit_checked": (params.get("department"), WECHAT_RESULTS["credit_checked"]),
        "report_viewed": (WECHAT_SUBJECTS["report_viewed"], WECHAT_RESULTS["report_viewed"]),
        "repair_decided": (params.get("title"), params.get("answer") or ""),
        "objection_decided": (params.get("title"), params.get("answer") or ""),
        "commitment_outcome": (params.get("matter"),
                               WECHAT_OUTCOMES.get(params.get("outcome"), N_("breached"))),
        "identity_moved": (WECHAT_SUBJECTS["identity_moved"], WECHAT_RESULTS["identity_moved"]),
    }[kind]
    note = params.get("note") or params.get("department") or title
    if kind == "identity_moved":
        note = IDENTITY_MOVED_NOTE
    return message_data(subject or title, result, today, note)
