"""What a worker's credit report says to people, in the reader's language (Chinese
unless they ask for English, points.i18n): the names of the safety code's colours and
what they mean, why this worker has their colour, what the level means, and the lines
of each section. The web page (`GET /r/{token}`) and the PDF say the same things from
here. What the rule set and the departments gave (level titles, record titles, course
names) is shown as given.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_date

from points.i18n import N_, current_locale, gettext

CODE_NAMES = {"green": N_("Green"), "yellow": N_("Yellow"), "red": N_("Red")}
CODE_MEANINGS = {
    "green": N_("Identity verified, no criminal record in the background check, health "
                "certificate and liability insurance both valid: home services may be "
                "arranged."),
    "yellow": N_("Identity verified and no criminal record found, but the background check, "
                 "health certificate or liability insurance is missing or expired: check the "
                 "missing documents first, then decide whether to arrange home services."),
    "red": N_("Identity not verified, or the background check found a criminal record: home "
              "services are not advised."),
}
OCCUPATION_NAMES = {"housekeeping": N_("housekeeper"), "lawyer": N_("lawyer"),
                    "teacher": N_("teacher"), "doctor": N_("doctor")}
CLASS_NAMES = {"minor": N_("minor"), "general": N_("general"), "serious": N_("serious")}
BACKGROUND_NAMES = {"clear": N_("no criminal record"), "flagged": N_("criminal record found")}
NONE = N_("none")
# Between the names of a list ("A、B、C" in Chinese).
LIST_SEPARATOR = N_(", ")
# Babel's name of each language, for dates.
DATE_LOCALES = {"zh": "zh_CN", "en": "en"}


def day(value: dt.date | str | None) -> str:
    """A date as people write it: 2026年6月15日, June 15, 2026."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return format_date(value, "long", locale=DATE_LOCALES.get(current_locale(), "zh_CN"))


def _name(table: dict[str, str], key: str | None, default: str = "") -> str:
    """The translated name of `key` in `table`; an unknown key as it is."""
    return gettext(table[key]) if key in table else (key or default)


def code_name(code: str) -> str:
    return _name(CODE_NAMES, code)


def code_meaning(code: str) -> str:
    return gettext(CODE_MEANINGS[code]) if code in CODE_MEANINGS else ""


def occupation_name(occupation: str | None, default: str = "—") -> str:
    return _name(OCCUPATION_NAMES, occupation, default)


def none() -> str:
    return gettext(NONE)


def _certificate_reason(label: str, cert: dict[str, Any]) -> str | None:
    """Why a certificate keeps the code from green, or None if it does not."""
    if cert["valid"]:
        return None
    if cert["valid_until"] is None:
        return gettext("No {certificate} on record", certificate=label)
    return gettext("The {certificate} expired on {day}", certificate=label,
                   day=day(cert["valid_until"]))


def code_reasons(report: dict[str, Any]) -> list[str]:
    """Why this worker has today's colour, one short sentence per fact (rule set §6)."""
    code, identity, background = report["safety_code"], report["identity"], report["background"]
    if code == "red":
        reasons = []
        if not identity["verified"]:
            reasons.append(gettext("Identity not verified by the housekeeping platform"))
        if background["result"] == "flagged":
            reasons.append(gettext("The latest background check ({day}) found a criminal "
                                   "record", day=day(background["checked_on"])))
        return reasons
    if code == "yellow":
        reasons = []
        if background["result"] is None:
            reasons.append(gettext("No background check on record"))
        for label, key in ((gettext("health certificate"), "health_certificate"),
                           (gettext("liability insurance"), "insurance")):
            reason = _certificate_reason(label, report[key])
            if reason:
                reasons.append(reason)
        return reasons
    return [gettext("Identity verified ({day})", day=day(identity["verified_on"])),
            gettext("Background check found no criminal record ({day})",
                    day=day(background["checked_on"])),
            gettext("Health certificate valid until {day}",
                    day=day(report["health_certificate"]["valid_until"])),
            gettext("Liability insurance valid until {day}",
                    day=day(report["insurance"]["valid_until"]))]


