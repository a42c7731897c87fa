"""Report periods: month, quarter, year, week and custom dates from query arguments; bad ones refused
with a message naming the argument."""

from datetime import date

import pytest

from tracker.core import clock
from tracker.core.errors import ValidationFailed
from tracker.reports import periods


@pytest.fixture
def pinned(app):
    clock.pin("2026-11-18T10:00:00+08:00")
    with app.test_request_context():
        yield


@pytest.mark.parametrize(
    ("args", "start", "end", "kind"),
    [
        ({}, date(2026, 11, 1), date(2026, 11, 30), "month"),
        ({"period": "quarter"}, date(2026, 10, 1), date(2026, 12, 31), "quarter"),
        ({"period": "quarter", "quarter": "2026-q1"}, date(2026, 1, 1), date(2026, 3, 31), "quarter"),
        ({"period": "month", "month": "2024-02"}, date(2024, 2, 1), date(2024, 2, 29), "month"),
        ({"period": "year", "year": "2025"}, date(2025, 1, 1), date(2025, 12, 31), "year"),
        ({"period": "week"}, date(2026, 11, 16), date(2026, 11, 22), "week"),
        ({"from": "2026-10-08", "to": "2026-11-03"}, date(2026, 10, 8), date(2026, 11, 3), "custom"),
        ({"from": "2026-10-08"}, date(2026, 10, 8), date(2026, 11, 18), "custom"),
        ({"to": "2026-10-20"}, date(2026, 10, 1), date(2026, 10, 20), "custom"),
    ],
)
def test_parse_reads_each_kind_of_period(pinned, args, start, end, kind):
    period = periods.parse(args)
    assert (period.start, period.end, period.kind) == (start, end, kind)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
        ({"from": "2006-01-01", "to": "2026-01-01"}, "to"),  # 20 years
        ({"from": "2026-13-01"}, "from"),
        ({"period": "decade"}, "period"),
        ({"period": "quarter", "quarter": "2026-Q5"}, "quarter"),
        ({"period": "month", "month": "November"}, "month"),
    ],
)
def test_parse_refuses_bad_periods_naming_the_argument(pinned, args, field):
    with pytest.raises(ValidationFailed) as caught:
        periods.parse(args)
    assert field in caught.value.fields


def test_previous_period_and_labels(pinned):
    quarter = periods.parse({"period": "quarter", "quarter": "2026-Q1"})
    assert (quarter.previous().start, quarter.previous().end) == (date(2025, 10, 1), date(2025, 12, 31))
    assert quarter.label == "2026年第一季度"
    custom = periods.parse({"from": "2026-11-01", "to": "2026-11-10"})
    assert (custom.previous().start, custom.previous().end) == (date(2026, 10, 22), date(2026, 10, 31))
    assert periods.parse({}).label == "2026年11月"
    assert periods.parse(periods.parse({"period": "year"}).args()) == periods.parse({"period": "year"})
