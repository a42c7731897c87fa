"""Ledger rules: problems from intake records, numbering, and the unit's work between transitions
(progress, milestones, evidence, extensions). Services flush; callers commit."""

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import filetype
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from tracker.access import policy
from tracker.alerts import scan as alert_scan
from tracker.alerts import services as alerts
from tracker.audit import services as audit
from tracker.auth.services import check_version
from tracker.core import clock, sequences, storage
from tracker.core.errors import NotFound, ValidationFailed
from tracker.core.sanitize import plain_text, rich_html
from tracker.extensions import db
from tracker.ledger.models import Evidence, ExtensionRequest, NoteKind, Problem, ProgressNote, Status
from tracker.workflow.services import check_deadline, parse_date

NUMBER_PREFIX = "ZG"


def next_number() -> str:
    """ZG-2026-000123: per-year counter, gap-free except for rolled-back transactions."""
    year = clock.today().year
    return f"{NUMBER_PREFIX}-{year}-{sequences.next_value('problem', year):06d}"


def next_numbers(count: int) -> list[str]:
    """COUNT consecutive numbers at once, for problems created in bulk."""
    year = clock.today().year
    first = sequences.reserve("problem", year, count)
    return [f"{NUMBER_PREFIX}-{year}-{first + k:06d}" for k in range(count)]


def get_by_number(number: str) -> Problem | None:
    return db.session.scalar(select(Problem).where(Problem.number == (number or "").strip().upper()))


def create_from_records(records, *, title, actor, description=None, category=None, quick_fix=False) -> Problem:
    """A new problem (state `new`) behind RECORDS; the unit and category come from the first record."""
    first = records[0]
    problem = Problem(
        number=next_number(),
        title=title[:200],
        description=description if description is not None else first.body,
        category=category or first.category,
        channel=first.channel,
        source_kind=first.kind,
        status=Status.NEW,
        is_quick_fix=quick_fix,
        unit_id=first.unit_id,
        created_by_id=getattr(actor, "id", None),
        version=1,
    )
    db.session.add(problem)
    db.session.flush()
    for record in records:
        record.problem = problem
    audit.record(
        actor,
        "problem.create",
        "problem",
        problem.number,
        after={
            "title": problem.title,
            "unit_id": problem.unit_id,
            "intake_ids": [r.id for r in records],
            "quick_fix": quick_fix,
        },
    )
    return problem


def attach_record(problem: Problem, record, *, actor) -> None:
    """Join RECORD to PROBLEM (一事多诉)."""
    record.problem = problem
    audit.record(actor, "problem.attach_record", "problem", problem.number, after={"intake_id": record.id})


def create_problem(intake_ids, *, title, actor, description=None, category=None) -> Problem:
    """A problem (state `new`) behind the given intake records, which must be unhandled and visible
    to ACTOR. Raises ValidationFailed, NotFound."""
    from tracker.intake import queries as intake_queries  # intake builds on the ledger, not the reverse
    from tracker.intake.models import Handling

    policy.require(actor, "problem.create")
    if not isinstance(intake_ids, list) or not intake_ids or not all(isinstance(i, int) for i in intake_ids):
        raise ValidationFailed(_("intake_ids 应为反映件编号（整数）的非空列表。"), {"intake_ids": _("请给出反映件。")})
    records = [intake_queries.get_record_or_404(i, actor) for i in dict.fromkeys(intake_ids)]
    taken = [r.id for r in records if r.handling != Handling.NEW]
    if taken:
        raise ValidationFailed(
            _("反映件 %(ids)s 已处理过。", ids=", ".join(map(str, taken))), {"intake_ids": _("包含已处理的反映件。")}
        )
    title = plain_text(title, 200)
    if not title:
        raise ValidationFailed(_("请填写问题标题。"), {"title": _("请填写问题标题。")})
    problem = create_from_records(
        records,
        title=title,
        actor=actor,
        description=plain_text(description, 20000) if description else None,
        category=plain_text(category, 50) or None,
    )
    for record in records:
        record.handling = Handling.RECTIFY
        record.handled_by_id = getattr(actor, "id", None)
        record.handled_at = clock.now()
    return problem


