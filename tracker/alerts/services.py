"""Notifications: who hears about what, by inbox, e-mail and group-robot webhook; daily and weekly
digests. Messages carry problem fields only, never the complainant's identity."""

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlparse

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from tracker.access.policy import Role
from tracker.alerts.models import Delivery, DeliveryAttachment, DigestLog, Notification, Webhook
from tracker.alerts.scan import alert_label
from tracker.audit import services as audit
from tracker.auth.models import User
from tracker.core import calendar, clock, crypto
from tracker.core.bulk import insert_rows
from tracker.core.db import insert_ignoring_conflicts
from tracker.core.errors import ValidationFailed
from tracker.core.inputs import parse_id
from tracker.extensions import db
from tracker.reports import periods

log = logging.getLogger(__name__)


def notify(users, kind: str, title: str, *, body=None, problem=None) -> list[Notification]:
    """Put a notification in each active user's inbox (once per user)."""
    made, seen = [], set()
    now = clock.now()
    for user in users:
        if user is None or not user.is_active or user.id in seen:
            continue
        seen.add(user.id)
        note = Notification(
            user_id=user.id,
            kind=kind,
            title=title[:200],
            body=body,
            problem_id=getattr(problem, "id", None),
            created_at=now,
        )
        db.session.add(note)
        made.append(note)
    return made


def unit_people(unit_id) -> list[User]:
    if unit_id is None:
        return []
    return list(
        db.session.scalars(
            select(User).where(User.unit_id == unit_id, User.role == Role.UNIT, User.is_active.is_(True))
        )
    )


def problem_unit_side(problem) -> list[User]:
    """The responsible person, or everyone of the unit when nobody is named."""
    return [problem.owner] if problem.owner else unit_people(problem.unit_id)


def problem_inspector_side(problem) -> list[User]:
    if problem.inspector:
        return [problem.inspector]
    return list(db.session.scalars(select(User).where(User.role == Role.INSPECTOR, User.is_active.is_(True))))


def unread_count(user) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )


def mark_read(user, notification_id=None) -> None:
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    db.session.execute(stmt.values(read_at=clock.now()))


# ---- fan-out of new alerts -----------------------------------------------------------------------

ALERT_TITLES = {
    "not_accepted": "{number} 交办超过 {days} 个工作日仍未签收",
    "due_soon": "{number} 即将到期（剩 {days} 个工作日）：{title}",
    "behind": "{number} 整改节点滞后：{title}",
    "overdue": "{number} 已逾期 {days} 个工作日：{title}",
    "escalation": "{number} {level}：已逾期 {days} 个工作日",
}
CHUNK = 1000  # ids per IN (…) list, rows per multi-row INSERT


def chunks(items, size=CHUNK):
    items = list(items)
    return (items[offset : offset + size] for offset in range(0, len(items), size))


def alert_title(alert, problem=None) -> str:
    """The message title of ALERT (anything with kind, step and days) about PROBLEM (default: the
    alert's own problem)."""
    problem = problem or alert.problem
    return ALERT_TITLES[alert.kind].format(
        number=problem.number, days=alert.days or 0, title=problem.title[:40], level=alert_label(alert.kind, alert.step)
    )


@dataclass(frozen=True, slots=True)
class Person:
    """What the fan-out needs of a user: whom to tell and at which address."""

    id: int
    name: str
    email: str | None
    is_active: bool


@dataclass(frozen=True, slots=True)
class UnitFacts:
    id: int
    name: str
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class ProblemFacts:
    """The fields of a problem that messages and notices carry, with its unit and people: read with
    one SELECT per kind of row for a whole batch, no ORM object per problem."""

    id: int
    number: str
    title: str
    tier: str | None
    is_quick_fix: bool
    status: str
    deadline: object
    unit_id: int | None
    unit: UnitFacts | None
    owner: Person | None
    leader: Person | None
    inspector: Person | None


