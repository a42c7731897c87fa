"""The follow-up pages: the caller's workbench (table, audited phone reveal, the outcome form, tabs,
skipped counts, pagination, empty state), the admin setting, the record page's call history, and
no trace of any of it for unit users (DESIGN §5) or leaders."""

import re

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_from, login, post_form
from tests.oversight.test_followups import PHONE, closed, explained, problem_of, user
from tracker.audit.models import AuditEvent
from tracker.core import clock
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.ledger.models import Status
from tracker.oversight.models import FollowUp
from tracker.settings.services import put_setting


@pytest.fixture
def world(app, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number, record_id = closed(app, make)
    anonymous = explained(app, make, "A-1", anonymous=True)
    return {"number": number, "record_id": record_id, "anonymous": anonymous}


def _text(response):
    return response.get_data(as_text=True)


def test_workbench_lists_the_due_record_with_its_columns_and_the_skipped_counts(app, client, world):
    login(client, "inspector")
    response = client.get("/followups")
    assert response.status_code == 200
    page = _text(response)
    with app.app_context():
        record = db.session.get(IntakeRecord, world["record_id"])
        code = record.tracking_code
    row = page.split(f'id="followup-{world["record_id"]}"', 1)[1].split("</tr>", 1)[0]
    for text in (code, "窗口服务态度差", "甲单位", world["number"], "2026-09-28", "王*", "显示电话", "保存"):
        assert text in row, text
    for header in ("查询码", "反映件标题", "责任单位", "问题编号", "办结/解释日期", "已拨打次数", "反映人"):
        assert f"<th>{header}</th>" in page
    assert PHONE not in page  # masks until the button is pressed
    assert "匿名 1 件、无联系电话 0 件，不回访。" in page
    assert "满意" in row and "无法联系" in row and "satisfied" not in re.sub(r'value="[a-z_]+"', "", row)
    assert 'id="nav-followups"' in page


def test_show_phone_reveals_the_number_through_an_audited_post(app, client, world):
    login(client, "inspector")
    token = csrf_from(client, "/followups")
    response = client.post(
        f"/followups/{world['record_id']}/reveal", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and PHONE in _text(response)
    plain = client.post(f"/followups/{world['record_id']}/reveal", data={"csrf_token": token})
    assert plain.status_code == 200 and PHONE in _text(plain) and "回访工作台" in _text(plain)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "intake.reveal")).all()
        assert len(events) == 2 and all(e.object_id == str(world["record_id"]) for e in events)
    assert client.get(f"/followups/{world['record_id']}/reveal").status_code == 405


def test_no_phone_says_so_in_chinese(app, client, make, world):
    record_id = make.record("NP-1", complainant_name="冯二")
    login(client, "inspector")
    token = csrf_from(client, "/followups")
    response = client.post(f"/followups/{record_id}/reveal", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and "该反映件没有联系电话，无法回访。" in _text(response)


def test_saving_an_outcome_records_the_call_and_leaves_the_list(app, client, world):
    login(client, "inspector")
    response = post_form(
        client, f"/followups/{world['record_id']}/call", {"outcome": "satisfied", "note": "满意"}, "/followups"
    )
    assert response.status_code == 302
    page = _text(client.get(response.headers["Location"]))
    assert "回访结果为“满意”" in page and "今天没有待回访的反映件。" in page
    with app.app_context():
        assert db.session.scalar(select(FollowUp.outcome)) == "satisfied"


def test_unsatisfied_on_the_page_reopens_the_problem(app, client, world):
    login(client, "inspector")
    response = post_form(
        client, f"/followups/{world['record_id']}/call", {"outcome": "unsatisfied", "note": "仍然推诿"}, "/followups"
    )
    assert response.status_code == 302
    assert "已重新办理" in _text(client.get(response.headers["Location"]))
    with app.app_context():
        assert problem_of(world["number"]).status == Status.IN_PROGRESS


def test_a_bad_outcome_keeps_what_was_typed_and_says_why(app, client, world):
    login(client, "inspector")
    response = post_form(
        client, f"/followups/{world['record_id']}/call", {"outcome": "", "note": "说明文字"}, "/followups"
    )
    assert response.status_code == 422
    page = _text(response)
    assert "回访结果应为：满意、基本满意、不满意、无法联系。" in page and 'value="说明文字"' in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FollowUp)) == 0


