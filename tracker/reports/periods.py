"""Report periods: a month, a quarter, a year, a week or custom dates, parsed from query arguments
the same way for the pages, the Excel downloads and the API."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _

from tracker.core import clock
from tracker.core.errors import ValidationFailed
from tracker.core.words import N_

KINDS = ("month", "quarter", "year", "week", "custom")
MAX_YEARS = 5  # a longer custom period is refused: nobody ranks units over decades
QUARTER_LABELS = {
    1: N_("%(y)d年第一季度"),
    2: N_("%(y)d年第二季度"),
    3: N_("%(y)d年第三季度"),
    4: N_("%(y)d年第四季度"),
}


@dataclass(frozen=True)
class Period:
    start: date  # first day, included
    end: date  # last day, included
    kind: str = "custom"

    @property
    def label(self) -> str:
        """The period in words, for titles: 2026年11月, 2026年第四季度, 2026年, 2026-10-01 至 2026-11-30."""
        if self.kind == "month":
            return _("%(y)d年%(m)d月", y=self.start.year, m=self.start.month)
        if self.kind == "quarter":
            return _(QUARTER_LABELS[(self.start.month - 1) // 3 + 1], y=self.start.year)
        if self.kind == "year":
            return _("%(y)d年", y=self.start.year)
        return _("%(a)s 至 %(b)s", a=self.start.isoformat(), b=self.end.isoformat())

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as aware datetimes [start of the first day, start of the day after the last),
        local time, for comparing with stored UTC timestamps."""
        zone = clock.timezone()
        return datetime.combine(self.start, time(), zone), datetime.combine(self.end + timedelta(days=1), time(), zone)

    def previous(self) -> "Period":
        """The period before this one: the previous calendar month, quarter or year; for a week or custom
        dates, the same number of days just before."""
        if self.kind in ("month", "quarter", "year"):
            return period_of(self.kind, self.start - timedelta(days=1))
        length = timedelta(days=self.days)
        return Period(self.start - length, self.start - timedelta(days=1), self.kind)

    def args(self) -> dict:
        """The period as query arguments (links, downloads)."""
        if self.kind == "month":
            return {"period": "month", "month": f"{self.start.year}-{self.start.month:02d}"}
        if self.kind == "quarter":
            return {"period": "quarter", "quarter": f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"}
        if self.kind == "year":
            return {"period": "year", "year": str(self.start.year)}
        return {"period": self.kind, "from": self.start.isoformat(), "to": self.end.isoformat()}

    def ledger_args(self, field: str) -> dict:
        """The period as a ledger filter on FIELD (assigned | closed): {FIELD_from, FIELD_to}."""
        return {f"{field}_from": self.start.isoformat(), f"{field}_to": self.end.isoformat()}


def period_of(kind: str, day: date) -> Period:
    """The month, quarter, year or week (Monday to Sunday) that holds DAY."""
    if kind == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    elif kind == "quarter":
        start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        end = (start + timedelta(days=95)).replace(day=1) - timedelta(days=1)
    elif kind == "year":
        start, end = date(day.year, 1, 1), date(day.year, 12, 31)
    elif kind == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=6)
    else:
        raise ValueError(kind)
    return Period(start, end, kind)


def parse(args, default: str = "month") -> Period:
    """The period the query arguments ask for; DEFAULT (a kind) holding today when they ask for none.

    `from`/`to` (YYYY-MM-DD) give custom dates (either may be left out: the period then runs from the
    first of that month or to today); otherwise `period` is month / quarter / year / week with `month`
    (YYYY-MM), `quarter` (YYYY-Qn), `year` (YYYY) or `day` (YYYY-MM-DD) saying which one.
    Raises ValidationFailed naming the argument for a bad date, `from` after `to`, or more than
    MAX_YEARS years."""
    today = clock.today()
    low, high = _date(args, "from"), _date(args, "to")
    kind = (args.get("period") or "").strip()
    if low or high or kind == "custom":
        start = low or (high or today).replace(day=1)
        end = high or max(today, start)
        if start > end:
            raise ValidationFailed(_("开始日期不能晚于结束日期。"), {"from": _("开始日期晚于结束日期。")})
        if end - start > timedelta(days=366 * MAX_YEARS):
            raise ValidationFailed(_("统计区间最长 %(n)d 年，请缩短区间。", n=MAX_YEARS), {"to": _("区间过长。")})
        return Period(start, end, "custom")
    if kind and kind not in KINDS:
        raise ValidationFailed(_("统计周期有误。"), {"period": _("应为月、季度、年、周或自定义。")})
    kind = kind or default
    try:
        if kind == "month" and args.get("month"):
            year, month = args["month"].split("-")
            return period_of("month", date(int(year), int(month), 1))
        if kind == "quarter" and args.get("quarter"):
            year, quarter = args["quarter"].upper().split("-Q")
            if not 1 <= int(quarter) <= 4:
                raise ValueError(quarter)
            return period_of("quarter", date(int(year), (int(quarter) - 1) * 3 + 1, 1))
        if kind == "year" and args.get("year"):
            return period_of("year", date(int(args["year"]), 1, 1))
        if kind == "week" and args.get("day"):
            return period_of("week", date.fromisoformat(args["day"]))
    except (ValueError, TypeError):
        raise ValidationFailed(_("统计周期有误。"), {kind: _("日期格式有误。")}) from None
    return period_of(kind, today)


def _date(args, name) -> date | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            _("日期格式有误，应为 YYYY-MM-DD。"), {name: _("日期格式有误，应为 YYYY-MM-DD。")}
        ) from None
