"""`flask demo seed`: the demo organisation, logins printed once, generated problems at scale."""

import json

from sqlalchemy import func, select

from tests.conftest import login
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.ledger.models import Problem


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
    assert body["open"].get("overdue") == 1 and body["notices"]  # 14 working days overdue: 督办 and 挂牌督办
    assert body["open"].get("not_accepted") == 1


def test_demo_seed_generates_problems_with_three_records_each(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "seed"])
    result = runner.invoke(args=["demo", "seed", "--problems", "250", "--seed", "7", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["problems"] == 250
    with app.app_context():
        # 4 showcase problems (one record each) come with the demo organisation.
        assert db.session.scalar(select(func.count()).select_from(Problem)) == 254
        assert db.session.scalar(select(func.count()).select_from(IntakeRecord)) == 754
        numbers = db.session.scalars(select(Problem.number)).all()
        assert len(set(numbers)) == 254
    # Numbering continues after generated problems.
    from tracker.ledger import services

    with app.app_context():
        assert services.next_number().endswith("000255")
