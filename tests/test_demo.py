"""`flask demo seed`: the demo organisation, logins printed once, generated problems at scale."""

import json
from datetime import timedelta

from sqlalchemy import func, select

from tests.conftest import login
from tracker.alerts.models import SupervisionNotice
from tracker.demo.services import HISTORY_PROBLEMS
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.ledger.models import Campaign, ExtensionRequest, Problem
from tracker.oversight.models import FollowUp


def test_demo_seed_prints_logins_that_work_and_refuses_a_second_run(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "seed", "--json"])
    assert result.exit_code == 0
    users = json.loads(result.output)["users"]
    assert {u["role"] for u in users} == {"admin", "inspector", "leader", "unit"} and len(users) == 5
    unit_user = next(u for u in users if u["role"] == "unit")
    assert login(app.test_client(), unit_user["username"], unit_user["password"]).status_code == 302
    assert runner.invoke(args=["demo", "seed"]).exit_code == 1
    assert runner.invoke(args=["demo", "seed", "--if-empty"]).exit_code == 0


def test_demo_showcase_has_an_overdue_problem_that_the_scan_escalates(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "seed"])
    result = runner.invoke(args=["alerts", "scan", "--json"])
    body = json.loads(result.output)
    # The showcase's problem is 14 working days overdue (a 督办单); the history adds a few more.
    assert body["open"].get("overdue", 0) >= 1 and body["notices"]
    assert body["open"].get("not_accepted", 0) >= 1
    with app.app_context():
        showcase = db.session.scalar(select(Problem).where(Problem.title == "学校门口上下学时段交通拥堵"))
        notices = db.session.scalars(select(SupervisionNotice.level).where(SupervisionNotice.problem_id == showcase.id))
        assert "supervise" in set(notices)


def test_demo_seed_generates_problems_with_three_records_each(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "seed"])
    result = runner.invoke(args=["demo", "seed", "--problems", "250", "--seed", "7", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["problems"] == 250
    with app.app_context():
        # 4 showcase problems (one record each) and the history (3 records each) come with the demo organisation.
        total = 4 + HISTORY_PROBLEMS + 250
        assert db.session.scalar(select(func.count()).select_from(Problem)) == total
        assert db.session.scalar(select(func.count()).select_from(IntakeRecord)) == 4 + 3 * (HISTORY_PROBLEMS + 250)
        numbers = db.session.scalars(select(Problem.number)).all()
        assert len(set(numbers)) == total
    # Numbering continues after generated problems.
    from tracker.ledger import services

    with app.app_context():
        assert services.next_number().endswith(f"{total + 1:06d}")


def test_demo_history_gives_a_leader_a_dashboard_an_overdue_list_and_a_ranking(app):
    """Closures this quarter (on time, within an extension and late), overdue problems, problems due
    this week, campaigns; the stored closing figures are the ones a real sign-off computes."""
    from tracker.core import clock
    from tracker.ledger.timeliness import closing_figures
    from tracker.reports import periods

    app.test_cli_runner().invoke(args=["demo", "seed", "--seed", "3"])
    with app.app_context():
        today = clock.today()
        problems = db.session.scalars(select(Problem)).all()
        closed = [p for p in problems if p.status == "closed"]
        assert len(closed) > HISTORY_PROBLEMS // 2
        for p in closed:
            assert p.assigned_at < p.closed_at <= clock.now() and p.closed_by_id is not None
            assert (p.close_timeliness, p.close_workdays) == closing_figures(p, p.closed_at)
        start, end = periods.parse({"period": "quarter"}, "quarter").bounds()
        quarter = [p for p in closed if start <= p.closed_at < end]
        assert quarter, "closures in the current quarter"
        assert {p.close_timeliness for p in closed} == {"original", "extended", "late"}
        working = [p for p in problems if p.status in ("assigned", "in_progress", "submitted", "verifying")]
        assert any(p.deadline < today for p in working), "overdue problems"
        assert any(today <= p.deadline <= today + timedelta(days=6) for p in working), "due this week"
        extended = [p for p in problems if p.deadline and p.original_deadline and p.deadline > p.original_deadline]
        assert len(extended) >= HISTORY_PROBLEMS // 20
        for p in extended:
            (request,) = p.extension_requests
            assert request.status == "approved" and request.decided_at is not None
            assert (request.current_deadline, request.requested_deadline) == (p.original_deadline, p.deadline)
        assert db.session.scalar(select(func.count()).select_from(ExtensionRequest)) == len(extended)
        campaigns = db.session.scalars(select(Campaign)).all()
        assert len(campaigns) == 2
        tagged = [p for p in problems if p.campaign_id]
        assert len(problems) // 10 < len(tagged) < len(problems) * 3 // 10
        assert any(p.rework_count for p in problems) and any(p.relapse_count for p in problems)
        # follow-up calls (回访) on the first record of the closed problems: the satisfaction figures
        done = db.session.scalars(select(IntakeRecord).where(IntakeRecord.followup_state == "done")).all()
        calls = db.session.scalars(select(FollowUp)).all()
        assert len(done) == len(calls) > len(closed) // 2
        assert {c.intake_id for c in calls} == {r.id for r in done}
        assert all(not r.is_anonymous and r.complainant_phone_mask for r in done)
        assert {c.outcome for c in calls} <= {"satisfied", "basically_satisfied", "unsatisfied"}
        assert all(c.called_at <= clock.now() for c in calls)
