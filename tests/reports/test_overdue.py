"""Overdue list (逾期清单): scope per role, grouping orders, working days overdue across a holiday,
every count equal to the ledger page it links to, the API's true totals, the Excel file and the print
page giving the page's rows."""

import io
import re
from datetime import date
from html import unescape

import openpyxl
import pytest

from tests.conftest import login
from tracker.alerts.models import Alert
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Problem, ProgressNote
from tracker.org.queries import unit_by_code

TODAY = "2026-10-12T09:00:00"  # a Monday after the National Day holiday (10-01..10-07; 10-10 a make-up workday)
ROW_RE = re.compile(r'<tr class="row-overdue" data-number="([^"]+)">')
GROUP_LINK_RE = re.compile(r'<a class="count-chip" data-group-count href="([^"]+)">([^<]+) <b>(\d+)</b></a>')
TOTAL_RE = re.compile(r'<a class="count-chip active" id="overdue-total" href="([^"]+)">[^<]+<b>(\d+)</b></a>')
LEDGER_TOTAL_RE = re.compile(r"全部 <b>(\d+)</b>")


class Rows:
    """Problems written straight into the table (the fast way; the ledger's queries read only columns)."""

    def __init__(self):
        self.n = 0

    def problem(self, unit, tier, deadline, *, status="in_progress", quick=False, original=None, leader=None,
                owner=None, campaign_id=None):  # fmt: skip
        self.n += 1
        users = {u.username: u.id for u in db.session.scalars(db.select(User))}
        problem = Problem(
            number=f"ZG-2026-{self.n:06d}",
            title=f"问题{self.n}",
            description="",
            status=status,
            tier=tier,
            is_quick_fix=quick,
            unit_id=unit_by_code(unit).id,
            owner_id=users.get(owner),
            leader_id=users.get(leader),
            deadline=date.fromisoformat(deadline),
            original_deadline=date.fromisoformat(original or deadline),
            campaign_id=campaign_id,
        )
        db.session.add(problem)
        db.session.flush()
        return problem


@pytest.fixture
def data(app, make):
    """UA and UA1 are in the leader's charge (SYS-A); UB is not (leader2's)."""
    make.org()
    make.user("leader2", "leader", leader_units=["SYS-B"], name="乙领导")
    clock.pin(TODAY)
    with app.app_context():
        rows = Rows()
        a1 = rows.problem("UA", "red", "2026-09-29", leader="leader", owner="unita")  # 5 working days
        rows.problem("UA", "yellow", "2026-10-09", leader="leader", owner="unita")  # 2
        rows.problem("UA", "yellow", "2026-10-30")  # not yet due
        rows.problem("UA", "red", "2026-09-01", status="closed")  # closed: not overdue
        rows.problem("UA", "red", "2026-09-01", status="withdrawn")
        rows.problem("UA1", "blue", "2026-09-25", quick=True, original="2026-09-18")  # 6, extended
        rows.problem("UB", "red", "2026-10-08", leader="leader2")  # 3
        rows.problem("UB", "yellow", "2026-10-08")  # 3
        rows.problem("UB", "blue", "2026-10-09")  # 2
        rows.problem("UB", "blue", "2026-10-12")  # due today: not overdue
        db.session.add_all(
            [
                Alert(problem_id=a1.id, kind="escalation", step="reminder:2026-09-29", created_at=clock.now()),
                Alert(problem_id=a1.id, kind="escalation", step="supervise:2026-09-29", created_at=clock.now()),
                Alert(
                    problem_id=a1.id,
                    kind="escalation",
                    step="listed:2026-09-01",
                    created_at=clock.now(),
                    resolved_at=clock.now(),
                ),  # fmt: skip
                Alert(problem_id=a1.id, kind="overdue", step="2026-09-29", created_at=clock.now()),
            ]
        )
        for kind, body in (("progress", "<p>已约谈</p>"), ("report", "<p>整改报告：</p><p>已完成一半</p>"),
                           ("instruction", "<p>抓紧</p>")):  # fmt: skip
            db.session.add(ProgressNote(problem_id=a1.id, kind=kind, body_html=body, created_at=clock.now()))
        db.session.commit()
    return app


def _page(client, path="/reports/overdue"):
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def _ledger_total(client, href, tier=None):
    """The count the ledger shows behind HREF: its total, or with TIER the chip of that tier (the
    ledger's counts bar counts every tier beside the one chosen)."""
    html = _page(client, unescape(href))
    counts = re.search(r'id="ledger-counts"[^>]*hx-get="([^"]+)"', html)
    text = client.get(unescape(counts.group(1))).get_data(as_text=True)
    if tier:
        return int(re.search(rf'tier-chip-{tier} active"[^>]*>[^<]*<b>(\d+)</b>', text).group(1))
    return int(LEDGER_TOTAL_RE.search(text).group(1))


