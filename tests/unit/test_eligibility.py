"""points.people.eligibility: who may see credit points, decided without the API or a cache."""
from __future__ import annotations

import datetime as dt

import pytest

from points.people.eligibility import Standing, adult_from, refusal

TODAY = dt.date(2026, 6, 1)
ADULT = dt.date(2020, 1, 1)


def test_adult_from_is_the_18th_birthday_and_1_march_for_29_february():
    assert adult_from(dt.date(2008, 6, 1)) == dt.date(2026, 6, 1)
    assert adult_from(dt.date(2008, 2, 29)) == dt.date(2026, 3, 1)
    assert adult_from(dt.date(1996, 2, 29)) == dt.date(2014, 3, 1)


@pytest.mark.parametrize(("account", "require_consent", "code"), [
    (Standing(None, False, None), True, "IDENTITY_REQUIRED"),  # identity first
    (Standing(None, True, ADULT), False, "IDENTITY_REQUIRED"),
    (Standing(7, False, dt.date(2030, 1, 1)), True, "CONSENT_REQUIRED"),  # then consent
    (Standing(7, False, dt.date(2030, 1, 1)), False, "NOT_ELIGIBLE"),  # then age
    (Standing(7, True, TODAY + dt.timedelta(1)), True, "NOT_ELIGIBLE"),
    (Standing(7, True, TODAY), True, None),  # 18 today
    (Standing(7, False, ADULT), False, None),
])
def test_refusal_names_the_first_rule_not_met(account, require_consent, code):
    refused = refusal(account, TODAY, require_consent)
    assert (refused.error_code if refused else None) == code
