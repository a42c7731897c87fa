"""The problem page's timeline and the intake record's history read as plain Chinese: labels, field
changes as "完成时限：A → B", people by real name (user name on hover), the scheduler as the system."""

import re

from sqlalchemy import select

from tests.conftest import login
from tracker.audit import services as audit
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.intake import services as intake_services
from tracker.intake.models import IntakeRecord
from tracker.ledger import services
from tracker.ledger.models import NoteKind, Problem
from tracker.workflow import services as workflow

CODE_NAMES = ("problem.", "intake.", '{"', "notice.issue", "extension_approved", "owner_id", "unit_id")


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _section(html, marker):
    start = html.index(marker)
    return re.sub(r"<[^>]+>", " ", html[start : html.index("</section>", start)])


def _working(app, make):
    """A yellow problem of UA (deadline 2026-10-16), accepted, with a progress note, an approved
    extension to 2026-10-20 and a 催办 issued by the scheduler."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(title="希望延长开放时间", body="周末开放时间短。", assign={"tier": "yellow"})
    with app.app_context():
        _user("unita").name = "王小明"
        _user("inspector").name = "李纪检"
        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        workflow.apply(problem, "accept", actor=_user("unita"), expected_version=problem.version)
        services.add_note(problem, NoteKind.PROGRESS, "<p>已排查</p>", actor=_user("unita"))
        request = services.request_extension(problem, "2026-10-20", "设备到货延迟", actor=_user("unita"))
        services.decide_extension(problem, request.id, True, "同意", actor=_user("inspector"))
        audit.record(None, "notice.issue", "problem", number, after={"notice": "CB-2026-0001", "level": "reminder"})
        db.session.commit()
    return number


def test_the_timeline_reads_in_chinese_with_real_names(app, client, make):
    number = _working(app, make)
    login(client, "inspector")
    html = client.get(f"/ledger/{number}").get_data(as_text=True)
    timeline = _section(html, 'id="timeline"')
    for code in CODE_NAMES:
        assert code not in timeline
    assert "完成时限：2026-10-16 → 2026-10-20" in timeline
    assert "状态：待签收 → 整改中" in timeline and "同意延期" in timeline and "申请延期" in timeline
    assert "发出催办通知" in timeline and "系统（定时扫描）" in timeline
    raw = html[html.index('id="timeline"') :]
    # every person the same way: the real name, the user name on hover (events and notes alike)
    assert '<span class="tl-actor" title="unita">王小明</span>' in raw
    assert raw.count('title="unita">王小明') >= 3  # accept, the note, the extension request
    assert '<span class="tl-actor" title="inspector">李纪检</span>' in raw
    assert ">unita<" not in raw and ">inspector<" not in raw


def test_the_intake_record_history_reads_in_chinese(app, client, make):
    number = _working(app, make)
    explained = make.record("EXP-1")
    with app.app_context():
        record_id = db.session.scalar(select(Problem).where(Problem.number == number)).intake_records[0].id
        record = db.session.get(IntakeRecord, explained)
        intake_services.explain(
            record, "该诉求无政策依据，已当面解释。", actor=_user("inspector"), expected_version=record.version
        )
        db.session.commit()
    login(client, "inspector")
    handled = _section(client.get(f"/intake/{explained}").get_data(as_text=True), "处理记录")
    assert "解释说明" in handled and "处理方式：待处理 → 已解释说明" in handled
    history = _section(client.get(f"/intake/{record_id}").get_data(as_text=True), "处理记录")
    for name in CODE_NAMES:
        assert name not in history
    assert "登记反映件" in history and "系统（定时扫描）" in history and "渠道：12345 热线" in history
