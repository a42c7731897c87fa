"""Imports that accept what real exports contain: loose channel and unit names, admin aliases, unknown
values mapped on the preview page, canonical English headers, ratings and replies carried over, and a
row count that parses the CSV (a quoted line break is not a row)."""

import io
import json
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_from, login, post_form
from tests.intake.helpers import csv_bytes, row, write_csv
from tracker.audit.models import AuditEvent
from tracker.extensions import db
from tracker.intake import imports
from tracker.intake.models import Channel, ImportBatch, ImportProfile, IntakeRecord

ENGLISH = [
    "external_id",
    "received_at",
    "title",
    "body",
    "channel",
    "kind",
    "rating",
    "service_item",
    "unit_code",
    "complainant_name",
    "complainant_phone",
]


def run_import(app, path, *args):
    result = app.test_cli_runner().invoke(args=["intake", "import", str(path), "--json", *args])
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


def records(app):
    with app.app_context():
        found = db.session.scalars(select(IntakeRecord).order_by(IntakeRecord.external_id)).all()
        return {r.external_id: (r.channel, r.unit.code if r.unit else None, r.rating, r.reply) for r in found}


class FormFields(HTMLParser):
    """The fields a browser would post from the page's POST form: inputs, and each select's chosen option."""

    def __init__(self):
        super().__init__()
        self.fields, self._in_post, self._select, self._first = {}, False, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._in_post = (attrs.get("method") or "").lower() == "post"
        elif not self._in_post:
            return
        elif tag == "input" and attrs.get("name") and attrs.get("type") not in ("checkbox", "radio"):
            self.fields[attrs["name"]] = attrs.get("value") or ""
        elif tag == "select":
            self._select, self._first = attrs["name"], None
            self.fields[self._select] = ""
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = attrs.get("value", "")
                self.fields[self._select] = self._first
            if "selected" in attrs:
                self.fields[self._select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._in_post = False


def page_fields(html):
    parser = FormFields()
    parser.feed(html)
    return parser.fields


def upload(client, content, filename="in.csv"):
    token = csrf_from(client, "/intake/import")
    response = client.post(
        "/intake/import",
        data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def wait_done(client, batch_id, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/intake/imports/{batch_id}/progress").get_json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError("import did not finish")


def start_import(client, mapping_url, fields):
    started = client.post(mapping_url, data={**fields, "go": "import"})
    assert started.status_code == 302, started.get_data(as_text=True)
    return wait_done(client, int(started.headers["Location"].rstrip("/").split("/")[-1]))


# ---- channels ------------------------------------------------------------------------------------


def test_channel_values_match_ignoring_spaces_and_full_or_half_width(app, make, tmp_path):
    make.org()
    rows = [
        row("S1", **{"渠道": "12345热线"}),
        row("S2", **{"渠道": "１２３４５　热线"}),
        row("S3", **{"渠道": " 短 信 "}),
        row("S4", **{"渠道": "政务服务APP"}),
    ]
    code, out = run_import(app, write_csv(tmp_path / "loose.csv", rows))
    assert code == 0 and (out["created"], out["rejected"]) == (4, 0), out
    found = records(app)
    assert [found[k][0] for k in ("S1", "S2", "S3", "S4")] == ["12345 热线", "12345 热线", "短信", "政务服务 APP"]


def test_the_channel_option_and_the_api_match_loosely_too(app, client, make, tmp_path):
    make.org()
    headers = ["来源编号", "受理时间", "标题", "内容"]
    code, out = run_import(
        app, write_csv(tmp_path / "noch.csv", [row("O1")], headers=headers), "--channel", "12345热线"
    )
    assert out["created"] == 1 and records(app)["O1"][0] == "12345 热线"
    body = {"channel": "短　信", "kind": "投诉", "external_id": "API1", "received_at": "2026-10-09T10:00:00"}
    response = client.post(
        "/api/v1/intake",
        json={**body, "title": "t", "body": "b"},
        headers={"Authorization": f"Bearer {_api_token(app)}"},
    )
    assert response.status_code == 201 and response.get_json()["channel"] == "短信"


def test_an_alias_added_on_the_admin_page_lets_an_export_value_land_in_its_channel(app, client, make, tmp_path):
    make.org()
    login(client, "admin")
    client.get("/admin/channels")
    with app.app_context():
        hotline = db.session.scalar(select(Channel).where(Channel.name == "12345 热线"))
        hotline_id = hotline.id
    response = post_form(
        client, "/admin/channels", {"channel_id": hotline_id, "action": "add_alias", "alias": "市民热线"}
    )
    assert response.status_code == 302
    assert "市民热线" in client.get("/admin/channels").get_data(as_text=True)
    code, out = run_import(app, write_csv(tmp_path / "alias.csv", [row("AL1", **{"渠道": "市民 热线"})]))
    assert out["created"] == 1 and records(app)["AL1"][0] == "12345 热线"
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "channel.aliases"))
        assert (event.object_id, event.before, event.after) == (
            str(hotline_id),
            {"aliases": []},
            {"aliases": ["市民热线"]},
        )


def test_aliases_are_validated_and_one_alias_cannot_belong_to_two_channels(app, client, make):
    make.org()
    login(client, "admin")
    client.get("/admin/channels")
    with app.app_context():
        ids = dict(db.session.execute(select(Channel.name, Channel.id)).all())

    def add(channel, alias):
        post_form(client, "/admin/channels", {"channel_id": ids[channel], "action": "add_alias", "alias": alias})
        return client.get("/admin/channels").get_data(as_text=True)

    assert "请填写别名" in add("12345 热线", "  ")
    assert "无需再加" in add("12345 热线", "12345热线")  # already its name, once spaces are ignored
    assert "同一别名不能属于两个渠道" in add("12345 热线", "短  信")  # another channel's name
    add("12345 热线", "市民热线")
    page = add("网络问政", "市民热线")
    assert "已对应渠道“12345 热线”" in page and "同一别名不能属于两个渠道" in page
    assert "不能超过 50 字" in add("网络问政", "长" * 51)
    response = post_form(client, "/admin/channels", {"name": "市民热线"})  # a new channel named like an alias
    assert response.status_code == 302 and "已是渠道“12345 热线”的名称或别名" in client.get("/admin/channels").get_data(
        as_text=True
    )
    post_form(
        client, "/admin/channels", {"channel_id": ids["12345 热线"], "action": "remove_alias", "alias": "市民热线"}
    )
    with app.app_context():
        assert db.session.get(Channel, ids["12345 热线"]).aliases == []
        assert db.session.get(Channel, ids["网络问政"]).aliases in (None, [])
        assert db.session.scalar(select(Channel.id).where(Channel.name == "市民热线")) is None
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "channel.aliases")).all()
        assert [e.after["aliases"] for e in events] == [["市民热线"], []]
    # Only admins manage channels.
    other = app.test_client()
    login(other, "inspector")
    assert other.get("/admin/channels").status_code == 403


