"""Every role logs in through the real login form in Chromium and lands on its own home page."""

import pytest

from tests.conftest import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser

ROLES = {
    "admin": ("admin", "单位管理"),
    "inspector": ("inspector", "待处理反映件"),
    "leader": ("leader", "逾期问题清单"),
    "unit": ("unita", "待签收"),
}


def sign_in(page, base, username, password=DEFAULT_PASSWORD):
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


@pytest.mark.parametrize("role", ROLES)
def test_role_logs_in_and_sees_its_home(page, live_server, screenshots, role):
    username, marker = ROLES[role]
    sign_in(page, live_server, username)
    page.wait_for_url(f"{live_server}/")
    assert page.get_by_role("heading", name="工作台").is_visible()
    assert page.locator("main").get_by_text(marker).first.is_visible()
    page.screenshot(path=str(screenshots / f"home-{role}.png"), full_page=True)


def test_wrong_password_shows_a_message_in_chinese(page, live_server, screenshots):
    sign_in(page, live_server, "admin", "not-the-password-1")
    assert page.locator("#login-error").inner_text() == "用户名或密码错误。"
    page.screenshot(path=str(screenshots / "login-error.png"))


def test_deactivating_a_unit_asks_for_confirmation(page, live_server, screenshots):
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/admin/units")
    page.screenshot(path=str(screenshots / "admin-units.png"), full_page=True)
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.dismiss()))
    row = page.locator("tr", has_text="乙单位")
    row.get_by_role("button", name="停用").click()
    assert messages and "确定停用单位“乙单位”" in messages[0]
    assert row.get_by_role("button", name="停用").is_visible()  # dismissed: nothing changed


def test_admin_calendar_page_warns_about_an_uncovered_year(page, live_server, screenshots):
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/admin/calendar/?year=2027")
    assert "尚未录入" in page.locator("#calendar-warning").inner_text()
    page.screenshot(path=str(screenshots / "admin-calendar-2027.png"), full_page=True)
