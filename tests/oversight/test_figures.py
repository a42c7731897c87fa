"""Oversight figures (tracker.oversight.figures): 回访率, 满意率, re-inspection pass rate and relapses per
unit and period, against counts worked out by hand from rows written straight into the tables."""

import uuid
from datetime import date

import pytest
from sqlalchemy import event

from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.intake.models import Handling, IntakeRecord
from tracker.ledger.models import Problem
from tracker.org.queries import unit_by_code
from tracker.oversight import figures
from tracker.oversight.models import FollowUp, InspectionBatch, InspectionItem

NOV_FROM, NOV_TO = date(2026, 11, 2), date(2026, 11, 6)


class Rows:
    """Writes the rows the figures read, directly through the models (times given in local time)."""

    def __init__(self, make):
        self.make = make
        self.batch_id = None

    def problem(self, unit, closed=None):
        db.session.commit()  # the factory writes in a session of its own (SQLite: one writer at a time)
        number = self.make.problem(unit=unit)
        problem = db.session.scalar(db.select(Problem).where(Problem.number == number))
        problem.unit_id = unit_by_code(unit).id
        for own in problem.intake_records:  # the factory's record behind it: nobody to call
            own.followup_state = "no_phone"
        if closed:
            problem.status = "closed"
            problem.closed_at = clock.parse(closed)
        db.session.flush()
        return problem

    def record(self, problem, state="due", unit=None, explained=None, tries=0):
        """An intake record of PROBLEM (or, with EXPLAINED, an explained record of UNIT)."""
        db.session.commit()
        record_id = self.make.record(f"F-{uuid.uuid4().hex[:12]}", unit=unit or "UA")
        record = db.session.get(IntakeRecord, record_id)
        if problem is not None:
            record.problem_id = problem.id
            record.handling = Handling.RECTIFY
        else:
            record.handling = Handling.EXPLAINED
            record.handled_at = clock.parse(explained)
        record.followup_state = state
        record.followup_tries = tries
        db.session.flush()
        return record

    def call(self, record, outcome, at, attempt=1):
        unit_id = record.problem.unit_id if record.problem_id else record.unit_id
        db.session.add(
            FollowUp(
                intake_id=record.id,
                problem_id=record.problem_id,
                unit_id=unit_id,
                attempt=attempt,
                outcome=outcome,
                called_at=clock.parse(at),
            )
        )
        db.session.flush()

    def visit(self, problem, result, at=None, relapse=False):
        if self.batch_id is None:
            batch = InspectionBatch(year=2026, seq=1, title="十一月暗访", method="random")
            db.session.add(batch)
            db.session.flush()
            self.batch_id = batch.id
        db.session.add(
            InspectionItem(
                batch_id=self.batch_id,
                problem_id=problem.id,
                unit_id=problem.unit_id,
                result=result,
                is_relapse=relapse,
                recorded_at=clock.parse(at) if at else None,
            )
        )
        db.session.flush()


