"""Between transitions: progress notes, evidence uploads, milestones, extensions, instructions,
submission rules, verification routing, counters, and no lost updates under concurrency."""

import io
import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_from, login
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock
from tracker.core.errors import Conflict, ValidationFailed
from tracker.extensions import db
from tracker.ledger import services
from tracker.ledger.models import Evidence, Problem
from tracker.workflow import services as workflow

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _do(number, action, actor, **details):
    problem = _problem(number)
    return workflow.apply(problem, action, actor=_user(actor), expected_version=problem.version, **details)


@pytest.fixture
def working(app, make):
    """A yellow problem of UA assigned on 2026-09-28 and accepted: in progress, deadline 2026-10-16."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(
        title="希望延长开放时间", body="周末开放时间短。", assign={"tier": "yellow", "leader": "leader"}
    )
    with app.app_context():
        _do(number, "accept", "unita")
        db.session.commit()
    return number


def test_submission_needs_a_report_and_evidence_unless_waived(app_ctx, working):
    with pytest.raises(ValidationFailed) as no_report:
        _do(working, "submit", "unita", report="  ")
    assert "report" in no_report.value.fields
    with pytest.raises(ValidationFailed) as no_evidence:
        _do(working, "submit", "unita", report="<p>已整改</p>")
    assert "evidence" in no_evidence.value.fields
    services.waive_evidence(_problem(working), actor=_user("inspector"), reason="政策解释类，无实物材料")
    _do(working, "submit", "unita", report="<p>已整改</p><script>alert(1)</script>")
    problem = _problem(working)
    assert problem.status == "submitted"
    assert problem.notes[-1].body_html == "<p>已整改</p>alert(1)"


def test_evidence_is_checked_by_content_and_stored_with_its_hash(app_ctx, working):
    problem = _problem(working)
    item = services.store_evidence(problem, io.BytesIO(PNG), "../../etc/现场\x07照片.jpg", actor=_user("unita"))
    assert item.filename == "现场照片.png" and item.content_type == "image/png" and item.size == len(PNG)
    assert len(item.sha256) == 64 and services.evidence_path(item).read_bytes() == PNG
    for content, name, message in [
        (b"MZ\x90\x00" + b"\x00" * 200, "photo.jpg", "文件类型不允许"),
        (b"", "empty.jpg", "文件是空的"),
        (b"just some text", "notes.pdf", "文件类型不允许"),
    ]:
        with pytest.raises(ValidationFailed) as failed:
            services.store_evidence(problem, io.BytesIO(content), name, actor=_user("unita"))
        assert message in str(failed.value.fields.get("file")), name
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 1


def test_an_oversized_evidence_file_is_refused_while_streaming(app, app_ctx, working):
    folder = __import__("pathlib").Path(app.config["STORAGE_DIR"]) / "evidence"
    before = set(folder.iterdir()) if folder.exists() else set()
    app.config["EVIDENCE_MAX_BYTES"] = 1024
    try:
        with pytest.raises(ValidationFailed, match="上限"):
            services.store_evidence(
                _problem(working), io.BytesIO(PNG + b"\x00" * 4096), "big.png", actor=_user("unita")
            )
    finally:
        app.config["EVIDENCE_MAX_BYTES"] = 20 * 1024 * 1024
    assert set(folder.iterdir()) == before  # the partial file is gone


def test_a_1_gb_upload_is_refused_before_it_is_read(app, working):
    """A real server on loopback gets headers announcing 1 GB and answers 413 at once."""
    import socket

    from werkzeug.serving import make_server

    client = app.test_client()
    login(client, "unita")
    cookie = client.get_cookie("session").value
    token = csrf_from(client, f"/ledger/{working}")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
            boundary = "XyZ"
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
            )
            sock.sendall(
                (
                    f"POST /ledger/{working}/evidence HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Cookie: session={cookie}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                    f"Content-Length: {1 << 30}\r\n\r\n{head}"
                ).encode()
                + b"\x00" * 65536
            )
            answer = sock.recv(4096).decode("latin-1")
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert answer.startswith("HTTP/1.1 413")


def test_evidence_downloads_only_for_those_who_may_see_the_problem(app, working):
    with app.app_context():
        item = services.store_evidence(_problem(working), io.BytesIO(PNG), "现场.png", actor=_user("unita"))
        db.session.commit()
        evidence_id = item.id
    for username, status in (("unita", 200), ("inspector", 200), ("leader", 200), ("unitb", 404)):
        client = app.test_client()
        login(client, username)
        response = client.get(f"/ledger/evidence/{evidence_id}?inline=1")
        assert response.status_code == status, username
        if status == 200:
            assert response.get_data() == PNG and response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()


def test_extension_moves_the_deadline_but_never_the_original_one(app_ctx, working):
    with pytest.raises(ValidationFailed) as past:
        services.request_extension(_problem(working), "2026-09-01", "材料未到", actor=_user("unita"))
    assert "不能早于今天" in past.value.fields["new_deadline"]
    with pytest.raises(ValidationFailed):
        services.request_extension(_problem(working), "2026-10-20", "", actor=_user("unita"))
    request = services.request_extension(_problem(working), "2026-10-20", "设备到货延迟", actor=_user("unita"))
    with pytest.raises(ValidationFailed, match="待审批"):
        services.request_extension(_problem(working), "2026-10-21", "再延", actor=_user("unita"))
    problem = _problem(working)
    services.decide_extension(
        problem, request.id, True, "同意", actor=_user("inspector"), expected_version=problem.version
    )
    assert (problem.deadline, problem.original_deadline) == (date(2026, 10, 20), date(2026, 10, 16))


def test_refusing_an_extension_needs_a_reason(app_ctx, working):
    request = services.request_extension(_problem(working), "2026-10-20", "设备到货延迟", actor=_user("unita"))
    with pytest.raises(ValidationFailed):
        services.decide_extension(_problem(working), request.id, False, "", actor=_user("inspector"))
    services.decide_extension(_problem(working), request.id, False, "可先行临时处置", actor=_user("inspector"))
    assert _problem(working).deadline == date(2026, 10, 16)


def test_reject_counts_rework_and_red_items_go_through_verification(app_ctx, make):
    make.org()
    make.user("checker", "inspector")  # records the verification visit (回避: not who approved)
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(title="燃气管道安全隐患", body="燃气管道锈蚀。", assign={"tier": "red"})
    _do(number, "accept", "unita")
    services.waive_evidence(_problem(number), actor=_user("inspector"), reason="测试")
    _do(number, "submit", "unita", report="已更换管道")
    _do(number, "reject", "inspector", reason="未附检测报告")
    _do(number, "submit", "unita", report="已补检测报告")
    _do(number, "approve", "inspector", opinion="整改到位")
    problem = _problem(number)
    assert problem.status == "verifying" and problem.rework_count == 1
    from tracker.oversight import services as oversight

    visit = {"problem": number, "visited_on": clock.today(), "way": "现场查看", "result": "pass"}
    oversight.record_visit(
        oversight.open_item_for(problem).batch, {**visit, "inspectors": ["checker"]}, actor=_user("inspector")
    )
    assert _problem(number).status == "closed" and _problem(number).closed_at is not None


def test_a_failed_verification_makes_the_next_approval_verify_again(app_ctx, working):
    services.waive_evidence(_problem(working), actor=_user("inspector"), reason="测试")
    _do(working, "submit", "unita", report="已整改")
    _do(working, "approve", "inspector", opinion="整改到位")
    assert _problem(working).status == "closed"  # yellow: no verification needed
    _do(working, "reopen", "inspector", reason="回访不满意")
    assert (_problem(working).status, _problem(working).reopen_count) == ("in_progress", 1)
    _do(working, "submit", "unita", report="再次整改")
    _do(working, "approve", "inspector", opinion="整改到位")
    assert _problem(working).status == "verifying"


def test_leader_instruction_shows_and_notifies_the_unit(app, working):
    from tracker.alerts.models import Notification

    client = app.test_client()
    login(client, "leader")
    token = csrf_from(client, f"/ledger/{working}")
    client.post(
        f"/ledger/{working}/notes",
        data={
            "csrf_token": token,
            "kind": "instruction",
            "body": "<p>请<b>务必</b>本周内解决</p><img src=x onerror=alert(1)>",
        },
    )
    html = client.get(f"/ledger/{working}").get_data(as_text=True)
    assert "<p>请<b>务必</b>本周内解决</p>" in html and "onerror" not in html
    with app.app_context():
        unita = _user("unita")
        titles = db.session.scalars(select(Notification.title).where(Notification.user_id == unita.id)).all()
        assert any("领导批示" in t for t in titles)


def test_unit_cannot_add_instructions_and_leader_cannot_upload(app, working):
    with app.app_context():
        from tracker.core.errors import Forbidden

        with pytest.raises(Forbidden):
            services.add_note(_problem(working), "instruction", "x", actor=_user("unita"))
        with pytest.raises(Forbidden):
            services.store_evidence(_problem(working), io.BytesIO(PNG), "a.png", actor=_user("leader"))


def test_a_stale_form_gets_409_and_keeps_the_typed_text(app, working):
    client = app.test_client()
    login(client, "inspector")
    with app.app_context():
        services.waive_evidence(_problem(working), actor=_user("inspector"), reason="测试")
        _do(working, "submit", "unita", report="已整改")
        db.session.commit()
        stale_version = _problem(working).version
        _do(working, "approve", "inspector", opinion="整改到位")
        db.session.commit()
    token = csrf_from(client, f"/ledger/{working}")
    response = client.post(
        f"/ledger/{working}/act",
        data={"csrf_token": token, "action": "reject", "version": stale_version, "reason": "我写的退回理由"},
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "我写的退回理由" in html


def test_version_mismatch_is_a_conflict_in_the_service(app_ctx, working):
    problem = _problem(working)
    with pytest.raises(Conflict):
        workflow.apply(problem, "submit", actor=_user("unita"), expected_version=problem.version - 1, report="x")


def test_twenty_concurrent_submissions_of_the_same_version_let_exactly_one_through(app, working):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("row locking under real concurrency is exercised on PostgreSQL (make test-pg)")
    with app.app_context():
        services.waive_evidence(_problem(working), actor=_user("inspector"), reason="测试")
        db.session.commit()
        version = _problem(working).version
    barrier, results = threading.Barrier(20, timeout=30), []

    def submit():
        with app.app_context():
            problem = _problem(working)
            db.session.commit()  # hand the connection back while waiting: 20 threads, a pool of 15
            barrier.wait()
            try:
                workflow.apply(problem, "submit", actor=_user("unita"), expected_version=version, report="并发提交")
                db.session.commit()
                results.append("ok")
            except Conflict:
                db.session.rollback()
                results.append(409)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 1 and results.count(409) == 19
    with app.app_context():
        events = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "problem.submit")
        )
        assert events == 1
