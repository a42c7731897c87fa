"""`flask backup PATH` / `flask restore PATH`: a ledger with problems, records, an evidence file and
audit events is backed up, restored into an empty database and an empty storage directory (on the
test backend: SQLite, or a second PostgreSQL database made for the test), and found the same; a
tampered backup and a non-empty target are refused."""

import io
import json
import shutil

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from config import TestConfig
from tracker import create_app
from tracker.audit import services as audit
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock, storage
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Evidence, Problem
from tracker.ops import backup as ops
from tracker.workflow import services as workflow

from ..conftest import Factory, fresh_database
from ..core.conftest import new_bucket, objects, s3_server  # noqa: F401 - the fixture

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n" + bytes(range(256))


@pytest.fixture
def empty_app(app, tmp_path):
    """A second app on an empty database (SQLite file, or a new PostgreSQL database beside the
    test one) and an empty storage directory."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    drop = None
    if url.get_backend_name() == "postgresql":
        target, drop = fresh_database(url, f"{url.database}_restore")
    else:
        target = f"sqlite:///{tmp_path / 'restored.db'}"

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = target
        STORAGE_DIR = str(tmp_path / "restored-storage")

    second = create_app(Config)
    yield second
    with second.app_context():
        db.session.remove()
        db.engine.dispose()
    if drop:
        drop()


def ledger(app, make):
    """Problems (one with evidence), an unlinked record, audit events; the evidence's key."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    working = make.problem(title="道路长期破损", assign={"tier": "blue", "tier_override_reason": "需要资金"})
    make.problem(title="窗口服务态度差", assign={"tier": "yellow", "tier_override_reason": "按实际"})
    make.record("R-LOOSE-1", title="路灯不亮")
    with app.app_context():
        unita = db.session.scalar(select(User).where(User.username == "unita"))
        problem = db.session.scalar(select(Problem).where(Problem.number == working))
        workflow.apply(problem, "accept", actor=unita, expected_version=problem.version)
        item = ledger_services.store_evidence(problem, io.BytesIO(PDF), "报告.pdf", actor=unita)
        db.session.commit()
        return ledger_services.evidence_key(item)


def snapshot(app):
    with app.app_context():
        found = {
            "problems": [
                (p.number, p.title, p.status, p.tier, p.version)
                for p in db.session.scalars(select(Problem).order_by(Problem.id))
            ],
            "records": [r.external_id for r in db.session.scalars(select(IntakeRecord).order_by(IntakeRecord.id))],
            "evidence": [(e.stored_name, e.sha256, e.size) for e in db.session.scalars(select(Evidence))],
            "audit": [(a.id, a.hash) for a in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))],
        }
        with db.engine.connect() as conn:
            found["counts"] = ops.row_counts(conn)
        db.session.remove()
        return found


def test_backup_restore_into_an_empty_database(app, make, empty_app, tmp_path):
    key = ledger(app, make)
    before = snapshot(app)
    assert before["evidence"] and len(before["problems"]) == 2 and len(before["audit"]) > 5

    folder = tmp_path / "backup"
    result = app.test_cli_runner().invoke(args=["backup", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"][key]["sha256"] == before["evidence"][0][1]
    assert manifest["row_counts"]["problems"] == 2 and manifest["missing_files"] == []
    assert (folder / "files" / key).read_bytes() == PDF

    result = empty_app.test_cli_runner().invoke(args=["restore", str(folder)])
    assert result.exit_code == 0, result.output
    assert "恢复完成" in result.output and "审计链完整" in result.output

    after = snapshot(empty_app)
    assert after == before
    with empty_app.app_context():
        assert audit.verify().ok
        with storage.get().open(key) as fh:
            assert fh.read() == PDF
        db.session.remove()
    number = Factory(empty_app).problem(title="恢复后新建的问题")  # ids and sequences carry on
    with empty_app.app_context():
        assert db.session.scalar(select(Problem.id).where(Problem.number == number)) > 2
        assert audit.verify().ok
        db.session.remove()


def test_a_tampered_backup_is_refused_and_changes_nothing(app, make, empty_app, tmp_path):
    key = ledger(app, make)
    folder = tmp_path / "backup"
    assert app.test_cli_runner().invoke(args=["backup", str(folder)]).exit_code == 0
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "files" / key).write_bytes(PDF[:-1] + b"X")

    result = empty_app.test_cli_runner().invoke(args=["restore", str(bad), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert not report["ok"] and "备份已损坏" in report["error"] and key in report["error"]
    with empty_app.app_context():
        assert ops.is_empty()
        assert not storage.get().exists(key)
        db.session.remove()


def test_restore_onto_a_database_with_data_needs_force(app, make, tmp_path):
    ledger(app, make)
    folder = tmp_path / "backup"
    assert app.test_cli_runner().invoke(args=["backup", str(folder)]).exit_code == 0
    before = snapshot(app)
    result = app.test_cli_runner().invoke(args=["restore", str(folder)])
    assert result.exit_code != 0
    assert "--force" in result.output and "已有数据" in result.output
    result = app.test_cli_runner().invoke(args=["restore", str(folder), "--force"])
    assert result.exit_code == 0, result.output
    assert snapshot(app) == before


def test_backup_refuses_a_folder_that_holds_files(app, tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x").write_text("x")
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "old")])
    assert result.exit_code != 0 and "不是空目录" in result.output


def test_missing_or_old_postgresql_tools_are_named():
    with pytest.raises(ops.BackupError, match="pg_dump") as error:
        ops._tool("pg_dump", 99)
    assert "postgresql-client-99" in str(error.value)


def _s3(app, endpoint):
    bucket = new_bucket(endpoint)
    settings = {"STORAGE_BACKEND": "s3", "S3_BUCKET": bucket, "S3_ENDPOINT_URL": endpoint, "S3_REGION": "cn-north-1"}
    before = {name: app.config.get(name) for name in settings}
    app.config.update(settings)
    return bucket, before


def test_files_in_s3_are_backed_up_and_restored_into_another_bucket(app, make, empty_app, tmp_path, s3_server):  # noqa: F811
    _bucket, before = _s3(app, s3_server)
    target, target_before = _s3(empty_app, s3_server)
    try:
        key = ledger(app, make)
        folder = tmp_path / "backup"
        assert app.test_cli_runner().invoke(args=["backup", str(folder)]).exit_code == 0
        assert (folder / "files" / key).read_bytes() == PDF
        result = empty_app.test_cli_runner().invoke(args=["restore", str(folder)])
        assert result.exit_code == 0, result.output
        assert objects(s3_server, target) == [key]
        with empty_app.app_context():
            with storage.get().open(key) as fh:
                assert fh.read() == PDF
            db.session.remove()
    finally:
        app.config.update(before)
        empty_app.config.update(target_before)


def test_a_backup_of_the_other_database_kind_is_refused(app, make, empty_app, tmp_path):
    ledger(app, make)
    folder = tmp_path / "backup"
    assert app.test_cli_runner().invoke(args=["backup", str(folder)]).exit_code == 0
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    other = "sqlite" if manifest["database"] == "postgresql" else "postgresql"
    manifest["database"] = other
    dump = folder / manifest["dump"]["name"]
    dump.rename(folder / ops.DUMPS[other])
    manifest["dump"]["name"] = ops.DUMPS[other]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = empty_app.test_cli_runner().invoke(args=["restore", str(folder)])
    assert result.exit_code != 0 and "备份来自" in result.output