@pytest.fixture
def november(app, make):
    """Two units' calls and visits around the period 2026-11-02..06 (Beijing time).

    UA: P1 closed 11-03 with records r1 (called, 满意), r2 (one unanswered try), r3 (anonymous, not
        due) and r10 (never called); P4 closed 11-06 23:30 with r9 (不满意 at 23:50); P2 closed 10-30
        with r4 (基本满意 at 11-02 00:10, inside) and r8 (满意 on 11-07, outside); P6 reopened by
        r12's 不满意 on 11-04 (no longer closed, its record waits with no state).
        Visits: pass 11-03, fail as a relapse 11-04, one still pending, a fail on 10-31 (outside).
    UB: r5 explained 11-05, three unanswered tries, the last on 11-06 (given up); P5 closed 11-02
        with r11 (never called) and r13 (不满意 on 11-05, put to the inspector); P3 closed 11-07
        00:30 (outside) with r6 (满意 on 11-07, outside).
        Visits: a fail (no relapse) on 11-05.
    """
    make.org()
    with app.app_context():
        rows = Rows(make)
        p1 = rows.problem("UA", closed="2026-11-03 10:00")
        r1, r2 = rows.record(p1, "done"), rows.record(p1, "due", tries=1)
        rows.record(p1, "anonymous")
        rows.record(p1, "due")
        rows.call(r1, "satisfied", "2026-11-04 09:00")
        rows.call(r2, "unreachable", "2026-11-04 09:30")
        p4 = rows.problem("UA", closed="2026-11-06 23:30")
        r9 = rows.record(p4, "done")
        rows.call(r9, "unsatisfied", "2026-11-06 23:50")
        p2 = rows.problem("UA", closed="2026-10-30 15:00")
        r4, r8 = rows.record(p2, "done"), rows.record(p2, "done")
        rows.call(r4, "basically_satisfied", "2026-11-02 00:10")
        rows.call(r8, "satisfied", "2026-11-07 09:00")
        r12 = rows.record(rows.problem("UA"), None)  # P6: closed 11-03, reopened by the call below
        rows.call(r12, "unsatisfied", "2026-11-04 10:00")
        rows.visit(p1, "pass", "2026-11-03 15:00")
        rows.visit(p2, "fail", "2026-11-04 11:00", relapse=True)
        rows.visit(p4, "pending")
        rows.visit(rows.problem("UA"), "fail", "2026-10-31 11:00")

        r5 = rows.record(None, "unreachable", unit="UB", explained="2026-11-05 08:00", tries=3)
        for attempt, at in enumerate(("2026-11-05 09:00", "2026-11-05 16:00", "2026-11-06 10:00"), start=1):
            rows.call(r5, "unreachable", at, attempt=attempt)
        r11 = rows.record(rows.problem("UB", closed="2026-11-02 12:00"), "due")
        r13 = rows.record(db.session.get(Problem, r11.problem_id), "done")
        rows.call(r13, "unsatisfied", "2026-11-05 11:00")  # put to the inspector: no reopen
        r6 = rows.record(rows.problem("UB", closed="2026-11-07 00:30"), "done")
        rows.call(r6, "satisfied", "2026-11-07 09:00")
        rows.visit(rows.problem("UB"), "fail", "2026-11-05 10:00")
        db.session.commit()
        return {"UA": unit_by_code("UA").id, "UB": unit_by_code("UB").id}


def _counts(f):
    return {k: v for k, v in f.as_dict().items() if not k.endswith("_rate")}


def test_figures_per_unit_count_only_what_happened_in_the_period(app_ctx, november):
    result = figures.by_unit(NOV_FROM, NOV_TO)
    assert set(result) == {november["UA"], november["UB"]}
    ua, ub = result[november["UA"]], result[november["UB"]]
    assert _counts(ua) == {
        # r1, r2, r10 of P1, r9 of P4, r4 and r12 (called in the period); not the anonymous r3, not r8
        "due": 6,
        "followed_up": 4,
        "reached": 4,
        "satisfied": 1,
        "basically_satisfied": 1,
        "unsatisfied": 2,
        "unreachable": 0,  # r2's one unanswered try is not the last
        "visits": 2,
        "passed": 1,
        "failed": 1,
        "relapses": 1,
    }
    assert ua.followup_rate == pytest.approx(4 / 6)
    assert ua.satisfaction_rate == pytest.approx(2 / 4)
    assert ua.pass_rate == pytest.approx(1 / 2)
    assert _counts(ub) == {
        "due": 3,  # the explained r5, P5's r11 and r13; not P3's r6 (closed on 11-07)
        "followed_up": 2,  # r13 reached, r5 given up on its third try (counted once)
        "reached": 1,
        "satisfied": 0,
        "basically_satisfied": 0,
        "unsatisfied": 1,
        "unreachable": 1,
        "visits": 1,
        "passed": 0,
        "failed": 1,
        "relapses": 0,
    }
    assert ub.followup_rate == pytest.approx(2 / 3)
    assert ub.satisfaction_rate == 0.0  # nobody satisfied is 0 %, not "—"
    assert ub.pass_rate == 0.0


def test_totals_add_up_every_unit_and_derive_the_rates_from_the_sums(app_ctx, november):
    total = figures.totals(NOV_FROM, NOV_TO)
    assert _counts(total) == {
        "due": 9,
        "followed_up": 6,
        "reached": 5,
        "satisfied": 1,
        "basically_satisfied": 1,
        "unsatisfied": 3,
        "unreachable": 1,
        "visits": 3,
        "passed": 1,
        "failed": 2,
        "relapses": 1,
    }
    assert total.followup_rate == pytest.approx(6 / 9)
    assert total.satisfaction_rate == pytest.approx(2 / 5)
    assert total.pass_rate == pytest.approx(1 / 3)


