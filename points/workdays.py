"""Chinese working days: official holidays and adjusted working days included.

`chinese-calendar` knows each year once the State Council publishes its holiday
arrangement (usually late in the year before). For a year it does not know yet, the
days off that 《全国年节及纪念日放假办法》 (as revised in 2024, in force since 2025)
gives everyone are still certain — New Year's Day, the Spring Festival's eve and
first three days, Qingming, 1–2 May, the Dragon Boat and Mid-Autumn festivals, 1–3
October — since their dates follow from the solar and lunar calendars, and so is the
working day off that its Art. 6 gives in place of one falling on a weekend (补假;
here also for two holidays on one day). Only the swapped days (调休) are not known. So
such a year counts weekdays less those days: against the arrangement published
later, a deadline may fall a few days early or late where days are swapped, never
inside a holiday everyone has off. The deadline is recomputed nowhere: it stays as
first given.
"""
from __future__ import annotations

import datetime as dt
import functools

import chinese_calendar
from lunar_python import Lunar


@functools.lru_cache(maxsize=4096)
def is_working_day(day: dt.date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5 and day not in statutory_days_off(day.year)


def _lunar(year: int, month: int, day: int) -> dt.date:
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return dt.date(solar.getYear(), solar.getMonth(), solar.getDay())


@functools.lru_cache(maxsize=64)
def statutory_days_off(year: int) -> frozenset[dt.date]:
    """The public holidays of 《全国年节及纪念日放假办法》 (2024 revision) in `year`,
    without the swapped days the yearly arrangement adds; empty outside the years the
    solar-term calendar covers (1900–2100)."""
    if not 1900 <= year <= 2100:
        return frozenset()
    try:
        spring = _lunar(year, 1, 1)
        qingming = next(day for day, _ in chinese_calendar.get_solar_terms(
            dt.date(year, 4, 1), dt.date(year, 4, 10)))  # 清明 falls on 4–6 April
        lunar_days = (_lunar(year, 5, 5), _lunar(year, 8, 15))
    except (ValueError, IndexError, StopIteration, OverflowError):
        return frozenset()
    spring_festival = [spring + dt.timedelta(days=offset) for offset in range(-1, 3)]
    fixed = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))
    holidays = sorted((*spring_festival, qingming, *lunar_days,
                       *(dt.date(year, month, day) for month, day in fixed)))
    days_off: set[dt.date] = set(holidays)
    seen: set[dt.date] = set()
    for day in holidays:
        if day.weekday() >= 5 or day in seen:  # Art. 6: the next working day instead
            substitute = day + dt.timedelta(days=1)
            while substitute.weekday() >= 5 or substitute in days_off:
                substitute += dt.timedelta(days=1)
            days_off.add(substitute)
        seen.add(day)
    return frozenset(days_off)


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
