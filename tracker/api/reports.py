"""Report endpoints (/api/v1/reports/…): the same query modules as the report pages and their Excel
downloads, so that the page, the file and the API give the same numbers."""

from flask import g, jsonify, request

from tracker.access import policy
from tracker.api.views import bp
from tracker.reports import dashboard, overdue, ranking


@bp.route("/reports/dashboard")
def dashboard_report():
    user = g.api_user
    policy.require(user, "report.view")
    return jsonify(dashboard.api_payload(user, request.args))


@bp.route("/reports/overdue")
def overdue_report():
    user = g.api_user
    policy.require(user, "report.view")
    return jsonify(overdue.api_payload(user, request.args))


@bp.route("/reports/ranking")
def ranking_report():
    user = g.api_user
    policy.require(user, "report.view")
    return jsonify(ranking.api_payload(user, request.args))
