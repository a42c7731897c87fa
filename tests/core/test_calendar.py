"""Working-day calendar: statutory holidays, make-up days, fallback years, admin overrides."""

from datetime import date

import pytest

from tracker.core import calendar
from tracker.extensions import db
from tracker.settings import services as settings_services


def test_national_day_2026_is_a_holiday_week():
    for day in range(1, 8):
        assert not calendar.is_workday(date(2026, 10, day))


def test_makeup_saturday_2026_10_10_is_a_working_day():
    assert date(2026, 10, 10).weekday() == 5
    assert calendar.is_workday(date(2026, 10, 10))


def test_three_working_days_after_2026_09_30_is_2026_10_10():
    assert calendar.add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_2027_new_year_is_not_a_working_day_without_any_override(app_ctx):
    assert not calendar.package_covers(2027)
    assert not calendar.is_workday(date(2027, 1, 1))


def test_statutory_fallback_2027_has_the_lunar_and_solar_term_holidays():
    days = calendar.statutory_holidays(2027)
    # 除夕 2027-02-05 through 正月初三 2027-02-08; 清明 2027-04-05; 端午 2027-06-09; 中秋 2027-09-15.
    for expected in [
        "2027-02-05",
        "2027-02-06",
        "2027-02-07",
        "2027-02-08",
        "2027-04-05",
        "2027-05-01",
        "2027-05-02",
        "2027-06-09",
        "2027-09-15",
        "2027-10-01",
        "2027-10-02",
        "2027-10-03",
    ]:
        assert date.fromisoformat(expected) in days
    assert len(days) == 13  # the 2024 revision: 13 days off a year


def test_weekends_are_off_and_weekdays_on_in_a_fallback_year():
    assert not calendar.is_workday(date(2027, 3, 6))  # Saturday
    assert calendar.is_workday(date(2027, 3, 8))  # Monday


def test_admin_override_wins_over_package_and_fallback(app_ctx):
    settings_services.set_override(date(2027, 2, 20), "workday", "春节调休", actor=None)
    settings_services.set_override(date(2026, 10, 12), "holiday", "本地假日", actor=None)
    db.session.flush()
    assert calendar.is_workday(date(2027, 2, 20))
    assert not calendar.is_workday(date(2026, 10, 12))
    assert calendar.year_status(2027)["source"] == "override"


def test_add_workdays_counts_day_zero_as_assignment_day():
    # Friday 2026-11-20 + 1 working day = Monday 2026-11-23
    assert calendar.add_workdays(date(2026, 11, 20), 1) == date(2026, 11, 23)
    assert calendar.add_workdays(date(2026, 11, 21), 0) == date(2026, 11, 23)
    assert calendar.add_workdays(date(2026, 10, 12), -3) == date(2026, 10, 8)


def test_workdays_between_skips_the_holiday_week():
    assert calendar.workdays_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert calendar.workdays_between(date(2026, 10, 10), date(2026, 9, 30)) == -3
    assert calendar.workdays_between(date(2026, 11, 23), date(2026, 11, 23)) == 0


@pytest.mark.parametrize("year", [2026, 2027, 2030])
def test_add_then_count_round_trips(year):
    start = date(year, 9, 25)
    for n in (1, 5, 10, 30):
        assert calendar.workdays_between(start, calendar.add_workdays(start, n)) == n


def test_import_csv_sets_days_and_rejects_bad_files_whole(app_ctx):
    raw = "date,kind,note\n2027-02-04,holiday,春节\n2027-02-20,workday,调休\n".encode("gb18030")
    assert settings_services.import_csv(raw, actor=None) == 2
    from tracker.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as failed:
        settings_services.import_csv(b"2027-02-30,holiday\n2027-03-01,sometimes\n", actor=None)
    assert "第 1 行" in failed.value.fields["file"] and "第 2 行" in failed.value.fields["file"]
