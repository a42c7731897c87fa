"""The audit log: filters, pages, the Excel export and the chain check, for roles with audit.view."""

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from tracker.access import policy
from tracker.audit import labels, queries, services
from tracker.core import clock
from tracker.core.errors import ValidationFailed
from tracker.core.pagination import paginate
from tracker.excel.responses import xlsx_download

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _render(flt, report=None, status=200):
    page = paginate(queries.log_query(flt), request.args.get("page"))
    page.items = queries.describe(page.items)
    return (
        render_template(
            "audit/index.html",
            page=page,
            flt=flt,
            actors=queries.actor_choices(),
            action_groups=queries.action_choices(),
            object_types=labels.OBJECT_LABELS,
            report=report,
            chain_reason=labels.chain_reason(report.reason) if report and not report.ok else "",
        ),
        status,
    )


@bp.route("/")
def index():
    policy.require(current_user, "audit.view")
    return _render(queries.LogFilter.from_args(request.args))


@bp.route("/verify", methods=["POST"])
def verify():
    """校验完整性: walk the whole hash chain now and show the result above the log."""
    policy.require(current_user, "audit.view")
    return _render(queries.LogFilter.from_args(request.args), report=services.verify())


@bp.route("/export.xlsx")
def export():
    policy.require(current_user, "audit.view")
    flt = queries.LogFilter.from_args(request.args)
    if flt.errors:
        raise ValidationFailed(_("筛选条件有误。"), flt.errors)
    return xlsx_download(
        [_(h) for h in queries.EXPORT_HEADERS],
        queries.export_rows(flt),
        f"audit-{clock.local_now():%Y%m%d-%H%M}.xlsx",
        sheet_name=_("审计日志"),
        widths=queries.EXPORT_WIDTHS,
        title_rows=queries.export_title_rows(flt, current_user),
        wrapped=queries.EXPORT_WRAPPED,
        for_print=True,
    )
