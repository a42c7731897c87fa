"""Alerts end with the transition that ends their condition (not at the next scan); nothing stale is
shown as current anywhere; the ladder's steps carry their own names; the homes list what is due."""

import json

import pytest
from sqlalchemy import select

from tests.api.test_intake_api import auth, token_for
from tests.conftest import login, post_form
from tracker.alerts.models import Alert, Delivery, Notification, Webhook
from tracker.alerts.scan import alert_label, scan
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem
from tracker.workflow import services as workflow


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _open(app, number):
    with app.app_context():
        problem = _problem(number)
        rows = db.session.execute(
            select(Alert.kind, Alert.step).where(Alert.problem_id == problem.id, Alert.resolved_at.is_(None))
        ).all()
        return {(k, s.split(":")[0]) for k, s in rows}


def _scan(app, day, hour=9):
    clock.pin(f"{day}T{hour:02d}:00:00")
    with app.app_context():
        scan()
        db.session.commit()


def _do(app, number, action, actor, **details):
    with app.app_context():
        problem = _problem(number)
        workflow.apply(problem, action, actor=_user(actor), expected_version=problem.version, **details)
        db.session.commit()


def _alerts_panel(client, number):
    html = client.get(f"/ledger/{number}").get_data(as_text=True)
    if 'id="alerts"' not in html:
        return ""
    return html.split('id="alerts"', 1)[1].split("</section>", 1)[0]


def _api_alerts(app, username, number):
    response = app.test_client().get(f"/api/v1/alerts?problem={number}", headers=auth(token_for(app, username)))
    assert response.status_code == 200
    return [(a["kind"], a["label"]) for a in response.get_json()["items"]]


@pytest.fixture
def yellow(app, make):
    """Yellow problem of UA assigned on Monday 2026-09-28: deadline 2026-10-16 (10 working days)."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    return make.problem(
        title="希望延长开放时间", body="周末开放时间短。", assign={"tier": "yellow", "leader": "leader"}
    )


def test_accepting_ends_not_accepted_at_once_on_the_page_and_in_the_api(app, client, yellow):
    _scan(app, "2026-09-30")
    login(client, "inspector")
    assert "未签收" in _alerts_panel(client, yellow)
    unit = app.test_client()
    login(unit, "unita")
    with app.app_context():
        version = _problem(yellow).version
    response = post_form(unit, f"/ledger/{yellow}/act", {"action": "accept", "version": version}, f"/ledger/{yellow}")
    assert response.status_code == 302
    assert _open(app, yellow) == set()  # no scan in between
    assert "未签收" not in _alerts_panel(client, yellow)
    assert _api_alerts(app, "inspector", yellow) == []


def test_returning_ends_not_accepted(app, yellow):
    _scan(app, "2026-09-30")
    _do(app, yellow, "return", "unita", reason="非本单位职责")
    assert _open(app, yellow) == set()


def test_sign_off_ends_every_alert_and_the_page_shows_none(app, client, yellow):
    _do(app, yellow, "accept", "unita")
    _scan(app, "2026-10-26")  # overdue 6 working days: 逾期, 催办, 督办, 挂牌督办
    assert len(_open(app, yellow)) == 4
    with app.app_context():
        _problem(yellow).evidence_waived = True
        db.session.commit()
    _do(app, yellow, "submit", "unita", report="<p>已延长周末开放时间</p>")
    assert len(_open(app, yellow)) == 4  # submitted: still late until signed off
    _do(app, yellow, "approve", "inspector", opinion="整改到位")
    assert _open(app, yellow) == set()
    login(client, "inspector")
    assert _alerts_panel(client, yellow) == ""
    assert _api_alerts(app, "inspector", yellow) == []


def test_an_approved_extension_ends_overdue_at_once(app, yellow):
    _do(app, yellow, "accept", "unita")
    _scan(app, "2026-10-19")
    assert ("overdue", "2026-10-16") in _open(app, yellow)
    with app.app_context():
        problem = _problem(yellow)
        item = ledger_services.request_extension(problem, "2026-10-30", "设备未到", actor=_user("unita"))
        ledger_services.decide_extension(problem, item.id, True, "同意", actor=_user("inspector"))
        db.session.commit()
    assert _open(app, yellow) == set()


def test_an_approved_extension_keeps_due_soon_when_still_true(app, yellow):
    _do(app, yellow, "accept", "unita")
    _scan(app, "2026-10-15")  # 1 working day left
    assert _open(app, yellow) == {("due_soon", "2026-10-16")}
    with app.app_context():
        problem = _problem(yellow)
        item = ledger_services.request_extension(problem, "2026-10-19", "设备未到", actor=_user("unita"))
        ledger_services.decide_extension(problem, item.id, True, "同意", actor=_user("inspector"))
        db.session.commit()
    assert _open(app, yellow) == set()  # the alert on the old deadline ended
    _scan(app, "2026-10-15", hour=10)
    assert _open(app, yellow) == {("due_soon", "2026-10-19")}  # still due soon, on the new deadline


def test_a_ticked_milestone_ends_behind(app, make):
    make.org()
    clock.pin("2026-11-02T09:00:00")
    number = make.problem(title="老旧小区排水管网需改造", body="需要资金改造管网。", assign={"tier": "blue"})
    _do(app, number, "accept", "unita")
    _scan(app, "2026-11-17")
    assert ("behind", "m1") in {(k, s) for k, s in _open(app, number)}
    with app.app_context():
        problem = _problem(number)
        ledger_services.tick_milestone(problem, problem.milestones[0].id, True, actor=_user("unita"))
        db.session.commit()
    assert ("behind", "m1") not in _open(app, number)


def test_an_alert_the_clock_has_outrun_is_not_shown_before_the_next_scan(app, client, yellow):
    _do(app, yellow, "accept", "unita")
    _scan(app, "2026-10-16")  # deadline day: 临期
    login(client, "inspector")
    assert "临期" in _alerts_panel(client, yellow)
    clock.pin("2026-10-19T08:00:00")  # overdue now; the scan has not run yet
    assert "临期" not in _alerts_panel(client, yellow)
    assert _api_alerts(app, "inspector", yellow) == []


def test_each_ladder_step_carries_its_own_name(app, client, yellow):
    assert alert_label("escalation", "reminder:2026-10-16") == "催办"
    assert alert_label("escalation", "supervise:2026-10-16") == "督办"
    assert alert_label("escalation", "listed:2026-10-16") == "挂牌督办"
    assert alert_label("not_accepted", "2026-09-28") == "未签收"
    with app.app_context():
        db.session.add(Webhook(name="群机器人", kind="json", url="https://robot.example/hook", is_active=True))
        _user("unita").email = "unita@example.org"
        db.session.commit()
    _do(app, yellow, "accept", "unita")
    _scan(app, "2026-10-19")  # 1 working day overdue: 催办 only
    login(client, "inspector")
    panel = _alerts_panel(client, yellow)
    assert "催办" in panel and "督办" not in panel
    assert ("escalation", "催办") in _api_alerts(app, "inspector", yellow)
    with app.app_context():
        titles = db.session.scalars(select(Notification.title).where(Notification.kind == "alert.escalation")).all()
        assert titles and all("催办" in t and "督办" not in t for t in titles)
        mails = db.session.scalars(select(Delivery).where(Delivery.channel == "email")).all()
        reminder_mail = [m for m in mails if "催办" in m.subject]
        assert reminder_mail and "预警：催办" in reminder_mail[0].body
        hooks = [json.loads(d.body) for d in db.session.scalars(select(Delivery).where(Delivery.channel == "webhook"))]
        escalation = [h for h in hooks if h["event"] == "alert.escalation"]
        assert escalation and "催办" in escalation[0]["title"] and "预警：催办" in escalation[0]["text"]
        assert not any("督办" in h["title"] for h in escalation)
    _scan(app, "2026-10-21")  # 3 working days: 督办 as well
    panel = _alerts_panel(client, yellow)
    assert "催办" in panel and "督办" in panel and "挂牌督办" not in panel


def test_the_inbox_marks_messages_of_ended_alerts(app, client, yellow):
    _scan(app, "2026-09-30")
    login(client, "inspector")
    html = client.get("/inbox").get_data(as_text=True)
    assert "仍未签收" in html and "已解除" not in html
    _do(app, yellow, "accept", "unita")
    html = client.get("/inbox").get_data(as_text=True)
    assert "仍未签收" in html and "已解除" in html


# ---- the homes ------------------------------------------------------------------------------------


@pytest.fixture
def red(app, make):
    """Red problem of UA assigned Monday 2026-09-28: 3 working days, across the National Day
    holidays (its deadline comes from the calendar)."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(title="小区燃气管道漏气", body="燃气管道锈蚀漏气。", assign={"tier": "red"})
    with app.app_context():
        return number, _problem(number).deadline


