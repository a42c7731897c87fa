"""The three lists (问题清单、责任清单、任务清单): a period or a campaign, scoped per role, every count equal
to the ledger page it links to, the Excel file holding the page's rows, the printed document, empty
states and bad periods answered with a message."""

import io
import re
from datetime import date
from html import unescape

import openpyxl
import pytest

from tests.conftest import login
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import STATUS_LABELS, Campaign, Milestone, Problem
from tracker.org.queries import unit_by_code

TODAY = "2026-11-20T09:00:00"
NOV = "period=month&month=2026-11"
ROW_RE = re.compile(r'<tr class="list-row[^"]*"')
NUMBER_RE = re.compile(
    r'<tr class="list-row[^"]*">\s*<td class="num">\d+</td>\s*<td class="text-nowrap"><a href="[^"]+">([^<]+)</a>'
)
TOTAL_RE = re.compile(r'<a href="([^"]+)" id="list-total" data-count="(\d+)">')


class Rows:
    """Problems written straight into the table, times in local time."""

    def __init__(self):
        self.n = 0
        self.users = {u.username: u.id for u in db.session.scalars(db.select(User))}

    def problem(self, unit, status="in_progress", assigned="2026-11-03 10:00", *, closed=None, owner=None,
                leader=None, campaign=None, deadline="2026-11-30", milestones=(), measures="立即整改"):  # fmt: skip
        self.n += 1
        problem = Problem(
            number=f"ZG-2026-{self.n:06d}",
            title=f"问题{self.n}",
            description="",
            status=status,
            tier="blue" if milestones else "yellow",
            category="干部作风",
            channel="12345 热线",
            unit_id=unit_by_code(unit).id if unit else None,
            owner_id=self.users.get(owner),
            leader_id=self.users.get(leader),
            assigned_at=clock.parse(assigned) if assigned else None,
            closed_at=clock.parse(closed) if closed else None,
            deadline=date.fromisoformat(deadline) if deadline else None,
            original_deadline=date.fromisoformat(deadline) if deadline else None,
            measures=measures if assigned else None,
            campaign_id=campaign,
        )
        db.session.add(problem)
        db.session.flush()
        for position, (title, due, done) in enumerate(milestones):
            db.session.add(
                Milestone(
                    problem_id=problem.id,
                    position=position,
                    title=title,
                    due_date=date.fromisoformat(due),
                    done_at=clock.parse(done) if done else None,
                )  # fmt: skip
            )
        return problem


@pytest.fixture
def data(app, make):
    """November: UA 3 (one with milestones), UA1 1, UB 2; October: UA 1. The campaign holds UA's
    milestone problem, the October one, one of UB's and a new problem with no unit yet."""
    make.org()
    make.user("leader2", "leader", leader_units=["SYS-B"], name="乙领导")
    make.user("unita2", "unit", unit="UA", name="甲二")
    clock.pin(TODAY)
    with app.app_context():
        campaign = Campaign(name="主题教育检视整改")
        db.session.add(campaign)
        db.session.flush()
        rows = Rows()
        rows.problem("UA", owner="unita", leader="leader", campaign=campaign.id, milestones=[
            ("摸排问题", "2026-11-10", "2026-11-09 16:00"), ("制定方案", "2026-11-18", None),
            ("完成整改", "2026-11-28", None)])  # fmt: skip
        rows.problem("UA", "closed", closed="2026-11-15 11:00", owner="unita")
        rows.problem("UA", "assigned", deadline="2026-11-19")
        rows.problem("UA1", "submitted")
        rows.problem("UB", "in_progress", campaign=campaign.id, deadline="2026-11-12")
        rows.problem("UB", "withdrawn")
        rows.problem("UA", "closed", "2026-10-10 09:00", closed="2026-10-20 10:00", campaign=campaign.id)
        rows.problem(None, "new", None, campaign=campaign.id, deadline=None)
        db.session.commit()
        app.config["TEST_CAMPAIGN"] = campaign.id
    yield app
    app.config.pop("TEST_CAMPAIGN", None)


def _get(client, path):
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def _ledger_count(client, href, status=None):
    """The ledger's count behind HREF: its total, or with STATUS the chip of that state (the counts
    bar counts every state beside the one chosen)."""
    html = _get(client, unescape(href))
    counts = re.search(r'id="ledger-counts"[^>]*hx-get="([^"]+)"', html)
    text = _get(client, unescape(counts.group(1)))
    if status:
        return int(re.search(rf'count-chip active" href="[^"]*">{status} <b>(\d+)</b>', text).group(1))
    return int(re.search(r"全部 <b>(\d+)</b>", text).group(1))


