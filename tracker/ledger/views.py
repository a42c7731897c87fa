"""The ledger pages: the list (问题台账), export, one problem, assignment."""

import re
from typing import NamedTuple

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from sqlalchemy import select
from wtforms import SelectChoice, ValidationError

from tracker.access import policy
from tracker.access.policy import Role
from tracker.alerts.models import SupervisionNotice
from tracker.alerts.scan import alert_label, open_alerts_for
from tracker.audit import queries as audit_queries
from tracker.auth.models import User
from tracker.core import calendar, clock
from tracker.core.errors import Conflict, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.words import N_
from tracker.excel.responses import list_download
from tracker.extensions import db
from tracker.intake import services as intake_services
from tracker.ledger import queries
from tracker.ledger import services as ledger_services
from tracker.ledger.forms import AssignProblemForm
from tracker.ledger.models import STATUS_LABELS, TIER_LABELS
from tracker.org import queries as org_queries
from tracker.triage import services as triage
from tracker.workflow import services as workflow

bp = Blueprint("ledger", __name__, url_prefix="/ledger")
WEEKDAYS = ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]


def _visible_units():
    units = org_queries.tree_order(org_queries.all_units())
    scope = policy.visible_unit_ids(current_user)
    return units if scope is None else [(u, d) for u, d in units if u.id in scope]


@bp.route("/")
def index():
    policy.require(current_user, "problem.view")
    choices = queries.filter_choices()
    flt = queries.LedgerFilter.from_args(request.args)
    page = queries.ledger_page(current_user, flt)
    if flt.ignored:
        flash(_("已忽略无效的筛选条件：%(f)s", f="、".join(sorted(set(flt.ignored)))), "warning")
    return render_template(
        "ledger/index.html",
        page=page,
        flt=flt,
        rows=_list_rows(page.items, clock.today()),
        units=_visible_units(),
        categories=[c.name for c in choices["category"]],
        channels=[c.name for c in choices["channel"]],
        leaders=choices["leader"],
        statuses=translated(STATUS_LABELS),
        tiers=translated(TIER_LABELS),
        **_campaign_context(flt, choices["campaign"]),
    )


class ListRow(NamedTuple):
    """What a row of the list shows besides the problem's own fields."""

    problem: object
    href: str
    overdue: bool
    deadline: str
    tier: str | None  # the tier's label, translated
    status: str
    days: int | None  # working days left (negative: overdue), None without a deadline or when done
    days_late: bool
    days_text: str


def translated(labels: dict) -> dict:
    """{value: its label translated}: once per request rather than at each use in a loop."""
    return {value: _(label) for value, label in labels.items()}


SAFE_NUMBER = re.compile(r"[A-Za-z0-9_.~-]+")  # nothing in it that a URL would escape


def _list_rows(problems, today) -> list[ListRow]:
    """The rows of one page, worked out once: 50 rows would otherwise translate each label, build
    each link and count each row's working days in the template. Each distinct label is translated
    once per page."""
    index = queries.days_index(today, problems)
    said = {}

    def say(text, n=None):
        if (text, n) not in said:
            said[text, n] = _(text) if n is None else _(text, n=n)
        return said[text, n]

    link = url_for("ledger.show", number="N")[:-1]  # /ledger/ + the number, for numbers kept as they are
    rows = []
    for p in problems:
        days = queries.days_left(p, today, index)
        overdue = p.is_overdue(today)
        late = days is not None and (days < 0 or (days == 0 and overdue))
        if days is None:
            text = ""
        elif late:
            text = say(N_("逾期 %(n)d 个工作日"), -days) if days < 0 else say(N_("已逾期"))
        else:
            text = say(N_("今日到期")) if days == 0 else say(N_("剩 %(n)d 个工作日"), days)
        number = p.number
        rows.append(
            ListRow(
                problem=p,
                href=link + number if SAFE_NUMBER.fullmatch(number) else url_for("ledger.show", number=number),
                overdue=overdue,
                deadline=p.deadline.isoformat() if p.deadline else "—",
                tier=say(p.tier_label) if p.tier else None,
                status=say(p.status_label),
                days=days,
                days_late=late,
                days_text=text,
            )
        )
    return rows


