"""Housekeeping workers: the safety code (安心码) and the occupational summary.

Occupational records carry no points (rule set §6); they say whether a worker
may be sent into a home. Everything is judged on the `as_of` date: records that
occurred after it or were revoked are not taken into account.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from points.dates import as_date
from points.rules.engine import REVOKED, RecordFacts, record_order_key

IDENTITY = "worker.identity_verified"
BACKGROUND = "worker.background_check"
HEALTH = "worker.health_certificate"
INSURANCE = "worker.insurance"
TRAINING = "worker.training"
SKILL = "worker.skill_certificate"
LICENSE = "occupation.license"
# The colours a worker's safety code takes (rule set §6), and a background check's results.
SAFETY_CODES = ("green", "yellow", "red")
BACKGROUND_RESULTS = ("clear", "flagged")


def _known_on(records: Iterable[RecordFacts], as_of: dt.date) -> dict[str, list[RecordFacts]]:
    """Non-revoked records that had happened by as_of, by type, oldest first."""
    by_type: dict[str, list[RecordFacts]] = {}
    for record in records:
        if record.status == REVOKED:
            continue
        if record.occurred_on is not None and record.occurred_on > as_of:
            continue
        by_type.setdefault(record.type, []).append(record)
    for group in by_type.values():
        # Latest = by occurred_on then id; a record without a date sorts oldest.
        group.sort(key=lambda r: (r.occurred_on or dt.date.min, record_order_key(r.id)))
    return by_type


def _certificate(group: list[RecordFacts], as_of: dt.date) -> dict[str, Any]:
    """Whether one of the certificates is valid on as_of (valid_until is the last
    valid day), and the furthest valid_until on record."""
    until_dates = [d for r in group if (d := as_date(r.details.get("valid_until"))) is not None]
    latest = max(until_dates, default=None)
    return {"valid": latest is not None and latest >= as_of, "valid_until": latest}


def _background(group: list[RecordFacts]) -> dict[str, Any]:
    latest = group[-1] if group else None
    return {
        "result": None if latest is None else latest.details.get("result"),
        "checked_on": None if latest is None else latest.occurred_on,
    }


def _code(identity: bool, background: str | None, health: bool, insurance: bool) -> str:
    if not identity or background == "flagged":
        return "red"
    # No background check at all is not a finding against the worker, so it is not
    # red, but only a clear check can make the code green.
    if background == "clear" and health and insurance:
        return "green"
    return "yellow"


def safety_code(records: Iterable[RecordFacts], as_of: dt.date) -> str:
    """"green", "yellow" or "red" on as_of (rule set §6)."""
    return worker_status(records, as_of)["safety_code"]


def worker_status(records: Iterable[RecordFacts], as_of: dt.date) -> dict[str, Any]:
    """The worker's occupational summary on as_of; dates are `date` objects."""
    known = _known_on(records, as_of)
    identity = known.get(IDENTITY, [])
    background = _background(known.get(BACKGROUND, []))
    health = _certificate(known.get(HEALTH, []), as_of)
    insurance = _certificate(known.get(INSURANCE, []), as_of)
    return {
        "safety_code": _code(bool(identity), background["result"], health["valid"],
                             insurance["valid"]),
        "identity": {"verified": bool(identity),
                     "verified_on": identity[-1].occurred_on if identity else None},
        "background": background,
        "health_certificate": health,
        "insurance": insurance,
        "training": [{"record_id": r.id, "course": r.details.get("course"),
                      "hours": r.details.get("hours"), "completed_on": r.occurred_on}
                     for r in known.get(TRAINING, [])],
        "skill_certificates": [{"record_id": r.id, "name": r.details.get("name"),
                                "grade": r.details.get("grade"), "obtained_on": r.occurred_on}
                               for r in known.get(SKILL, [])],
        "licenses": [{"record_id": r.id, "occupation": r.details.get("occupation"),
                      "license_no": r.details.get("license_no"), "issued_on": r.occurred_on}
                     for r in known.get(LICENSE, [])],
    }
