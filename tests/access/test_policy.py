"""The access policy, role by role: admin pages, unit scoping, 404 for other units' objects."""

import pytest

from tests.conftest import login
from tracker.access import policy
from tracker.auth.models import User
from tracker.core.errors import Forbidden, NotFound
from tracker.extensions import db
from tracker.org import queries

ADMIN_PAGES = ["/admin/units", "/admin/units/new", "/admin/users", "/admin/users/new", "/admin/calendar/"]
USERS = {"admin": "admin", "inspector": "inspector", "leader": "leader", "unit": "unita"}


@pytest.mark.parametrize("role", USERS)
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_only_admins_reach_admin_pages(client, make, role, page):
    make.org()
    login(client, USERS[role])
    assert client.get(page).status_code == (200 if role == "admin" else 403)


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("inspector", 200), ("leader", 403), ("unit", 403)])
def test_audit_log_is_for_admins_and_inspectors(client, make, role, status):
    make.org()
    login(client, USERS[role])
    assert client.get("/audit/").status_code == status


@pytest.mark.parametrize("role", ["inspector", "leader", "unit"])
def test_non_admins_cannot_post_to_admin_actions(client, make, role):
    make.org()
    login(client, USERS[role])
    token_page = client.get("/")
    assert token_page.status_code == 200
    from tests.conftest import CSRF_RE

    token = CSRF_RE.search(token_page.get_data(as_text=True)).group(1)
    response = client.post("/admin/units/new", data={"code": "X", "name": "X", "csrf_token": token})
    assert response.status_code == 403
    with client.application.app_context():
        assert queries.unit_by_code("X") is None


def _user(name):
    return db.session.scalar(db.select(User).filter_by(username=name))


def test_unit_user_sees_own_unit_and_sub_units_only(app_ctx, make):
    make.org()
    unita = _user("unita")
    assert policy.can(unita, "unit.view", queries.unit_by_code("UA"))
    assert policy.can(unita, "unit.view", queries.unit_by_code("UA1"))
    assert not policy.can(unita, "unit.view", queries.unit_by_code("UB"))
    assert not policy.can(unita, "unit.view", queries.unit_by_code("SYS-A"))


def test_leader_sees_units_in_charge_and_below(app_ctx, make):
    make.org()
    leader = _user("leader")
    assert policy.visible_unit_ids(leader) == {queries.unit_by_code(c).id for c in ("SYS-A", "UA", "UA1")}
    assert not policy.can(leader, "problem.view", queries.unit_by_code("UB"))


def test_leader_with_sees_all_reaches_every_unit(app_ctx, make):
    make.org()
    make.user("boss", "leader", sees_all_units=True)
    assert policy.visible_unit_ids(_user("boss")) is None
    assert policy.can(_user("boss"), "problem.view", queries.unit_by_code("UB"))


def test_require_answers_not_found_for_another_units_object_and_forbidden_for_a_missing_permission(app_ctx, make):
    make.org()
    with pytest.raises(NotFound):
        policy.require(_user("unita"), "unit.view", queries.unit_by_code("UB"))
    with pytest.raises(Forbidden):
        policy.require(_user("unita"), "unit.manage")


def test_inactive_user_has_no_permissions(app_ctx, make):
    make.org()
    user = _user("inspector")
    user.is_active = False
    assert not policy.can(user, "problem.view")


@pytest.mark.parametrize("role", ["admin", "inspector", "leader", "unit"])
def test_navigation_shows_admin_links_only_to_admins(client, make, role):
    make.org()
    login(client, USERS[role])
    html = client.get("/").get_data(as_text=True)
    assert ("/admin/users" in html) == (role == "admin")