@bp.route("/counts")
def counts():
    policy.require(current_user, "problem.view")
    flt = queries.LedgerFilter.from_args(request.args)
    return render_template(
        "ledger/_counts.html",
        counts=queries.counts(current_user, flt),
        flt=flt,
        statuses=translated(STATUS_LABELS),
        tiers=translated(TIER_LABELS),
    )


@bp.route("/export.<fmt>")
def export(fmt):
    policy.require(current_user, "problem.view")
    flt = queries.LedgerFilter.from_args(request.args)
    if fmt not in ("csv", "xlsx"):
        return redirect(url_for("ledger.index", **flt.args()))
    # The scope, the title and the query are worked out now, while the user is loaded: a streamed
    # body runs after this view has returned.
    rows = queries.export_rows(current_user, flt)
    return list_download(fmt, queries, rows, queries.export_title_rows(current_user, flt), "ledger")


@bp.route("/<number>")
def show(number):
    problem = queries.get_problem_or_404(number, current_user)
    return render_problem(problem)


@bp.route("/<number>/public-reply", methods=["POST"])
def public_reply(number):
    """The inspector writes (or takes down) the reply published to the complainant (答复意见)."""
    problem = queries.get_problem_or_404(number, current_user)
    policy.require(current_user, "problem.sign_off", problem)
    if not _csrf_ok():
        return redirect(url_for("ledger.show", number=problem.number))
    try:
        changed = ledger_services.set_public_reply(
            problem, request.form.get("public_reply"), actor=current_user, expected_version=request.form.get("version")
        )
    except (Conflict, ValidationFailed) as failure:
        db.session.rollback()
        db.session.refresh(problem)
        flash(failure.message, "warning" if isinstance(failure, Conflict) else "danger")
        kept = {"public_reply": request.form["public_reply"]} if request.form.get("public_reply") else {}
        return render_problem(problem, status=failure.status, kept=kept, errors=failure.fields)
    db.session.commit()
    if changed:
        done = _("已保存答复意见，反映人凭查询码即可看到。") if problem.public_reply else _("已撤下答复意见。")
        flash(done, "success")
    return redirect(url_for("ledger.show", number=problem.number))


def render_problem(problem, status=200, kept=None, errors=None):
    """The problem page: header, records (identity masked per role), measures, milestones, the
    actions the user may take now, and the timeline."""
    from tracker.ledger.models import NOTE_LABELS
    from tracker.workflow.services import ACTION_LABELS, WITHDRAW_REASONS

    today = clock.today()
    # Notes and evidence show by themselves; the other events in words, people by real name.
    events = [
        e
        for e in audit_queries.events_of("problem", problem.number)
        if not e.action.startswith("problem.note_") and e.action != "problem.evidence"
    ]
    timeline = [("event", view.created_at, view) for view in audit_queries.describe(events)]
    timeline += [("note", n.created_at, n) for n in problem.notes]
    timeline += [("evidence", f.created_at, f) for f in problem.evidence]
    timeline.sort(key=lambda item: item[1])
    records = [(r, intake_services.complainant_display(r, current_user)) for r in problem.intake_records]
    return render_template(
        "ledger/show.html",
        problem=problem,
        today=today,
        days_left=queries.days_left(problem, today),
        weekday=WEEKDAYS[problem.deadline.weekday()] if problem.deadline else "",
        records=records,
        timeline=timeline,
        actions=workflow.allowed_actions(problem, current_user),
        action_labels=ACTION_LABELS,
        withdraw_reasons=WITHDRAW_REASONS,
        note_labels=NOTE_LABELS,
        pending_extension=next((r for r in problem.extension_requests if r.status == "pending"), None),
        kept=kept or {},
        errors=errors or {},
        notices=db.session.scalars(
            select(SupervisionNotice).where(SupervisionNotice.problem_id == problem.id).order_by(SupervisionNotice.id)
        ).all(),
        alerts=open_alerts_for([problem.id]),
        alert_label=alert_label,
        inspection_item=_inspection_item(problem),
        campaign_choices=_campaign_choices(problem),
    ), status


def _inspection_item(problem):
    """The problem's pending visit in an open batch, for those who may see batches only (covert)."""
    if not policy.can(current_user, "inspection.view"):
        return None
    from tracker.oversight import services as oversight

    return oversight.open_item_for(problem)


