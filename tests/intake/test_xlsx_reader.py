"""The streaming XLSX reader (tracker.excel.xlsx_reader) and the importer on top of it: shared and
inline strings, numbers, dates, gaps, several sheets, files from XlsxWriter and openpyxl, bad files,
and that the upload, the mapping page and the row count never read a whole sheet."""

import zipfile
from datetime import UTC, date, datetime, time

import pytest
import xlsxwriter
from openpyxl import Workbook
from sqlalchemy import select

from tests.intake.helpers import CANONICAL_ZH, row, write_xlsx
from tracker.core import crypto
from tracker.core.errors import ValidationFailed
from tracker.excel import xlsx_reader
from tracker.excel.services import open_table
from tracker.excel.xlsx_reader import XlsxError, XlsxReader
from tracker.extensions import db
from tracker.intake import imports
from tracker.intake.models import IntakeRecord

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"

# Cell formats: 0 general, 1 built-in date (14), 2 custom Chinese date, 3 custom time, 4 a number format
# (whose id a conditional format's date format reuses: only the cell formats' own count).
STYLES = f"""<?xml version="1.0" encoding="UTF-8"?>
<styleSheet xmlns="{MAIN}">
  <numFmts count="3">
    <numFmt numFmtId="164" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/>
    <numFmt numFmtId="165" formatCode="[h]:mm:ss"/>
    <numFmt numFmtId="166" formatCode="0.00E+00"/>
  </numFmts>
  <cellXfs count="5">
    <xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="166"/>
  </cellXfs>
  <dxfs count="1"><dxf><numFmt numFmtId="166" formatCode="yyyy-mm-dd"/></dxf></dxfs>
</styleSheet>"""


def build_xlsx(path, sheets, shared=None, *, date1904=False, styles=STYLES, prefix="", namespace=MAIN):
    """An .xlsx written by hand: SHEETS is [(name, sheetData XML)], SHARED the shared strings' <si>
    bodies. PREFIX ("x:") writes the spreadsheet namespace with a prefix, as some exporters do."""
    p = prefix
    ns = f'xmlns:{p[:-1]}="{namespace}"' if p else f'xmlns="{namespace}"'
    entries = "".join(
        f'<{p}sheet name="{name}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, (name, _xml) in enumerate(sheets)
    )
    workbook_pr = f'<{p}workbookPr date1904="1"/>' if date1904 else ""
    rels = "".join(
        f'<Relationship Id="rId{i + 1}" Type="{REL}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
        for i in range(len(sheets))
    )
    rels += f'<Relationship Id="rIdS" Type="{REL}/styles" Target="styles.xml"/>'
    if shared is not None:
        rels += f'<Relationship Id="rIdT" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG}"><Relationship Id="r1" Type="{REL}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<{p}workbook {ns} xmlns:r="{REL}">{workbook_pr}<{p}sheets>{entries}</{p}sheets></{p}workbook>',
        )
        z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{PKG}">{rels}</Relationships>')
        if styles:
            z.writestr("xl/styles.xml", styles)
        if shared is not None:
            items = "".join(f"<{p}si>{body}</{p}si>" for body in shared)
            z.writestr("xl/sharedStrings.xml", f'<{p}sst {ns} count="{len(shared)}">{items}</{p}sst>')
        for i, (_name, xml) in enumerate(sheets):
            z.writestr(
                f"xl/worksheets/sheet{i + 1}.xml",
                f"<{p}worksheet {ns}><{p}sheetData>{xml}</{p}sheetData></{p}worksheet>",
            )
    return path


def replace_member(path, name, data):
    """PATH with its zip member NAME holding DATA instead."""
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info.filename) for info in source.infolist()}
    members[name] = data
    with zipfile.ZipFile(path, "w") as out:
        for member, content in members.items():
            out.writestr(member, content)
    return path


def read_all(path, sheet=None):
    with XlsxReader(path, sheet) as reader:
        return list(reader.rows())


