"""Follow-up calls (/api/v1/followups)."""

from tracker.api.views import bp  # noqa: F401
