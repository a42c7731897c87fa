"""Assignment: validation, deadlines over holidays, tier overrides, scoping of the result."""

from datetime import date

import pytest
from sqlalchemy import select

from tests.conftest import login, post_form
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock
from tracker.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tracker.extensions import db
from tracker.ledger.models import Problem
from tracker.workflow import services as workflow
from tracker.workflow.services import InvalidTransition


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _assign(problem, actor="inspector", **details):
    base = {"tier": "yellow", "unit_code": "UA", "owner": "unita", "measures": "约谈窗口负责人，限期整改。"}
    return workflow.apply(
        problem, "assign", actor=_user(actor), expected_version=problem.version, **{**base, **details}
    )


def test_assignment_on_2026_09_28_skips_the_national_day_and_counts_the_make_up_day(app_ctx, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    problem = _problem(make.problem(title="希望延长开放时间", body="周末开放时间短。"))
    _assign(problem)
    assert (problem.status, problem.deadline, problem.original_deadline) == (
        "assigned",
        date(2026, 10, 16),
        date(2026, 10, 16),
    )
    assert problem.unit.code == "UA" and problem.owner.username == "unita" and problem.inspector.username == "inspector"
    assert "10 个工作日" in problem.deadline_rule


def test_a_person_not_in_the_chosen_unit_is_refused(app_ctx, make):
    make.org()
    problem = _problem(make.problem())
    with pytest.raises(ValidationFailed) as failed:
        _assign(problem, owner="unitb")
    assert "不是“甲单位”的在用人员" in failed.value.fields["owner_id"]
    assert problem.status == "new"


def test_a_deactivated_unit_is_refused(app_ctx, make):
    make.org()
    make.unit("OLD", "撤并单位", active=False)
    problem = _problem(make.problem())
    with pytest.raises(ValidationFailed) as failed:
        _assign(problem, unit_code="OLD")
    assert "已停用" in failed.value.fields["unit_id"]


def test_a_deadline_on_a_holiday_is_refused_naming_the_next_working_day(app_ctx, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    problem = _problem(make.problem(title="希望延长开放时间", body="周末开放时间短。"))
    with pytest.raises(ValidationFailed) as failed:
        _assign(problem, deadline="2026-10-03", deadline_note="国庆前完成")
    assert "2026-10-03 是休息日，最近的工作日是 2026-10-08" in failed.value.fields["deadline"]
    with pytest.raises(ValidationFailed) as past:
        _assign(problem, deadline="2026-09-01", deadline_note="x")
    assert "不能早于今天" in past.value.fields["deadline"]


def test_a_changed_deadline_needs_a_reason(app_ctx, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    problem = _problem(make.problem(title="希望延长开放时间", body="周末开放时间短。"))
    with pytest.raises(ValidationFailed) as failed:
        _assign(problem, deadline="2026-10-20")
    assert "deadline_note" in failed.value.fields
    _assign(problem, deadline="2026-10-20", deadline_note="需等待设备到货")
    assert problem.deadline == date(2026, 10, 20) and problem.deadline_note == "需等待设备到货"


def test_overriding_the_suggested_tier_needs_a_reason_and_is_audited(app_ctx, make):
    make.org()
    problem = _problem(make.problem(title="燃气管道安全隐患", body="燃气管道锈蚀。"))
    with pytest.raises(ValidationFailed) as failed:
        _assign(problem, tier="yellow")
    assert "tier_override_reason" in failed.value.fields
    _assign(problem, tier="yellow", tier_override_reason="已由燃气公司临时处置，转常规整改")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "problem.assign"))
    assert event.after["suggested_tier"] == "red" and event.after["tier"] == "yellow"
    assert event.after["tier_override_reason"] == "已由燃气公司临时处置，转常规整改"


def test_blue_problems_get_back_scheduled_milestones(app_ctx, make):
    make.org()
    clock.pin("2026-11-02T09:00:00")
    problem = _problem(make.problem(title="老旧小区排水管网需改造", body="需要资金改造管网。"))
    _assign(problem, tier="blue")
    assert problem.deadline == date(2026, 12, 14)
    assert [m.due_date for m in problem.milestones] == [date(2026, 11, 16), date(2026, 11, 30), date(2026, 12, 14)]


def test_stale_version_wrong_state_wrong_role_and_other_unit_are_refused(app_ctx, make):
    make.org()
    problem = _problem(make.problem(title="希望延长开放时间", body="周末开放时间短。"))
    with pytest.raises(Conflict):
        workflow.apply(
            problem,
            "assign",
            actor=_user("inspector"),
            expected_version=problem.version + 1,
            tier="yellow",
            unit_code="UA",
            owner="unita",
            measures="x",
        )
    with pytest.raises(Forbidden):
        _assign(problem, actor="unita")
    with pytest.raises(NotFound):
        _assign(problem, actor="unitb")
    _assign(problem)
    with pytest.raises(InvalidTransition):
        _assign(problem)


def test_the_assigned_problem_shows_in_its_units_and_leaders_ledger_only(app, make):
    make.org()
    number = make.problem(
        title="希望延长开放时间",
        body="周末开放时间短。",
        assign={"owner": "unita", "leader": "leader", "tier": "yellow"},
    )
    for username, sees in (("unita", True), ("leader", True), ("inspector", True), ("unitb", False)):
        client = app.test_client()
        login(client, username)
        assert (number in client.get("/ledger/").get_data(as_text=True)) is sees, username
        assert client.get(f"/ledger/{number}").status_code == (200 if sees else 404)


def test_the_assign_page_shows_the_suggestion_and_assigns(app, client, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(title="燃气管道安全隐患", body="燃气管道锈蚀。")
    login(client, "inspector")
    page = client.get(f"/ledger/{number}/assign").get_data(as_text=True)
    assert "关键词“燃气” → 红" in page and "2026-10-08" in page  # red: 3 working days after 09-28
    with app.app_context():
        problem = _problem(number)
        unit_id, owner_id, version = problem.unit_id, _user("unita").id, problem.version
    bad = post_form(
        client,
        f"/ledger/{number}/assign",
        {"version": version, "tier": "red", "unit_id": unit_id, "owner_id": "", "measures": ""},
        form_page=f"/ledger/{number}/assign",
    )
    assert bad.status_code == 422 and "请选择责任人" in bad.get_data(as_text=True)
    ok = post_form(
        client,
        f"/ledger/{number}/assign",
        {
            "version": version,
            "tier": "red",
            "unit_id": unit_id,
            "owner_id": owner_id,
            "measures": "立即停用并更换管道",
            "deadline": "2026-10-08",
        },
        form_page=f"/ledger/{number}/assign",
    )
    assert ok.status_code == 302
    page = client.get(f"/ledger/{number}").get_data(as_text=True)
    assert "待签收" in page and "2026-10-08" in page and "星期四" in page


def test_people_of_a_unit_are_offered_for_the_owner(app, client, make):
    make.org()
    login(client, "inspector")
    with app.app_context():
        from tracker.org import queries

        unit_id = queries.unit_by_code("UB").id
    html = client.get(f"/ledger/people?unit_id={unit_id}").get_data(as_text=True)
    assert "unitb" in html and "unita" not in html
