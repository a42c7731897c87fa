"""Covert re-inspection: batches by method (sweep, random, targeted), 双随机 with 回避, re-drawing from
the seed, visits and what they do to the problem, verification of approved red problems, and what
a unit may never see."""

import io

import pytest
from sqlalchemy import func, select, update

from tests.conftest import login
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock
from tracker.core.errors import Conflict, ValidationFailed
from tracker.extensions import db
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem
from tracker.oversight import services
from tracker.oversight.models import InspectionBatch, InspectionItem
from tracker.workflow import services as workflow

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
POOL = ["inspector", "insp2", "insp3", "insp4", "insp5"]


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _do(number, action, actor, **details):
    problem = _problem(number)
    workflow.apply(problem, action, actor=_user(actor), expected_version=problem.version, **details)


def _close(number, approver="insp2"):
    """Accept, submit and approve (a yellow or blue problem closes; a red one goes to verifying)."""
    _do(number, "accept", "unita")
    ledger_services.waive_evidence(_problem(number), actor=_user("inspector"), reason="测试")
    _do(number, "submit", "unita", report="<p>已整改</p>")
    _do(number, "approve", approver, opinion="整改到位")


@pytest.fixture
def org(app, make):
    make.org()
    for name in POOL[1:]:
        make.user(name, "inspector", name=f"检查员{name[-1]}")
    clock.pin("2026-11-02T09:00:00")
    return make


@pytest.fixture
def ledger(app, org):
    """Twelve problems of UA (eight), its sub-unit UA1 (two) and UB (two), all assigned by
    "inspector"; plus one new and one withdrawn problem of UA that no batch may draw."""
    numbers = {"UA": [], "UA1": [], "UB": []}
    for unit, count in (("UA", 8), ("UA1", 2), ("UB", 2)):
        for k in range(count):
            assign = {"tier": "yellow"}
            if unit == "UA1":
                org.user(f"ua1user{k}", "unit", unit="UA1") if k == 0 else None
                assign["owner"] = "ua1user0"
            numbers[unit].append(org.problem(unit=unit, title=f"{unit} 问题 {k}", assign=assign))
    numbers["new"] = org.problem(unit="UA", title="待交办")
    withdrawn = org.problem(unit="UA", title="已撤销")
    with app.app_context():
        _do(withdrawn, "withdraw", "inspector", withdraw_reason="重复", reason="重复")
        db.session.commit()
    numbers["withdrawn"] = withdrawn
    return numbers


def _numbers(batch):
    return [n for n, _people in batch.drawn]


def _batch_and_items(batch_id):
    batch = db.session.get(InspectionBatch, batch_id)
    return batch, services.batch_rows(batch)


# ---- drawing ---------------------------------------------------------------------------------------


def test_sweep_takes_every_assigned_problem_of_the_unit_and_its_sub_units(app_ctx, ledger):
    batch = services.create_batch({"method": "sweep", "filter": {"unit_code": "UA"}}, actor=_user("inspector"))
    assert sorted(_numbers(batch)) == sorted(ledger["UA"] + ledger["UA1"])
    assert ledger["new"] not in _numbers(batch) and ledger["withdrawn"] not in _numbers(batch)
    assert (batch.population, batch.item_count, batch.done_count, batch.status) == (10, 10, 0, "open")
    assert batch.number == "暗访〔2026〕1号"
    second = services.create_batch({"method": "sweep", "filter": {"unit_code": "UB"}}, actor=_user("inspector"))
    assert second.number == "暗访〔2026〕2号" and sorted(_numbers(second)) == sorted(ledger["UB"])


def test_sweep_filters_by_status_tier_category_and_closing_period(app_ctx, ledger):
    _close(ledger["UA"][0])
    clock.pin("2026-11-10T09:00:00")
    _close(ledger["UA"][1])
    inspector = _user("inspector")
    closed = services.create_batch({"method": "sweep", "filter": {"status": "closed"}}, actor=inspector)
    assert sorted(_numbers(closed)) == sorted(ledger["UA"][:2])
    period = {"closed_from": "2026-11-01", "closed_to": "2026-11-05"}
    early = services.create_batch({"method": "sweep", "filter": period}, actor=inspector)
    assert _numbers(early) == [ledger["UA"][0]]
    assert services.preview({"method": "sweep", "filter": {"tier": "yellow"}}) == {"population": 12, "sample": 12}
    with pytest.raises(ValidationFailed) as bad:
        services.preview({"method": "sweep", "filter": {"closed_from": "2026-11-09", "closed_to": "2026-11-01"}})
    assert "filter.closed_to" in bad.value.fields


