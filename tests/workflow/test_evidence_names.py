"""An evidence file's name carries the extension of the type found in its content, not the uploaded one."""

import io

import pytest
from sqlalchemy import select

from tests.api.test_intake_api import auth, token_for
from tests.conftest import csrf_from, login
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger import services
from tracker.ledger.models import Evidence, Problem
from tracker.workflow import services as workflow

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def working(app, make):
    """A yellow problem of UA, accepted: in progress, so that the unit may upload evidence."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(title="窗口服务态度差", body="工作人员态度差。", assign={"tier": "yellow"})
    with app.app_context():
        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        unit_user = db.session.scalar(select(User).where(User.username == "unita"))
        workflow.apply(problem, "accept", actor=unit_user, expected_version=problem.version)
        db.session.commit()
    return number


def test_a_pdf_uploaded_as_html_is_saved_and_served_as_pdf(app, client, working):
    login(client, "unita")
    token = csrf_from(client, f"/ledger/{working}")
    response = client.post(
        f"/ledger/{working}/evidence",
        data={"csrf_token": token, "file": (io.BytesIO(PDF), "整改报告.html")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with app.app_context():
        item = db.session.scalar(select(Evidence))
        assert (item.filename, item.content_type) == ("整改报告.pdf", "application/pdf")
        evidence_id = item.id
    with client.get(f"/ledger/evidence/{evidence_id}") as download:
        assert download.status_code == 200 and download.data == PDF
        assert download.mimetype == "application/pdf"
        disposition = download.headers["Content-Disposition"]
        assert (
            disposition.startswith("attachment")
            and "filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%8A%A5%E5%91%8A.pdf" in disposition
        )
        assert ".html" not in disposition


def test_the_api_upload_names_the_file_by_its_content_too(app, client, working):
    token = token_for(app, "unita")
    response = client.post(
        f"/api/v1/problems/{working}/evidence",
        data={"file": (io.BytesIO(PDF), "x.html")},
        content_type="multipart/form-data",
        headers=auth(token),
    )
    assert response.status_code == 201
    assert response.get_json()["filename"] == "x.pdf"


def test_an_old_row_with_a_wrong_extension_downloads_under_the_right_one(app, client, working):
    with app.app_context():
        unit_user = db.session.scalar(select(User).where(User.username == "unita"))
        problem = db.session.scalar(select(Problem).where(Problem.number == working))
        item = services.store_evidence(problem, io.BytesIO(PDF), "a.pdf", actor=unit_user)
        item.filename = "a.html"  # as stored before names followed the content
        db.session.commit()
        evidence_id = item.id
    login(client, "unita")
    with client.get(f"/ledger/evidence/{evidence_id}") as download:
        assert "filename=a.pdf" in download.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("uploaded", "content_type", "saved"),
    [
        ("x.html", "application/pdf", "x.pdf"),
        ("照片.JPEG", "image/jpeg", "照片.JPEG"),
        ("照片.jpg", "image/png", "照片.png"),
        ("报告", "application/pdf", "报告.pdf"),
        (".html", "application/pdf", "html.pdf"),
        ("a.b.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.b.docx"),
        ("../../etc/passwd.exe", "image/gif", "passwd.gif"),
    ],
)
def test_evidence_filename_follows_the_content_type(uploaded, content_type, saved):
    assert services.evidence_filename(uploaded, content_type) == saved
