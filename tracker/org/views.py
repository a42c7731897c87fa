"""Admin pages: units and users."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import contains_eager, selectinload
from wtforms import SelectChoice

from tracker.access import policy
from tracker.access.policy import ROLE_LABELS, Role
from tracker.auth import services as user_services
from tracker.auth.models import User
from tracker.core.errors import Conflict, NotFound, ValidationFailed
from tracker.core.pagination import paginate
from tracker.extensions import db
from tracker.org import queries, services
from tracker.org.forms import ConfirmForm, ResetPasswordForm, UnitForm, UserForm
from tracker.org.models import Unit

bp = Blueprint("org", __name__, url_prefix="/admin")


def _unit_choices(include_blank, exclude_ids=()):
    choices = [SelectChoice("", _("（无）"))] if include_blank else []
    for unit, depth in queries.tree_order(queries.all_units()):
        if unit.id in exclude_ids:
            continue
        label = "　" * depth + unit.name + ("" if unit.is_active else _("（已停用）"))
        choices.append(SelectChoice(str(unit.id), label))
    return choices


def _apply_errors(form, failed: ValidationFailed):
    for field, message in failed.fields.items():
        if hasattr(form, field):
            getattr(form, field).errors = list(getattr(form, field).errors) + [message]
    if not failed.fields:
        flash(failed.message, "danger")


# ---- units ---------------------------------------------------------------------------------------


@bp.route("/units")
def units():
    policy.require(current_user, "unit.manage")
    q = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    found = queries.search_units(q or None, status or None)
    rows = queries.tree_order(found) if not q else [(u, 0) for u in found]
    counts = dict(
        db.session.execute(
            select(User.unit_id, func.count()).where(User.is_active.is_(True)).group_by(User.unit_id)
        ).all()
    )
    return render_template("org/units.html", rows=rows, q=q, status=status, counts=counts, confirm=ConfirmForm())


@bp.route("/units/new", methods=["GET", "POST"])
def new_unit():
    policy.require(current_user, "unit.manage")
    form = UnitForm()
    form.parent_id.choices = _unit_choices(include_blank=True)
    if request.method == "GET" and request.args.get("parent"):
        form.parent_id.data = request.args["parent"]
    if form.validate_on_submit():
        try:
            unit = services.create_unit(form.data, actor=current_user)
        except ValidationFailed as failed:
            db.session.rollback()
            _apply_errors(form, failed)
        else:
            db.session.commit()
            flash(_("已创建单位“%(n)s”。", n=unit.name), "success")
            return redirect(url_for("org.units"))
    return render_template("org/unit_form.html", form=form, unit=None), 422 if form.errors else 200


def _get_unit(unit_id) -> Unit:
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(_("未找到该单位。"))
    return unit


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
def edit_unit(unit_id):
    policy.require(current_user, "unit.manage")
    unit = _get_unit(unit_id)
    form = UnitForm(obj=unit) if request.method == "GET" else UnitForm()
    if request.method == "GET":
        form.parent_id.data = str(unit.parent_id or "")
        form.version.data = unit.version
    form.parent_id.choices = _unit_choices(include_blank=True, exclude_ids=queries.subtree_ids({unit.id}))
    status = 200
    if form.validate_on_submit():
        try:
            services.update_unit(unit, form.data, actor=current_user, expected_version=form.version.data)
        except Conflict as conflict:
            db.session.rollback()
            flash(conflict.message, "warning")
            status = 409
        except ValidationFailed as failed:
            db.session.rollback()
            _apply_errors(form, failed)
        else:
            db.session.commit()
            flash(_("已保存单位“%(n)s”。", n=unit.name), "success")
            return redirect(url_for("org.units"))
    if form.errors:
        status = 422
    return render_template("org/unit_form.html", form=form, unit=unit), status


def _toggle(obj, set_active, back, done_on, done_off):
    """Activate or deactivate OBJ from a confirm-form POST; the result is flashed, nothing is lost."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return redirect(back)
    activate = request.form.get("active") == "1"
    try:
        set_active(obj, activate, actor=current_user, expected_version=form.version.data)
    except (ValidationFailed, Conflict) as failed:
        db.session.rollback()
        flash(failed.message, "danger")
    else:
        db.session.commit()
        flash(done_on if activate else done_off, "success")
    return redirect(back)


