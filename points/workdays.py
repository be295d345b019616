"""Chinese working days: official holidays and adjusted working days included.

`chinese-calendar` knows each year once the State Council publishes it (usually in
November of the year before). For a year it does not know yet, weekdays are the
best estimate; the deadline is recomputed nowhere, so it stays as first given.
"""
from __future__ import annotations

import datetime as dt
import functools

import chinese_calendar


@functools.lru_cache(maxsize=4096)
def is_working_day(day: dt.date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


@functools.lru_cache(maxsize=4096)
def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date `days` working days after `start` (start itself not counted)."""
    current = start
    remaining = days
    while remaining > 0:
        if current == dt.date.max:  # the calendar ends: no later deadline exists
            return current
        current += dt.timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current
