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
inside a holiday everyone has off.

Once the arrangement is published the credit office enters it
(`PUT /v1/admin/calendar/{year}`, points/office/calendar.py): from then on that year's
working days follow the office's arrangement, whatever chinese-calendar says or the
fallback computes, and the deadlines still open are recomputed. Each day's answer
says where it came from (`source_of`: office, package or computed).

The office's arrangements are read through a source the composition root gives
(`configure`), kept in memory and read again at most every REFRESH_SECONDS (another
process's entry is seen within that time; the process that entered it sees it at
once). Every answer is cached per day under the arrangements it was computed with,
so the functions stay as fast as before.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import chinese_calendar
from lunar_python import Lunar

log = logging.getLogger(__name__)
REFRESH_SECONDS = 30.0
OFFICE, PACKAGE, COMPUTED = "office", "package", "computed"


@dataclass(frozen=True)
class OfficeYear:
    """The State Council's arrangement for a year, as the office entered it: the days
    off (weekends inside a holiday may be among them) and the swapped working days."""

    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


class _Arrangements:
    """The office's arrangements in force, one immutable snapshot per generation: the
    caches below are keyed by it (its hash is its generation)."""

    __slots__ = ("generation", "years")

    def __init__(self, generation: int, years: dict[int, OfficeYear]) -> None:
        self.generation = generation
        self.years = years

    def __hash__(self) -> int:
        return self.generation

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Arrangements) and other.generation == self.generation


Source = Callable[[], Iterable[tuple[int, Iterable[dt.date], Iterable[dt.date]]]]
_lock = threading.Lock()
_source: Source | None = None
_current = _Arrangements(0, {})
_loaded_at: float | None = None  # time.monotonic() of the last read; None: read again


def configure(source: Source | None) -> None:
    """Where the office's arrangements are read from (None: nowhere, built-in data only)."""
    global _source
    _source = source
    invalidate()


def invalidate() -> None:
    """Read the office's arrangements again at the next question."""
    global _loaded_at
    _loaded_at = None


def _replace(years: dict[int, OfficeYear]) -> None:
    global _current, _loaded_at
    if years != _current.years:
        _current = _Arrangements(_current.generation + 1, years)
    _loaded_at = time.monotonic()


def use(year: int, holidays: Iterable[dt.date], workdays: Iterable[dt.date]) -> None:
    """This process's answers follow this arrangement at once (the office has just
    entered it, in the transaction that recomputes the open deadlines)."""
    with _lock:
        _replace({**_current.years, year: OfficeYear(frozenset(holidays), frozenset(workdays))})


def _arrangements() -> _Arrangements:
    loaded_at = _loaded_at
    if _source is None or (loaded_at is not None
                           and time.monotonic() - loaded_at < REFRESH_SECONDS):
        return _current
    with _lock:
        try:
            years = {year: OfficeYear(frozenset(holidays), frozenset(workdays))
                     for year, holidays, workdays in _source()}
        except Exception:  # the database is away: keep what is known
            log.warning("the office's holiday arrangements could not be read", exc_info=True)
            years = _current.years
        _replace(years)
        return _current


def office_year(year: int) -> OfficeYear | None:
    """The office's arrangement for `year`, if it entered one."""
    return _arrangements().years.get(year)


def package_knows(year: int) -> bool:
    """Does chinese-calendar hold the State Council's arrangement for `year`?"""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def source_of(day: dt.date) -> str:
    """Where the answer for `day` comes from: office, package or computed."""
    if office_year(day.year) is not None:
        return OFFICE
    return PACKAGE if package_knows(day.year) else COMPUTED


def is_working_day(day: dt.date) -> bool:
    return _working_day(day, _arrangements())


@functools.lru_cache(maxsize=8192)
def _working_day(day: dt.date, arrangements: _Arrangements) -> bool:
    office = arrangements.years.get(day.year)
    if office is not None:
        return office.is_working_day(day)
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


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date `days` working days after `start` (start itself not counted)."""
    return _add_working_days(start, days, _arrangements())


@functools.lru_cache(maxsize=4096)
def _add_working_days(start: dt.date, days: int, arrangements: _Arrangements) -> dt.date:
    current = start
    remaining = days
    while remaining > 0:
        if current == dt.date.max:  # the calendar ends: no later deadline exists
            return current
        current += dt.timedelta(days=1)
        if _working_day(current, arrangements):
            remaining -= 1
    return current
