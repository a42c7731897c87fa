"""Issue 9's "Done means", walked through the real pages as a new user would: import
complaints_zh.csv, see its clusters, merge one into a problem, send 200 records to one unit in two
bulk actions, read the problem page, its timeline and the audit log in plain Chinese, check the
audit chain, and as a unit user accept a problem (no 未签收 left) and find no trace of the complainant."""

import csv
import io
import re
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from config import TestConfig
from tests.browser.test_home_screens import sign_in
from tests.conftest import Factory
from tracker import create_app
from tracker.core import clock
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.ledger.models import Problem
from tracker.org.models import Unit

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
COMPLAINTS = DATA / "complaints_zh.csv"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not COMPLAINTS.is_file(), reason="../shared/data/complaints_zh.csv is not beside the repository"
    ),
]
NAME, PHONE = "测试反映人甲", "13900001111"
# Code names and raw values that must never reach a reader of these pages.
NOT_PLAIN = ("intake.", "problem.", "alert.", '{"', "None", "True", "False", "null")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An app of its own: 4,000 imported records would change what the other browser tests see."""
    path = tmp_path_factory.mktemp("daily") / "daily.db"

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{path}"
        STORAGE_DIR = str(tmp_path_factory.mktemp("daily-storage"))
        WTF_CSRF_ENABLED = True

    app = create_app(Config)
    with app.app_context():
        db.create_all()
    Factory(app).org()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)


def new_page(browser):
    page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN").new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def import_file(page, base, path, shots, name):
    """Upload, take the automatic mapping with a default channel, import, wait for the end."""
    page.goto(f"{base}/intake/import")
    page.set_input_files("input[type=file]", str(path))
    page.get_by_role("button", name="上传并下一步").click()
    page.wait_for_url(re.compile(r".*/mapping$"))
    assert page.get_by_text("已自动对应").is_visible()  # no profile needed
    page.select_option("#default_channel", index=1)
    page.screenshot(path=str(shots / f"daily-{name}-mapping.png"), full_page=True)
    page.get_by_role("button", name="开始导入").click()
    page.wait_for_selector("#progress-text:has-text('已完成')", timeout=60_000)


PEOPLE_AND_FILES = {"admin", "inspector", "leader", "unita", "unitb", "complaints_zh.csv"}


def plain(page, where):
    text = page.locator("main").inner_text()
    for table in page.locator(".source-table").all():  # the file's own row, under the file's own headers
        text = text.replace(table.inner_text(), "")
    for bad in NOT_PLAIN:
        assert bad not in text, f"{where}: {bad!r} on the page"
    words = set(re.findall(r"(?<![A-Za-z0-9])[a-z][a-z_.]+[a-z](?![A-Za-z0-9])", text)) - PEOPLE_AND_FILES
    words = {w for w in words if not re.fullmatch(r"[0-9a-f]+", w)}  # hash prefixes
    assert not words, f"{where}: code words on the page: {sorted(words)}"
    return text


def day_windows(app, size, count):
    """COUNT disjoint ranges of whole local days holding exactly SIZE new records each."""
    zone = clock.timezone()
    with app.app_context():
        stamps = db.session.scalars(
            select(IntakeRecord.received_at).where(IntakeRecord.handling == "new", IntakeRecord.unit_id.is_(None))
        )
        per_day = Counter(s.astimezone(zone).date() for s in stamps)  # UTCDateTime: aware
    days = sorted(per_day)
    found, start = [], 0
    while len(found) < count and start < len(days):
        total = 0
        for end in range(start, len(days)):
            total += per_day[days[end]]
            if total >= size:
                break
        if total == size:
            found.append((days[start], days[end]))
            start = end + 1
        else:
            start += 1
    assert len(found) == count, f"no day ranges of exactly {size} records"
    return found


def test_a_day_of_work_at_real_volume(browser, server, screenshots, tmp_path):
    app, base = server
    inspector = new_page(browser)
    sign_in(inspector, base, "inspector")

    # 1. Import the real file; its clusters show at the end; merge the largest into one problem.
    import_file(inspector, base, COMPLAINTS, screenshots, "complaints")
    created = int(inspector.locator("#count-created").inner_text())
    assert created > 4000 and inspector.locator("#count-rejected").inner_text() == "0"
    inspector.wait_for_selector("#batch-clusters", timeout=30_000)  # at the end, without a reload
    plain(inspector, "import result")
    summary = inspector.locator("#batch-clusters").inner_text()
    assert re.search(r"本次导入发现 \d+ 组类案", summary), summary
    inspector.screenshot(path=str(screenshots / "daily-import-clusters.png"), full_page=True)
    inspector.get_by_role("link", name="查看全部类案").click()
    inspector.wait_for_selector("#cluster-summary")
    plain(inspector, "clusters")
    inspector.screenshot(path=str(screenshots / "daily-clusters.png"), full_page=True)
    cluster = inspector.locator("section.cluster").first
    size = int(re.search(r"(\d+) 件相似反映", cluster.locator(".panel-head").inner_text()).group(1))
    cluster.get_by_role("button", name="合并为一个问题").click()
    inspector.wait_for_selector("#count-selected")
    assert inspector.locator("#count-selected").inner_text() == str(size)
    assert inspector.locator("#count-eligible").inner_text() == str(size)
    assert inspector.locator("#count-skipped").inner_text() == "0"
    inspector.screenshot(path=str(screenshots / "daily-merge-confirm.png"), full_page=True)
    inspector.get_by_role("button", name=f"确认执行（{size} 件）").click()
    inspector.wait_for_url(re.compile(r".*/ledger/ZG-\d{4}-\d{6}$"))
    merged = inspector.url.rsplit("/", 1)[1]
    assert f"已处理 {size} 件" in inspector.locator("body").inner_text()
    with app.app_context():
        linked = db.session.scalar(
            select(func.count()).select_from(IntakeRecord).join(Problem).where(Problem.number == merged)
        )
        assert linked == size

    # 2. Two bulk actions of 100 records each: set their unit to 乙单位, confirming each.
    for date_from, date_to in day_windows(app, 100, 2):
        inspector.goto(f"{base}/intake/?date_from={date_from}&date_to={date_to}")
        assert "选择全部 100 条符合筛选条件的记录" in inspector.locator("#bulk-form").inner_text()
        inspector.get_by_label("选择全部 100 条符合筛选条件的记录").check()
        assert inspector.locator("[data-bulk-count]").inner_text() == "100"
        inspector.select_option("#bulk-form select[name=action]", label="设置责任单位")
        inspector.get_by_role("button", name="下一步：确认").click()
        inspector.wait_for_selector("#count-selected")
        counts = [inspector.locator(f"#count-{n}").inner_text() for n in ("selected", "eligible", "skipped")]
        assert counts == ["100", "100", "0"], counts
        inspector.select_option("#bulk-unit", label="　乙单位")
        inspector.screenshot(path=str(screenshots / "daily-set-unit-confirm.png"), full_page=True)
        inspector.get_by_role("button", name="确认执行（100 件）").click()
        inspector.wait_for_url(re.compile(r".*/intake/\?"))
        assert "设置责任单位：已处理 100 件。" in inspector.locator("body").inner_text()
    inspector.screenshot(path=str(screenshots / "daily-set-unit-done.png"), full_page=True)
    with app.app_context():
        unit_b = db.session.scalar(select(Unit.id).where(Unit.code == "UB"))
        sent = db.session.scalar(select(func.count()).select_from(IntakeRecord).where(IntakeRecord.unit_id == unit_b))
        assert sent == 200

    # 3. The problem page, its timeline and the audit log read as plain Chinese; the chain holds.
    inspector.goto(f"{base}/ledger/{merged}")
    text = plain(inspector, "problem page")
    assert "一事多诉" in text or f"{size}" in text
    assert inspector.locator("#timeline").inner_text().strip()
    inspector.screenshot(path=str(screenshots / "daily-problem.png"), full_page=True)
    inspector.goto(f"{base}/audit/")
    plain(inspector, "audit log")
    inspector.screenshot(path=str(screenshots / "daily-audit.png"), full_page=True)
    inspector.goto(f"{base}/audit/?page=1000")  # the oldest events: the import, the merge, the logins
    plain(inspector, "audit log, oldest page")
    inspector.screenshot(path=str(screenshots / "daily-audit-oldest.png"), full_page=True)
    inspector.goto(f"{base}/audit/")
    inspector.get_by_role("button", name="校验完整性").click()
    assert "审计日志完整" in inspector.locator("#chain-result").inner_text()
    plain(inspector, "audit log after the check")
    inspector.screenshot(path=str(screenshots / "daily-audit-verified.png"), full_page=True)

    # 4. A record with a named complainant, for 甲单位: to the ledger, assigned, late in accepting.
    extra = tmp_path / "带反映人.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["external_id", "received_at", "title", "body", "unit_code", "complainant_name", "complainant_phone"]
    )
    writer.writerow(
        ["DW-1", "2026-11-20 09:30", "政务大厅窗口推诿不办", "窗口人员称材料不全但说不清缺什么。", "UA", NAME, PHONE]
    )
    extra.write_text(buffer.getvalue(), encoding="utf-8")
    import_file(inspector, base, extra, screenshots, "extra")
    assert inspector.locator("#count-created").inner_text() == "1"
    inspector.goto(f"{base}/intake/?q=政务大厅窗口推诿不办")
    inspector.get_by_role("link", name="政务大厅窗口推诿不办").click()
    record_url = inspector.url
    assert NAME not in inspector.locator("#complainant").inner_text()  # the inspector sees a mask
    assert "139****1111" in inspector.locator("#complainant").inner_text()
    plain(inspector, "record page, inspector")
    inspector.screenshot(path=str(screenshots / "daily-inspector-record.png"), full_page=True)
    inspector.get_by_role("button", name="转入问题台账").click()
    number = re.search(r"ZG-\d{4}-\d{6}", inspector.locator("main").inner_text()).group(0)
    inspector.goto(f"{base}/ledger/{number}/assign")
    inspector.get_by_label("查找单位").fill("甲单位")
    inspector.select_option("#unit_id", label="　甲单位")
    inspector.wait_for_function("document.querySelectorAll('#owner_id option').length > 1")
    inspector.select_option("#owner_id", label="unita")
    inspector.get_by_label("整改措施").fill("明确一次性告知清单，当日答复反映人。")
    inspector.get_by_role("button", name="确认交办").click()
    inspector.wait_for_url(f"{base}/ledger/{number}")
    with app.app_context():
        from tracker.alerts.scan import scan

        db.session.execute(
            update(Problem).where(Problem.number == number).values(assigned_at=clock.now() - timedelta(days=14))
        )
        db.session.commit()
        scan()
        db.session.commit()

    unit = new_page(browser)
    sign_in(unit, base, "unita")
    unit.goto(f"{base}/ledger/{number}")
    assert "未签收" in unit.locator("main").inner_text()  # the alert is there before accepting
    unit.screenshot(path=str(screenshots / "daily-unit-before-accept.png"), full_page=True)
    form = unit.locator("form.action-form", has=unit.get_by_role("button", name="签收", exact=True))
    form.get_by_role("button", name="签收", exact=True).click()
    unit.wait_for_load_state()
    unit.goto(f"{base}/ledger/{number}")
    text = plain(unit, "problem page, unit")
    assert "已签收" in text or "整改中" in text
    assert "未签收" not in text, "a stale 未签收 alert after accepting"
    assert NAME not in text and PHONE not in text and "139****1111" not in text
    unit.screenshot(path=str(screenshots / "daily-unit-accepted.png"), full_page=True)

    unit.goto(record_url)
    text = unit.locator("main").inner_text()
    assert "反映人信息已保密" in unit.locator("#complainant").inner_text()
    assert NAME not in text and PHONE not in text and "139****1111" not in text
    unit.screenshot(path=str(screenshots / "daily-unit-record.png"), full_page=True)
    unit.goto(f"{base}/intake/?handling=all")
    assert "政务大厅窗口推诿不办" in unit.locator("main").inner_text()
    exported = unit.request.get(f"{base}/intake/export.csv?handling=all")
    assert exported.ok
    body = exported.body().decode("utf-8-sig")
    assert "政务大厅窗口推诿不办" in body
    assert NAME not in body and PHONE not in body and "139****1111" not in body
    assert "反映人信息已保密" in body
    unit.screenshot(path=str(screenshots / "daily-unit-inbox.png"), full_page=True)
    for page in (inspector, unit):
        page.context.close()
