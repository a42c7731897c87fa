"""Tier suggestions with reasons, rule validation, deadlines from templates across holidays."""

from datetime import date

import pytest
from sqlalchemy import event, select

from tracker.core import clock
from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.ledger.models import Problem
from tracker.triage import services as triage


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def test_safety_keyword_suggests_red_and_says_why(app_ctx, make):
    make.org()
    problem = _problem(make.problem(title="小区燃气管道存在安全隐患", body="燃气管道锈蚀，存在安全隐患。"))
    suggestion = triage.suggest(problem)
    assert suggestion.tier == "red"
    assert suggestion.reasons == ["关键词“燃气” → 红"]


def test_structural_problem_suggests_blue(app_ctx, make):
    make.org()
    problem = _problem(make.problem(title="老旧小区排水管网需改造", body="雨天积水严重，需要资金改造管网。"))
    assert triage.suggest(problem).tier == "blue"


def test_no_rule_gives_yellow_with_an_explanation(app_ctx, make):
    make.org()
    problem = _problem(make.problem(title="希望延长开放时间", body="图书馆周末开放时间短。"))
    suggestion = triage.suggest(problem)
    assert suggestion.tier == "yellow" and "默认" in suggestion.reasons[0]


def test_repeated_complaints_about_the_same_unit_escalate(app_ctx, make):
    make.org()
    for i in range(3):
        make.record(f"REP{i}", title="希望延长开放时间", body="周末开放时间短。", category="文化生活")
    problem = _problem(make.problem(title="希望延长开放时间", body="周末开放时间短。", category="文化生活"))
    clock.pin("2026-10-01T10:00:00")
    suggestion = triage.suggest(problem)
    assert suggestion.tier == "red"  # yellow, escalated one step
    assert any("30 天内同类 4 件" in r for r in suggestion.reasons)


def test_a_list_of_new_problems_counts_repeats_in_one_query(app_ctx, make):
    """The list API suggests a tier for every new problem on its page: the repeat rule's counts for
    all their units and categories come from one grouped query, with the same figures as one by one;
    the next request counts afresh."""
    make.org()
    clock.pin("2026-10-01T10:00:00")
    for i in range(3):
        make.record(f"REP{i}", title="希望延长开放时间", body="周末开放时间短。", category="文化生活")
    make.record("REPB", unit="UB", title="希望延长开放时间", body="周末开放时间短。", category="文化生活")
    numbers = [
        make.problem(title="希望延长开放时间", body="周末开放时间短。", category="文化生活"),
        make.problem(unit="UB", title="希望延长开放时间", body="周末开放时间短。", category="文化生活"),
        make.problem(unit="UB", title="公交站台缺少遮雨棚", body="雨天候车淋雨。", category="交通出行"),
    ]
    problems = [_problem(number) for number in numbers]
    one_by_one = [triage.suggest(p) for p in problems]
    db.session.commit()  # a commit forgets what this context counted

    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        triage.prime_repeat_counts(problems)
        primed = [triage.suggest(p) for p in problems]
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    counts = [s for s in statements if "count(" in s.lower()]
    assert len(counts) == 1 and primed == one_by_one
    assert one_by_one[0].tier == "red" and one_by_one[1].tier == "yellow"

    make.record("REPB2", unit="UB", title="希望延长开放时间", body="周末开放时间短。", category="文化生活")
    make.record("REPB3", unit="UB", title="希望延长开放时间", body="周末开放时间短。", category="文化生活")
    db.session.commit()
    assert triage.suggest(problems[1]).tier == "red"


def test_urgency_and_difficulty_feed_the_matrix_rules(app_ctx, make):
    make.org()
    problem = _problem(make.problem(title="希望延长开放时间", body="周末开放时间短。"))
    assert triage.suggest(problem, urgency=3).tier == "red"
    assert triage.suggest(problem, difficulty=3).tier == "blue"


def test_a_rule_with_an_invalid_pattern_is_refused(app_ctx):
    with pytest.raises(ValidationFailed) as failed:
        triage.save_rule(
            {"name": "坏规则", "kind": "keyword", "result": "red", "params": {"pattern": "安全(隐患"}}, actor=None
        )
    assert "表达式无效" in failed.value.fields["params"]


def test_yellow_deadline_skips_the_national_day_holidays(app_ctx):
    proposal = triage.propose_deadline("yellow", False, "投诉", date(2026, 9, 28))
    assert proposal.deadline == date(2026, 10, 16) and proposal.days == 10
    assert "10 个工作日" in proposal.rule_text


def test_red_deadline_counts_the_october_10_make_up_day(app_ctx):
    assert triage.propose_deadline("red", False, None, date(2026, 9, 30)).deadline == date(2026, 10, 10)
    assert triage.propose_deadline("blue", True, None, date(2026, 9, 30)).deadline == date(2026, 10, 9)  # quick fix: 2


def test_a_kind_specific_template_wins(app_ctx):
    from tracker.triage.models import DeadlineTemplate

    triage.ensure_defaults()
    db.session.add(DeadlineTemplate(tier="yellow", source_kind="投诉", days=15, rule_text="12345 投诉类 15 个工作日"))
    db.session.flush()
    proposal = triage.propose_deadline("yellow", False, "投诉", date(2026, 11, 2))
    assert proposal.days == 15 and proposal.rule_text == "12345 投诉类 15 个工作日"
    assert triage.propose_deadline("yellow", False, "差评", date(2026, 11, 2)).days == 10


def test_milestones_are_back_scheduled_evenly_in_working_days(app_ctx):
    steps = triage.propose_milestones(date(2026, 11, 2), date(2026, 12, 14))
    assert [d for _t, d in steps] == [date(2026, 11, 16), date(2026, 11, 30), date(2026, 12, 14)]
