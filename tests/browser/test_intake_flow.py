"""An inspector imports a GBK file through the pages, watches the progress, and handles a record."""

import re

import pytest

from tests.browser.test_home_screens import sign_in
from tests.intake.helpers import csv_bytes, row

pytestmark = pytest.mark.browser


def test_inspector_imports_a_gbk_file_and_hands_a_record_to_the_ledger(page, live_server, screenshots, tmp_path):
    rows = [row(f"B{i}", **{"标题": f"办事窗口排队过长 第{i}件"}) for i in range(40)]
    rows.append(row("BAD", **{"受理时间": "2026-02-30"}))
    path = tmp_path / "好差评.csv"
    path.write_bytes(csv_bytes(rows, encoding="gbk"))
    sign_in(page, live_server, "inspector")
    page.goto(f"{live_server}/intake/import")
    page.set_input_files("input[type=file]", str(path))
    page.get_by_role("button", name="上传并下一步").click()
    page.wait_for_url(re.compile(r".*/mapping$"))
    assert page.get_by_text("已自动对应").is_visible()
    page.screenshot(path=str(screenshots / "intake-mapping.png"), full_page=True)
    page.get_by_role("button", name="开始导入").click()
    page.wait_for_selector("#progress-text:has-text('已完成')", timeout=20_000)
    assert page.locator("#count-created").inner_text() == "40"
    assert page.locator("#count-rejected").inner_text() == "1"
    page.reload()  # the progress survives a reload: it lives in the database
    assert page.locator("#count-created").inner_text() == "40"
    page.screenshot(path=str(screenshots / "intake-import-done.png"), full_page=True)

    page.goto(f"{live_server}/intake/")
    page.screenshot(path=str(screenshots / "intake-inbox.png"), full_page=True)
    page.get_by_role("link", name="办事窗口排队过长 第7件").click()
    page.get_by_role("button", name="转入问题台账").click()
    assert page.get_by_text("已转入问题台账").is_visible()
    # its ledger number, shown beside the record's details and on its timeline
    assert page.get_by_text(re.compile(r"ZG-\d{4}-\d{6}")).first.is_visible()
    page.screenshot(path=str(screenshots / "intake-record.png"), full_page=True)


def test_unit_user_sees_nothing_of_the_complainant(page, live_server, screenshots):
    sign_in(page, live_server, "unita")
    page.goto(f"{live_server}/intake/?handling=all")
    page.get_by_role("link", name="办事窗口排队过长 第3件").click()
    identity = page.locator("#complainant").inner_text()
    assert identity.strip() == "反映人信息已保密"  # not even a mask (DESIGN.md section 5)
    text = page.locator("main").inner_text()
    assert "138****5678" not in text and "13812345678" not in text and "张三" not in text
    assert page.get_by_role("button", name="查看完整信息").count() == 0
    page.screenshot(path=str(screenshots / "intake-record-unit.png"), full_page=True)
