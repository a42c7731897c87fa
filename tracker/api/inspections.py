"""Covert re-inspection batches and their visits (/api/v1/inspections)."""

from tracker.api.views import bp  # noqa: F401
