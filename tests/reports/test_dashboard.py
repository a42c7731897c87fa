"""领导驾驶舱 (tracker.reports.dashboard): scoped to the units each user may see, every number equal to
the list it links to, the API equal to the page, empty and bad periods answered without an error."""

import re
from html import unescape

import pytest
from sqlalchemy import event, select

from tests.api.test_intake_api import auth, token_for
from tests.conftest import login
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Timeliness

NOW = "2026-11-18T10:00:00+08:00"  # Wednesday; the week runs 11-16 .. 11-22
LINK = re.compile(r'<a [^>]*href="([^"]+)"[^>]*>(?:<b>)?(\d+)(?:</b>)?</a>')
LEDGER_ROW = re.compile(r'<td class="font-monospace text-nowrap"><a href="/ledger/ZG-')
INBOX_ROW = re.compile(r'<td class="font-monospace small">')


def _user(username):
    return db.session.scalar(select(User).where(User.username == username))


def _close(app, number, at, extend_to=None):
    """Accept, (extend,) submit and approve NUMBER at AT as its unit user and the inspector."""
    from tracker.ledger import services as ledger_services
    from tracker.ledger.queries import get_problem_or_404
    from tracker.workflow import services as workflow

    clock.pin(at)
    with app.app_context():
        inspector = _user("inspector")
        problem = get_problem_or_404(number, inspector)
        unit = db.session.get(User, problem.owner_id)
        workflow.apply(problem, "accept", actor=unit, expected_version=problem.version)
        if extend_to:
            item = ledger_services.request_extension(problem, extend_to, "需要协调多个部门", actor=unit)
            db.session.flush()
            ledger_services.decide_extension(problem, item.id, True, "同意", actor=inspector)
        ledger_services.waive_evidence(problem, actor=inspector, reason="现场核实，无需材料")
        db.session.flush()
        workflow.apply(problem, "submit", actor=unit, expected_version=problem.version, report="已整改完毕")
        workflow.apply(problem, "approve", actor=inspector, expected_version=problem.version, opinion="整改到位")
        db.session.commit()
        return problem.close_timeliness


def _assign(deadline, tier="yellow", **extra):
    return {
        "tier": tier,
        "deadline": deadline,
        "deadline_note": "领导要求限期完成",
        "tier_override_reason": "按领导批示",
        **extra,
    }


@pytest.fixture
def board(app, make):
    """Problems in the leader's units (SYS-A: UA and its sub-unit UA1) and outside them (UB).

    Overdue on 11-18: UA ×2 (red 11-05, yellow 11-10), UA1 ×1 (11-12), UB ×1 (11-06).
    Due this week: UA 11-20, UB 11-19. Not yet due: UA 11-30. Unassigned (no tier): UA ×1.
    Signed off in November, all in UA: original (11-09, deadline 11-20), extended (11-10 after the
    original 11-06, extended to 11-13), late (11-09, deadline 11-05).
    Intake this week: UA ×2, UB ×1; last week: UA ×1 (besides the records behind the problems, received
    2026-09-25)."""
    make.org()
    make.user("unita1", "unit", unit="UA1")
    clock.pin("2026-11-02T09:00:00+08:00")  # Monday
    make.problem(assign=_assign("2026-11-05", tier="red"), title="红色逾期")
    make.problem(assign=_assign("2026-11-10"), title="黄色逾期")
    make.problem(unit="UA1", assign=_assign("2026-11-12", owner="unita1"), title="下属单位逾期")
    make.problem(unit="UB", assign=_assign("2026-11-06"), title="乙单位逾期")
    make.problem(assign=_assign("2026-11-20", tier="blue"), title="本周到期")
    make.problem(unit="UB", assign=_assign("2026-11-19"), title="乙单位本周到期")
    make.problem(assign=_assign("2026-11-30", tier="blue"), title="月底到期")
    make.problem(title="待交办问题")
    original = make.problem(assign=_assign("2026-11-20"), title="按期办结")
    extended = make.problem(assign=_assign("2026-11-06"), title="延期后按期办结")
    late = make.problem(assign=_assign("2026-11-05"), title="逾期办结")
    assert _close(app, original, "2026-11-09T10:00:00+08:00") == Timeliness.ORIGINAL
    assert _close(app, extended, "2026-11-10T10:00:00+08:00", extend_to="2026-11-13") == Timeliness.EXTENDED
    assert _close(app, late, "2026-11-09T11:00:00+08:00") == Timeliness.LATE
    clock.pin(NOW)
    make.record("W-1", received_at="2026-11-16 09:00")
    make.record("W-2", received_at="2026-11-18 08:00")
    make.record("W-3", unit="UB", received_at="2026-11-17 09:00")
    make.record("L-1", received_at="2026-11-12 09:00")


