"""The inspector's side of the public room: the opt-in per record (公开处理结果), the reply published
to the complainant (答复意见), and the receipt with the query PIN (回执); each audited, inspector-only."""

import pytest

from tests.conftest import login, post_form
from tests.public.conftest import MARKERS, case_of, marked_problem, problem_of
from tracker.audit.models import AuditEvent
from tracker.audit.queries import events_of
from tracker.extensions import db
from tracker.intake.models import IntakeRecord

API = "/api/v1/public/track"


def _record(app, record_id):
    with app.app_context():
        return db.session.get(IntakeRecord, record_id).is_public


def _actions(app, object_type, object_id):
    with app.app_context():
        return [(e.action, e.actor_name) for e in events_of(object_type, object_id)]


# ---- 公开处理结果 ----------------------------------------------------------------------------------


def test_inspector_publishes_and_unpublishes_a_record_audited(app, client, world):
    case = marked_problem(app, world)
    login(client, "inspector")
    page = f"/intake/{case.record_id}"
    assert "公开处理结果" in client.get(page).get_data(as_text=True)
    response = post_form(client, f"/intake/{case.record_id}/publish", {"on": "1"}, form_page=page)
    assert response.status_code == 302 and _record(app, case.record_id) is True
    assert "已公开" in client.get(page).get_data(as_text=True)
    post_form(client, f"/intake/{case.record_id}/publish", {"on": "0"}, form_page=page)
    assert _record(app, case.record_id) is False
    actions = _actions(app, "intake_record", case.record_id)
    assert ("intake.publish", "inspector") in actions and ("intake.unpublish", "inspector") in actions
    # The audit log reads in words.
    text = client.get(page).get_data(as_text=True)
    assert "公开处理结果" in text and "取消公开处理结果" in text


@pytest.mark.parametrize(("username", "status"), [("unita", 403), ("leader", 403), ("admin", 403), ("unitb", 404)])
def test_only_inspectors_publish(app, client, world, username, status):
    case = marked_problem(app, world)
    login(client, username)
    token_page = "/track"  # any page with a CSRF token for this session
    response = post_form(client, f"/intake/{case.record_id}/publish", {"on": "1"}, form_page=token_page)
    assert response.status_code == status
    assert _record(app, case.record_id) is False
    with app.app_context():
        assert not db.session.query(AuditEvent).filter(AuditEvent.action == "intake.publish").count()
    if status == 403:
        assert 'id="publish-form"' not in client.get(f"/intake/{case.record_id}").get_data(as_text=True)


def test_a_record_not_on_the_ledger_cannot_be_published(app, client, world):
    record_id = world.record("R-ONLY", unit="UA")
    login(client, "inspector")
    response = post_form(client, f"/intake/{record_id}/publish", {"on": "1"}, form_page=f"/intake/{record_id}")
    assert response.status_code == 302
    assert "尚未转入问题台账" in client.get(f"/intake/{record_id}").get_data(as_text=True)
    assert _record(app, record_id) is False


# ---- 答复意见 --------------------------------------------------------------------------------------


def test_inspector_writes_the_public_reply_audited_and_the_lookup_shows_it(app, client, world):
    case = marked_problem(app, world, close=False, reply=None)
    login(client, "inspector")
    page = f"/ledger/{case.number}"
    with app.app_context():
        version = problem_of(case.number).version
    response = post_form(
        client, f"{page}/public-reply", {"public_reply": "已约谈窗口负责人。", "version": version}, form_page=page
    )
    assert response.status_code == 302
    assert "已约谈窗口负责人。" in client.get(page).get_data(as_text=True)
    assert ("problem.public_reply", "inspector") in _actions(app, "problem", case.number)
    anonymous = app.test_client()
    assert anonymous.post(API, json={"code": case.code, "pin": case.pin}).get_json()["reply"] == "已约谈窗口负责人。"
    with app.app_context():
        version = problem_of(case.number).version
    post_form(client, f"{page}/public-reply", {"public_reply": "", "version": version}, form_page=page)
    assert anonymous.post(API, json={"code": case.code, "pin": case.pin}).get_json()["reply"] is None


def test_a_stale_reply_form_is_409_and_keeps_the_text(app, client, world):
    case = marked_problem(app, world, close=False, reply=None)
    login(client, "inspector")
    page = f"/ledger/{case.number}"
    response = post_form(
        client, f"{page}/public-reply", {"public_reply": "迟到的答复。", "version": "1"}, form_page=page
    )
    assert response.status_code == 409 and "迟到的答复。" in response.get_data(as_text=True)


def test_a_reply_too_long_is_422(app, client, world):
    case = marked_problem(app, world, close=False, reply=None)
    login(client, "inspector")
    page = f"/ledger/{case.number}"
    with app.app_context():
        version = problem_of(case.number).version
    response = post_form(
        client, f"{page}/public-reply", {"public_reply": "长" * 2001, "version": version}, form_page=page
    )
    assert response.status_code == 422 and "答复意见过长" in response.get_data(as_text=True)


@pytest.mark.parametrize(("username", "status"), [("unita", 403), ("leader", 403), ("unitb", 404)])
def test_only_those_who_sign_off_write_the_reply(app, client, world, username, status):
    case = marked_problem(app, world, close=False, reply=None)
    login(client, username)
    response = post_form(
        client, f"/ledger/{case.number}/public-reply", {"public_reply": "单位自己写的"}, form_page="/track"
    )
    assert response.status_code == status
    with app.app_context():
        assert problem_of(case.number).public_reply is None


# ---- 回执 ------------------------------------------------------------------------------------------


def test_inspector_prints_a_receipt_with_code_and_pin_audited(app, client, world):
    case = case_of(app, world.record("R-RCPT", unit="UA", complainant_name=MARKERS["complainant_name"]))
    login(client, "inspector")
    page = f"/intake/{case.record_id}"
    assert case.pin not in client.get(page).get_data(as_text=True)  # the PIN only on the receipt
    response = post_form(client, f"{page}/receipt", {}, form_page=page)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and case.code in text and case.pin in text and "/track" in text
    assert MARKERS["complainant_name"] not in text
    assert ("intake.receipt", "inspector") in _actions(app, "intake_record", case.record_id)


@pytest.mark.parametrize(("username", "status"), [("unita", 403), ("leader", 403), ("admin", 403), ("unitb", 404)])
def test_only_inspectors_see_the_receipt(app, client, world, username, status):
    case = case_of(app, world.record("R-RCPT2", unit="UA"))
    login(client, username)
    response = post_form(client, f"/intake/{case.record_id}/receipt", {}, form_page="/track")
    assert response.status_code == status and case.pin not in response.get_data(as_text=True)


def test_manual_entry_points_to_the_receipt(app, client, world):
    login(client, "inspector")
    response = post_form(
        client,
        "/intake/new",
        {
            "channel": "12345 热线",
            "kind": "投诉",
            "received_at": "2026-09-28T08:30",
            "title": "窗口排队时间长",
            "body": "排队两个小时。",
            "unit_code": "UA",
        },
    )
    assert response.status_code == 302
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "可打印查询回执" in text and 'id="print-receipt"' in text
