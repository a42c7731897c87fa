"""The deadline scan, day by day across the National Day holidays; idempotency; resolution; notices."""

import threading

import pytest
from sqlalchemy import func, select

from tracker.alerts.models import Alert, Notification, SupervisionNotice
from tracker.alerts.scan import scan
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Problem
from tracker.workflow import services as workflow


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _open_alerts(number):
    problem = db.session.scalar(select(Problem).where(Problem.number == number))
    rows = db.session.execute(
        select(Alert.kind, Alert.step).where(Alert.problem_id == problem.id, Alert.resolved_at.is_(None))
    ).all()
    return {(k, s.split(":")[0]) for k, s in rows}


def _scan_on(day, hour=9):
    clock.pin(f"{day}T{hour:02d}:00:00")
    report = scan()
    db.session.commit()
    return report


@pytest.fixture
def yellow(app, make):
    """Yellow problem of UA assigned on Monday 2026-09-28: deadline 2026-10-16 (10 working days)."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    return make.problem(
        title="希望延长开放时间", body="周末开放时间短。", assign={"tier": "yellow", "leader": "leader"}
    )


def test_day_by_day_across_the_national_day_holidays(app_ctx, yellow):
    expected = {
        "2026-09-29": set(),  # assigned yesterday; one working day to accept
        "2026-09-30": {("not_accepted", "2026-09-28")},
        "2026-10-01": {("not_accepted", "2026-09-28")},  # holidays: nothing new, nothing counted
        "2026-10-08": {("not_accepted", "2026-09-28")},
    }
    for day, alerts in expected.items():
        _scan_on(day)
        assert _open_alerts(yellow) == alerts, day
    problem = db.session.scalar(select(Problem).where(Problem.number == yellow))
    workflow.apply(problem, "accept", actor=_user("unita"), expected_version=problem.version)
    db.session.commit()
    expected = {
        "2026-10-09": set(),  # accepted: the acceptance alert resolves itself
        "2026-10-13": set(),  # 3 working days left (13→14, 15, 16)
        "2026-10-14": {("due_soon", "2026-10-16")},  # 2 left: the yellow warning
        "2026-10-16": {("due_soon", "2026-10-16")},  # deadline day
        "2026-10-17": {("overdue", "2026-10-16")},  # Saturday: overdue but 0 working days
        "2026-10-19": {("overdue", "2026-10-16"), ("escalation", "reminder")},  # 1 working day overdue
        "2026-10-21": {("overdue", "2026-10-16"), ("escalation", "reminder"), ("escalation", "supervise")},  # 3
        "2026-10-26": {
            ("overdue", "2026-10-16"),
            ("escalation", "reminder"),
            ("escalation", "supervise"),
            ("escalation", "listed"),
        },  # 6 working days overdue
    }
    for day, alerts in expected.items():
        _scan_on(day)
        assert _open_alerts(yellow) == alerts, day
    notices = db.session.scalars(select(SupervisionNotice).order_by(SupervisionNotice.id)).all()
    assert [(n.number, n.level, n.days_overdue) for n in notices] == [
        ("督〔2026〕1号", "supervise", 3),
        ("督〔2026〕2号", "listed", 6),
    ]
    assert notices[0].reply_by.isoformat() == "2026-10-23"  # 2 working days after 10-21


def test_scanning_twice_changes_nothing_the_second_time(app_ctx, yellow):
    first = _scan_on("2026-10-21")
    counts = (
        db.session.scalar(select(func.count()).select_from(Alert)),
        db.session.scalar(select(func.count()).select_from(Notification)),
        db.session.scalar(select(func.count()).select_from(SupervisionNotice)),
    )
    second = _scan_on("2026-10-21", hour=10)
    assert first.new and not second.new and second.resolved == 0
    assert counts == (
        db.session.scalar(select(func.count()).select_from(Alert)),
        db.session.scalar(select(func.count()).select_from(Notification)),
        db.session.scalar(select(func.count()).select_from(SupervisionNotice)),
    )


def test_an_approved_extension_resolves_the_overdue_alerts(app_ctx, yellow):
    from tracker.ledger import services

    problem = db.session.scalar(select(Problem).where(Problem.number == yellow))
    workflow.apply(problem, "accept", actor=_user("unita"), expected_version=problem.version)
    _scan_on("2026-10-19")
    assert ("overdue", "2026-10-16") in _open_alerts(yellow)
    request = services.request_extension(problem, "2026-10-30", "设备未到", actor=_user("unita"))
    services.decide_extension(problem, request.id, True, "同意", actor=_user("inspector"))
    db.session.commit()
    assert _open_alerts(yellow) == set()  # at once, in the decision's transaction
    report = _scan_on("2026-10-20")
    assert _open_alerts(yellow) == set() and report.resolved == 0


def test_closing_the_problem_resolves_everything(app_ctx, yellow):
    _scan_on("2026-10-21")
    problem = db.session.scalar(select(Problem).where(Problem.number == yellow))
    workflow.apply(problem, "accept", actor=_user("unita"), expected_version=problem.version)
    problem.evidence_waived = True
    workflow.apply(problem, "submit", actor=_user("unita"), expected_version=problem.version, report="已整改")
    workflow.apply(problem, "approve", actor=_user("inspector"), expected_version=problem.version, opinion="整改到位")
    db.session.commit()
    _scan_on("2026-10-22")
    assert _open_alerts(yellow) == set()


def test_new_alerts_reach_the_inbox_of_the_unit_inspector_and_leader(app_ctx, yellow):
    _scan_on("2026-10-21")
    titles = dict(
        db.session.execute(select(User.username, func.count()).join(Notification).group_by(User.username)).all()
    )
    assert titles.get("unita") and titles.get("inspector") and titles.get("leader")
    leader_titles = db.session.scalars(select(Notification.title).join(User).where(User.username == "leader")).all()
    assert any("督办" in t for t in leader_titles)
    assert not any("张" in t for t in leader_titles)


def test_a_late_milestone_marks_a_blue_problem_behind(app_ctx, make):
    make.org()
    clock.pin("2026-11-02T09:00:00")
    number = make.problem(title="老旧小区排水管网需改造", body="需要资金改造管网。", assign={"tier": "blue"})
    problem = db.session.scalar(select(Problem).where(Problem.number == number))
    workflow.apply(problem, "accept", actor=_user("unita"), expected_version=problem.version)
    db.session.commit()
    _scan_on("2026-11-17")  # first milestone was due 11-16
    assert any(kind == "behind" for kind, _step in _open_alerts(number))


def test_two_scans_at_once_make_no_duplicates(app, yellow):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("concurrent scans are exercised on PostgreSQL (make test-pg)")
    clock.pin("2026-10-26T09:00:00")
    barrier = threading.Barrier(2, timeout=30)
    errors = []

    def run():
        with app.app_context():
            try:
                barrier.wait()
                scan()
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                errors.append(error)
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        keys = db.session.execute(select(Alert.problem_id, Alert.kind, Alert.step)).all()
        assert len(keys) == len(set(keys)) == 5
        assert db.session.scalar(select(func.count()).select_from(SupervisionNotice)) == 2
    assert not errors


def test_cli_scan_prints_new_and_open_alerts(app, yellow):
    import json

    result = app.test_cli_runner().invoke(args=["alerts", "scan", "--now", "2026-10-21T09:00:00", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["new"]["overdue"] == 1 and body["open"]["escalation"] == 2
    assert body["notices"] == ["督〔2026〕1号"]
    again = json.loads(
        app.test_cli_runner().invoke(args=["alerts", "scan", "--now", "2026-10-21T10:00:00", "--json"]).output
    )
    assert again["new"] == {} and again["open"]["overdue"] == 1
    assert app.test_cli_runner().invoke(args=["alerts", "scan", "--now", "yesterday"]).exit_code != 0


def test_alerts_api_lists_a_problems_alerts(app, yellow):
    from tests.api.test_intake_api import auth, token_for

    app.test_cli_runner().invoke(args=["alerts", "scan", "--now", "2026-10-19T09:00:00"])
    client = app.test_client()
    body = client.get(f"/api/v1/alerts?problem={yellow}", headers=auth(token_for(app, "unita"))).get_json()
    assert {a["kind"] for a in body["items"]} == {"not_accepted", "overdue", "escalation"}
    assert client.get(f"/api/v1/alerts?problem={yellow}", headers=auth(token_for(app, "unitb"))).status_code == 404
    report = client.get("/api/v1/reports/overdue", headers=auth(token_for(app, "leader"))).get_json()
    assert report["total"] == 1 and report["units"][0]["problems"][0]["days_overdue"] == 1


def test_notices_print_and_download(app, yellow):
    from tests.conftest import login

    app.test_cli_runner().invoke(args=["alerts", "scan", "--now", "2026-10-21T09:00:00"])
    with app.app_context():
        notice_id = db.session.scalar(select(SupervisionNotice.id))
    for username, status in (("unita", 200), ("leader", 200), ("inspector", 200), ("unitb", 404)):
        client = app.test_client()
        login(client, username)
        page = client.get(f"/notices/{notice_id}")
        assert page.status_code == status, username
        if status == 200:
            html = page.get_data(as_text=True)
            assert "督〔2026〕1号" in html and "已逾期 3 个工作日" in html and "2026-10-23" in html
            document = client.get(f"/notices/{notice_id}.docx")
            assert document.get_data()[:2] == b"PK"
    client = app.test_client()
    login(client, "unitb")
    assert "督〔2026〕1号" not in client.get("/notices").get_data(as_text=True)