def test_random_draws_the_percentage_rounded_up_and_records_the_seed(app_ctx, ledger):
    batch = services.create_batch({"method": "random", "sample_percent": 20, "seed": 4242}, actor=_user("inspector"))
    assert (batch.population, batch.item_count, batch.seed, batch.sample_percent) == (12, 3, 4242, 20.0)  # ceil(2.4)
    by_size = services.create_batch({"method": "random", "sample_size": 5}, actor=_user("inspector"))
    assert by_size.item_count == 5 and isinstance(by_size.seed, int)  # chosen when absent, and kept


def test_the_same_plan_over_the_same_population_draws_the_same_problems_and_inspectors(app_ctx, ledger):
    plan = {
        "method": "random",
        "sample_percent": 50,
        "seed": 20261202,
        "double_random": True,
        "inspectors": ["insp5", "insp2", "insp3", "inspector", "insp4"],  # order does not matter
        "per_problem": 2,
    }
    first = services.create_batch(plan, actor=_user("inspector"))
    second = services.create_batch({**plan, "inspectors": sorted(plan["inspectors"])}, actor=_user("insp2"))
    assert first.drawn == second.drawn and len(first.drawn) == 6
    assert all(len(people) == 2 for _n, people in first.drawn)
    other = services.create_batch({**plan, "seed": 7}, actor=_user("inspector"))
    assert other.drawn != first.drawn
    again = services.redraw(first)
    assert again["same"] is True and again["population"] == 12 and again["drawn"] == again["expected"]
    assert all(len(row["inspectors"]) == 2 for row in again["drawn"])


def test_a_redraw_says_so_when_the_population_changed(app_ctx, ledger, org):
    batch = services.create_batch({"method": "random", "sample_size": 4, "seed": 99}, actor=_user("inspector"))
    db.session.commit()
    org.problem(unit="UB", title="后来交办的问题", assign={"tier": "yellow"})
    result = services.redraw(batch)
    assert result["population"] == 13 and result["same"] is False


def test_draw_is_pure_and_deterministic():
    population = list(range(1, 1001))
    pool = [11, 12, 13, 14]
    avoid = {pid: {11} for pid in population}
    one = services.draw(population, 50, 123, pool, 2, avoid)
    assert one == services.draw(population, 50, 123, pool, 2, avoid)
    assert len(one) == 50 and len({pid for pid, _people in one}) == 50
    assert all(11 not in people and len(set(people)) == 2 for _pid, people in one)
    assert [pid for pid, _people in one] == sorted(pid for pid, _people in one)
    with pytest.raises(services.PoolTooSmall):
        services.draw(population, 5, 1, [11, 12], 2, avoid)


def test_double_random_never_sends_who_assigned_or_signed_off_the_problem(app_ctx, ledger):
    for number in ledger["UA"][:4]:
        _close(number, approver="insp2")
    inspector = _user("inspector")
    for seed in range(5):
        batch = services.create_batch(
            {
                "method": "sweep",
                "filter": {"status": "closed"},
                "double_random": True,
                "inspectors": POOL,
                "seed": seed,
            },
            actor=inspector,
        )
        barred = {_user("inspector").id, _user("insp2").id}
        assert all(not (set(people) & barred) and len(people) == 2 for _n, people in batch.drawn)


def test_double_random_without_a_pool_draws_from_every_active_inspector(app_ctx, ledger):
    batch = services.create_batch(
        {"method": "random", "sample_size": 3, "double_random": True, "per_problem": 1}, actor=_user("inspector")
    )
    assert batch.inspector_pool == sorted(_user(n).id for n in POOL)
    assert all(len(people) == 1 and _user("inspector").id not in people for _n, people in batch.drawn)


