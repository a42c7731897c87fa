"""Bulk handling of intake records: each action, skip reasons, all or nothing per record, scope,
select-all-by-filter, the confirmation step, audit events per record, clusters."""

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_from, login
from tracker.audit import services as audit
from tracker.audit.models import AuditEvent
from tracker.core.errors import Conflict, Forbidden, ValidationFailed
from tracker.extensions import db
from tracker.intake import bulk, clusters, queries
from tracker.intake.models import Handling, IntakeRecord
from tracker.ledger.models import Problem

SIMILAR = [
    ("小区夜间施工噪音扰民", "幸福小区旁边的工地每天晚上十一点以后还在施工，噪音很大，严重影响居民休息。"),
    ("小区夜间施工噪音大", "幸福小区旁边工地每天晚上十一点后仍在施工，噪音很大，影响居民休息，希望处理。"),
    ("工地夜间施工扰民", "幸福小区附近的工地每天晚上十一点以后还在施工，噪音非常大，居民无法休息。"),
]
OTHER = ("医院挂号难", "县人民医院专家号一号难求，黄牛倒卖号源，请求整治。")


def _user(name):
    from tracker.auth.models import User

    return db.session.scalar(select(User).where(User.username == name))


def _records(make, count, unit="UA", prefix="B", **extra):
    return [make.record(f"{prefix}-{n}", unit=unit, title=f"反映事项 {prefix}{n}", **extra) for n in range(count)]


def _record(record_id):
    db.session.expire_all()
    return db.session.get(IntakeRecord, record_id)


