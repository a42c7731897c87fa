"""Admin pages for triage rules, deadline templates and problem categories."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from tracker.access import policy
from tracker.core.errors import NotFound, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.extensions import db
from tracker.ledger.models import Category
from tracker.triage import services
from tracker.triage.models import RULE_KINDS, DeadlineTemplate, TriageRule

bp = Blueprint("triage", __name__, url_prefix="/admin/triage")
KIND_LABELS = {
    "keyword": "关键词",
    "category": "问题分类",
    "channel": "渠道",
    "kind": "类型",
    "rating": "评价等级 ≤",
    "repeat": "重复件数",
    "matrix": "紧迫度×难易度",
}
RESULT_LABELS = {"red": "红", "yellow": "黄", "blue": "蓝", "escalate": "升级一档"}


def _params_from(form, kind):
    if kind == "keyword":
        return {"pattern": form.get("pattern", "")}
    if kind in ("category", "channel", "kind"):
        return {"values": [v.strip() for v in form.get("values", "").replace("，", ",").split(",") if v.strip()]}
    if kind == "rating":
        return {"max": form.get("max", "1")}
    if kind == "repeat":
        return {"count": form.get("count", "3"), "days": form.get("days", "30")}
    if kind == "matrix":
        params = {}
        if form.get("urgency_min"):
            params["urgency_min"] = form["urgency_min"]
        if form.get("difficulty_min"):
            params["difficulty_min"] = form["difficulty_min"]
        return params
    return {}


@bp.route("/", methods=["GET", "POST"])
def index():
    policy.require(current_user, "triage.manage")
    if services.ensure_defaults(categories=True):
        db.session.commit()
    if request.method == "POST":
        form = request.form
        try:
            target = form.get("target")
            if target == "rule":
                rule = None
                if form.get("rule_id"):
                    rule = db.session.get(TriageRule, parse_id(form["rule_id"])) if parse_id(form["rule_id"]) else None
                    if rule is None:
                        raise NotFound(_("规则不存在。"))
                if form.get("move"):
                    services.move_rule(rule, -1 if form["move"] == "up" else 1, actor=current_user)
                else:
                    services.save_rule(
                        {
                            "name": form.get("name"),
                            "kind": form.get("kind"),
                            "result": form.get("result"),
                            "params": _params_from(form, form.get("kind")),
                            "is_active": form.get("is_active") == "1",
                        },
                        actor=current_user,
                        rule=rule,
                    )
            elif target == "template":
                services.save_template(
                    form.get("tier"),
                    form.get("source_kind"),
                    form.get("days"),
                    form.get("rule_text"),
                    actor=current_user,
                )
            elif target == "category":
                services.add_category(form.get("name"), actor=current_user)
        except ValidationFailed as failed:
            db.session.rollback()
            details = "；".join(failed.fields.values())
            flash(failed.message + (f"（{details}）" if details else ""), "danger")
        else:
            db.session.commit()
            flash(_("已保存。"), "success")
        return redirect(url_for("triage.index"))
    return render_template(
        "triage/index.html",
        rules=db.session.scalars(select(TriageRule).order_by(TriageRule.position, TriageRule.id)).all(),
        templates=db.session.scalars(
            select(DeadlineTemplate).order_by(DeadlineTemplate.tier, DeadlineTemplate.source_kind)
        ).all(),
        categories=db.session.scalars(select(Category).order_by(Category.position)).all(),
        kinds=RULE_KINDS,
        kind_labels=KIND_LABELS,
        result_labels=RESULT_LABELS,
    )
