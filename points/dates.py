"""Calendar arithmetic for credit windows.

Windows are whole calendar months (rule set §2), so a plain `timedelta` is wrong:
2024-02-29 + 12 months is 2025-02-28, not 2025-03-01. Everything here is pure and
cheap because the engine calls it for every record of every subject in a batch.
"""
from __future__ import annotations

import datetime as dt

# Days per month in a common year; February is fixed up for leap years below.
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if month == 2 and _is_leap(year):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def add_months(d: dt.date, n: int) -> dt.date:
    """`d` plus `n` calendar months, clamped to the last day of the target month.

    2024-02-29 + 12 = 2025-02-28; 2026-01-31 + 1 = 2026-02-28. `n` may be negative.
    """
    total = d.year * 12 + d.month - 1 + n
    year, month = total // 12, total % 12 + 1
    day = d.day
    if day > 28:  # only the last days of a month can overflow the target month
        day = min(day, days_in_month(year, month))
    return dt.date(year, month, day)


def as_date(value: object) -> dt.date | None:
    """A `date` from a date or an ISO `YYYY-MM-DD` string (record details arrive as
    JSON); None when the value is missing or not a valid date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None
