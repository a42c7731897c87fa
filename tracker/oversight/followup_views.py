"""Oversight pages: the follow-up call workbench (回访)."""

from tracker.oversight.views import bp  # noqa: F401