# ---- the unit's work between transitions ---------------------------------------------------------

# Allowed evidence types, judged from the content, with the extensions a file of that type may carry
# (the first is the one given to a file whose name says another type).
EVIDENCE_TYPES = {
    "image/jpeg": ("jpg", "jpeg", "jpe"),
    "image/png": ("png",),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "application/pdf": ("pdf",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
    "application/msword": ("doc",),
    "application/vnd.ms-excel": ("xls",),
    "application/vnd.ms-powerpoint": ("ppt",),
}
EVIDENCE_FOLDER = "evidence"  # in the file storage (tracker.core.storage)
WORKING_STATES = ("assigned", "in_progress")


def _add_child(problem, child, collection):
    """Save a note, file or request of PROBLEM without touching the problem row itself (its version
    counts changes to the problem, not additions beside it), then let the collection reload."""
    db.session.add(child)
    db.session.flush()
    db.session.expire(problem, [collection])


def _require_state(problem, states, message):
    if problem.status not in states:
        raise ValidationFailed(_(message))


def add_note(problem, kind, text, *, actor):
    """A progress note (unit), or a leader's instruction (批示). Rich text, cleaned on the way in.
    Raises ValidationFailed, Forbidden, NotFound."""
    permission = {NoteKind.PROGRESS: "problem.progress", NoteKind.INSTRUCTION: "problem.instruct"}.get(kind)
    if permission is None:
        raise ValidationFailed(_("未知的记录类型。"))
    policy.require(actor, permission, problem)
    if kind == NoteKind.PROGRESS:
        _require_state(problem, ("in_progress",), "签收后才能填报整改进展。")
    body = rich_html(text)
    if not plain_text(body):
        raise ValidationFailed(_("请填写内容。"), {"body": _("请填写内容。")})
    if len(body) > 20000:
        raise ValidationFailed(_("内容过长（最多 20000 字）。"), {"body": _("内容过长。")})
    note = ProgressNote(problem_id=problem.id, author_id=actor.id, kind=kind, body_html=body, created_at=clock.now())
    _add_child(problem, note, "notes")
    audit.record(actor, f"problem.note_{kind}", "problem", problem.number, after={"note_id": note.id})
    if kind == NoteKind.INSTRUCTION:
        alerts.notify(
            [*alerts.problem_unit_side(problem), *alerts.problem_inspector_side(problem)],
            "workflow.instruction",
            _("%(n)s 领导批示：%(t)s", n=problem.number, t=problem.title[:60]),
            body=plain_text(body, 500),
            problem=problem,
        )
    return note


def tick_milestone(problem, milestone_id, done: bool, *, actor):
    """Mark a milestone done (or not done again)."""
    policy.require(actor, "problem.progress", problem)
    _require_state(problem, ("in_progress",), "签收后才能更新节点。")
    milestone = next((m for m in problem.milestones if m.id == milestone_id), None)
    if milestone is None:
        raise NotFound(_("节点不存在。"))
    milestone.done_at = clock.now() if done else None
    milestone.done_by_id = actor.id if done else None
    db.session.flush()
    alert_scan.resolve_ended([problem.id])  # a late milestone done: no longer behind
    audit.record(
        actor,
        "problem.milestone_done" if done else "problem.milestone_undone",
        "problem",
        problem.number,
        after={"milestone": milestone.title},
    )
    return milestone


def safe_filename(name: str) -> str:
    """The last path component of NAME without control characters, for display and downloads."""
    name = (name or "").replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip(" .")
    return name[:200] or "file"


def evidence_filename(name: str, content_type: str) -> str:
    """NAME made safe, its extension following CONTENT_TYPE: a PDF uploaded as `x.html` is `x.pdf`."""
    name = safe_filename(name)
    extensions = EVIDENCE_TYPES.get(content_type)
    if not extensions:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and extension.lower() in extensions:
        return name
    stem = stem if dot and stem else name
    return f"{stem[: 199 - len(extensions[0])]}.{extensions[0]}"


@dataclass(frozen=True)
class SavedUpload:
    stored_name: str
    content_type: str
    size: int
    sha256: str


def save_upload(stream, folder: str) -> SavedUpload:
    """Store an uploaded file in FOLDER of the file storage (tracker.core.storage) under a random
    name: read in chunks (never whole into memory), refused when empty, over EVIDENCE_MAX_BYTES, or
    not one of EVIDENCE_TYPES judged from its content (not its name); nothing is kept then. Raises
    ValidationFailed."""
    limit = current_app.config["EVIDENCE_MAX_BYTES"]
    found = {}

    def check(saved):
        if saved.size == 0:
            raise ValidationFailed(_("文件是空的。"), {"file": _("文件是空的。")})
        kind = filetype.guess(saved.head)
        if kind is None or kind.mime not in EVIDENCE_TYPES:
            raise ValidationFailed(
                _("只接受照片（JPG/PNG/GIF/WebP）、PDF 和 Office 文档；文件类型按内容判断，与扩展名无关。"),
                {"file": _("文件类型不允许。")},
            )
        found["mime"] = kind.mime

    saved = storage.get().save(_Capped(stream, limit), folder, check=check)
    return SavedUpload(saved.name, found["mime"], saved.size, saved.sha256)


class _Capped:
    """STREAM that refuses to go past LIMIT bytes (ValidationFailed), so that an oversized upload
    stops being read at the limit."""

    def __init__(self, stream, limit):
        self.stream, self.limit, self.read_bytes = stream, limit, 0

    def read(self, size=-1):
        chunk = self.stream.read(size)
        self.read_bytes += len(chunk)
        if self.read_bytes > self.limit:
            raise ValidationFailed(
                _("文件超过 %(n)d MB 的上限。", n=self.limit // (1 << 20)), {"file": _("文件过大。")}
            )
        return chunk


def store_evidence(problem, stream, filename, *, actor):
    """Save an uploaded file for PROBLEM (the checks of save_upload).
    Raises ValidationFailed, Forbidden, NotFound."""
    policy.require(actor, "problem.evidence", problem)
    _require_state(problem, ("in_progress",), "签收后、申请销号前才能上传佐证材料。")
    saved = save_upload(stream, EVIDENCE_FOLDER)
    size = saved.size
    item = Evidence(
        problem_id=problem.id,
        uploaded_by_id=actor.id,
        filename=evidence_filename(filename, saved.content_type),
        stored_name=saved.stored_name,
        content_type=saved.content_type,
        size=size,
        sha256=saved.sha256,
        created_at=clock.now(),
    )
    _add_child(problem, item, "evidence")
    audit.record(
        actor,
        "problem.evidence",
        "problem",
        problem.number,
        after={"evidence_id": item.id, "file": item.filename, "sha256": item.sha256, "size": size},
    )
    return item


def evidence_key(item) -> str:
    """ITEM's key in the file storage (its stored_name is the random name within the folder)."""
    return storage.key(EVIDENCE_FOLDER, item.stored_name)


def evidence_path(item):
    """ITEM's file under STORAGE_DIR, for the directory backend only (tests, maintenance)."""
    return Path(current_app.config["STORAGE_DIR"]) / evidence_key(item)


def waive_evidence(problem, *, actor, reason):
    """An inspector allows submission without evidence (e.g. a policy explanation)."""
    policy.require(actor, "problem.assign", problem)
    reason = plain_text(reason, 1000)
    if not reason:
        raise ValidationFailed(_("请说明免附材料的理由。"), {"reason": _("请填写理由。")})
    problem.evidence_waived = True
    audit.record(actor, "problem.evidence_waived", "problem", problem.number, note=reason)


PUBLIC_REPLY_MAX = 2000


def set_public_reply(problem, text, *, actor, expected_version=None) -> bool:
    """答复意见: the reply published to the complainant (the public lookup and, once the problem is
    closed and a record opted in, the results page). Empty text takes it down. Audited as
    problem.public_reply; returns whether it changed. Raises NotFound, Forbidden (only those who sign
    off), Conflict (stale form), ValidationFailed (too long)."""
    policy.require(actor, "problem.sign_off", problem)
    check_version(problem, expected_version)
    raw = plain_text(text)
    if len(raw) > PUBLIC_REPLY_MAX:
        raise ValidationFailed(
            _("答复意见过长（最多 %(n)d 字）。", n=PUBLIC_REPLY_MAX), {"public_reply": _("答复意见过长。")}
        )
    reply = raw or None
    if reply == problem.public_reply:
        return False
    problem.public_reply = reply
    audit.record(actor, "problem.public_reply", "problem", problem.number, note=reply or _("（已撤下答复意见）"))
    return True


def request_extension(problem, new_deadline, reason, *, actor):
    """延期申请 by the unit: a later working day, with a reason; one pending request at a time."""
    policy.require(actor, "problem.extension", problem)
    _require_state(problem, WORKING_STATES, "只有办理中的问题可以申请延期。")
    if any(r.status == "pending" for r in problem.extension_requests):
        raise ValidationFailed(_("已有待审批的延期申请。"))
    reason = plain_text(reason, 2000)
    if not reason:
        raise ValidationFailed(_("请说明延期理由。"), {"reason": _("请说明延期理由。")})
    wanted = parse_date(new_deadline, "new_deadline")
    if wanted is None:
        raise ValidationFailed(_("请填写申请延至的日期。"), {"new_deadline": _("请填写日期。")})
    check_deadline(wanted, clock.today(), "new_deadline")
    if problem.deadline and wanted <= problem.deadline:
        raise ValidationFailed(
            _("申请日期须晚于当前时限 %(d)s。", d=problem.deadline.isoformat()), {"new_deadline": _("须晚于当前时限。")}
        )
    item = ExtensionRequest(
        problem_id=problem.id,
        requested_by_id=actor.id,
        reason=reason,
        current_deadline=problem.deadline,
        requested_deadline=wanted,
        status="pending",
        created_at=clock.now(),
    )
    _add_child(problem, item, "extension_requests")
    audit.record(
        actor,
        "problem.extension_request",
        "problem",
        problem.number,
        after={"from": problem.deadline.isoformat(), "to": wanted.isoformat()},
        note=reason,
    )

    alerts.notify(
        alerts.problem_inspector_side(problem),
        "workflow.extension_request",
        _("%(n)s 申请延期至 %(d)s", n=problem.number, d=wanted.isoformat()),
        body=reason,
        problem=problem,
    )
    return item


def decide_extension(problem, request_id, approve: bool, note, *, actor, expected_version=None):
    """Approve (moves `deadline`, never `original_deadline`) or refuse an extension request."""
    policy.require(actor, "problem.extension_decide", problem)
    if expected_version is not None:
        check_version(problem, expected_version)
    item = next((r for r in problem.extension_requests if r.id == int(request_id)), None)
    if item is None:
        raise NotFound(_("延期申请不存在。"))
    if item.status != "pending":
        raise ValidationFailed(_("该延期申请已处理。"))
    note = plain_text(note, 2000)
    if not approve and not note:
        raise ValidationFailed(_("不同意延期须说明理由。"), {"note": _("请填写理由。")})
    item.status = "approved" if approve else "refused"
    item.decided_by_id, item.decided_at, item.decision_note = actor.id, clock.now(), note or None
    before = {"deadline": problem.deadline.isoformat() if problem.deadline else None}
    if approve:
        problem.deadline = item.requested_deadline
        db.session.flush()
        alert_scan.resolve_ended([problem.id])  # due soon / overdue judged again on the new deadline
    audit.record(
        actor,
        "problem.extension_approved" if approve else "problem.extension_refused",
        "problem",
        problem.number,
        before=before,
        after={"deadline": problem.deadline.isoformat()},
        note=note or None,
    )

    title = (
        _("%(n)s 延期申请已同意，新时限 %(d)s", n=problem.number, d=problem.deadline.isoformat())
        if approve
        else _("%(n)s 延期申请未同意", n=problem.number)
    )
    alerts.notify(
        alerts.problem_unit_side(problem), "workflow.extension_decided", title, body=note or None, problem=problem
    )
    return item


# ---- campaigns (专项) ------------------------------------------------------------------------------

CAMPAIGN_NAME_MAX = 100
TAG_CHUNK = 1000


def _campaign_values(data) -> dict:
    """Clean campaign fields from DATA (a form or a dict); raises ValidationFailed naming each bad field."""
    from datetime import date

    errors = {}
    name = plain_text(data.get("name") or "", 1000).strip()
    if not name:
        errors["name"] = _("请填写专项名称。")
    elif len(name) > CAMPAIGN_NAME_MAX:
        errors["name"] = _("专项名称最多 %(n)d 个字。", n=CAMPAIGN_NAME_MAX)
    days = {}
    for key in ("starts_on", "ends_on"):
        raw = data.get(key)
        if isinstance(raw, date) or not raw:
            days[key] = raw or None
            continue
        try:
            days[key] = date.fromisoformat(str(raw).strip())
        except ValueError:
            errors[key] = _("日期格式有误，应为 YYYY-MM-DD。")
    if days.get("starts_on") and days.get("ends_on") and days["ends_on"] < days["starts_on"]:
        errors["ends_on"] = _("结束日期不能早于开始日期。")
    if errors:
        raise ValidationFailed(_("专项信息有误，请修正标出的字段。"), errors)
    return {
        "name": name,
        "description": plain_text(data.get("description") or "", 2000) or None,
        "starts_on": days["starts_on"],
        "ends_on": days["ends_on"],
        "is_active": bool(data.get("is_active", True)),
    }


def _campaign_state(campaign) -> dict:
    return {
        "name": campaign.name,
        "description": campaign.description,
        "starts_on": campaign.starts_on.isoformat() if campaign.starts_on else None,
        "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else None,
        "is_active": campaign.is_active,
    }


def _save_campaign(campaign, values) -> None:
    """Write VALUES; a name taken by another campaign (also by one saved a moment ago in another
    request) raises ValidationFailed on the name."""
    from sqlalchemy import func
    from sqlalchemy.exc import IntegrityError

    from tracker.ledger.models import Campaign

    taken = select(Campaign.id).where(func.lower(Campaign.name) == values["name"].lower())
    if campaign.id:
        taken = taken.where(Campaign.id != campaign.id)
    message = _("已有名为“%(n)s”的专项。", n=values["name"])
    if db.session.scalar(taken.limit(1)) is not None:
        raise ValidationFailed(message, {"name": message})
    for key, value in values.items():
        setattr(campaign, key, value)
    try:
        with db.session.begin_nested():
            db.session.add(campaign)
            db.session.flush()
    except IntegrityError:
        raise ValidationFailed(message, {"name": message}) from None


def create_campaign(data, *, actor):
    """A new campaign (专项). Raises Forbidden (campaign.manage), ValidationFailed (name missing, too
    long or taken; end before start)."""
    from tracker.ledger.models import Campaign

    policy.require(actor, "campaign.manage")
    values = _campaign_values(data)
    campaign = Campaign(created_by_id=getattr(actor, "id", None))
    _save_campaign(campaign, values)
    audit.record(actor, "campaign.create", "campaign", campaign.id, after=_campaign_state(campaign))
    return campaign


def update_campaign(campaign, data, *, actor) -> bool:
    """Change CAMPAIGN; returns whether anything changed. Raises as create_campaign."""
    policy.require(actor, "campaign.manage")
    values = _campaign_values(data)
    before = _campaign_state(campaign)
    _save_campaign(campaign, values)
    after = _campaign_state(campaign)
    if before == after:
        return False
    changed = [k for k in after if before[k] != after[k]]
    audit.record(
        actor,
        "campaign.update",
        "campaign",
        campaign.id,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return True


def get_campaign(campaign_id):
    """The campaign CAMPAIGN_ID; NotFound when there is none."""
    from tracker.core.inputs import parse_id
    from tracker.ledger.models import Campaign

    campaign = db.session.get(Campaign, parse_id(campaign_id)) if parse_id(campaign_id) else None
    if campaign is None:
        raise NotFound(_("未找到该专项。"))
    return campaign


def _target_campaign(campaign_id):
    """The campaign a problem is to be put in (None: taken out); only active campaigns take problems."""
    if campaign_id in (None, "", 0, "0"):
        return None
    campaign = get_campaign(campaign_id)
    if not campaign.is_active:
        raise ValidationFailed(
            _("专项“%(n)s”已停用，不能再归入问题。", n=campaign.name), {"campaign": _("专项已停用。")}
        )
    return campaign


def set_campaign(problem, campaign_id, *, actor) -> bool:
    """Put PROBLEM in the campaign CAMPAIGN_ID (empty: take it out). Returns whether it changed.
    Raises NotFound (problem out of scope, no such campaign), Forbidden (problem.campaign),
    ValidationFailed (campaign no longer active)."""
    from tracker.core.inputs import parse_id

    policy.require(actor, "problem.campaign", problem)
    if parse_id(campaign_id) == problem.campaign_id:
        return False  # unchanged (also when it stays in a campaign stopped since)
    campaign = _target_campaign(campaign_id)
    new_id = campaign.id if campaign else None
    before = problem.campaign.name if problem.campaign else None
    problem.campaign_id = new_id
    db.session.flush()
    db.session.expire(problem, ["campaign"])
    audit.record(
        actor,
        "problem.campaign",
        "problem",
        problem.number,
        before={"campaign": before},
        after={"campaign": campaign.name if campaign else None},
    )
    return True


def tag_matching(user, flt, campaign_id, *, actor, expected=None) -> int:
    """Put every problem USER sees that matches the ledger filter FLT in the campaign CAMPAIGN_ID
    (one UPDATE per chunk of ids, one audit event per problem written in one batch). Problems already
    in it are left alone. EXPECTED, when given, is the count the user confirmed: a different count
    now (the ledger changed meanwhile) raises Conflict and nothing is changed. Returns how many
    problems were tagged. Raises Forbidden, NotFound, ValidationFailed, Conflict."""
    from sqlalchemy import func, or_, update

    from tracker.core.errors import Conflict
    from tracker.ledger import queries
    from tracker.ledger.models import Campaign

    policy.require(actor, "problem.campaign")
    if not flt.args(sort="", cursor=""):  # never the whole ledger by a slip of the hand
        raise ValidationFailed(_("请先筛选问题，再归入专项。"))
    campaign = _target_campaign(campaign_id)
    if campaign is None:
        raise ValidationFailed(_("请选择专项。"), {"campaign": _("请选择专项。")})
    matching = queries.filtered(user, flt).order_by(None)
    if expected is not None:
        total = db.session.scalar(matching.with_only_columns(func.count()))
        if total != expected:
            raise Conflict(_("符合筛选条件的问题已变为 %(n)d 件，请重新确认。", n=total))
    names = dict(db.session.execute(select(Campaign.id, Campaign.name)).all())
    rows = db.session.execute(
        matching.with_only_columns(Problem.id, Problem.number, Problem.campaign_id)
        .where(or_(Problem.campaign_id.is_(None), Problem.campaign_id != campaign.id))
        .order_by(Problem.id)
    ).all()
    table = Problem.__table__
    for start in range(0, len(rows), TAG_CHUNK):
        chunk = [r.id for r in rows[start : start + TAG_CHUNK]]
        db.session.execute(
            update(table).where(table.c.id.in_(chunk)).values(campaign_id=campaign.id, version=table.c.version + 1)
        )
    note = _("按台账筛选条件批量归入：%(f)s", f=queries.export_filter_text(flt))
    audit.record_many(
        actor,
        (
            {
                "action": "problem.campaign",
                "object_type": "problem",
                "object_id": r.number,
                "before": {"campaign": names.get(r.campaign_id)},
                "after": {"campaign": campaign.name},
                "note": note,
            }
            for r in rows
        ),
    )
    # Problems loaded in this session are stale now (campaign and version changed underneath).
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Problem):
            db.session.expire(obj)
    return len(rows)


def active_campaigns():
    """The campaigns problems can be put in now, by name."""
    from tracker.ledger.models import Campaign

    return list(db.session.scalars(select(Campaign).where(Campaign.is_active.is_(True)).order_by(Campaign.name)))