def test_unknown_channels_are_listed_with_their_counts_and_mapped_in_one_step_kept_in_the_profile(
    app, client, make, tmp_path
):
    make.org()
    login(client, "inspector")
    rows = [row(f"K{i}", **{"渠道": "某县民生平台"}) for i in range(3)] + [
        row("K9"),
        row("K8", **{"渠道": "秘书长信箱"}),
    ]
    mapping_url = upload(client, csv_bytes(rows))
    page = client.get(mapping_url).get_data(as_text=True)
    assert "文件中的渠道名称与渠道列表不一致" in page
    listed = page[page.index('id="unmatched-channels"') :]
    listed = listed[: listed.index("</section>")]
    assert "某县民生平台" in listed and '<td class="text-end">3</td>' in listed and "秘书长信箱" in listed
    assert "12345 热线</td>" not in listed  # a known channel is not listed
    fields = page_fields(page)
    mapped = {fields[k]: k.replace("_value_", "_target_") for k in fields if k.startswith("channel_value_")}
    fields[mapped["某县民生平台"]] = "网络问政"  # one select per unknown value; 秘书长信箱 stays unmapped
    fields["profile_name"] = "某县民生平台导出"
    preview = client.post(mapping_url, data={**fields, "go": "preview"}).get_data(as_text=True)
    assert '<option value="网络问政" selected>' in preview
    state = start_import(client, mapping_url, page_fields(preview))
    assert (state["created"], state["rejected"]) == (4, 1)
    found = records(app)
    assert {found[f"K{i}"][0] for i in range(3)} == {"网络问政"} and found["K9"][0] == "12345 热线"
    with app.app_context():
        profile = db.session.scalar(select(ImportProfile).where(ImportProfile.name == "某县民生平台导出"))
        assert profile.defaults["channel_map"] == {"某县民生平台": "网络问政"}
        saved = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "intake.profile_save"))
        assert saved.after["defaults"]["channel_map"] == {"某县民生平台": "网络问政"}
    # The next file from the same source: the saved profile maps it with nothing to choose.
    again = write_csv(tmp_path / "again.csv", [row("K20", **{"渠道": "某县民生平台"})])
    code, out = run_import(app, again, "--profile", "某县民生平台导出")
    assert out["created"] == 1 and records(app)["K20"][0] == "网络问政"


