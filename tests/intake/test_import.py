"""Bulk import: canonical columns in every encoding, XLSX, profiles, bad files and bad rows, idempotency."""

import json

import pytest
from sqlalchemy import func, select

from tests.intake.helpers import row, write_csv, write_xlsx
from tracker.extensions import db
from tracker.intake.models import ImportRowError, IntakeRecord


def run_import(app, path, *args):
    result = app.test_cli_runner().invoke(args=["intake", "import", str(path), "--json", *args])
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


def count_records(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(IntakeRecord))


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", False), ("utf-8", True), ("gbk", False), ("gb18030", False)])
def test_canonical_csv_imports_in_utf8_with_or_without_bom_and_in_gbk(app, make, tmp_path, encoding, bom):
    make.org()
    path = write_csv(tmp_path / "in.csv", [row("A1"), row("A2")], encoding=encoding, bom=bom)
    code, out = run_import(app, path)
    assert code == 0 and (out["created"], out["duplicate"], out["rejected"]) == (2, 0, 0)
    with app.app_context():
        record = db.session.scalar(select(IntakeRecord).where(IntakeRecord.external_id == "A1"))
        assert record.title == "窗口办事排队时间长 A1" and record.rating == 1 and record.unit.code == "UA"
        assert record.received_at.isoformat() == "2026-10-08T01:30:00+00:00"  # 09:30 Beijing time


def test_english_headers_import_directly(app, make, tmp_path):
    make.org()
    headers = ["external_id", "channel", "received_at", "title", "body", "rating"]
    rows = [
        {
            "external_id": "E1",
            "channel": "短信",
            "received_at": "2026-10-09T10:00:00",
            "title": "t",
            "body": "b",
            "rating": "2",
        }
    ]
    code, out = run_import(app, write_csv(tmp_path / "en.csv", rows, headers=headers))
    assert code == 0 and out["created"] == 1


def test_xlsx_imports_through_calamine(app, make, tmp_path):
    make.org()
    path = write_xlsx(tmp_path / "in.xlsx", [row(f"X{i}") for i in range(30)])
    code, out = run_import(app, path)
    assert code == 0 and out["created"] == 30


def test_reimporting_the_same_file_creates_nothing_new(app, make, tmp_path):
    make.org()
    path = write_csv(tmp_path / "in.csv", [row("R1"), row("R2"), row("R3")])
    assert run_import(app, path)[1]["created"] == 3
    code, out = run_import(app, path)
    assert code == 0 and (out["created"], out["duplicate"]) == (0, 3)
    assert count_records(app) == 3


def test_channel_option_fills_a_missing_channel_column(app, make, tmp_path):
    make.org()
    headers = ["来源编号", "受理时间", "标题", "内容"]
    path = write_csv(tmp_path / "noch.csv", [row("C1")], headers=headers)
    code, out = run_import(app, path)
    assert code == 2 and "渠道" in out["error"]
    code, out = run_import(app, path, "--channel", "来信来访")
    assert out["created"] == 1


def test_bad_rows_are_rejected_with_row_column_and_reason_and_never_block_the_others(app, make, tmp_path):
    make.org()
    rows = [
        row("OK1"),
        row("BAD-DATE", **{"受理时间": "2026-02-30 10:00"}),
        row("YESTERDAY", **{"受理时间": "昨天"}),
        row("BAD-RATING", **{"评价等级": "7"}),
        row("NO-UNIT", **{"单位编码": "NOPE"}),
        row("OK1", **{"标题": "same id twice in one file"}),
        row("", **{"标题": "missing id"}),
        row("BAD-PHONE", **{"联系电话": "call me maybe"}),
        row("OK2"),
    ]
    code, out = run_import(app, write_csv(tmp_path / "mixed.csv", rows))
    assert code == 0
    assert (out["created"], out["duplicate"], out["rejected"]) == (2, 1, 6)
    reasons = {(e["row"], e["column"]): e["reason"] for e in out["errors"]}
    assert "无法识别" in reasons[(3, "受理时间")] and "无法识别" in reasons[(4, "受理时间")]
    assert "评价等级" in reasons[(5, "评价等级")]
    assert "NOPE" in reasons[(6, "单位编码")]
    assert "必填" in reasons[(8, "来源编号")]
    assert "格式不正确" in reasons[(9, "联系电话")]


