"""Follow-up calls (回访): who becomes due and when, the workbench, the audited phone reveal, the
outcomes (unreachable three times over working days, unsatisfied reopening or going to the
inspector), and every bad call refused with nothing half-recorded."""

from datetime import date

import pytest
from sqlalchemy import event, func, select

from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import calendar, clock
from tracker.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tracker.extensions import db
from tracker.intake import bulk
from tracker.intake import services as intake_services
from tracker.intake.models import Handling, IntakeRecord
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem, Status
from tracker.oversight import followups
from tracker.oversight.models import FollowUp
from tracker.settings.services import put_setting
from tracker.workflow import services as workflow

PHONE = "13800001234"


def user(name):
    return db.session.scalar(select(User).where(User.username == name))


def problem_of(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def record_of(record_id):
    db.session.expire_all()
    return db.session.get(IntakeRecord, record_id)


def act(app, number, action, actor, **details):
    with app.app_context():
        problem = problem_of(number)
        workflow.apply(problem, action, actor=user(actor), expected_version=problem.version, **details)
        db.session.commit()


def signed_off(app, make, tier="yellow", **record):
    """A problem of UA taken to 待审核 (submitted) with one record; returns (number, record id)."""
    record.setdefault("complainant_name", "王五")
    record.setdefault("complainant_phone", PHONE)
    number = make.problem(title="窗口服务态度差", assign={"tier": tier, "tier_override_reason": "按实际情况"}, **record)
    act(app, number, "accept", "unita")
    with app.app_context():
        ledger_services.waive_evidence(problem_of(number), actor=user("inspector"), reason="以现场查看为准")
        db.session.commit()
    act(app, number, "submit", "unita", report="<p>已约谈窗口人员并整改</p>")
    with app.app_context():
        record_id = problem_of(number).intake_records[0].id
    return number, record_id


def verify(app, number):
    """Record a passing verification visit (销号核查) in the batch the approval made."""
    from tracker.oversight import services as oversight

    with app.app_context():
        item = oversight.open_item_for(problem_of(number))
        data = {
            "problem": number,
            "visited_on": clock.today(),
            "way": "现场查看",
            "findings": "整改到位",
            "result": "pass",
        }
        oversight.record_visit(item.batch, data, actor=user("inspector"))
        db.session.commit()


def closed(app, make, **record):
    """A yellow problem closed by 审核通过 (no verification); returns (number, record id)."""
    number, record_id = signed_off(app, make, **record)
    act(app, number, "approve", "inspector", opinion="整改到位")
    return number, record_id


def explained(app, make, external_id, **extra):
    record_id = make.record(external_id, **extra)
    with app.app_context():
        intake_services.explain(
            db.session.get(IntakeRecord, record_id), "该诉求无政策依据，已当面解释。", actor=user("inspector")
        )
        db.session.commit()
    return record_id


@pytest.fixture
def world(app, make):
    make.org()
    make.user("inspector2", "inspector", name="第二检查员")  # verification visits need one who did not sign off
    clock.pin("2026-09-28T09:00:00")  # a Monday
    return app


# ---- becoming due ---------------------------------------------------------------------------------


def test_record_becomes_due_when_its_problem_closes_by_approval(world, make):
    number, record_id = signed_off(world, make)
    with world.app_context():
        assert record_of(record_id).followup_state is None  # not before the problem closes
    act(world, number, "approve", "inspector", opinion="整改到位")
    with world.app_context():
        record = record_of(record_id)
        assert (record.followup_state, record.followup_due_on, record.followup_tries) == ("due", date(2026, 9, 28), 0)


def test_record_of_a_verified_problem_becomes_due_on_verify_pass_not_on_approval(world, make):
    number, record_id = signed_off(world, make, tier="red")
    act(world, number, "approve", "inspector", opinion="整改到位")
    with world.app_context():
        assert problem_of(number).status == Status.VERIFYING
        assert record_of(record_id).followup_state is None
    verify(world, number)
    with world.app_context():
        assert problem_of(number).status == Status.CLOSED
        assert record_of(record_id).followup_state == "due"


def test_explained_record_becomes_due(world, make):
    record_id = explained(world, make, "E-1", complainant_name="赵六", complainant_phone=PHONE)
    with world.app_context():
        assert record_of(record_id).followup_state == "due"
        items, counts = followups.workbench(user("inspector"))
        assert [r.id for r in items] == [record_id] and counts["due"] == 1


def test_bulk_explain_marks_every_record_due_in_one_update(world, make):
    ids = [make.record(f"B-{i}", complainant_name="钱七", complainant_phone=PHONE) for i in range(12)]
    ids.append(make.record("B-anon", anonymous=True))
    with world.app_context():
        statements = []

        def count(conn, cursor, statement, parameters, context, executemany):
            if statement.startswith("UPDATE intake_records") and "followup_state" in statement:
                statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            result = bulk.bulk_apply("explain", actor=user("inspector"), ids=ids, explanation="无政策依据，已解释。")
            db.session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert result["done"] == 13
        assert len(statements) == 1
        states = dict(db.session.execute(select(IntakeRecord.id, IntakeRecord.followup_state)).all())
        assert [states[i] for i in ids] == ["due"] * 12 + ["anonymous"]


def test_anonymous_and_no_phone_records_are_skipped_and_counted_never_listed(world, make):
    due = explained(world, make, "S-1", complainant_name="孙八", complainant_phone=PHONE)
    anonymous = explained(world, make, "S-2", anonymous=True)
    no_phone = explained(world, make, "S-3", complainant_name="周九")
    with world.app_context():
        assert record_of(anonymous).followup_state == "anonymous"
        assert record_of(no_phone).followup_state == "no_phone"
        items, counts = followups.workbench(user("inspector"))
        assert [r.id for r in items] == [due]
        assert counts == {"due": 1, "anonymous": 1, "no_phone": 1, "unreachable": 0, "pending_decision": 0}


def test_record_excluded_by_an_upheld_appeal_is_not_called(world, make):
    number, record_id = signed_off(world, make)
    with world.app_context():
        db.session.get(IntakeRecord, record_id).is_excluded = True
        db.session.commit()
    act(world, number, "approve", "inspector", opinion="整改到位")
    with world.app_context():
        assert record_of(record_id).followup_state is None
        assert followups.workbench(user("inspector"))[1]["due"] == 0


def test_workbench_is_oldest_first_and_loads_problem_and_unit_without_a_query_per_row(world, make):
    first = closed(world, make)[1]
    clock.pin("2026-09-29T09:00:00")
    later = [closed(world, make)[1] for _ in range(3)]
    earlier_id_later_day = explained(world, make, "W-1", complainant_name="吴十", complainant_phone=PHONE)
    with world.app_context():
        db.session.expire_all()
        queries = []

        def seen_query(conn, cursor, statement, *args):
            queries.append(statement)

        event.listen(db.engine, "before_cursor_execute", seen_query)
        try:
            items, _counts = followups.workbench(user("inspector"), size=10)
            before = len(queries)
            seen = [
                (
                    r.tracking_code,
                    r.problem.number if r.problem else None,
                    (r.problem.unit if r.problem else r.unit).name,
                )
                for r in items
            ]
            assert len(queries) == before  # nothing loaded lazily
        finally:
            event.remove(db.engine, "before_cursor_execute", seen_query)
        assert [r.id for r in items] == [first, *later, earlier_id_later_day]
        assert seen[0][2] == "甲单位"


def test_workbench_pages_and_leaves_out_records_due_later(world, make):
    ids = [explained(world, make, f"P-{i}", complainant_name="郑一", complainant_phone=PHONE) for i in range(5)]
    with world.app_context():
        db.session.get(IntakeRecord, ids[0]).followup_due_on = date(2026, 9, 29)  # a retry tomorrow
        db.session.commit()
        inspector = user("inspector")
        page1, counts = followups.workbench(inspector, page=1, size=2)
        page2, _ = followups.workbench(inspector, page=2, size=2)
        after, _ = followups.workbench(inspector, size=2, after=(page1[-1].followup_due_on, page1[-1].id))
        assert counts["due"] == 4
        assert [r.id for r in page1 + page2] == ids[1:]
        assert [r.id for r in after] == [r.id for r in page2]


def test_workbench_query_walks_the_followup_index(world):
    with world.app_context():
        stmt = followups.due_query(date(2026, 9, 28)).limit(50)
        compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
        if db.engine.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in db.session.execute(db.text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "ix_intake_records_followup" in plan and "TEMP B-TREE" not in plan, plan
        else:
            db.session.execute(db.text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in db.session.execute(db.text(f"EXPLAIN {compiled}")))
            assert "ix_intake_records_followup" in plan and "Sort" not in plan, plan


def test_unit_user_and_leader_have_no_workbench(world):
    with world.app_context():
        for name in ("unita", "leader"):
            with pytest.raises(Forbidden):
                followups.workbench(user(name))


# ---- the phone ------------------------------------------------------------------------------------


def test_reveal_phone_gives_the_whole_number_and_is_audited_as_a_reveal_for_the_call(world, make):
    _number, record_id = closed(world, make)
    with world.app_context():
        record = db.session.get(IntakeRecord, record_id)
        assert followups.reveal_phone(record, actor=user("inspector")) == PHONE
        db.session.commit()
        event_ = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "intake.reveal"))
        assert event_.object_id == str(record_id) and event_.note == followups.REVEAL_NOTE
        assert PHONE not in str(event_.after) + str(event_.note)


