"""Login, logout and changing one's own password."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from tracker.auth import services
from tracker.auth.forms import ChangePasswordForm, LoginForm
from tracker.core.errors import ValidationFailed
from tracker.core.security import is_safe_next
from tracker.extensions import db

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm(next=request.args.get("next", ""))
    error = None
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.username.data, form.password.data)
        except services.LoginRefused as refused:
            db.session.commit()  # keep the failure count
            current_app.logger.info("login refused for %s from %s", form.username.data[:64], request.remote_addr)
            error = refused.message
        else:
            db.session.commit()
            login_user(user)
            target = form.next.data
            return redirect(target if is_safe_next(target) else url_for("main.home"))
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        services.end_sessions(current_user)
        db.session.commit()
    logout_user()
    flash(_("您已安全退出。"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_own_password(
                current_user, form.current_password.data, form.new_password.data, form.confirm_password.data
            )
        except ValidationFailed as failed:
            db.session.rollback()
            for field, message in failed.fields.items():
                getattr(form, field).errors.append(message)
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # the session token changed
            flash(_("密码已修改。"), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", form=form)