def _people(condition) -> list[tuple[Person, int | None]]:
    rows = db.session.execute(
        select(User.id, User.name, User.email, User.is_active, User.unit_id).where(condition).order_by(User.id)
    )
    return [(Person(*row[:4]), row.unit_id) for row in rows]


def problem_facts(problem_ids, units=None) -> dict:
    """{problem id: ProblemFacts} for PROBLEM_IDS: one SELECT of problems (per chunk), one of their
    named people and, unless UNITS ({id: UnitFacts}) is given, one of the units."""
    from tracker.ledger.models import Problem
    from tracker.org.models import Unit

    if units is None:
        units = {row.id: UnitFacts(*row) for row in db.session.execute(select(Unit.id, Unit.name, Unit.parent_id))}
    columns = (
        Problem.id,
        Problem.number,
        Problem.title,
        Problem.tier,
        Problem.is_quick_fix,
        Problem.status,
        Problem.deadline,
        Problem.unit_id,
        Problem.owner_id,
        Problem.leader_id,
        Problem.inspector_id,
    )
    rows = []
    for part in chunks(sorted(set(problem_ids))):
        rows += db.session.execute(select(*columns).where(Problem.id.in_(part))).all()
    named = {user_id for row in rows for user_id in row[-3:] if user_id is not None}
    people = {}
    for part in chunks(sorted(named)):
        people.update((person.id, person) for person, _unit in _people(User.id.in_(part)))
    return {
        row.id: ProblemFacts(
            *row[:8],
            units.get(row.unit_id),
            people.get(row.owner_id),
            people.get(row.leader_id),
            people.get(row.inspector_id),
        )
        for row in rows
    }


class Audience:
    """Who hears about a batch of problems: the problems' facts, their units' people, the inspectors,
    the unit tree and the webhooks, each read with one SELECT (per chunk) for the whole batch."""

    def __init__(self, problem_ids):
        from tracker.org.models import Unit

        self.units = {row.id: UnitFacts(*row) for row in db.session.execute(select(Unit.id, Unit.name, Unit.parent_id))}
        self.problems = problem_facts(problem_ids, self.units)
        unit_ids = sorted({p.unit_id for p in self.problems.values() if p.unit_id})
        self.people = {}
        for part in chunks(unit_ids):
            for person, unit_id in _people(
                User.unit_id.in_(part) & (User.role == Role.UNIT) & User.is_active.is_(True)
            ):
                self.people.setdefault(unit_id, []).append(person)
        self.inspectors = [
            person for person, _unit in _people((User.role == Role.INSPECTOR) & User.is_active.is_(True))
        ]
        self._hooks_of = {}
        self.hooks = db.session.execute(
            select(Webhook.id, Webhook.unit_id).where(Webhook.is_active.is_(True)).order_by(Webhook.id)
        ).all()

    def unit_side(self, problem):
        return [problem.owner] if problem.owner else self.people.get(problem.unit_id, [])

    def inspector_side(self, problem):
        return [problem.inspector] if problem.inspector else self.inspectors

    def webhooks(self, unit_id):
        """The active webhooks of UNIT_ID, its ancestors and global ones (worked out once per unit)."""
        if unit_id not in self._hooks_of:
            chain, node = set(), unit_id
            while node is not None and node not in chain:
                chain.add(node)
                node = self.units[node].parent_id if node in self.units else None
            self._hooks_of[unit_id] = [h for h in self.hooks if h.unit_id is None or h.unit_id in chain]
        return self._hooks_of[unit_id]

    def for_alert(self, alert, problem):
        people = list(self.unit_side(problem)) if alert.kind != "not_accepted" else self.people.get(problem.unit_id, [])
        if alert.kind in ("not_accepted", "overdue", "escalation"):
            people += self.inspector_side(problem)
        if alert.kind == "escalation" and not alert.step.startswith("reminder") and problem.leader:
            people.append(problem.leader)
        return people


