"""Report pages (统计报表). Each report has one query module (dashboard, overdue, ranking, lists,
breakdowns) that feeds its page, its Excel download and its API answer; the views here only read the
period and the filter, call it and render.

Everyone with `report.view` (inspectors, leaders, admins) sees the figures of the units they may see;
a unit outside a leader's charge answers 404, as everywhere."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func

from tracker.access import policy
from tracker.core import clock
from tracker.core.errors import NotFound, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.pagination import Page
from tracker.excel.responses import xlsx_download
from tracker.extensions import db
from tracker.ledger import queries as ledger_queries
from tracker.ledger import services as ledger_services
from tracker.ledger.models import STATUS_LABELS, Campaign, Problem
from tracker.org import queries as org_queries
from tracker.org.models import Unit
from tracker.reports import breakdowns as breakdown_report
from tracker.reports import dashboard as board
from tracker.reports import lists, periods
from tracker.reports import overdue as overdue_report
from tracker.reports import ranking as ranking_report
from tracker.reports.forms import CampaignForm

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.before_request
def require_reports():
    policy.require(current_user, "report.view")


def period_from_request(default="month"):
    """(period, error): the period the query string asks for, or DEFAULT's current one and the
    message saying what was wrong with the request (shown above the figures)."""
    try:
        return periods.parse(request.args, default), None
    except ValidationFailed as failure:
        return periods.parse({}, default), failure


def unit_in_scope(unit_id):
    """The unit UNIT_ID if the current user may see it; NotFound otherwise (the same 404 as a unit
    that does not exist)."""
    unit = db.session.get(Unit, unit_id) if unit_id else None
    scope = policy.visible_unit_ids(current_user)
    if unit is None or (scope is not None and unit.id not in scope):
        raise NotFound(_("未找到该单位。"))
    return unit


@bp.route("/")
def index():
    return render_template("reports/index.html")


# ---- dashboard (领导驾驶舱) ------------------------------------------------------------------------


@bp.route("/dashboard")
def dashboard():
    """The figures at a glance; a bad period shows its message above the current month's figures (200)."""
    period, error = period_from_request("month")
    dash = board.figures(current_user, period)
    charts = board.chart_data(dash, lambda endpoint, args: url_for(endpoint, **args), _)
    return render_template("reports/dashboard.html", dash=dash, charts=charts, period=period, error=error)


# ---- overdue list (逾期清单) -----------------------------------------------------------------------


def _overdue_choices():
    """Units (tree order) and campaigns for the overdue list's filter bar, within the user's scope."""
    units = org_queries.tree_order(org_queries.all_units())
    scope = policy.visible_unit_ids(current_user)
    units = units if scope is None else [(u, d) for u, d in units if u.id in scope]
    campaigns = db.session.scalars(db.select(Campaign).order_by(Campaign.id.desc())).all()
    return units, campaigns


@bp.route("/overdue")
def overdue():

    data = overdue_report.report(current_user, request.args)
    units, campaigns = _overdue_choices()
    return render_template(
        "reports/overdue.html",
        report=data,
        groups=overdue_report.GROUPS,
        units=units,
        campaigns=campaigns,
        titles=overdue_report.title_rows(current_user, data.flt),
    )


@bp.route("/overdue/print")
def overdue_print():

    data = overdue_report.report(current_user, request.args, limit=overdue_report.PRINT_ROWS)
    return render_template(
        "reports/overdue_print.html", report=data, titles=overdue_report.title_rows(current_user, data.flt)
    )


@bp.route("/overdue.xlsx")
def overdue_xlsx():

    flt = overdue_report.parse_filter(current_user, request.args)
    rows = overdue_report.export_rows(current_user, request.args)
    return xlsx_download(
        overdue_report.EXPORT_HEADERS,
        rows,
        overdue_report.xlsx_filename(),
        **overdue_report.xlsx_layout(current_user, flt),
    )


# ---- unit ranking (排名通报) -----------------------------------------------------------------------


def _ranking_from_request():
    """(ranking, error) for the ranking page, its print and its download (default: this quarter)."""
    period, error = period_from_request("quarter")
    within = unit_in_scope(parse_id(request.args.get("unit"))) if request.args.get("unit") else None
    result = ranking_report.build(
        current_user, period, sort=request.args.get("sort"), direction=request.args.get("dir"), within=within
    )
    return result, error


