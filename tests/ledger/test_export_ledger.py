"""The ledger export is a ledger to file: title rows, the filing columns, page set-up, scope, streaming."""

import csv
import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook
from sqlalchemy import event, select, update

from tests.conftest import login
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger import queries
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem

COLUMNS = [
    "序号",
    "编号",
    "问题",
    "来源",
    "分级",
    "责任单位",
    "责任人",
    "分管领导",
    "交办日期",
    "整改措施",
    "最新进展",
    "状态",
    "原定时限",
    "现时限",
    "逾期工作日",
    "返工次数",
    "审核意见",
    "销号日期",
]


def _xlsx(client, path="/ledger/export.xlsx"):
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    content = response.get_data()
    response.close()
    return load_workbook(io.BytesIO(content))


def _rows(sheet):
    rows = list(sheet.iter_rows(values_only=True))
    header_at = next(i for i, r in enumerate(rows) if r[0] == "序号")
    header = list(rows[header_at])
    return rows[:header_at], [dict(zip(header, r, strict=True)) for r in rows[header_at + 1 :]], header


def _csv(client, path="/ledger/export.csv"):
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    text = response.get_data(as_text=True)
    response.close()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader)
    return header, [dict(zip(header, r, strict=True)) for r in reader]


def _note(app, number, text, username="unita"):
    with app.app_context():
        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        user = db.session.scalar(select(User).where(User.username == username))
        ledger_services.add_note(problem, "progress", text, actor=user)
        db.session.commit()


def _set(app, number, **values):
    with app.app_context():
        db.session.execute(update(Problem).where(Problem.number == number).values(**values))
        db.session.commit()


