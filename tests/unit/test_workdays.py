import datetime as dt

from points.office.workdays import add_working_days, is_working_day


def test_national_day_holiday_is_skipped():
    # 2026-09-30 is the day before the National Day holiday (Oct 1-7, 2026).
    assert not is_working_day(dt.date(2026, 10, 1))
    assert add_working_days(dt.date(2026, 9, 30), 5) > dt.date(2026, 10, 7)


def test_ordinary_week():
    # Monday 2026-11-23 + 5 working days = Monday 2026-11-30.
    assert add_working_days(dt.date(2026, 11, 23), 5) == dt.date(2026, 11, 30)


def test_unknown_year_falls_back_to_weekdays():
    assert add_working_days(dt.date(2031, 3, 3), 5) == dt.date(2031, 3, 10)


def test_a_year_the_calendar_does_not_know_keeps_the_statutory_holidays():
    """chinese-calendar 1.11 has no 2027: New Year's Day and the Spring Festival
    (eve and first three days, 5-8 Feb 2027, two of them a weekend, so 9 and 10 Feb
    off in their place) are still days off for everyone."""
    assert not is_working_day(dt.date(2027, 1, 1))  # a Friday
    assert add_working_days(dt.date(2026, 12, 28), 5) == dt.date(2027, 1, 5)
    assert [is_working_day(dt.date(2027, 2, day)) for day in range(4, 12)] == [
        True, False, False, False, False, False, False, True]
    assert add_working_days(dt.date(2027, 2, 3), 3) == dt.date(2027, 2, 12)
    # 1-3 Oct 2027 are Friday to Sunday: Monday and Tuesday off in place of the weekend
    assert [is_working_day(dt.date(2027, 10, day)) for day in range(1, 7)] == [
        False, False, False, False, False, True]


def test_the_statutory_holidays_agree_with_the_published_calendar():
    """For the years chinese-calendar knows under the 2024 rules (2025 and 2026), every
    day computed as a statutory holiday is one in the State Council's arrangement."""
    import chinese_calendar

    from points.office.workdays import statutory_days_off

    for year in (2025, 2026):
        days = statutory_days_off(year)
        assert len(days) >= 13  # with the days off in place of weekend holidays
        assert all(chinese_calendar.is_holiday(day) for day in days), sorted(days)
        assert {name for day in days
                for name in [chinese_calendar.get_holiday_detail(day)[1]]} == {
            "New Year's Day", "Spring Festival", "Tomb-sweeping Day", "Labour Day",
            "Dragon Boat Festival", "Mid-autumn Festival", "National Day"}


def test_two_holidays_on_one_day_give_a_day_off_more():
    """3 Oct 2028 is both National Day and the Mid-Autumn festival, and 1 Oct a
    Sunday: 1-5 October are off."""
    assert [is_working_day(dt.date(2028, 10, day)) for day in range(1, 7)] == [
        False, False, False, False, False, True]
