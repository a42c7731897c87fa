"""The complainant's protection role by role (DESIGN.md §5): unit users see nothing, not even a mask,
and are told 反映人信息已保密; leaders see masks; inspectors see masks and may reveal (audited).
On the record page, the problem page, the inbox exports, the messages and the API."""

import csv
import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.api.test_intake_api import auth, token_for
from tests.conftest import login, post_form
from tracker.audit.models import AuditEvent
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.ledger.models import Problem

NAME, PHONE = "张三丰", "13812345678"
NAME_MASK, PHONE_MASK = "张**", "138****5678"
HIDDEN = "反映人信息已保密"


def _case(app, make):
    """A record with a complainant, on a problem assigned to 甲单位 (UA)."""
    make.org()
    number = make.problem(
        title="医院挂号难", body="挂号排队三小时", complainant_name=NAME, complainant_phone=PHONE, assign={}
    )
    with app.app_context():
        problem_id = db.session.scalar(select(Problem.id).where(Problem.number == number))
        record_id = db.session.scalar(select(IntakeRecord.id).where(IntakeRecord.problem_id == problem_id))
    return record_id, number


def _export_text(client, fmt):
    response = client.get(f"/intake/export.{fmt}?handling=all")
    assert response.status_code == 200
    content = response.get_data()
    response.close()
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        header = rows[0]
    else:
        rows = [list(r) for r in load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True)]
        header = next(r for r in rows if r[0] == "序号")
        rows = rows[rows.index(header) :]
    data = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    return data, str(rows)


def _pages(client, record_id, number):
    return client.get(f"/intake/{record_id}").get_data(as_text=True), client.get(f"/ledger/{number}").get_data(
        as_text=True
    )


def test_unit_user_sees_nothing_of_the_complainant_anywhere(app, client, make):
    record_id, number = _case(app, make)
    login(client, "unita")
    record_page, problem_page = _pages(client, record_id, number)
    inbox = client.get("/intake/?handling=all").get_data(as_text=True)
    messages = client.get("/inbox").get_data(as_text=True)
    for html in (record_page, problem_page, inbox, messages):
        for secret in (NAME, PHONE, NAME_MASK, PHONE_MASK, "匿名"):
            assert secret not in html
    assert HIDDEN in record_page and HIDDEN in problem_page
    assert "查看完整信息" not in record_page
    refused = post_form(client, f"/intake/{record_id}/reveal", {}, form_page=f"/intake/{record_id}")
    assert refused.status_code == 403 and NAME not in refused.get_data(as_text=True)
    for fmt in ("xlsx", "csv"):
        data, everything = _export_text(client, fmt)
        assert [(r["反映人"], r["联系电话"] or "") for r in data] == [(HIDDEN, "")]
        assert NAME_MASK not in everything and PHONE_MASK not in everything and PHONE not in everything


def test_unit_users_api_answers_say_the_identity_is_protected(app, client, make):
    record_id, number = _case(app, make)
    token = token_for(app, "unita")
    record = client.get(f"/api/v1/intake/{record_id}", headers=auth(token)).get_json()
    problem = client.get(f"/api/v1/problems/{number}", headers=auth(token)).get_json()
    for body in (record, problem["intake_records"][0]):
        assert body["complainant"] == {"name": None, "phone": None, "hidden": True, "message": HIDDEN}
        assert body["anonymous"] is None
    for secret in (NAME, PHONE, NAME_MASK, PHONE_MASK):
        assert secret not in str(record) + str(problem)


def test_anonymous_record_is_not_told_apart_for_a_unit_user(app, client, make):
    make.org()
    record_id = make.record("ANON-1", anonymous=True)
    login(client, "unita")
    page = client.get(f"/intake/{record_id}").get_data(as_text=True)
    assert HIDDEN in page and "匿名" not in page


