"""The covert re-inspection pages as an inspector uses them: the batch list, a new batch (with its
preview and its errors), a batch with its plan and the re-draw check, the printable plan and
暗访情况记录表, the Excel, a visit with photos; the problem page's 暗访复查 panel. To anyone without
inspection.view none of it exists."""

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tests.conftest import csrf_from, login
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem
from tracker.oversight.models import InspectionBatch, InspectionItem, InspectionPhoto
from tracker.workflow import services as workflow

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
RECORD_COLUMNS = ["序号", "问题编号", "问题", "责任单位", "暗访方式", "暗访时间", "暗访人员", "发现问题", "结果"]


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _close(app, number, tier="yellow"):
    """Accept, submit and approve NUMBER through the workflow (red goes to verification)."""
    with app.app_context():
        problem = _problem(number)
        workflow.apply(problem, "accept", actor=_user(problem.owner.username), expected_version=problem.version)
        ledger_services.waive_evidence(problem, actor=_user("inspector"), reason="测试")
        workflow.apply(
            problem, "submit", actor=_user(problem.owner.username), expected_version=problem.version, report="已整改"
        )
        workflow.apply(problem, "approve", actor=_user("inspector"), expected_version=problem.version, opinion="同意")
        db.session.commit()
        return problem.status


@pytest.fixture
def world(app, make):
    """Five closed problems (three of UA, two of UB) and four inspectors besides the one who signed them off."""
    make.org()
    for name in ("insp2", "insp3", "insp4", "insp5"):
        make.user(name, "inspector", name=f"检查员{name[-1]}")
    clock.pin("2026-11-02T09:00:00")
    numbers = []
    for i, unit in enumerate(["UA", "UA", "UA", "UB", "UB"]):
        number = make.problem(unit=unit, title=f"窗口问题{i}", assign={"tier": "yellow"})
        assert _close(app, number) == "closed"
        numbers.append(number)
    clock.pin("2026-11-10T09:00:00")
    return numbers


def _inspector(app):
    client = app.test_client()
    login(client, "inspector")
    return client


def _form(**values):
    data = {
        "method": "random",
        "title": "",
        "unit_code": "",
        "category": "",
        "tier": "",
        "status": "closed",
        "closed_from": "",
        "closed_to": "",
        "sample_size": "",
        "sample_percent": "",
        "seed": "",
        "per_problem": "2",
        "problems": "",
    }
    data.update(values)
    return data


def _post_new(client, data):
    token = csrf_from(client, "/inspections/new")
    return client.post("/inspections/new", data={**data, "csrf_token": token})


def _create(client, **values):
    response = _post_new(client, _form(**values))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _text(response):
    return response.get_data(as_text=True)


# ---- who may see the pages ------------------------------------------------------------------------


def _all_urls(batch_id, number, photo_id=None):
    urls = [
        "/inspections",
        "/inspections?status=open",
        "/inspections/new",
        f"/inspections/new?problems={number}",
        f"/inspections/{batch_id}",
        f"/inspections/{batch_id}/plan",
        f"/inspections/{batch_id}/record",
        f"/inspections/{batch_id}.xlsx",
        f"/inspections/{batch_id}/visits/new?problem={number}",
    ]
    if photo_id:
        urls.append(f"/inspections/photos/{photo_id}")
    return urls


def test_every_page_answers_an_inspector(app, world):
    client = _inspector(app)
    batch_id = _create(client, sample_size="3", double_random="y", inspectors=["insp2", "insp3", "insp4"])
    for url in _all_urls(batch_id, world[0]):
        response = client.get(url)
        # The visit form of a problem not drawn sends back to the batch with a message.
        assert response.status_code in (200, 302), (url, response.status_code)
        response.close()
    with app.app_context():
        drawn = db.session.scalars(
            select(Problem.number)
            .join(InspectionItem, InspectionItem.problem_id == Problem.id)
            .where(InspectionItem.batch_id == batch_id)
        ).all()
    response = client.get(f"/inspections/{batch_id}/visits/new?problem={drawn[0]}")
    assert response.status_code == 200 and "未通过将退回责任单位重新整改（已销号的计为反弹）" in _text(response)


