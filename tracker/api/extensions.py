"""Extension requests over the API (DESIGN.md §6): the unit asks for a later deadline, the inspector
decides; the same services, checks and audit events as the problem page's buttons."""

from flask import g, jsonify

from tracker.api.views import bp, json_body, problem_view
from tracker.core import inputs
from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.ledger import queries as ledger_queries
from tracker.ledger import services as ledger_services

REQUEST_TYPES = {"new_deadline": inputs.TEXT, "reason": inputs.TEXT}
DECISION_TYPES = {"approve": inputs.BOOLEAN, "note": inputs.TEXT, "version": inputs.INTEGER}


def extension_view(item) -> dict:
    return {
        "id": item.id,
        "status": item.status,
        "reason": item.reason,
        "current_deadline": item.current_deadline.isoformat() if item.current_deadline else None,
        "requested_deadline": item.requested_deadline.isoformat(),
        "requested_by": item.requested_by.username if item.requested_by else None,
        "created_at": item.created_at.isoformat(),
        "decided_by": item.decided_by.username if item.decided_by else None,
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "note": item.decision_note,
    }


@bp.route("/problems/<number>/extensions", methods=["POST"])
def request_extension(number):
    """{new_deadline, reason} → 201 with the pending request."""
    user = g.api_user
    problem = ledger_queries.get_problem_or_404(number, user)
    data = json_body()
    inputs.check_json_types(data, REQUEST_TYPES)
    item = ledger_services.request_extension(problem, data.get("new_deadline"), data.get("reason"), actor=user)
    db.session.commit()
    return jsonify(extension_view(item)), 201


@bp.route("/problems/<number>/extensions/<int:request_id>", methods=["POST"])
def decide_extension(number, request_id):
    """{approve: true|false, note?, version?} → 200 with the problem (an approval moves `deadline`;
    `original_deadline` stays) and the decided request."""
    user = g.api_user
    problem = ledger_queries.get_problem_or_404(number, user)
    data = json_body()
    inputs.check_json_types(data, DECISION_TYPES)
    if not isinstance(data.get("approve"), bool):
        raise ValidationFailed("请给出审批结果（approve 为 true 或 false）。", {"approve": "必填，true 或 false。"})
    item = ledger_services.decide_extension(
        problem, request_id, data["approve"], data.get("note"), actor=user, expected_version=data.get("version")
    )
    db.session.commit()
    return jsonify(problem_view(problem, user, with_records=True) | {"extension": extension_view(item)})