def test_without_double_random_every_named_inspector_goes_to_every_problem(app_ctx, ledger):
    batch = services.create_batch(
        {"method": "targeted", "problems": ledger["UB"], "inspectors": ["insp3", "insp4"]}, actor=_user("inspector")
    )
    ids = sorted([_user("insp3").id, _user("insp4").id])
    assert [sorted(people) for _n, people in batch.drawn] == [ids, ids]


def test_targeted_takes_the_problems_named_and_refuses_unknown_or_unassigned_ones(app_ctx, ledger):
    batch = services.create_batch(
        {"method": "targeted", "problems": [ledger["UB"][1], ledger["UA"][3].lower(), ledger["UB"][1]]},
        actor=_user("inspector"),
    )
    assert sorted(_numbers(batch)) == sorted([ledger["UB"][1], ledger["UA"][3]]) and batch.population == 2
    with pytest.raises(ValidationFailed, match="不存在") as unknown:
        services.create_batch({"method": "targeted", "problems": ["ZG-2026-999999"]}, actor=_user("inspector"))
    assert "problems" in unknown.value.fields
    with pytest.raises(ValidationFailed, match="尚未交办或已撤销"):
        services.create_batch({"method": "targeted", "problems": [ledger["new"]]}, actor=_user("inspector"))


# ---- bad input for batches -------------------------------------------------------------------------


def _batches():
    return db.session.scalar(select(func.count()).select_from(InspectionBatch))


def test_a_filter_matching_nothing_is_refused_in_chinese_and_saves_nothing(app_ctx, ledger):
    with pytest.raises(ValidationFailed, match="没有符合筛选条件的问题") as failure:
        services.create_batch({"method": "sweep", "filter": {"category": "不存在的分类"}}, actor=_user("inspector"))
    assert "filter" in failure.value.fields and _batches() == 0


def test_a_sample_larger_than_the_population_is_refused(app_ctx, ledger):
    with pytest.raises(ValidationFailed, match=r"抽取数量（13）大于符合条件的问题数（12）") as failure:
        services.create_batch({"method": "random", "sample_size": 13}, actor=_user("inspector"))
    assert "sample_size" in failure.value.fields and _batches() == 0


def test_an_inspector_pool_too_small_after_avoidance_is_refused(app_ctx, ledger):
    with pytest.raises(ValidationFailed, match="检查人员不足") as failure:
        services.create_batch(
            {"method": "sweep", "double_random": True, "inspectors": ["inspector", "insp2"], "per_problem": 2},
            actor=_user("inspector"),
        )
    assert "inspectors" in failure.value.fields and "回避" in failure.value.message and _batches() == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"method": "lottery"}, "method"),
        ({"method": "random"}, "sample_size"),
        ({"method": "random", "sample_size": 2, "sample_percent": 10}, "sample_size"),
        ({"method": "random", "sample_percent": 0}, "sample_percent"),
        ({"method": "random", "sample_percent": 150}, "sample_percent"),
        ({"method": "random", "sample_size": -3}, "sample_size"),
        ({"method": "random", "sample_size": 2, "seed": -1}, "seed"),
        ({"method": "sweep", "filter": {"unit_code": "NOPE"}}, "filter.unit_code"),
        ({"method": "sweep", "filter": {"tier": "green"}}, "filter.tier"),
        ({"method": "sweep", "filter": {"status": "new"}}, "filter.status"),
        ({"method": "sweep", "filter": {"closed_from": "2026-13-01"}}, "filter.closed_from"),
        ({"method": "sweep", "filter": {"colour": "red"}}, "filter.colour"),
        ({"method": "sweep", "inspectors": ["unita"]}, "inspectors"),
        ({"method": "sweep", "per_problem": 0, "double_random": True}, "per_problem"),
        ({"method": "targeted", "problems": []}, "problems"),
    ],
)
def test_each_bad_plan_names_its_field(app_ctx, ledger, data, field):
    with pytest.raises(ValidationFailed) as failure:
        services.create_batch(data, actor=_user("inspector"))
    assert field in failure.value.fields, failure.value.fields
    assert all(
        any("\u4e00" <= c <= "\u9fff" for c in m) for m in [failure.value.message, *failure.value.fields.values()]
    )


def test_only_inspectors_make_batches(app_ctx, ledger):
    from tracker.core.errors import Forbidden

    for name in ("admin", "leader", "unita"):
        with pytest.raises(Forbidden):
            services.create_batch({"method": "sweep"}, actor=_user(name))