def _page(client, query=""):
    response = client.get(f"/reports/dashboard{query}")
    return response.status_code, response.get_data(as_text=True)


def _card(html, ident):
    match = re.search(rf'id="{ident}">([^<]+)<', html)
    assert match, ident
    return match.group(1)


def _list_count(client, href):
    """How many problems (or intake records) the list at HREF shows (the test data fit on one page)."""
    response = client.get(href)
    assert response.status_code == 200, href
    html = response.get_data(as_text=True)
    if "已忽略无效的筛选条件" in html:
        raise AssertionError(f"the list ignored part of {href}")
    return len((INBOX_ROW if href.startswith("/intake") else LEDGER_ROW).findall(html))


@pytest.mark.parametrize("username", ["leader", "inspector"])
def test_every_number_on_the_dashboard_is_the_count_of_the_list_it_links_to(client, board, username):
    login(client, username)
    status, html = _page(client)
    assert status == 200
    links = [(unescape(href), int(n)) for href, n in LINK.findall(html)]
    links = [(href, n) for href, n in links if href.startswith(("/ledger/?", "/ledger?", "/intake/"))]
    checked = 0
    for href, n in links:
        assert _list_count(client, href) == n, href
        checked += 1
    assert checked >= 30  # cards, status chips and the four data tables


def test_leader_sees_only_the_units_in_their_charge(client, board):
    login(client, "leader")
    _status, html = _page(client)
    assert _card(html, "card-overdue") == "3"  # UA ×2 and UA1, not UB
    assert _card(html, "card-due-week") == "1"
    assert _card(html, "card-intake") == "2"
    assert _card(html, "card-open") == "6"
    assert "乙单位" not in html
    # the bar of a unit counts that unit alone, as its link says (unit_only=1)
    assert re.search(r"<td>甲单位</td><td><a [^>]*unit_only=1[^>]*>2</a>", html)
    assert re.search(r"<td>甲单位下属</td><td><a [^>]*unit_only=1[^>]*>1</a>", html)


def test_inspector_sees_every_unit(client, board):
    login(client, "inspector")
    _status, html = _page(client)
    assert (_card(html, "card-overdue"), _card(html, "card-due-week"), _card(html, "card-intake")) == ("4", "2", "3")
    assert "乙单位" in html


@pytest.mark.parametrize("path", ["/reports/dashboard", "/api/v1/reports/dashboard"])
def test_unit_users_have_no_dashboard(app, client, board, path):
    if path.startswith("/api"):
        response = client.get(path, headers=auth(token_for(app, "unita")))
    else:
        login(client, "unita")
        response = client.get(path)
    assert response.status_code == 403


def test_a_problem_closed_within_an_approved_extension_counts_as_extended(client, board):
    login(client, "leader")
    _status, html = _page(client, "?period=month&month=2026-11")
    assert _card(html, "card-closed") == "3"
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td><a [^>]*timeliness=(\w+)[^>]*>\d+</a>", html))
    assert set(rows.values()) == {"original", "extended", "late"}
    counts = {code: int(n) for code, n in re.findall(r"timeliness=(\w+)[^>]*>(\d+)</a></td><td>", html)}
    assert counts == {"original": 1, "extended": 1, "late": 1, "on_time": 2}
    # October had no sign-off: the period applies to the closed figures
    _status, html = _page(client, "?period=month&month=2026-10")
    assert "本期没有已销号的问题" in html
    assert _card(html, "card-overdue") == "3"  # "now" figures do not depend on the period


