"""The unit ranking (排名通报): the page, the 通报 draft, the Excel file and the API give the same
numbers, each count of problems equals the ledger list it links to, and the ranking's rules (scope,
upheld appeals, on time against the original and the extended deadline, flags for 约谈, sorting)."""

import html
import io
import re
import uuid
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select, update

from tests.api.test_intake_api import auth, token_for
from tests.conftest import login
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Problem
from tracker.org.queries import unit_by_code
from tracker.reports import periods, ranking

Q4 = "period=quarter&quarter=2026-Q4"
KEYS = [key for key, _label, _width in ranking.COLUMNS]
NUMBER_RE = re.compile(r"ZG-\d{4}-\d{6}")


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _work(app, number, *, at, extend_to=None, close=True, rework=False):
    """As the unit and the inspector at AT: accept; optionally ask for and approve an extension to
    EXTEND_TO; submit and approve (close), or submit and send back for rework (rework)."""
    from tracker.ledger import services as ledger_services
    from tracker.workflow import services as workflow

    clock.pin(at)
    with app.app_context():
        problem = _problem(number)
        unit, inspector = _user("unita" if problem.unit.code == "UA" else "unitb"), _user("inspector")
        workflow.apply(problem, "accept", actor=unit, expected_version=problem.version)
        if extend_to:
            item = ledger_services.request_extension(problem, extend_to, "需要协调多个部门", actor=unit)
            db.session.flush()
            ledger_services.decide_extension(problem, item.id, True, "同意", actor=inspector)
        if close or rework:
            ledger_services.waive_evidence(problem, actor=inspector, reason="现场核实，无需佐证")
            db.session.flush()
            workflow.apply(problem, "submit", actor=unit, expected_version=problem.version, report="已整改")
        if close:
            workflow.apply(problem, "approve", actor=inspector, expected_version=problem.version, opinion="整改到位")
        elif rework:
            workflow.apply(problem, "reject", actor=inspector, expected_version=problem.version, reason="不到位")
        db.session.commit()


def _upheld_appeal(app, make, unit, received_at):
    """An intake record of UNIT received at RECEIVED_AT whose appeal was upheld (is_excluded)."""
    from tracker.intake import services

    record_id = make.record(f"AP-{uuid.uuid4().hex[:8]}", unit=unit, received_at=received_at)
    with app.app_context():
        from tracker.intake.models import IntakeRecord

        record = db.session.get(IntakeRecord, record_id)
        services.file_appeal(record, "该差评系误评，办事人已撤回。", actor=_user("unita"))
        services.decide_appeal(record, True, "核实属误评。", actor=_user("inspector"))
        db.session.commit()
        assert record.is_excluded
    return record_id


@pytest.fixture
def quarter(app, make):
    """Q4 2026, today 2026-12-01. UA: one problem closed by its original deadline, one after it but
    within an approved extension, one late (all assigned 10-12, closed 10-16: 4 working days), plus
    a record received in the quarter whose appeal was upheld. UB: one problem overdue and open, one
    reworked (sent back once) and still in time."""
    make.org()
    clock.pin("2026-10-12T09:00:00+08:00")
    received = {"received_at": "2026-10-10 10:00"}
    yellow = {"tier": "yellow", "deadline_note": "按督办要求", "tier_override_reason": "按黄色办理"}
    on_time = make.problem(unit="UA", assign={**yellow, "deadline": "2026-10-20"}, **received)
    extended = make.problem(unit="UA", assign={**yellow, "deadline": "2026-10-14"}, **received)
    late = make.problem(unit="UA", assign={**yellow, "deadline": "2026-10-14"}, **received)
    overdue = make.problem(unit="UB", assign={**yellow, "deadline": "2026-10-20"}, **received)
    reworked = make.problem(unit="UB", assign={**yellow, "deadline": "2026-12-31"}, **received)
    _work(app, extended, at="2026-10-13T09:00:00+08:00", extend_to="2026-10-20", close=False)
    for number in (on_time, late):
        _work(app, number, at="2026-10-16T10:00:00+08:00")
    clock.pin("2026-10-16T10:00:00+08:00")
    with app.app_context():
        from tracker.ledger import services as ledger_services
        from tracker.workflow import services as workflow

        problem = _problem(extended)
        ledger_services.waive_evidence(problem, actor=_user("inspector"), reason="现场核实，无需佐证")
        db.session.flush()
        workflow.apply(problem, "submit", actor=_user("unita"), expected_version=problem.version, report="已整改")
        workflow.apply(problem, "approve", actor=_user("inspector"), expected_version=problem.version, opinion="好")
        db.session.commit()
    _work(app, overdue, at="2026-10-13T09:00:00+08:00", close=False)
    _work(app, reworked, at="2026-10-13T09:00:00+08:00", close=False, rework=True)
    _upheld_appeal(app, make, "UA", "2026-10-11 10:00")
    clock.pin("2026-12-01T09:00:00+08:00")
    with app.app_context():  # a satisfied follow-up call for UA, a 督办单 to UB, both in the quarter
        from tracker.alerts.models import SupervisionNotice
        from tracker.oversight.models import FollowUp

        closed, late_open = _problem(on_time), _problem(overdue)
        called = datetime(2026, 10, 20, 2, tzinfo=UTC)
        record_id = closed.intake_records[0].id
        db.session.add(FollowUp(intake_id=record_id, problem_id=closed.id, unit_id=closed.unit_id, attempt=1,
                                outcome="basically_satisfied", called_at=called))  # fmt: skip
        db.session.add(SupervisionNotice(year=2026, seq=1, problem_id=late_open.id, level="supervise",
                                         unit_id=late_open.unit_id, days_overdue=3, reply_by=date(2026, 10, 30),
                                         issued_at=datetime(2026, 10, 23, 1, tzinfo=UTC)))  # fmt: skip
        db.session.commit()
    with app.app_context():
        timeliness = {n: _problem(n).close_timeliness for n in (on_time, extended, late)}
        assert timeliness == {on_time: "original", extended: "extended", late: "late"}
        ids = {code: unit_by_code(code).id for code in ("UA", "UB", "UA1", "SYS-A")}
    return ids


