"""User administration: create, edit, deactivate, reset passwords; the users CLI."""

from sqlalchemy import select

from tests.conftest import login, post_form
from tracker.auth.models import User
from tracker.extensions import db
from tracker.org import queries


def _user(app, username):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            return None
        return {
            "id": user.id,
            "role": user.role,
            "unit_id": user.unit_id,
            "is_active": user.is_active,
            "version": user.version,
            "must_change": user.must_change_password,
            "leader_of": sorted(u.code for u in user.leader_of),
        }


def _unit_id(app, code):
    with app.app_context():
        return queries.unit_by_code(code).id


def test_admin_creates_a_unit_user_and_sees_the_password_once(app, client, make):
    make.org()
    login(client, "admin")
    response = post_form(
        client,
        "/admin/users/new",
        {"username": "Li.Si", "name": "李四", "role": "unit", "unit_id": _unit_id(app, "UA")},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "仅显示这一次" in html
    created = _user(app, "li.si")
    assert created["role"] == "unit" and created["must_change"]


def test_duplicate_username_is_refused(app, client, make):
    make.org()
    login(client, "admin")
    response = post_form(client, "/admin/users/new", {"username": "UNITA", "name": "重名", "role": "inspector"})
    assert response.status_code == 422
    assert "已被使用" in response.get_data(as_text=True)


def test_a_unit_user_needs_a_unit_and_an_active_one(app, client, make):
    make.org()
    make.unit("OLD", "旧单位", active=False)
    login(client, "admin")
    no_unit = post_form(client, "/admin/users/new", {"username": "x1", "name": "无单位", "role": "unit"})
    assert "必须属于一个单位" in no_unit.get_data(as_text=True)
    inactive = post_form(
        client,
        "/admin/users/new",
        {"username": "x2", "name": "停用单位", "role": "unit", "unit_id": _unit_id(app, "OLD")},
    )
    assert "已停用" in inactive.get_data(as_text=True)
    assert _user(app, "x1") is None and _user(app, "x2") is None


def test_leader_units_are_saved_for_leaders_only(app, client, make):
    make.org()
    login(client, "admin")
    leader = _user(app, "leader")
    response = post_form(
        client,
        f"/admin/users/{leader['id']}/edit",
        {
            "username": "leader",
            "name": "领导",
            "role": "leader",
            "version": leader["version"],
            "leader_unit_ids": [_unit_id(app, "SYS-A"), _unit_id(app, "SYS-B")],
        },
    )
    assert response.status_code == 302
    assert _user(app, "leader")["leader_of"] == ["SYS-A", "SYS-B"]


def test_admin_cannot_deactivate_or_demote_themselves(app, client, make):
    make.org()
    login(client, "admin")
    me = _user(app, "admin")
    post_form(
        client,
        f"/admin/users/{me['id']}/active",
        {"active": "0", "version": me["version"]},
        form_page=f"/admin/users/{me['id']}/edit",
    )
    assert _user(app, "admin")["is_active"]
    response = post_form(
        client,
        f"/admin/users/{me['id']}/edit",
        {"username": "admin", "name": "admin", "role": "inspector", "version": me["version"]},
    )
    assert "不能修改自己的角色" in response.get_data(as_text=True)
    assert _user(app, "admin")["role"] == "admin"


def test_deactivated_user_is_logged_out_and_cannot_log_in(app, make):
    make.org()
    admin, victim = app.test_client(), app.test_client()
    login(admin, "admin")
    login(victim, "unitb")
    assert victim.get("/").status_code == 200
    target = _user(app, "unitb")
    post_form(
        admin,
        f"/admin/users/{target['id']}/active",
        {"active": "0", "version": target["version"]},
        form_page=f"/admin/users/{target['id']}/edit",
    )
    assert victim.get("/").status_code == 302
    assert login(victim, "unitb").status_code == 401


def test_reset_password_shows_a_new_one_and_forces_a_change(app, client, make):
    make.org()
    login(client, "admin")
    target = _user(app, "unita")
    response = post_form(
        client, f"/admin/users/{target['id']}/password", {}, form_page=f"/admin/users/{target['id']}/edit"
    )
    assert "仅显示这一次" in response.get_data(as_text=True)
    assert _user(app, "unita")["must_change"]


def test_user_list_filters_by_role(client, make):
    make.org()
    login(client, "admin")
    html = client.get("/admin/users?role=unit").get_data(as_text=True)
    assert "unita" in html and "inspector</td>" not in html


def test_cli_creates_users_with_password_from_stdin(app, make):
    make.org()
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "wang", "--role", "unit", "--unit", "UA", "--name", "王五", "--password-stdin"],
        input="Secret-pass-1\n",
    )
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert login(client, "wang", "Secret-pass-1").status_code == 302
    leader = runner.invoke(
        args=["users", "create", "boss", "--role", "leader", "--unit", "SYS-A", "--unit", "SYS-B", "--json"]
    )
    assert leader.exit_code == 0 and '"password": "' in leader.output
    assert _user(app, "boss")["leader_of"] == ["SYS-A", "SYS-B"]
    assert runner.invoke(args=["users", "create", "wang", "--role", "inspector"]).exit_code == 1
    assert runner.invoke(args=["users", "create", "nounit", "--role", "unit"]).exit_code == 1
