"""/api/v1: bearer-token authentication, JSON errors, intake endpoints, the OpenAPI description."""

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import BadRequest

from tracker.access import policy
from tracker.api.openapi import SPEC
from tracker.auth.services import user_for_token
from tracker.core.errors import DomainError, ValidationFailed
from tracker.core.security import PUBLIC_ENDPOINTS
from tracker.extensions import csrf, db
from tracker.intake import queries as intake_queries
from tracker.intake import services as intake

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies here: every call carries its bearer token


def error(status, code, message, fields=None):
    return jsonify(error={"code": code, "message": message, "fields": fields or {}}), status


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        return error(401, "unauthorized", "需要有效的 API 令牌（Authorization: Bearer …）。")
    g.api_user = user
    return None


@bp.errorhandler(DomainError)
def domain_error(failure):
    db.session.rollback()
    return error(failure.status, failure.code, failure.message, failure.fields)


def json_body() -> dict:
    """The request's JSON object; raises ValidationFailed (400-style) for anything else."""
    try:
        data = request.get_json(force=False, silent=False)
    except BadRequest:
        data = None
    if not isinstance(data, dict):
        failure = ValidationFailed("请求体必须是 JSON 对象（Content-Type: application/json）。")
        failure.status, failure.code = 400, "bad_json"
        raise failure
    return data


@bp.route("/openapi.json")
def openapi():
    return jsonify(SPEC)


@bp.route("/intake", methods=["POST"])
def create_intake():
    user = g.api_user
    policy.require(user, "intake.create")
    data = json_body()
    complainant = data.get("complainant") or {}
    if not isinstance(complainant, dict):
        raise ValidationFailed("反映件信息有误。", {"complainant": "complainant 应为对象 {name, phone}。"})
    raw = {name: data.get(name) for name in intake.FIELDS if name not in intake.COMPLAINANT_FIELDS}
    raw["complainant_name"] = complainant.get("name")
    raw["complainant_phone"] = complainant.get("phone")
    raw["anonymous"] = bool(data.get("anonymous"))
    source = {k: v for k, v in data.items() if k != "complainant"}
    record, created = intake.register(raw, actor=user, source_row=source)
    db.session.commit()
    body = intake.api_view(record, user)
    if created:
        body["query_pin"] = intake.crypto.decrypt(record.query_pin_enc)
    return jsonify(body), 201 if created else 200


@bp.route("/intake/<int:record_id>")
def get_intake(record_id):
    user = g.api_user
    record = intake_queries.get_record_or_404(record_id, user)
    return jsonify(intake.api_view(record, user))
