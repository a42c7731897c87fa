"""领导驾驶舱 in Chromium: the leader opens it from the home page, the charts draw, and a click on a unit's
bar lands on the ledger filtered to that unit's overdue problems."""

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.test_home_screens import sign_in
from tests.conftest import Factory
from tracker.core import clock
from tracker.extensions import db

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


def _assign(deadline, tier="yellow"):
    return {
        "tier": tier,
        "deadline": deadline,
        "deadline_note": "领导要求限期完成",
        "tier_override_reason": "按领导批示",
    }


@pytest.fixture
def overdue_problems(live_app):
    """Overdue on 2026-11-18: two in 甲单位 (the leader's), one in 乙单位 (not the leader's)."""
    make = Factory(live_app)
    clock.pin("2026-11-02T09:00:00+08:00")
    make.problem(assign=_assign("2026-11-05", tier="red"), title="驾驶舱测试：窗口长期无人")
    make.problem(assign=_assign("2026-11-10"), title="驾驶舱测试：办事指南过期")
    make.problem(unit="UB", assign=_assign("2026-11-06"), title="驾驶舱测试：乙单位逾期")
    clock.pin("2026-11-18T10:00:00+08:00")
    yield
    clock.pin(None)


def test_leader_clicks_a_units_bar_and_lands_on_its_overdue_problems(page, live_server, live_app, overdue_problems):
    from tracker.org.queries import unit_by_code

    with live_app.app_context():
        ua = unit_by_code("UA").id
        db.session.remove()
    sign_in(page, live_server, "leader")
    page.wait_for_url(f"{live_server}/")
    page.locator("#dashboard-link").click()
    page.wait_for_url(re.compile(r".*/reports/dashboard$"))
    assert page.get_by_role("heading", name="领导驾驶舱").is_visible()
    box = page.locator("#chart-overdue-units-box")
    box.locator("canvas").wait_for()
    assert page.locator("#chart-weekly-box canvas").count() == 1
    assert page.locator("#chart-tiers-box canvas").count() == 1
    bars = json.loads(page.locator("#chart-overdue-units").text_content())
    assert "乙单位" not in bars["labels"]
    index = bars["labels"].index("甲单位")
    count = bars["series"][0]["data"][index]
    assert count >= 2

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    page.emulate_media(media="print")
    page.screenshot(path=str(SHOTS / "dashboard-print.png"), full_page=True)
    assert not page.locator(".app-navbar").is_visible()
    page.emulate_media(media="screen")

    # the table behind the chart, one click away
    page.get_by_role("button", name="查看数据表").nth(1).click()
    page.locator("#table-overdue-units").wait_for(state="visible")
    assert page.locator("#table-overdue-units tr", has_text="甲单位").locator("a").inner_text() == str(count)

    # a real mouse click in the middle of 甲单位's bar
    x, y = page.evaluate(
        "([i, v]) => document.getElementById('chart-overdue-units-box').chart"
        ".convertToPixel({seriesIndex: 0}, [v / 2, i])",
        [index, count],
    )
    origin = box.bounding_box()
    page.mouse.click(origin["x"] + x, origin["y"] + y)
    page.wait_for_url(re.compile(r".*/ledger/\?.*"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["unit"] == [str(ua)] and query["unit_only"] == ["1"] and query["due"] == ["overdue"]
    rows = page.locator("table.ledger-table tbody tr")
    assert rows.count() == count
    assert rows.filter(has_text="驾驶舱测试：窗口长期无人").count() == 1
    assert rows.filter(has_text="乙单位").count() == 0
