"""The inbox, and the admin page for alert thresholds, the escalation ladder, schedules, SMTP and webhooks."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from tracker.access import policy
from tracker.alerts import notices, services
from tracker.alerts.models import Notification, SupervisionNotice, Webhook
from tracker.alerts.scan import DEFAULTS
from tracker.core import crypto
from tracker.core.errors import NotFound, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.pagination import paginate
from tracker.extensions import db
from tracker.ledger import queries as ledger_queries
from tracker.org import queries as org_queries
from tracker.settings.services import get_setting, put_setting

bp = Blueprint("alerts", __name__)


@bp.route("/inbox")
def inbox():
    stmt = select(Notification).where(Notification.user_id == current_user.id)
    if request.args.get("unread"):
        stmt = stmt.where(Notification.read_at.is_(None))
    stmt = stmt.options(selectinload(Notification.problem))
    page = paginate(stmt.order_by(Notification.id.desc()), request.args.get("page"))
    return render_template(
        "alerts/inbox.html", page=page, unread=bool(request.args.get("unread")), ended=_ended_alerts(page.items)
    )


def _ended_alerts(notifications) -> set:
    """Ids of the alert messages among NOTIFICATIONS whose alert has ended since (shown as 已解除):
    no open alert of that kind on the problem any more. A transition ends its alerts at once
    (scan.resolve_ended); the passing of time is caught by the next scan."""
    from tracker.alerts.models import Alert

    told = [n for n in notifications if n.kind.startswith("alert.") and n.problem_id]
    if not told:
        return set()
    open_now = set(
        db.session.execute(
            select(Alert.problem_id, Alert.kind)
            .where(Alert.problem_id.in_({n.problem_id for n in told}), Alert.resolved_at.is_(None))
            .distinct()
        ).all()
    )
    return {n.id for n in told if (n.problem_id, n.kind.removeprefix("alert.")) not in open_now}


@bp.route("/inbox/read", methods=["POST"])
def mark_read():
    from flask_wtf.csrf import validate_csrf

    validate_csrf(request.form.get("csrf_token"))
    notification_id = request.form.get("id")
    if notification_id and parse_id(notification_id) is None:
        abort(404)  # not "mark everything read" for an id that cannot exist
    services.mark_read(current_user, parse_id(notification_id))
    db.session.commit()
    target = request.form.get("next")
    if target and target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("alerts.inbox"))


@bp.route("/admin/alerts", methods=["GET", "POST"])
def settings_page():
    policy.require(current_user, "alerts.manage")
    current = get_setting("alerts", DEFAULTS)
    schedules = get_setting("schedules", {"scan_minutes": 15, "digest_hour": 8, "digest_minute": 30})
    mail = services.mail_settings()
    errors = {}
    if request.method == "POST":
        form = request.form
        target = form.get("target")
        try:
            if target == "thresholds":
                services.save_thresholds(form, actor=current_user)
            elif target == "schedules":
                value = {
                    "scan_minutes": services._bounded_int(form.get("scan_minutes"), "scan_minutes", 1, 240, errors),
                    "digest_hour": services._bounded_int(form.get("digest_hour"), "digest_hour", 0, 23, errors),
                    "digest_minute": services._bounded_int(form.get("digest_minute"), "digest_minute", 0, 59, errors),
                }
                if errors:
                    raise ValidationFailed(_("时间有误。"), errors)
                put_setting("schedules", value, actor=current_user)
            elif target == "mail":
                value = {
                    "server": form.get("server", "").strip(),
                    "port": services._bounded_int(form.get("port"), "port", 1, 65535, errors),
                    "username": form.get("username", "").strip(),
                    "use_tls": form.get("use_tls") == "1",
                    "sender": form.get("sender", "").strip(),
                }
                if form.get("password"):
                    value["password_enc"] = crypto.encrypt(form["password"])
                elif get_setting("mail", {}).get("password_enc"):
                    value["password_enc"] = get_setting("mail", {})["password_enc"]
                if errors:
                    raise ValidationFailed(_("邮件设置有误。"), errors)
                put_setting("mail", value, actor=current_user)
            elif target == "mail_test":
                address = form.get("address", "").strip() or current_user.email
                if not address:
                    raise ValidationFailed(_("请填写测试收件地址。"))
                try:
                    services.send_email(
                        address, _("三色整改台账测试邮件"), _("这是一封测试邮件，收到即说明邮件设置正确。")
                    )
                except Exception as error:  # noqa: BLE001 - the admin sees what went wrong
                    raise ValidationFailed(_("发送失败：%(e)s", e=f"{type(error).__name__}: {error}"[:200])) from None
                flash(_("测试邮件已发送到 %(a)s。", a=address), "success")
                return redirect(url_for("alerts.settings_page"))
            elif target == "webhook":
                services.save_webhook(form, actor=current_user)
            elif target == "webhook_test":
                hook_id = parse_id(form.get("webhook_id"))
                hook = db.session.get(Webhook, hook_id) if hook_id else None
                if hook is None:
                    raise ValidationFailed(_("机器人不存在。"))
                try:
                    services.post_webhook(
                        hook,
                        {
                            "event": "test",
                            "title": _("三色整改台账测试消息"),
                            "text": _("收到即说明机器人设置正确。"),
                            "problem": None,
                        },
                    )
                except Exception as error:  # noqa: BLE001
                    raise ValidationFailed(_("发送失败：%(e)s", e=f"{type(error).__name__}: {error}"[:200])) from None
                flash(_("测试消息已发出。"), "success")
                return redirect(url_for("alerts.settings_page"))
        except ValidationFailed as failed:
            db.session.rollback()
            flash(failed.message, "danger")
            return render_template(
                "alerts/settings.html",
                current=current,
                schedules=schedules,
                mail=mail,
                errors=failed.fields or errors,
                webhooks=_webhooks(),
                units=_units(),
                form=request.form,
            ), 422
        db.session.commit()
        flash(_("已保存。"), "success")
        return redirect(url_for("alerts.settings_page"))
    return render_template(
        "alerts/settings.html",
        current=current,
        schedules=schedules,
        mail=mail,
        errors={},
        webhooks=_webhooks(),
        units=_units(),
        form={},
    )


def _webhooks():
    return db.session.scalars(select(Webhook).order_by(Webhook.id)).all()


def _units():
    return org_queries.tree_order(org_queries.all_units(active_only=True))


# ---- supervision notices: the register, one printable notice, its DOCX, issuing one on demand ------


def _visible_notices(stmt):
    scope = policy.visible_unit_ids(current_user)
    if scope is not None:
        stmt = stmt.where(SupervisionNotice.unit_id.in_(sorted(scope) or [-1]))
    return stmt


@bp.route("/notices")
def notice_register():
    policy.require(current_user, "problem.view")
    stmt = _visible_notices(select(SupervisionNotice))
    level = request.args.get("level", "")
    if level in ("reminder", "supervise", "listed"):
        stmt = stmt.where(SupervisionNotice.level == level)
    stmt = stmt.options(
        selectinload(SupervisionNotice.problem),
        joinedload(SupervisionNotice.unit),
        joinedload(SupervisionNotice.issued_by),
    )
    page = paginate(
        stmt.order_by(SupervisionNotice.year.desc(), SupervisionNotice.seq.desc()), request.args.get("page")
    )
    return render_template("alerts/notices.html", page=page, level=level)


def _notice(notice_id) -> SupervisionNotice:
    notice = db.session.get(SupervisionNotice, notice_id)
    if notice is None or not policy.can(current_user, "problem.view", notice):
        raise NotFound(_("未找到该督办单。"))
    return notice


@bp.route("/notices/<int:notice_id>")
def notice(notice_id):
    item = _notice(notice_id)
    return render_template("alerts/notice.html", notice=item, text=notices.notice_text(item))


@bp.route("/notices/<int:notice_id>.docx")
def notice_docx(notice_id):
    item = _notice(notice_id)
    return Response(
        notices.notice_docx(item),
        mimetype="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f"attachment; filename=notice-{item.year}-{item.seq}.docx"},
    )


@bp.route("/ledger/<number>/notices", methods=["POST"])
def issue_notice(number):
    from flask_wtf.csrf import validate_csrf

    problem = ledger_queries.get_problem_or_404(number, current_user)
    validate_csrf(request.form.get("csrf_token"))
    try:
        item = notices.issue_notice(problem, request.form.get("level"), request.form.get("note"), actor=current_user)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(failed.message, "danger")
        return redirect(url_for("ledger.show", number=problem.number))
    db.session.commit()
    flash(_("已签发 %(n)s。", n=item.number), "success")
    return redirect(url_for("alerts.notice", notice_id=item.id))
