"""The admin page for rules, templates and categories."""

from sqlalchemy import select

from tests.conftest import login, post_form
from tracker.extensions import db
from tracker.triage.models import DeadlineTemplate, TriageRule


def test_admin_adds_a_rule_and_a_bad_pattern_is_refused(app, client, make):
    make.org()
    login(client, "admin")
    assert "关键词" in client.get("/admin/triage/").get_data(as_text=True)
    post_form(
        client,
        "/admin/triage/",
        {
            "target": "rule",
            "name": "校园安全",
            "kind": "keyword",
            "pattern": "校园欺凌|校车",
            "result": "red",
            "is_active": "1",
        },
    )
    bad = post_form(
        client,
        "/admin/triage/",
        {"target": "rule", "name": "坏", "kind": "keyword", "pattern": "(未闭合", "result": "red", "is_active": "1"},
    )
    assert "表达式无效" in client.get(bad.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        names = db.session.scalars(select(TriageRule.name)).all()
        assert "校园安全" in names and "坏" not in names


def test_admin_sets_a_kind_specific_deadline_template(app, client, make):
    make.org()
    login(client, "admin")
    client.get("/admin/triage/")
    post_form(
        client,
        "/admin/triage/",
        {
            "target": "template",
            "tier": "yellow",
            "source_kind": "投诉",
            "days": "15",
            "rule_text": "12345 投诉类 15 个工作日",
        },
    )
    bad = post_form(
        client,
        "/admin/triage/",
        {"target": "template", "tier": "yellow", "source_kind": "差评", "days": "0", "rule_text": "x"},
    )
    assert "1–365" in client.get(bad.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        template = db.session.scalar(select(DeadlineTemplate).where(DeadlineTemplate.source_kind == "投诉"))
        assert template.days == 15


def test_only_admins_edit_triage(app, make):
    make.org()
    for username in ("inspector", "leader", "unita"):
        client = app.test_client()
        login(client, username)
        assert client.get("/admin/triage/").status_code == 403