@pytest.mark.parametrize("username", ["unita", "unitb", "leader"])
def test_pages_do_not_exist_for_units_and_leaders(app, world, username):
    client = _inspector(app)
    batch_id = _create(client, sample_size="2")
    other = app.test_client()
    login(other, username)
    for url in _all_urls(batch_id, world[0]):
        response = other.get(url)
        assert response.status_code == 404, (url, response.status_code)
    token = csrf_from(other, "/")
    for url in ("/inspections/new", f"/inspections/{batch_id}/redraw", f"/inspections/{batch_id}/visits/new"):
        response = other.post(url, data={**_form(sample_size="1"), "problem": world[0], "csrf_token": token})
        assert response.status_code == 404, (url, response.status_code)
    home = _text(other.get("/"))
    assert "暗访" not in home and "/inspections" not in home


def test_anonymous_is_sent_to_login(app, world):
    client = _inspector(app)
    batch_id = _create(client, sample_size="2")
    anonymous = app.test_client()
    for url in _all_urls(batch_id, world[0]):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_nav_shows_the_room_to_inspectors_only(app, world):
    assert 'id="nav-inspections"' in _text(_inspector(app).get("/"))
    unit = app.test_client()
    login(unit, "unita")
    assert 'id="nav-inspections"' not in _text(unit.get("/"))


# ---- the list -------------------------------------------------------------------------------------


def test_batch_list_is_empty_at_first_then_newest_first_with_counts(app, world):
    client = _inspector(app)
    assert "还没有暗访批次" in _text(client.get("/inspections"))
    first = _create(client, method="sweep", title="第一批拉网")
    second = _create(client, sample_size="2", title="第二批随机")
    page = _text(client.get("/inspections")).split('id="batches"', 1)[1]
    assert page.index("第二批随机") < page.index("第一批拉网")
    with app.app_context():
        numbers = {b.id: b.number for b in db.session.scalars(select(InspectionBatch))}
    row = page.split(numbers[first], 1)[1].split("</tr>", 1)[0]
    assert "拉网式" in row and re.search(r">\s*5\s*</td>", row)
    assert "随机式" in page.split(numbers[second], 1)[1].split("</tr>", 1)[0]
    assert "没有该状态的暗访批次" in _text(client.get("/inspections?status=done"))
    assert numbers[first] in _text(client.get("/inspections?status=open"))
    assert numbers[first] in _text(client.get("/inspections?status=nonsense"))


# ---- a new batch ----------------------------------------------------------------------------------


def test_random_batch_through_the_form_shows_its_seed(app, world):
    client = _inspector(app)
    response = _post_new(
        client,
        _form(sample_percent="40", double_random="y", inspectors=["insp2", "insp3", "insp4"], title="十一月随机暗访"),
    )
    assert response.status_code == 302
    page = _text(client.get(response.headers["Location"]))
    with app.app_context():
        batch = db.session.scalar(select(InspectionBatch))
        seed, count = batch.seed, batch.item_count
    assert seed is not None and count == 2
    assert f"随机种子 {seed}" in page  # the flash
    assert f'id="seed">{seed}<' in page  # the plan
    assert "十一月随机暗访" in page and "双随机" in page
    assert "按问题编号升序排列总体，以种子初始化 Python random.Random，依次抽取问题和人员" in page
    assert "回避" in page and "状态：已销号" in page
    assert page.count('href="/ledger/ZG-') == 2


def test_typed_seed_draws_the_same_batch_again(app, world):
    client = _inspector(app)
    values = {"sample_size": "3", "seed": "20261110", "double_random": "y", "inspectors": ["insp2", "insp3", "insp4"]}
    first, second = _create(client, **values), _create(client, **values)
    with app.app_context():

        def drawn(batch_id):
            return [
                (i.problem_id, i.inspector_ids)
                for i in db.session.scalars(
                    select(InspectionItem).where(InspectionItem.batch_id == batch_id).order_by(InspectionItem.position)
                )
            ]

        assert drawn(first) == drawn(second) and len(drawn(first)) == 3