# ---- covert until recorded -------------------------------------------------------------------------


def test_making_a_batch_leaves_no_trace_on_its_problems(app_ctx, ledger):
    versions = dict(db.session.execute(select(Problem.number, Problem.version)).all())
    events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "problem"))
    batch = services.create_batch(
        {"method": "random", "sample_size": 6, "double_random": True, "per_problem": 1}, actor=_user("inspector")
    )
    db.session.commit()
    assert dict(db.session.execute(select(Problem.number, Problem.version)).all()) == versions
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "problem"))
        == events
    )
    made = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "inspection.create")).all()
    assert [(e.object_type, e.object_id) for e in made] == [("inspection_batch", batch.number)]


def test_get_batch_is_not_found_for_anyone_without_inspection_view(app_ctx, ledger):
    from tracker.core.errors import NotFound

    batch = services.create_batch({"method": "sweep", "filter": {"unit_code": "UA"}}, actor=_user("inspector"))
    assert services.get_batch(batch.id, _user("admin")) is batch
    for name in ("unita", "leader"):
        with pytest.raises(NotFound) as hidden:
            services.get_batch(batch.id, _user(name))
        with pytest.raises(NotFound) as missing:
            services.get_batch(batch.id + 100, _user("inspector"))
        assert hidden.value.message == missing.value.message


def test_batch_rows_load_everything_without_a_query_per_row(app_ctx, ledger):
    from sqlalchemy import event

    batch = services.create_batch(
        {"method": "sweep", "double_random": True, "per_problem": 2, "inspectors": POOL[1:]}, actor=_user("inspector")
    )
    db.session.commit()
    db.session.expire_all()
    batch = db.session.get(InspectionBatch, batch.id)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        items = services.batch_rows(batch)
        cells = [(i.problem.number, i.unit.name, [u.name for u in i.inspectors], len(i.photos)) for i in items]
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(cells) == 12 and all(len(names) == 2 for _n, _u, names, _p in cells)
    assert len(statements) <= 6


# ---- visits ----------------------------------------------------------------------------------------


def _visit(batch, number, result="fail", **extra):
    data = {
        "problem": number,
        "visited_on": "2026-11-02",
        "way": "模拟办事",
        "findings": "窗口仍然推诿，群众反映问题依旧",
        "result": result,
        **extra,
    }
    return services.record_visit(batch, data, actor=_user("inspector"))


@pytest.fixture
def closed_batch(app_ctx, ledger):
    """Two closed problems of UA (approved by insp2), in a 双随机 batch."""
    for number in ledger["UA"][:2]:
        _close(number, approver="insp2")
    batch = services.create_batch(
        {"method": "sweep", "filter": {"status": "closed"}, "double_random": True, "inspectors": POOL, "seed": 5},
        actor=_user("inspector"),
    )
    db.session.commit()
    return batch, ledger


def test_a_failed_visit_on_a_closed_problem_is_a_relapse_back_with_its_unit(closed_batch):
    batch, ledger = closed_batch
    number = ledger["UA"][0]
    item = _visit(batch, number, "fail")
    db.session.commit()
    problem = _problem(number)
    assert problem.status == "in_progress" and problem.closed_at is None
    assert (problem.relapse_count, problem.reopen_count) == (1, 0)
    assert item.is_relapse and item.status_before == "closed" and item.result == "fail"
    assert batch.done_count == 1 and batch.status == "open"
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == number, AuditEvent.action == "problem.reopen")
    ).one()
    assert event.after["via"] == "inspection" and event.note == "窗口仍然推诿，群众反映问题依旧"


def test_the_batch_is_done_when_every_item_is_recorded(closed_batch):
    batch, ledger = closed_batch
    _visit(batch, ledger["UA"][0], "pass", findings="")
    _visit(batch, ledger["UA"][1], "fail")
    db.session.commit()
    assert (batch.status, batch.done_count, batch.item_count) == ("done", 2, 2) and batch.finished_at is not None
    finish = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "inspection.finish")).one()
    assert (finish.object_type, finish.object_id, finish.after["fail"]) == ("inspection_batch", batch.number, 1)
    assert _problem(ledger["UA"][0]).status == "closed"  # a pass on a closed problem changes nothing