def level_lines(report: dict[str, Any]) -> list[str]:
    """What the level means: its title, its range of points on the rule set's scale,
    and where everyone starts. The worker's own points are never shown."""
    scale = report.get("level_scale") or {}
    lines = []
    for lv in scale.get("levels", []):
        if lv["name"] != report["level"]:
            continue
        if lv["min_points"] is None:
            span = gettext("points below {points}", points=lv["max_points"] + 1)
        elif lv["max_points"] is None:
            span = gettext("{points} points or more", points=lv["min_points"])
        else:
            span = gettext("{low} to {high} points", low=lv["min_points"],
                           high=lv["max_points"])
        lines.append(gettext("Level {name} ({title}) means {span}.", name=lv["name"],
                             title=lv["title"] or lv["name"], span=span))
    if scale.get("base") is not None:
        names = gettext(LIST_SEPARATOR).join(lv["name"] for lv in scale.get("levels", []))
        lines.append(gettext(
            "Credit levels from highest to lowest: {names}. Everyone starts with {base} "
            "points; good records add points, negative records take points off while they "
            "count. This report shows the level only, never the points.",
            names=names, base=scale["base"]))
    return lines


def _certificate(cert: dict[str, Any]) -> str:
    if cert["valid_until"] is None:
        return gettext("no record")
    state = gettext("valid") if cert["valid"] else gettext("expired")
    return gettext("{state} (valid until {day})", state=state, day=day(cert["valid_until"]))


def employer_name(report: dict[str, Any]) -> str:
    """The confirmed employer, if the report names one."""
    employer = report.get("employer")
    if isinstance(employer, dict):
        employer = employer.get("name")
    return employer or gettext("no confirmed employer on record")


def check_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """Each check of the safety code with its result and date."""
    identity, background = report["identity"], report["background"]
    if background["result"]:
        checked = gettext("{result} ({day})",
                          result=_name(BACKGROUND_NAMES, background["result"]),
                          day=day(background["checked_on"]))
    else:
        checked = gettext("no record")
    return [
        (gettext("Identity"), gettext("verified ({day})", day=day(identity["verified_on"]))
         if identity["verified"] else gettext("not verified")),
        (gettext("Background check"), checked),
        (gettext("Health certificate"), _certificate(report["health_certificate"])),
        (gettext("Liability insurance"), _certificate(report["insurance"])),
    ]


def training_lines(report: dict[str, Any]) -> list[str]:
    return [gettext("{course}, {hours} hours (completed {day})",
                    course=t["course"] or gettext("training course"), hours=t["hours"],
                    day=day(t["completed_on"]))
            for t in report["training"]]


def certificate_lines(report: dict[str, Any]) -> list[str]:
    skills = [gettext("{name} {grade} (obtained {day})",
                      name=s["name"] or gettext("Vocational skill certificate"),
                      grade=s["grade"] or "", day=day(s["obtained_on"]))
              for s in report["skill_certificates"]]
    licenses = [gettext("{occupation} practising certificate {license_no} (issued {day})",
                        occupation=occupation_name(x["occupation"], ""),
                        license_no=x["license_no"] or "", day=day(x["issued_on"]))
                for x in report["licenses"]]
    return skills + licenses


def last_counted_day(record: dict[str, Any]) -> dt.date | None:
    """`counted_until` is the first day the record no longer counts."""
    until = record["counted_until"]
    if isinstance(until, str):
        until = dt.date.fromisoformat(until)
    return None if until is None else until - dt.timedelta(days=1)


def record_line(record: dict[str, Any]) -> str:
    department = record.get("department")
    source = (gettext(", {department}", department=department["name"])
              if isinstance(department, dict) else "")
    document = (gettext(", document {document_no}", document_no=record["document_no"])
                if record.get("document_no") else "")
    return gettext("{title} ({klass} negative record{source}{document}, decided {day}, "
                   "counts until {until})", title=record["title"],
                   klass=_name(CLASS_NAMES, record["class"]), source=source,
                   document=document, day=day(record["decided_on"]),
                   until=day(last_counted_day(record)))


def statement_text(record: dict[str, Any]) -> str | None:
    """The worker's statement (说明) on a record: its text, if the record has one."""
    statement = record.get("statement")
    if isinstance(statement, dict):
        statement = statement.get("text")
    return statement or None


def review_line(report: dict[str, Any]) -> str:
    reviews = report["reviews"]
    if not reviews["count"]:
        return gettext("No reviews yet")
    return gettext("Reviews: {count}, average {average} out of 5", count=reviews["count"],
                   average=reviews["average"])