def test_preview_shows_population_and_sample_and_saves_nothing(app, world):
    client = _inspector(app)
    response = _post_new(client, _form(sample_percent="40", unit_code="UA", preview="1"))
    page = _text(response)
    assert response.status_code == 200
    assert 'id="preview-population">3<' in page and 'id="preview-sample">2<' in page
    assert 'value="40"' in page  # the typed value is still there
    with app.app_context():
        assert db.session.scalar(select(InspectionBatch)) is None


def test_sample_larger_than_population_is_refused_beside_the_field_keeping_the_input(app, world):
    client = _inspector(app)
    response = _post_new(
        client, _form(sample_size="9", seed="4242", unit_code="UB", title="乙单位抽查", inspectors=["insp2"])
    )
    page = _text(response)
    assert response.status_code == 422
    field = page.split('id="sample_size"', 1)[1].split("</div>", 2)[:2]
    assert "大于符合条件的问题数" in "".join(field)
    assert 'value="9"' in page and 'value="4242"' in page and 'value="乙单位抽查"' in page
    assert re.search(r'<option selected value="UB">|<option value="UB" selected', page)
    assert re.search(r'<option selected value="insp2">|<option value="insp2" selected', page)
    with app.app_context():
        assert db.session.scalar(select(InspectionBatch)) is None


def test_filter_matching_nothing_says_so_and_keeps_the_input(app, world):
    client = _inspector(app)
    response = _post_new(client, _form(method="sweep", closed_from="2025-01-01", closed_to="2025-01-31"))
    page = _text(response)
    assert response.status_code == 422
    assert 'id="filter-error"' in page and "没有符合筛选条件的问题" in page
    assert 'value="2025-01-01"' in page and 'value="2025-01-31"' in page
    assert re.search(r'id="method-0"[^>]*checked|checked[^>]*id="method-0"', page)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"sample_size": "abc"}, "sample_size", "请填写 1 以上的整数"),
        ({"sample_size": "", "sample_percent": ""}, "sample_size", "随机式请填写抽取数量或抽取比例"),
        ({"sample_size": "2", "sample_percent": "20"}, "sample_size", "只填一项"),
        ({"sample_percent": "120"}, "sample_percent", "0 到 100"),
        ({"sample_size": "1", "seed": "-5"}, "seed", "非负整数"),
        ({"sample_size": "1", "closed_from": "2026-13-01"}, "closed_from", "日期格式"),
        ({"method": "targeted", "problems": ""}, "problems", "点穴式请填写"),
        ({"method": "targeted", "problems": "ZG-2026-999999"}, "problems", "问题编号不存在"),
        ({"sample_size": "1", "inspectors": ["nobody"]}, "inspectors", "不是在用的纪检监察员"),
    ],
)
def test_bad_input_gets_a_chinese_message_beside_the_field(app, world, values, field, message):
    client = _inspector(app)
    response = _post_new(client, _form(**values))
    page = _text(response)
    assert response.status_code == 422, page[:2000]
    beside = page.split(f'id="{field}"', 1)[1].split("</div>", 2)
    assert message in "".join(beside[:2]), (field, message)
    with app.app_context():
        assert db.session.scalar(select(InspectionBatch)) is None


def test_pool_too_small_after_avoidance_is_refused(app, world):
    client = _inspector(app)
    # "inspector" assigned and signed off every problem: it must stand aside, leaving one of two.
    response = _post_new(
        client, _form(sample_size="1", double_random="y", inspectors=["inspector", "insp2"], per_problem="2")
    )
    assert response.status_code == 422 and "检查人员不足" in _text(response)


