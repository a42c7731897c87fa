"""Oversight pages: covert re-inspection batches and visits; the follow-up workbench lives in
followup_views.py on the same blueprint."""

from flask import Blueprint

bp = Blueprint("oversight", __name__)


from tracker.oversight import followup_views  # noqa: E402, F401