def _home(app, username):
    client = app.test_client()
    login(client, username)
    return client.get("/").get_data(as_text=True)


def _panel(html, title):
    assert title in html, title
    return html.split(title, 1)[1].split("</section>", 1)[0]


@pytest.mark.parametrize("username", ["inspector", "leader"])
def test_due_soon_lists_a_red_problem_on_its_last_working_day(app, red, username):
    number, deadline = red
    clock.pin(f"{deadline.isoformat()}T09:00:00")
    assert number in _panel(_home(app, username), "临期提醒")
    clock.pin("2026-09-28T09:00:00")  # two working days before: not yet due soon for red
    assert number not in _panel(_home(app, username), "临期提醒")


@pytest.mark.parametrize("username", ["inspector", "leader"])
def test_the_home_lists_problems_not_accepted_in_time(app, make, red, username):
    number, _deadline = red
    clock.pin("2026-09-29T09:00:00")  # one working day to accept: still in time
    assert number not in _panel(_home(app, username), "逾期未签收")
    clock.pin("2026-09-30T09:00:00")
    assert number in _panel(_home(app, username), "逾期未签收")
    _do(app, number, "accept", "unita")
    assert number not in _panel(_home(app, username), "逾期未签收")


def test_the_inspectors_overdue_tile_shows_its_count(app, red):
    clock.pin("2026-10-09T09:00:00")
    html = _home(app, "inspector")
    tile = html.split("逾期问题", 1)[1].split("</a>", 1)[0]
    assert '<div class="stat-value">1</div>' in tile and "→" not in tile


def test_a_reopened_problem_past_its_deadline_is_overdue_again(app, client, yellow):
    _do(app, yellow, "accept", "unita")
    _scan(app, "2026-10-19")
    with app.app_context():
        _problem(yellow).evidence_waived = True
        db.session.commit()
    _do(app, yellow, "submit", "unita", report="<p>已整改</p>")
    _do(app, yellow, "approve", "inspector", opinion="整改到位")
    assert _open(app, yellow) == set()
    _do(app, yellow, "reopen", "inspector", reason="回访不满意")
    _scan(app, "2026-10-20")
    assert ("overdue", "2026-10-16") in _open(app, yellow)
    login(client, "inspector")
    assert "逾期" in _alerts_panel(client, yellow)