def _assign_form(problem):
    form = AssignProblemForm()
    form.unit_id.choices = [SelectChoice("", _("（请选择）"))] + [
        SelectChoice(str(u.id), "　" * d + u.name) for u, d in org_queries.tree_order(org_queries.all_units(True))
    ]
    unit_id = form.unit_id.data or (str(problem.unit_id) if problem.unit_id else "")
    form.owner_id.choices = _people_choices(unit_id)
    leaders = db.session.scalars(
        select(User).where(User.role == Role.LEADER, User.is_active.is_(True)).order_by(User.name)
    ).all()
    form.leader_id.choices = [SelectChoice("", _("（无）"))] + [SelectChoice(str(u.id), u.name) for u in leaders]
    return form


def _people_choices(unit_id):
    choices = [SelectChoice("", _("（请选择）"))]
    unit_id = parse_id(unit_id)
    if unit_id:
        people = db.session.scalars(
            select(User)
            .where(User.unit_id == unit_id, User.role == Role.UNIT, User.is_active.is_(True))
            .order_by(User.name)
        ).all()
        choices += [SelectChoice(str(u.id), u.name) for u in people]
    return choices


@bp.route("/<number>/assign", methods=["GET", "POST"])
def assign(number):
    problem = queries.get_problem_or_404(number, current_user)
    policy.require(current_user, "problem.assign", problem)
    suggestion = triage.suggest(problem)
    form = _assign_form(problem)
    status = 200
    if request.method == "GET":
        form.version.data = problem.version
        form.tier.data = suggestion.tier
        form.quick_fix.data = problem.is_quick_fix
        form.unit_id.data = str(problem.unit_id or "")
    if form.validate_on_submit():
        details = {k: v for k, v in form.data.items() if k not in ("csrf_token", "version")}
        details["milestones"] = _milestones_from(request.form)
        try:
            workflow.apply(problem, "assign", actor=current_user, expected_version=form.version.data, **details)
            if "campaign" in request.form and policy.can(current_user, "problem.campaign", problem):
                ledger_services.set_campaign(problem, request.form["campaign"], actor=current_user)
        except Conflict as conflict:
            db.session.rollback()
            flash(conflict.message, "warning")
            status = 409
        except ValidationFailed as failed:
            db.session.rollback()
            for name, message in failed.fields.items():
                if name in form:
                    form[name].errors = list(form[name].errors) + [message]
            flash(failed.message, "danger")
            status = 422
        else:
            db.session.commit()
            flash(_("已交办 %(n)s。", n=problem.number), "success")
            return redirect(url_for("ledger.show", number=problem.number))
        db.session.refresh(problem)
    elif form.errors:
        status = 422
    proposal = _proposal(problem, form.tier.data or suggestion.tier, bool(form.quick_fix.data))
    return render_template(
        "ledger/assign.html",
        problem=problem,
        form=form,
        suggestion=suggestion,
        proposal=proposal,
        posted_milestones=_milestones_from(request.form),
        campaign_choices=_campaign_choices(problem),
        chosen_campaign=parse_id(request.form.get("campaign")) if request.method == "POST" else problem.campaign_id,
    ), status


def _milestones_from(data):
    rows = []
    for i in range(10):
        title, due = data.get(f"milestone_title_{i}"), data.get(f"milestone_date_{i}")
        if title is None and due is None:
            continue
        if title or due:
            rows.append({"title": title, "due_date": due})
    return rows


def _proposal(problem, tier, quick_fix):
    today = clock.today()
    proposed = triage.propose_deadline(tier, quick_fix, problem.source_kind, today)
    milestones = triage.propose_milestones(today, proposed.deadline) if tier == "blue" else []
    return {
        "deadline": proposed.deadline,
        "days": proposed.days,
        "rule_text": proposed.rule_text,
        "weekday": WEEKDAYS[proposed.deadline.weekday()],
        "milestones": milestones,
        "left": calendar.workdays_between(today, proposed.deadline),
        "tier": tier,
    }


@bp.route("/<number>/proposal")
def proposal(number):
    problem = queries.get_problem_or_404(number, current_user)
    policy.require(current_user, "problem.assign", problem)
    tier = request.args.get("tier") if request.args.get("tier") in ("red", "yellow", "blue") else "yellow"
    return render_template(
        "ledger/_proposal.html",
        proposal=_proposal(problem, tier, request.args.get("quick_fix") == "y"),
        form=_assign_form(problem),
        posted_milestones=[],
    )


