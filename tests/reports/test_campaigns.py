"""Campaigns (专项): management pages and their rules per role, tagging one problem and every problem
matching a ledger filter (hundreds in one request, one audit event each), the ledger filtering by
campaign and showing the drill-down filters it has no field for."""

import re
from datetime import date
from html import unescape

import pytest
from sqlalchemy import event, func, select

from tests.conftest import csrf_from, login, post_form
from tracker.audit import services as audit
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Campaign, Problem
from tracker.org.queries import unit_by_code

LEDGER_TOTAL_RE = re.compile(r"全部 <b>(\d+)</b>")


def _add_problems(n, unit="UA", start=1, **values):
    """N problems written straight into the table (assigned in November 2026 unless told)."""
    unit_id = unit_by_code(unit).id
    rows = [
        Problem(
            number=f"ZG-2026-{start + i:06d}",
            title=f"问题{start + i}",
            description="",
            status=values.get("status", "in_progress"),
            tier="yellow",
            unit_id=unit_id,
            assigned_at=clock.parse(values.get("assigned", "2026-11-03 10:00")),
            deadline=date(2026, 11, 30),
            original_deadline=date(2026, 11, 30),
            category=values.get("category"),
            campaign_id=values.get("campaign_id"),
        )
        for i in range(n)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def _campaign(name="2026年主题教育检视整改", active=True):
    campaign = Campaign(name=name, is_active=active)
    db.session.add(campaign)
    db.session.commit()
    return campaign.id


def _as(app, username):
    """A client of its own, logged in as USERNAME (logging out takes a POST; a new client is simpler)."""
    client = app.test_client()
    login(client, username)
    return client


def _ledger_total(client, href):
    html = client.get(unescape(href)).get_data(as_text=True)
    counts = re.search(r'id="ledger-counts"[^>]*hx-get="([^"]+)"', html)
    return int(LEDGER_TOTAL_RE.search(client.get(unescape(counts.group(1))).get_data(as_text=True)).group(1))


@pytest.fixture
def org(app, make):
    make.org()
    clock.pin("2026-11-20T09:00:00")
    return app


# ---- management --------------------------------------------------------------------------------


def test_inspector_creates_and_edits_a_campaign_and_both_are_audited(org, client):
    login(client, "inspector")
    response = post_form(
        client,
        "/reports/campaigns/new",
        {
            "name": "主题教育检视整改",
            "description": "第一批",
            "starts_on": "2026-09-01",
            "ends_on": "2026-12-31",
            "is_active": "y",
        },  # fmt: skip
    )
    assert response.status_code == 302
    page = client.get("/reports/campaigns").get_data(as_text=True)
    assert "主题教育检视整改" in page and "2026-09-01 — 2026-12-31" in page
    with org.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert (campaign.starts_on, campaign.ends_on, campaign.is_active) == (
            date(2026, 9, 1),
            date(2026, 12, 31),
            True,
        )
        campaign_id = campaign.id
    edit = f"/reports/campaigns/{campaign_id}/edit"
    assert 'value="2026-09-01"' in client.get(edit).get_data(as_text=True)
    response = post_form(client, edit, {"name": "主题教育检视整改（第一批）", "starts_on": "2026-09-01", "ends_on": ""})
    assert response.status_code == 302
    with org.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert (campaign.name, campaign.ends_on, campaign.is_active) == ("主题教育检视整改（第一批）", None, False)
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "campaign")).all()
        assert [e.action for e in events] == ["campaign.create", "campaign.update"]
        assert events[1].before["name"] == "主题教育检视整改" and events[1].after["ends_on"] is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "请填写专项名称。"),
        ({"name": "专" * 101}, "专项名称最多 100 个字。"),
        ({"name": "新专项", "starts_on": "2026-12-01", "ends_on": "2026-11-01"}, "结束日期不能早于开始日期。"),
        ({"name": "新专项", "starts_on": "2026-13-01"}, "日期格式有误，应为 YYYY-MM-DD。"),
        ({"name": "已有专项"}, "已有名为“已有专项”的专项。"),
    ],
)
def test_a_bad_campaign_is_refused_in_chinese_and_the_input_is_kept(org, client, data, message):
    with org.app_context():
        _campaign("已有专项")
    login(client, "inspector")
    response = post_form(client, "/reports/campaigns/new", {"description": "说明文字保留", **data})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html
    assert "说明文字保留" in html
    for value in data.values():
        assert value in unescape(html)
    with org.app_context():
        assert db.session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_renaming_to_a_name_taken_by_another_campaign_is_refused(org, client):
    with org.app_context():
        _campaign("甲专项")
        second = _campaign("乙专项")
    login(client, "inspector")
    response = post_form(client, f"/reports/campaigns/{second}/edit", {"name": "甲专项", "is_active": "y"})
    assert response.status_code == 422
    assert "已有名为“甲专项”的专项。" in response.get_data(as_text=True)
    assert (
        post_form(client, f"/reports/campaigns/{second}/edit", {"name": "乙专项", "is_active": "y"}).status_code == 302
    )


