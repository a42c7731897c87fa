"""Unit administration: create, edit, hierarchy rules, deactivation, stale forms, audit."""

from sqlalchemy import select

from tests.conftest import login, post_form
from tracker.audit.models import AuditEvent
from tracker.extensions import db
from tracker.org import queries


def _unit(app, code):
    with app.app_context():
        unit = queries.unit_by_code(code)
        return None if unit is None else (unit.id, unit.name, unit.parent_id, unit.is_active, unit.version)


def test_admin_creates_a_unit_under_a_system_and_it_is_audited(app, client, make):
    make.org()
    login(client, "admin")
    sys_a = _unit(app, "SYS-A")[0]
    response = post_form(client, "/admin/units/new", {"code": "UA2", "name": "甲二单位", "parent_id": str(sys_a)})
    assert response.status_code == 302
    unit_id, name, parent_id, active, _v = _unit(app, "UA2")
    assert (name, parent_id, active) == ("甲二单位", sys_a, True)
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "unit.create").order_by(AuditEvent.id.desc())
        )
        assert event.object_id == str(unit_id) and event.actor_name == "admin"


def test_duplicate_unit_code_is_refused_with_a_message(app, client, make):
    make.org()
    login(client, "admin")
    response = post_form(client, "/admin/units/new", {"code": "UA", "name": "重复"})
    assert response.status_code == 422
    assert "单位编码“UA”已存在" in response.get_data(as_text=True)
    assert _unit(app, "UA")[1] == "甲单位"


def test_a_unit_cannot_become_its_own_parent_or_descendant(app, client, make):
    make.org()
    login(client, "admin")
    ua_id, _n, parent, _a, version = _unit(app, "UA")
    ua1_id = _unit(app, "UA1")[0]
    for bad_parent in (ua_id, ua1_id):
        response = post_form(
            client,
            f"/admin/units/{ua_id}/edit",
            {"code": "UA", "name": "甲单位", "parent_id": str(bad_parent), "version": version},
        )
        assert response.status_code == 422
        assert "不能是本单位或其下级单位" in response.get_data(as_text=True)
    assert _unit(app, "UA")[2] == parent


def test_a_unit_that_still_holds_active_users_cannot_be_deactivated(app, client, make):
    make.org()
    login(client, "admin")
    ub_id, *_rest, version = _unit(app, "UB")
    response = post_form(
        client, f"/admin/units/{ub_id}/active", {"active": "0", "version": version}, form_page="/admin/units"
    )
    assert response.status_code == 302
    assert "仍有 1 名在用用户" in client.get("/admin/units").get_data(as_text=True)
    assert _unit(app, "UB")[3] is True


def test_a_unit_with_active_sub_units_cannot_be_deactivated(app, client, make):
    make.org()
    login(client, "admin")
    sys_b, *_rest, version = _unit(app, "SYS-B")
    post_form(client, f"/admin/units/{sys_b}/active", {"active": "0", "version": version}, form_page="/admin/units")
    assert _unit(app, "SYS-B")[3] is True


def test_an_empty_unit_is_deactivated_and_reactivated(app, client, make):
    make.org()
    make.unit("EMPTY", "空单位")
    login(client, "admin")
    unit_id, *_rest, version = _unit(app, "EMPTY")
    post_form(client, f"/admin/units/{unit_id}/active", {"active": "0", "version": version}, form_page="/admin/units")
    assert _unit(app, "EMPTY")[3] is False
    post_form(
        client, f"/admin/units/{unit_id}/active", {"active": "1", "version": version + 1}, form_page="/admin/units"
    )
    assert _unit(app, "EMPTY")[3] is True


def test_a_stale_edit_form_gets_409_and_keeps_the_typed_text(app, client, make):
    make.org()
    login(client, "admin")
    ua_id, _n, parent, _a, version = _unit(app, "UA")
    first = post_form(
        client,
        f"/admin/units/{ua_id}/edit",
        {"code": "UA", "name": "第一次修改", "parent_id": str(parent), "version": version},
    )
    assert first.status_code == 302
    stale = post_form(
        client,
        f"/admin/units/{ua_id}/edit",
        {"code": "UA", "name": "第二个人的修改", "parent_id": str(parent), "version": version},
    )
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "已被他人修改" in html and "第二个人的修改" in html
    assert _unit(app, "UA")[1] == "第一次修改"


def test_unit_list_searches_by_name(client, make):
    make.org()
    login(client, "admin")
    html = client.get("/admin/units?q=乙").get_data(as_text=True)
    assert "乙单位" in html and "甲单位" not in html


def test_missing_unit_answers_404(client, make):
    make.org()
    login(client, "admin")
    assert client.get("/admin/units/9999/edit").status_code == 404


def test_cli_creates_units_and_refuses_duplicates(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["units", "create", "EDU", "教育系统"]).exit_code == 0
    result = runner.invoke(args=["units", "create", "SCH", "某小学", "--parent", "EDU", "--json"])
    assert result.exit_code == 0 and '"code": "SCH"' in result.output
    duplicate = runner.invoke(args=["units", "create", "SCH", "另一个"])
    assert duplicate.exit_code == 1 and "已存在" in duplicate.output
    assert _unit(app, "SCH")[1] == "某小学"