# ---- reading the three outputs ------------------------------------------------------------------


def _page_rows(text):
    """{unit code | "__total__": {key: (shown text, link or None)}} from the ranking page."""
    result = {}
    for code, body in re.findall(r'<tr data-unit="([^"]+)"[^>]*>(.*?)</tr>', text, re.S):
        cells = {}
        for href, key, value in re.findall(r'(?:<a href="([^"]*)" )?(?:<span )?data-figure="(\w+)">([^<]*)<', body):
            cells[key] = (value.strip(), html.unescape(href) if href else None)
        result[code] = cells
    return result


def _shown(value, key):
    if value is None or value == "":
        return "—"
    if key == "avg_working_days":
        return f"{float(value):.1f}"
    if key in ranking.RATE_COLUMNS:
        return f"{value:.1f}%"
    return str(value)


def _download(client, url):
    """The bytes of the XLSX download at URL (the response closed: its temporary file goes)."""
    response = client.get(url)
    assert response.status_code == 200, url
    data = response.get_data()
    response.close()
    return data


def _xlsx_rows(data):
    sheet = load_workbook(io.BytesIO(data)).active
    values = list(sheet.iter_rows(values_only=True))
    titles, header, body = values[:5], values[5], values[6:]
    codes = [row[1] or "__total__" for row in body]
    return (
        [t[0] for t in titles],
        header,
        {code: dict(zip(header, row, strict=True)) for code, row in zip(codes, body, strict=True)},
    )


def _ledger_total(client, link):
    """The number of problems the ledger page behind LINK lists (its counts bar and its rows agree)."""
    parts = urlsplit(link)
    page = client.get(link)
    assert page.status_code == 200, link
    numbers = set(NUMBER_RE.findall(page.get_data(as_text=True)))
    counts = client.get(f"/ledger/counts?{parts.query}").get_data(as_text=True)
    total = int(re.search(r"全部 <b>(\d+)</b>", counts).group(1))
    assert total == len(numbers), (link, total, numbers)
    return total


# ---- agreement ----------------------------------------------------------------------------------