def test_who_may_read_and_who_may_change_campaigns(org):
    with org.app_context():
        campaign_id = _campaign()
    assert _as(org, "unita").get("/reports/campaigns").status_code == 403
    client = _as(org, "leader")
    page = client.get("/reports/campaigns")
    assert page.status_code == 200 and "2026年主题教育检视整改" in page.get_data(as_text=True)
    assert 'id="new-campaign"' not in page.get_data(as_text=True)
    assert client.get("/reports/campaigns/new").status_code == 403
    assert client.get(f"/reports/campaigns/{campaign_id}/edit").status_code == 403
    token = csrf_from(client, "/reports/campaigns")
    assert client.post("/reports/campaigns/new", data={"name": "x", "csrf_token": token}).status_code == 403
    client = _as(org, "admin")
    assert client.get("/reports/campaigns/new").status_code == 200
    assert client.get("/reports/campaigns/999999/edit").status_code == 404


def test_no_campaigns_shows_an_empty_state(org, client):
    login(client, "inspector")
    html = client.get("/reports/campaigns").get_data(as_text=True)
    assert 'id="no-campaigns"' in html and "还没有专项" in html


def test_the_counts_per_campaign_are_those_of_the_ledger_link_within_the_users_units(org):
    with org.app_context():
        first, second = _campaign("甲专项"), _campaign("乙专项")
        _add_problems(3, "UA", 1, campaign_id=first)
        _add_problems(2, "UB", 4, campaign_id=first)
        _add_problems(1, "UA1", 6, campaign_id=second)
        _add_problems(4, "UA", 7)
    for user, expected in (("inspector", {first: 5, second: 1}), ("leader", {first: 3, second: 1})):
        client = _as(org, user)
        html = client.get("/reports/campaigns").get_data(as_text=True)
        links = re.findall(r'<a class="campaign-count" data-count="(\d+)" href="([^"]+)">', html)
        assert len(links) == 2
        for count, href in links:
            campaign_id = int(re.search(r"campaign=(\d+)", href).group(1))
            assert int(count) == expected[campaign_id] == _ledger_total(client, href), (user, href)


# ---- tagging -----------------------------------------------------------------------------------


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def test_inspector_puts_a_problem_in_a_campaign_on_its_page_and_takes_it_out(org, client, make):
    number = make.problem(assign={})
    with org.app_context():
        campaign_id = _campaign()
    login(client, "inspector")
    page = f"/ledger/{number}"
    assert 'id="set-campaign"' in client.get(page).get_data(as_text=True)
    response = post_form(client, f"{page}/campaign", {"campaign": str(campaign_id)}, form_page=page)
    assert response.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert re.search(r'id="problem-campaign"><a href="[^"]*campaign=\d+">2026年主题教育检视整改</a>', html)
    post_form(client, f"{page}/campaign", {"campaign": ""}, form_page=page)
    with org.app_context():
        assert _problem(number).campaign_id is None
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "problem.campaign")).all()
        assert [(e.before, e.after) for e in events] == [
            ({"campaign": None}, {"campaign": "2026年主题教育检视整改"}),
            ({"campaign": "2026年主题教育检视整改"}, {"campaign": None}),
        ]
    # the timeline names the change in words
    assert "设置所属专项" in client.get(page).get_data(as_text=True)