def test_without_a_mapping_the_rows_of_an_unknown_channel_are_rejected_with_the_value(app, make, tmp_path):
    make.org()
    code, out = run_import(app, write_csv(tmp_path / "u.csv", [row("N1", **{"渠道": "某县民生平台"}), row("N2")]))
    assert (out["created"], out["rejected"]) == (1, 1)
    assert "某县民生平台" in out["errors"][0]["reason"]


# ---- units, ratings, replies ---------------------------------------------------------------------


def test_units_match_by_code_or_name_ignoring_spaces_and_width(app, make, tmp_path):
    make.org()
    rows = [
        row("U1", **{"单位编码": "甲单位"}),
        row("U2", **{"单位编码": "乙 单位"}),
        row("U3", **{"单位编码": "ＵＡ１"}),
        row("U4", **{"单位编码": "ub"}),
    ]
    code, out = run_import(app, write_csv(tmp_path / "units.csv", rows))
    assert (out["created"], out["rejected"]) == (4, 0), out
    found = records(app)
    assert [found[k][1] for k in ("U1", "U2", "U3", "U4")] == ["UA", "UB", "UA1", "UB"]


def test_an_unknown_unit_is_mapped_on_the_preview_page_and_kept_in_the_profile(app, client, make):
    make.org()
    login(client, "inspector")
    headers = ["来源编号", "渠道", "受理时间", "标题", "内容", "涉及单位"]
    rows = [{**row(f"M{i}"), "涉及单位": "乙局"} for i in range(2)] + [{**row("M5"), "涉及单位": "甲单位"}]
    mapping_url = upload(client, csv_bytes(rows, headers=headers))
    page = client.get(mapping_url).get_data(as_text=True)
    assert "已自动对应" in page  # 涉及单位 is a canonical name for the unit column
    listed = page[page.index('id="unmatched-units"') :]
    listed = listed[: listed.index("</section>")]
    assert "乙局" in listed and '<td class="text-end">2</td>' in listed and "甲单位</td>" not in listed
    fields = page_fields(page)
    value_key = next(k for k in fields if k.startswith("unit_value_") and fields[k] == "乙局")
    fields[value_key.replace("_value_", "_target_")] = "UB"
    fields["profile_name"] = "涉及单位导出"
    state = start_import(client, mapping_url, fields)
    assert (state["created"], state["rejected"]) == (3, 0)
    found = records(app)
    assert (found["M0"][1], found["M1"][1], found["M5"][1]) == ("UB", "UB", "UA")
    with app.app_context():
        assert db.session.scalar(select(ImportProfile)).defaults["unit_map"] == {"乙局": "UB"}


