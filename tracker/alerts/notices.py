"""Supervision notices (督办单): issued by the deadline scan at the ladder's 督办 and 挂牌督办 steps,
or on demand by an inspector; numbered per year; printable and downloadable as DOCX."""

import io
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select

from tracker.access import policy
from tracker.alerts.models import LEVEL_LABELS, SupervisionNotice
from tracker.audit import services as audit
from tracker.core import calendar, clock, sequences
from tracker.core.bulk import insert_rows
from tracker.core.errors import ValidationFailed
from tracker.core.sanitize import plain_text
from tracker.extensions import db

NOTICE_LEVELS = ("supervise", "listed")


def _new_notice(
    problem, level, *, days_overdue, actor=None, note=None, source_key=None, when=None, seq=None, reply_by=None
):
    from tracker.alerts.scan import settings as alert_settings

    when = when or clock.now()
    today = when.astimezone(clock.timezone()).date()
    year = today.year
    notice = SupervisionNotice(
        year=year,
        seq=seq or sequences.next_value("notice", year),
        problem_id=problem.id,
        level=level,
        unit_id=problem.unit_id,
        leader_id=problem.leader_id,
        deadline=problem.deadline,
        days_overdue=days_overdue,
        reply_by=reply_by or calendar.add_workdays(today, alert_settings()["reply_days"]),
        note=note,
        issued_at=when,
        issued_by_id=getattr(actor, "id", None),
        source_key=source_key,
    )
    db.session.add(notice)
    audit.record(
        actor,
        "notice.issue",
        "problem",
        problem.number,
        after={"notice": notice.number, "level": level, "days_overdue": days_overdue},
    )
    return notice


@dataclass(slots=True)
class IssuedNotice:
    """A notice the scan has just written with a multi-row INSERT: its columns, and the problem, unit
    and leader its text names (facts read once for the batch, not an ORM object per notice)."""

    year: int
    seq: int
    problem_id: int
    level: str
    unit_id: int | None
    leader_id: int | None
    deadline: date | None
    days_overdue: int
    reply_by: date
    issued_at: datetime
    source_key: str
    problem: object
    unit: object
    leader: object
    note: str | None = None
    issued_by_id: int | None = None

    number = SupervisionNotice.number
    level_label = SupervisionNotice.level_label

    def row(self) -> tuple:
        return tuple(getattr(self, name) for name in NOTICE_COLUMNS)


NOTICE_COLUMNS = (
    "year",
    "seq",
    "problem_id",
    "level",
    "unit_id",
    "leader_id",
    "deadline",
    "days_overdue",
    "reply_by",
    "note",
    "issued_at",
    "issued_by_id",
    "source_key",
)


def issue_for_alerts(alerts, now, audience=None) -> list:
    """A notice for every new 督办 / 挂牌督办 escalation alert (anything with problem_id, kind, step
    and days), once (the alert key is remembered), numbered from one block of the year's sequence and
    written with multi-row INSERTs, their audit entries too. AUDIENCE (an alerts.services.Audience of
    the alerts' problems) when the caller has read it already. Returns the new notices (IssuedNotice,
    in the alerts' order); the caller announces them."""
    wanted = {
        f"{a.problem_id}:{a.step}": a
        for a in alerts
        if a.kind == "escalation" and a.step.split(":")[0] in NOTICE_LEVELS
    }
    if not wanted:
        return []
    done = set()
    for offset in range(0, len(wanted), 1000):
        keys = list(wanted)[offset : offset + 1000]
        done.update(
            db.session.scalars(select(SupervisionNotice.source_key).where(SupervisionNotice.source_key.in_(keys)))
        )
    todo = [(key, alert) for key, alert in wanted.items() if key not in done]
    if not todo:
        return []
    from tracker.alerts.scan import settings as alert_settings
    from tracker.alerts.services import Audience

    problems = (audience or Audience({alert.problem_id for _key, alert in todo})).problems
    local = now.astimezone(clock.timezone()).date()
    first = sequences.reserve("notice", local.year, len(todo))
    reply_by = calendar.add_workdays(local, alert_settings()["reply_days"])
    issued = []
    for offset, (key, alert) in enumerate(todo):
        problem = problems[alert.problem_id]
        issued.append(
            IssuedNotice(
                year=local.year,
                seq=first + offset,
                problem_id=problem.id,
                level=alert.step.split(":")[0],
                unit_id=problem.unit_id,
                leader_id=problem.leader.id if problem.leader else None,
                deadline=problem.deadline,
                days_overdue=alert.days or 0,
                reply_by=reply_by,
                issued_at=now,
                source_key=key,
                problem=problem,
                unit=problem.unit,
                leader=problem.leader,
            )
        )
    insert_rows(SupervisionNotice.__table__, NOTICE_COLUMNS, [notice.row() for notice in issued])
    audit.record_many(
        None,
        (
            {
                "action": "notice.issue",
                "object_type": "problem",
                "object_id": notice.problem.number,
                "after": {"notice": notice.number, "level": notice.level, "days_overdue": notice.days_overdue},
            }
            for notice in issued
        ),
    )
    return issued


def issue_notice(problem, level, note, *, actor):
    """An inspector issues a notice on demand (any open, assigned problem). Raises ValidationFailed."""
    policy.require(actor, "notice.issue", problem)
    if level not in LEVEL_LABELS:
        raise ValidationFailed(_("请选择督办级别。"), {"level": _("请选择督办级别。")})
    if not problem.is_open or problem.deadline is None:
        raise ValidationFailed(_("只能对已交办、未办结的问题发督办单。"))
    today = clock.today()
    overdue = calendar.workdays_between(problem.deadline, today) if today > problem.deadline else 0
    notice = _new_notice(problem, level, days_overdue=overdue, actor=actor, note=plain_text(note, 2000) or None)
    db.session.flush()
    from tracker.alerts.services import announce

    announce([], [notice])
    return notice


def notice_text(notice) -> str:
    problem = notice.problem
    lines = [
        f"{notice.unit.name if notice.unit else ''}：",
        f"你单位承办的问题“{problem.title}”（编号 {problem.number}），完成时限为 "
        f"{notice.deadline.isoformat() if notice.deadline else '—'}，"
        + (f"已逾期 {notice.days_overdue} 个工作日。" if notice.days_overdue else "尚未办结。"),
        f"现予{notice.level_label}，请于 {notice.reply_by.isoformat()} 前书面报告整改进展和结果。",
    ]
    if notice.note:
        lines.append(f"督办意见：{notice.note}")
    if notice.leader:
        lines.append(f"抄送：{notice.leader.name}（分管领导）")
    return "\n".join(lines)


def notice_docx(notice) -> bytes:
    """The notice as a Word document (A4), for printing and filing."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    document = Document()
    section = document.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21)
    section.left_margin = section.right_margin = Cm(2.6)
    style = document.styles["Normal"]
    style.font.name = "FangSong"
    style.font.size = Pt(14)
    heading = document.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(f"{notice.level_label}通知单")
    run.bold, run.font.size = True, Pt(22)
    number = document.add_paragraph(notice.number)
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for line in notice_text(notice).split("\n"):
        document.add_paragraph(line)
    signature = document.add_paragraph(f"\n纪检监察室\n{clock.to_local(notice.issued_at).strftime('%Y年%m月%d日')}")
    signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