def test_reveal_phone_only_for_callers(world, make):
    _number, record_id = closed(world, make)
    with world.app_context():
        record = db.session.get(IntakeRecord, record_id)
        for name in ("leader", "admin"):
            with pytest.raises(Forbidden):
                followups.reveal_phone(record, actor=user(name))
        with pytest.raises(NotFound):  # another unit's record: not even its existence
            followups.reveal_phone(record, actor=user("unitb"))
        assert (
            db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "intake.reveal"))
            == 0
        )


def test_record_with_no_phone_gives_a_clear_message(world, make):
    record_id = make.record("N-1", complainant_name="冯二")
    with world.app_context():
        with pytest.raises(ValidationFailed) as failed:
            followups.reveal_phone(db.session.get(IntakeRecord, record_id), actor=user("inspector"))
        assert failed.value.message == "该反映件没有联系电话，无法回访。"


# ---- the call -------------------------------------------------------------------------------------


def test_satisfied_call_is_recorded_with_unit_and_problem_and_audited(world, make):
    number, record_id = closed(world, make)
    with world.app_context():
        record = db.session.get(IntakeRecord, record_id)
        call = followups.record_call(record, "satisfied", "对整改结果满意", actor=user("inspector"))
        db.session.commit()
        record = record_of(record_id)
        call = db.session.get(FollowUp, call.id)
        assert (call.attempt, call.outcome, call.problem.number, call.unit.code) == (1, "satisfied", number, "UA")
        assert (record.followup_state, record.followup_tries) == ("done", 1)
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "followup.call"))
        assert audit.object_type == "intake_record" and audit.object_id == str(record_id)
        assert audit.after["result"] == "满意"
        assert followups.workbench(user("inspector"))[0] == []
        with pytest.raises(Conflict, match="已回访"):
            followups.record_call(record, "satisfied", "", actor=user("inspector"))