def test_ratings_under_评价_and_replies_under_处理结果_are_carried_over(app, client, make, tmp_path):
    make.org()
    headers = ["来源编号", "渠道", "受理时间", "标题", "内容", "评价", "处理结果"]
    rows = [
        {**row("R1"), "评价": "满意", "处理结果": "已电话联系群众，现场办结。\n群众表示满意。"},
        {**row("R2"), "评价": "５", "处理结果": ""},
        {**row("R3"), "评价": "2星", "处理结果": "已督促窗口整改"},
    ]
    code, out = run_import(app, write_csv(tmp_path / "r.csv", rows, headers=headers))
    assert (out["created"], out["rejected"]) == (3, 0), out
    found = records(app)
    assert [found[k][2] for k in ("R1", "R2", "R3")] == [4, 5, 2]
    assert found["R1"][3] == "已电话联系群众，现场办结。\n群众表示满意。" and found["R2"][3] is None
    with app.app_context():
        record_id = db.session.scalar(select(IntakeRecord.id).where(IntakeRecord.external_id == "R1"))
    login(client, "inspector")
    assert "群众表示满意" in client.get(f"/intake/{record_id}").get_data(as_text=True)
    token = _api_token(app)
    api = client.get(f"/api/v1/intake/{record_id}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert api["reply"].startswith("已电话联系群众") and api["rating"] == 4


def _api_token(app):
    result = app.test_cli_runner().invoke(args=["tokens", "create", "test", "--user", "inspector"])
    assert result.exit_code == 0, result.output
    return result.output.strip().split()[-1]


def test_reply_headers_have_the_usual_names(app, make, tmp_path):
    make.org()
    for number, header in enumerate(["答复", "答复内容", "回复内容", "处理结果", "reply"]):
        headers = ["来源编号", "渠道", "受理时间", "标题", "内容", header]
        rows = [{**row(f"H{number}"), header: f"答复 {number}"}]
        code, out = run_import(app, write_csv(tmp_path / f"h{number}.csv", rows, headers=headers))
        assert out["created"] == 1
        assert records(app)[f"H{number}"][3] == f"答复 {number}"


# ---- canonical English headers -------------------------------------------------------------------


def english_rows():
    return [
        {
            "external_id": f"EN{i}",
            "received_at": "2026-10-09 10:00:00",
            "title": f"Long queue {i}",
            "body": "Queued two hours at the service centre.",
            "channel": "12345 热线",
            "kind": "差评",
            "rating": "1",
            "service_item": "社保卡补办",
            "unit_code": "UB",
            "complainant_name": "张三",
            "complainant_phone": "13812345678",
        }
        for i in range(3)
    ]


def test_canonical_english_headers_import_through_the_cli_with_every_column(app, make, tmp_path):
    make.org()
    code, out = run_import(app, write_csv(tmp_path / "en.csv", english_rows(), headers=ENGLISH, bom=True))
    assert code == 0 and (out["created"], out["rejected"]) == (3, 0), out
    with app.app_context():
        record = db.session.scalar(select(IntakeRecord).where(IntakeRecord.external_id == "EN0"))
        assert (record.kind, record.rating, record.service_item, record.unit.code) == ("差评", 1, "社保卡补办", "UB")
        assert record.complainant() == {"name": "张三", "phone": "13812345678"}


def test_canonical_english_headers_map_with_no_profile_on_the_import_page(app, client, make):
    make.org()
    login(client, "inspector")
    mapping_url = upload(client, csv_bytes(english_rows(), headers=ENGLISH))
    page = client.get(mapping_url).get_data(as_text=True)
    assert "已自动对应" in page
    fields = page_fields(page)
    assert {k: fields[f"map_{k}"] for k in ENGLISH} == {k: k for k in ENGLISH}
    state = start_import(client, mapping_url, fields)
    assert (state["created"], state["rejected"]) == (3, 0)
    with app.app_context():
        record = db.session.scalar(select(IntakeRecord).where(IntakeRecord.external_id == "EN1"))
        assert (record.kind, record.rating, record.unit.code, record.complainant_phone_mask) == (
            "差评",
            1,
            "UB",
            "138****5678",
        )


def test_english_headers_in_other_case_or_spacing_are_still_canonical(app, make, tmp_path):
    make.org()
    headers = ["External ID", "Received_At", "TITLE", "Body", "Channel"]
    rows = [{"External ID": "C1", "Received_At": "2026-10-09 10:00", "TITLE": "t", "Body": "b", "Channel": "短信"}]
    code, out = run_import(app, write_csv(tmp_path / "case.csv", rows, headers=headers))
    assert code == 0 and out["created"] == 1


# ---- counting rows -------------------------------------------------------------------------------


def test_the_preview_counts_data_rows_not_lines(app, client, make):
    make.org()
    login(client, "inspector")
    rows = [
        row("L1", **{"内容": "第一段\n第二段\n第三段"}),
        row("L2", **{"内容": "一行\r\n两行"}),
        {},  # a blank row: the import skips it, so it is not counted either
        row("L3"),
    ]
    mapping_url = upload(client, csv_bytes(rows))
    with app.app_context():
        batch = db.session.scalar(select(ImportBatch))
        assert batch.total_rows == 3
    page = client.get(mapping_url).get_data(as_text=True)
    assert "共 3 行数据" in page
    state = start_import(client, mapping_url, page_fields(page))
    assert (state["created"], state["total"], state["percent"]) == (3, 3, 100)
    with app.app_context():
        assert (
            db.session.scalar(select(IntakeRecord.body).where(IntakeRecord.external_id == "L1"))
            == "第一段\n第二段\n第三段"
        )


def test_the_message_board_export_maps_with_no_profile_counts_its_rows_and_keeps_its_replies(app, client, make):
    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "complaints_zh.csv"
    if not data.is_file():
        pytest.skip("../shared/data is not beside the repository")
    make.org()
    login(client, "inspector")
    # Staged as the upload view stages it (the test client leaves a large multipart body's temp file open).
    with app.app_context():
        with open(data, "rb") as stream:
            batch = imports.stage_batch(imports.stage_upload(stream, data.name), data.name, actor=None)
        db.session.commit()
        mapping_url = f"/intake/import/{batch.id}/mapping"
    page = client.get(mapping_url).get_data(as_text=True)
    # source_id … reply are the canonical English names; 4,173 records over 5,153 lines (quoted line breaks).
    assert "已自动对应" in page and "共 4173 行数据" in page
    fields = {**page_fields(page), "default_channel": "网络问政"}
    assert (fields["map_external_id"], fields["map_reply"]) == ("source_id", "reply")
    state = start_import(client, mapping_url, fields)
    assert (state["created"], state["rejected"]) == (4173, 0)
    with app.app_context():
        replied = db.session.scalar(
            select(func.count()).select_from(IntakeRecord).where(IntakeRecord.reply.is_not(None))
        )
        assert replied > 2000


def test_a_unit_name_shared_by_two_units_needs_its_parent_or_its_code(app, make, tmp_path):
    make.org()
    make.unit("UA-BGS", "办公室", parent="UA")
    make.unit("UB-BGS", "办公室", parent="UB")
    rows = [
        row("B1", **{"单位编码": "办公室"}),
        row("B2", **{"单位编码": "甲单位 / 办公室"}),
        row("B3", **{"单位编码": "乙系统／乙单位／办公室"}),
        row("B4", **{"单位编码": "UB-BGS"}),
    ]
    code, out = run_import(app, write_csv(tmp_path / "same.csv", rows))
    assert (out["created"], out["rejected"]) == (3, 1)
    assert "对应多个单位" in out["errors"][0]["reason"]
    found = records(app)
    assert (found["B2"][1], found["B3"][1], found["B4"][1]) == ("UA-BGS", "UB-BGS", "UB-BGS")