def announce(alerts, notices=(), audience=None) -> None:
    """Inbox notifications, e-mails and webhook posts for new ALERTS (anything with problem_id, kind,
    step and days) and NOTICES, written with multi-row INSERTs; AUDIENCE (an Audience of their
    problems) when the caller has read it already. Only problem fields go out: never an intake
    record, so never a complainant."""
    from tracker.alerts.notices import notice_text

    if audience is None:
        audience = Audience({a.problem_id for a in alerts} | {n.problem_id for n in notices})
    problems = audience.problems
    now = clock.now()
    told = []  # (people, kind, title, subject, body, problem) of each message, for the outbox

    # The notices' messages first, as a list: a notice may be an ORM object whose text loads its
    # problem, which must not happen while a COPY holds the connection.
    notice_messages = []
    for notice in notices:
        problem = problems[notice.problem_id]
        title = f"{notice.number}：{notice.level_label} {problem.number} {problem.title[:40]}"
        notice_messages.append(
            ([*audience.unit_side(problem), problem.leader], "notice", title, notice_text(notice), problem)
        )

    def messages():
        """(people, kind, title, body, problem) of every message, alerts first, then notices; the
        alerts' from the facts read already (no SQL)."""
        summaries = {}
        for alert in alerts:
            problem = problems[alert.problem_id]
            summary = summaries.get(problem.id)
            if summary is None:
                summary = summaries[problem.id] = problem_summary(problem)
            body = f"预警：{alert_label(alert.kind, alert.step)}\n" + summary
            yield audience.for_alert(alert, problem), f"alert.{alert.kind}", alert_title(alert, problem), body, problem
        yield from notice_messages

    def inbox():
        """Rows of INBOX_COLUMNS, once per active user per message; remembers the messages in TOLD."""
        for users, kind, title, body, problem in messages():
            seen, people, subject = set(), [], title[:200]
            for user in users:
                if user is None or not user.is_active or user.id in seen:
                    continue
                seen.add(user.id)
                people.append(user)
                yield user.id, kind, subject, body, problem.id
            told.append((people, kind, title, subject, body, problem))

    def outbox():
        """Rows of OUTBOX_COLUMNS: each message's e-mails, then its webhook posts."""
        for people, kind, title, subject, body, problem in told:
            for user in people:
                if user.email:
                    yield "email", user.email, subject, body
            hooks = audience.webhooks(problem.unit_id)
            if hooks:
                payload = _to_json({"event": kind, "title": title, "text": body, "problem": problem.number})
                for hook in hooks:
                    yield "webhook", f"webhook:{hook.id}", subject, payload

    # Generators: on PostgreSQL the rows are made while the server takes in the ones before them.
    insert_rows(Notification.__table__, INBOX_COLUMNS, inbox(), {"created_at": now})
    pending = {"status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
    insert_rows(Delivery.__table__, OUTBOX_COLUMNS, outbox(), pending)


_to_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(…, ensure_ascii=False), built once
INBOX_COLUMNS = ("user_id", "kind", "title", "body", "problem_id")
OUTBOX_COLUMNS = ("channel", "target", "subject", "body")


def problem_summary(problem) -> str:
    from tracker.ledger.models import STATUS_LABELS, TIER_LABELS

    lines = [
        f"问题：{problem.number} {problem.title}",
        f"分级：{TIER_LABELS.get(problem.tier, '')}{'（立行立改）' if problem.is_quick_fix else ''}",
        f"责任单位：{problem.unit.name if problem.unit else ''}",
        f"责任人：{problem.owner.name if problem.owner else ''}",
        f"完成时限：{problem.deadline.isoformat() if problem.deadline else ''}",
        f"状态：{STATUS_LABELS.get(problem.status, problem.status)}",
    ]
    return "\n".join(lines)


# ---- e-mail and webhooks -------------------------------------------------------------------------


def queue_email(addresses, subject, body, attachments=()) -> None:
    """One pending e-mail per distinct address; ATTACHMENTS, a list of (filename, content_type,
    bytes), go with each of them."""
    now = clock.now()
    for address in dict.fromkeys(a.strip() for a in addresses if a and a.strip()):
        db.session.add(
            Delivery(
                channel="email",
                target=address,
                subject=subject[:200],
                body=body,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                attachments=[
                    DeliveryAttachment(filename=name[:200], content_type=content_type, data=data)
                    for name, content_type, data in attachments
                ],
            )
        )


def public_url(path: str) -> str:
    """PATH on the address people reach the app at (config PUBLIC_BASE_URL): links in e-mails, which
    are written by jobs, outside any request."""
    from flask import current_app

    return current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/") + path


def webhook_request(hook: Webhook, payload: dict) -> tuple[str, bytes]:
    """(url, body) in the robot's own format; DingTalk URLs are signed with its HMAC scheme."""
    title, text = payload["title"], payload["text"]
    if hook.kind == "dingtalk":
        body = {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": f"### {title}\n\n" + text.replace("\n", "\n\n")},
        }
    elif hook.kind == "wecom":
        body = {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n" + text}}
    else:
        body = payload
    url = hook.url
    secret = crypto.decrypt(hook.secret_enc) if hook.secret_enc else None
    if hook.kind == "dingtalk" and secret:
        url += ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in dingtalk_signature(secret).items())
    return url, json.dumps(body, ensure_ascii=False).encode("utf-8")


def dingtalk_signature(secret: str, timestamp_ms: int | None = None) -> dict:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}")), URL-encoded."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(clock.now().timestamp() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return {"timestamp": timestamp, "sign": urllib.parse.quote_plus(base64.b64encode(digest))}


def mail_settings() -> dict:
    from flask import current_app

    from tracker.settings.services import get_setting

    config = current_app.config
    defaults = {
        "server": config.get("MAIL_SERVER") or "",
        "port": config.get("MAIL_PORT", 25),
        "username": config.get("MAIL_USERNAME") or "",
        "password": config.get("MAIL_PASSWORD") or "",
        "use_tls": config.get("MAIL_USE_TLS", False),
        "sender": config.get("MAIL_DEFAULT_SENDER"),
    }
    stored = get_setting("mail", {})
    merged = {**defaults, **{k: v for k, v in stored.items() if v not in (None, "")}}
    if stored.get("password_enc"):
        merged["password"] = crypto.decrypt(stored["password_enc"])
    merged.pop("password_enc", None)
    return merged


def send_email(address, subject, body, attachments=()) -> None:
    """Send one message through the configured SMTP server, with ATTACHMENTS ((filename, content_type,
    bytes); non-ASCII file names are encoded per RFC 2231); raises on failure."""
    mail = mail_settings()
    if not mail["server"]:
        raise RuntimeError("SMTP is not configured (MAIL_SERVER)")
    message = EmailMessage()
    message["From"] = mail["sender"]
    message["To"] = address
    message["Subject"] = subject
    message.set_content(body)
    for filename, content_type, data in attachments:
        maintype, _slash, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    with smtplib.SMTP(mail["server"], int(mail["port"]), timeout=15) as smtp:
        if mail["use_tls"]:
            smtp.starttls()
        if mail["username"]:
            smtp.login(mail["username"], mail["password"])
        smtp.send_message(message)


def post_webhook(hook: Webhook, payload: dict) -> None:
    """POST to a webhook; raises on a transport error or a non-2xx answer (or a robot errcode)."""
    url, body = webhook_request(hook, payload)
    if not url.startswith(("http://", "https://")):
        raise ValueError("webhook URLs must be http(s)")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - checked above
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - admin-configured URL
        answer = response.read(4096)
    try:
        result = json.loads(answer or b"{}")
    except ValueError:
        return
    if isinstance(result, dict) and result.get("errcode") not in (None, 0):
        raise RuntimeError(f"robot answered errcode {result.get('errcode')}: {result.get('errmsg')}")


MAX_ATTEMPTS = 8


def deliver_pending(limit=200) -> dict:
    """Send due deliveries. A failure is logged and retried with back-off (1, 2, 4 … 60 minutes); it
    never stops the others. Returns counts."""
    now = clock.now()
    due = db.session.scalars(
        select(Delivery)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.id)
        .limit(limit)
    ).all()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for item in due:
        try:
            if item.channel == "email":
                files = [(a.filename, a.content_type, a.data) for a in item.attachments]
                send_email(item.target, item.subject, item.body, files)
            else:
                hook = db.session.get(Webhook, int(item.target.split(":", 1)[1]))
                if hook is None or not hook.is_active:
                    raise RuntimeError("webhook removed or disabled")
                post_webhook(hook, json.loads(item.body))
        except Exception as error:  # noqa: BLE001 - any failure is recorded and retried, never raised
            item.attempts += 1
            item.last_error = f"{type(error).__name__}: {error}"[:500]
            if item.attempts >= MAX_ATTEMPTS:
                item.status = "failed"
                counts["failed"] += 1
            else:
                item.next_attempt_at = now + timedelta(minutes=min(60, 2 ** (item.attempts - 1)))
                counts["retry"] += 1
            log.warning(
                "delivery %s (%s) failed, attempt %s: %s", item.id, item.channel, item.attempts, item.last_error
            )
        else:
            item.attempts += 1
            item.status, item.sent_at, item.last_error = "sent", now, None
            counts["sent"] += 1
    return counts


