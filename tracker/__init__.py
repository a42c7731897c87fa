"""The tracker (三色整改台账): application factory."""

from flask import Flask, g, has_request_context, jsonify, render_template, request, session
from flask_babel import gettext as _
from flask_login import current_user

from config import get_config


def create_app(config=None):
    """Build the app. CONFIG is a config class, a name (development/test/production) or None
    ($TRACKER_ENV). Raises RuntimeError when production settings are unsafe."""
    config_class = config if isinstance(config, type) else get_config(config)
    if hasattr(config_class, "check"):
        config_class.check()
    app = Flask(__name__, template_folder="../templates", instance_relative_config=False)
    app.config.from_object(config_class)
    configure_inputs(app)
    app.json.ensure_ascii = False
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_hooks(app)
    configure_clock(app)
    if app.config.get("PROXY_HOPS"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        # behind nginx: the client's address (rate limits, audit), scheme and host from its headers
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def configure_inputs(app):
    """Ids in URLs bounded to what the database holds; JSON bodies refused past a sane depth."""
    from tracker.core.inputs import IdConverter, JSONProvider, refuse_json_to_pages

    app.url_map.converters["int"] = IdConverter  # every <int:…> route, before any is registered
    app.json = JSONProvider(app)
    app.before_request(refuse_json_to_pages)  # before the CSRF check reads the body


def register_extensions(app):
    from tracker import models  # noqa: F401 - every table registered before migrations look
    from tracker.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    limiter.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_key):
        from tracker.auth.models import User

        user_id, _sep, token = user_key.partition(":")
        if not user_id.isdigit():
            return None
        user = _load_user_with_unread(User, int(user_id))
        if user is None or not user.is_active or user.session_token != token:
            return None
        return user


def _load_user_with_unread(User, user_id):
    """The signed-in user, the units in their charge and their unread message count in one statement
    (every page shows the count); the count is kept on flask.g for the request."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import joinedload

    from tracker.alerts.models import Notification
    from tracker.extensions import db

    unread = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == User.id, Notification.read_at.is_(None))
        .scalar_subquery()
    )
    row = (
        db.session.execute(
            select(User, unread).where(User.id == user_id).options(joinedload(User.unit), joinedload(User.leader_of))
        )
        .unique()
        .first()
    )
    if row is None:
        return None
    g._unread_count = (row[0].id, row[1])
    return row[0]


def select_locale():
    languages = ("zh", "en")
    if not has_request_context():
        return "zh"
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if current_user and getattr(current_user, "locale", None) in languages:
        return current_user.locale
    return "zh"


def register_blueprints(app):
    from tracker.alerts.views import bp as alerts_bp
    from tracker.api.views import bp as api_bp
    from tracker.audit.views import bp as audit_bp
    from tracker.auth.views import bp as auth_bp
    from tracker.intake.views import bp as intake_bp
    from tracker.ledger.views import bp as ledger_bp
    from tracker.main.views import bp as main_bp
    from tracker.org.views import bp as org_bp
    from tracker.oversight.views import bp as oversight_bp
    from tracker.public.views import bp as public_bp
    from tracker.reports.views import bp as reports_bp
    from tracker.settings.views import bp as settings_bp
    from tracker.triage.views import bp as triage_bp
    from tracker.workflow.views import bp as workflow_bp

    for bp in (
        main_bp,
        auth_bp,
        org_bp,
        audit_bp,
        settings_bp,
        intake_bp,
        ledger_bp,
        workflow_bp,
        triage_bp,
        alerts_bp,
        oversight_bp,
        public_bp,
        reports_bp,
        api_bp,
    ):
        app.register_blueprint(bp)


def register_errorhandlers(app):
    from flask_wtf.csrf import CSRFError

    from tracker.core.errors import DomainError
    from tracker.extensions import db

    def wants_json():
        return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"

    codes = {
        400: "bad_request",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        500: "server_error",
    }

    def render_error(status, title, message):
        if wants_json():
            return jsonify(error={"code": codes.get(status, str(status)), "message": message, "fields": {}}), status
        return render_template("errors/error.html", status=status, title=title, message=message), status

    @app.errorhandler(DomainError)
    def domain_error(error):
        db.session.rollback()
        if wants_json():
            return jsonify(error={"code": error.code, "message": error.message, "fields": error.fields}), error.status
        titles = {403: _("无权访问"), 404: _("页面不存在"), 409: _("内容已被修改")}
        return render_error(error.status, titles.get(error.status, _("请求有误")), error.message)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, _("页面已过期"), _("表单校验失败（缺少或过期的安全令牌），请刷新页面后重试。"))

    @app.errorhandler(400)
    def bad_request(error):
        return render_error(400, _("请求有误"), _("请求内容无法识别，请返回上一页重试。"))

    @app.errorhandler(403)
    def forbidden(error):
        return render_error(403, _("无权访问"), _("您没有访问此页面的权限。"))

    @app.errorhandler(404)
    def not_found(error):
        return render_error(404, _("页面不存在"), _("您要找的页面不存在，或您无权查看。"))

    @app.errorhandler(405)
    def method_not_allowed(error):
        return render_error(405, _("请求方式不正确"), _("此地址不支持该请求方式。"))

    @app.errorhandler(413)
    def too_large(error):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return render_error(413, _("文件过大"), _("上传内容超过 %(n)d MB 的上限。", n=limit))

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_error(500, _("系统错误"), _("服务器处理请求时出错，已记录。请稍后再试或联系管理员。"))


def register_commands(app):
    from tracker.alerts.cli import alerts_cli
    from tracker.audit.cli import audit_cli
    from tracker.auth.cli import tokens_cli, users_cli
    from tracker.demo.cli import demo_cli
    from tracker.intake.cli import intake_cli
    from tracker.jobs.cli import scheduler_command
    from tracker.ledger.cli import ledger_cli
    from tracker.ops.cli import backup_command, restore_command
    from tracker.org.cli import units_cli
    from tracker.settings.cli import calendar_cli

    for command in (
        users_cli,
        tokens_cli,
        units_cli,
        audit_cli,
        demo_cli,
        calendar_cli,
        intake_cli,
        ledger_cli,
        alerts_cli,
        scheduler_command,
        backup_command,
        restore_command,
    ):
        app.cli.add_command(command)


def register_hooks(app):
    from tracker.access import policy
    from tracker.core import clock, logs
    from tracker.core.security import guard, set_security_headers

    app.before_request(guard)
    app.after_request(set_security_headers)

    @app.context_processor
    def template_helpers():
        return {
            "can": lambda permission, obj=None: policy.can(current_user, permission, obj),
            "role_labels": policy.ROLE_LABELS,
            "current_lang": select_locale(),
            "local_time": clock.to_local,
            "unread_count": _unread_count,
        }

    def _unread_count():
        from tracker.alerts.services import unread_count

        if not current_user.is_authenticated:
            return 0
        known = g.get("_unread_count")  # a write may have changed it since the user was loaded
        if known and known[0] == current_user.id and request.method in ("GET", "HEAD"):
            return known[1]
        return unread_count(current_user)

    @app.template_filter("dt")
    def format_datetime(value, fmt="%Y-%m-%d %H:%M"):
        return clock.to_local(value).strftime(fmt) if value else ""

    logs.init_app(app)


def configure_clock(app):
    from tracker.core import clock

    if app.config.get("TRACKER_NOW"):
        with app.app_context():
            clock.pin(app.config["TRACKER_NOW"])
