"""Imports every model module so that SQLAlchemy and Alembic see all tables."""

from tracker.alerts.models import (  # noqa: F401
    Alert,
    Delivery,
    DeliveryAttachment,
    DigestLog,
    JobLease,
    Notification,
    SupervisionNotice,
    Webhook,
)
from tracker.audit.models import AuditEvent  # noqa: F401
from tracker.auth.models import ApiToken, LoginThrottle, User  # noqa: F401
from tracker.core.sequences import Sequence  # noqa: F401
from tracker.intake.models import (  # noqa: F401
    Channel,
    ImportBatch,
    ImportProfile,
    ImportRowError,
    IntakeDailyCount,
    IntakeRecord,
)
from tracker.ledger.models import (  # noqa: F401
    Campaign,
    Category,
    Evidence,
    ExtensionRequest,
    Milestone,
    Problem,
    ProgressNote,
)
from tracker.org.models import Unit, leader_units  # noqa: F401
from tracker.oversight.models import FollowUp, InspectionBatch, InspectionItem, InspectionPhoto  # noqa: F401
from tracker.settings.models import CalendarOverride, Setting  # noqa: F401
from tracker.triage.models import DeadlineTemplate, TriageRule  # noqa: F401
