"""Public pages (no login): the tracking-code lookup and the results page."""

from flask import Blueprint

bp = Blueprint("public", __name__)
