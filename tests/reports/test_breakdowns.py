"""Breakdowns by category and channel (分类统计): every number equals the ledger (or inbox) list it
links to, figures are scoped by role, an empty period is an empty state, and the Excel file gives the
page's numbers."""

import io
import json
import re
import uuid
from datetime import date
from html import unescape
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest

from tests.conftest import login
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger import timeliness
from tracker.ledger.models import Problem
from tracker.org.queries import unit_by_code

NOVEMBER = "/reports/breakdowns?period=month&month=2026-11"
LINK_RE = re.compile(r'<a href="([^"]+)" data-figure="(\w+)">(\d+)</a>')
PLAIN_RE = re.compile(r'<span data-figure="(\w+)">(\d+)</span>')
LEDGER_TOTAL_RE = re.compile(r"全部 <b>(\d+)</b>")


def _problem(make, unit, *, category, channel, assigned, deadline, closed=None, original=None, status="in_progress"):
    """A problem of UNIT written straight into the table (times in local time)."""
    number = make.problem(unit=unit, received_at=f"{assigned} 09:00", channel=channel, category=category)
    problem = db.session.scalar(db.select(Problem).where(Problem.number == number))
    problem.unit_id = unit_by_code(unit).id
    problem.category, problem.channel = category, channel
    problem.assigned_at = clock.parse(f"{assigned}T10:00:00")
    problem.deadline = date.fromisoformat(deadline)
    problem.original_deadline = date.fromisoformat(original or deadline)
    problem.status = status
    if closed:
        problem.status = "closed"
        timeliness.set_closed(problem, clock.parse(f"{closed}T16:00:00"), None)
    db.session.commit()
    return problem.number


@pytest.fixture
def data(app, make):
    """November 2026, seen on the 20th. UA is in the leader's charge (SYS-A), UB is not."""
    make.org()
    clock.pin("2026-11-20T09:00:00")
    with app.app_context():
        env = dict(category="环境保护", channel="12345 热线")
        _problem(make, "UA", **env, assigned="2026-11-03", deadline="2026-11-10")  # open, overdue
        _problem(make, "UA", **env, assigned="2026-11-05", deadline="2026-12-10")  # open, not overdue
        _problem(make, "UA", **env, assigned="2026-10-05", deadline="2026-10-30")  # assigned in October
        _problem(
            make,
            "UB",
            category="环境保护",
            channel="短信",
            assigned="2026-11-06",
            deadline="2026-11-10",
            closed="2026-11-19",
        )  # late
        style = dict(category="干部作风", channel="短信")
        _problem(make, "UA1", **style, assigned="2026-11-04", deadline="2026-11-15", closed="2026-11-12")
        # closed after its original deadline, within an approved extension: on time (extended)
        _problem(
            make,
            "UA",
            **style,
            assigned="2026-10-20",
            original="2026-11-10",
            deadline="2026-11-25",
            closed="2026-11-18",
        )
        _problem(make, "UA", category=None, channel="短信", assigned="2026-11-07", deadline="2026-12-01")
        # a record of November without a problem, of UB, by 短信
        make.record(
            f"R-{uuid.uuid4().hex[:8]}", unit="UB", channel="短信", received_at="2026-11-09 08:00", category="环境保护"
        )
    return make


def _figures(html):
    """{row name: {figure: (value, href or None)}} of the breakdown table ('__total__' for the totals)."""
    rows = {}
    for match in re.finditer(r'<tr data-name="([^"]*)">(.*?)</tr>', html, re.S):
        name, body = unescape(match.group(1)), match.group(2)
        cells = {f: (int(v), unescape(h)) for h, f, v in LINK_RE.findall(body)}
        cells |= {f: (int(v), None) for f, v in PLAIN_RE.findall(body)}
        rows[name] = cells
    return rows


def _count_behind(client, href):
    """The total the ledger (its counts bar, loaded from the page) or the inbox shows behind HREF."""
    page = client.get(href)
    assert page.status_code == 200, href
    html = page.get_data(as_text=True)
    if urlsplit(href).path.startswith("/ledger"):
        counts = re.search(r'id="ledger-counts"[^>]*hx-get="([^"]+)"', html)
        assert counts, href
        match = LEDGER_TOTAL_RE.search(client.get(unescape(counts.group(1))).get_data(as_text=True))
        assert match, href
        return int(match.group(1))
    return html.count('class="font-monospace small"')  # one tracking code per inbox row


def _xlsx_lines(client, path):
    response = client.get(path)
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    data = response.get_data()
    response.close()
    return list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))


def _values(rows):
    return {name: {f: v for f, (v, _h) in cells.items()} for name, cells in rows.items()}


def test_every_category_number_equals_the_ledger_list_it_links_to(client, data):
    login(client, "inspector")
    page = client.get(NOVEMBER + "&dim=category")
    assert page.status_code == 200
    rows = _figures(page.get_data(as_text=True))
    env, style = _values(rows)["环境保护"], _values(rows)["干部作风"]
    assert (env["assigned"], env["open"], env["overdue"], env["closed"], env["on_time"]) == (3, 2, 1, 1, 0)
    assert (style["assigned"], style["open"], style["closed"], style["on_time"]) == (1, 0, 2, 2)
    assert _values(rows)[""]["assigned"] == 1  # the problem without a category: counted, not linked
    assert rows[""]["assigned"][1] is None
    total = _values(rows)["__total__"]
    assert (total["assigned"], total["closed"], total["on_time"]) == (5, 3, 2)
    followed = 0
    for name, cells in rows.items():
        for figure, (value, href) in cells.items():
            if href is None:
                continue
            assert _count_behind(client, href) == value, (name, figure, href)
            followed += 1
    assert followed >= 10
    # the category has no inbox filter: its record count is shown without a link
    assert rows["环境保护"]["records"][1] is None


