"""The app with STORAGE_BACKEND=s3 (moto's S3 server on loopback): evidence uploaded on a problem and
downloaded through its route, an inspection photo likewise, and an import file uploaded and run
through the importer, with nothing written under STORAGE_DIR."""

import hashlib
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import csrf_from, login
from tests.core.conftest import new_bucket, objects
from tests.intake.helpers import csv_bytes, row
from tests.intake.test_upload_pages import upload, wait_done
from tests.oversight import test_pages as inspection_pages
from tests.workflow.test_evidence_names import working  # noqa: F401 - the fixture
from tracker.core import clock, storage
from tracker.extensions import db
from tracker.intake import imports
from tracker.intake.models import ImportBatch, IntakeRecord
from tracker.ledger.models import Evidence
from tracker.oversight.models import InspectionPhoto

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40
PREFIX = "zhenggai/"


@pytest.fixture
def s3_app(app, s3_server):
    """The test app switched to a fresh bucket for one test; the directory backend again after."""
    bucket = new_bucket(s3_server)
    settings = {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3_server,
        "S3_REGION": "cn-north-1",
        "S3_PREFIX": PREFIX,
    }
    before = {name: app.config.get(name) for name in settings}
    app.config.update(settings)
    yield app, lambda: objects(s3_server, bucket)
    app.config.update(before)


def _local_files(app, folder):
    root = Path(app.config["STORAGE_DIR"]) / folder
    return {p.name for p in root.iterdir()} if root.exists() else set()