def test_only_inspectors_tag_problems(org, make):
    number = make.problem(unit="UA", assign={})
    with org.app_context():
        campaign_id = _campaign()
    for user in ("unita", "leader", "admin"):
        client = _as(org, user)
        page = client.get(f"/ledger/{number}")
        if page.status_code == 200:
            assert 'id="set-campaign"' not in page.get_data(as_text=True)
        token = csrf_from(client, "/ledger/")
        data = {"campaign": str(campaign_id), "csrf_token": token}
        assert client.post(f"/ledger/{number}/campaign", data=data).status_code in (403, 404), user
        data = {"target_campaign": str(campaign_id), "status": "assigned", "csrf_token": token, "expected": "1"}
        assert client.post("/ledger/campaign", data=data).status_code == 403, user
        assert 'id="tag-campaign"' not in client.get("/ledger/?status=assigned").get_data(as_text=True)
    with org.app_context():
        assert _problem(number).campaign_id is None


def test_a_stopped_campaign_takes_no_more_problems(org, client, make):
    number = make.problem(assign={})
    with org.app_context():
        campaign_id = _campaign("旧专项", active=False)
    login(client, "inspector")
    page = f"/ledger/{number}"
    assert "旧专项" not in client.get(page).get_data(as_text=True)
    post_form(client, f"{page}/campaign", {"campaign": str(campaign_id)}, form_page=page)
    assert "已停用，不能再归入问题" in client.get(page).get_data(as_text=True)
    with org.app_context():
        assert _problem(number).campaign_id is None


def test_tagging_every_problem_matching_a_filter_in_one_request_audits_each(org, client):
    with org.app_context():
        campaign_id = _campaign()
        other = _campaign("另一专项")
        _add_problems(290, "UA", 1, category="干部作风")
        _add_problems(10, "UA", 291, category="干部作风", campaign_id=other)
        _add_problems(5, "UB", 301, category="干部作风")
        _add_problems(7, "UA", 306, category="环境保护")
        ua = unit_by_code("UA").id
    login(client, "inspector")
    query = f"/ledger/?category=干部作风&unit={ua}"
    html = client.get(query).get_data(as_text=True)
    form = re.search(r'<form[^>]*id="tag-campaign"[^>]*data-confirm="([^"]+)"', html)
    assert form and "300 个问题" in unescape(form.group(1))
    statements = []

    def count(*_args):
        statements.append(1)

    with org.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.post(
            "/ledger/campaign",
            data={
                "csrf_token": csrf_from(client, query),
                "target_campaign": str(campaign_id),
                "expected": "300",
                "category": "干部作风",
                "unit": str(ua),
            },  # fmt: skip
        )
    finally:
        with org.app_context():
            event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 302
    assert len(statements) < 40  # one UPDATE and one batch of audit rows, not one per problem
    assert "已将 300 个问题归入专项" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _ledger_total(client, response.headers["Location"]) == 300
    with org.app_context():
        tagged = db.session.scalars(select(Problem.number).where(Problem.campaign_id == campaign_id)).all()
        assert len(tagged) == 300 and "ZG-2026-000301" not in tagged and "ZG-2026-000306" not in tagged
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "problem.campaign")).all()
        assert len(events) == 300 and {e.object_id for e in events} == set(tagged)
        moved = [e for e in events if e.before["campaign"] == "另一专项"]
        assert len(moved) == 10
        assert "分类：干部作风" in events[0].note
        assert _problem("ZG-2026-000001").version == 2  # a form open on it meanwhile is stale now
        assert audit.verify().ok


def test_tagging_stops_when_the_confirmed_count_no_longer_holds(org, client):
    with org.app_context():
        campaign_id = _campaign()
        _add_problems(3, "UA", 1)
    login(client, "inspector")
    html = client.get("/ledger/?status=in_progress").get_data(as_text=True)
    assert "3 个问题" in unescape(re.search(r'id="tag-campaign"[^>]*data-confirm="([^"]+)"', html).group(1))
    with org.app_context():
        _add_problems(1, "UA", 4)
    response = client.post(
        "/ledger/campaign",
        data={
            "csrf_token": csrf_from(client, "/ledger/"),
            "target_campaign": str(campaign_id),
            "expected": "3",
            "status": "in_progress",
        },  # fmt: skip
    )
    assert "符合筛选条件的问题已变为 4 件，请重新确认。" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    with org.app_context():
        assert db.session.scalar(select(func.count()).where(Problem.campaign_id == campaign_id)) == 0


