"""Read-only intake queries, access-scoped: the inbox, one record, probable duplicates."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from rapidfuzz import fuzz
from sqlalchemy import or_, select

from tracker.access import policy
from tracker.core import clock
from tracker.core.errors import NotFound
from tracker.core.inputs import parse_id
from tracker.extensions import db
from tracker.intake.models import KINDS, Handling, ImportBatch, IntakeRecord
from tracker.org.queries import subtree_ids

SIMILARITY_THRESHOLD = 60.0
SIMILARITY_WINDOW_DAYS = 30
SORTS = {
    "received_desc": IntakeRecord.received_at.desc(),
    "received_asc": IntakeRecord.received_at.asc(),
    "created_desc": IntakeRecord.id.desc(),
}


def get_record_or_404(record_id: int, user) -> IntakeRecord:
    """The record if USER may see it; the same NotFound for missing and out-of-scope records."""
    record = db.session.get(IntakeRecord, record_id)
    if record is None or not policy.can(user, "intake.view", record):
        raise NotFound(_("未找到该反映件。"))
    return record


@dataclass
class InboxFilter:
    handling: str = "new"
    channel: str = ""
    kind: str = ""
    unit_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    sort: str = "received_desc"
    # Drill-downs from the reports: the unit alone (not its sub-units); only the records that count
    # against a unit (not excluded by an upheld appeal).
    unit_only: bool = False
    counted: bool = False
    ignored: tuple = ()

    @classmethod
    def from_args(cls, args) -> "InboxFilter":
        """Parse query arguments; garbage values are dropped and listed in `ignored`, never a 500."""
        ignored = []
        handling = args.get("handling", "new")
        if handling not in {h.value for h in Handling} | {"all"}:
            ignored.append("handling")
            handling = "new"
        kind = args.get("kind", "")
        if kind and kind not in KINDS:
            ignored.append("kind")
            kind = ""
        unit_id = None
        if args.get("unit"):
            unit_id = parse_id(args["unit"])
            if unit_id is None:
                ignored.append("unit")
        dates = {}
        for name in ("date_from", "date_to"):
            value = args.get(name, "")
            dates[name] = None
            if value:
                try:
                    dates[name] = date.fromisoformat(value)
                except ValueError:
                    ignored.append(name)
        sort = args.get("sort", "received_desc")
        if sort not in SORTS:
            ignored.append("sort")
            sort = "received_desc"
        flags = {}
        for name in ("unit_only", "counted"):
            value = args.get(name, "")
            flags[name] = value in ("1", "true", "yes")
            if value not in ("", "0", "1", "true", "false", "yes", "no"):
                ignored.append(name)
        return cls(
            handling=handling,
            **flags,
            channel=args.get("channel", "")[:50],
            kind=kind,
            unit_id=unit_id,
            q=args.get("q", "").strip()[:100],
            sort=sort,
            ignored=tuple(ignored),
            **dates,
        )


def visible_records(user, flt: InboxFilter):
    """SELECT of the records USER may see that match FLT (not executed)."""
    stmt = select(IntakeRecord)
    scope = policy.visible_unit_ids(user)
    if scope is not None:
        stmt = stmt.where(IntakeRecord.unit_id.in_(scope or {-1}))
    if flt.handling != "all":
        stmt = stmt.where(IntakeRecord.handling == flt.handling)
    if flt.channel:
        stmt = stmt.where(IntakeRecord.channel == flt.channel)
    if flt.kind:
        stmt = stmt.where(IntakeRecord.kind == flt.kind)
    if flt.unit_id and flt.unit_only:
        stmt = stmt.where(IntakeRecord.unit_id == flt.unit_id)
    elif flt.unit_id:
        stmt = stmt.where(IntakeRecord.unit_id.in_(subtree_ids({flt.unit_id}) or {-1}))
    if flt.counted:
        stmt = stmt.where(IntakeRecord.is_excluded.is_(False))
    zone = clock.timezone()
    if flt.date_from:
        stmt = stmt.where(IntakeRecord.received_at >= datetime.combine(flt.date_from, time(), zone))
    if flt.date_to:
        stmt = stmt.where(IntakeRecord.received_at < datetime.combine(flt.date_to + timedelta(days=1), time(), zone))
    if flt.q:
        like = f"%{flt.q}%"
        stmt = stmt.where(
            or_(
                IntakeRecord.title.ilike(like),
                IntakeRecord.body.ilike(like),
                IntakeRecord.external_id.ilike(like),
                IntakeRecord.tracking_code == flt.q.upper(),
            )
        )
    return stmt.order_by(SORTS[flt.sort], IntakeRecord.id.desc())


def similarity(a: IntakeRecord, b: IntakeRecord) -> float:
    """0–100: character-level similarity of the title and the start of the body (works for Chinese
    without word segmentation)."""
    title = fuzz.ratio(a.title, b.title)
    body = fuzz.ratio(a.body[:300], b.body[:300])
    return round(max(title * 0.4 + body * 0.6, body), 1)


def probable_duplicates(record: IntakeRecord, user=None, limit=5) -> list[tuple[IntakeRecord, float]]:
    """Records of the same unit within 30 days whose text is similar, best first."""
    if record.unit_id is None:
        return []
    window = timedelta(days=SIMILARITY_WINDOW_DAYS)
    candidates = db.session.scalars(
        select(IntakeRecord)
        .where(
            IntakeRecord.unit_id == record.unit_id,
            IntakeRecord.id != record.id,
            IntakeRecord.received_at.between(record.received_at - window, record.received_at + window),
        )
        .order_by(IntakeRecord.received_at.desc())
        .limit(500)
    ).all()
    scored = [(other, similarity(record, other)) for other in candidates]
    scored = [pair for pair in scored if pair[1] >= SIMILARITY_THRESHOLD]
    scored.sort(key=lambda pair: -pair[1])
    return scored[:limit]


def duplicate_hints(records: list[IntakeRecord]) -> dict[int, tuple[IntakeRecord, float]]:
    """For a page of records: {record id: (best probable duplicate, score)}, one query for the page."""
    with_unit = [r for r in records if r.unit_id is not None]
    if not with_unit:
        return {}
    window = timedelta(days=SIMILARITY_WINDOW_DAYS)
    low = min(r.received_at for r in with_unit) - window
    high = max(r.received_at for r in with_unit) + window
    pool = db.session.scalars(
        select(IntakeRecord)
        .where(IntakeRecord.unit_id.in_({r.unit_id for r in with_unit}), IntakeRecord.received_at.between(low, high))
        .limit(5000)
    ).all()
    by_unit = {}
    for other in pool:
        by_unit.setdefault(other.unit_id, []).append(other)
    hints = {}
    for record in with_unit:
        best = None
        for other in by_unit.get(record.unit_id, []):
            if other.id == record.id or abs(other.received_at - record.received_at) > window:
                continue
            score = similarity(record, other)
            if score >= SIMILARITY_THRESHOLD and (best is None or score > best[1]):
                best = (other, score)
        if best:
            hints[record.id] = best
    return hints


def recent_batches(limit=20):
    return db.session.scalars(
        select(ImportBatch).where(ImportBatch.status != "staged").order_by(ImportBatch.id.desc()).limit(limit)
    ).all()


# ---- export of the inbox -------------------------------------------------------------------------

EXPORT_TITLE = "反映件清单"
EXPORT_COLUMNS = [  # (header, width, wrapped)
    ("序号", 6, False),
    ("查询码", 12, False),
    ("来源编号", 16, False),
    ("渠道", 11, False),
    ("类型", 6, False),
    ("受理时间", 16, False),
    ("标题", 26, True),
    ("内容", 46, True),
    ("评价", 9, False),
    ("办理事项", 14, True),
    ("涉及单位", 16, True),
    ("分类", 10, False),
    ("处理方式", 9, False),
    ("关联问题", 15, False),
    ("反映人", 14, False),
    ("联系电话", 14, False),
]
EXPORT_HEADERS = [c[0] for c in EXPORT_COLUMNS]
EXPORT_WIDTHS = [c[1] for c in EXPORT_COLUMNS]
EXPORT_WRAPPED = [i for i, c in enumerate(EXPORT_COLUMNS) if c[2]]


def export_filter_text(flt: InboxFilter) -> str:
    """The inbox filter in words, for the title rows of an export."""
    from tracker.intake.models import HANDLING_LABELS
    from tracker.org.models import Unit

    parts = [_("处理状态：%(h)s", h=_("全部") if flt.handling == "all" else HANDLING_LABELS.get(flt.handling))]
    if flt.channel:
        parts.append(_("渠道：%(c)s", c=flt.channel))
    if flt.kind:
        parts.append(_("类型：%(k)s", k=flt.kind))
    if flt.unit_id:
        unit = db.session.get(Unit, flt.unit_id)
        parts.append(_("单位：%(u)s（含下级单位）", u=unit.name if unit else "—"))
    if flt.date_from or flt.date_to:
        low = flt.date_from.isoformat() if flt.date_from else "…"
        high = flt.date_to.isoformat() if flt.date_to else "…"
        parts.append(_("受理日期：%(a)s 至 %(b)s", a=low, b=high))
    if flt.q:
        parts.append(_("关键词：%(q)s", q=flt.q))
    return "；".join(parts)


def export_title_rows(user, flt: InboxFilter) -> list[str]:
    from tracker.ledger.queries import export_scope_text, export_time_text

    return [
        EXPORT_TITLE,
        _("范围：%(s)s", s=export_scope_text(user, flt)),
        _("筛选条件：%(f)s", f=export_filter_text(flt)),
        export_time_text(),
    ]


def export_rows(user, flt: InboxFilter, batch=2000):
    """The inbox rows of FLT for export, in the inbox's order, streamed (no ORM objects kept).
    The complainant as USER may see it in a file: masks for leaders, inspectors and admins (a
    reveal is never exported), nothing for unit users (DESIGN.md §5). Everything that needs USER is
    worked out before the iterator is returned, so that a streamed response can run it later."""
    from tracker.intake.models import HANDLING_LABELS, RATING_LABELS
    from tracker.ledger.models import Problem
    from tracker.org.models import Unit

    masks = policy.can(user, "complainant.mask")
    stmt = (
        visible_records(user, flt)
        .with_only_columns(
            IntakeRecord.tracking_code,
            IntakeRecord.external_id,
            IntakeRecord.channel,
            IntakeRecord.kind,
            IntakeRecord.received_at,
            IntakeRecord.title,
            IntakeRecord.body,
            IntakeRecord.rating,
            IntakeRecord.service_item,
            Unit.name,
            IntakeRecord.category,
            IntakeRecord.handling,
            Problem.number,
            IntakeRecord.is_anonymous,
            IntakeRecord.complainant_name_mask,
            IntakeRecord.complainant_phone_mask,
            maintain_column_froms=False,
        )
        .select_from(IntakeRecord)
        .outerjoin(Unit, Unit.id == IntakeRecord.unit_id)
        .outerjoin(Problem, Problem.id == IntakeRecord.problem_id)
        .execution_options(yield_per=batch)
    )
    hidden = _("反映人信息已保密")
    anonymous_text = _("匿名")

    def rows():
        for number, row in enumerate(db.session.execute(stmt), start=1):
            (code, external_id, channel, kind, received_at, title, body, rating, item, unit, category, handling,
             problem, anonymous, name_mask, phone_mask) = row  # fmt: skip
            if not masks:
                who, phone = hidden, ""
            elif anonymous and not (name_mask or phone_mask):
                who, phone = anonymous_text, ""
            else:
                who, phone = name_mask or "", phone_mask or ""
            yield (
                number,
                code,
                external_id,
                channel,
                kind,
                clock.to_local(received_at).strftime("%Y-%m-%d %H:%M") if received_at else "",
                title,
                body,
                RATING_LABELS.get(rating, ""),
                item or "",
                unit or "",
                category or "",
                HANDLING_LABELS.get(handling, handling),
                problem or "",
                who,
                phone,
            )

    return rows()