def test_inspector_sees_every_unit_worst_first(data, client):
    login(client, "inspector")
    html = _page(client)
    assert ROW_RE.findall(html) == [
        "ZG-2026-000007", "ZG-2026-000008", "ZG-2026-000009",  # UB: 3
        "ZG-2026-000001", "ZG-2026-000002",  # UA: 2
        "ZG-2026-000006",  # UA1: 1
    ]  # fmt: skip
    assert [(label, int(n)) for _h, label, n in GROUP_LINK_RE.findall(html)] == [
        ("乙单位", 3),
        ("甲单位", 2),
        ("甲单位下属", 1),
    ]
    assert TOTAL_RE.search(html).group(2) == "6"


def test_leader_sees_only_the_units_in_charge(data, client):
    login(client, "leader")
    html = _page(client)
    assert ROW_RE.findall(html) == ["ZG-2026-000001", "ZG-2026-000002", "ZG-2026-000006"]
    assert "乙单位" not in html


def test_unit_user_has_no_reports(data, client):
    login(client, "unita")
    for path in ("/reports/overdue", "/reports/overdue/print", "/reports/overdue.xlsx"):
        assert client.get(path).status_code == 403, path


def test_leader_asking_for_a_unit_outside_their_charge_gets_404(data, client):
    with data.app_context():
        ub, ua = unit_by_code("UB").id, unit_by_code("UA").id
    login(client, "leader")
    for path in ("/reports/overdue", "/reports/overdue/print", "/reports/overdue.xlsx"):
        assert client.get(f"{path}?unit={ub}").status_code == 404, path
        assert client.get(f"{path}?unit=999999").status_code == 404, path
    html = _page(client, f"/reports/overdue?unit={ua}")
    assert ROW_RE.findall(html) == ["ZG-2026-000001", "ZG-2026-000002", "ZG-2026-000006"]


def test_working_days_overdue_skip_the_national_day_holiday(data, client):
    login(client, "inspector")
    html = _page(client)
    # deadline 09-29 → 10-12: 09-30, 10-08, 10-09, 10-10 (make-up Saturday), 10-12 = 5 (13 calendar days)
    first = html.split('data-number="ZG-2026-000001"')[1].split("</tr>")[0]
    assert '<span class="days-overdue">5</span>' in first
    assert "督办" in first and "挂牌督办" not in first  # the highest open escalation step
    assert "整改报告" in first and "抓紧" not in first  # latest progress / report, not an instruction
    quick = html.split('data-number="ZG-2026-000006"')[1].split("</tr>")[0]
    assert "立行立改" in quick and "原定 2026-09-18" in quick


def test_grouping_by_leader_and_by_tier(data, client):
    login(client, "inspector")
    html = _page(client, "/reports/overdue?group=leader")
    assert [(label, int(n)) for _h, label, n in GROUP_LINK_RE.findall(html)] == [("leader", 2), ("乙领导", 1)]
    assert "（未指定分管领导）" in html  # 3 problems without one: the largest group, first, not linked
    assert ROW_RE.findall(html)[:3] == ["ZG-2026-000006", "ZG-2026-000008", "ZG-2026-000009"]
    html = _page(client, "/reports/overdue?group=tier")
    # two each: blue (worst 09-25), red (09-29), yellow (10-08)
    assert [label for _h, label, _n in GROUP_LINK_RE.findall(html)] == ["蓝色", "红色", "黄色"]
    assert ROW_RE.findall(html) == [
        "ZG-2026-000006", "ZG-2026-000009", "ZG-2026-000001", "ZG-2026-000007", "ZG-2026-000008", "ZG-2026-000002",
    ]  # fmt: skip


@pytest.mark.parametrize("group", ["unit", "leader", "tier"])
def test_every_count_equals_the_ledger_page_it_links_to(data, client, group):
    login(client, "leader")
    html = _page(client, f"/reports/overdue?group={group}")
    links = GROUP_LINK_RE.findall(html)
    assert links
    for href, _label, n in links:
        tier = re.search(r"tier=(\w+)", href).group(1) if group == "tier" else None
        assert _ledger_total(client, href, tier) == int(n), href
    href, total = TOTAL_RE.search(html).groups()
    assert _ledger_total(client, href) == int(total) == 3


def test_tier_filter(data, client):
    login(client, "inspector")
    assert ROW_RE.findall(_page(client, "/reports/overdue?tier=red")) == ["ZG-2026-000001", "ZG-2026-000007"]
    assert ROW_RE.findall(_page(client, "/reports/overdue?tier=quick_fix")) == ["ZG-2026-000006"]