# ---- digests -------------------------------------------------------------------------------------


def _mark_digest(user, day, kind) -> bool:
    """True the first time (user, day, kind) is marked; False when it was sent already."""
    stmt = insert_ignoring_conflicts(DigestLog, ["user_id", "day", "kind"]).returning(DigestLog.user_id)
    return bool(db.session.scalars(stmt, [{"user_id": user.id, "day": day, "kind": kind}]).all())


def daily_digest(today=None) -> int:
    """On working days: each leader gets the overdue and due-soon problems of their units, grouped by
    unit, worst first, in the inbox and by e-mail. Nothing is sent when there is nothing to say.
    Returns the number of leaders told."""
    from tracker.access import policy
    from tracker.ledger.models import OPEN_STATUSES, Problem
    from tracker.ledger.queries import due_soon_condition

    today = today or clock.today()
    if not calendar.is_workday(today):
        return 0
    told = 0
    leaders = db.session.scalars(select(User).where(User.role == Role.LEADER, User.is_active.is_(True))).all()
    for leader in leaders:
        scope = policy.visible_unit_ids(leader)
        stmt = select(Problem).where(Problem.status.in_(OPEN_STATUSES))
        if scope is not None:
            stmt = stmt.where(Problem.unit_id.in_(sorted(scope) or [-1]))
        overdue = db.session.scalars(stmt.where(Problem.deadline < today).order_by(Problem.deadline)).all()
        soon = db.session.scalars(stmt.where(due_soon_condition(today)).order_by(Problem.deadline)).all()
        if not overdue and not soon:
            continue
        if not _mark_digest(leader, today, "daily"):
            continue
        title = f"{today.isoformat()} 分管单位问题日报：逾期 {len(overdue)} 件，临期 {len(soon)} 件"
        body = digest_text(today, overdue, soon) + "\n\n" + report_links()
        notify([leader], "digest.daily", title, body=body)
        if leader.email:
            queue_email([leader.email], title, body)
        told += 1
    return told


