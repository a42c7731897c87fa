"""Sign-off timeliness: judged against the original deadline and the extended one, stored at every
sign-off, cleared on reopen, backfilled by the upgrade that added the columns."""

from datetime import UTC, date, datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import insert, select

from tests.oversight.test_followups_migration import _row
from tests.test_migrations import app_at, empty_database_url, table  # noqa: F401 - the fixture
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Timeliness
from tracker.ledger.timeliness import judge

BEFORE = "f8a493fe245a"  # the revision before the report columns


@pytest.mark.parametrize(
    ("closed_on", "original", "deadline", "expected"),
    [
        (date(2026, 10, 9), date(2026, 10, 9), date(2026, 10, 9), Timeliness.ORIGINAL),  # on the last day
        (date(2026, 10, 12), date(2026, 10, 9), date(2026, 10, 9), Timeliness.LATE),
        (date(2026, 10, 12), date(2026, 10, 9), date(2026, 10, 16), Timeliness.EXTENDED),
        (date(2026, 10, 19), date(2026, 10, 9), date(2026, 10, 16), Timeliness.LATE),  # late even after extension
        (date(2026, 10, 1), date(2026, 10, 9), date(2026, 10, 16), Timeliness.ORIGINAL),
        (date(2026, 10, 1), None, None, None),
        (date(2026, 10, 1), None, date(2026, 10, 2), Timeliness.ORIGINAL),
    ],
)
def test_judge_tells_original_extended_and_late(closed_on, original, deadline, expected):
    assert judge(closed_on, original, deadline) == expected


def _close_through_workflow(app, number, extend_to=None):
    """Submit and approve NUMBER (yellow, no verification) as the unit and the inspector; with
    EXTEND_TO, first ask for and approve an extension to that day."""
    from tracker.auth.models import User
    from tracker.ledger import services as ledger_services
    from tracker.ledger.queries import get_problem_or_404
    from tracker.workflow import services as workflow

    with app.app_context():
        unit = db.session.scalar(select(User).where(User.username == "unita"))
        inspector = db.session.scalar(select(User).where(User.username == "inspector"))
        problem = get_problem_or_404(number, inspector)
        workflow.apply(problem, "accept", actor=unit, expected_version=problem.version)
        if extend_to:
            item = ledger_services.request_extension(problem, extend_to, "需要协调多个部门", actor=unit)
            db.session.flush()
            ledger_services.decide_extension(problem, item.id, True, "同意", actor=inspector)
            db.session.flush()
        ledger_services.waive_evidence(problem, actor=inspector, reason="现场核实，无需材料")
        db.session.flush()
        workflow.apply(problem, "submit", actor=unit, expected_version=problem.version, report="已整改完毕")
        workflow.apply(problem, "approve", actor=inspector, expected_version=problem.version, opinion="整改到位")
        db.session.commit()
        return problem.status, problem.close_timeliness, problem.close_workdays, problem.original_deadline


def test_sign_off_after_the_original_deadline_within_an_extension_is_extended(app, make):
    make.org()
    clock.pin("2026-10-12T09:00:00+08:00")  # Monday
    number = make.problem(assign={"tier": "yellow", "deadline": "2026-10-14", "deadline_note": "领导要求限期完成"})
    clock.pin("2026-10-13T09:00:00+08:00")
    number_late = make.problem(assign={"tier": "yellow", "deadline": "2026-10-14", "deadline_note": "领导要求限期完成"})
    clock.pin("2026-10-16T10:00:00+08:00")  # Friday: after the original deadline of both
    status, timeliness, workdays, original = _close_through_workflow(app, number, extend_to="2026-10-20")
    assert (status, timeliness, original) == ("closed", Timeliness.EXTENDED, date(2026, 10, 14))
    assert workdays == 4  # Monday → Friday
    assert _close_through_workflow(app, number_late)[1] == Timeliness.LATE


def test_reopen_clears_the_sign_off_figures(app, make):
    from tracker.auth.models import User
    from tracker.ledger.queries import get_problem_or_404
    from tracker.workflow import services as workflow

    make.org()
    clock.pin("2026-10-12T09:00:00+08:00")
    number = make.problem(assign={"tier": "yellow", "deadline": "2026-10-20", "deadline_note": "领导要求限期完成"})
    assert _close_through_workflow(app, number)[1] == Timeliness.ORIGINAL
    with app.app_context():
        inspector = db.session.scalar(select(User).where(User.username == "inspector"))
        problem = get_problem_or_404(number, inspector)
        workflow.apply(problem, "reopen", actor=inspector, expected_version=problem.version, reason="回访不满意")
        db.session.commit()
        assert (problem.closed_at, problem.close_timeliness, problem.close_workdays) == (None, None, None)


def test_upgrade_backfills_the_figures_of_problems_closed_before_it(empty_database_url):  # noqa: F811
    with app_at(empty_database_url, BEFORE):
        problems = table("problems")
        assigned = datetime(2026, 9, 28, 2, tzinfo=UTC)  # Monday 10:00 Beijing time
        rows = [
            # closed 2026-10-09 (Friday after the National Day holiday) 23:30 Beijing time = 15:30 UTC
            dict(id=1, number="ZG-1", status="closed", closed_at=datetime(2026, 10, 9, 15, 30, tzinfo=UTC),
                 original_deadline=date(2026, 10, 9), deadline=date(2026, 10, 9)),
            # closed 2026-10-10 00:30 Beijing time: one day late against the original, within the extension
            dict(id=2, number="ZG-2", status="closed", closed_at=datetime(2026, 10, 9, 16, 30, tzinfo=UTC),
                 original_deadline=date(2026, 10, 9), deadline=date(2026, 10, 16)),
            dict(id=3, number="ZG-3", status="in_progress", closed_at=None,
                 original_deadline=date(2026, 10, 9), deadline=date(2026, 10, 9)),
        ]  # fmt: skip
        with db.engine.begin() as conn:
            for row in rows:
                conn.execute(insert(problems), [_row(problems, assigned_at=assigned, **row)])
        upgrade()
        problems = table("problems")
        with db.engine.connect() as conn:
            got = conn.execute(
                select(problems.c.id, problems.c.close_timeliness, problems.c.close_workdays).order_by(problems.c.id)
            ).all()
    # 2026-09-28 → 2026-10-09: 29, 30 Sep, the holiday 1–7 Oct, 8 and 9 Oct; 10 Oct (Saturday) is a make-up working day
    assert [tuple(r) for r in got] == [(1, "original", 4), (2, "extended", 5), (3, None, None)]