def test_the_bar_chart_opens_the_same_ledger_lists_as_the_table(client, data):
    login(client, "inspector")
    html = client.get(NOVEMBER + "&dim=category").get_data(as_text=True)
    rows = _figures(html)
    chart = json.loads(re.search(r'<script type="application/json" id="chart-breakdown">(.*?)</script>', html, re.S)[1])
    [series] = chart["series"]
    assert chart["labels"] == ["环境保护", "干部作风"]  # the largest first; the row without a category left out
    assert series["data"] == [rows[name]["assigned"][0] for name in chart["labels"]]
    assert series["links"] == [rows[name]["assigned"][1] for name in chart["labels"]]
    assert "js/charts.js" in html and "<script>" not in html
    empty = client.get("/reports/breakdowns?period=month&month=2025-01").get_data(as_text=True)
    assert 'id="chart-breakdown"' not in empty


def test_channel_numbers_link_to_the_ledger_and_the_inbox(client, data):
    login(client, "inspector")
    rows = _figures(client.get(NOVEMBER + "&dim=channel").get_data(as_text=True))
    sms = _values(rows)["短信"]
    assert (sms["assigned"], sms["closed"], sms["on_time"]) == (3, 3, 2)
    # records received in November by 短信: the UB record above and the ones behind three problems
    assert sms["records"] == 4
    href = rows["短信"]["records"][1]
    assert urlsplit(href).path == "/intake/" or urlsplit(href).path.startswith("/intake")
    assert parse_qs(urlsplit(href).query) == {
        "handling": ["all"],
        "channel": ["短信"],
        "date_from": ["2026-11-01"],
        "date_to": ["2026-11-30"],
    }
    for name, cells in rows.items():
        for figure, (value, link) in cells.items():
            if link is not None:
                assert _count_behind(client, link) == value, (name, figure, link)


def test_a_leader_sees_only_the_units_in_their_charge(client, data):
    login(client, "leader")
    page = client.get(NOVEMBER + "&dim=category")
    assert page.status_code == 200
    rows = _figures(page.get_data(as_text=True))
    env = _values(rows)["环境保护"]
    assert (env["assigned"], env["closed"], env["records"]) == (2, 0, 2)  # UB's problem and records left out
    for name, cells in rows.items():
        for figure, (value, href) in cells.items():
            if href is not None:
                assert _count_behind(client, href) == value, (name, figure, href)
    channel = _values(_figures(client.get(NOVEMBER + "&dim=channel").get_data(as_text=True)))
    assert channel["短信"]["records"] == 2


def test_unit_users_have_no_breakdowns(client, data):
    login(client, "unita")
    assert client.get(NOVEMBER).status_code == 403


def test_an_empty_period_is_an_empty_state_and_an_empty_export(client, data):
    login(client, "inspector")
    page = client.get("/reports/breakdowns?period=month&month=2025-01")
    assert page.status_code == 200 and 'id="breakdowns-empty"' in page.get_data(as_text=True)
    lines = _xlsx_lines(client, "/reports/breakdowns?period=month&month=2025-01&format=xlsx")
    assert lines[-1] == ("合计", 0, 0, 0, 0, 0, 0)


def test_a_bad_period_says_what_is_wrong(client, data):
    login(client, "inspector")
    page = client.get("/reports/breakdowns?from=2026-11-30&to=2026-11-01")
    assert page.status_code == 422 and "开始日期不能晚于结束日期" in page.get_data(as_text=True)
    export = client.get("/reports/breakdowns?from=2026-11-30&to=2026-11-01&format=xlsx")
    assert export.status_code == 422 and "attachment" not in export.headers.get("Content-Disposition", "")
    assert client.get("/reports/breakdowns?from=2000-01-01&to=2026-11-01").status_code == 422  # too long


def test_the_excel_file_gives_the_page_numbers(client, data):
    login(client, "leader")
    rows = _values(_figures(client.get(NOVEMBER + "&dim=channel").get_data(as_text=True)))
    lines = _xlsx_lines(client, NOVEMBER + "&dim=channel&format=xlsx")
    assert lines[0][0] == "分类统计（按来源渠道）"
    assert any("分管的单位" in (line[0] or "") for line in lines[:5])
    header = lines.index(next(line for line in lines if line[0] == "来源渠道"))
    by_name = {line[0]: line[1:] for line in lines[header + 1 :]}
    figures = ("assigned", "open", "overdue", "closed", "on_time", "records")
    assert by_name["短信"] == tuple(rows["短信"][f] for f in figures)
    assert by_name["合计"] == tuple(rows["__total__"][f] for f in figures)


def test_the_page_costs_the_same_statements_however_many_categories(app, client, data):
    from sqlalchemy import event

    login(client, "leader")

    def statements():
        seen = []
        with app.app_context():
            engine = db.engine

        def count(*_args):
            seen.append(1)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get(NOVEMBER).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    before = statements()
    with app.app_context():
        for n, channel in enumerate(("电话回访", "评价器", "来信来访", "网络问政")):
            _problem(data, "UA", category=f"类别{n}", channel=channel, assigned="2026-11-10", deadline="2026-12-10")
    assert statements() == before <= 12