def test_a_visit_on_a_problem_not_in_the_batch_is_refused(closed_batch):
    batch, ledger = closed_batch
    with pytest.raises(ValidationFailed, match="该问题不在本批次中。") as failure:
        _visit(batch, ledger["UB"][0])
    assert "problem" in failure.value.fields
    with pytest.raises(ValidationFailed, match="该问题不在本批次中。"):
        _visit(batch, "ZG-2026-999999")


def test_a_visit_recorded_twice_is_a_conflict(closed_batch):
    batch, ledger = closed_batch
    _visit(batch, ledger["UA"][0], "pass")
    db.session.commit()
    with pytest.raises(Conflict):
        _visit(batch, ledger["UA"][0], "fail")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"result": "maybe"}, "result"),
        ({"way": "打电话"}, "way"),
        ({"visited_on": "2026-11-31"}, "visited_on"),
        ({"visited_on": "2026-11-05"}, "visited_on"),  # later than today
        ({"visited_on": "2026-10-01"}, "visited_on"),  # before the batch was made
        ({"visited_on": None}, "visited_on"),
        ({"findings": ""}, "findings"),  # a fail says what was found
        ({"inspectors": ["insp2"]}, "inspectors"),  # signed it off: 回避
        ({"inspectors": ["unita"]}, "inspectors"),
    ],
)
def test_a_bad_visit_names_its_field_and_records_nothing(closed_batch, extra, field):
    batch, ledger = closed_batch
    number = ledger["UA"][0]
    version = _problem(number).version
    with pytest.raises(ValidationFailed) as failure:
        _visit(batch, number, **{"result": "fail", **extra})
    db.session.rollback()
    assert field in failure.value.fields, failure.value.fields
    item = db.session.scalars(select(InspectionItem).where(InspectionItem.batch_id == batch.id)).first()
    assert item.result == "pending" and _problem(number).version == version
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("inspection.v%")))
        == 0
    )


def test_a_stale_item_version_is_a_conflict_and_nothing_changes(closed_batch):
    batch, ledger = closed_batch
    with pytest.raises(Conflict):
        _visit(batch, ledger["UA"][0], version=99)
    db.session.rollback()
    assert _problem(ledger["UA"][0]).status == "closed"


def test_a_failed_visit_on_a_submitted_problem_sends_it_back_as_rework(app_ctx, ledger):
    number = ledger["UB"][0]
    _do(number, "accept", "unitb")
    ledger_services.waive_evidence(_problem(number), actor=_user("inspector"), reason="测试")
    _do(number, "submit", "unitb", report="<p>已整改</p>")
    batch = services.create_batch(
        {"method": "targeted", "problems": [number], "inspectors": ["insp3"]}, actor=_user("inspector")
    )
    _visit(batch, number, "fail")
    problem = _problem(number)
    assert (problem.status, problem.rework_count, problem.relapse_count) == ("in_progress", 1, 0)


def test_a_failed_visit_on_a_problem_in_progress_puts_the_findings_on_its_timeline(app_ctx, ledger):
    number = ledger["UB"][0]
    _do(number, "accept", "unitb")
    batch = services.create_batch(
        {"method": "targeted", "problems": [number], "inspectors": ["insp3"]}, actor=_user("inspector")
    )
    _visit(batch, number, "fail")
    assert _problem(number).status == "in_progress"
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "problem", AuditEvent.action == "inspection.visit")
    ).one()
    assert event.object_id == number and event.note == "窗口仍然推诿，群众反映问题依旧"


def _files():
    folder = services.photo_folder()
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_a_visit_with_photos_keeps_them_under_the_inspections_folder(closed_batch, app):
    batch, ledger = closed_batch
    before = _files()
    item = _visit(batch, ledger["UA"][0], "fail", photos=[(io.BytesIO(PNG), "现场.png")])
    db.session.commit()
    [photo] = item.photos
    path = services.photo_path(photo)
    assert path.parent.name == "inspections" and path.read_bytes() == PNG and photo.stored_name != "现场.png"
    assert len(photo.sha256) == 64 and photo.content_type == "image/png"
    second = _visit(batch, ledger["UA"][1], "pass")
    with pytest.raises(ValidationFailed, match="文件类型"):
        services.add_photo(second, io.BytesIO(b"<html>not a photo</html>"), "x.jpg", actor=_user("inspector"))
    with pytest.raises(ValidationFailed, match="空"):
        services.add_photo(second, io.BytesIO(b""), "x.png", actor=_user("inspector"))
    app.config["EVIDENCE_MAX_BYTES"], limit = 10, app.config["EVIDENCE_MAX_BYTES"]
    try:
        with pytest.raises(ValidationFailed, match="上限"):
            services.add_photo(second, io.BytesIO(PNG), "x.png", actor=_user("inspector"))
    finally:
        app.config["EVIDENCE_MAX_BYTES"] = limit
    assert _files() - before == {photo.stored_name}


