"""The upgrade that brings follow-up calls backfills them: records whose problem was closed, or that
were explained, before the upgrade are due (anonymous → anonymous, no phone → no_phone); records of
open problems, new records and records excluded by an upheld appeal are left alone."""

from datetime import UTC, date, datetime

from flask_migrate import upgrade
from sqlalchemy import Boolean, Date, DateTime, Integer, MetaData, String, Text, insert, select

from config import TestConfig
from tests.test_migrations import empty_database_url  # noqa: F401 - the fixture
from tracker import create_app
from tracker.extensions import db

BEFORE = "5c6a271939de"  # the revision before the oversight tables


def _row(table, **given):
    """A row for TABLE: GIVEN, plus a plain value for every other NOT NULL column without a default."""
    values = dict(given)
    for column in table.columns:
        if column.name in values or column.nullable or column.server_default is not None or column.primary_key:
            continue
        if isinstance(column.type, Boolean):
            values[column.name] = False
        elif isinstance(column.type, Integer):
            values[column.name] = 1 if column.name == "version" else 0
        elif isinstance(column.type, DateTime):
            values[column.name] = datetime(2026, 9, 1, tzinfo=UTC)
        elif isinstance(column.type, Date):
            values[column.name] = date(2026, 9, 1)
        elif isinstance(column.type, String | Text):
            values[column.name] = f"{column.name}-{len(values)}-{given.get('external_id', given.get('number', ''))}"
        else:
            values[column.name] = "{}"
    return values


def test_upgrade_makes_records_of_closed_problems_and_explained_records_due(empty_database_url):  # noqa: F811
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = empty_database_url

    app = create_app(Config)
    with app.app_context():
        upgrade(revision=BEFORE)
        meta = MetaData()
        meta.reflect(db.engine, only=["problems", "intake_records"])
        problems, records = meta.tables["problems"], meta.tables["intake_records"]
        with db.engine.begin() as conn:
            conn.execute(insert(problems), [_row(problems, id=1, number="ZG-1", status="closed")])
            conn.execute(insert(problems), [_row(problems, id=2, number="ZG-2", status="in_progress")])
            cases = {
                "closed": {"problem_id": 1, "handling": "rectify", "complainant_phone_enc": "enc"},
                "anonymous": {"problem_id": 1, "handling": "rectify", "is_anonymous": True},
                "no_phone": {"problem_id": 1, "handling": "rectify", "complainant_name_enc": "enc"},
                "excluded": {
                    "problem_id": 1,
                    "handling": "rectify",
                    "complainant_phone_enc": "enc",
                    "is_excluded": True,
                },
                "open": {"problem_id": 2, "handling": "rectify", "complainant_phone_enc": "enc"},
                "explained": {"handling": "explained", "complainant_phone_enc": "enc"},
                "new": {"handling": "new", "complainant_phone_enc": "enc"},
            }
            for key, values in cases.items():
                conn.execute(
                    insert(records),
                    [_row(records, external_id=key, tracking_code=key.upper()[:10], channel="12345 热线", **values)],
                )
        upgrade()
        after = MetaData()
        after.reflect(db.engine, only=["intake_records"])
        records = after.tables["intake_records"]
        with db.engine.connect() as conn:
            states = dict(conn.execute(select(records.c.external_id, records.c.followup_state)).all())
            due_on = conn.execute(select(records.c.followup_due_on).where(records.c.external_id == "closed")).scalar()
        db.engine.dispose()
    assert states == {
        "closed": "due",
        "anonymous": "anonymous",
        "no_phone": "no_phone",
        "excluded": None,
        "open": None,
        "explained": "due",
        "new": None,
    }
    assert due_on is not None