@bp.route("/ranking")
def ranking():

    result, error = _ranking_from_request()
    return render_template("reports/ranking.html", ranking=result, error=error, report=ranking_report)


@bp.route("/ranking/print")
def ranking_print():

    result, error = _ranking_from_request()
    return render_template("reports/ranking_print.html", ranking=result, error=error, report=ranking_report)


@bp.route("/ranking.xlsx")
def ranking_xlsx():

    result, error = _ranking_from_request()
    if error is not None:  # the page says what is wrong with the period
        return redirect(url_for("reports.ranking", **request.args))
    headers, rows, filename, layout = ranking_report.xlsx_spec(current_user, result)
    return xlsx_download(headers, rows, filename, **layout)


# ---- the three lists (问题清单、责任清单、任务清单) and campaigns (专项) ------------------------------


def _campaign_form_page(form, campaign, status=200):
    return render_template("reports/campaign_form.html", form=form, campaign=campaign), status


@bp.route("/campaigns")
def campaigns():
    """The campaigns, each with its problems (those the user may see) linked to the ledger filter."""
    stmt = ledger_queries.filtered(current_user, ledger_queries.LedgerFilter()).order_by(None)
    counts = dict(
        db.session.execute(
            stmt.with_only_columns(Problem.campaign_id, func.count())
            .where(Problem.campaign_id.is_not(None))
            .group_by(Problem.campaign_id)
        ).all()
    )
    return render_template("reports/campaigns.html", campaigns=lists.campaigns(), counts=counts)


@bp.route("/campaigns/new", methods=["GET", "POST"])
def new_campaign():

    policy.require(current_user, "campaign.manage")
    form = CampaignForm()
    if form.validate_on_submit():
        try:
            campaign = ledger_services.create_campaign(form.data, actor=current_user)
        except ValidationFailed as failed:
            db.session.rollback()
            _campaign_errors(form, failed)
            return _campaign_form_page(form, None, 422)
        db.session.commit()
        flash(_("已新建专项“%(n)s”。", n=campaign.name), "success")
        return redirect(url_for("reports.campaigns"))
    return _campaign_form_page(form, None, 422 if form.errors else 200)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def edit_campaign(campaign_id):

    campaign = ledger_services.get_campaign(campaign_id)
    policy.require(current_user, "campaign.manage")
    form = CampaignForm(obj=campaign if request.method == "GET" else None)
    if request.method == "GET":
        form.starts_on.data = campaign.starts_on.isoformat() if campaign.starts_on else ""
        form.ends_on.data = campaign.ends_on.isoformat() if campaign.ends_on else ""
    if form.validate_on_submit():
        try:
            changed = ledger_services.update_campaign(campaign, form.data, actor=current_user)
        except ValidationFailed as failed:
            db.session.rollback()
            _campaign_errors(form, failed)
            return _campaign_form_page(form, campaign, 422)
        db.session.commit()
        flash(_("已保存专项“%(n)s”。", n=campaign.name) if changed else _("没有改动。"), "success")
        return redirect(url_for("reports.campaigns"))
    return _campaign_form_page(form, campaign, 422 if form.errors else 200)


def _campaign_errors(form, failed: ValidationFailed):

    for name, message in failed.fields.items():
        if name in form:
            form[name].errors = list(form[name].errors) + [message]
    flash(failed.message, "danger")


def _list_scope():
    """(scope, error) of a list page: a bad period or an unknown campaign falls back to this month,
    with the message shown above the list."""
    try:
        return lists.parse_scope(request.args), None
    except ValidationFailed as failure:
        return lists.parse_scope({}), failure


def _list_page(template, scope, error, **context):

    return render_template(
        template,
        status_labels=STATUS_LABELS,
        scope=scope,
        error=error,
        campaigns=lists.campaigns(),
        printing=request.args.get("print") == "1",
        scope_text=ledger_queries.export_scope_text(current_user, ledger_queries.LedgerFilter()),
        as_of=ledger_queries.export_time_text(),
        print_max=lists.PRINT_MAX,
        **context,
    )


def _bad_download(endpoint):
    """A download asked with a bad period or campaign goes to the page, which says what is wrong."""
    return redirect(url_for(endpoint, **{k: v for k, v in request.args.items() if k != "format"}))


def _list_xlsx(title, headers, rows, widths, wrapped, scope):

    stamp = clock.local_now().strftime("%Y%m%d-%H%M")
    return xlsx_download(
        headers,
        rows,
        f"{title}-{stamp}.xlsx",
        sheet_name=str(title),
        widths=widths,
        title_rows=lists.title_rows(current_user, str(title), scope),
        wrapped=wrapped,
        for_print=True,
    )