def _events(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


# ---- each action ---------------------------------------------------------------------------------


def test_merge_puts_every_record_behind_one_new_problem_with_an_event_each(app_ctx, make):
    make.org()
    ids = _records(make, 3)
    result = bulk.bulk_apply("merge", actor=_user("inspector"), ids=ids, title="窗口服务问题集中反映")
    db.session.flush()
    assert result["done"] == 3 and result["skipped"] == []
    problem = db.session.scalar(select(Problem).where(Problem.number == result["problem"]))
    assert problem.title == "窗口服务问题集中反映" and problem.status == "new"
    assert sorted(r.id for r in problem.intake_records) == sorted(ids)
    assert {_record(i).handling for i in ids} == {Handling.RECTIFY}
    assert _record(ids[0]).handled_by.username == "inspector" and _record(ids[0]).version == 2
    rectified = _events("intake.rectify")
    assert sorted(int(e.object_id) for e in rectified) == sorted(ids)
    assert all(e.after == {"handling": "rectify", "problem": problem.number} for e in rectified)
    (created,) = _events("problem.create")
    assert created.after["intake_ids"] == ids and created.object_id == problem.number
    assert audit.verify().ok


def test_merge_without_a_title_takes_the_earliest_records(app_ctx, make):
    make.org()
    late = make.record("M-2", title="后来的", received_at="2026-09-26 10:00")
    early = make.record("M-1", title="最早的", received_at="2026-09-20 10:00", category="窗口服务")
    result = bulk.bulk_apply("merge", actor=_user("inspector"), ids=[late, early])
    problem = db.session.scalar(select(Problem).where(Problem.number == result["problem"]))
    assert problem.title == "最早的" and problem.category == "窗口服务"


def test_to_problem_makes_one_problem_each_numbered_consecutively(app_ctx, make):
    make.org()
    ids = _records(make, 4)
    result = bulk.bulk_apply("to_problem", actor=_user("inspector"), ids=ids)
    assert result["done"] == 4 and len(result["problems"]) == 4
    serials = [int(n.rsplit("-", 1)[1]) for n in result["problems"]]
    assert serials == list(range(serials[0], serials[0] + 4))
    for record_id, number in zip(ids, result["problems"], strict=True):
        record = _record(record_id)
        assert record.handling == Handling.RECTIFY and record.problem.number == number
        assert record.problem.title == record.title and record.problem.description == record.body
        assert record.problem.unit.code == "UA" and not record.problem.is_quick_fix
    assert len(_events("problem.create")) == 4 and len(_events("intake.rectify")) == 4
    # The next single problem continues the numbering.
    db.session.commit()
    single = make.problem()
    assert int(single.rsplit("-", 1)[1]) == serials[-1] + 1
    assert audit.verify().ok


def test_quick_fix_flags_each_problem(app_ctx, make):
    make.org()
    ids = _records(make, 2)
    result = bulk.bulk_apply("quick_fix", actor=_user("inspector"), ids=ids)
    assert result["done"] == 2
    for record_id in ids:
        record = _record(record_id)
        assert record.handling == Handling.QUICK_FIX and record.problem.is_quick_fix
    assert [int(e.object_id) for e in _events("intake.quick_fix")] == ids


def test_explain_records_one_explanation_for_all_and_creates_no_problem(app_ctx, make):
    make.org()
    ids = _records(make, 3)
    with pytest.raises(ValidationFailed) as failed:
        bulk.bulk_apply("explain", actor=_user("inspector"), ids=ids, explanation="好")
    assert "explanation" in failed.value.fields
    result = bulk.bulk_apply(
        "explain", actor=_user("inspector"), ids=ids, explanation="经核实，该诉求无政策依据，已向反映人解释。"
    )
    assert result["done"] == 3
    assert {_record(i).explanation for i in ids} == {"经核实，该诉求无政策依据，已向反映人解释。"}
    assert {_record(i).handling for i in ids} == {Handling.EXPLAINED}
    assert db.session.scalar(select(func.count()).select_from(Problem)) == 0
    assert len(_events("intake.explain")) == 3


def test_duplicate_joins_the_records_to_an_open_problem(app_ctx, make):
    make.org()
    number = make.problem()
    original = db.session.scalar(select(Problem).where(Problem.number == number)).intake_records[0].id
    ids = _records(make, 2)
    for bad, field in ((None, "problem"), ("ZG-2099-999999", "problem"), (["x"], "problem")):
        with pytest.raises(ValidationFailed) as failed:
            bulk.bulk_apply("duplicate", actor=_user("inspector"), ids=ids, problem=bad)
        assert field in failed.value.fields
    result = bulk.bulk_apply("duplicate", actor=_user("inspector"), ids=ids, problem=number.lower())
    assert result == {"done": 2, "problem": number, "skipped": []}
    problem = db.session.scalar(select(Problem).where(Problem.number == number))
    assert len(problem.intake_records) == 3
    for record_id in ids:
        record = _record(record_id)
        assert record.handling == Handling.DUPLICATE and record.duplicate_of_id == original
    assert len(_events("problem.attach_record")) == 2 and len(_events("intake.duplicate")) == 2


def test_duplicate_of_a_closed_problem_is_refused(app_ctx, make):
    make.org()
    number = make.problem()
    problem = db.session.scalar(select(Problem).where(Problem.number == number))
    problem.status = "closed"
    db.session.commit()
    with pytest.raises(ValidationFailed) as failed:
        bulk.bulk_apply("duplicate", actor=_user("inspector"), ids=_records(make, 1), problem=number)
    assert "已办结" in failed.value.message and "problem" in failed.value.fields


def test_set_unit_moves_new_records_and_skips_those_already_there(app_ctx, make):
    make.org()
    in_ua = _records(make, 2, unit="UA")
    in_ub = _records(make, 1, unit="UB", prefix="C")
    with pytest.raises(ValidationFailed) as failed:
        bulk.bulk_apply("set_unit", actor=_user("inspector"), ids=in_ua, unit_code="NOPE")
    assert "unit_code" in failed.value.fields
    result = bulk.bulk_apply("set_unit", actor=_user("inspector"), ids=in_ua + in_ub, unit_code="UB")
    assert result["done"] == 2 and result["skipped"] == [{"id": in_ub[0], "reason": "已属该单位"}]
    assert {_record(i).unit.code for i in in_ua + in_ub} == {"UB"}
    assert {_record(i).handling for i in in_ua} == {Handling.NEW}
    events = _events("intake.set_unit")
    ua, ub = _user("unita").unit_id, _user("unitb").unit_id
    assert [(e.before, e.after) for e in events] == [({"unit_id": ua}, {"unit_id": ub})] * 2


# ---- skips, all or nothing, scope ----------------------------------------------------------------


def test_handled_missing_and_appealed_records_are_skipped_with_the_reason(app_ctx, make):
    from tracker.intake import services

    make.org()
    fresh, handled, appealed = _records(make, 3)
    services.explain(_record(handled), "经核实无政策依据。", actor=_user("inspector"))
    services.file_appeal(_record(appealed), "该评价系误评，请复核。", actor=_user("unita"))
    db.session.commit()
    result = bulk.bulk_apply("to_problem", actor=_user("inspector"), ids=[fresh, handled, appealed, 99999, fresh])
    assert result["done"] == 1
    assert result["skipped"] == [
        {"id": 99999, "reason": "不存在或无权处理"},
        {"id": handled, "reason": "已处理（已解释说明）"},
        {"id": appealed, "reason": "申诉待复核，须先复核申诉"},
    ]
    # The skipped records are untouched: no problem, no version bump, no event.
    assert _record(handled).problem_id is None and _record(handled).version == 2
    assert _record(appealed).handling == Handling.APPEAL_PENDING
    assert [int(e.object_id) for e in _events("intake.rectify")] == [fresh]


def test_a_record_handled_meanwhile_fails_the_whole_claim_and_changes_nothing(app_ctx, make):
    from tracker.intake import services

    make.org()
    ids = _records(make, 3)
    services.explain(_record(ids[1]), "经核实无政策依据。", actor=_user("inspector"))
    db.session.commit()
    with pytest.raises(Conflict):
        bulk._claim(ids, {"handling": Handling.RECTIFY})
    db.session.rollback()
    assert [_record(i).handling for i in ids] == [Handling.NEW, Handling.EXPLAINED, Handling.NEW]


@pytest.mark.parametrize("username", ["leader", "unita", "admin"])
def test_only_inspectors_handle_in_bulk(app_ctx, make, username):
    make.org()
    ids = _records(make, 2)
    with pytest.raises(Forbidden):
        bulk.bulk_apply("explain", actor=_user(username), ids=ids, explanation="经核实无政策依据。")
    with pytest.raises(Forbidden):
        bulk.plan("to_problem", actor=_user(username), ids=ids)
    assert {_record(i).handling for i in ids} == {Handling.NEW}


def test_bad_action_and_ids_are_refused_naming_the_field(app_ctx, make):
    make.org()
    with pytest.raises(ValidationFailed) as failed:
        bulk.bulk_apply("delete", actor=_user("inspector"), ids=[1])
    assert "action" in failed.value.fields
    for ids in ([], "1,2", [1, "2"], [True], [2**64]):
        with pytest.raises(ValidationFailed) as failed:
            bulk.bulk_apply("to_problem", actor=_user("inspector"), ids=ids)
        assert "ids" in failed.value.fields


# ---- selecting by filter -------------------------------------------------------------------------


def test_select_all_by_filter_takes_every_matching_record_beyond_one_page(app_ctx, make):
    make.org()
    app_ctx.config["PAGE_SIZE"] = 5
    try:
        wanted = _records(make, 12, unit="UA")
        others = _records(make, 3, unit="UB", prefix="C")
        flt = queries.InboxFilter.from_args({"unit": str(_user("unita").unit_id)})
        chosen = bulk.plan("explain", actor=_user("inspector"), flt=flt)
        assert chosen.selected == 12 and sorted(chosen.eligible) == sorted(wanted)
        result = bulk.bulk_apply("explain", actor=_user("inspector"), flt=flt, explanation="统一答复：已纳入计划。")
        assert result["done"] == 12
        assert {_record(i).handling for i in others} == {Handling.NEW}
    finally:
        app_ctx.config["PAGE_SIZE"] = 50


def test_filter_selection_stops_at_what_was_confirmed(app_ctx, make):
    make.org()
    seen = _records(make, 3)
    flt = queries.InboxFilter.from_args({})
    upto = bulk.plan("to_problem", actor=_user("inspector"), flt=flt).last_id
    later = make.record("LATE-1")
    result = bulk.bulk_apply("to_problem", actor=_user("inspector"), flt=flt, upto_id=upto)
    assert result["done"] == 3 and _record(later).handling == Handling.NEW
    assert {_record(i).handling for i in seen} == {Handling.RECTIFY}


def test_filter_from_json_names_bad_keys(app_ctx, make):
    make.org()
    with pytest.raises(ValidationFailed) as failed:
        bulk.filter_from_json({"kind": "表扬", "colour": "red", "unit_code": "NOPE", "q": ["x"]})
    assert set(failed.value.fields) == {"filter.kind", "filter.colour", "filter.unit_code", "filter.q"}
    flt = bulk.filter_from_json({"unit_code": "UA", "handling": "all"})
    assert flt.unit_id == _user("unita").unit_id and flt.handling == "all"


# ---- the audit chain -----------------------------------------------------------------------------


def test_bulk_events_chain_with_single_events_and_audit_verify_passes(app, make):
    from tracker.intake import services

    make.org()
    ids = _records(make, 5)
    with app.app_context():
        inspector = _user("inspector")
        services.explain(_record(ids[0]), "经核实无政策依据。", actor=inspector)  # a single event first
        bulk.bulk_apply("to_problem", actor=inspector, ids=ids[1:3])
        services.rectify(_record(ids[3]), actor=inspector)  # and one after, in the same transaction
        db.session.commit()
        bulk.bulk_apply("merge", actor=inspector, ids=ids)
        db.session.commit()
        assert audit.verify().ok
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


# ---- the pages -----------------------------------------------------------------------------------


def _post(client, path, data, page="/intake/"):
    return client.post(path, data={**data, "csrf_token": csrf_from(client, page)})


def test_inbox_offers_checkboxes_and_select_all_matching_to_inspectors_only(app, client, make, monkeypatch):
    make.org()
    monkeypatch.setitem(app.config, "PAGE_SIZE", 5)
    _records(make, 7)
    login(client, "inspector")
    html = client.get("/intake/").get_data(as_text=True)
    assert html.count('name="ids"') == 5 and "data-bulk-all" in html
    assert "选择全部 7 条符合筛选条件的记录" in html and "合并为一个问题" in html and "设置责任单位" in html
    other = app.test_client()
    login(other, "unita")
    html = other.get("/intake/").get_data(as_text=True)
    assert 'name="ids"' not in html and "bulk-form" not in html


def test_the_confirmation_step_shows_counts_and_skips_and_changes_nothing(app, client, make):
    from tracker.intake import services

    make.org()
    ids = _records(make, 3)
    with app.app_context():
        services.explain(db.session.get(IntakeRecord, ids[2]), "经核实无政策依据。", actor=_user("inspector"))
        db.session.commit()
    login(client, "inspector")
    response = _post(client, "/intake/bulk", {"action": "to_problem", "ids": ids})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "批量处理：确认" in html
    assert '<div class="stat-value" id="count-selected">3</div>' in html
    assert '<div class="stat-value" id="count-eligible">2</div>' in html
    assert '<div class="stat-value" id="count-skipped">1</div>' in html
    assert "已处理（已解释说明）" in html and "每件反映件各生成台账上的一个问题" in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Problem)) == 0
        assert (
            db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "intake.rectify"))
            == 0
        )


