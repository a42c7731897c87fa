"""The intake inbox exports with its current filter: XLSX with title rows and print set-up, CSV data."""

import csv
import io

from openpyxl import load_workbook

from tests.conftest import login

COLUMNS = [
    "序号",
    "查询码",
    "来源编号",
    "渠道",
    "类型",
    "受理时间",
    "标题",
    "内容",
    "评价",
    "办理事项",
    "涉及单位",
    "分类",
    "处理方式",
    "关联问题",
    "反映人",
    "联系电话",
]


def _xlsx(client, query=""):
    response = client.get(f"/intake/export.xlsx{query}")
    assert response.status_code == 200
    content = response.get_data()
    response.close()
    sheet = load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == "序号")
    return (
        sheet,
        [r[0] for r in rows[:at]],
        list(rows[at]),
        [dict(zip(rows[at], r, strict=True)) for r in rows[at + 1 :]],
    )


def _csv(client, query=""):
    response = client.get(f"/intake/export.csv{query}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    response.close()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    return rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _records(make):
    make.org()
    make.record("E-1", title="挂号难", body='=HYPERLINK("http://x")')
    make.record("E-2", title="窗口推诿", channel="评价器")
    make.record("E-3", unit="UB", title="乙单位的事")
    make.problem(title="已转台账的事")


def test_inbox_exports_the_current_filter_as_a_ledger_to_file(app, client, make):
    _records(make)
    login(client, "inspector")
    sheet, titles, header, rows = _xlsx(client, "?handling=new&channel=12345+热线")
    assert titles[0] == "反映件清单" and titles[1] == "范围：全部单位"
    assert titles[2] == "筛选条件：处理状态：待处理；渠道：12345 热线"
    assert titles[3].startswith("数据截至：") and titles[3].endswith("（北京时间）")
    assert header == COLUMNS
    assert sorted(r["标题"] for r in rows) == ["乙单位的事", "挂号难"]
    first = next(r for r in rows if r["标题"] == "挂号难")
    assert first["内容"] == '\'=HYPERLINK("http://x")'  # formula neutralised
    assert first["处理方式"] == "待处理" and first["涉及单位"] == "甲单位" and first["评价"] == "非常不满意"
    assert first["受理时间"] == "2026-09-25 10:00" and first["反映人"] == "匿名"
    assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.paperSize) == 9
    everything = _xlsx(client, "?handling=all")[3]
    linked = next(r for r in everything if r["标题"] == "已转台账的事")
    assert linked["处理方式"] == "已转台账" and linked["关联问题"].startswith("ZG-")


def test_inbox_csv_has_the_same_columns_and_filter(app, client, make):
    _records(make)
    login(client, "inspector")
    header, rows = _csv(client, "?handling=all&q=窗口推诿")
    assert header == COLUMNS and [r["标题"] for r in rows] == ["窗口推诿"]


def test_inbox_page_links_to_its_export_with_the_filter(app, client, make):
    _records(make)
    login(client, "inspector")
    html = client.get("/intake/?handling=all&kind=投诉&page=2").get_data(as_text=True)
    assert "/intake/export.xlsx?" in html and "/intake/export.csv?" in html
    link = html[html.index("/intake/export.xlsx?") :].split('"')[0]
    assert "handling=all" in link and "page=" not in link


def test_unit_user_and_leader_export_only_their_scope(app, client, make):
    _records(make)
    login(client, "unitb")
    _sheet, titles, _header, rows = _xlsx(client, "?handling=all")
    assert [r["标题"] for r in rows] == ["乙单位的事"] and titles[1] == "范围：乙单位（含下级单位）"
    leader = app.test_client()
    login(leader, "leader")
    header, rows = _csv(leader, "?handling=all")
    assert sorted(r["标题"] for r in rows) == ["已转台账的事", "挂号难", "窗口推诿"]


def test_unknown_export_format_goes_back_to_the_inbox(app, client, make):
    make.org()
    login(client, "inspector")
    response = client.get("/intake/export.pdf?handling=all")
    assert response.status_code == 302 and "/intake/?handling=all" in response.headers["Location"]