def test_html_is_cleaned_and_formula_cells_are_kept_as_text(app, make, tmp_path):
    make.org()
    rows = [row("H1", **{"标题": "<b>标题</b><script>alert(1)</script>", "内容": "=cmd|' /C calc'!A0 投诉内容"})]
    code, out = run_import(app, write_csv(tmp_path / "evil.csv", rows))
    assert out["created"] == 1
    with app.app_context():
        record = db.session.scalar(select(IntakeRecord).where(IntakeRecord.external_id == "H1"))
        assert record.title == "标题alert(1)"
        assert record.body.startswith("=cmd|")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "空"), (b"%PDF-1.7\n%binary\x00\x01", "不是 CSV 或 Excel"), (b"\x81\x30\xff\xfe\x00abc", "不是 CSV")],
)
def test_unreadable_files_exit_non_zero_and_create_nothing(app, make, tmp_path, content, message):
    make.org()
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, out = run_import(app, path)
    assert code != 0 and message in out["error"]
    assert count_records(app) == 0


def test_wrong_encoding_is_refused_with_a_message(app, make, tmp_path):
    make.org()
    path = tmp_path / "latin.csv"
    path.write_bytes("来源编号,渠道\n".encode("utf-16-le"))
    code, out = run_import(app, path)
    assert code != 0 and out["error"]


def test_missing_required_columns_without_a_profile_is_refused(app, make, tmp_path):
    make.org()
    path = write_csv(tmp_path / "odd.csv", [{"foo": 1, "bar": 2}], headers=["foo", "bar"])
    code, out = run_import(app, path)
    assert code != 0 and "profile" in out["error"]


def test_builtin_profile_for_the_12345_export(app, make, tmp_path):
    make.org()
    headers = ["工单编号", "来电时间", "诉求标题", "诉求内容", "诉求类型", "承办单位", "来电人", "来电号码", "诉求分类"]
    rows = [
        {
            "工单编号": "GD2026100800001",
            "来电时间": "2026/10/8 9:32:09",
            "诉求标题": "小区停水三天",
            "诉求内容": "小区停水三天无人处理",
            "诉求类型": "求助",
            "承办单位": "乙单位",
            "来电人": "李四",
            "来电号码": "13900001111",
            "诉求分类": "城乡建设",
        }
    ]
    code, out = run_import(app, write_csv(tmp_path / "12345.csv", rows, headers=headers, encoding="gbk"))
    assert code == 0 and out["created"] == 1
    with app.app_context():
        record = db.session.scalar(select(IntakeRecord))
        assert (record.channel, record.kind, record.unit.code, record.category) == (
            "12345 热线",
            "投诉",
            "UB",
            "城乡建设",
        )


def test_builtin_profile_for_the_good_bad_review_export_derives_titles(app, make, tmp_path):
    make.org()
    headers = ["评价编号", "评价时间", "评价渠道", "评价等级", "评价内容", "事项名称", "办理部门", "评价人", "联系电话"]
    rows = [
        {
            "评价编号": "HCP-1",
            "评价时间": "2026-10-09 15:00:00",
            "评价渠道": "移动端",
            "评价等级": "不满意",
            "评价内容": "材料要求反复变化，跑了三趟",
            "事项名称": "不动产登记",
            "办理部门": "UA",
            "评价人": "王五",
            "联系电话": "13700002222",
        }
    ]
    path = write_xlsx(tmp_path / "hcp.xlsx", rows, headers=headers)
    code, out = run_import(app, path)
    assert code == 0 and out["created"] == 1
    with app.app_context():
        record = db.session.scalar(select(IntakeRecord))
        assert record.kind == "差评" and record.channel == "政务服务 APP" and record.rating == 2
        assert record.title.startswith("不动产登记：材料要求")


def test_rejected_rows_are_stored_for_the_error_report(app, make, tmp_path):
    make.org()
    run_import(app, write_csv(tmp_path / "e.csv", [row("Z1", **{"评价等级": "abc"})]))
    with app.app_context():
        error = db.session.scalar(select(ImportRowError))
        assert (error.row_number, error.column) == (2, "评价等级")


def test_an_interrupted_batch_resumes_and_counts_its_own_rows_as_created(app, make, tmp_path):
    from datetime import timedelta

    from sqlalchemy import update

    from tracker.core import clock
    from tracker.intake import imports
    from tracker.intake.models import ImportBatch

    make.org()
    path = write_csv(tmp_path / "r.csv", [row(f"RS{i}") for i in range(30)])
    code, out = run_import(app, path)
    assert out["created"] == 30
    with app.app_context():
        # As if the runner died after its first chunk: running, stale heartbeat, counters lost.
        db.session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == out["batch"])
            .values(status="running", heartbeat_at=clock.now() - timedelta(minutes=5), created_count=0, done_rows=0)
        )
        db.session.commit()
        assert imports.resume_stale() == [out["batch"]]
        batch = db.session.get(ImportBatch, out["batch"])
        assert (batch.status, batch.created_count, batch.duplicate_count) == ("done", 30, 0)