def test_the_period_is_in_local_days_both_ends_included(app_ctx, november):
    # 11-07 alone: r8's call at 09:00 (UA); P3 closed at 00:30 with r6, called at 09:00 (UB).
    day = figures.by_unit(date(2026, 11, 7), date(2026, 11, 7))
    assert [(f.due, f.reached, f.satisfied, f.visits) for f in day.values()] == [(1, 1, 1, 0), (1, 1, 1, 0)]
    # 11-01 (local) ends at 16:00 UTC: r4's call at 00:10 on 11-02 local is not in it.
    assert figures.by_unit(date(2026, 11, 1), date(2026, 11, 1)) == {}


def test_an_empty_period_has_no_rows_and_rates_of_none(app_ctx, november):
    assert figures.by_unit(date(2026, 1, 1), date(2026, 1, 31)) == {}
    total = figures.totals(date(2026, 1, 1), date(2026, 1, 31))
    assert set(_counts(total).values()) == {0}
    assert (total.followup_rate, total.satisfaction_rate, total.pass_rate) == (None, None, None)


def test_a_scope_limits_the_units_and_the_totals(app_ctx, november):
    only_ua = figures.by_unit(NOV_FROM, NOV_TO, {november["UA"]})
    assert set(only_ua) == {november["UA"]}
    assert figures.totals(NOV_FROM, NOV_TO, {november["UB"]}).due == 3
    assert figures.by_unit(NOV_FROM, NOV_TO, set()) == {}


def test_a_user_sees_the_figures_of_the_units_in_their_charge(app_ctx, november):
    leader = db.session.scalar(db.select(User).where(User.username == "leader"))  # SYS-A: UA and UA1
    unitb = db.session.scalar(db.select(User).where(User.username == "unitb"))
    inspector = db.session.scalar(db.select(User).where(User.username == "inspector"))
    assert set(figures.by_unit(NOV_FROM, NOV_TO, user=leader)) == {november["UA"]}
    assert set(figures.by_unit(NOV_FROM, NOV_TO, user=unitb)) == {november["UB"]}
    assert set(figures.by_unit(NOV_FROM, NOV_TO, user=inspector)) == {november["UA"], november["UB"]}
    # A scope and a user together: only the units in both.
    assert figures.by_unit(NOV_FROM, NOV_TO, {november["UA"]}, user=unitb) == {}
    assert figures.totals(NOV_FROM, NOV_TO, user=leader).due == 6


def test_figures_take_four_queries_however_many_units(app, make, november):
    with app.app_context():
        rows = Rows(make)
        for n in range(5):
            make.unit(f"UX{n}", parent="SYS-B")
        for n in range(5):
            rows.record(rows.problem(f"UX{n}", closed="2026-11-04 10:00"), "due")
        db.session.commit()
        statements = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            result = figures.by_unit(NOV_FROM, NOV_TO)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert len(result) == 7
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 4


def test_kinds_count_only_the_figures_asked_for_in_fewer_queries(app, november):
    with app.app_context():
        full = figures.by_unit(NOV_FROM, NOV_TO)
        statements = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            calls = figures.by_unit(NOV_FROM, NOV_TO, kinds=("calls",))
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        # the calls and the records given up on: two queries, not the union behind `due`
        assert len(statements) == 2 and not any("UNION" in s.upper() for s in statements)
        assert set(calls) == set(full)
        for unit_id, f in calls.items():
            whole = full[unit_id]
            assert (f.followed_up, f.reached, f.satisfied, f.basically_satisfied, f.unsatisfied, f.unreachable) == (
                whole.followed_up,
                whole.reached,
                whole.satisfied,
                whole.basically_satisfied,
                whole.unsatisfied,
                whole.unreachable,
            )
            assert f.satisfaction_rate == whole.satisfaction_rate
            assert (f.due, f.visits, f.followup_rate, f.pass_rate) == (0, 0, None, None)
        visits = figures.totals(NOV_FROM, NOV_TO, kinds=("visits",))
        assert _counts(visits) == {
            **{k: 0 for k in _counts(visits)},
            "visits": 3,
            "passed": 1,
            "failed": 2,
            "relapses": 1,
        }
        assert figures.totals(NOV_FROM, NOV_TO, kinds=("due",)).due == 9
        with pytest.raises(ValueError):
            figures.by_unit(NOV_FROM, NOV_TO, kinds=("call",))