def _filing_ledger(app, make):
    """One overdue problem in progress with two notes; one closed after an extension and a rework."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    late = make.problem(title="窗口推诿", body="x", assign={"tier": "yellow"})
    closed = make.problem(title="办事难", body="y", assign={"tier": "yellow"})
    _set(app, late, status="in_progress")
    clock.pin("2026-09-29T09:00:00")
    _note(app, late, "<p>已约谈窗口负责人</p>")
    clock.pin("2026-09-30T09:00:00")
    _note(app, late, "<p>第二次进展：</p><ul><li>整改制度</li><li>公开承诺 &amp; 回访</li></ul>")
    _set(
        app,
        closed,
        status="closed",
        original_deadline=date(2026, 10, 16),
        deadline=date(2026, 10, 21),
        rework_count=1,
        review_opinion="整改到位，同意销号。",
        closed_at=datetime(2026, 10, 22, 17, 30, tzinfo=UTC),  # 10-23 01:30 Beijing time
    )
    clock.pin("2026-10-19T09:00:00")  # the deadline 10-16 of the open problem has passed
    return late, closed


def test_xlsx_export_is_a_ledger_to_file(app, client, make):
    late, closed = _filing_ledger(app, make)
    login(client, "inspector")
    page = client.get(f"/ledger/?q={late}").get_data(as_text=True)
    assert "逾期 1 个工作日" in page  # what the list page counts
    book = _xlsx(client, "/ledger/export.xlsx?tier=yellow")
    sheet = book.active
    titles, rows, header = _rows(sheet)
    assert [t[0] for t in titles] == [
        "问题整改台账",
        "范围：全部单位",
        "筛选条件：分级：黄色",
        "数据截至：2026-10-19 09:00（北京时间）",
    ]
    assert header == COLUMNS
    by_number = {r["编号"]: r for r in rows}
    open_row, closed_row = by_number[late], by_number[closed]
    assert open_row["最新进展"] == "第二次进展：\n整改制度\n公开承诺 & 回访"
    assert open_row["状态"] == "整改中" and open_row["逾期工作日"] == 1 and open_row["返工次数"] == 0
    assert open_row["现时限"] == "2026-10-16" and open_row["交办日期"] == "2026-09-28"
    assert open_row["审核意见"] is None and open_row["销号日期"] is None
    assert closed_row["审核意见"] == "整改到位，同意销号。" and closed_row["销号日期"] == "2026-10-23"
    assert closed_row["原定时限"] == "2026-10-16" and closed_row["现时限"] == "2026-10-21"
    assert closed_row["返工次数"] == 1 and closed_row["逾期工作日"] == 2  # signed off 2 working days late
    assert closed_row["最新进展"] is None


def test_xlsx_export_prints_on_a4_landscape_with_widths_and_wrapping(app, client, make):
    late, _closed = _filing_ledger(app, make)
    login(client, "inspector")
    sheet = _xlsx(client).active
    assert sheet.page_setup.orientation == "landscape"
    assert int(sheet.page_setup.paperSize) == 9  # A4
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth in (1, None)
    assert int(sheet.page_setup.fitToHeight) == 0
    assert sheet.print_title_rows.replace("$", "") == "5:5"  # the header row on every page
    assert sheet.print_options.gridLines  # the grid on paper
    assert sheet.column_dimensions["C"].width > 20 and sheet.column_dimensions["A"].width < 10
    rows = list(sheet.iter_rows(min_row=6))
    progress = rows[-1][COLUMNS.index("最新进展")] if rows[-1][1].value == late else rows[0][COLUMNS.index("最新进展")]
    assert progress.alignment.wrap_text
    assert sheet["A1"].font.b and "A1:R1" in {str(r) for r in sheet.merged_cells.ranges}


def test_csv_export_has_the_same_columns_and_values(app, client, make):
    late, closed = _filing_ledger(app, make)
    login(client, "inspector")
    disposition = client.get("/ledger/export.csv").headers["Content-Disposition"]
    assert "filename=ledger-20261019-0900.csv" in disposition
    assert "filename*=UTF-8''%E9%97%AE%E9%A2%98%E6%95%B4%E6%94%B9%E5%8F%B0%E8%B4%A6-20261019-0900.csv" in disposition
    header, rows = _csv(client)
    assert header == COLUMNS  # the CSV is data: its first line is the header, no title rows
    by_number = {r["编号"]: r for r in rows}
    assert by_number[late]["逾期工作日"] == "1" and by_number[late]["最新进展"].startswith("第二次进展：")
    assert by_number[closed]["审核意见"] == "整改到位，同意销号。" and by_number[closed]["销号日期"] == "2026-10-23"


def test_leader_exports_csv_and_xlsx_of_the_units_in_their_charge(app, client, make):
    # Before the fix GET /ledger/export.csv as a leader answered 500 (DetachedInstanceError on
    # leader_of inside the streamed generator).
    make.org()
    make.problem(title="甲的问题")
    make.problem(unit="UB", title="乙的问题")
    login(client, "leader")
    _header, rows = _csv(client)
    assert [r["问题"] for r in rows] == ["甲的问题"]
    titles, rows, _header = _rows(_xlsx(client).active)
    assert [r["问题"] for r in rows] == ["甲的问题"]
    assert titles[1][0] == "范围：分管的单位：甲系统（含下级单位）"


def test_scope_and_filter_are_said_in_words(app, client, make):
    make.org()
    make.problem(title="甲的问题", assign={"tier": "yellow"})
    login(client, "unita")
    titles, rows, _header = _rows(_xlsx(client, "/ledger/export.xlsx?status=assigned&tier=yellow&due=soon&q=甲").active)
    assert titles[1][0] == "范围：甲单位（含下级单位）"
    assert titles[2][0] == "筛选条件：状态：待签收；分级：黄色；即将到期；关键词：甲"
    inspector = app.test_client()
    login(inspector, "inspector")
    with app.app_context():
        leader_id = db.session.scalar(select(User.id).where(User.username == "leader"))
    titles, _rows_, _header = _rows(_xlsx(inspector, f"/ledger/export.xlsx?leader={leader_id}&status=open").active)
    assert titles[2][0] == "筛选条件：状态：未销号；分管领导：leader"


def test_export_reads_notes_per_chunk_never_per_row(app, make):
    make.org()
    numbers = [make.problem(title=f"问题{i}", body="x", assign={}) for i in range(12)]
    for number in numbers:
        _set(app, number, status="in_progress")
        _note(app, number, f"进展 {number}")
    with app.app_context():
        inspector = db.session.scalar(select(User).where(User.username == "inspector"))
        statements = []

        def count(*_args):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            rows = list(queries.export_rows(inspector, queries.LedgerFilter(), batch=5))
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert len(rows) == 12 and all(r[COLUMNS.index("最新进展")] == f"进展 {r[1]}" for r in rows)
    # the earliest deadline, the calendar overrides, the stream, and one note query per chunk of 5
    assert len(statements) <= 3 + 3