def test_a_visit_whose_photo_is_refused_records_nothing_and_leaves_no_file(closed_batch):
    batch, ledger = closed_batch
    before = _files()
    with pytest.raises(ValidationFailed):
        _visit(batch, ledger["UA"][0], "fail", photos=[(io.BytesIO(PNG), "a.png"), (io.BytesIO(b"MZ\x90"), "b.png")])
    db.session.rollback()
    assert _problem(ledger["UA"][0]).status == "closed"
    assert _files() == before


# ---- verification of approved red problems ---------------------------------------------------------


@pytest.fixture
def red(app_ctx, org):
    number = org.problem(title="燃气管道安全隐患", body="燃气管道锈蚀。", assign={"tier": "red"})
    _close(number, approver="insp2")
    db.session.commit()
    return number


def _verification(number):
    return db.session.scalars(select(InspectionBatch).where(InspectionBatch.is_verification.is_(True))).one()


def test_approving_a_red_problem_makes_a_verification_batch_with_avoidance(red):
    problem = _problem(red)
    assert problem.status == "verifying" and problem.approved_by_id == _user("insp2").id
    batch = _verification(red)
    [item] = services.batch_rows(batch)
    assert batch.method == "targeted" and batch.title == f"销号核查：{red}" and item.problem.number == red
    assert len(item.inspector_ids) == 2
    assert not set(item.inspector_ids) & {_user("inspector").id, _user("insp2").id}
    assert services.open_item_for(problem).id == item.id
    assert workflow.allowed_actions(problem, _user("inspector")) == []  # no 核查 buttons any more


def test_a_passed_verification_visit_closes_the_problem_signed_off_by_the_approver(red):
    batch = _verification(red)
    _visit(batch, red, "pass", findings="管道已更换，现场无异味")
    problem = _problem(red)
    assert problem.status == "closed" and problem.closed_at is not None
    assert problem.closed_by_id == _user("insp2").id
    assert batch.status == "done" and services.open_item_for(problem) is None


def test_a_failed_verification_visit_sends_it_back_as_rework_and_the_next_approval_verifies_again(red):
    _visit(_verification(red), red, "fail")
    problem = _problem(red)
    assert (problem.status, problem.rework_count, problem.relapse_count) == ("in_progress", 1, 0)
    ledger_services.waive_evidence(problem, actor=_user("inspector"), reason="测试")
    _do(red, "submit", "unita", report="<p>再次整改</p>")
    _do(red, "approve", "insp3", opinion="整改到位")
    assert _problem(red).status == "verifying"
    batches = db.session.scalars(select(InspectionBatch).where(InspectionBatch.is_verification.is_(True))).all()
    assert len(batches) == 2 and batches[1].status == "open"


def test_verification_needs_no_inspector_to_spare(app_ctx, make):
    """One inspector only, who assigned and approved: the batch is made with nobody sent yet."""
    make.org()
    clock.pin("2026-11-02T09:00:00")
    number = make.problem(title="燃气管道安全隐患", assign={"tier": "red"})
    _close(number, approver="inspector")
    batch = _verification(number)
    assert services.batch_rows(batch)[0].inspector_ids == [] and _problem(number).status == "verifying"


def test_an_approved_problem_already_waiting_for_a_visit_gets_no_second_batch(app_ctx, org):
    number = org.problem(title="燃气管道安全隐患", assign={"tier": "red"})
    services.create_batch({"method": "targeted", "problems": [number]}, actor=_user("inspector"))
    _close(number, approver="insp2")
    assert db.session.scalar(select(func.count()).select_from(InspectionBatch)) == 1


