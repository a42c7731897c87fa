"""The import pages: upload, column mapping with preview and saved profiles, background progress."""

import io
import time

from sqlalchemy import select

from tests.conftest import csrf_from, login
from tests.intake.helpers import csv_bytes, row
from tracker.extensions import db
from tracker.intake.models import ImportProfile, IntakeRecord


def upload(client, content, filename="in.csv"):
    token = csrf_from(client, "/intake/import")
    return client.post(
        "/intake/import",
        data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def wait_done(client, batch_id, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/intake/imports/{batch_id}/progress").get_json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError("import did not finish")


def test_canonical_file_is_mapped_automatically_and_imports_in_the_background(app, client, make):
    make.org()
    login(client, "inspector")
    rows = [row(f"U{i}") for i in range(25)] + [row("BAD", **{"受理时间": "昨天"})]
    response = upload(client, csv_bytes(rows, encoding="gbk"))
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    page = client.get(mapping_url).get_data(as_text=True)
    assert "已自动对应" in page and "138****5678" in page and "13812345678" not in page
    token = csrf_from(client, mapping_url)
    fields = {
        f"map_{k}": v
        for k, v in {
            "external_id": "来源编号",
            "channel": "渠道",
            "kind": "类型",
            "received_at": "受理时间",
            "title": "标题",
            "body": "内容",
            "rating": "评价等级",
            "unit_code": "单位编码",
            "complainant_name": "反映人",
            "complainant_phone": "联系电话",
        }.items()
    }
    started = client.post(mapping_url, data={"csrf_token": token, "go": "import", **fields})
    assert started.status_code == 302
    batch_id = int(started.headers["Location"].rstrip("/").split("/")[-1])
    state = wait_done(client, batch_id)
    assert (state["created"], state["rejected"], state["percent"]) == (25, 1, 100)
    result = client.get(f"/intake/imports/{batch_id}").get_data(as_text=True)
    assert "下载错误报告" in result
    report = client.get(f"/intake/imports/{batch_id}/errors.csv")
    assert report.mimetype == "text/csv" and "受理时间" in report.get_data(as_text=True)
    finished = client.get(f"/intake/imports/{batch_id}/progress", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every' not in finished  # the polling stops
    # and the import's clusters come in beside it, without a reload
    assert (
        'id="batch-clusters-panel" hx-swap-oob="true"' in finished and f"/intake/clusters?batch={batch_id}" in finished
    )


def test_other_layouts_are_mapped_by_hand_and_saved_as_a_profile(app, client, make):
    make.org()
    login(client, "inspector")
    headers = ["编号", "时间", "主题", "详情"]
    content = csv_bytes(
        [{"编号": "P1", "时间": "2026-10-08 08:00", "主题": "路灯不亮", "详情": "新街路灯坏了"}], headers=headers
    )
    mapping_url = upload(client, content).headers["Location"]
    assert "不是标准列名" in client.get(mapping_url).get_data(as_text=True)
    token = csrf_from(client, mapping_url)
    incomplete = client.post(mapping_url, data={"csrf_token": token, "go": "import", "map_external_id": "编号"})
    assert incomplete.status_code == 422 and "请为“受理时间”选择一列" in incomplete.get_data(as_text=True)
    done = client.post(
        mapping_url,
        data={
            "csrf_token": token,
            "go": "import",
            "map_external_id": "编号",
            "map_received_at": "时间",
            "map_title": "主题",
            "map_body": "详情",
            "default_channel": "网络问政",
            "save_profile": "1",
            "profile_name": "某县问政平台",
        },
    )
    assert done.status_code == 302
    wait_done(client, int(done.headers["Location"].split("/")[-1]))
    with app.app_context():
        profile = db.session.scalar(select(ImportProfile))
        assert profile.name == "某县问政平台" and profile.mapping["title"] == "主题"
        assert profile.defaults["channel"] == "网络问政"
        assert db.session.scalar(select(IntakeRecord)).channel == "网络问政"
    # The next file with the same layout picks the saved profile by itself.
    again = upload(client, content).headers["Location"]
    assert "已套用导入方案“某县问政平台”" in client.get(again).get_data(as_text=True)


def test_a_renamed_pdf_is_refused_on_upload(client, make):
    make.org()
    login(client, "inspector")
    response = upload(client, b"%PDF-1.4 fake", filename="report.csv")
    assert response.status_code == 422 and "不是 CSV 或 Excel" in response.get_data(as_text=True)


def test_an_oversized_upload_gets_413_with_a_message(app, client, make):
    make.org()
    login(client, "inspector")
    token = csrf_from(client, "/intake/import")
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        response = client.post(
            "/intake/import",
            data={"csrf_token": token, "file": (io.BytesIO(b"x" * 4096), "a.csv")},
            content_type="multipart/form-data",
        )
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 413 and "超过" in response.get_data(as_text=True)


def test_unit_users_and_leaders_cannot_import(app, make):
    make.org()
    for username in ("unita", "leader"):
        client = app.test_client()
        login(client, username)
        assert client.get("/intake/import").status_code == 403