@bp.route("/units/<int:unit_id>/active", methods=["POST"])
def toggle_unit(unit_id):
    policy.require(current_user, "unit.manage")
    unit = _get_unit(unit_id)
    return _toggle(
        unit,
        services.set_active,
        url_for("org.units"),
        _("已启用单位“%(n)s”。", n=unit.name),
        _("已停用单位“%(n)s”。", n=unit.name),
    )


# ---- users ---------------------------------------------------------------------------------------


@bp.route("/users")
def users():
    policy.require(current_user, "user.manage")
    q = request.args.get("q", "").strip()
    role = request.args.get("role", "")
    status = request.args.get("status", "")
    stmt = select(User).outerjoin(Unit, User.unit_id == Unit.id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(User.username.ilike(like), User.name.ilike(like), Unit.name.ilike(like)))
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == role)
    if status == "active":
        stmt = stmt.where(User.is_active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(User.is_active.is_(False))
    stmt = stmt.options(contains_eager(User.unit), selectinload(User.leader_of))
    page = paginate(stmt.order_by(User.username), request.args.get("page"))
    return render_template(
        "org/users.html", page=page, q=q, role=role, status=status, roles=ROLE_LABELS, confirm=ConfirmForm()
    )


def _user_form(user=None):
    form = UserForm(obj=user) if user is not None and request.method == "GET" else UserForm()
    form.unit_id.choices = _unit_choices(include_blank=True)
    form.leader_unit_ids.choices = _unit_choices(include_blank=False)
    if user is not None and request.method == "GET":
        form.unit_id.data = str(user.unit_id or "")
        form.leader_unit_ids.data = [str(u.id) for u in user.leader_of]
        form.version.data = user.version
    return form


def _get_user(user_id) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("未找到该用户。"))
    return user


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    policy.require(current_user, "user.manage")
    form = _user_form()
    if form.validate_on_submit():
        try:
            user, generated = user_services.create_user(form.data, actor=current_user)
        except ValidationFailed as failed:
            db.session.rollback()
            _apply_errors(form, failed)
        else:
            db.session.commit()
            return render_template("org/password_shown.html", user=user, password=generated, created=True)
    return render_template("org/user_form.html", form=form, user=None), 422 if form.errors else 200


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
def edit_user(user_id):
    policy.require(current_user, "user.manage")
    user = _get_user(user_id)
    form = _user_form(user)
    status = 200
    if form.validate_on_submit():
        try:
            user_services.update_user(user, form.data, actor=current_user, expected_version=form.version.data)
        except Conflict as conflict:
            db.session.rollback()
            flash(conflict.message, "warning")
            status = 409
        except ValidationFailed as failed:
            db.session.rollback()
            _apply_errors(form, failed)
        else:
            db.session.commit()
            flash(_("已保存用户“%(n)s”。", n=user.name), "success")
            return redirect(url_for("org.users"))
    if form.errors:
        status = 422
    return render_template(
        "org/user_form.html", form=form, user=user, confirm=ConfirmForm(), reset_form=ResetPasswordForm()
    ), status


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def toggle_user(user_id):
    policy.require(current_user, "user.manage")
    user = _get_user(user_id)
    return _toggle(
        user,
        user_services.set_active,
        url_for("org.users"),
        _("已启用用户“%(n)s”。", n=user.name),
        _("已停用用户“%(n)s”。", n=user.name),
    )


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def reset_password(user_id):
    policy.require(current_user, "user.manage")
    user = _get_user(user_id)
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return redirect(url_for("org.edit_user", user_id=user.id))
    try:
        password = user_services.reset_password(user, actor=current_user, password=form.password.data or None)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(failed.message, "danger")
        return redirect(url_for("org.edit_user", user_id=user.id))
    db.session.commit()
    shown = None if form.password.data else password
    return render_template("org/password_shown.html", user=user, password=shown, created=False)