@bp.route("/people")
def people():
    policy.require(current_user, "problem.assign")
    choices = _people_choices(request.args.get("unit_id", ""))
    return render_template("ledger/_people.html", choices=choices)


@bp.app_template_filter("weekday")
def weekday_filter(value):
    return WEEKDAYS[value.weekday()] if value else ""


# ---- campaigns (专项): the filter's choices and chips, tagging one problem or every match ----------


def _campaign_context(flt, campaigns=None):
    """The 专项 select, the chips of drill-down filters that have no field of their own, and for those
    who tag problems the number that "将筛选结果归入专项" would tag (only when something is filtered)."""
    from sqlalchemy import func

    from tracker.ledger.models import Campaign, Problem

    if campaigns is None:
        campaigns = db.session.scalars(select(Campaign).order_by(Campaign.is_active.desc(), Campaign.name)).all()
    chips = []
    for shown, text, cleared in (  # the texts worked out only for the chips shown
        (flt.unit_only, lambda: _("仅本单位（不含下级单位）"), {"unit_only": ""}),
        (
            flt.closed_from or flt.closed_to,
            lambda: _("销号日期：%(a)s 至 %(b)s", a=flt.closed_from or "…", b=flt.closed_to or "…"),
            {"closed_from": "", "closed_to": ""},
        ),
        (
            flt.timeliness,
            lambda: queries.export_filter_text(queries.LedgerFilter(timeliness=flt.timeliness)),
            {"timeliness": ""},
        ),
        (flt.reworked, lambda: _("有返工"), {"reworked": ""}),
        (flt.relapsed, lambda: _("有反弹"), {"relapsed": ""}),
    ):
        if shown:
            chips.append((text(), url_for("ledger.index", **flt.args(**cleared))))
    tag_count = None
    filtered_args = flt.args(sort="", cursor="")
    if policy.can(current_user, "problem.campaign") and filtered_args and any(c.is_active for c in campaigns):
        stmt = queries.filtered(current_user, flt).order_by(None).with_only_columns(func.count(Problem.id))
        tag_count = db.session.scalar(stmt)
    return {"campaigns": campaigns, "filter_chips": chips, "tag_count": tag_count, "tag_args": filtered_args}


def _campaign_choices(problem):
    """The campaigns an inspector may put PROBLEM in (none for anyone else)."""
    return ledger_services.active_campaigns() if policy.can(current_user, "problem.campaign", problem) else []


def _csrf_ok():
    """The form's CSRF token is good; else the expired-form message is flashed."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return False
    return True


@bp.route("/campaign", methods=["POST"])
def tag_campaign():
    """将筛选结果归入专项: every problem matching the posted ledger filter goes into the chosen campaign,
    if the count the user confirmed still holds."""
    from tracker.core.errors import NotFound

    policy.require(current_user, "problem.campaign")
    flt = queries.LedgerFilter.from_args(request.form)
    back = url_for("ledger.index", **flt.args())
    if not _csrf_ok():
        return redirect(back)
    try:
        campaign = ledger_services.get_campaign(request.form.get("target_campaign"))
        done = ledger_services.tag_matching(
            current_user, flt, campaign.id, actor=current_user, expected=parse_id(request.form.get("expected"))
        )
    except (Conflict, ValidationFailed, NotFound) as failure:
        db.session.rollback()
        flash(failure.message, "warning")
        return redirect(back)
    db.session.commit()
    flash(_("已将 %(n)d 个问题归入专项“%(c)s”。", n=done, c=campaign.name), "success")
    return redirect(url_for("ledger.index", **flt.args(campaign=campaign.id, cursor="")))


@bp.route("/<number>/campaign", methods=["POST"])
def set_campaign(number):
    """The inspector puts the problem in a campaign or takes it out (empty choice)."""
    problem = queries.get_problem_or_404(number, current_user)
    policy.require(current_user, "problem.campaign", problem)
    if _csrf_ok():
        try:
            changed = ledger_services.set_campaign(problem, request.form.get("campaign"), actor=current_user)
        except ValidationFailed as failure:
            db.session.rollback()
            flash(failure.message, "warning")
        else:
            db.session.commit()
            if changed:
                name = problem.campaign.name if problem.campaign else None
                flash(_("已归入专项“%(c)s”。", c=name) if name else _("已移出专项。"), "success")
    return redirect(url_for("ledger.show", number=problem.number))
