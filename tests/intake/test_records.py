"""Registering single records, handling them from the inbox, and the complainant's protection."""

import pytest
from sqlalchemy import select, text

from tests.conftest import login, post_form
from tracker.audit.models import AuditEvent
from tracker.core.errors import Conflict, NotFound, ValidationFailed
from tracker.extensions import db
from tracker.intake import queries, services
from tracker.intake.models import Handling, IntakeRecord
from tracker.ledger.models import Problem

RAW = {
    "channel": "12345 热线",
    "kind": "投诉",
    "external_id": "GD-1",
    "received_at": "2026-10-09 10:00",
    "title": "医院挂号难",
    "body": "县人民医院专家号一号难求，黄牛倒卖号源。",
    "rating": "1",
    "unit_code": "UA",
    "complainant_name": "张三丰",
    "complainant_phone": "13812345678",
}


def _user(name):
    from tracker.auth.models import User

    return db.session.scalar(select(User).where(User.username == name))


def _register(**over):
    record, created = services.register({**RAW, **over}, actor=_user("inspector"))
    db.session.flush()
    return record


def test_register_validates_every_field_with_chinese_messages(app_ctx, make):
    make.org()
    with pytest.raises(ValidationFailed) as failed:
        services.register(
            {
                "channel": "飞鸽传书",
                "kind": "表扬",
                "received_at": "2026-02-30",
                "title": "",
                "body": "",
                "rating": "9",
                "unit_code": "NOPE",
                "complainant_phone": "abc",
            },
            actor=None,
        )
    fields = failed.value.fields
    assert set(fields) >= {
        "channel",
        "kind",
        "received_at",
        "title",
        "body",
        "rating",
        "unit_code",
        "complainant_phone",
        "external_id",
    }
    assert "渠道列表" in fields["channel"] and "无法识别" in fields["received_at"]


def test_the_same_channel_and_external_id_registers_once(app_ctx, make):
    make.org()
    first, created = services.register(RAW, actor=None)
    again, created_again = services.register({**RAW, "title": "另一个标题"}, actor=None)
    assert created and not created_again and again.id == first.id and again.title == "医院挂号难"


def test_identity_is_encrypted_at_rest_and_masked_in_clear(app_ctx, make):
    make.org()
    record = _register()
    raw = db.session.execute(text("SELECT * FROM intake_records")).mappings().one()
    stored = " ".join(str(v) for v in raw.values())
    assert "张三丰" not in stored and "13812345678" not in stored
    assert raw["complainant_phone_mask"] == "138****5678" and raw["complainant_name_mask"] == "张**"
    assert record.complainant() == {"name": "张三丰", "phone": "13812345678"}


def test_tracking_codes_are_unique_and_unguessable_with_a_separate_pin(app_ctx, make):
    make.org()
    codes = {_register(external_id=f"T{i}").tracking_code for i in range(50)}
    assert len(codes) == 50 and all(len(c) == 10 for c in codes)
    record = _register(external_id="PIN")
    pin = services.crypto.decrypt(record.query_pin_enc)
    assert pin.isdigit() and len(pin) == 6 and pin not in record.tracking_code


def test_anonymous_records_keep_no_identity(app_ctx, make):
    make.org()
    record = _register(external_id="ANON", anonymous=True)
    assert record.is_anonymous and record.complainant_name_enc is None and record.complainant_phone_enc is None


def test_rectify_creates_a_numbered_problem_and_a_second_record_joins_it(app_ctx, make):
    make.org()
    inspector = _user("inspector")
    first, second = _register(external_id="R1"), _register(external_id="R2")
    problem = services.rectify(first, actor=inspector)
    assert problem.number.startswith("ZG-") and problem.number.endswith("-000001")
    assert problem.unit_id == first.unit_id and problem.status == "new"
    services.rectify(second, actor=inspector, problem_number=problem.number)
    db.session.flush()
    assert [r.id for r in problem.intake_records] == [first.id, second.id]
    assert first.handling == second.handling == Handling.RECTIFY


def test_quick_fix_flags_the_problem(app_ctx, make):
    make.org()
    problem = services.rectify(_register(), actor=_user("inspector"), quick_fix=True)
    assert problem.is_quick_fix


