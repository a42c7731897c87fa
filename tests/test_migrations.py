"""`flask db upgrade` from an empty database builds exactly the schema the models describe."""

import uuid
from contextlib import contextmanager

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url

from config import TestConfig
from tracker import create_app
from tracker.extensions import db


@pytest.fixture
def empty_database_url(tmp_path):
    base = TestConfig.SQLALCHEMY_DATABASE_URI
    if not base.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"tracker_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def app_at(url, revision):
    """An app context on the empty database at URL, upgraded to REVISION; its engine is closed after."""

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    with create_app(Config).app_context():
        upgrade(revision=revision)
        try:
            yield
        finally:
            db.session.remove()
            db.engine.dispose()


def table(name):
    """The table NAME as the database has it now (the models may describe a later revision)."""
    meta = MetaData()
    meta.reflect(db.engine, only=[name])
    return meta.tables[name]


def test_upgrade_from_empty_matches_the_models(empty_database_url):
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = empty_database_url

    app = create_app(Config)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert differences == []
