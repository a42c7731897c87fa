"""The public lookup (/track and POST /api/v1/public/track): only public fields, in public words;
a wrong code and a wrong PIN answer alike; a code of the wrong shape says what a code looks like."""

import re

import pytest

from tests.conftest import csrf_from
from tests.public.conftest import MARKERS, REPLY, case_of, do, marked_problem, problem_of, user
from tracker.extensions import db
from tracker.intake import services as intake_services
from tracker.intake.models import IntakeRecord
from tracker.ledger.models import STATUS_LABELS
from tracker.public import services

API = "/api/v1/public/track"
INTERNAL_WORDS = [str(label) for label in STATUS_LABELS.values()] + [
    "new",
    "assigned",
    "in_progress",
    "submitted",
    "verifying",
    "withdrawn",
    "rectify",
    "explained",
    "duplicate",
    "appeal",
]


def page_lookup(client, code, pin, **kwargs):
    token = csrf_from(client, "/track")
    return client.post("/track", data={"code": code, "pin": pin, "csrf_token": token}, **kwargs)


def assert_nothing_private(text, number=None):
    for name, marker in MARKERS.items():
        assert marker not in text, f"{name} leaked"
    assert MARKERS["complainant_phone"][-4:] not in text  # not even the mask's last digits
    assert "****" not in text
    if number:
        assert number not in text


def test_closed_case_shows_only_public_fields_on_the_page(app, client, world):
    case = marked_problem(app, world)
    response = page_lookup(client, case.code, case.pin)
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert case.code in text and "已办结" in text and "甲单位" in text and REPLY in text
    with app.app_context():
        deadline = problem_of(case.number).deadline.isoformat()
    assert deadline in text
    assert_nothing_private(text, case.number)
    assert case.pin not in text  # the PIN is not echoed back
    for word in ("已销号", "待审核", "待核查", "整改中"):
        assert word not in text


def test_closed_case_shows_only_public_fields_in_the_api(app, client, world):
    case = marked_problem(app, world)
    response = client.post(API, json={"code": case.code, "pin": case.pin})
    assert response.status_code == 200
    body = response.get_json()
    with app.app_context():
        deadline = problem_of(case.number).deadline.isoformat()
    assert body == {
        "code": case.code,
        "status": "closed",
        "status_label": "已办结",
        "unit": "甲单位",
        "deadline": deadline,
        "reply": REPLY,
    }
    assert_nothing_private(response.get_data(as_text=True), case.number)


def test_case_being_worked_reads_as_in_hand_with_its_deadline(app, client, world):
    case = marked_problem(app, world, close=False, reply=None)
    body = client.post(API, json={"code": case.code, "pin": case.pin}).get_json()
    assert body["status"] == "processing" and body["status_label"] == "办理中"
    assert body["unit"] == "甲单位" and body["deadline"] and body["reply"] is None
    do(app, case.number, "submit", "unita", report="<p>已整改</p>")
    body = client.post(API, json={"code": case.code, "pin": case.pin}).get_json()
    assert body["status_label"] == "办理中"  # 待审核 is an internal step


@pytest.mark.parametrize("status", ["new", "assigned", "in_progress", "submitted", "verifying", "closed", "withdrawn"])
def test_every_ledger_state_has_public_words(status):
    public = services.PROBLEM_STATUS[status]
    assert public in services.PUBLIC_STATUS_LABELS
    assert services.PUBLIC_STATUS_LABELS[public] not in STATUS_LABELS.values()


def test_new_record_reads_as_received(app, client, world):
    case = case_of(app, world.record("R-NEW", unit="UA", complainant_name=MARKERS["complainant_name"]))
    body = client.post(API, json={"code": case.code, "pin": case.pin}).get_json()
    assert body == {
        "code": case.code,
        "status": "received",
        "status_label": "已受理",
        "unit": None,
        "deadline": None,
        "reply": None,
    }


def test_explained_record_is_answered_with_its_explanation(app, client, world):
    record_id = world.record("R-EXP", unit="UA", body=MARKERS["body"])
    with app.app_context():
        record = db.session.get(IntakeRecord, record_id)
        intake_services.explain(record, "该诉求无政策依据，已向您当面解释。", actor=user("inspector"))
        db.session.commit()
    case = case_of(app, record_id)
    body = client.post(API, json={"code": case.code, "pin": case.pin}).get_json()
    assert body["status"] == "answered" and body["status_label"] == "已答复"
    assert body["reply"] == "该诉求无政策依据，已向您当面解释。"
    text = page_lookup(client, case.code, case.pin).get_data(as_text=True)
    assert "已答复" in text and "该诉求无政策依据" in text and MARKERS["body"] not in text


def test_duplicate_record_reads_as_the_case_it_joined(app, client, world):
    original = marked_problem(app, world)
    record_id = world.record("R-DUP", unit="UA")
    with app.app_context():
        record = db.session.get(IntakeRecord, record_id)
        intake_services.mark_duplicate(record, original.code, actor=user("inspector"))
        db.session.commit()
    case = case_of(app, record_id)
    body = client.post(API, json={"code": case.code, "pin": case.pin}).get_json()
    assert body["code"] == case.code  # the code asked about, never the other complainant's
    assert body["status"] == "closed" and body["reply"] == REPLY and body["unit"] == "甲单位"
    # The original's PIN does not open the duplicate, nor the other way round.
    assert client.post(API, json={"code": case.code, "pin": original.pin}).status_code == 404