def test_explain_needs_text_and_creates_no_problem(app_ctx, make):
    make.org()
    record = _register()
    with pytest.raises(ValidationFailed):
        services.explain(record, "  ", actor=_user("inspector"))
    services.explain(record, "该诉求无政策依据，已电话解释。", actor=_user("inspector"))
    assert record.handling == Handling.EXPLAINED
    assert db.session.scalar(select(Problem)) is None


def test_duplicate_joins_the_original_records_problem(app_ctx, make):
    make.org()
    inspector = _user("inspector")
    original, repeat = _register(external_id="O"), _register(external_id="D")
    problem = services.rectify(original, actor=inspector)
    services.mark_duplicate(repeat, original.tracking_code, actor=inspector)
    db.session.flush()
    assert repeat.handling == Handling.DUPLICATE and repeat.problem_id == problem.id
    with pytest.raises(ValidationFailed):
        services.mark_duplicate(_register(external_id="X"), "NOSUCHCODE", actor=inspector)


def test_appeal_by_the_unit_upheld_by_an_inspector_leaves_the_units_figures(app_ctx, make):
    make.org()
    record = _register()
    services.file_appeal(record, "评价人办理的是其他单位的事项，属于误评。", actor=_user("unita"))
    assert record.handling == Handling.APPEAL_PENDING
    services.decide_appeal(record, True, "核实属误评。", actor=_user("inspector"))
    assert record.handling == Handling.APPEAL_UPHELD and record.is_excluded


def test_a_rejected_appeal_returns_the_record_to_the_inbox(app_ctx, make):
    make.org()
    record = _register()
    services.file_appeal(record, "不是我单位的问题，请核实。", actor=_user("unita"))
    services.decide_appeal(record, False, "经核实属于该单位职责。", actor=_user("inspector"))
    assert record.handling == Handling.NEW and not record.is_excluded


def test_another_units_user_cannot_appeal_or_even_see_the_record(app_ctx, make):
    make.org()
    record = _register()
    with pytest.raises(NotFound):
        services.file_appeal(record, "不是我们的问题。", actor=_user("unitb"))
    with pytest.raises(NotFound):
        queries.get_record_or_404(record.id, _user("unitb"))


def test_handling_twice_or_from_a_stale_form_is_refused(app_ctx, make):
    make.org()
    record = _register()
    version = record.version
    services.explain(record, "已向反映人解释政策。", actor=_user("inspector"), expected_version=version)
    with pytest.raises(Conflict):
        services.rectify(record, actor=_user("inspector"), expected_version=version)
    with pytest.raises(ValidationFailed):
        services.rectify(record, actor=_user("inspector"), expected_version=record.version)


def test_probable_duplicates_are_found_by_character_similarity(app_ctx, make):
    make.org()
    base = _register(external_id="S1")
    similar = _register(external_id="S2", title="医院挂号太难", body="县人民医院的专家号一号难求，黄牛倒卖号源严重。")
    _register(external_id="S3", title="路灯不亮", body="城关镇新街路灯坏了一个月。")
    found = queries.probable_duplicates(base)
    assert [r.id for r, _score in found] == [similar.id]
    assert found[0][1] >= 60


# ---- pages: who sees what ------------------------------------------------------------------------


def _record_id(app, **over):
    with app.app_context():
        record, _created = services.register({**RAW, **over}, actor=None)
        db.session.commit()
        return record.id


@pytest.mark.parametrize("username", ["unita", "leader"])
def test_unit_users_and_leaders_never_see_the_complainant(app, client, make, username):
    make.org()
    record_id = _record_id(app)
    login(client, username)
    for url in (f"/intake/{record_id}", "/intake/?handling=all"):
        html = client.get(url).get_data(as_text=True)
        assert "张三丰" not in html and "13812345678" not in html
    page = client.get(f"/intake/{record_id}").get_data(as_text=True)
    if username == "leader":  # leaders see masks; unit users nothing, not even a mask (DESIGN.md §5)
        assert "138****5678" in page
    else:
        assert "138****5678" not in page and "反映人信息已保密" in page
    response = post_form(client, f"/intake/{record_id}/reveal", {}, form_page=f"/intake/{record_id}")
    assert response.status_code == 403
    assert "张三丰" not in response.get_data(as_text=True)


def test_other_units_user_gets_404_for_the_record(app, client, make):
    make.org()
    record_id = _record_id(app)
    login(client, "unitb")
    assert client.get(f"/intake/{record_id}").status_code == 404
    assert "医院挂号难" not in client.get("/intake/?handling=all").get_data(as_text=True)