def test_a_second_call_the_same_day_is_refused_with_the_next_date(app, client, world):
    login(client, "inspector")
    post_form(client, f"/followups/{world['record_id']}/call", {"outcome": "unreachable"}, "/followups")
    response = post_form(client, f"/followups/{world['record_id']}/call", {"outcome": "unreachable"}, "/followups")
    assert response.status_code == 409 and "今天已拨打过，无人接听；请于 2026-09-29 再次回访。" in _text(response)


def test_pending_tab_lets_the_inspector_decide(app, client, world):
    with app.app_context():
        put_setting("followup", {"unsatisfied": "inspector"}, actor=user("admin"))
        db.session.commit()
    login(client, "inspector")
    post_form(
        client, f"/followups/{world['record_id']}/call", {"outcome": "unsatisfied", "note": "要求赔偿"}, "/followups"
    )
    page = _text(client.get("/followups?tab=pending"))
    assert "要求赔偿" in page and "重新办理" in page and "维持办结" in page
    with app.app_context():
        followup_id = db.session.scalar(select(FollowUp.id))
    refused = post_form(client, f"/followups/decisions/{followup_id}", {"decision": "keep", "note": ""}, "/followups")
    assert refused.status_code == 422 and "维持办结须填写研判意见。" in _text(refused)
    done = post_form(
        client, f"/followups/decisions/{followup_id}", {"decision": "keep", "note": "超出范围"}, "/followups"
    )
    assert done.status_code == 302
    assert "没有待研判的不满意回访。" in _text(client.get("/followups?tab=pending"))


def test_empty_workbench_and_pagination(app, client, make, world):
    login(client, "inspector")
    post_form(client, f"/followups/{world['record_id']}/call", {"outcome": "satisfied"}, "/followups")
    assert "今天没有待回访的反映件。" in _text(client.get("/followups"))
    assert "没有无法联系的反映件。" in _text(client.get("/followups?tab=unreachable"))
    for i in range(51):
        explained(app, make, f"M-{i}", complainant_name="郑一", complainant_phone=PHONE)
    first, second = _text(client.get("/followups")), _text(client.get("/followups?page=2"))
    assert "共 51 条，第 1/2 页" in first and first.count('class="d-flex gap-1 followup-form"') == 50
    assert second.count('class="d-flex gap-1 followup-form"') == 1
    assert client.get("/followups?page=abc").status_code == 200


def test_admin_sets_the_unsatisfied_rule_on_its_page(app, client, world):
    login(client, "admin")
    page = _text(client.get("/followups/settings"))
    assert "重新办理" in page and "提交纪检监察员研判" in page
    response = post_form(client, "/followups/settings", {"unsatisfied": "inspector"})
    assert response.status_code == 302
    assert 'value="inspector" checked' in _text(client.get("/followups/settings"))
    assert post_form(client, "/followups/settings", {"unsatisfied": "x"}).status_code == 422
    assert client.get("/followups").status_code == 403  # admins set the rule, inspectors call


@pytest.mark.parametrize("name", ["unita", "leader"])
def test_unit_users_and_leaders_reach_no_follow_up_page(app, client, world, name):
    login(client, name)
    token = csrf_from(client, "/")
    rid = world["record_id"]
    assert client.get("/followups").status_code == 403
    assert client.get("/followups?tab=pending").status_code == 403
    assert client.get("/followups/settings").status_code == 403
    for path in (f"/followups/{rid}/reveal", f"/followups/{rid}/call", "/followups/decisions/1", "/followups/settings"):
        response = client.post(path, data={"csrf_token": token, "outcome": "satisfied", "unsatisfied": "inspector"})
        assert response.status_code == 403, path
    assert 'id="nav-followups"' not in _text(client.get("/"))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FollowUp)) == 0


def test_record_page_shows_the_calls_to_inspectors_and_nothing_to_the_unit(app, client, world):
    inspector = app.test_client()
    login(inspector, "inspector")
    token = csrf_from(inspector, "/followups")
    inspector.post(f"/followups/{world['record_id']}/reveal", data={"csrf_token": token})
    post_form(
        inspector, f"/followups/{world['record_id']}/call", {"outcome": "unreachable", "note": "无人接听"}, "/followups"
    )
    page = _text(inspector.get(f"/intake/{world['record_id']}"))
    history = page.split('id="followup-history"', 1)[1].split("</section>", 1)[0]
    assert "第 1 次：无法联系" in history and "无人接听" in history and "待回访" in history
    login(client, "unita")
    unit_page = _text(client.get(f"/intake/{world['record_id']}"))
    assert "followup-history" not in unit_page
    assert "回访" not in unit_page and "无人接听" not in unit_page and "查看反映人信息" not in unit_page
