import datetime as dt

from points.workdays import add_working_days, is_working_day


def test_national_day_holiday_is_skipped():
    # 2026-09-30 is the day before the National Day holiday (Oct 1-7, 2026).
    assert not is_working_day(dt.date(2026, 10, 1))
    assert add_working_days(dt.date(2026, 9, 30), 5) > dt.date(2026, 10, 7)


def test_ordinary_week():
    # Monday 2026-11-23 + 5 working days = Monday 2026-11-30.
    assert add_working_days(dt.date(2026, 11, 23), 5) == dt.date(2026, 11, 30)


def test_unknown_year_falls_back_to_weekdays():
    assert add_working_days(dt.date(2031, 3, 3), 5) == dt.date(2031, 3, 10)