def test_page_excel_api_and_ledger_agree_including_a_sign_off_within_an_extension(app, client, make, quarter):
    login(client, "inspector")
    page = client.get(f"/reports/ranking?{Q4}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    shown = _page_rows(text)
    assert list(shown) == ["UA", "UB", "__total__"]  # UA ranks first (66.7 % on time), UB has nothing closed

    expected = {
        "UA": dict(rank="1", received="3", assigned="3", closed="3", on_time_original="1", on_time_extended="1",
                   late="1", on_time_rate="66.7%", original_rate="33.3%", overdue_now="0", avg_working_days="4.0",
                   rework="0", relapse="0", followed_up="1", satisfied="1", satisfaction_rate="100.0%", notices="0"),
        "UB": dict(rank="2", received="2", assigned="2", closed="0", on_time_original="0", on_time_extended="0",
                   late="0", on_time_rate="—", original_rate="—", overdue_now="1", avg_working_days="—",
                   rework="1", relapse="0", followed_up="0", satisfied="0", satisfaction_rate="—", notices="1"),
        "__total__": dict(received="5", assigned="5", closed="3", on_time_original="1", on_time_extended="1",
                          late="1", on_time_rate="66.7%", original_rate="33.3%", overdue_now="1",
                          avg_working_days="4.0", rework="1", relapse="0", followed_up="1",
                          satisfaction_rate="100.0%", notices="1"),
    }  # fmt: skip
    for code, figures in expected.items():
        assert {k: shown[code][k][0] for k in figures} == figures, code

    # Every count of problems links to a ledger list with exactly that many problems.
    followed = 0
    for code, cells in shown.items():
        for key, (value, link) in cells.items():
            if key in ranking.DRILLS:
                assert link, (code, key)
                assert _ledger_total(client, link) == int(value), (code, key, link)
                followed += 1
            elif key == "received" and code != "__total__":
                assert link.startswith("/intake/") and "counted=1" in link, (code, link)
                records = client.get(link).get_data(as_text=True)
                assert records.count('<td class="font-monospace small">') == int(value), (code, link)
            else:
                assert link is None, (code, key)
    assert followed == 3 * len(ranking.DRILLS)
    assert "unit_only=1" in shown["UA"]["closed"][1] and "timeliness=extended" in shown["UA"]["on_time_extended"][1]

    # The Excel file and the API give the same numbers.
    titles, header, sheet = _xlsx_rows(_download(client, f"/reports/ranking.xlsx?{Q4}"))
    assert titles[0] == "责任单位整改情况排名" and titles[1].startswith("统计周期：2026年第四季度")
    assert titles[2] == "范围：全部单位" and titles[3] == "数据截至：2026-12-01 09:00（北京时间）"
    assert titles[4].startswith("口径说明：")
    assert list(sheet) == ["UA", "UB", "__total__"]
    labels = dict(zip(KEYS, [h for h in header if h != "单位编码"], strict=False))
    api = client.get(f"/api/v1/reports/ranking?{Q4}", headers=auth(token_for(app, "inspector"))).get_json()
    assert (api["from"], api["to"], api["label"]) == ("2026-10-01", "2026-12-31", "2026年第四季度")
    items = {item["unit_code"]: item for item in api["items"]}
    items["__total__"] = api["totals"]
    assert list(items) == ["UA", "UB", "__total__"]
    for code, cells in shown.items():
        for key in KEYS:
            if key == "unit" or (code == "__total__" and key == "rank"):
                continue
            page_value = cells[key][0]
            assert _shown(sheet[code][labels[key]], key) == page_value, (code, key)
            assert _shown(items[code][key], key) == page_value, (code, key)
    assert items["UA"]["on_time_extended"] == 1 and items["UA"]["on_time_rate"] == 66.7

    # The 通报 draft: the same table and the totals in words.
    draft = client.get(f"/reports/ranking/print?{Q4}").get_data(as_text=True)
    assert "关于2026年第四季度问题整改情况的通报（征求意见稿）" in draft
    assert "共受理反映件 5 件，交办问题 5 件，办结 3 件" in draft and "按期办结率 66.7%" in draft
    printed = _page_rows(draft)
    for code in ("UA", "UB", "__total__"):
        assert {k: v[0] for k, v in printed[code].items()} == {k: v[0] for k, v in shown[code].items()}
    assert "口径说明" in text and "口径说明" in draft


def test_records_taken_out_by_an_upheld_appeal_are_not_received(app, make, quarter):
    with app.app_context():
        inspector = _user("inspector")
        rows = {r.unit_code: r for r in ranking.rows(inspector, periods.period_of("quarter", date(2026, 10, 1)))}
        from tracker.intake.models import IntakeRecord

        ua_records = db.session.scalar(
            select(db.func.count()).select_from(IntakeRecord).where(IntakeRecord.unit_id == quarter["UA"])
        )
    assert ua_records == 4 and rows["UA"].received == 3


# ---- scope and bad input ------------------------------------------------------------------------


def test_a_leader_sees_only_the_units_in_their_charge(app, client, make, quarter):
    login(client, "leader")  # in charge of SYS-A (UA, UA1)
    shown = _page_rows(client.get(f"/reports/ranking?{Q4}").get_data(as_text=True))
    assert list(shown) == ["UA", "__total__"]
    assert client.get(f"/reports/ranking?{Q4}&unit={quarter['UB']}").status_code == 404
    assert client.get(f"/reports/ranking.xlsx?{Q4}&unit={quarter['UB']}").status_code == 404
    narrowed = _page_rows(client.get(f"/reports/ranking?{Q4}&unit={quarter['SYS-A']}").get_data(as_text=True))
    assert list(narrowed) == ["UA", "__total__"]
    total_link = narrowed["__total__"]["closed"][1]
    assert f"unit={quarter['SYS-A']}" in total_link and _ledger_total(client, total_link) == 3
    token = token_for(app, "leader")
    api = client.get(f"/api/v1/reports/ranking?{Q4}", headers=auth(token)).get_json()
    assert [i["unit_code"] for i in api["items"]] == ["UA"]
    assert client.get(f"/api/v1/reports/ranking?{Q4}&unit={quarter['UB']}", headers=auth(token)).status_code == 404
    _titles, _header, sheet = _xlsx_rows(_download(client, f"/reports/ranking.xlsx?{Q4}"))
    assert list(sheet) == ["UA", "__total__"]


def test_a_unit_user_gets_no_ranking(app, client, make):
    make.org()
    login(client, "unita")
    assert client.get("/reports/ranking").status_code == 403


def test_a_period_with_no_data_shows_the_empty_state(app, client, make):
    make.org()
    clock.pin("2026-12-01T09:00:00+08:00")
    login(client, "inspector")
    page = client.get("/reports/ranking")
    assert page.status_code == 200 and "本期没有可排名的数据" in page.get_data(as_text=True)
    assert "2026年第四季度" in page.get_data(as_text=True)  # the current quarter by default
    assert client.get("/reports/ranking/print").status_code == 200
    _titles, _header, sheet = _xlsx_rows(_download(client, "/reports/ranking.xlsx"))
    assert list(sheet) == ["__total__"]
    api = client.get("/api/v1/reports/ranking", headers=auth(token_for(app, "inspector"))).get_json()
    assert api["items"] == [] and api["totals"]["closed"] == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-12-01&to=2026-11-01", "开始日期不能晚于结束日期"),
        ("from=2000-01-01&to=2020-01-01", "统计区间最长 5 年"),
    ],
)
def test_a_bad_period_is_refused_with_a_message(app, client, make, query, message):
    make.org()
    clock.pin("2026-12-01T09:00:00+08:00")
    login(client, "inspector")
    page = client.get(f"/reports/ranking?{query}")
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    assert message in client.get(f"/reports/ranking/print?{query}").get_data(as_text=True)
    download = client.get(f"/reports/ranking.xlsx?{query}")
    assert download.status_code == 302 and "/reports/ranking?" in download.headers["Location"]
    api = client.get(f"/api/v1/reports/ranking?{query}", headers=auth(token_for(app, "inspector")))
    assert api.status_code == 422 and message in api.get_json()["error"]["message"]