def digest_text(today, overdue, soon) -> str:
    lines = []
    if overdue:
        lines.append("【逾期】")
        groups = {}
        for problem in overdue:
            groups.setdefault(problem.unit.name if problem.unit else "（未指定）", []).append(problem)
        for unit, items in sorted(groups.items(), key=lambda g: (-len(g[1]), g[1][0].deadline)):
            lines.append(f"{unit}（{len(items)} 件）")
            for p in items:
                lines.append(
                    f"  {p.number} {p.title}，时限 {p.deadline.isoformat()}，逾期 "
                    f"{calendar.workdays_between(p.deadline, today)} 个工作日"
                )
    if soon:
        lines.append("【临期】")
        for p in soon:
            lines.append(f"  {p.number} {p.title}（{p.unit.name if p.unit else ''}），时限 {p.deadline.isoformat()}")
    return "\n".join(lines)


def weekly_summary(today=None) -> int:
    """Monday: inspectors and leaders get last week's figures (new, closed, overdue now) of the units
    each may see, in the inbox; by e-mail with the last full week's unit ranking and today's overdue
    list attached as Excel, scoped the same way (weekly_attachments), and links to the dashboard."""
    from tracker.access import policy
    from tracker.ledger.models import OPEN_STATUSES, Problem

    today = today or clock.today()
    start = today - timedelta(days=7)
    zone = clock.timezone()
    since = datetime.combine(start, datetime.min.time(), zone)

    def per_unit(*conditions):
        rows = db.session.execute(select(Problem.unit_id, func.count()).where(*conditions).group_by(Problem.unit_id))
        return dict(rows.all())

    figures = (
        per_unit(Problem.created_at >= since),
        per_unit(Problem.closed_at >= since),
        per_unit(Problem.status.in_(OPEN_STATUSES), Problem.deadline < today),
    )
    week = periods.period_of("week", today - timedelta(days=7))
    told = 0
    people = db.session.scalars(
        select(User).where(User.role.in_((Role.INSPECTOR, Role.LEADER)), User.is_active.is_(True))
    ).all()
    for user in people:
        scope = policy.visible_unit_ids(user)
        created, closed, overdue = (
            sum(n for unit_id, n in counts.items() if scope is None or unit_id in scope) for counts in figures
        )
        title = (
            f"{start.isoformat()}–{today.isoformat()} 周报：新增 {created} 件，销号 {closed} 件，当前逾期 {overdue} 件"
        )
        if _mark_digest(user, today, "weekly"):
            notify([user], "digest.weekly", title)
            if user.email:
                files, note = weekly_attachments(user, week)
                body = f"{title}\n\n{note}\n\n{report_links()}"
                queue_email([user.email], title, body, files)
            told += 1
    return told