def test_targeted_form_is_prefilled_from_a_problem_page_link(app, world):
    client = _inspector(app)
    page = _text(client.get(f"/inspections/new?problems={world[1]}"))
    assert re.search(r'id="method-2"[^>]*checked|checked[^>]*id="method-2"', page)
    assert world[1] in page.split('id="problems"', 1)[1].split("</textarea>", 1)[0]
    batch_id = _create(client, method="targeted", problems=f"{world[1]}\n{world[3]}")
    with app.app_context():
        assert db.session.get(InspectionBatch, batch_id).item_count == 2


def test_targeted_form_is_prefilled_from_the_ledger_filter(app, world):
    client = _inspector(app)
    ledger = _text(client.get("/ledger/?status=closed&unit=" + str(_unit_id(app, "UB"))))
    link = re.search(r'href="([^"]+)" id="new-inspection-from-filter"', ledger).group(1).replace("&amp;", "&")
    page = _text(client.get(link))
    box = page.split('id="problems"', 1)[1].split("</textarea>", 1)[0]
    assert world[3] in box and world[4] in box and world[0] not in box
    assert "已按台账当前筛选填入 2 个问题" in page
    assert re.search(r'<option selected value="UB">|<option value="UB" selected', page)


def _unit_id(app, code):
    from tracker.org.queries import unit_by_code

    with app.app_context():
        return unit_by_code(code).id


def test_admin_may_look_but_not_create(app, world):
    client = _inspector(app)
    batch_id = _create(client, sample_size="2")
    admin = app.test_client()
    login(admin, "admin")
    assert admin.get(f"/inspections/{batch_id}").status_code == 200
    assert admin.get("/inspections/new").status_code == 403


# ---- one batch ------------------------------------------------------------------------------------


def test_redraw_from_the_seed_says_same(app, world):
    client = _inspector(app)
    batch_id = _create(client, sample_size="3", double_random="y", inspectors=["insp2", "insp3", "insp4"])
    token = csrf_from(client, f"/inspections/{batch_id}")
    page = _text(client.post(f"/inspections/{batch_id}/redraw", data={"csrf_token": token}))
    result = page.split('id="redraw"', 1)[1].split("</div>", 1)[0]
    assert "一致" in result and "不一致" not in result


def test_redraw_names_the_differences_when_the_population_changed(app, world, make):
    client = _inspector(app)
    batch_id = _create(client, sample_size="2", seed="7")
    clock.pin("2026-11-03T09:00:00")  # a problem closed meanwhile joins the population
    for i in range(3):
        number = make.problem(unit="UA", title=f"新问题{i}", assign={"tier": "yellow"})
        _close(app, number)
    clock.pin("2026-11-10T09:00:00")
    token = csrf_from(client, f"/inspections/{batch_id}")
    page = _text(client.post(f"/inspections/{batch_id}/redraw", data={"csrf_token": token}))
    result = page.split('id="redraw"', 1)[1].split("</div>", 1)[0]
    assert "不一致" in result and "当前总体 8 个问题（创建时 5 个）" in result
    assert "ZG-" in result


def test_plan_prints_on_a4_with_everything_needed_to_redraw(app, world):
    client = _inspector(app)
    batch_id = _create(client, sample_size="2", seed="99", double_random="y", inspectors=["insp2", "insp3"])
    page = _text(client.get(f"/inspections/{batch_id}/plan"))
    assert 'class="print-a4"' in page and "a4-sheet" in page and "data-print" in page
    for words in ("暗访复查抽查方案", "随机式", "99", "状态：已销号", "5 个问题", "检查员2", "检查员3", "回避"):
        assert words in page, words
    assert "依次抽取问题和人员" in page


