"""Admin page for the working-day calendar."""

from datetime import date, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from tracker.access import policy
from tracker.core import calendar, clock
from tracker.core.errors import ValidationFailed
from tracker.core.inputs import parse_id
from tracker.extensions import db
from tracker.settings import services
from tracker.settings.models import CalendarOverride

bp = Blueprint("settings", __name__, url_prefix="/admin")


def _year_arg():
    try:
        year = int(request.args.get("year", ""))
    except ValueError:
        year = clock.today().year
    return year if 2000 <= year <= 2100 else clock.today().year


@bp.route("/calendar/")
def calendar_page():
    policy.require(current_user, "calendar.manage")
    year = _year_arg()
    overrides = db.session.scalars(
        select(CalendarOverride)
        .where(CalendarOverride.day.between(date(year, 1, 1), date(year, 12, 31)))
        .order_by(CalendarOverride.day)
    ).all()
    cal = calendar.WorkdayCalendar()
    months = []
    for month in range(1, 13):
        first = date(year, month, 1)
        days, day = [], first
        while day.month == month:
            days.append((day, cal.is_workday(day)))
            day += timedelta(days=1)
        months.append((month, first.weekday(), days))
    return render_template(
        "settings/calendar.html",
        year=year,
        status=calendar.year_status(year),
        overrides=overrides,
        months=months,
        today=clock.today(),
    )


@bp.route("/calendar/override", methods=["POST"])
def set_override():
    policy.require(current_user, "calendar.manage")
    year = request.form.get("year", "")
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        flash(_("日期格式不正确，应为 YYYY-MM-DD。"), "danger")
        return redirect(url_for("settings.calendar_page", year=year))
    try:
        if request.form.get("kind") == "delete":
            services.delete_override(day, actor=current_user)
        else:
            services.set_override(day, request.form.get("kind", ""), request.form.get("note"), actor=current_user)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(failed.message, "danger")
    else:
        db.session.commit()
        flash(_("已更新 %(d)s。", d=day.isoformat()), "success")
    return redirect(url_for("settings.calendar_page", year=day.year))


@bp.route("/calendar/import", methods=["POST"])
def import_overrides():
    policy.require(current_user, "calendar.manage")
    upload = request.files.get("file")
    year = request.form.get("year", "")
    if upload is None or not upload.filename:
        flash(_("请选择要导入的 CSV 文件。"), "danger")
        return redirect(url_for("settings.calendar_page", year=year))
    try:
        count = services.import_csv(upload.read(1024 * 1024 + 1)[: 1024 * 1024], actor=current_user)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(failed.message + ("\n" + failed.fields["file"] if "file" in failed.fields else ""), "danger")
    else:
        db.session.commit()
        flash(_("已导入 %(n)d 个日期。", n=count), "success")
    return redirect(url_for("settings.calendar_page", year=year))


@bp.route("/channels", methods=["GET", "POST"])
def channels():
    """The admin-editable list of intake channels."""
    from tracker.intake import services as intake_services
    from tracker.intake.models import Channel

    policy.require(current_user, "channel.manage")
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if request.form.get("channel_id"):
                channel_id = parse_id(request.form["channel_id"])
                channel = db.session.get(Channel, channel_id) if channel_id else None
                if channel is None:
                    raise ValidationFailed(_("渠道不存在。"))
                if action == "add_alias":
                    intake_services.add_channel_alias(channel, request.form.get("alias", ""), actor=current_user)
                elif action == "remove_alias":
                    intake_services.remove_channel_alias(channel, request.form.get("alias", ""), actor=current_user)
                else:
                    intake_services.set_channel_active(channel, request.form.get("active") == "1", actor=current_user)
            else:
                intake_services.add_channel(request.form.get("name", ""), actor=current_user)
        except (ValidationFailed, ValueError) as failed:
            db.session.rollback()
            flash(getattr(failed, "message", _("请求有误。")), "danger")
        else:
            db.session.commit()
            flash(_("已保存。"), "success")
        return redirect(url_for("settings.channels"))
    intake_services.ensure_default_channels()
    db.session.commit()
    rows = db.session.scalars(select(Channel).order_by(Channel.position)).all()
    return render_template("settings/channels.html", channels=rows)