def test_evidence_goes_to_the_bucket_and_downloads_through_the_app(s3_app, client, working):  # noqa: F811 - the fixture
    app, held = s3_app
    local_before = _local_files(app, "evidence")
    login(client, "unita")
    token = csrf_from(client, f"/ledger/{working}")
    response = client.post(
        f"/ledger/{working}/evidence",
        data={"csrf_token": token, "file": (io.BytesIO(PNG), "现场照片.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with app.app_context():
        item = db.session.scalar(select(Evidence))
        evidence_id, stored_name = item.id, item.stored_name
        assert (item.filename, item.size, item.sha256) == ("现场照片.png", len(PNG), hashlib.sha256(PNG).hexdigest())
    assert held() == [f"{PREFIX}evidence/{stored_name}"]
    assert _local_files(app, "evidence") == local_before  # nothing on the app server's disk

    with client.get(f"/ledger/evidence/{evidence_id}") as download:
        assert download.status_code == 200 and download.data == PNG
        assert download.mimetype == "image/png" and download.content_length == len(PNG)
        assert download.headers["ETag"] == f'"{hashlib.sha256(PNG).hexdigest()}"'
        assert download.headers["Accept-Ranges"] == "bytes" and download.last_modified is not None
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert "no-cache" in download.headers["Cache-Control"]
        etag = download.headers["ETag"]
    with client.get(f"/ledger/evidence/{evidence_id}?inline=1") as shown:
        assert shown.headers["Content-Disposition"].startswith("inline") and shown.data == PNG
    with client.get(f"/ledger/evidence/{evidence_id}", headers={"Range": "bytes=100-199"}) as part:
        assert part.status_code == 206 and part.data == PNG[100:200]
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(PNG)}"
    with client.get(f"/ledger/evidence/{evidence_id}", headers={"If-None-Match": etag}) as cached:
        assert cached.status_code == 304 and cached.data == b""

    # A refused file (not an allowed type) leaves nothing in the bucket.
    refused = client.post(
        f"/ledger/{working}/evidence",
        data={"csrf_token": token, "file": (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 500), "a.png")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and held() == [f"{PREFIX}evidence/{stored_name}"]

    # Gone from the bucket: 404, not an error page.
    with app.app_context():
        storage.get().delete(f"evidence/{stored_name}")
    assert client.get(f"/ledger/evidence/{evidence_id}").status_code == 404


def test_an_inspection_photo_goes_to_the_bucket_and_is_served_from_it(s3_app, make):
    app, held = s3_app
    make.org()
    make.user("insp2", "inspector", name="检查员2")
    clock.pin("2026-11-02T09:00:00")
    number = make.problem(unit="UA", title="窗口无人值守", assign={"tier": "yellow"})
    assert inspection_pages._close(app, number) == "closed"
    clock.pin("2026-11-10T09:00:00")
    client = inspection_pages._inspector(app)
    batch_id = inspection_pages._create(client, method="targeted", problems=number, inspectors=["insp2"])
    photo = inspection_pages.PNG
    response = inspection_pages._visit(
        client, batch_id, number, files=[("现场.png", photo)], result="fail", findings="仍无人", way="隐秘拍摄"
    )
    assert response.status_code == 302
    with app.app_context():
        item = db.session.scalar(select(InspectionPhoto))
        photo_id, stored_name = item.id, item.stored_name
    assert held() == [f"{PREFIX}inspections/{stored_name}"]
    with client.get(f"/inspections/photos/{photo_id}") as served:
        assert served.status_code == 200 and served.data == photo and served.content_length == len(photo)
        assert served.headers["Content-Disposition"].startswith("attachment")
    with app.app_context():
        storage.get().delete(f"inspections/{stored_name}")
    assert held() == [] and client.get(f"/inspections/photos/{photo_id}").status_code == 404


def test_an_import_file_is_kept_in_the_bucket_and_imported_from_it(s3_app, client, make):
    app, held = s3_app
    make.org()
    local_before = _local_files(app, "imports")
    login(client, "inspector")
    content = csv_bytes([row(f"S3-{i}") for i in range(12)] + [row("BAD", **{"受理时间": "昨天"})])
    response = upload(client, content, "12345导出.csv")
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    with app.app_context():
        batch = db.session.scalar(select(ImportBatch))
        key = batch.stored_path
    assert key.startswith("imports/") and key.endswith(".upload")
    assert held() == [PREFIX + key] and _local_files(app, "imports") == local_before

    page = client.get(mapping_url)  # headers and preview read from the bucket
    assert page.status_code == 200 and "已自动对应" in page.get_data(as_text=True)
    token = csrf_from(client, mapping_url)
    fields = {
        "map_external_id": "来源编号",
        "map_channel": "渠道",
        "map_kind": "类型",
        "map_received_at": "受理时间",
        "map_title": "标题",
        "map_body": "内容",
        "map_unit_code": "单位编码",
    }
    started = client.post(mapping_url, data={"csrf_token": token, "go": "import", **fields})
    assert started.status_code == 302
    state = wait_done(client, batch.id)
    assert (state["status"], state["created"], state["rejected"]) == ("done", 12, 1)
    with app.app_context():
        assert db.session.scalar(select(IntakeRecord).where(IntakeRecord.external_id == "S3-7")) is not None


def test_import_rows_from_before_still_read_their_paths(s3_app, tmp_path, make):
    """A batch whose stored_path is an absolute path: read there while it exists; when it is gone
    (STORAGE_DIR copied into the bucket), the same name under imports/ in the bucket."""
    app, held = s3_app
    make.org()
    old = tmp_path / "storage" / "imports" / "0123456789abcdef0123456789abcdef.upload"
    old.parent.mkdir(parents=True)
    old.write_bytes(csv_bytes([row("OLD-1"), row("OLD-2")]))
    with app.app_context():
        batch = imports.stage_batch(old, "old.csv", actor=None)
        batch.stored_path = str(old)  # as rows were written before the storage backends
        assert imports.headers_of(batch)[0] == "来源编号"
        imports.queue_batch(batch, imports.canonical_mapping(imports.headers_of(batch)), {})
        db.session.commit()
        assert imports.run_batch(batch.id).created_count == 2

        storage.get().save(io.BytesIO(old.read_bytes().replace(b"OLD-", b"MOVED-")), "imports")
        moved_name = held()[0].removeprefix(f"{PREFIX}imports/")
        gone = tmp_path / "elsewhere" / "imports" / moved_name
        again = imports.stage_batch(f"imports/{moved_name}", "moved.csv", actor=None)
        again.stored_path = str(gone)
        assert not gone.exists()
        imports.queue_batch(again, imports.canonical_mapping(imports.headers_of(again)), {})
        db.session.commit()
        assert imports.run_batch(again.id).created_count == 2
        found = db.session.scalars(select(IntakeRecord.external_id).order_by(IntakeRecord.external_id)).all()
        assert found == ["MOVED-1", "MOVED-2", "OLD-1", "OLD-2"]