def test_unreachable_comes_back_on_the_next_working_day_and_stops_after_three_tries(world, make):
    clock.pin("2026-09-29T09:00:00")  # Tuesday
    _number, record_id = closed(world, make)
    inspector_name = "inspector"
    with world.app_context():
        record = db.session.get(IntakeRecord, record_id)
        followups.record_call(record, "unreachable", "无人接听", actor=user(inspector_name))
        db.session.commit()
        record = record_of(record_id)
        assert (record.followup_state, record.followup_tries, record.followup_due_on) == ("due", 1, date(2026, 9, 30))
        with pytest.raises(Conflict, match="今天已拨打过.*2026-09-30"):
            followups.record_call(record, "unreachable", "", actor=user(inspector_name))
        assert followups.workbench(user(inspector_name))[1]["due"] == 0
    clock.pin("2026-09-30T09:00:00")  # Wednesday; 10-01…10-07 are the National Day holiday
    with world.app_context():
        followups.record_call(record_of(record_id), "unreachable", "", actor=user(inspector_name))
        db.session.commit()
        record = record_of(record_id)
        assert record.followup_due_on == calendar.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    clock.pin("2026-10-08T09:00:00")
    with world.app_context():
        call = followups.record_call(record_of(record_id), "unreachable", "关机", actor=user(inspector_name))
        db.session.commit()
        record = record_of(record_id)
        assert (call.attempt, record.followup_state, record.followup_tries) == (3, "unreachable", 3)
        counts = followups.counts()
        assert (counts["due"], counts["unreachable"]) == (0, 1)
        assert [r.id for r in followups.unreachable_records(user(inspector_name))] == [record_id]
        with pytest.raises(Conflict, match="3 次无法联系"):
            followups.record_call(record, "satisfied", "", actor=user(inspector_name))