@bp.route("/lists/problems")
def list_problems():
    """问题清单: the problems of a period (assigned in it) or of a campaign; ?format=xlsx, ?print=1."""
    scope, error = _list_scope()
    columns = lists.PROBLEM_COLUMNS
    if request.args.get("format") == "xlsx":
        if error is not None:
            return _bad_download("reports.list_problems")
        rows = lists.problem_rows(current_user, scope)
        return _list_xlsx(
            lists.PROBLEM_TITLE, lists.headers(columns), rows, lists.widths(columns), lists.wrapped(columns), scope
        )
    if request.args.get("print") == "1":
        total = lists.count(current_user, scope)
        rows = lists.problem_rows(current_user, scope, limit=lists.PRINT_MAX)
        page = Page(rows, 1, max(total, 1), total)
    else:
        page = lists.problem_page(current_user, scope, request.args.get("page"))
    return _list_page(
        "reports/list_problems.html", scope, error, page=page, headers=lists.headers(columns), title=lists.PROBLEM_TITLE
    )


@bp.route("/lists/responsibility")
def list_responsibility():
    """责任清单: per unit, who is responsible, the leaders in charge, its problems by state."""
    scope, error = _list_scope()
    result = lists.responsibility(current_user, scope)
    if request.args.get("format") == "xlsx":
        if error is not None:
            return _bad_download("reports.list_responsibility")
        headers = lists.responsibility_headers()
        widths = [6, 24, 24, 16] + [8] * (len(headers) - 4)
        return _list_xlsx(
            lists.RESPONSIBILITY_TITLE, headers, lists.responsibility_rows(result), widths, [1, 2, 3], scope
        )
    return _list_page(
        "reports/list_responsibility.html",
        scope,
        error,
        result=result,
        statuses=lists.STATUS_ORDER,
        title=lists.RESPONSIBILITY_TITLE,
    )


@bp.route("/lists/tasks")
def list_tasks():
    """任务清单: every measure as a task (the milestones, or the measures of a problem without any)."""
    scope, error = _list_scope()
    columns = lists.TASK_COLUMNS
    if request.args.get("format") == "xlsx":
        if error is not None:
            return _bad_download("reports.list_tasks")
        rows = lists.task_rows(lists.tasks(current_user, scope))
        return _list_xlsx(
            lists.TASK_TITLE, lists.headers(columns), rows, lists.widths(columns), lists.wrapped(columns), scope
        )
    if request.args.get("print") == "1":
        items = lists.tasks(current_user, scope, limit=lists.PRINT_MAX)
        problems = lists.count(current_user, scope)
        page = lists.TaskPage(items, 1, max(problems, 1), problems, lists.task_total(current_user, scope))
    else:
        page = lists.task_page(current_user, scope, request.args.get("page"))
    return _list_page(
        "reports/list_tasks.html",
        scope,
        error,
        page=page,
        headers=lists.headers(columns),
        title=lists.TASK_TITLE,
        states=lists.task_state_counts(page.items),
    )


# ---- breakdowns (分类统计) --------------------------------------------------------------------------


@bp.route("/breakdowns")
def breakdowns():
    """Problems and intake records of a period per category or channel; ?format=xlsx downloads it."""
    period, error = period_from_request("month")
    dim = breakdown_report.dimension(request.args)
    result = breakdown_report.breakdown(current_user, period, dim)
    if request.args.get("format") == "xlsx" and error is None:  # never a file of another period than asked
        stamp = period.start.isoformat() if period.kind != "custom" else f"{period.start}_{period.end}"
        return xlsx_download(
            breakdown_report.export_headers(dim),
            breakdown_report.export_rows(result),
            f"{breakdown_report.export_title(dim)}-{stamp}.xlsx",
            sheet_name=str(breakdown_report.DIMENSIONS[dim]),
            widths=breakdown_report.EXPORT_WIDTHS,
            title_rows=breakdown_report.export_title_rows(current_user, result),
            for_print=True,
        )
    return render_template(
        "reports/breakdowns.html",
        result=result,
        links=breakdown_report.links(result),
        chart=breakdown_report.chart_data(result, lambda target: url_for(target[0], **target[1])),
        spec=breakdown_report,
        period=period,
        error=error,
    ), (422 if error else 200)