def test_shared_and_inline_strings_numbers_booleans_errors_and_formula_text(tmp_path):
    shared = [
        "<t>反映人</t>",
        '<t xml:space="preserve"> 前后有空格 </t>',
        '<r><rPr><b/></rPr><t>加粗</t></r><r><t>和普通</t></r><rPh sb="0" eb="1"><t>ふりがな</t></rPh>',
        "<t>第一行_x000D_\n第二行 &amp; &lt;标签&gt;</t>",
        "<t/>",
    ]
    sheet = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>'
        '<c r="D1" t="s"><v>3</v></c><c r="E1" t="s"><v>4</v></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>内联文字</t></is></c>'
        '<c r="B2" t="inlineStr"><is><r><t>富</t></r><r><t>文本</t></r></is></c>'
        '<c r="C2"><v>42</v></c><c r="D2" t="n"><v>-3.25</v></c><c r="E2"><v>1.5E3</v></c>'
        '<c r="F2" s="4"><v>12345678901</v></c></row>'
        '<row r="3"><c r="A3" t="b"><v>1</v></c><c r="B3" t="b"><v>0</v></c><c r="C3" t="e"><v>#N/A</v></c>'
        '<c r="D3" t="str"><f>A2&amp;"!"</f><v>内联文字!</v></c><c r="E3"><f>1+1</f><v>2</v></c>'
        '<c r="F3" t="inlineStr"><is><t>_x005F_x0041_</t></is></c></row>'
    )
    path = build_xlsx(tmp_path / "s.xlsx", [("数据", sheet)], shared)
    assert read_all(path) == [
        ["反映人", " 前后有空格 ", "加粗和普通", "第一行\r\n第二行 & <标签>", ""],
        ["内联文字", "富文本", 42, -3.25, 1500.0, 12345678901],
        [True, False, "#N/A", "内联文字!", 2, "_x0041_"],
    ]


def test_dates_in_built_in_and_custom_formats_times_and_the_1904_system(tmp_path):
    sheet = (
        '<row r="1"><c r="A1" s="1"><v>46303</v></c><c r="B1" s="2"><v>46303.395833333336</v></c>'
        '<c r="C1" s="3"><v>0.5</v></c><c r="D1" s="0"><v>46303</v></c><c r="E1" s="4"><v>46303</v></c>'
        '<c r="F1" t="d"><v>2026-10-08T09:30:00Z</v></c><c r="G1" s="1"><v>-5</v></c></row>'
    )
    assert read_all(build_xlsx(tmp_path / "d.xlsx", [("s", sheet)])) == [
        [date(2026, 10, 8), datetime(2026, 10, 8, 9, 30), time(12, 0), 46303, 46303, datetime(2026, 10, 8, 9, 30), -5]
    ]
    # The 1904 date system (old Mac workbooks) counts from 1904-01-01.
    sheet_1904 = '<row r="1"><c r="A1" s="1"><v>44841</v></c></row>'
    assert read_all(build_xlsx(tmp_path / "m.xlsx", [("s", sheet_1904)], date1904=True)) == [[date(2026, 10, 8)]]
    # No styles part at all: numbers stay numbers.
    assert read_all(build_xlsx(tmp_path / "n.xlsx", [("s", sheet_1904)], styles=None)) == [[44841]]


def test_cell_references_skip_columns_and_rows_and_leading_empty_rows_are_dropped(tmp_path):
    sheet = (
        '<row r="2"><c r="B2" s="0"/></row>'  # a styled but empty cell: a blank row before the data
        '<row r="3"><c r="A3" t="inlineStr"><is><t>甲</t></is></c><c r="C3" t="inlineStr"><is><t>丙</t></is></c>'
        '<c r="AA3"><v>27</v></c></row>'
        '<row r="6"><c r="B6"><v>1</v></c></row>'  # rows 4 and 5 are missing: two empty rows
        "<row><c><v>7</v></c><c><v>8</v></c></row>"  # no references at all: the next row, cells in order
        '<row r="8"><c r="C8"><v>1</v></c><c r="A8"><v>2</v></c><c r="C8"><v>3</v></c></row>'  # out of order
    )
    rows = read_all(build_xlsx(tmp_path / "g.xlsx", [("s", sheet)]))
    assert rows[0] == ["甲", "", "丙", *[""] * 23, 27]
    assert rows[1:] == [[], [], ["", 1], [7, 8], [2, "", 3]]


