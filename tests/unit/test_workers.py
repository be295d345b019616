"""The housekeeping worker's safety code (安心码) and occupational summary."""
from __future__ import annotations

import datetime as dt

from points.employment.workers import safety_code, worker_status
from points.rules.engine import RecordFacts

TODAY = dt.date(2026, 11, 30)
YESTERDAY = TODAY - dt.timedelta(days=1)
TOMORROW = TODAY + dt.timedelta(days=1)
HIRED = dt.date(2026, 1, 10)


def identity(**kw):
    return RecordFacts(id=1, type="worker.identity_verified", occurred_on=HIRED, **kw)


def background(result, on=HIRED, id=2, **kw):
    return RecordFacts(id=id, type="worker.background_check", occurred_on=on,
                       details={"result": result}, **kw)


def health(valid_until, id=3):
    return RecordFacts(id=id, type="worker.health_certificate", occurred_on=HIRED,
                       details={"valid_until": valid_until})


def insurance(valid_until, id=4):
    return RecordFacts(id=id, type="worker.insurance", occurred_on=HIRED,
                       details={"valid_until": valid_until})


def fully_checked(health_until=TOMORROW, insurance_until=TOMORROW):
    return [identity(), background("clear"), health(health_until), insurance(insurance_until)]


def test_green_when_everything_is_valid():
    assert safety_code(fully_checked(), TODAY) == "green"


def test_certificate_valid_until_today_is_still_valid():
    assert safety_code(fully_checked(health_until=TODAY, insurance_until=TODAY), TODAY) == "green"


def test_valid_until_may_arrive_as_iso_text():
    records = fully_checked(health_until=TODAY.isoformat(), insurance_until="2027-01-01")

    assert safety_code(records, TODAY) == "green"


def test_health_certificate_expired_yesterday_is_yellow():
    assert safety_code(fully_checked(health_until=YESTERDAY), TODAY) == "yellow"


def test_insurance_expired_yesterday_is_yellow():
    assert safety_code(fully_checked(insurance_until=YESTERDAY), TODAY) == "yellow"


def test_missing_certificates_are_yellow():
    assert safety_code([identity(), background("clear")], TODAY) == "yellow"


def test_a_renewed_certificate_counts():
    records = fully_checked(health_until=YESTERDAY) + [health(dt.date(2027, 11, 30), id=9)]

    assert safety_code(records, TODAY) == "green"


def test_no_background_check_is_not_green():
    records = [identity(), health(TOMORROW), insurance(TOMORROW)]

    assert safety_code(records, TODAY) == "yellow"


def test_flagged_background_is_red():
    records = fully_checked() + [background("flagged", on=dt.date(2026, 6, 1), id=7)]

    assert safety_code(records, TODAY) == "red"


def test_latest_background_check_decides():
    flagged_then_clear = fully_checked() + [background("flagged", on=dt.date(2025, 6, 1), id=7)]
    same_day_later_id = fully_checked() + [background("flagged", on=HIRED, id=8)]

    assert safety_code(flagged_then_clear, TODAY) == "green"
    assert safety_code(same_day_later_id, TODAY) == "red"


def test_a_check_after_as_of_is_not_yet_known():
    records = fully_checked() + [background("flagged", on=TOMORROW, id=7)]

    assert safety_code(records, TODAY) == "green"
    assert safety_code(records, TOMORROW) == "red"


def test_no_identity_is_red():
    records = [background("clear"), health(TOMORROW), insurance(TOMORROW)]

    assert safety_code(records, TODAY) == "red"
    assert safety_code([], TODAY) == "red"


def test_revoked_identity_does_not_count():
    records = [identity(status="revoked"), background("clear"), health(TOMORROW),
               insurance(TOMORROW)]

    assert safety_code(records, TODAY) == "red"


def test_worker_status_summarises_the_file():
    records = fully_checked() + [
        RecordFacts(id=5, type="worker.training", occurred_on=dt.date(2026, 3, 1),
                    details={"course": "母婴护理", "hours": 40}),
        RecordFacts(id=6, type="worker.skill_certificate", occurred_on=dt.date(2026, 4, 1),
                    details={"name": "育婴员", "grade": "四级"}),
    ]

    status = worker_status(records, TODAY)

    assert status["safety_code"] == "green"
    assert status["identity"] == {"verified": True, "verified_on": HIRED}
    assert status["background"] == {"result": "clear", "checked_on": HIRED}
    assert status["health_certificate"] == {"valid": True, "valid_until": TOMORROW}
    assert status["insurance"] == {"valid": True, "valid_until": TOMORROW}
    assert status["training"] == [{"record_id": 5, "course": "母婴护理", "hours": 40,
                                   "completed_on": dt.date(2026, 3, 1)}]
    assert status["skill_certificates"] == [{"record_id": 6, "name": "育婴员", "grade": "四级",
                                             "obtained_on": dt.date(2026, 4, 1)}]
    assert status["licenses"] == []
