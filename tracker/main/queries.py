"""Figures for the home pages."""

from sqlalchemy import func, select

from tracker.auth.models import User
from tracker.core import calendar, clock
from tracker.extensions import db
from tracker.org.models import Unit


def admin_overview():
    this_year = clock.today().year
    return {
        "units": db.session.scalar(select(func.count()).select_from(Unit).where(Unit.is_active.is_(True))),
        "users": db.session.scalar(select(func.count()).select_from(User).where(User.is_active.is_(True))),
        "years": [calendar.year_status(y) for y in (this_year, this_year + 1)],
    }
