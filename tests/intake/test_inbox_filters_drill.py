"""The inbox's report drill-downs: the unit alone (unit_only=1) and only the records that count against
a unit (counted=1: not excluded by an upheld appeal)."""

from sqlalchemy import select

from tests.conftest import login
from tracker.auth.models import User
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.intake.queries import InboxFilter, visible_records
from tracker.org.queries import unit_by_code


def test_unit_only_and_counted_narrow_the_inbox(client, make, app):
    make.org()
    make.record("R-1", unit="UA")
    make.record("R-2", unit="UA1")
    excluded = make.record("R-3", unit="UA")
    with app.app_context():
        db.session.get(IntakeRecord, excluded).is_excluded = True
        db.session.commit()
        ua = unit_by_code("UA").id
        inspector = db.session.scalar(select(User).where(User.username == "inspector"))

        def count(**args):
            flt = InboxFilter.from_args({"handling": "all", "unit": str(ua), **args})
            return len(db.session.scalars(visible_records(inspector, flt)).all())

        assert (count(), count(unit_only="1"), count(counted="1"), count(unit_only="1", counted="1")) == (3, 2, 2, 1)
        assert InboxFilter.from_args({"counted": "maybe"}).ignored == ("counted",)
    login(client, "inspector")
    page = client.get(f"/intake/?handling=all&unit={ua}&unit_only=1&counted=1").get_data(as_text=True)
    assert "仅本单位（不含下级单位）" in page and "不含申诉成立的反映件" in page
    assert 'name="unit_only" value="1"' in page