def test_record_page_and_excel_have_the_columns(app, world):
    client = _inspector(app)
    batch_id = _create(client, method="targeted", problems=world[0], title='=HYPERLINK("http://x")')
    page = _text(client.get(f"/inspections/{batch_id}/record"))
    header = page.split('id="record-table"', 1)[1].split("</thead>", 1)[0]
    assert re.findall(r"<th>([^<]+)</th>", header) == RECORD_COLUMNS
    assert "暗访情况记录表" in page and world[0] in page and "size: A4 landscape" in page
    response = client.get(f"/inspections/{batch_id}.xlsx")
    assert response.status_code == 200
    assert "spreadsheetml" in response.headers["Content-Type"]
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    response.close()
    rows = list(sheet.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == "序号")
    assert list(rows[at]) == RECORD_COLUMNS
    assert rows[at + 1][1] == world[0] and rows[at + 1][8] == "待复查"
    # The batch's title (typed by a user) goes above the table and never runs as a formula.
    assert not any(str(cell).startswith("=") for row in rows for cell in row if cell is not None)


# ---- a visit --------------------------------------------------------------------------------------


def _drawn_number(app, batch_id):
    with app.app_context():
        item = db.session.scalar(select(InspectionItem).where(InspectionItem.batch_id == batch_id))
        return item.problem.number