def _xlsx(client, path):
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.mimetype.endswith("spreadsheetml.sheet")
    content = response.get_data()
    response.close()  # the temporary file is removed when the response closes
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def _as(app, username):
    client = app.test_client()
    login(client, username)
    return client


# ---- 问题清单 ------------------------------------------------------------------------------------


def test_problem_list_of_a_month_agrees_with_its_ledger_link(data):
    client = _as(data, "inspector")
    html = _get(client, f"/reports/lists/problems?{NOV}")
    assert NUMBER_RE.findall(html) == [f"ZG-2026-{n:06d}" for n in range(1, 7)]
    href, total = TOTAL_RE.search(html).groups()
    assert "assigned_from=2026-11-01" in unescape(href) and "assigned_to=2026-11-30" in unescape(href)
    assert int(total) == 6 == _ledger_count(client, href)
    assert "已销号" in html and "2026-11-15" in html  # 销号日期 of the closed one
    assert "交办时间：2026年11月" in html


def test_problem_list_of_a_campaign_needs_no_period(data):
    client = _as(data, "inspector")
    campaign = data.config["TEST_CAMPAIGN"]
    html = _get(client, f"/reports/lists/problems?campaign={campaign}&{NOV}")
    assert [n[-1] for n in re.findall(r'<a href="/ledger/(ZG-[^"]+)">', html)] == ["1", "5", "7", "8"]
    href, total = TOTAL_RE.search(html).groups()
    assert unescape(href) == f"/ledger/?campaign={campaign}"
    assert int(total) == 4 == _ledger_count(client, href)
    assert "专项：主题教育检视整改" in html
    assert f'<option value="{campaign}" selected>主题教育检视整改</option>' in html


def test_a_leader_sees_the_lists_of_the_units_in_charge_only(data):
    client = _as(data, "leader")
    html = _get(client, f"/reports/lists/problems?{NOV}")
    assert NUMBER_RE.findall(html) == [f"ZG-2026-{n:06d}" for n in range(1, 5)]
    assert "乙单位" not in html
    href, total = TOTAL_RE.search(html).groups()
    assert int(total) == 4 == _ledger_count(client, href)
    assert "乙单位" not in _get(client, f"/reports/lists/responsibility?{NOV}")
    assert "ZG-2026-000005" not in _get(client, f"/reports/lists/tasks?{NOV}")
    rows = _xlsx(client, f"/reports/lists/problems?{NOV}&format=xlsx")
    assert [r[1] for r in rows[5:]] == [f"ZG-2026-{n:06d}" for n in range(1, 5)]


def test_unit_users_have_no_lists(data):
    client = _as(data, "unita")
    for path in ("/reports/lists/problems", "/reports/lists/responsibility", "/reports/lists/tasks",
                 "/reports/lists/problems?format=xlsx"):  # fmt: skip
        assert client.get(path).status_code == 403, path


def test_problem_list_pages_through_many_problems_with_the_total_shown(data):
    with data.app_context():
        rows = Rows()
        rows.n = 100
        for _i in range(60):
            rows.problem("UB", assigned="2026-12-02 10:00")
        db.session.commit()
    client = _as(data, "inspector")
    first = _get(client, "/reports/lists/problems?period=month&month=2026-12")
    assert len(NUMBER_RE.findall(first)) == 50 and "共 60 条，第 1/2 页" in first
    second = _get(client, "/reports/lists/problems?period=month&month=2026-12&page=2")
    assert NUMBER_RE.findall(second)[0] == "ZG-2026-000151" and len(NUMBER_RE.findall(second)) == 10
    href, total = TOTAL_RE.search(second).groups()
    assert int(total) == 60 == _ledger_count(client, href)
    printed = _get(client, "/reports/lists/problems?period=month&month=2026-12&print=1")
    assert len(ROW_RE.findall(printed)) == 60


def test_problem_list_excel_holds_the_same_rows_under_title_rows(data):
    client = _as(data, "inspector")
    html = _get(client, f"/reports/lists/problems?{NOV}")
    rows = _xlsx(client, f"/reports/lists/problems?{NOV}&format=xlsx")
    assert rows[0][0] == "问题清单"
    assert rows[1][0].startswith("交办时间：2026年11月") and rows[2][0] == "范围：全部单位"
    assert rows[3][0].startswith("数据截至：2026-11-20 09:00")
    assert rows[4][:3] == ["序号", "编号", "问题"] and "销号日期" in rows[4]
    assert [r[1] for r in rows[5:]] == NUMBER_RE.findall(html)
    closed = next(r for r in rows if r[1] == "ZG-2026-000002")
    assert (closed[5], closed[6], closed[7], closed[11], closed[12]) == (
        "黄",
        "甲单位",
        "unita",
        "已销号",
        "2026-11-15",
    )


# ---- 责任清单 ------------------------------------------------------------------------------------