def weekly_attachments(user, week) -> tuple[list, str]:
    """([(filename, content_type, bytes)], the body's lines about them): the unit ranking of WEEK (the
    last full week, Monday to Sunday) and today's overdue list as Excel, both within what USER may see.

    A failure here is logged and leaves this user's e-mail without files (its text says so): it never
    stops the summary of the others. The files are built in a savepoint, so that a failed statement
    does not spoil the transaction the other users' rows are written in."""
    from tracker.excel.responses import XLSX_MIMETYPE
    from tracker.reports import overdue, ranking

    try:
        with db.session.begin_nested():
            ranking_name, ranking_data = ranking.xlsx_attachment(user, week)
            overdue_name, overdue_data = overdue.xlsx_attachment(user)
    except Exception:  # noqa: BLE001 - one user's files must not stop everyone's summary
        log.exception("weekly summary: the attachments for user %s could not be built", user.id)
        return [], "附件生成失败，请登录系统查看单位排名和逾期清单。"
    files = [(ranking_name, XLSX_MIMETYPE, ranking_data), (overdue_name, XLSX_MIMETYPE, overdue_data)]
    note = (
        f"附件（均为您可查看范围内的单位）：\n"
        f"  1. 上周单位排名（{week.start.isoformat()} 至 {week.end.isoformat()}）：{ranking_name}\n"
        f"  2. 当前逾期清单（截至 {clock.local_now():%Y-%m-%d %H:%M}）：{overdue_name}"
    )
    return files, note