# ---- order, sorting and flags -------------------------------------------------------------------


def test_sorting_by_any_column_from_the_headers(app, client, make, quarter):
    login(client, "inspector")
    text = client.get(f"/reports/ranking?{Q4}").get_data(as_text=True)
    assert 'href="/reports/ranking?sort=closed&amp;dir=desc' in text  # a link per header (keyboard reachable)
    assert 'aria-sort="ascending"' in text  # by rank

    def order(query):
        text = client.get(f"/reports/ranking?{Q4}&{query}").get_data(as_text=True)
        return [code for code in _page_rows(text) if code != "__total__"]

    assert order("sort=closed&dir=asc") == ["UB", "UA"]
    assert order("sort=closed&dir=desc") == ["UA", "UB"]
    assert order("sort=overdue_now&dir=desc") == ["UB", "UA"]
    assert order("sort=unit_code&dir=desc") == ["UB", "UA"]
    assert order("sort=on_time_rate&dir=asc") == ["UA", "UB"]  # no rate (—) last either way
    assert order("sort=nonsense&dir=sideways") == ["UA", "UB"]  # garbage: by rank
    sorted_page = client.get(f"/reports/ranking?{Q4}&sort=closed&dir=asc").get_data(as_text=True)
    assert 'aria-sort="ascending"' in sorted_page and "sort=closed&amp;dir=desc" in sorted_page


def _closed(app, make, unit, closed_on, timeliness):
    """A problem of UNIT signed off on CLOSED_ON (local noon) with the given timeliness."""
    number = make.problem(unit=unit)
    with app.app_context():
        db.session.execute(
            update(Problem)
            .where(Problem.number == number)
            .values(
                unit_id=unit_by_code(unit).id,
                tier="yellow",
                status="closed",
                closed_at=datetime(closed_on.year, closed_on.month, closed_on.day, 4, tzinfo=UTC),
                close_timeliness=timeliness,
                close_workdays=3,
            )
        )
        db.session.commit()