def test_confirming_a_merge_makes_the_problem_and_opens_it(app, client, make):
    make.org()
    ids = _records(make, 3)
    login(client, "inspector")
    response = _post(client, "/intake/bulk/apply", {"action": "merge", "ids": ids, "title": "集中反映的窗口问题"})
    assert response.status_code == 302 and "/ledger/ZG-" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "集中反映的窗口问题" in page and "已处理 3 件" in page
    with app.app_context():
        assert {db.session.get(IntakeRecord, i).handling for i in ids} == {Handling.RECTIFY}


def test_a_missing_explanation_keeps_the_confirmation_page_with_the_field_marked(app, client, make):
    make.org()
    ids = _records(make, 2)
    login(client, "inspector")
    response = _post(client, "/intake/bulk/apply", {"action": "explain", "ids": ids, "explanation": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "请填写解释说明" in html and 'name="explanation"' in html
    with app.app_context():
        assert {db.session.get(IntakeRecord, i).handling for i in ids} == {Handling.NEW}


def test_select_all_matching_the_filter_from_the_pages(app, client, make, monkeypatch):
    make.org()
    monkeypatch.setitem(app.config, "PAGE_SIZE", 5)
    wanted = _records(make, 8, unit="UA")
    others = _records(make, 2, unit="UB", prefix="C")
    login(client, "inspector")
    with app.app_context():
        unit_id = _user("unita").unit_id
    selection = {"select": "filter", "filter": f"unit={unit_id}&handling=new", "action": "set_unit"}
    html = _post(client, "/intake/bulk", selection).get_data(as_text=True)
    assert '<div class="stat-value" id="count-eligible">8</div>' in html
    upto = int(html.split('name="upto" value="')[1].split('"')[0])
    response = _post(client, "/intake/bulk/apply", {**selection, "upto": upto, "unit_code": "UB"})
    assert response.status_code == 302 and f"unit={unit_id}" in response.headers["Location"]
    with app.app_context():
        assert {db.session.get(IntakeRecord, i).unit.code for i in wanted + others} == {"UB"}
        assert len(_events("intake.set_unit")) == 8


@pytest.mark.parametrize("username", ["unita", "leader"])
def test_unit_users_and_leaders_cannot_post_bulk_actions(app, client, make, username):
    make.org()
    ids = _records(make, 2)
    login(client, username)
    assert _post(client, "/intake/bulk", {"action": "to_problem", "ids": ids}).status_code == 403
    assert _post(client, "/intake/bulk/apply", {"action": "to_problem", "ids": ids}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Problem)) == 0


# ---- clusters ------------------------------------------------------------------------------------


def _similar(make, unit="UA", days=(1, 3, 5), prefix="S"):
    return [
        make.record(f"{prefix}-{n}", unit=unit, title=title, body=body, received_at=f"2026-09-{day:02d} 10:00")
        for n, ((title, body), day) in enumerate(zip(SIMILAR, days, strict=True))
    ]


def test_clusters_group_similar_records_of_one_unit_within_the_window_largest_first(app_ctx, make):
    make.org()
    three = _similar(make)
    pair = [
        make.record("H-1", title=OTHER[0], body=OTHER[1], received_at="2026-09-10 10:00"),
        make.record("H-2", title=OTHER[0], body=OTHER[1] + "多次反映未解决。", received_at="2026-09-12 10:00"),
    ]
    make.record("H-3", unit="UB", title=OTHER[0], body=OTHER[1], received_at="2026-09-11 10:00")  # another unit
    make.record("H-4", title=OTHER[0], body=OTHER[1], received_at="2026-11-20 10:00")  # too late
    make.record("X-1", title="道路积水", body="暴雨后幸福路积水严重，车辆无法通行。", received_at="2026-09-02 10:00")
    found = clusters.find(_user("inspector"))
    assert [sorted(m.id for m in c.members) for c in found] == [sorted(three), sorted(pair)]
    assert found[0].unit_name == "甲单位" and found[0].score >= 60


def test_clusters_are_exactly_the_records_similar_to_their_seed(app_ctx, make):
    make.org()
    texts = [*SIMILAR, OTHER, (OTHER[0], OTHER[1] + "请尽快处理。"), ("医院挂号难", "挂号难，黄牛多。")]
    ids = [
        make.record(f"E-{n}", title=t, body=b, received_at=f"2026-09-{n + 1:02d} 10:00")
        for n, (t, b) in enumerate(texts)
    ]
    records = [db.session.get(IntakeRecord, i) for i in ids]  # in time order
    seeds = {}  # brute force with the inbox's similarity: join the most similar earlier seed
    for record in records:
        scores = [
            (queries.similarity(record, seed), seed.id)
            for seed in map(db.session.get, [IntakeRecord] * len(seeds), seeds)
        ]
        scores = [pair for pair in scores if pair[0] >= queries.SIMILARITY_THRESHOLD]
        if scores:
            seeds[max(scores)[1]].add(record.id)
        else:
            seeds[record.id] = {record.id}
    expected = {frozenset(g) for g in seeds.values() if len(g) > 1}
    assert len(expected) == 2
    assert {frozenset(m.id for m in c.members) for c in clusters.find(_user("inspector"))} == expected


def test_a_chain_of_look_alikes_does_not_become_one_cluster(app_ctx, make):
    make.org()
    chain = [
        "甲乙丙丁戊己庚辛壬癸子丑寅卯",
        "丙丁戊己庚辛壬癸子丑寅卯辰巳",
        "戊己庚辛壬癸子丑寅卯辰巳午未",
        "庚辛壬癸子丑寅卯辰巳午未申酉",
    ]
    ids = [
        make.record(f"C-{n}", title=title, body=body, received_at=f"2026-09-{n + 1:02d} 10:00")
        for n, (title, body) in enumerate(zip("东南西北", chain, strict=True))
    ]
    records = [db.session.get(IntakeRecord, i) for i in ids]
    assert all(queries.similarity(a, b) >= 60 for a, b in zip(records, records[1:], strict=False))
    assert queries.similarity(records[0], records[3]) < 60  # but the ends are not alike
    assert [sorted(m.id for m in c.members) for c in clusters.find(_user("inspector"))] == [ids[:3]]


def test_clusters_page_merges_a_cluster_through_the_confirmation_step(app, client, make):
    make.org()
    three = _similar(make)
    login(client, "inspector")
    html = client.get("/intake/clusters").get_data(as_text=True)
    assert "1 组类案，涉及 3 件反映件" in html and "合并为一个问题" in html
    html = _post(client, "/intake/bulk", {"action": "merge", "ids": three}, "/intake/clusters").get_data(as_text=True)
    assert '<div class="stat-value" id="count-eligible">3</div>' in html
    response = _post(client, "/intake/bulk/apply", {"action": "merge", "ids": three}, "/intake/clusters")
    number = response.headers["Location"].rsplit("/", 1)[1]
    html = client.get("/intake/clusters").get_data(as_text=True)  # no unhandled records left
    assert "没有发现相似的反映件" in html
    with app.app_context():
        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        assert sorted(r.id for r in problem.intake_records) == sorted(three)


def test_a_cluster_with_a_record_on_an_open_problem_offers_to_join_it(app, client, make):
    make.org()
    number = make.problem(title=SIMILAR[0][0], body=SIMILAR[0][1])
    make.record("J-1", title=SIMILAR[1][0], body=SIMILAR[1][1])
    login(client, "inspector")
    html = client.get("/intake/clusters").get_data(as_text=True)
    assert f"并入 {number}（标记为重复）" in html


def test_clusters_need_the_handling_permission(app, client, make):
    make.org()
    login(client, "unita")
    assert client.get("/intake/clusters").status_code == 403


def test_an_import_shows_its_clusters_when_done(app, client, make, tmp_path):
    import json

    from tests.intake.helpers import row, write_csv

    make.org()
    rows = [
        row(f"IMP-{n}", 标题=title, 内容=body, 受理时间=f"2026-09-0{n + 1} 10:00")
        for n, (title, body) in enumerate(SIMILAR)
    ]
    rows.append(row("IMP-9", 标题=OTHER[0], 内容=OTHER[1]))
    out = app.test_cli_runner().invoke(args=["intake", "import", str(write_csv(tmp_path / "in.csv", rows)), "--json"])
    batch_id = json.loads(out.output.strip().splitlines()[-1])["batch"]
    login(client, "inspector")
    page = client.get(f"/intake/imports/{batch_id}").get_data(as_text=True)
    assert f"/intake/clusters?batch={batch_id}" in page and 'hx-trigger="load"' in page
    fragment = client.get(f"/intake/clusters?batch={batch_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "本次导入发现 1 组类案，涉及 3 件反映件" in fragment and "合并为一个问题" in fragment
    full = client.get(f"/intake/clusters?batch={batch_id}").get_data(as_text=True)
    assert "导入：in.csv" in full and "1 组类案，涉及 3 件反映件" in full


def test_real_message_board_data_gives_small_sensible_clusters_and_one_merges(app):
    import json
    from pathlib import Path

    from tracker.intake import imports

    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "complaints_zh.csv"
    if not data.is_file():
        pytest.skip("../shared/data is not beside the repository")
    mapping = {"external_id": "source_id", "received_at": "received_at", "title": "title", "body": "body"}
    with app.app_context():
        imports.save_profile("留言板", {**mapping, "category": "category"}, {"channel": "网络问政"}, actor=None)
        db.session.commit()
    out = app.test_cli_runner().invoke(args=["intake", "import", str(data), "--profile", "留言板", "--json"])
    batch_id = json.loads(out.output.strip().splitlines()[-1])["batch"]
    from tests.conftest import Factory

    Factory(app).user("inspector", "inspector")
    with app.app_context():
        found = clusters.find(_user("inspector"), batch_id=batch_id)
        # 4,173 messages: a few dozen groups of re-posted messages, none of them huge.
        assert 40 <= len(found) <= 150 and max(c.size for c in found) <= 6
        for cluster in found[:10]:  # each member really is like its seed
            seed = db.session.get(IntakeRecord, cluster.members[0].id)
            for member in cluster.members[1:]:
                assert queries.similarity(seed, db.session.get(IntakeRecord, member.id)) >= 60
        first = found[0]
        result = bulk.bulk_apply("merge", actor=_user("inspector"), ids=first.new_ids)
        db.session.commit()
        assert result["done"] == first.size and result["problem"]
        again = clusters.find(_user("inspector"), batch_id=batch_id)  # the merged group now shows its problem
        assert any(c.problems == [result["problem"]] and not c.new_ids for c in again)