def test_responsibility_list_names_people_and_leaders_and_its_counts_agree_with_the_ledger(data):
    client = _as(data, "inspector")
    html = _get(client, f"/reports/lists/responsibility?{NOV}")
    units = re.findall(r'<tr class="list-row" data-unit="\d+">\s*<td class="num">\d+</td>\s*<td>([^<]+)</td>\s*'
                       r"<td>([^<]*)</td>\s*<td>([^<]*)</td>", html)  # fmt: skip
    assert [(u.strip("　"), p, lead) for u, p, lead in units] == [
        ("甲单位", "unita、甲二", "leader"),  # the owner on its problems first, then its other users
        ("甲单位下属", "—", "leader"),  # in the charge of SYS-A's leader through its parents
        ("乙单位", "unitb", "乙领导"),
    ]
    links = re.findall(r'<a href="([^"]+)" class="duty-count" data-count="(\d+)">', html)
    per_unit = [(href, int(n)) for href, n in links if "unit=" in href]
    assert sum(n for href, n in per_unit if "status=" not in href) == 6
    assert all("unit_only=1" in href for href, _n in per_unit)
    assert len(links) > len(per_unit)  # the totals row links too (no problem without a unit here)
    for href, n in links:
        status = re.search(r"status=(\w+)", href)
        label = str(STATUS_LABELS[status.group(1)]) if status else None
        assert "assigned_from=2026-11-01" in unescape(href)
        assert _ledger_count(client, href, label) == int(n), href
    href, total = TOTAL_RE.search(html).groups()
    assert int(total) == 6 == _ledger_count(client, href)


def test_responsibility_list_of_a_campaign_counts_the_problems_without_a_unit_apart(data):
    client = _as(data, "inspector")
    campaign = data.config["TEST_CAMPAIGN"]
    html = _get(client, f"/reports/lists/responsibility?campaign={campaign}")
    assert "另有 1 个问题尚未确定责任单位" in html
    href, total = TOTAL_RE.search(html).groups()
    assert int(total) == 4 == _ledger_count(client, href)
    rows = _xlsx(client, f"/reports/lists/responsibility?campaign={campaign}&format=xlsx")
    assert rows[0][0] == "责任清单" and rows[1][0] == "专项：主题教育检视整改"
    header = rows[4]
    body = {r[1]: dict(zip(header, r, strict=True)) for r in rows[5:]}
    assert body["甲单位"]["整改中"] == 1 and body["甲单位"]["已销号"] == 1 and body["甲单位"]["合计"] == 2
    assert body["乙单位"]["整改中"] == 1 and set(body) == {"甲单位", "乙单位"}


# ---- 任务清单 ------------------------------------------------------------------------------------


def test_task_list_has_the_milestones_and_the_measures_of_problems_without_any(data):
    client = _as(data, "inspector")
    html = _get(client, f"/reports/lists/tasks?{NOV}")
    tasks = re.findall(
        r'<tr class="list-row task-(\w+)">.*?<a href="/ledger/([^"]+)">.*?<td class="task-title">([^<]+)', html, re.S
    )
    assert [(n[-1], task, state) for state, n, task in tasks] == [
        ("1", "摸排问题", "done"),
        ("1", "制定方案", "late"),
        ("1", "完成整改", "open"),
        ("2", "立即整改", "done"),
        ("3", "立即整改", "late"),
        ("4", "立即整改", "open"),
        ("5", "立即整改", "late"),
        ("6", "立即整改", "withdrawn"),
    ]
    assert "已逾期" in html and "已完成" in html and "2026-11-09" in html
    assert "共 8 项任务，涉及" in html
    href, total = TOTAL_RE.search(html).groups()
    assert int(total) == 6 == _ledger_count(client, href)
    rows = _xlsx(client, f"/reports/lists/tasks?{NOV}&format=xlsx")
    assert rows[0][0] == "任务清单" and rows[4][5] == "任务（整改措施／节点）"
    assert [(r[1][-1], r[5], r[8]) for r in rows[5:]] == [
        ("1", "摸排问题", "已完成"), ("1", "制定方案", "已逾期"), ("1", "完成整改", "未完成"), ("2", "立即整改", "已完成"),
        ("3", "立即整改", "已逾期"), ("4", "立即整改", "未完成"), ("5", "立即整改", "已逾期"), ("6", "立即整改", "已撤销"),
    ]  # fmt: skip
    assert rows[5][6:8] == ["2026-11-10", "2026-11-09"]