def test_public_words_never_include_internal_states(app, client, world):
    case = marked_problem(app, world, close=False)
    text = page_lookup(client, case.code, case.pin).get_data(as_text=True)
    shown = text.split('id="case"', 1)[1].split("</section>", 1)[0]
    for word in INTERNAL_WORDS:
        assert word not in shown


# ---- the same answer for a wrong code and a wrong PIN ---------------------------------------------


def _wrong_pin(pin):
    return f"{(int(pin) + 1) % 10**6:06d}"


def _unknown_code(code):
    other = "23456789AB" if code != "23456789AB" else "23456789AC"
    return other


def test_wrong_code_and_wrong_pin_get_the_same_api_answer(app, client, world):
    case = marked_problem(app, world)
    wrong_pin = client.post(API, json={"code": case.code, "pin": _wrong_pin(case.pin)})
    wrong_code = client.post(API, json={"code": _unknown_code(case.code), "pin": case.pin})
    assert wrong_pin.status_code == wrong_code.status_code == 404
    assert wrong_pin.get_data() == wrong_code.get_data()
    error = wrong_pin.get_json()["error"]
    assert error["code"] == "not_found" and "查询码或查询密码不正确" in error["message"]


def _normalised(response):
    text = response.get_data(as_text=True)
    text = re.sub(r'name="csrf_token"[^>]*value="[^"]*"', 'name="csrf_token"', text)
    return re.sub(r'(id="code" name="code") value="[^"]*"', r"\1", text)


def test_wrong_code_and_wrong_pin_get_the_same_page(app, client, world):
    case = marked_problem(app, world)
    wrong_pin = page_lookup(client, case.code, _wrong_pin(case.pin))
    wrong_code = page_lookup(client, _unknown_code(case.code), case.pin)
    assert wrong_pin.status_code == wrong_code.status_code == 404
    assert _normalised(wrong_pin) == _normalised(wrong_code)
    assert "查询码或查询密码不正确" in wrong_pin.get_data(as_text=True)
    assert REPLY not in wrong_pin.get_data(as_text=True)


def test_code_is_read_as_people_type_it(app, client, world):
    case = marked_problem(app, world)
    typed = " " + case.code[:5].lower() + "-" + case.code[5:] + " "
    assert client.post(API, json={"code": typed, "pin": case.pin}).status_code == 200
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in case.code)
    assert client.post(API, json={"code": full_width, "pin": case.pin}).status_code == 200


# ---- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["ABC", "23456789ABCD", "O23456789A", "1234567890", "2345678@AB", "张三李四王五赵六钱七"]
)
def test_code_of_the_wrong_shape_says_what_a_code_looks_like(client, world, code):
    response = client.post(API, json={"code": code, "pin": "123456"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert "10 位" in error["fields"]["code"] and "不含 0、1、I、L、O" in error["fields"]["code"]
    page = page_lookup(client, code, "123456")
    assert page.status_code == 422 and "10 位" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pin": "123456"}, "code"),
        ({"code": "23456789AB"}, "pin"),
        ({"code": "", "pin": "123456"}, "code"),
        ({"code": 12345, "pin": "123456"}, "code"),
        ({"code": "23456789AB", "pin": "12345"}, "pin"),
        ({"code": "23456789AB", "pin": "12345a"}, "pin"),
        ({"code": "23456789AB", "pin": ["123456"]}, "pin"),
    ],
)
def test_missing_or_misshapen_field_is_422_naming_it(client, world, body, field):
    response = client.post(API, json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "fields"} and field in error["fields"]
    assert re.search(r"[\u4e00-\u9fff]", error["fields"][field])


def test_a_body_that_is_not_json_is_400_in_the_api_shape(client, world):
    response = client.post(API, data="code=1", content_type="text/plain")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_json"
    response = client.post(API, json=["23456789AB", "123456"])
    assert response.status_code == 400


def test_lookup_needs_no_login_and_no_token(app, client, world):
    case = marked_problem(app, world)
    assert client.get("/track").status_code == 200
    assert client.post(API, json={"code": case.code, "pin": case.pin}).status_code == 200


def test_page_form_keeps_csrf_protection_and_the_api_is_exempt(app, client, world):
    case = marked_problem(app, world)
    assert 'name="csrf_token"' in client.get("/track").get_data(as_text=True)
    refused = client.post("/track", data={"code": case.code, "pin": case.pin})
    assert refused.status_code == 400 and REPLY not in refused.get_data(as_text=True)
    assert "页面已过期" in refused.get_data(as_text=True)
    assert client.post(API, json={"code": case.code, "pin": case.pin}).status_code == 200


def test_page_stands_alone_without_the_staff_navigation(client, world):
    text = client.get("/track").get_data(as_text=True)
    assert "app-navbar" not in text and "工作台" not in text and "/login" not in text
    assert 'name="viewport"' in text
    assert "http://" not in text.replace("http://localhost", "") and "https://" not in text  # local assets only