def test_several_sheets_the_first_by_default_another_by_name_or_position(tmp_path):
    path = build_xlsx(
        tmp_path / "multi.xlsx",
        [
            ("说明", '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
            ("工单", '<row r="1"><c r="A1" t="s"><v>1</v></c></row><row r="2"><c r="A2"><v>5</v></c></row>'),
        ],
        ["<t>请看第二页</t>", "<t>来源编号</t>"],
    )
    with XlsxReader(path) as reader:
        assert reader.sheet_names == ["说明", "工单"] and reader.sheet_name == "说明"
        assert list(reader.rows()) == [["请看第二页"]]
    assert read_all(path, "工单") == [["来源编号"], [5]] == read_all(path, 1)
    for missing in ("没有这页", 2):
        with pytest.raises(XlsxError) as caught:
            XlsxReader(path, missing)
        assert caught.value.reason == "no_such_sheet"
    with open_table(path, sheet="工单") as table:
        assert table.headers == ["来源编号"] and list(table.rows) == [[5]]


def test_a_prefixed_namespace_and_the_strict_namespace_read_the_same(tmp_path):
    sheet = '<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1"><x:v>3</x:v></x:c></x:row>'
    path = build_xlsx(tmp_path / "p.xlsx", [("s", sheet)], ["<x:t>前缀</x:t>"], prefix="x:")
    assert read_all(path) == [["前缀", 3]]
    strict = "http://purl.oclc.org/ooxml/spreadsheetml/main"
    sheet = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    path = build_xlsx(tmp_path / "strict.xlsx", [("s", sheet)], ["<t>严格</t>"], namespace=strict)
    assert read_all(path) == [["严格"]]
    path = build_xlsx(tmp_path / "other.xlsx", [("s", sheet)], ["<t>?</t>"], namespace="urn:not-a-sheet")
    with pytest.raises(XlsxError):
        read_all(path)


def test_xlsxwriter_files_with_chinese_text_inline_and_shared(tmp_path):
    received = datetime(2026, 10, 8, 9, 30, 15)
    for constant_memory in (True, False):  # inline strings / the shared strings table
        path = tmp_path / f"w{constant_memory}.xlsx"
        workbook = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
        sheet = workbook.add_worksheet("投诉")
        when = workbook.add_format({"num_format": "yyyy年m月d日 hh:mm:ss"})
        sheet.write_row(0, 0, ["来源编号", "内容", "受理时间", "评价等级"])
        sheet.write_string(1, 0, "GD001")
        sheet.write_string(1, 1, "窗口办事排队时间长，工作人员态度冷淡。\n第二行")
        sheet.write_datetime(1, 2, received, when)
        sheet.write_number(1, 3, 2)
        sheet.write_string(3, 1, "第四行")
        workbook.close()
        with XlsxReader(path) as reader:
            assert reader.count_rows() == 4
            assert list(reader.rows()) == [
                ["来源编号", "内容", "受理时间", "评价等级"],
                ["GD001", "窗口办事排队时间长，工作人员态度冷淡。\n第二行", received, 2],
                [],
                ["", "第四行"],
            ]


def test_an_openpyxl_file_with_chinese_text_dates_and_gaps(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "好差评"
    sheet.append(["评价编号", "评价时间", "评价内容", "评价人"])
    sheet.append(["HCP-1", datetime(2026, 9, 30, 8, 0), "办事指南与实际要求不一致", "张三"])
    sheet["A4"] = "HCP-2"
    sheet["D4"] = "李四"
    sheet["B4"] = date(2026, 10, 1)
    sheet["B4"].number_format = "yyyy-mm-dd"
    workbook.create_sheet("第二页")["A1"] = "不读这页"
    path = tmp_path / "o.xlsx"
    workbook.save(path)
    rows = read_all(path)
    assert rows[:2] == [
        ["评价编号", "评价时间", "评价内容", "评价人"],
        ["HCP-1", datetime(2026, 9, 30, 8, 0), "办事指南与实际要求不一致", "张三"],
    ]
    assert rows[2:] == [[], ["HCP-2", date(2026, 10, 1), "", "李四"]]
    assert read_all(path, "第二页") == [["不读这页"]]


def test_shared_strings_past_the_memory_budget_are_kept_in_a_file_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx_reader, "SHORT_BUDGET", 2000)
    monkeypatch.setattr(xlsx_reader, "LONG_BUDGET", 2000)
    texts = [
        f"编号{i}" if i % 2 else f"第{i}条：" + "在县政务服务中心办理社保业务排队两个小时。" * 3 for i in range(400)
    ]
    cells = "".join(f'<row r="{i + 1}"><c r="A{i + 1}" t="s"><v>{399 - i}</v></c></row>' for i in range(400))
    path = build_xlsx(tmp_path / "big.xlsx", [("s", cells)], [f"<t>{t}</t>" for t in texts])
    with XlsxReader(path) as reader:
        assert [r[0] for r in reader.rows()] == texts[::-1]  # the last string first: the table read at once
        strings = reader._strings
        assert len(strings.memory) < 100 and len(strings) == 400 and strings._spill is not None


def test_the_row_count_comes_from_the_dimension_or_a_scan_of_the_xml(tmp_path):
    # No <dimension>: the rows are counted in the XML, across many blocks of it.
    rows = "".join(f'<row r="{i}" spans="1:1"><c r="A{i}"><v>{i}</v></c></row>' for i in range(1, 6001))
    path = build_xlsx(tmp_path / "nodim.xlsx", [("s", rows)])
    with XlsxReader(path) as reader:
        assert reader.dimension() is None and reader.count_rows() == 6000
    with open_table(path) as table:
        assert table.estimated_rows == 5999
    workbook = xlsxwriter.Workbook(str(tmp_path / "dim.xlsx"), {"constant_memory": True})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["a", "b"])
    sheet.write_number(99, 1, 1)
    workbook.close()
    with XlsxReader(tmp_path / "dim.xlsx") as reader:
        assert reader.dimension() == (1, 100) and reader.count_rows() == 100


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04 this is no zip at all" + b"\x00" * 64, "not_zip"),
        ("zip without a workbook", "no_sheet"),
        ("workbook without sheets", "no_sheet"),
        ("encrypted", "encrypted"),
        ("doctype", "broken"),
        ("broken xml", "broken"),
        ("missing shared string", "broken"),
    ],
)
def test_bad_files_raise_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.xlsx"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "workbook without sheets":
        build_xlsx(path, [])
    elif content == "doctype":  # entity expansion ("billion laughs") starts with a DTD: refused
        build_xlsx(path, [("s", "")])
        bomb = f'<!DOCTYPE w [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><worksheet xmlns="{MAIN}"/>'
        replace_member(path, "xl/worksheets/sheet1.xml", bomb)
    elif content == "broken xml":
        build_xlsx(path, [("s", '<row r="1"><c r="A1"><v>1</v></row>')])
    elif content == "missing shared string":
        build_xlsx(path, [("s", '<row r="1"><c r="A1" t="s"><v>3</v></c></row>')], ["<t>only one</t>"])
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("EncryptionInfo" if content == "encrypted" else "[Content_Types].xml", "x")
    with pytest.raises(XlsxError) as caught:
        read_all(path)
    assert caught.value.reason == reason