def test_the_api_gives_the_numbers_of_the_page(app, client, board):
    login(client, "leader")
    _status, html = _page(client)
    response = client.get("/api/v1/reports/dashboard", headers=auth(token_for(app, "leader")))
    assert response.status_code == 200
    data = response.get_json()
    assert data["date"] == "2026-11-18"
    assert data["period"] == {"kind": "month", "from": "2026-11-01", "to": "2026-11-30", "label": "2026年11月"}
    assert data["open"]["total"] == int(_card(html, "card-open"))
    assert data["overdue"]["count"] == int(_card(html, "card-overdue"))
    assert data["due_this_week"] == {
        "from": "2026-11-18",
        "to": "2026-11-22",
        "count": int(_card(html, "card-due-week")),
    }
    assert data["intake"]["this_week"] == {"from": "2026-11-16", "to": "2026-11-22", "count": 2}
    assert data["intake"]["last_week"] == {"from": "2026-11-09", "to": "2026-11-15", "count": 1}
    assert data["closed"]["total"] == int(_card(html, "card-closed"))
    assert {t["timeliness"]: t["count"] for t in data["closed"]["by_timeliness"]} == {
        "original": 1,
        "extended": 1,
        "late": 1,
    }
    assert data["closed"]["on_time"] == 2
    by_tier = {t["tier"]: (t["tier_label"], t["count"]) for t in data["open"]["by_tier"]}
    assert by_tier == {"red": ("红色", 1), "yellow": ("黄色", 2), "blue": ("蓝色", 2), None: ("未分级", 1)}
    by_status = {s["status"]: (s["status_label"], s["count"]) for s in data["open"]["by_status"]}
    assert by_status["new"] == ("待交办", 1) and by_status["assigned"] == ("待签收", 5)
    # worst first: the most working days overdue
    worst = data["overdue"]["worst"]
    assert [w["title"] for w in worst] == ["红色逾期", "黄色逾期", "下属单位逾期"]
    assert worst[0] == {
        "number": worst[0]["number"],
        "title": "红色逾期",
        "tier": "red",
        "unit": "甲单位",
        "deadline": "2026-11-05",
        "workdays_overdue": 9,  # 11-06 .. 11-18 on working days
    }
    assert data["satisfaction"]["satisfaction_rate"] is None and data["satisfaction"]["reached"] >= 0
    assert "due" not in data["satisfaction"]  # 回访率 is the oversight report's: too dear for the dashboard


def test_a_bad_period_shows_its_message_above_the_figures_and_the_api_answers_422(app, client, board):
    login(client, "leader")
    for query, message in (
        ("?from=2026-11-10&to=2026-11-01", "开始日期不能晚于结束日期"),
        ("?from=2000-01-01&to=2026-01-01", "统计区间最长 5 年"),
        ("?period=month&month=2026-13", "统计周期有误"),
        ("?from=yesterday", "日期格式有误"),
    ):
        status, html = _page(client, query)
        assert status == 200, query  # the page stays usable: the message, then this month's figures
        assert 'id="period-error"' in html and message in html, query
        assert _card(html, "card-overdue") == "3"
    response = client.get(
        "/api/v1/reports/dashboard?from=2026-11-10&to=2026-11-01", headers=auth(token_for(app, "leader"))
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"from": "开始日期晚于结束日期。"}


def test_an_empty_database_renders_empty_states(app, client, make):
    make.org()
    clock.pin(NOW)
    login(client, "inspector")
    status, html = _page(client)
    assert status == 200
    for text in ("本期没有已销号的问题", "没有逾期的问题", "没有未销号的问题", "没有收到反映件"):
        assert text in html
    assert 'data-chart="' not in html  # no empty charts, only the empty states
    response = client.get("/api/v1/reports/dashboard", headers=auth(token_for(app, "inspector")))
    data = response.get_json()
    assert (data["open"]["total"], data["overdue"]["count"], data["closed"]["total"]) == (0, 0, 0)


def test_the_statements_per_request_do_not_grow_with_the_units(app, client, board, make):
    """One grouped query per figure: adding units with overdue problems adds no statement."""

    def statements():
        seen = []

        def count(*_args):
            seen.append(1)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get("/reports/dashboard").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    login(client, "inspector")
    before = statements()
    clock.pin("2026-11-02T09:00:00+08:00")
    for code in ("UC", "UD", "UE"):
        make.unit(code, f"单位{code}", parent="SYS-B")
        make.user(f"user{code.lower()}", "unit", unit=code)
        make.problem(unit=code, assign=_assign("2026-11-05", owner=f"user{code.lower()}"))
    clock.pin(NOW)
    assert statements() == before
    assert before <= 20


def test_records_excluded_by_an_upheld_appeal_are_not_counted_as_intake(client, board, app, make):
    from tracker.intake.models import IntakeRecord

    login(client, "inspector")
    before = _page(client)[1]
    excluded = make.record("W-4", received_at="2026-11-17 10:00")
    with app.app_context():
        db.session.get(IntakeRecord, excluded).is_excluded = True
        db.session.commit()
    after = _page(client)[1]
    card = re.compile(r'id="card-intake">(\d+)<')
    assert card.search(before).group(1) == card.search(after).group(1) == "3"
