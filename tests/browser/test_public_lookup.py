"""A complainant looks up their case on a phone-sized screen (390×844) and sees only what is public;
nothing overflows sideways, on the lookup and on the results page."""

import pytest
from sqlalchemy import select

from tests.conftest import Factory
from tracker.auth.models import User
from tracker.core import crypto
from tracker.extensions import db, limiter
from tracker.intake import services as intake_services
from tracker.ledger import services as ledger_services
from tracker.ledger.models import NoteKind, Problem
from tracker.workflow import services as workflow

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
REPLY = "经核查，窗口已延长周末开放时间（周六 9:00—17:00），并对相关工作人员进行了批评教育。感谢您的监督！"
SECRET = ["内部进展秘密标记", "整改措施秘密标记", "审核意见秘密标记", "举报人秘密", "13987654321"]


@pytest.fixture(scope="module")
def closed_case(live_app):
    """A closed problem of 甲单位 with a published reply, opted in; returns (code, pin, number)."""
    make = Factory(live_app)
    number = make.problem(
        unit="UA",
        title="窗口周末不开放",
        body="周末去办事窗口不开门，白跑一趟。",
        complainant_name=SECRET[3],
        complainant_phone=SECRET[4],
        anonymous=False,
        assign={"tier": "yellow", "measures": SECRET[1]},
    )
    with live_app.app_context():

        def user(name):
            return db.session.scalar(select(User).where(User.username == name))

        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        workflow.apply(problem, "accept", actor=user("unita"), expected_version=problem.version)
        ledger_services.add_note(problem, NoteKind.PROGRESS, f"<p>{SECRET[0]}</p>", actor=user("unita"))
        ledger_services.waive_evidence(problem, actor=user("inspector"), reason="以现场照片为准")
        ledger_services.set_public_reply(problem, REPLY, actor=user("inspector"))
        workflow.apply(problem, "submit", actor=user("unita"), expected_version=problem.version, report="<p>已整改</p>")
        workflow.apply(problem, "approve", actor=user("inspector"), expected_version=problem.version, opinion=SECRET[2])
        record = problem.intake_records[0]
        intake_services.publish(record, True, actor=user("inspector"))
        db.session.commit()
        return record.tracking_code, crypto.decrypt(record.query_pin_enc), number


@pytest.fixture
def phone(browser):
    limiter.reset()  # other browser tests may have looked up from this address already
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def scroll_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def test_complainant_looks_up_a_case_on_a_phone(phone, live_server, closed_case, screenshots):
    code, pin, number = closed_case
    phone.goto(f"{live_server}/track")
    assert scroll_width(phone) <= PHONE["width"]
    phone.screenshot(path=str(screenshots / "public-track-form-390.png"), full_page=True)
    phone.get_by_label("查询码").fill(code.lower())  # typed in lower case, as people do
    phone.get_by_label("查询密码").fill(pin)
    phone.get_by_role("button", name="查询").click()
    phone.wait_for_selector("#case")
    assert phone.locator("#case-status").inner_text() == "已办结"
    assert phone.locator("#case-unit").inner_text() == "甲单位"
    assert phone.locator("#case-reply").inner_text() == REPLY
    assert phone.locator("#case-deadline").inner_text().count("-") == 2  # a date, no time
    text = phone.locator("body").inner_text()
    for secret in [*SECRET, number, "已销号", pin]:
        assert secret not in text
    assert scroll_width(phone) <= PHONE["width"]
    phone.screenshot(path=str(screenshots / "public-track-result-390.png"), full_page=True)


def test_wrong_pin_on_a_phone_says_so_without_overflow(phone, live_server, closed_case, screenshots):
    code, pin, _number = closed_case
    phone.goto(f"{live_server}/track")
    phone.get_by_label("查询码").fill(code)
    phone.get_by_label("查询密码").fill(f"{(int(pin) + 1) % 10**6:06d}")
    phone.get_by_role("button", name="查询").click()
    assert "查询码或查询密码不正确" in phone.locator("#lookup-message").inner_text()
    phone.get_by_label("查询码").fill("ABC")
    phone.get_by_role("button", name="查询").click()
    assert "10 位" in phone.locator("#code-error").inner_text()
    assert scroll_width(phone) <= PHONE["width"]
    phone.screenshot(path=str(screenshots / "public-track-bad-code-390.png"), full_page=True)


def test_results_page_reads_on_a_phone(phone, live_server, closed_case, screenshots):
    phone.goto(f"{live_server}/results")
    assert REPLY in phone.locator("#results").inner_text()
    text = phone.locator("body").inner_text()
    for secret in [*SECRET, closed_case[2]]:
        assert secret not in text
    assert "甲单位" in phone.locator("#unit-counts").inner_text()
    assert scroll_width(phone) <= PHONE["width"]
    phone.screenshot(path=str(screenshots / "public-results-390.png"), full_page=True)
