"""The covert re-inspection pages in Chromium: an inspector previews and draws a random 20 % 双随机
batch, sees its seed and plan, re-draws it from the seed, and records a failed visit with a photo."""

import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from config import TestConfig
from tests.browser.test_home_screens import sign_in
from tests.conftest import Factory
from tests.oversight.test_pages import PNG
from tracker import create_app
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem
from tracker.oversight.models import InspectionBatch
from tracker.workflow import services as workflow

pytestmark = pytest.mark.browser
NOT_PLAIN = ("inspection.", "sweep", "targeted", "pending", '{"', "None", "True", "False")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An app of its own, with ten closed problems and four more inspectors."""
    path = tmp_path_factory.mktemp("inspections") / "inspections.db"

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{path}"
        STORAGE_DIR = str(tmp_path_factory.mktemp("inspections-storage"))
        WTF_CSRF_ENABLED = True

    app = create_app(Config)
    with app.app_context():
        db.create_all()
    make = Factory(app)
    make.org()
    for i in range(2, 6):
        make.user(f"insp{i}", "inspector", name=f"检查员{i}")
    clock.pin("2026-11-02T09:00:00")
    titles = ["窗口无人值守", "办事指南未更新", "排队时间过长", "自助机故障", "态度生硬", "多次跑腿"]
    for i in range(10):
        number = make.problem(unit="UA" if i % 2 else "UB", title=titles[i % len(titles)], assign={"tier": "yellow"})
        with app.app_context():
            problem = db.session.scalar(select(Problem).where(Problem.number == number))
            owner = problem.owner
            inspector = db.session.scalar(select(User).where(User.username == "inspector"))
            workflow.apply(problem, "accept", actor=owner, expected_version=problem.version)
            ledger_services.waive_evidence(problem, actor=inspector, reason="测试")
            db.session.flush()
            workflow.apply(problem, "submit", actor=owner, expected_version=problem.version, report="已整改")
            workflow.apply(problem, "approve", actor=inspector, expected_version=problem.version, opinion="同意")
            db.session.commit()
    clock.pin(None)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)


def _plain(page):
    text = page.locator("main").inner_text()
    for word in NOT_PLAIN:
        assert word not in text, word
    # "random" only in the draw rule's "Python random.Random", never as a code name.
    assert "random" not in text.replace("random.Random", ""), text
    return text


def test_inspector_draws_a_random_double_random_batch_and_records_a_failed_visit(server, page, screenshots, tmp_path):
    app, base = server
    sign_in(page, base, "inspector")
    page.wait_for_url(f"{base}/")
    page.get_by_role("link", name="暗访复查").click()
    page.wait_for_url(f"{base}/inspections")
    assert "还没有暗访批次" in _plain(page)
    page.get_by_role("link", name="新建暗访批次").first.click()

    page.get_by_label("随机式").check()
    assert page.locator("#targeted-fields").is_hidden() and page.locator("#sample-fields").is_visible()
    page.get_by_label("批次名称").fill("十一月双随机暗访")
    page.get_by_label("状态").select_option(label="已销号")
    page.get_by_label("或抽取比例（%）").fill("20")
    page.get_by_label("暗访人员库").select_option(["insp2", "insp3", "insp4", "insp5"])
    page.get_by_label("双随机（暗访人员也从人员库中随机抽取）").check()
    page.screenshot(path=str(screenshots / "inspection-new.png"), full_page=True)
    page.get_by_role("button", name="预览").click()
    page.wait_for_selector("#preview")
    assert page.locator("#preview-population").inner_text() == "10"
    assert page.locator("#preview-sample").inner_text() == "2"
    assert page.get_by_label("或抽取比例（%）").input_value() == "20"  # nothing typed is lost
    page.screenshot(path=str(screenshots / "inspection-preview.png"), full_page=True)
    page.get_by_role("button", name="创建批次").click()
    page.wait_for_selector("#plan")
    with app.app_context():
        batch = db.session.scalar(select(InspectionBatch))
        seed, batch_id, number = batch.seed, batch.id, batch.number
    assert page.locator("#seed").inner_text() == str(seed)
    assert f"随机种子 {seed}" in page.locator(".alert-success").inner_text()
    text = _plain(page)
    assert "按问题编号升序排列总体" in text and "双随机" in text
    assert page.locator("#items tbody tr").count() == 2

    page.get_by_role("button", name="复核抽取").click()
    page.wait_for_selector("#redraw")
    assert page.locator("#redraw").inner_text().startswith("一致")
    page.screenshot(path=str(screenshots / "inspection-batch.png"), full_page=True)

    page.get_by_role("link", name="打印抽查方案").click()
    page.wait_for_selector("#plan-sheet")
    assert str(seed) in page.locator("#plan-sheet").inner_text()
    page.screenshot(path=str(screenshots / "inspection-plan.png"), full_page=True)
    page.go_back()

    page.locator("#items").get_by_role("link", name="记录暗访").first.click()
    page.wait_for_selector("#fail-warning")
    assert "未通过将退回责任单位重新整改（已销号的计为反弹）" in page.locator("#fail-warning").inner_text()
    page.get_by_label("暗访方式").select_option("隐秘拍摄")
    page.get_by_label("发现问题").fill("窗口仍无人值守，群众等候二十分钟。")
    page.get_by_label("未通过").check()
    photo = tmp_path / "现场.png"
    photo.write_bytes(PNG)
    page.get_by_label("照片或其他材料").set_input_files(str(photo))
    page.screenshot(path=str(screenshots / "inspection-visit.png"), full_page=True)
    page.get_by_role("button", name="保存暗访结果").click()
    page.wait_for_selector("#plan")
    assert "计为反弹" in page.locator(".alert-success").inner_text()
    row = page.locator("#items tbody tr").filter(has_text="未通过")
    assert row.count() == 1 and "反弹" in row.inner_text() and "现场.png" in row.inner_text()

    page.get_by_role("link", name="打印暗访情况记录表").click()
    page.wait_for_selector("#record-table")
    assert "窗口仍无人值守" in page.locator("#record-table").inner_text()
    page.screenshot(path=str(screenshots / "inspection-record.png"), full_page=True)

    # The unit sees the problem back in its hands, and nothing of the batch.
    unit_page = page.context.browser.new_context(viewport={"width": 1366, "height": 800}, locale="zh-CN").new_page()
    sign_in(unit_page, base, "unita")
    unit_page.wait_for_url(f"{base}/")
    assert unit_page.goto(f"{base}/inspections/{batch_id}").status == 404
    assert number not in unit_page.content()
    unit_page.context.close()