def test_the_importer_tells_in_chinese_what_is_wrong_with_a_bad_xlsx(app, tmp_path):
    not_zip = tmp_path / "not.xlsx"
    not_zip.write_bytes(b"PK\x03\x04" + b"\x01\x02" * 200)
    no_sheet = tmp_path / "nosheet.xlsx"
    with zipfile.ZipFile(no_sheet, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    empty = build_xlsx(tmp_path / "empty.xlsx", [("s", "")])
    expected = {
        not_zip: "无法读取 Excel 文件：文件已损坏或不是有效的 .xlsx 文件",
        no_sheet: "Excel 文件中没有可读取的工作表。",
        empty: "工作表是空的。",
    }
    with app.app_context():
        for path, message in expected.items():
            with pytest.raises(ValidationFailed) as caught:
                imports.stage_batch(path, path.name, actor=None)
            assert message in caught.value.message
            assert "Error" not in caught.value.message and "zip" not in caught.value.message


def broken_after(path, good_rows, headers=CANONICAL_ZH):
    """An .xlsx whose sheet holds a header and GOOD_ROWS valid rows, then XML that does not parse."""

    def cell(ref, text):
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

    letters = [chr(65 + i) for i in range(len(headers))]
    lines = ['<row r="1">' + "".join(cell(f"{c}1", h) for c, h in zip(letters, headers, strict=True)) + "</row>"]
    for number in range(2, good_rows + 2):
        values = row(f"B{number}")
        cells = "".join(cell(f"{c}{number}", values[h]) for c, h in zip(letters, headers, strict=True))
        lines.append(f'<row r="{number}">{cells}</row>')
    lines.append(f'<row r="{good_rows + 2}"><c r="A{good_rows + 2}"><v>1</v></row>')  # </c> missing
    build_xlsx(path, [("s", "".join(lines))])
    return path


def test_staging_and_the_mapping_page_read_only_the_first_rows(app, make, tmp_path, monkeypatch):
    make.org()
    monkeypatch.setattr(imports, "PREVIEW_SCAN_ROWS", 50)
    monkeypatch.setattr(imports, "CHUNK_SIZE", 50)
    path = broken_after(tmp_path / "broken.xlsx", 120)
    with app.app_context():
        batch = imports.stage_batch(path, "broken.xlsx", actor=None)  # the header only
        mapping = imports.canonical_mapping(imports.headers_of(batch))
        found = imports.preview(path, mapping, {})
        assert not found.complete and found.scanned_rows == 50 and len(found.rows) == 5
        assert found.rows[0]["values"]["external_id"] == "B2" and not found.rows[0]["errors"]
        # The import reads on, and stops with the reader's message where the XML breaks.
        imports.queue_batch(batch, mapping, {})
        db.session.commit()
        done = imports.run_batch(batch.id)
        assert done.status == "failed" and "无法读取 Excel 文件" in done.message
        assert done.created_count == 100  # the whole chunks before the break are kept


def test_the_mapping_page_of_a_short_xlsx_reads_it_to_its_end(app, make, tmp_path):
    make.org()
    rows = [row(f"P{i}", **{"渠道": "某县民生平台"}) for i in range(3)] + [row("P9")]
    path = write_xlsx(tmp_path / "p.xlsx", rows)
    with app.app_context():
        found = imports.preview(path, imports.canonical_mapping(CANONICAL_ZH), {})
        assert found.complete and found.data_rows == found.scanned_rows == 4
        assert [(value, count) for value, count, _target in found.channels] == [("某县民生平台", 3)]


def test_an_imported_xlsx_row_is_stored_as_the_model_stores_it(app, make, tmp_path):
    """The fast insert writes what the ORM would: aware times, the source row with dates as text and
    the identity masked, the identity and PIN as Fernet tokens, booleans, the handling state."""
    make.org()
    path = tmp_path / "one.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, CANONICAL_ZH)
    values = row("T1")
    for column, header in enumerate(CANONICAL_ZH):
        if header == "受理时间":
            sheet.write_datetime(1, column, datetime(2026, 10, 8, 9, 30), workbook.add_format({"num_format": 22}))
        else:
            sheet.write(1, column, values[header])
    workbook.close()
    with app.app_context():
        batch = imports.stage_batch(path, "one.xlsx", actor=None)
        imports.queue_batch(batch, imports.canonical_mapping(CANONICAL_ZH), {})
        db.session.commit()
        assert imports.run_batch(batch.id).created_count == 1
        db.session.expire_all()
        record = db.session.scalar(select(IntakeRecord).where(IntakeRecord.external_id == "T1"))
        assert record.received_at.tzinfo is not None
        assert record.received_at.astimezone(UTC).replace(tzinfo=None) == datetime(2026, 10, 8, 1, 30)
        assert record.source_row["受理时间"] == "2026-10-08T09:30:00"
        assert record.source_row["反映人"] == record.source_row["联系电话"] == "***"
        assert record.complainant() == {"name": "张三", "phone": "13812345678"}
        assert record.complainant_name_mask == "张*" and record.complainant_phone_mask == "138****5678"
        assert len(crypto.decrypt(record.query_pin_enc)) == 6 and len(record.tracking_code) == 10
        assert record.is_anonymous is False and record.is_excluded is False and record.handling == "new"
        assert record.import_batch_id == batch.id and record.created_at.tzinfo is not None


def test_chunks_inserted_on_the_worker_thread_count_errors_and_duplicates_across_chunks(
    app, make, tmp_path, monkeypatch
):
    make.org()
    monkeypatch.setattr(imports, "CHUNK_SIZE", 10)
    rows = [row(f"C{i}") for i in range(30)]
    rows[4]["受理时间"] = "不是时间"  # rejected
    rows[17] = row("C3")  # the same id as a row of the first chunk
    rows += [row("C0")]  # and in the last chunk
    path = write_xlsx(tmp_path / "chunks.xlsx", rows)
    with app.app_context():
        assert imports._can_overlap()  # the tests' SQLite is a file (PostgreSQL too): the worker runs
        batch = imports.stage_batch(path, "chunks.xlsx", actor=None)
        imports.queue_batch(batch, imports.canonical_mapping(CANONICAL_ZH), {})
        db.session.commit()
        done = imports.run_batch(batch.id)
        assert (done.status, done.rejected_count, done.done_rows, done.total_rows) == ("done", 1, 31, 31)
        stored = db.session.scalars(select(IntakeRecord.external_id).where(IntakeRecord.import_batch_id == batch.id))
        assert sorted(stored) == sorted(f"C{i}" for i in range(30) if i not in (4, 17))
        # A repeat in a later chunk finds its key taken by this very batch: counted as created, as
        # a re-run after an interruption counts the rows it had already imported.
        assert (done.created_count, done.duplicate_count) == (30, 0)
        assert [e.row_number for e in done.errors] == [6]
        again = imports.stage_batch(path, "chunks.xlsx", actor=None)
        imports.queue_batch(again, imports.canonical_mapping(CANONICAL_ZH), {})
        db.session.commit()
        second = imports.run_batch(again.id)
        assert (second.created_count, second.duplicate_count, second.rejected_count) == (0, 30, 1)