# ---- print, empty, bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["problems", "responsibility", "tasks"])
def test_each_list_prints_as_an_official_document(data, name):
    client = _as(data, "inspector")
    html = _get(client, f"/reports/lists/{name}?{NOV}&print=1")
    assert 'id="doc-sheet"' in html and 'id="doc-table"' in html and "<thead>" in html
    assert "size: A4 landscape" in html and "counter(pages)" in html
    assert "data-print" in html and 'id="period-form"' not in html
    assert "数据截至：2026-11-20 09:00" in html
    screen = _get(client, f"/reports/lists/{name}?{NOV}")
    assert len(ROW_RE.findall(html)) == len(ROW_RE.findall(screen)) > 0
    assert 'id="period-form"' in screen and 'id="list-campaign"' in screen


@pytest.mark.parametrize("name", ["problems", "responsibility", "tasks"])
def test_an_empty_period_shows_an_empty_state_and_exports_an_empty_sheet(data, name):
    client = _as(data, "inspector")
    html = _get(client, f"/reports/lists/{name}?period=month&month=2025-01")
    assert "该期间没有交办的问题。" in html and not ROW_RE.findall(html)
    rows = _xlsx(client, f"/reports/lists/{name}?period=month&month=2025-01&format=xlsx")
    assert rows[0][0] in ("问题清单", "责任清单", "任务清单") and len(rows) == 5  # title rows and header only


def test_a_campaign_without_problems_shows_its_empty_state(data):
    with data.app_context():
        empty = Campaign(name="空专项")
        db.session.add(empty)
        db.session.commit()
        empty_id = empty.id
    client = _as(data, "inspector")
    assert "该专项下还没有问题" in _get(client, f"/reports/lists/problems?campaign={empty_id}")
    assert "该专项下还没有问题" in _get(client, f"/reports/lists/tasks?campaign={empty_id}")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-12-01&to=2026-01-01", "开始日期不能晚于结束日期。"),
        ("from=2000-01-01&to=2020-12-31", "统计区间最长 5 年"),
        ("period=month&month=2026-13", "统计周期有误。"),
        ("from=2026-02-30", "日期格式有误"),
        ("campaign=999999", "未找到该专项。"),
        ("campaign=abc", "未找到该专项。"),
    ],
)
@pytest.mark.parametrize("name", ["problems", "responsibility", "tasks"])
def test_a_bad_period_or_campaign_is_a_message_not_an_error(data, name, query, message):
    client = _as(data, "inspector")
    html = _get(client, f"/reports/lists/{name}?{query}")
    assert message in re.search(r'id="list-error">(.*?)</div>', html, re.S).group(1)
    assert "交办时间：2026年11月" in html  # this month instead
    download = client.get(f"/reports/lists/{name}?{query}&format=xlsx")
    assert download.status_code == 302 and "format=" not in download.headers["Location"]  # to the page saying why


def _statements(app, client, path):
    from sqlalchemy import event

    seen = []

    def count(*_args):
        seen.append(1)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
    try:
        _get(client, path)
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_the_lists_cost_the_same_statements_for_more_units_problems_and_milestones(data, make):
    client = _as(data, "inspector")
    paths = [f"/reports/lists/{name}?{NOV}" for name in ("problems", "responsibility", "tasks")]
    before = [_statements(data, client, path) for path in paths]
    for k in range(6):
        make.unit(f"UC{k}", f"丙单位{k}", parent="SYS-B")
        make.user(f"unitc{k}", "unit", unit=f"UC{k}")
    with data.app_context():
        rows = Rows()
        rows.n = 200
        for k in range(6):
            for _i in range(3):
                rows.problem(
                    f"UC{k}",
                    owner=f"unitc{k}",
                    milestones=[("节点一", "2026-11-25", None), ("节点二", "2026-11-28", None)],
                )
        db.session.commit()
    after = [_statements(data, client, path) for path in paths]
    assert after == before
    assert max(after) < 30


def test_task_list_pages_by_problem_and_numbers_on_across_pages(data):
    with data.app_context():
        rows = Rows()
        rows.n = 300
        rows.problem("UB", assigned="2026-12-01 10:00", milestones=[("一", "2026-12-10", None), ("二", "2026-12-15", None),
                     ("三", "2026-12-20", None)])  # fmt: skip
        for _i in range(54):
            rows.problem("UB", assigned="2026-12-02 10:00")
        db.session.commit()
    client = _as(data, "inspector")
    first = _get(client, "/reports/lists/tasks?period=month&month=2026-12")
    assert "共 57 项任务，涉及" in first and len(ROW_RE.findall(first)) == 52  # 50 problems: 3 + 49 tasks
    second = _get(client, "/reports/lists/tasks?period=month&month=2026-12&page=2")
    numbers = re.findall(r'<tr class="list-row task-\w+">\s*<td class="num">(\d+)</td>', second)
    assert numbers == [str(n) for n in range(53, 58)]
    href, total = TOTAL_RE.search(second).groups()
    assert int(total) == 55 == _ledger_count(client, href)