def _visit(client, batch_id, number, files=(), **values):
    url = f"/inspections/{batch_id}/visits/new"
    token = csrf_from(client, f"{url}?problem={number}")
    data = {
        "problem": number,
        "visited_on": "2026-11-10",
        "way": "模拟办事",
        "findings": "",
        "csrf_token": token,
        **values,
    }
    if files:
        data["photos"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(url, data=data, content_type="multipart/form-data")


def test_visit_form_is_prefilled_with_today_and_the_drawn_inspectors(app, world):
    client = _inspector(app)
    batch_id = _create(client, sample_size="1", double_random="y", inspectors=["insp2", "insp3"])
    number = _drawn_number(app, batch_id)
    page = _text(client.get(f"/inspections/{batch_id}/visits/new?problem={number}"))
    assert 'value="2026-11-10"' in page
    assert re.search(r'<option selected value="insp2">|<option value="insp2" selected', page)
    assert re.search(r'<option selected value="insp3">|<option value="insp3" selected', page)
    for way in ("模拟办事", "走访群众", "现场查看", "隐秘拍摄"):
        assert f">{way}</option>" in page


def test_failed_visit_with_a_photo_sends_a_closed_problem_back_as_a_relapse(app, world):
    client = _inspector(app)
    batch_id = _create(client, method="targeted", problems=world[0], inspectors=["insp2"])
    response = _visit(
        client, batch_id, world[0], files=[("现场.png", PNG)], result="fail", findings="窗口仍无人值守", way="隐秘拍摄"
    )
    assert response.status_code == 302, _text(response)[:3000]
    page = _text(client.get(response.headers["Location"]))
    assert "未通过，已退回责任单位重新整改，计为反弹" in page
    row = page.split(f'id="item-{world[0]}"', 1)[1].split("</tr>", 1)[0]
    assert "未通过" in row and "反弹" in row and "窗口仍无人值守" in row and "现场.png" in row
    with app.app_context():
        problem = _problem(world[0])
        assert problem.status == "in_progress" and problem.relapse_count == 1
        photo_id = db.session.scalar(select(InspectionPhoto.id))
    photo = client.get(f"/inspections/photos/{photo_id}")
    assert photo.status_code == 200 and photo.get_data() == PNG
    photo.close()
    for username in ("unita", "leader"):
        other = app.test_client()
        login(other, username)
        assert other.get(f"/inspections/photos/{photo_id}").status_code == 404
    record = _text(client.get(f"/inspections/{batch_id}/record"))
    assert "隐秘拍摄" in record and "窗口仍无人值守" in record and "未通过（反弹）" in record


def test_passed_visit_is_recorded_and_cannot_be_recorded_twice(app, world):
    client = _inspector(app)
    batch_id = _create(client, method="targeted", problems=world[1], inspectors=["insp2"])
    response = _visit(client, batch_id, world[1], result="pass", findings="窗口有人值守，态度良好")
    assert response.status_code == 302
    assert "暗访结果：通过" in _text(client.get(response.headers["Location"]))
    again = client.get(f"/inspections/{batch_id}/visits/new?problem={world[1]}")
    assert again.status_code == 302
    assert "已记录暗访结果" in _text(client.get(again.headers["Location"]))
    with app.app_context():
        assert _problem(world[1]).status == "closed"
        assert db.session.get(InspectionBatch, batch_id).status == "done"


def test_bad_visit_keeps_what_was_typed(app, world):
    client = _inspector(app)
    batch_id = _create(client, method="targeted", problems=world[1], inspectors=["insp2"])
    response = _visit(client, batch_id, world[1], result="fail", findings="", way="走访群众", visited_on="2026-11-09")
    page = _text(response)
    assert response.status_code == 422
    assert "未通过须写明发现的问题" in page
    assert 'value="2026-11-09"' in page and re.search(
        r'<option selected value="走访群众">|value="走访群众" selected', page
    )
    response = _visit(client, batch_id, world[1], result="pass", findings="看过了", visited_on="2026-12-31")
    assert response.status_code == 422 and "不能晚于今天" in _text(response) and "看过了" in _text(response)
    response = _visit(client, batch_id, world[1], result="pass", findings="看过了", files=[("病毒.exe", b"MZ\x90\x00")])
    assert response.status_code == 422 and "看过了" in _text(response)
    with app.app_context():
        assert _problem(world[1]).status == "closed"
        assert db.session.scalar(select(InspectionPhoto)) is None
        assert db.session.get(InspectionBatch, batch_id).done_count == 0


def test_visit_on_a_problem_not_in_the_batch_is_refused(app, world):
    client = _inspector(app)
    batch_id = _create(client, method="targeted", problems=world[1])
    response = client.get(f"/inspections/{batch_id}/visits/new?problem={world[2]}")
    assert response.status_code == 302
    assert "该问题不在本批次中" in _text(client.get(response.headers["Location"]))
    response = _visit(client, batch_id, world[1], problem=world[2], result="pass", findings="x")
    assert response.status_code == 302
    with app.app_context():
        assert _problem(world[2]).status == "closed"


# ---- the problem page -----------------------------------------------------------------------------


def test_verifying_problem_shows_the_panel_to_the_inspector_and_nothing_to_the_unit(app, world, make):
    number = make.problem(unit="UA", title="红色问题", assign={"tier": "red", "tier_override_reason": "群众反映强烈"})
    assert _close(app, number) == "verifying"
    with app.app_context():
        batch = db.session.scalar(select(InspectionBatch).where(InspectionBatch.is_verification.is_(True)))
        batch_number, batch_id = batch.number, batch.id
    inspector = _inspector(app)
    page = _text(inspector.get(f"/ledger/{number}"))
    panel = page.split('id="inspection-panel"', 1)[1].split("</section>", 1)[0]
    assert batch_number in panel and f"/inspections/{batch_id}" in panel
    assert f"/inspections/{batch_id}/visits/new?problem={number}" in panel
    assert 'value="verify_pass"' not in page and 'value="verify_fail"' not in page
    assert "核查通过" not in page.split('id="actions"', 1)[-1].split("</section>", 1)[0]
    unit = app.test_client()
    login(unit, "unita")
    unit_page = _text(unit.get(f"/ledger/{number}"))
    assert unit.get(f"/ledger/{number}").status_code == 200
    assert batch_number not in unit_page and "暗访" not in unit_page and "/inspections" not in unit_page


def test_an_inspector_can_add_a_problem_to_a_targeted_batch_from_its_page(app, world):
    page = _text(_inspector(app).get(f"/ledger/{world[0]}"))
    link = re.search(r'href="([^"]+)" id="add-to-inspection"', page).group(1)
    assert link == f"/inspections/new?problems={world[0]}"
    unit = app.test_client()
    login(unit, "unita")
    assert 'id="add-to-inspection"' not in _text(unit.get(f"/ledger/{world[0]}"))