def test_leader_sees_masks_and_cannot_reveal(app, client, make):
    record_id, number = _case(app, make)
    login(client, "leader")
    for html in _pages(client, record_id, number):
        assert NAME_MASK in html and PHONE_MASK in html
        assert NAME not in html and PHONE not in html and HIDDEN not in html
    assert "查看完整信息" not in client.get(f"/intake/{record_id}").get_data(as_text=True)
    refused = post_form(client, f"/intake/{record_id}/reveal", {}, form_page=f"/intake/{record_id}")
    assert refused.status_code == 403
    for fmt in ("xlsx", "csv"):
        data, everything = _export_text(client, fmt)
        assert [(r["反映人"], r["联系电话"]) for r in data] == [(NAME_MASK, PHONE_MASK)]
        assert NAME not in everything and PHONE not in everything
    body = client.get(f"/api/v1/intake/{record_id}", headers=auth(token_for(app, "leader"))).get_json()
    assert body["complainant"] == {"name": NAME_MASK, "phone": PHONE_MASK}


def test_inspector_sees_masks_reveals_with_an_audit_event_and_exports_masks_only(app, client, make):
    record_id, number = _case(app, make)
    login(client, "inspector")
    for html in _pages(client, record_id, number):
        assert NAME_MASK in html and NAME not in html and PHONE not in html
    assert "查看完整信息" in client.get(f"/intake/{record_id}").get_data(as_text=True)
    revealed = post_form(client, f"/intake/{record_id}/reveal", {}, form_page=f"/intake/{record_id}")
    assert NAME in revealed.get_data(as_text=True) and PHONE in revealed.get_data(as_text=True)
    with app.app_context():
        reveals = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "intake.reveal")
        )
    assert reveals == 1
    for fmt in ("xlsx", "csv"):  # a file travels: never the full identity in it
        data, everything = _export_text(client, fmt)
        assert [(r["反映人"], r["联系电话"]) for r in data] == [(NAME_MASK, PHONE_MASK)]
        assert NAME not in everything and PHONE not in everything
    headers = auth(token_for(app, "inspector"))
    body = client.get(f"/api/v1/intake/{record_id}", headers=headers).get_json()
    assert body["complainant"] == {
        "name": NAME_MASK,
        "phone": PHONE_MASK,
        "can_reveal": True,
    }  # reading reveals nothing
    revealed = client.post(f"/api/v1/intake/{record_id}/reveal", headers=headers)
    assert revealed.status_code == 200 and revealed.get_json()["complainant"] == {"name": NAME, "phone": PHONE}
    with app.app_context():
        reveals = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "intake.reveal")
        )
    assert reveals == 2  # the page's reveal and the API's


def test_api_reveal_is_refused_to_leaders_and_hidden_from_units(app, client, make):
    make.org()
    record_id = make.record("PRIV-API-1", complainant_name=NAME, complainant_phone=PHONE)
    leader = client.post(f"/api/v1/intake/{record_id}/reveal", headers=auth(token_for(app, "leader")))
    unit = client.post(f"/api/v1/intake/{record_id}/reveal", headers=auth(token_for(app, "unita")))
    assert leader.status_code == 403 and NAME not in leader.get_data(as_text=True)
    assert unit.status_code in (403, 404) and NAME not in unit.get_data(as_text=True)


def test_unit_users_see_neither_the_raw_row_nor_the_source_reply(app, client, make):
    make.org()
    record_id = make.record("PRIV-RAW-1", complainant_name=NAME, complainant_phone=PHONE, reply="张先生您好，已转办。")
    with app.app_context():
        record = db.session.get(IntakeRecord, record_id)
        record.source_row = {"来电人住址": "幸福路 8 号 张三丰家", "答复": "张先生您好，已转办。"}
        db.session.commit()
    login(client, "unita")
    page = client.get(f"/intake/{record_id}").get_data(as_text=True)
    assert "幸福路" not in page and "张先生" not in page
    body = client.get(f"/api/v1/intake/{record_id}", headers=auth(token_for(app, "unita"))).get_json()
    assert body["reply"] is None
    inspector = app.test_client()
    login(inspector, "inspector")
    page = inspector.get(f"/intake/{record_id}").get_data(as_text=True)
    assert "幸福路" in page and "张先生您好" in page
