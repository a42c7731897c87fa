"""A look at the pages each role lives in, with the alerts of an overdue problem in place."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.browser.test_home_screens import sign_in
from tests.conftest import Factory
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Problem

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def overdue(live_app):
    number = Factory(live_app).problem(
        title="社区卫生服务站药品短缺", body="慢性病常用药经常缺货。", assign={"tier": "yellow", "leader": "leader"}
    )
    with live_app.app_context():
        from tracker.alerts.scan import scan

        db.session.execute(
            update(Problem)
            .where(Problem.number == number)
            .values(deadline=clock.today() - timedelta(days=14), assigned_at=clock.now() - timedelta(days=30))
        )
        db.session.commit()
        scan()
        db.session.commit()
        assert db.session.scalar(select(Problem.status).where(Problem.number == number)) == "assigned"
    return number


def test_inspector_sees_the_ledger_the_notices_and_a_printable_notice(page, live_server, screenshots, overdue):
    sign_in(page, live_server, "inspector")
    page.goto(f"{live_server}/ledger/?due=overdue")
    page.wait_for_selector("#ledger-counts .count-chip")
    assert overdue in page.locator("table").inner_text()
    page.screenshot(path=str(screenshots / "ledger-overdue.png"), full_page=True)
    page.goto(f"{live_server}/notices")
    page.screenshot(path=str(screenshots / "notices-register.png"), full_page=True)
    page.locator("table a").first.click()
    assert (
        "督办通知单" in page.locator("#notice").inner_text() or "挂牌督办通知单" in page.locator("#notice").inner_text()
    )
    page.screenshot(path=str(screenshots / "notice-a4.png"), full_page=True)
    page.emulate_media(media="print")
    page.screenshot(path=str(screenshots / "notice-print.png"), full_page=True)


def test_unit_user_has_the_alert_in_the_inbox(page, live_server, screenshots, overdue):
    sign_in(page, live_server, "unita")
    assert int(page.locator("#unread-count").inner_text()) >= 1
    page.goto(f"{live_server}/inbox")
    assert overdue in page.locator("main").inner_text()
    page.screenshot(path=str(screenshots / "inbox-unit.png"), full_page=True)


def test_leader_home_lists_the_overdue_problem_by_unit(page, live_server, screenshots, overdue):
    sign_in(page, live_server, "leader")
    assert overdue in page.locator("main").inner_text()
    page.screenshot(path=str(screenshots / "home-leader-overdue.png"), full_page=True)


def test_admin_settings_pages(page, live_server, screenshots):
    sign_in(page, live_server, "admin")
    for path, name in (("/admin/alerts", "admin-alerts"), ("/admin/triage/", "admin-triage")):
        page.goto(f"{live_server}{path}")
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    page.goto(f"{live_server}/lang/en?next=/admin/alerts")
    assert "Sign out" in page.content() or "Alert" in page.content()
    page.screenshot(path=str(screenshots / "admin-alerts-en.png"), full_page=True)
    page.goto(f"{live_server}/lang/zh?next=/")