def test_unsatisfied_reopens_the_problem_with_the_setting_reopen_and_is_due_again_when_it_closes(world, make):
    number, record_id = closed(world, make)
    with world.app_context():
        followups.record_call(
            db.session.get(IntakeRecord, record_id), "unsatisfied", "窗口仍然推诿", actor=user("inspector")
        )
        db.session.commit()
        problem = problem_of(number)
        assert (problem.status, problem.reopen_count) == (Status.IN_PROGRESS, 1)
        reopen = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "problem.reopen"))
        assert reopen.note == "回访不满意：窗口仍然推诿"
        record = record_of(record_id)
        assert record.followup_state is None
        assert db.session.scalar(select(FollowUp.decision)) is None
    clock.pin("2026-10-12T09:00:00")
    with world.app_context():
        ledger_services.waive_evidence(problem_of(number), actor=user("inspector"), reason="以现场查看为准")
        db.session.commit()
    act(world, number, "submit", "unita", report="<p>再次整改</p>")
    act(world, number, "approve", "inspector", opinion="整改到位")  # reopened: verification required
    verify(world, number)
    with world.app_context():
        record = record_of(record_id)
        assert (record.followup_state, record.followup_due_on, record.followup_tries) == ("due", date(2026, 10, 12), 0)


def test_reopen_by_another_finding_takes_back_the_calls_not_made(world, make):
    number, record_id = closed(world, make)
    act(world, number, "reopen", "inspector", reason="暗访发现问题反弹")
    with world.app_context():
        assert record_of(record_id).followup_state is None
        assert followups.counts()["due"] == 0


def test_unsatisfied_goes_to_the_inspector_with_the_setting_inspector_then_reopen(world, make):
    number, record_id = closed(world, make)
    with world.app_context():
        put_setting("followup", {"unsatisfied": "inspector"}, actor=user("admin"))
        call = followups.record_call(
            db.session.get(IntakeRecord, record_id), "unsatisfied", "仍有推诿", actor=user("inspector")
        )
        db.session.commit()
        assert problem_of(number).status == Status.CLOSED
        assert call.decision == "pending" and followups.counts()["pending_decision"] == 1
        assert [f.id for f in followups.pending_decisions(user("inspector"))] == [call.id]
        with pytest.raises(Forbidden):
            followups.decide(call, True, "", actor=user("admin"))
        followups.decide(db.session.get(FollowUp, call.id), True, "情况属实", actor=user("inspector"))
        db.session.commit()
        problem = problem_of(number)
        assert problem.status == Status.IN_PROGRESS
        reopen = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "problem.reopen"))
        assert reopen.note == "回访不满意：仍有推诿；研判意见：情况属实"
        call = db.session.get(FollowUp, call.id)
        assert (call.decision, call.decided_by.username) == ("reopened", "inspector")
        assert record_of(record_id).followup_state is None
        with pytest.raises(Conflict, match="已研判"):
            followups.decide(call, False, "维持", actor=user("inspector"))
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "followup.decide")
            )
            == 1
        )


