"""A small world for the public room: staff with marked names, a complainant with marked identity,
and problems at several stages. Every marker is a string that must never reach a public answer."""

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.ledger import services as ledger_services
from tracker.ledger.models import NoteKind, Problem
from tracker.workflow import services as workflow

MARKERS = {
    "inspector_name": "检查员钱标记",
    "owner_name": "责任人孙标记",
    "complainant_name": "举报人周标记",
    "complainant_phone": "13912345678",
    "body": "反映内容吴标记",
    "title": "标题郑标记",
    "measures": "整改措施冯标记",
    "note": "内部进展陈标记",
    "report": "整改报告褚标记",
    "opinion": "审核意见蒋标记",
}
REPLY = "经核查，窗口已延长周末开放时间，并对相关人员进行了批评教育。"


@dataclass
class Case:
    record_id: int
    number: str | None
    code: str
    pin: str


def user(name):
    return db.session.scalar(select(User).where(User.username == name))


def problem_of(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def do(app, number, action, actor, **details):
    with app.app_context():
        problem = problem_of(number)
        workflow.apply(problem, action, actor=user(actor), expected_version=problem.version, **details)
        db.session.commit()


def case_of(app, record_id, number=None) -> Case:
    from tracker.core import crypto

    with app.app_context():
        record = db.session.get(IntakeRecord, record_id)
        return Case(record.id, number, record.tracking_code, crypto.decrypt(record.query_pin_enc))


@pytest.fixture
def world(app, make):
    """Units UA (甲单位), UB (乙单位), UC (丙单位); staff with marked names; the clock pinned."""
    clock.pin("2026-09-28T09:00:00")
    make.unit("UA", "甲单位")
    make.unit("UB", "乙单位")
    make.unit("UC", "丙单位")
    make.user("admin", "admin")
    make.user("inspector", "inspector", name=MARKERS["inspector_name"])
    make.user("leader", "leader", leader_units=["UA"])
    make.user("unita", "unit", unit="UA", name=MARKERS["owner_name"])
    make.user("unitb", "unit", unit="UB")
    make.user("unitc", "unit", unit="UC")
    return make


def marked_problem(app, make, unit="UA", *, close=True, reply=REPLY, category=None) -> Case:
    """A yellow problem of UNIT behind one record with the complainant's marked identity, worked
    with marked measures, note, report and opinion; closed (approved) unless CLOSE is false."""
    owners = {"UA": "unita", "UB": "unitb", "UC": "unitc"}
    number = make.problem(
        unit=unit,
        title=MARKERS["title"],
        body=MARKERS["body"],
        complainant_name=MARKERS["complainant_name"],
        complainant_phone=MARKERS["complainant_phone"],
        anonymous=False,
        assign={"tier": "yellow", "measures": MARKERS["measures"], "owner": owners[unit]},
    )
    with app.app_context():
        problem = problem_of(number)
        if category:
            problem.category = category
        db.session.commit()
    do(app, number, "accept", owners[unit])
    with app.app_context():
        problem = problem_of(number)
        ledger_services.add_note(problem, NoteKind.PROGRESS, f"<p>{MARKERS['note']}</p>", actor=user(owners[unit]))
        ledger_services.waive_evidence(problem, actor=user("inspector"), reason="以现场照片为准")
        if reply:
            ledger_services.set_public_reply(problem, reply, actor=user("inspector"))
        db.session.commit()
        record_id = problem.intake_records[0].id
    if close:
        do(app, number, "submit", owners[unit], report=f"<p>{MARKERS['report']}</p>")
        do(app, number, "approve", "inspector", opinion=MARKERS["opinion"])
    return case_of(app, record_id, number)