def report_links() -> str:
    """The links at the end of the digests: the dashboard and the overdue list."""
    return f"领导驾驶舱：{public_url('/reports/dashboard')}\n逾期清单：{public_url('/reports/overdue')}"


# ---- admin settings ------------------------------------------------------------------------------

TIERS = ("red", "yellow", "blue", "quick_fix")
LEVELS = ("reminder", "supervise", "listed")


def _bounded_int(value, name, low, high, errors):
    try:
        number = int(value)
        if not low <= number <= high:
            raise ValueError
        return number
    except (TypeError, ValueError):
        errors[name] = _("应为 %(a)d–%(b)d 的整数。", a=low, b=high)
        return None


def save_thresholds(form, *, actor) -> dict:
    """Due-soon thresholds, the escalation ladder (催办 ≤ 督办 ≤ 挂牌督办 per tier), the acceptance
    window and the reply time of notices. Raises ValidationFailed naming each bad field."""
    from tracker.settings.services import put_setting

    errors, value = {}, {"due_soon_days": {}, "ladder": {}}
    for tier in TIERS:
        value["due_soon_days"][tier] = _bounded_int(form.get(f"soon_{tier}"), f"soon_{tier}", 0, 30, errors)
        value["ladder"][tier] = {
            lv: _bounded_int(form.get(f"{lv}_{tier}"), f"{lv}_{tier}", 0, 60, errors) for lv in LEVELS
        }
        steps = [value["ladder"][tier][lv] for lv in LEVELS]
        if None not in steps and steps != sorted(steps):
            errors[f"listed_{tier}"] = _("催办 ≤ 督办 ≤ 挂牌督办。")
    value["accept_within_days"] = _bounded_int(form.get("accept_within_days"), "accept_within_days", 1, 10, errors)
    value["reply_days"] = _bounded_int(form.get("reply_days"), "reply_days", 1, 30, errors)
    if errors:
        raise ValidationFailed(_("阈值有误，请修正标出的项。"), errors)
    put_setting("alerts", value, actor=actor)
    return value


def save_webhook(form, *, actor) -> Webhook:
    """Create, change or disable a webhook. Raises ValidationFailed."""
    from tracker.org.models import Unit

    errors = {}
    hook_id = parse_id(form.get("webhook_id"))
    hook = db.session.get(Webhook, hook_id) if hook_id else None
    if hook is not None and form.get("active") in ("0", "1") and not form.get("url"):
        hook.is_active = form["active"] == "1"
        audit.record(actor, "webhook.activate" if hook.is_active else "webhook.deactivate", "webhook", hook.id)
        return hook
    name = form.get("name", "").strip()[:100]
    kind = form.get("kind")
    url = form.get("url", "").strip()
    if not name:
        errors["name"] = _("请填写名称。")
    if kind not in ("dingtalk", "wecom", "json"):
        errors["kind"] = _("请选择类型。")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        errors["url"] = _("地址须以 http:// 或 https:// 开头。")
    unit_id = parse_id(form.get("unit_id"))
    if form.get("unit_id") and (unit_id is None or db.session.get(Unit, unit_id) is None):
        errors["unit_id"] = _("所选单位不存在。")
    if errors:
        raise ValidationFailed(_("机器人设置有误。"), errors)
    if hook is None:
        hook = Webhook(is_active=True)
        db.session.add(hook)
    hook.name, hook.kind, hook.url, hook.unit_id = name, kind, url, unit_id
    if form.get("secret"):
        hook.secret_enc = crypto.encrypt(form["secret"].strip())
    db.session.flush()
    audit.record(actor, "webhook.save", "webhook", hook.id, after={"name": name, "kind": kind, "unit_id": unit_id})
    return hook