def test_verify_pass_and_fail_are_refused_without_a_visit(red):
    problem = _problem(red)
    for action, extra in (("verify_pass", {}), ("verify_fail", {"reason": "未整改"})):
        with pytest.raises(ValidationFailed, match="暗访复查"):
            workflow.apply(problem, action, actor=_user("insp3"), expected_version=problem.version, **extra)
        with pytest.raises(ValidationFailed):  # a forged visit from a form or a JSON body is no visit
            workflow.apply(
                problem, action, actor=_user("insp3"), expected_version=problem.version, visit={"item_id": 1}, **extra
            )
    assert _problem(red).status == "verifying"


# ---- what the unit sees ----------------------------------------------------------------------------


def _closed_batch_outside(app, org):
    """closed_batch for tests that use the client (no app context held while requests run)."""
    with app.app_context():
        numbers = [org.problem(unit="UA", title=f"甲问题 {k}", assign={"tier": "yellow"}) for k in range(2)]
        for number in numbers:
            _close(number, approver="insp2")
        batch = services.create_batch(
            {"method": "sweep", "filter": {"status": "closed"}, "double_random": True, "inspectors": POOL},
            actor=_user("inspector"),
        )
        db.session.commit()
        return batch.id, batch.number, numbers


def test_the_unit_sees_the_result_and_findings_but_not_who_visited(app, org):
    batch_id, batch_number, numbers = _closed_batch_outside(app, org)
    number = numbers[0]
    with app.app_context():
        batch = db.session.get(InspectionBatch, batch_id)
        item = _visit(batch, number, "fail", inspectors=["insp3", "insp4"], photos=[(io.BytesIO(PNG), "现场.png")])
        stored = item.photos[0].stored_name
        db.session.commit()
        names = [_user("insp3").name, _user("insp4").name]
    client = app.test_client()
    login(client, "unita")
    html = client.get(f"/ledger/{number}").get_data(as_text=True)
    timeline = html.split('id="timeline"', 1)[-1]
    assert "暗访复查组" in timeline and "窗口仍然推诿，群众反映问题依旧" in timeline
    assert not any(name in html for name in names) and "insp3" not in html and "insp4" not in html
    assert batch_number not in html and stored not in html and "现场.png" not in html
    staff = app.test_client()
    login(staff, "inspector")
    timeline = staff.get(f"/ledger/{number}").get_data(as_text=True).split('id="timeline"', 1)[-1]
    assert "暗访复查组" not in timeline  # inspectors see who recorded it


def test_nothing_the_unit_reads_names_an_open_batch(app, org):
    batch_id, batch_number, numbers = _closed_batch_outside(app, org)
    client = app.test_client()
    login(client, "unita")
    for path in ("/", f"/ledger/{numbers[0]}", "/ledger", "/inbox"):
        html = client.get(path).get_data(as_text=True)
        assert batch_number not in html and "暗访" not in html, path


def test_every_new_audit_field_has_a_label():
    from tracker.audit import labels

    for name in ("population", "seed", "inspector_ids", "relapse_count", "way", "visited_on", "method", "filter"):
        assert name in labels.FIELD_LABELS
    assert "via" in labels.HIDDEN_FIELDS


def test_the_batch_audit_reads_in_words(app_ctx, ledger):
    from tracker.audit import queries as audit_queries

    batch = services.create_batch(
        {"method": "random", "sample_size": 2, "seed": 77, "double_random": True, "per_problem": 1},
        actor=_user("inspector"),
    )
    [view] = audit_queries.describe(audit_queries.events_of("inspection_batch", batch.number), viewer=None)
    text = "\n".join(view.lines)
    assert "抽查方式：随机式" in text and "随机种子：77" in text and "random" not in text
    assert _user("insp2").name in text  # the pool by name


def test_problems_in_a_batch_keep_their_rows_untouched_by_updates_elsewhere(app_ctx, ledger):
    """The items keep the unit the problem was with when drawn, for the reports."""
    batch = services.create_batch({"method": "targeted", "problems": [ledger["UB"][0]]}, actor=_user("inspector"))
    db.session.execute(update(Problem).where(Problem.number == ledger["UB"][0]).values(category="环境保护"))
    [item] = services.batch_rows(batch)
    assert item.unit.code == "UB"
