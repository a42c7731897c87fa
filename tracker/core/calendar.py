"""Statutory working days (工作日): China's official holidays and make-up working days (调休).

Order of authority for a day: an admin override (calendar_overrides) → the `chinese-calendar`
package for the years it covers → for other years, the holidays fixed by law (《全国年节及纪念日放假
办法》, 2024 revision) plus weekends, with lunar dates and 清明 from `lunar-python`. Make-up days of an
uncovered year are unknown until an admin enters them, which the admin pages point out.
"""

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
from lunar_python import Lunar, Solar
from sqlalchemy import select

from tracker.core import memo

HOLIDAY = "holiday"
WORKDAY = "workday"


@lru_cache(maxsize=1)
def package_years() -> range:
    """Years the chinese-calendar package has official data for."""
    years = [d.year for d in chinese_calendar.holidays] + [d.year for d in chinese_calendar.workdays]
    return range(min(years), max(years) + 1)


def package_covers(year: int) -> bool:
    return year in package_years()


@lru_cache(maxsize=64)
def statutory_holidays(year: int) -> frozenset[date]:
    """The days off fixed by law for YEAR (no bridging, no make-up days): 元旦 1, 春节 4 from 除夕,
    清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3."""
    days = {date(year, 1, 1), date(year, 5, 1), date(year, 5, 2)}
    days.update(date(year, 10, d) for d in (1, 2, 3))
    spring = _solar(Lunar.fromYmd(year, 1, 1).getSolar())
    days.update(spring + timedelta(days=k) for k in (-1, 0, 1, 2))
    qingming = Solar.fromYmd(year, 4, 1).getLunar().getJieQiTable()["清明"]
    days.add(_solar(qingming))
    days.add(_solar(Lunar.fromYmd(year, 5, 5).getSolar()))
    days.add(_solar(Lunar.fromYmd(year, 8, 15).getSolar()))
    # 除夕 of the next spring festival can fall in this year's last days (never in practice, but cheap).
    next_eve = _solar(Lunar.fromYmd(year + 1, 1, 1).getSolar()) - timedelta(days=1)
    if next_eve.year == year:
        days.add(next_eve)
    return frozenset(d for d in days if d.year == year)


def _solar(solar) -> date:
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _overrides() -> dict[date, str]:
    """Every admin override (a few dozen days a year), read once per request (tracker.core.memo):
    a list computes deadlines for every row. Empty outside an app context."""
    from flask import has_app_context

    if not has_app_context():
        return {}
    from tracker.extensions import db
    from tracker.settings.models import CalendarOverride

    def load():
        return {day: kind for day, kind in db.session.execute(select(CalendarOverride.day, CalendarOverride.kind))}

    return memo.remember("calendar_overrides", load, table=CalendarOverride)


@lru_cache(maxsize=8192)
def _base_is_workday(day: date) -> bool:
    """Package data or the statutory fallback; fixed for a given installed package (overrides are
    applied on top, uncached), and chinese-calendar's own check is slow enough to matter per row."""
    if package_covers(day.year):
        return chinese_calendar.is_workday(day)
    return day.weekday() < 5 and day not in statutory_holidays(day.year)


class WorkdayCalendar:
    """Working-day arithmetic with the admin overrides on top of the package's calendar."""

    def __init__(self):
        self.overrides = _overrides()

    def is_workday(self, day: date) -> bool:
        kind = self.overrides.get(day)
        if kind is not None:
            return kind == WORKDAY
        return _base_is_workday(day)


class WorkdayIndex:
    """Working-day counts between any two days of a window in O(1): a prefix sum built once.
    For lists and exports that need "days left / days overdue" for many rows."""

    def __init__(self, start: date, end: date):
        cal = WorkdayCalendar()
        self.start, self.end = start, end
        self._cumulative = []
        count, day = 0, start
        while day <= end:
            if cal.is_workday(day):
                count += 1
            self._cumulative.append(count)
            day += timedelta(days=1)

    def between(self, a: date, b: date) -> int:
        """As workdays_between(a, b), for days inside the window (falls back outside it)."""
        if not (self.start <= a <= self.end and self.start <= b <= self.end):
            return workdays_between(a, b)
        return self._cumulative[(b - self.start).days] - self._cumulative[(a - self.start).days]


def is_workday(day: date) -> bool:
    """True when DAY is a statutory working day."""
    return WorkdayCalendar().is_workday(day)


def add_workdays(start: date, n: int) -> date:
    """The Nth working day after START (START itself is day 0); N may be negative. N=0 gives START
    when it is a working day, else the next working day."""
    step = 1 if n >= 0 else -1
    cal = WorkdayCalendar()
    day = start
    if n == 0:
        while not cal.is_workday(day):
            day += timedelta(days=1)
        return day
    remaining = abs(n)
    while remaining:
        day += timedelta(days=step)
        if cal.is_workday(day):
            remaining -= 1
    return day


def workdays_between(a: date, b: date) -> int:
    """Working days in (A, B]: how many working days pass from A to B. Negative when B < A."""
    if b < a:
        return -workdays_between(b, a)
    cal = WorkdayCalendar()
    count, day = 0, a
    while day < b:
        day += timedelta(days=1)
        if cal.is_workday(day):
            count += 1
    return count


def year_status(year: int) -> dict:
    """How well YEAR is known: source 'package' (official data installed), 'override' (an admin has
    entered days for it) or 'statutory' (fallback: fixed holidays and weekends, make-up days unknown)."""
    overrides = {day: kind for day, kind in _overrides().items() if day.year == year}
    if package_covers(year):
        source = "package"
    elif any(kind == WORKDAY for kind in overrides.values()) or len(overrides) >= 7:
        source = "override"
    else:
        source = "statutory"
    return {
        "year": year,
        "source": source,
        "overrides": len(overrides),
        "complete": source != "statutory",
    }
