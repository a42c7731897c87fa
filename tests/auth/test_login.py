"""Login, lockout, logout, CSRF, next-redirects, deny by default, password changes."""

import re
from datetime import timedelta

import pytest

from tests.conftest import DEFAULT_PASSWORD, csrf_from, login, post_form
from tracker.core import clock

GENERIC = "用户名或密码错误。"


@pytest.mark.parametrize("role", ["admin", "inspector", "leader", "unit"])
def test_each_role_logs_in_and_reaches_its_home(client, make, role):
    make.org()
    username = {"unit": "unita"}.get(role, role)
    response = login(client, username)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "工作台" in home.get_data(as_text=True)


def test_wrong_password_and_unknown_user_get_the_same_message(client, make):
    make.org()
    wrong = login(client, "admin", "wrong-password-1")
    unknown = login(client, "nobody", "wrong-password-1")
    assert wrong.status_code == unknown.status_code == 401
    assert GENERIC in wrong.get_data(as_text=True)
    assert GENERIC in unknown.get_data(as_text=True)


def test_disabled_user_cannot_log_in(client, make):
    make.unit("U1")
    make.user("gone", "unit", unit="U1", active=False)
    assert "已停用" in login(client, "gone").get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_five_failures_lock_the_account_for_fifteen_minutes(client, make):
    make.org()
    clock.pin("2026-11-02T09:00:00")
    for _ in range(5):
        login(client, "admin", "wrong-password-1")
    locked = login(client, "admin")  # the right password, but locked
    assert locked.status_code == 401
    assert "15 分钟后再试" in locked.get_data(as_text=True)
    clock.pin(clock.now() + timedelta(minutes=14))
    assert login(client, "admin").status_code == 401
    clock.pin(clock.now() + timedelta(minutes=2))
    assert login(client, "admin").status_code == 302


def test_lockout_message_is_the_same_for_a_user_that_does_not_exist(client, make):
    make.org()
    for _ in range(5):
        login(client, "ghost", "wrong-password-1")
    assert "15 分钟后再试" in login(client, "ghost", "whatever-1").get_data(as_text=True)


def test_post_without_csrf_token_is_refused_and_changes_nothing(client, make):
    make.org()
    response = client.post("/login", data={"username": "admin", "password": DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_next_pointing_to_another_host_is_ignored(client, make, target):
    make.org()
    response = login(client, "admin", next_url=target)
    assert response.headers["Location"] == "/"


def test_next_to_a_local_path_is_followed(client, make):
    make.org()
    assert login(client, "admin", next_url="/admin/users?q=a").headers["Location"] == "/admin/users?q=a"


def test_anonymous_requests_are_sent_to_login(client):
    response = client.get("/admin/units")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_anonymous_api_request_gets_401_json(client):
    response = client.get("/api/v1/anything")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_every_endpoint_needs_login_except_the_public_allow_list(app, client):
    from tracker.core.security import PUBLIC_ENDPOINTS

    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or "GET" not in rule.methods:
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        response = client.get(url)
        assert response.status_code in (302, 401), f"{rule.endpoint} answered {response.status_code} anonymously"


def test_session_cookie_is_httponly_and_samesite_lax(client, make):
    make.org()
    response = login(client, "admin")
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_needs_post_and_ends_the_session(client, make):
    make.org()
    login(client, "admin")
    assert client.get("/logout").status_code == 405
    post_form(client, "/logout", {}, form_page="/")
    assert client.get("/").status_code == 302


def test_user_changes_own_password(client, make):
    make.org()
    login(client, "unita")
    bad = post_form(
        client,
        "/account/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": "short", "confirm_password": "short"},
    )
    assert "至少需要" in bad.get_data(as_text=True)
    ok = post_form(
        client,
        "/account/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": "NewPassw0rd-1", "confirm_password": "NewPassw0rd-1"},
    )
    assert ok.status_code == 302
    assert client.get("/").status_code == 200  # still logged in
    client.post("/logout", data={"csrf_token": csrf_from(client, "/")})
    assert login(client, "unita").status_code == 401
    assert login(client, "unita", "NewPassw0rd-1").status_code == 302


def test_a_user_with_a_temporary_password_must_change_it_first(client, make, app):
    from tracker.auth import services
    from tracker.auth.models import User
    from tracker.extensions import db

    make.org()
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username="unita"))
        temporary = services.reset_password(user, actor=None)
        db.session.commit()
    login(client, "unita", temporary)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/account/password"


def test_logout_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(app, client, make):
    from tracker.extensions import db
    from tracker.org.models import Unit

    make.org()
    login(client, "admin")
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/admin/units").status_code == 200  # the copy works while the owner is logged in
    token = csrf_from(thief, "/admin/units/new")

    post_form(client, "/logout", {}, form_page="/")

    page = thief.get("/admin/units")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    write = thief.post("/admin/units/new", data={"code": "STOLEN", "name": "偷建单位", "csrf_token": token})
    assert write.status_code == 302 and write.headers["Location"].startswith("/login")
    with app.app_context():
        assert db.session.scalar(db.select(Unit).filter_by(code="STOLEN")) is None
    assert login(client, "admin").status_code == 302  # logging in again works