def test_tagging_needs_a_filter(org, client):
    with org.app_context():
        campaign_id = _campaign()
        _add_problems(2, "UA", 1)
    login(client, "inspector")
    assert 'id="tag-campaign"' not in client.get("/ledger/").get_data(as_text=True)
    response = client.post(
        "/ledger/campaign",
        data={"csrf_token": csrf_from(client, "/ledger/"), "target_campaign": str(campaign_id), "expected": "2"},
    )
    assert "请先筛选问题" in client.get(response.headers["Location"]).get_data(as_text=True)


# ---- the ledger filter -----------------------------------------------------------------------------


def test_the_ledger_filters_by_campaign_and_shows_drill_down_filters_as_removable_chips(org, client):
    with org.app_context():
        campaign_id = _campaign()
        _add_problems(2, "UA", 1, campaign_id=campaign_id)
        _add_problems(3, "UA", 3)
        db.session.execute(db.update(Problem).where(Problem.number == "ZG-2026-000001").values(rework_count=1))
        db.session.commit()
        ua = unit_by_code("UA").id
        leader = db.session.scalar(select(User).where(User.username == "leader"))
        assert leader is not None
    login(client, "inspector")
    html = client.get(f"/ledger/?campaign={campaign_id}").get_data(as_text=True)
    assert re.search(rf'<option value="{campaign_id}" selected>2026年主题教育检视整改</option>', html)
    assert html.count('class="font-monospace text-nowrap"><a') == 2
    path = f"/ledger/?campaign={campaign_id}&unit={ua}&unit_only=1&reworked=1&closed_from=2026-11-01"
    html = client.get(path).get_data(as_text=True)
    chips = re.findall(r'<a class="[^"]*filter-chip" href="([^"]+)"[^>]*>([^<]+) ×</a>', html)
    assert [text for _href, text in chips] == ["仅本单位（不含下级单位）", "销号日期：2026-11-01 至 …", "有返工"]
    assert "reworked" not in unescape(chips[2][0]) and "unit_only=1" in unescape(chips[2][0])
    # the hidden fields keep them when the form is sent again
    assert '<input type="hidden" name="unit_only" value="1">' in html


def test_the_assignment_page_puts_the_problem_in_a_campaign(org, client, make):
    number = make.problem(title="窗口服务态度差")
    with org.app_context():
        campaign_id = _campaign()
        problem = _problem(number)
        unit_id, version = problem.unit_id, problem.version
        owner_id = db.session.scalar(select(User.id).where(User.username == "unita"))
    login(client, "inspector")
    page = f"/ledger/{number}/assign"
    assert 'id="assign-campaign"' in client.get(page).get_data(as_text=True)
    data = {"version": version, "tier": "yellow", "unit_id": unit_id, "owner_id": owner_id, "measures": "约谈整改",
            "campaign": str(campaign_id)}  # fmt: skip
    bad = post_form(client, page, {**data, "measures": "", "owner_id": ""})
    assert bad.status_code == 422
    assert f'<option value="{campaign_id}" selected>' in bad.get_data(as_text=True)  # the choice is kept
    assert post_form(client, page, data).status_code == 302
    with org.app_context():
        problem = _problem(number)
        assert (problem.status, problem.campaign_id) == ("assigned", campaign_id)
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_id == number).order_by(AuditEvent.id)
        ).all()
        assert actions[-2:] == ["problem.assign", "problem.campaign"]


def test_a_name_taken_by_another_request_at_the_same_moment_is_a_clear_message(org, app_ctx):
    """The race the name check cannot see: another request saves the same name between our check
    and our write. The unique index refuses ours and the user reads why."""
    from sqlalchemy import insert

    from tracker.core.errors import ValidationFailed
    from tracker.ledger import services as ledger_services

    inspector = db.session.scalar(select(User).where(User.username == "inspector"))

    done = []

    def the_other_request(session, _context, _instances):
        if done:
            return
        done.append(1)
        with db.engine.begin() as other:  # a connection of its own, committed at once
            other.execute(insert(Campaign.__table__).values(name="同名专项", is_active=True,
                                                            created_at=clock.now(), updated_at=clock.now()))  # fmt: skip

    event.listen(db.session, "before_flush", the_other_request)
    try:
        with pytest.raises(ValidationFailed) as failed:
            ledger_services.create_campaign({"name": "同名专项"}, actor=inspector)
    finally:
        event.remove(db.session, "before_flush", the_other_request)
    assert done and failed.value.fields == {"name": "已有名为“同名专项”的专项。"}
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 1
