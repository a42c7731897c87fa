"""The one table of labels: every action the code writes has users' words, and events read as
plain Chinese lines (field：before → after, people by real name, codes through their label tables)."""

import ast
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from tracker.audit import labels, queries
from tracker.audit import services as audit
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger import services as ledger_services
from tracker.ledger.models import NoteKind, Problem
from tracker.workflow import services as workflow

TRACKER = Path(__file__).resolve().parents[2] / "tracker"


def _strings(node, resolve_fstring):
    """The action names NODE can evaluate to; raises AssertionError for a form not understood."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body, resolve_fstring) | _strings(node.orelse, resolve_fstring)
    if isinstance(node, ast.JoinedStr):
        return resolve_fstring(ast.unparse(node))
    raise AssertionError(f"cannot tell which action {ast.unparse(node)!r} names")


def _fstring_actions(source):
    """f-string action names, expanded over the tables they are built from."""
    expansions = {
        "f'problem.{action}'": {f"problem.{a}" for (_s, a) in workflow.TRANSITIONS},
        "f'problem.note_{kind}'": {f"problem.note_{k.value}" for k in NoteKind},
    }
    if source not in expansions:
        raise AssertionError(f"unknown dynamic action {source}: add its expansion to this test")
    return expansions[source]


def _functions(tree):
    return [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]


def _callee(call):
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def _action_exprs(func):
    """The expressions FUNC gives as an action: the second argument of audit.record(…) and the
    "action" of an event dict (audit.record_many takes a list of them)."""
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and _callee(node) == "record" and len(node.args) > 1:
            if isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value).startswith("audit"):
                yield node.args[1]
        elif isinstance(node, ast.Dict):
            keys = [getattr(k, "value", None) for k in node.keys]
            if "action" in keys and "object_type" in keys:
                yield node.values[keys.index("action")]


def _resolve(expr, func, passthrough, params):
    """Action names EXPR stands for inside FUNC: literals, conditionals, f-strings, local variables;
    a parameter makes FUNC a helper whose callers give the action (recorded in PASSTHROUGH); an
    attribute or item (`event.action`, `item["action"]`) copies an action named elsewhere."""
    if isinstance(expr, ast.Attribute | ast.Subscript):
        return set()
    if isinstance(expr, ast.Name):
        if expr.id in params:
            passthrough[func.name] = params.index(expr.id)
            return set()
        values = [
            a.value
            for a in ast.walk(func)
            if isinstance(a, ast.Assign) and any(getattr(t, "id", None) == expr.id for t in a.targets)
        ]
        assert values, f"cannot tell which action {expr.id!r} names in {func.name}()"
        return set().union(*(_strings(v, _fstring_actions) for v in values))
    return _strings(expr, _fstring_actions)


def code_actions() -> set[str]:
    """Every action name the code passes to audit.record / audit.record_many, directly or through a
    helper that takes the action as a parameter (like intake's _handled and _handled_event)."""
    functions = [f for path in TRACKER.rglob("*.py") for f in _functions(ast.parse(path.read_text(encoding="utf-8")))]
    actions, passthrough = set(), {}
    for func in functions:
        params = [a.arg for a in func.args.args]
        for expr in _action_exprs(func):
            actions |= _resolve(expr, func, passthrough, params)
    done = set()
    while set(passthrough) - done:  # helpers of helpers, until nothing new turns up
        for name in sorted(set(passthrough) - done):
            done.add(name)
            index = passthrough[name]
            for func in functions:
                params = [a.arg for a in func.args.args]
                for call in ast.walk(func):
                    if isinstance(call, ast.Call) and _callee(call) == name and len(call.args) > index:
                        actions |= _resolve(call.args[index], func, passthrough, params)
    return actions


def test_every_action_the_code_writes_has_a_label():
    actions = code_actions()
    # the walk itself works: direct calls, conditional names, f-strings and the _handled helper
    assert {"intake.create", "user.activate", "problem.approve", "problem.note_progress", "intake.explain"} <= actions
    assert {"intake.set_unit", "intake.quick_fix", "channel.aliases"} <= actions  # record_many and its helpers
    missing = sorted(a for a in actions if a not in labels.ACTION_LABELS)
    assert not missing, f"actions without a label in tracker/audit/labels.py: {missing}"


def test_actions_other_work_adds_have_labels_already():
    for action in ("intake.set_unit", "channel.update", "audit.verify"):
        assert action in labels.ACTION_LABELS


def test_workflow_transitions_read_as_their_buttons():
    for (_state, action), transition in workflow.TRANSITIONS.items():
        assert str(labels.ACTION_LABELS[f"problem.{action}"]) == transition.label


def test_an_unknown_action_reads_as_other_not_its_code():
    assert labels.action_label("something.new") == "其他操作"
    assert labels.object_label("thing") == "其他信息"


def _event(action, object_type="problem", object_id="ZG-2026-000001", before=None, after=None, actor=None, note=None):
    return AuditEvent(
        id=1,
        created_at=clock.now(),
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", None) or "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        note=note,
        prev_hash="0" * 64,
        hash="1" * 64,
    )


def test_field_changes_read_as_label_before_arrow_after(app_ctx):
    [view] = queries.describe(
        [_event("problem.extension_approved", before={"deadline": "2026-11-26"}, after={"deadline": "2026-12-03"})]
    )
    assert view.label == "同意延期"
    assert view.lines == ["完成时限：2026-11-26 → 2026-12-03"]


def test_codes_read_through_their_label_tables_and_booleans_as_yes_no(app_ctx):
    [transition, flag, record, unknown] = queries.describe(
        [
            _event(
                "problem.assign", before={"status": "new", "tier": None}, after={"status": "assigned", "tier": "red"}
            ),
            _event("unit.deactivate", "unit", "999", before={"is_active": True}, after={"is_active": False}),
            _event(
                "intake.explain", "intake_record", "999", before={"handling": "new"}, after={"handling": "explained"}
            ),
            _event("x.y", after={"weird_key": 1}),
        ]
    )
    assert transition.lines == ["状态：待交办 → 待签收", "分级：（无） → 红"]  # a field filled in later
    assert flag.lines == ["在用：是 → 否"]
    assert record.lines == ["处理方式：待处理 → 已解释说明"]
    assert unknown.label == "其他操作" and "weird_key" not in "".join(unknown.lines)


def test_an_import_batch_status_reads_as_words(app_ctx):
    [view] = queries.describe(
        [_event("intake.import", "import_batch", "1", after={"file": "a.csv", "status": "done", "created": 3})]
    )
    assert view.label == "批量导入反映件"
    assert "状态：已完成" in view.lines and not any("done" in line for line in view.lines)


def test_a_submission_reads_without_empty_counts(app_ctx):
    [view] = queries.describe(
        [
            _event(
                "problem.submit",
                before={"status": "in_progress"},
                after={"status": "submitted", "evidence": 2, "withdrawn_extension_requests": 0},
            )
        ]
    )
    assert view.label == "申请销号" and view.lines == ["状态：整改中 → 待审核", "佐证材料（件）：2"]


def test_ids_read_as_names_and_people_by_real_name(app_ctx, make):
    make.org()
    owner = db.session.scalar(select(User).where(User.username == "unita"))
    owner.name = "王小明"
    inspector = db.session.scalar(select(User).where(User.username == "inspector"))
    inspector.name = "李监察"
    db.session.flush()
    [view] = queries.describe(
        [
            _event(
                "problem.assign",
                actor=inspector,
                before={"unit_id": None},
                after={"unit_id": owner.unit_id, "owner_id": owner.id},
            )
        ]
    )
    assert view.lines == ["责任单位：（无） → 甲单位", "责任人：王小明"]
    assert (view.actor, view.actor_username) == ("李监察", "inspector")


def test_the_scheduler_reads_as_the_system(app_ctx):
    [view] = queries.describe([_event("notice.issue", after={"notice": "DB-2026-0001", "level": "reminder"})])
    assert view.actor == "系统（定时扫描）" and view.actor_username == ""
    assert view.label == "发出催办通知"
    assert "级别：催办" in view.lines


def test_names_take_one_query_per_kind_however_many_events(app_ctx, make):
    make.org()
    users = db.session.scalars(select(User)).all()

    def count_selects(n):
        events = [
            _event(
                "unit.update",
                "unit",
                str(users[i % len(users)].unit_id or 1),
                actor=users[i % len(users)],
                before={"parent_id": None},
                after={"parent_id": users[i % len(users)].unit_id, "user_id": users[(i + 1) % len(users)].id},
            )
            for i in range(n)
        ]
        seen = []

        def listen(conn, cursor, statement, *args):
            seen.append(statement)

        sa_event.listen(db.engine, "before_cursor_execute", listen)
        try:
            queries.describe(events)
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", listen)
        return len(seen)

    assert count_selects(60) == count_selects(3) <= 2


def test_a_workflow_run_writes_only_labelled_actions_and_fields(app, make):
    """Factories plus a working day on a problem: every action and every field it writes has words."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(
        title="希望延长开放时间",
        body="周末开放时间短。",
        assign={"tier": "blue", "leader": "leader", "tier_override_reason": "涉及多个部门"},
    )
    duplicate = make.record("DUP-1")
    with app.app_context():
        from tracker.alerts import services as alert_services
        from tracker.intake import services as intake_services
        from tracker.intake.models import IntakeRecord
        from tracker.org import services as org_services
        from tracker.org.models import Unit
        from tracker.settings import services as settings_services

        def user(name):
            return db.session.scalar(select(User).where(User.username == name))

        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        workflow.apply(problem, "accept", actor=user("unita"), expected_version=problem.version)
        ledger_services.add_note(problem, NoteKind.PROGRESS, "<p>已排查</p>", actor=user("unita"))
        ledger_services.tick_milestone(problem, problem.milestones[0].id, True, actor=user("unita"))
        request = ledger_services.request_extension(problem, "2026-11-30", "设备到货延迟", actor=user("unita"))
        ledger_services.decide_extension(problem, request.id, True, "同意", actor=user("inspector"))
        record = db.session.get(IntakeRecord, duplicate)
        intake_services.mark_duplicate(
            record, problem.intake_records[0].tracking_code, actor=user("inspector"), expected_version=record.version
        )
        intake_services.reveal_complainant(record, actor=user("inspector"))
        unit = db.session.scalar(select(Unit).where(Unit.code == "UA"))
        org_services.update_unit(unit, {**unit.audit_state(), "name": "甲单位（新）"}, actor=user("admin"))
        org_services.set_active(db.session.scalar(select(Unit).where(Unit.code == "UA1")), False, actor=user("admin"))
        settings_services.set_override(date(2026, 10, 10), "holiday", "测试", actor=user("admin"))
        settings_services.delete_override(date(2026, 10, 10), actor=user("admin"))
        form = {f"soon_{t}": "2" for t in alert_services.TIERS}
        form.update(
            {f"{lv}_{t}": str(i + 1) for t in alert_services.TIERS for i, lv in enumerate(alert_services.LEVELS)}
        )
        form.update({"accept_within_days": "1", "reply_days": "3"})
        alert_services.save_thresholds(form, actor=user("admin"))
        db.session.commit()

        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert audit.verify().ok
        actions = {e.action for e in events}
        assert {"problem.assign", "problem.extension_approved", "intake.duplicate", "settings.save"} <= actions
        assert not sorted(a for a in actions if a not in labels.ACTION_LABELS)
        keys = set()

        def walk(value):
            if isinstance(value, dict):
                for k, v in value.items():
                    keys.add(k)
                    walk(v)

        for e in events:
            walk(e.before)
            walk(e.after)
        assert not sorted(k for k in keys if k not in labels.FIELD_LABELS and k not in labels.HIDDEN_FIELDS)
        text = "\n".join(line for view in queries.describe(events) for line in [view.label, *view.lines])
        for code in ("problem.", "intake.", '{"', "[", "_id", "True", "False", "None"):
            assert code not in text


@pytest.mark.parametrize("reason", ["prev_hash does not match the previous event", "content does not match its hash"])
def test_chain_reasons_read_in_chinese(reason):
    assert labels.chain_reason(reason) and reason not in labels.chain_reason(reason)