def _xlsx(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    content = response.get_data()
    response.close()  # the temporary file is removed when the response closes
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return [[c for c in row] for row in sheet.iter_rows(values_only=True)]


def test_excel_has_the_pages_rows(data, client):
    login(client, "inspector")
    page_numbers = ROW_RE.findall(_page(client))
    lines = _xlsx(client, "/reports/overdue.xlsx")
    assert lines[0][0] == "逾期问题清单"
    assert lines[1][0].startswith("范围：全部单位") and lines[2][0].startswith("分组：按责任单位")
    assert lines[3][0].startswith("数据截至：2026-10-12")
    assert lines[4][:3] == ["序号", "编号", "问题"]
    body = lines[5:]
    assert [r[1] for r in body] == page_numbers
    first = next(r for r in body if r[1] == "ZG-2026-000001")
    assert first[3] == "红" and first[9] == 5 and first[10] == "督办" and first[11] == "整改报告：\n已完成一半"
    quick = next(r for r in body if r[1] == "ZG-2026-000006")
    assert quick[3] == "蓝（立行立改）" and quick[7] == "2026-09-25" and quick[8] == "2026-09-18"


def test_empty_list_gives_empty_state_and_a_valid_excel(app, make, client):
    make.org()
    clock.pin(TODAY)
    login(client, "inspector")
    assert "当前没有逾期问题" in _page(client)
    assert "当前没有逾期问题" in _page(client, "/reports/overdue/print")
    lines = _xlsx(client, "/reports/overdue.xlsx")
    assert len(lines) == 5 and lines[0][0] == "逾期问题清单" and lines[4][1] == "编号"
    body = client.get("/api/v1/reports/overdue", headers=_auth(app, "inspector")).get_json()
    assert body["total"] == 0 and body["units"] == []


def test_print_page_is_a_document(data, client):
    login(client, "leader")
    html = _page(client, "/reports/overdue/print")
    assert "print-doc" in html and '<table class="doc-table" id="doc-table">' in html and "<thead>" in html
    assert "<h1>逾期问题清单</h1>" in html and "数据截至：2026-10-12" in html
    assert '<tr class="group-row"><td colspan="11">甲单位（2 个）</td></tr>' in html
    assert "ZG-2026-000006" in html and "ZG-2026-000007" not in html


def _auth(app, username):
    from tests.api.test_intake_api import auth, token_for

    return auth(token_for(app, username))


def test_api_total_counts_every_problem_beyond_the_limit(app, make, client):
    make.org()
    clock.pin(TODAY)
    with app.app_context():
        rows = Rows()
        for k in range(30):
            rows.problem("UA" if k < 20 else "UB", "yellow", f"2026-09-{1 + k % 28:02d}")
        db.session.commit()
    body = client.get("/api/v1/reports/overdue?limit=5", headers=_auth(app, "inspector")).get_json()
    assert body["total"] == 30 and body["limit"] == 5
    assert [(u["unit_code"], u["count"], len(u["problems"])) for u in body["units"]] == [("UA", 20, 5), ("UB", 10, 5)]
    days = [p["days_overdue"] for p in body["units"][0]["problems"]]
    assert days == sorted(days, reverse=True) and body["units"][0]["problems"][0]["deadline"] == "2026-09-01"
    leader = client.get("/api/v1/reports/overdue", headers=_auth(app, "leader")).get_json()
    assert leader["total"] == 20 and [u["unit_code"] for u in leader["units"]] == ["UA"]
    with app.app_context():
        ub = unit_by_code("UB").id
    assert client.get(f"/api/v1/reports/overdue?unit={ub}", headers=_auth(app, "leader")).status_code == 404
    page = client.get("/reports/overdue")  # not logged in: the page wants a login
    assert page.status_code in (302, 401)


def test_page_shows_the_worst_rows_and_the_true_total(data, client, monkeypatch):
    from tracker.reports import overdue

    monkeypatch.setattr(overdue, "SCREEN_ROWS", 4)
    login(client, "inspector")
    html = _page(client)
    assert len(ROW_RE.findall(html)) == 4 and TOTAL_RE.search(html).group(2) == "6"
    assert 'id="overdue-truncated"' in html and "共 6 个逾期问题" in html
    assert "（本页列出 1 个）" in html  # UA: 2 problems, 1 shown
    assert [int(n) for _h, _l, n in GROUP_LINK_RE.findall(html)] == [3, 2, 1]


def test_weekly_attachment_is_the_same_export(data):
    from tracker.reports import overdue

    with data.app_context():
        leader = db.session.scalar(db.select(User).where(User.username == "leader"))
        name, content = overdue.xlsx_attachment(leader)
    assert name.startswith("逾期问题清单-") and name.endswith(".xlsx")
    lines = list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    assert lines[1][0].startswith("范围：分管的单位：甲系统")
    assert [r[1] for r in lines[5:]] == ["ZG-2026-000001", "ZG-2026-000002", "ZG-2026-000006"]


def test_campaign_filter(data, client):
    from tracker.ledger.models import Campaign

    with data.app_context():
        campaign = Campaign(name="主题教育检视整改")
        db.session.add(campaign)
        db.session.flush()
        db.session.get(Problem, 1).campaign_id = campaign.id
        db.session.commit()
        campaign_id = campaign.id
    login(client, "inspector")
    html = _page(client, f"/reports/overdue?campaign={campaign_id}")
    assert ROW_RE.findall(html) == ["ZG-2026-000001"]
    href, total = TOTAL_RE.search(html).groups()
    assert _ledger_total(client, href) == int(total) == 1
    assert "主题教育检视整改" in _xlsx(client, f"/reports/overdue.xlsx?campaign={campaign_id}")[2][0]
