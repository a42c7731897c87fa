"""Real public complaint data from ../shared/data, imported through the normal path (see SOURCES.md)."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.intake import imports
from tracker.intake.models import IntakeRecord

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not beside the repository")


def _save_profile(app, name, mapping, defaults):
    with app.app_context():
        imports.save_profile(name, mapping, defaults, actor=None)
        db.session.commit()


def _import(app, path, profile):
    result = app.test_cli_runner().invoke(args=["intake", "import", str(path), "--profile", profile, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_message_board_data_imports_completely_and_once(app):
    _save_profile(
        app,
        "网络问政留言板",
        {
            "external_id": "source_id",
            "received_at": "received_at",
            "title": "title",
            "body": "body",
            "category": "category",
        },
        {"channel": "网络问政", "kind": "投诉"},
    )
    out = _import(app, DATA / "complaints_zh.csv", "网络问政留言板")
    assert (out["created"], out["duplicate"], out["rejected"]) == (4173, 0, 0)
    again = _import(app, DATA / "complaints_zh.csv", "网络问政留言板")
    assert (again["created"], again["duplicate"]) == (0, 4173)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IntakeRecord)) == 4173
        labelled = db.session.scalar(
            select(func.count()).select_from(IntakeRecord).where(IntakeRecord.category.is_not(None))
        )
        assert labelled == 4173 - 2800  # SOURCES.md: 2,800 rows carry no category


def test_nyc_311_requests_import_through_a_mapping_profile(app, make):
    for agency in [
        "DCA",
        "DEP",
        "DOB",
        "DOF",
        "DOHMH",
        "DOT",
        "DPR",
        "DSNY",
        "EDC",
        "FDNY",
        "HPD",
        "HRA",
        "NYPD",
        "TLC",
    ]:
        make.unit(agency, agency)
    _save_profile(
        app,
        "NYC 311",
        {
            "external_id": "Unique Key",
            "received_at": "Created Date",
            "title": "Complaint Type",
            "body": "Descriptor",
            "unit_code": "Agency",
            "service_item": "Agency Name",
        },
        {"channel": "12345 热线", "kind": "投诉"},
    )
    out = _import(app, DATA / "complaints_311_sample.csv", "NYC 311")
    # One request has an empty Descriptor: rejected with its reason, never blocking the other 999.
    assert (out["created"], out["duplicate"], out["rejected"]) == (999, 0, 1)
    assert out["errors"][0]["column"] == "内容"
    with app.app_context():
        first = db.session.scalar(select(IntakeRecord).where(IntakeRecord.external_id == "26984072"))
        assert first.title == "Blocked Driveway" and first.unit.code == "NYPD"
        assert first.source_row["Incident Address"] == "952 EAST 58 STREET"
