"""The deadline scan: finds what needs attention, records each finding once as an alert, resolves
alerts whose problem moved on, issues supervision notices at the ladder's steps, and tells people.

It reads only candidate problems (open and close to or past their deadline, unaccepted, or with a
late milestone) through the (status, deadline) index, so its time grows with the due items, not with
the size of the ledger. Alerts are inserted with ON CONFLICT DO NOTHING on (problem, kind, step):
a second scan, or two scans at once, add nothing; a scan that dies half-way loses nothing that the
next one will not find again.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, bindparam, select, update

from tracker.core import bulk, calendar, clock
from tracker.extensions import db
from tracker.ledger.models import UNACCEPTED_CLAUSE, WORKING_CLAUSE, Milestone, Problem, Status

WORKING = (Status.ASSIGNED, Status.IN_PROGRESS, Status.SUBMITTED, Status.VERIFYING)
LEVELS = ("reminder", "supervise", "listed")
DEFAULTS = {
    "due_soon_days": {"red": 0, "yellow": 2, "blue": 5, "quick_fix": 0},
    "ladder": {
        "red": {"reminder": 1, "supervise": 1, "listed": 3},
        "yellow": {"reminder": 1, "supervise": 3, "listed": 6},
        "blue": {"reminder": 1, "supervise": 5, "listed": 10},
        "quick_fix": {"reminder": 1, "supervise": 1, "listed": 3},
    },
    "accept_within_days": 1,
    "reply_days": 2,
}
KIND_LABELS = {
    "not_accepted": "未签收",
    "due_soon": "临期",
    "behind": "滞后",
    "overdue": "逾期",
    "escalation": "逐级督办",
}


def alert_label(kind: str, step: str = "") -> str:
    """What people call an alert: an escalation by its ladder step (催办, 督办, 挂牌督办), any
    other alert by its kind. Pages, notices, messages, e-mails and webhooks all use this."""
    if kind == "escalation":
        from tracker.alerts.models import LEVEL_LABELS

        level = (step or "").split(":")[0]
        return LEVEL_LABELS.get(level, KIND_LABELS["escalation"])
    return KIND_LABELS.get(kind, kind)


def settings() -> dict:
    from tracker.settings.services import get_setting

    return get_setting("alerts", DEFAULTS)


@dataclass
class ScanReport:
    now: datetime
    candidates: int = 0
    new: dict = field(default_factory=dict)
    open: dict = field(default_factory=dict)
    resolved: int = 0
    notices: list = field(default_factory=list)

    def as_dict(self):
        return {
            "now": self.now.isoformat(),
            "candidates": self.candidates,
            "new": self.new,
            "open": self.open,
            "resolved": self.resolved,
            "notices": self.notices,
        }


def _tier_key(tier, quick_fix):
    return "quick_fix" if quick_fix else (tier or "yellow")


def findings(now: datetime, problem_ids=None) -> tuple[dict, int]:
    """{(problem_id, kind, step): days} for everything that needs attention at NOW (among
    PROBLEM_IDS when given), and the number of candidate problems looked at."""
    cfg = settings()
    today = now.astimezone(clock.timezone()).date()
    soon_limit = calendar.add_workdays(today, max(cfg["due_soon_days"].values()) or 0)
    index = calendar.WorkdayIndex(today - timedelta(days=3 * 366), soon_limit + timedelta(days=1))
    found = {}
    only = (Problem.id.in_(list(problem_ids)),) if problem_ids is not None else ()
    rows = db.session.execute(
        select(Problem.id, Problem.tier, Problem.is_quick_fix, Problem.deadline).where(
            WORKING_CLAUSE, Problem.deadline <= soon_limit, *only
        )
    ).all()
    for problem_id, tier, quick, deadline in rows:
        key = _tier_key(tier, quick)
        if today > deadline:
            overdue = index.between(deadline, today)
            found[(problem_id, "overdue", deadline.isoformat())] = overdue
            for level in LEVELS:
                if overdue >= cfg["ladder"][key][level]:
                    found[(problem_id, "escalation", f"{level}:{deadline.isoformat()}")] = overdue
        elif index.between(today, deadline) <= cfg["due_soon_days"][key]:
            found[(problem_id, "due_soon", deadline.isoformat())] = index.between(today, deadline)
    cutoff = now - timedelta(days=1)
    unaccepted = db.session.execute(
        select(Problem.id, Problem.assigned_at).where(UNACCEPTED_CLAUSE, Problem.assigned_at < cutoff, *only)
    ).all()
    for problem_id, assigned_at in unaccepted:
        assigned_on = assigned_at.astimezone(clock.timezone()).date()
        if today > calendar.add_workdays(assigned_on, cfg["accept_within_days"]):
            found[(problem_id, "not_accepted", assigned_on.isoformat())] = index.between(assigned_on, today)
    late = db.session.execute(
        select(Milestone.problem_id, Milestone.id, Milestone.due_date)
        .join(Problem, Problem.id == Milestone.problem_id)
        .where(
            Problem.status.in_(WORKING),
            Milestone.done_at.is_(None),
            Milestone.explanation.is_(None),  # explained at 申请销号: no longer holds the problem up
            Milestone.due_date < today,
            *only,
        )
    ).all()
    for problem_id, milestone_id, due in late:
        found[(problem_id, "behind", f"m{milestone_id}")] = index.between(due, today)
    return found, len(rows) + len(unaccepted) + len(late)


def scan(now: datetime | None = None, *, notify=True) -> ScanReport:
    """One deadline scan at NOW (default: the clock). The caller commits."""
    from tracker.alerts.models import Alert

    now = now or clock.now()
    report = ScanReport(now=now)
    found, report.candidates = findings(now)
    open_alerts = db.session.execute(
        select(Alert.id, Alert.problem_id, Alert.kind, Alert.step).where(Alert.resolved_at.is_(None))
    ).all()
    stale = [alert_id for alert_id, p, k, s in open_alerts if (p, k, s) not in found]
    for offset in range(0, len(stale), 1000):
        db.session.execute(
            update(Alert)
            .where(Alert.id.in_(stale[offset : offset + 1000]))
            .values(resolved_at=now)
            .execution_options(synchronize_session=False)
        )
    report.resolved = len(stale)
    known = {(p, k, s) for _id, p, k, s in open_alerts}
    fresh = [(p, k, s, d) for (p, k, s), d in found.items() if (p, k, s) not in known]
    new_alerts = bulk.insert_new(
        Alert.__table__,
        ("problem_id", "kind", "step", "days"),
        fresh,
        conflict=("problem_id", "kind", "step"),
        returning=("id", "problem_id", "kind", "step", "days"),
        constants={"created_at": now},
    )
    new_alerts.sort(key=lambda row: row.id)  # rows with id, problem_id, kind, step and days
    if len(new_alerts) < len(fresh):
        _reopen_resolved(fresh, {(a.problem_id, a.kind, a.step) for a in new_alerts})
    for alert in new_alerts:
        report.new[alert.kind] = report.new.get(alert.kind, 0) + 1
    for _p, kind, _s in found:
        report.open[kind] = report.open.get(kind, 0) + 1
    if new_alerts:
        from tracker.alerts import notices as notice_services
        from tracker.alerts import services as alerts

        audience = alerts.Audience({a.problem_id for a in new_alerts})  # read once for notices and messages
        notices = notice_services.issue_for_alerts(new_alerts, now, audience)
        report.notices = [n.number for n in notices]
        if notify:
            alerts.announce(new_alerts, notices, audience)
    return report


def _reopen_resolved(fresh, inserted) -> None:
    """A finding whose (problem, kind, step) was resolved before holds again (a reopened problem
    whose deadline had passed): the alert is open again rather than lost to the unique key. It was
    announced the first time, so it is not announced again."""
    from tracker.alerts.models import Alert

    again = {(p, k, s): d for p, k, s, d in fresh}
    for key in inserted:
        again.pop(key, None)
    problem_ids = sorted({p for p, _k, _s in again})
    table = Alert.__table__
    reopen = []
    for offset in range(0, len(problem_ids), 1000):
        rows = db.session.execute(
            select(table.c.id, table.c.problem_id, table.c.kind, table.c.step).where(
                table.c.problem_id.in_(problem_ids[offset : offset + 1000]), table.c.resolved_at.is_not(None)
            )
        ).all()
        reopen += [{"alert_id": i, "days": again[(p, k, s)]} for i, p, k, s in rows if (p, k, s) in again]
    for offset in range(0, len(reopen), 1000):
        db.session.execute(
            update(table).where(table.c.id == bindparam("alert_id")).values(resolved_at=None, days=bindparam("days")),
            reopen[offset : offset + 1000],
        )


def not_accepted_condition(today: date):
    """SQL condition: assigned problems not accepted within the acceptance window by TODAY, as the
    scan judges them (day of assignment is day 0, working days)."""
    within = settings()["accept_within_days"]
    last = today  # the last day of assignment that is late today
    while calendar.add_workdays(last, within) >= today:
        last -= timedelta(days=1)
    since = datetime.combine(last + timedelta(days=1), time(), clock.timezone())
    return and_(Problem.status == Status.ASSIGNED, Problem.assigned_at < since)


def resolve_ended(problem_ids, now: datetime | None = None) -> int:
    """End, at once, the open alerts of PROBLEM_IDS whose condition no longer holds (a transition,
    an approved extension or a ticked milestone ended it), in the caller's transaction; returns how
    many. New findings are left to the scan, which also tells people."""
    from tracker.alerts.models import Alert

    ids = list(dict.fromkeys(problem_ids))
    if not ids:
        return 0
    open_rows = db.session.execute(
        select(Alert.id, Alert.problem_id, Alert.kind, Alert.step).where(
            Alert.problem_id.in_(ids), Alert.resolved_at.is_(None)
        )
    ).all()
    if not open_rows:
        return 0
    now = now or clock.now()
    found, _candidates = findings(now, {p for _i, p, _k, _s in open_rows})
    ended = [alert_id for alert_id, p, k, s in open_rows if (p, k, s) not in found]
    if ended:
        db.session.execute(
            update(Alert)
            .where(Alert.id.in_(ended))
            .values(resolved_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(ended)


def current(alerts, now: datetime | None = None) -> list:
    """The ALERTS (open ones) whose condition still holds at NOW: what a page may show as current,
    even before the next scan has caught up with the clock."""
    alerts = list(alerts)
    if not alerts:
        return []
    found, _candidates = findings(now or clock.now(), {a.problem_id for a in alerts})
    return [a for a in alerts if (a.problem_id, a.kind, a.step) in found]


def open_alerts_for(problem_ids) -> list:
    """The current alerts of PROBLEM_IDS (open, and still true now)."""
    from tracker.alerts.models import Alert

    return current(
        db.session.scalars(
            select(Alert).where(Alert.problem_id.in_(problem_ids), Alert.resolved_at.is_(None)).order_by(Alert.id)
        ).all()
    )
