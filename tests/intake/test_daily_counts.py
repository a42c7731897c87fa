"""intake_daily_counts always equals a recount of intake_records per local day and unit, whatever wrote
the records: the services, a bulk INSERT, an UPDATE of unit, time or appeal exclusion, a DELETE; the
upgrade that adds it counts the records already there."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from flask_migrate import upgrade
from sqlalchemy import delete, insert, select, update

from tests.oversight.test_followups_migration import _row
from tests.test_migrations import app_at, empty_database_url, table  # noqa: F401 - the fixture
from tracker.core import clock
from tracker.extensions import db
from tracker.intake import counts
from tracker.intake.models import IntakeDailyCount, IntakeRecord
from tracker.org.queries import unit_by_code


def _recount():
    """{(day, unit_id): (records, counted)} worked out in Python from the records themselves."""
    zone = clock.timezone()
    records, counted = Counter(), Counter()
    for received_at, unit_id, excluded in db.session.execute(
        select(IntakeRecord.received_at, IntakeRecord.unit_id, IntakeRecord.is_excluded)
    ):
        key = (received_at.astimezone(zone).date(), unit_id or 0)
        records[key] += 1
        counted[key] += 0 if excluded else 1
    return {key: (records[key], counted[key]) for key in records}


def _summary():
    rows = db.session.execute(select(IntakeDailyCount.day, IntakeDailyCount.unit_id, IntakeDailyCount.records,
                                     IntakeDailyCount.counted))  # fmt: skip
    return {(day, unit_id): (n, c) for day, unit_id, n, c in rows if n or c}


def test_the_daily_counts_follow_every_kind_of_write(app, make):
    make.org()
    # the service, twice on either side of midnight Beijing time (16:00 UTC)
    first = make.record("C-1", received_at="2026-11-16 23:30")
    make.record("C-2", unit="UB", received_at="2026-11-17 00:10")
    with app.app_context():
        assert _summary() == _recount() and len(_summary()) == 2
        ua, ub = unit_by_code("UA").id, unit_by_code("UB").id
        # a set-based INSERT of many rows in one statement (imports, demo data, COPY-like paths)
        base = datetime(2026, 11, 10, 1, tzinfo=UTC)
        template = db.session.get(IntakeRecord, first)
        rows = [
            {
                "channel": template.channel,
                "external_id": f"BULK-{i}",
                "kind": template.kind,
                "received_at": base + timedelta(hours=7 * i),
                "title": "批量",
                "body": "批量写入",
                "unit_id": (ua, ub, None)[i % 3],
                "is_anonymous": True,
                "tracking_code": f"T{i:011d}",
                "query_pin_enc": template.query_pin_enc,
                "handling": "new",
                "is_excluded": i % 5 == 0,
                "created_at": base,
                "updated_at": base,
                "version": 1,
            }
            for i in range(60)
        ]
        db.session.execute(insert(IntakeRecord), rows)
        db.session.commit()
        assert _summary() == _recount()
        # updates of the unit, the time and the exclusion, one row and many rows at a time
        db.session.execute(update(IntakeRecord).where(IntakeRecord.id == first).values(unit_id=ub))
        db.session.execute(
            update(IntakeRecord).where(IntakeRecord.external_id.like("BULK-1%")).values(is_excluded=True)
        )
        db.session.execute(
            update(IntakeRecord)
            .where(IntakeRecord.external_id.like("BULK-2%"))
            .values(received_at=datetime(2026, 10, 1, 15, 59, tzinfo=UTC))
        )
        db.session.execute(update(IntakeRecord).values(title="无关字段的修改"))
        db.session.commit()
        assert _summary() == _recount()
        db.session.execute(delete(IntakeRecord).where(IntakeRecord.external_id.like("BULK-3%")))
        db.session.commit()
        assert _summary() == _recount()
        # a rebuild gives the same table
        counts.rebuild(db.session.connection())
        db.session.commit()
        assert _summary() == _recount()


BEFORE = "6ce4e92b7702"  # the revision before the daily counts


def test_upgrade_counts_the_records_already_there(empty_database_url):  # noqa: F811
    with app_at(empty_database_url, BEFORE):
        records = table("intake_records")
        with db.engine.begin() as conn:
            for i, (at, excluded) in enumerate(
                [("2026-11-16T15:59:00", False), ("2026-11-16T16:01:00", False), ("2026-11-16T16:30:00", True)]
            ):
                conn.execute(
                    insert(records),
                    [_row(records, external_id=f"M-{i}", received_at=datetime.fromisoformat(at).replace(tzinfo=UTC),
                          is_excluded=excluded, unit_id=None, kind="投诉", handling="new", channel="12345 热线",
                          tracking_code=f"M{i:09d}")],
                )  # fmt: skip
        upgrade()
        got = _summary()
    day = datetime(2026, 11, 16).date()
    assert got == {(day, 0): (1, 1), (day + timedelta(days=1), 0): (2, 1)}


def test_rebuild_command_recounts(app, make):
    make.org()
    make.record("R-1", received_at="2026-11-16 23:30")
    with app.app_context():
        db.session.execute(delete(IntakeDailyCount))
        db.session.commit()
        assert _summary() == {}
    result = app.test_cli_runner().invoke(args=["intake", "rebuild-counts"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert _summary() == _recount() != {}