def test_units_at_the_bottom_two_periods_in_a_row_are_flagged(app, client, make):
    """Four units ranked in Q3 and Q4 (the bottom is 2 of 4): UB is at the bottom of both, UA only
    of Q3, UA1 only of Q4; only UB is flagged."""
    make.org()
    clock.pin("2026-09-26T09:00:00+08:00")
    q3 = {"UA": "late", "UA1": "original", "UB": "late", "SYS-B": "original"}
    q4 = {"UA": "original", "UA1": "late", "UB": "late", "SYS-B": "original"}
    for unit, timeliness in q3.items():
        _closed(app, make, unit, date(2026, 9, 10), timeliness)
    for unit, timeliness in q4.items():
        _closed(app, make, unit, date(2026, 11, 10), timeliness)
    clock.pin("2026-12-01T09:00:00+08:00")
    login(client, "inspector")
    text = client.get(f"/reports/ranking?{Q4}").get_data(as_text=True)
    flagged = re.findall(r'<tr data-unit="([^"]+)" class="table-danger">', text)
    assert flagged == ["UB"] and "连续两期排名靠后，建议约谈：乙单位" in text
    api = client.get(f"/api/v1/reports/ranking?{Q4}", headers=auth(token_for(app, "inspector"))).get_json()
    assert {i["unit_code"]: i["flagged"] for i in api["items"]} == {
        "UA": False,
        "SYS-B": False,
        "UA1": False,
        "UB": True,
    }
    assert [i["rank"] for i in api["items"]] == [1, 1, 3, 3]
    _titles, _header, sheet = _xlsx_rows(_download(client, f"/reports/ranking.xlsx?{Q4}"))
    assert {code: row["备注"] for code, row in sheet.items()} == {
        "SYS-B": None, "UA": None, "UA1": None, "UB": "连续排名靠后，建议约谈", "__total__": None,
    }  # fmt: skip
    draft = client.get(f"/reports/ranking/print?{Q4}").get_data(as_text=True)
    assert "乙单位连续两期排名靠后，建议约谈。" in draft
    # Q3's own previous period (Q2) had nothing: nobody is flagged in Q3.
    q3_api = client.get(
        "/api/v1/reports/ranking?period=quarter&quarter=2026-Q3", headers=auth(token_for(app, "inspector"))
    )
    assert not any(i["flagged"] for i in q3_api.get_json()["items"])


@pytest.mark.parametrize(("ranked", "bottom"), [(1, 0), (2, 1), (4, 2), (6, 3), (30, 3), (31, 4), (100, 10)])
def test_the_bottom_of_a_ranking_is_three_units_or_a_tenth(ranked, bottom):
    assert ranking.bottom_size(ranked) == bottom


def test_statements_per_ranking_do_not_grow_with_the_units(app, make):
    """One grouped query per figure: the same number of statements for 2 units as for 4."""
    make.org()
    clock.pin("2026-11-01T09:00:00+08:00")

    def statements():
        with app.app_context():
            seen = []
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                ranked = ranking.build(_user("inspector"), periods.period_of("quarter", date(2026, 11, 1)))
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
            return len(seen), len(ranked.rows)

    _closed(app, make, "UA", date(2026, 11, 10), "original")
    _closed(app, make, "UB", date(2026, 11, 10), "late")
    few, two = statements()
    for unit in ("UA1", "SYS-B"):
        _closed(app, make, unit, date(2026, 11, 10), "late")
        _closed(app, make, unit, date(2026, 8, 10), "late")
    many, four = statements()
    assert (two, four) == (2, 4)
    assert few == many == 10, (few, many)  # the user, 9 for the ranking (of the oversight figures only the calls)


def test_the_weekly_attachment_is_the_download(app, client, make, quarter):
    with app.app_context():
        filename, data = ranking.xlsx_attachment(_user("inspector"), periods.period_of("quarter", date(2026, 10, 1)))
    assert filename == "责任单位整改情况排名-2026-10-01-2026-12-31.xlsx"
    login(client, "inspector")
    _t, _h, attached = _xlsx_rows(data)
    _t, _h, downloaded = _xlsx_rows(_download(client, f"/reports/ranking.xlsx?{Q4}"))
    assert attached == downloaded
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.paperSize) == 9
