"""The issue's "Done means" walk in Chromium: a leader opens the overdue list from the home page,
prints it as an A4 landscape document of several pages, then downloads the quarter's ranking as
Excel, whose figures are the page's (a problem signed off after its original deadline within an
approved extension counts as 延期后按期办结, not as 按原定时限)."""

import re
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.browser.test_home_screens import sign_in
from tests.conftest import Factory
from tests.ledger.test_timeliness import _close_through_workflow
from tracker.core import clock

pytestmark = pytest.mark.browser

A4_LANDSCAPE = (841.89, 595.28)  # points
MEDIA_BOX = re.compile(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]")


def _assign(deadline):
    return {
        "tier": "yellow",
        "deadline": deadline,
        "deadline_note": "领导要求限期完成",
        "tier_override_reason": "按领导批示",
    }


@pytest.fixture
def quarter(live_app):
    """Forty overdue problems in 甲单位 (the leader's), one signed off on time, one signed off after
    its original deadline within an approved extension."""
    make = Factory(live_app)
    clock.pin("2026-10-12T09:00:00+08:00")
    for i in range(40):
        make.problem(assign=_assign("2026-10-16"), title=f"逾期清单打印测试：问题{i + 1:02d}（窗口服务）")
    on_time = make.problem(assign=_assign("2026-10-20"), title="排名测试：按期销号")
    extended = make.problem(assign=_assign("2026-10-14"), title="排名测试：延期后按期销号")
    clock.pin("2026-10-16T10:00:00+08:00")
    _close_through_workflow(live_app, on_time)
    _close_through_workflow(live_app, extended, extend_to="2026-10-21")
    clock.pin("2026-11-18T10:00:00+08:00")
    yield
    clock.pin(None)


def test_leader_prints_the_overdue_list_and_downloads_the_quarters_ranking(page, live_server, quarter, screenshots):
    sign_in(page, live_server, "leader")
    page.wait_for_url(f"{live_server}/")
    page.get_by_role("link", name="逾期清单（可打印）").click()
    page.wait_for_url(re.compile(r".*/reports/overdue$"))
    assert "逾期清单打印测试" in page.content()

    page.locator("#overdue-print").click()
    page.wait_for_url(re.compile(r".*/reports/overdue/print"))
    assert page.locator("#doc-table thead th").first.is_visible()
    page.screenshot(path=str(screenshots / "overdue-print.png"), full_page=True)
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    boxes = [(float(w), float(h)) for w, h in MEDIA_BOX.findall(pdf)]
    assert boxes and all(abs(w - A4_LANDSCAPE[0]) < 1 and abs(h - A4_LANDSCAPE[1]) < 1 for w, h in boxes), boxes
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 2  # forty-odd rows do not fit on one landscape page
    (screenshots / "overdue-print.pdf").write_bytes(pdf)

    page.goto(f"{live_server}/")
    page.get_by_role("link", name="排名通报").click()
    page.wait_for_url(re.compile(r".*/reports/ranking$"))
    row = page.locator("#ranking-table tbody tr[data-unit='UA']")
    headers = [h.strip() for h in page.locator("#ranking-table thead th").all_inner_texts()]
    cells = [row.locator("th").inner_text().split()[0]] + [c.strip() for c in row.locator("td").all_inner_texts()]
    on_screen = dict(zip(headers, cells, strict=True))
    assert page.locator("#ranking-table tr[data-unit='UB']").count() == 0  # not in the leader's charge

    with page.expect_download() as caught:
        page.locator("#ranking-xlsx").click()
    download = caught.value
    assert download.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(BytesIO(Path(download.path()).read_bytes()), read_only=True).active
    rows = [[("" if v is None else str(v)) for v in r] for r in sheet.iter_rows(values_only=True)]
    header_row = next(r for r in rows if "责任单位" in r)
    unit_row = next(r for r in rows if "甲单位" in r)
    in_file = dict(zip(header_row, unit_row, strict=False))
    for name in ("办结", "按原定时限办结", "延期后按期办结", "当前逾期"):
        label = next(h for h in on_screen if h.startswith(name))
        file_label = next(h for h in in_file if h.startswith(name))
        assert in_file[file_label].rstrip("%") == on_screen[label].rstrip("%"), name
    original = next(h for h in on_screen if h.startswith("按原定时限办结"))
    extended = next(h for h in on_screen if h.startswith("延期后按期办结"))
    assert int(on_screen[original]) >= 1 and int(on_screen[extended]) >= 1