def test_inspector_reveal_shows_the_identity_and_is_audited(app, client, make):
    make.org()
    record_id = _record_id(app)
    login(client, "inspector")
    page = client.get(f"/intake/{record_id}").get_data(as_text=True)
    assert "张三丰" not in page and "查看完整信息" in page
    revealed = post_form(client, f"/intake/{record_id}/reveal", {}, form_page=f"/intake/{record_id}")
    assert "张三丰" in revealed.get_data(as_text=True)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "intake.reveal"))
        assert event.actor_name == "inspector" and event.object_id == str(record_id)
        assert "张三丰" not in str(event.after) + str(event.note)


def test_manual_entry_form_registers_and_shows_chinese_errors(app, client, make):
    make.org()
    login(client, "inspector")
    bad = post_form(
        client,
        "/intake/new",
        {"channel": "12345 热线", "kind": "投诉", "title": "", "body": ""},
        form_page="/intake/new",
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "请填写标题" in html and "请填写受理时间" in html
    ok = post_form(
        client,
        "/intake/new",
        {
            "channel": "来信来访",
            "kind": "投诉",
            "received_at": "2026-10-09T10:00",
            "title": "<i>来信</i>反映",
            "body": "信件内容",
            "unit_code": "UA",
            "complainant_phone": "13900001111",
        },
        form_page="/intake/new",
    )
    assert ok.status_code == 302
    with app.app_context():
        record = db.session.scalar(select(IntakeRecord))
        assert record.title == "来信反映" and record.external_id.startswith("MAN-")


def test_inspector_handles_a_record_from_its_page(app, client, make):
    make.org()
    record_id = _record_id(app)
    login(client, "inspector")
    with app.app_context():
        version = db.session.get(IntakeRecord, record_id).version
    response = post_form(
        client,
        f"/intake/{record_id}/handle",
        {"action": "rectify", "version": version},
        form_page=f"/intake/{record_id}",
    )
    assert response.status_code == 302
    page = client.get(f"/intake/{record_id}").get_data(as_text=True)
    assert "已转台账" in page and "ZG-" in page
    stale = post_form(
        client,
        f"/intake/{record_id}/handle",
        {"action": "explain", "version": version, "explanation": "重复提交的解释"},
        form_page=f"/intake/{record_id}",
    )
    assert stale.status_code == 409 and "重复提交的解释" in stale.get_data(as_text=True)


def test_unit_user_cannot_handle_but_can_appeal_from_the_page(app, client, make):
    make.org()
    record_id = _record_id(app)
    login(client, "unita")
    page = client.get(f"/intake/{record_id}").get_data(as_text=True)
    assert "转入问题台账" not in page and "提交申诉" in page
    refused = post_form(
        client, f"/intake/{record_id}/handle", {"action": "rectify", "version": 1}, form_page=f"/intake/{record_id}"
    )
    assert refused.status_code == 403
    ok = post_form(
        client,
        f"/intake/{record_id}/handle",
        {"action": "appeal", "version": 1, "reason": "属于恶意差评，评价人未来办理过业务。"},
        form_page=f"/intake/{record_id}",
    )
    assert ok.status_code == 302


def test_inbox_ignores_garbage_filters_with_a_message(app, client, make):
    make.org()
    _record_id(app)
    login(client, "inspector")
    response = client.get("/intake/?handling=zzz&unit=abc&date_from=yesterday&sort=evil")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "已忽略无效的筛选条件" in html and "医院挂号难" in html


def test_admin_adds_and_retires_channels(app, client, make):
    make.org()
    login(client, "admin")
    post_form(client, "/admin/channels", {"name": "市长信箱"})
    html = client.get("/admin/channels").get_data(as_text=True)
    assert "市长信箱" in html
    duplicate = post_form(client, "/admin/channels", {"name": "市长信箱"})
    assert "已存在" in client.get(duplicate.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        from tracker.intake.models import Channel

        channel = db.session.scalar(select(Channel).where(Channel.name == "市长信箱"))
        channel_id = channel.id
    post_form(client, "/admin/channels", {"channel_id": channel_id, "active": "0"})
    with app.app_context():
        assert "市长信箱" not in services.active_channels()
