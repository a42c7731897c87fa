"""Building import files for tests."""

import csv
import io

import xlsxwriter

CANONICAL_ZH = [
    "来源编号",
    "渠道",
    "类型",
    "受理时间",
    "标题",
    "内容",
    "评价等级",
    "办理事项",
    "单位编码",
    "反映人",
    "联系电话",
]


def row(external_id, **over):
    values = {
        "来源编号": external_id,
        "渠道": "12345 热线",
        "类型": "投诉",
        "受理时间": "2026-10-08 09:30",
        "标题": f"窗口办事排队时间长 {external_id}",
        "内容": "在县政务服务中心办理社保业务排队两个小时，工作人员态度冷淡。",
        "评价等级": "非常不满意",
        "办理事项": "社保卡补办",
        "单位编码": "UA",
        "反映人": "张三",
        "联系电话": "13812345678",
    }
    values.update(over)
    return values


def csv_bytes(rows, headers=CANONICAL_ZH, encoding="utf-8", bom=False):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=headers, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def write_csv(path, rows, **kwargs):
    path.write_bytes(csv_bytes(rows, **kwargs))
    return path


def write_xlsx(path, rows, headers=CANONICAL_ZH):
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, headers)
    for number, values in enumerate(rows, start=1):
        sheet.write_row(number, 0, [values.get(h, "") for h in headers])
    workbook.close()
    return path
