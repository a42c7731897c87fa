"""Imports every model module so that SQLAlchemy and Alembic see all tables."""

from tracker.audit.models import AuditEvent  # noqa: F401
from tracker.auth.models import LoginThrottle, User  # noqa: F401
from tracker.org.models import Unit, leader_units  # noqa: F401
from tracker.settings.models import CalendarOverride  # noqa: F401