def test_inspector_keeps_the_problem_closed_with_a_note(world, make):
    number, record_id = closed(world, make)
    with world.app_context():
        put_setting("followup", {"unsatisfied": "inspector"}, actor=user("admin"))
        call = followups.record_call(
            db.session.get(IntakeRecord, record_id), "unsatisfied", "要求赔偿", actor=user("inspector")
        )
        db.session.commit()
        with pytest.raises(ValidationFailed, match="研判意见"):
            followups.decide(call, False, "  ", actor=user("inspector"))
        db.session.rollback()
        followups.decide(db.session.get(FollowUp, call.id), False, "诉求超出整改范围，已解释", actor=user("inspector"))
        db.session.commit()
        assert problem_of(number).status == Status.CLOSED
        assert db.session.get(FollowUp, call.id).decision == "kept"
        assert record_of(record_id).followup_state == "done"
        assert followups.counts()["pending_decision"] == 0


def test_unsatisfied_explained_record_goes_to_the_inspector_and_reopen_sends_it_back_to_the_inbox(world, make):
    record_id = explained(world, make, "X-1", complainant_name="陈三", complainant_phone=PHONE)
    with world.app_context():
        call = followups.record_call(
            db.session.get(IntakeRecord, record_id), "unsatisfied", "不接受解释", actor=user("inspector")
        )
        db.session.commit()
        assert call.decision == "pending"  # no problem to reopen, whatever the setting
        followups.decide(db.session.get(FollowUp, call.id), True, "", actor=user("inspector"))
        db.session.commit()
        record = record_of(record_id)
        assert (record.handling, record.followup_state) == (Handling.NEW, None)


def test_bad_calls_are_refused_and_nothing_is_written(world, make):
    _number, record_id = closed(world, make)
    pending = make.record("NOT-DUE", complainant_name="褚四", complainant_phone=PHONE)
    with world.app_context():
        record = db.session.get(IntakeRecord, record_id)
        with pytest.raises(ValidationFailed) as failed:
            followups.record_call(record, "angry", "", actor=user("inspector"))
        assert "满意、基本满意、不满意、无法联系" in failed.value.message
        with pytest.raises(ValidationFailed, match="不满意的原因"):
            followups.record_call(record, "unsatisfied", "", actor=user("inspector"))
        with pytest.raises(Conflict, match="还不到回访"):
            followups.record_call(db.session.get(IntakeRecord, pending), "satisfied", "", actor=user("inspector"))
        with pytest.raises(Forbidden):
            followups.record_call(record, "satisfied", "", actor=user("leader"))
        with pytest.raises(NotFound):
            followups.record_call(record, "satisfied", "", actor=user("unitb"))
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(FollowUp)) == 0
        assert (
            db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "followup.call"))
            == 0
        )
        assert record_of(record_id).followup_state == "due"


def test_a_failed_reopen_leaves_no_call_behind(world, make):
    number, record_id = closed(world, make)
    with world.app_context():
        record = db.session.get(IntakeRecord, record_id)
        problem = problem_of(number)
        # Someone reopened the problem meanwhile (in another transaction): the call's reopen is stale.
        db.session.execute(
            db.update(Problem).where(Problem.id == problem.id).values(version=Problem.version + 1),
            execution_options={"synchronize_session": False},
        )
        with pytest.raises(Conflict):
            followups.record_call(record, "unsatisfied", "仍然推诿", actor=user("inspector"))
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(FollowUp)) == 0
        assert record_of(record_id).followup_state == "due"


def test_admin_sets_the_unsatisfied_rule_and_a_bad_value_is_refused(world):
    with world.app_context():
        assert followups.unsatisfied_rule() == "reopen"
        followups.save_settings("inspector", actor=user("admin"))
        db.session.commit()
        assert followups.unsatisfied_rule() == "inspector"
        with pytest.raises(ValidationFailed):
            followups.save_settings("ignore", actor=user("admin"))
        with pytest.raises(Forbidden):
            followups.save_settings("reopen", actor=user("inspector"))
