"""Test fixtures: one app per session, a clean database per test, factories and a login helper.

The database is SQLite (a temporary file) unless TEST_DATABASE_URL points elsewhere; `make test`
runs the suite once on each. Tests hold no app context of their own while using the client, so every
request gets a fresh one, as in production.
"""

import os
import re
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import TestConfig
from tracker import create_app
from tracker.core import clock
from tracker.extensions import db

DEFAULT_PASSWORD = "Passw0rd-2026"


def _worker_database(url):
    """With pytest-xdist every worker gets its own PostgreSQL database beside TEST_DATABASE_URL's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not url.startswith("postgresql"):
        return url, None
    base = make_url(url)
    return fresh_database(base, f"{base.database}_{worker}")


def fresh_database(base, name):
    """An empty PostgreSQL database NAME on the server of the URL BASE (dropped first when it is
    there): (its URL, a function that drops it)."""
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def _app(tmp_path_factory):
    url = TestConfig.SQLALCHEMY_DATABASE_URI
    if url in ("sqlite://", "sqlite:///:memory:"):
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    url, drop_database = _worker_database(url)

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = str(tmp_path_factory.mktemp("storage"))

    app = create_app(Config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    if drop_database:
        drop_database()


def _wipe(app):
    from tracker.extensions import limiter

    limiter.reset()  # the per-address counters (public lookup) start afresh with every test
    with app.app_context():
        db.session.remove()
        tables = list(reversed(db.metadata.sorted_tables))
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(t.name for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())


@pytest.fixture
def app(_app):
    yield _app
    clock.pin(None)
    _app.config["LEADERS_SEE_ALL"] = False
    _wipe(_app)


@pytest.fixture
def app_ctx(app):
    """An app context for service-level tests (not for tests that use the client)."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(app):
    return Factory(app)


class Factory:
    """Creates test data through the services, each call in its own app context; returns ids."""

    def __init__(self, app):
        self.app = app

    def unit(self, code, name=None, parent=None, active=True):
        from tracker.org import queries, services

        with self.app.app_context():
            parent_id = queries.unit_by_code(parent).id if parent else None
            unit = services.create_unit(
                {"code": code, "name": name or f"单位{code}", "parent_id": parent_id}, actor=None
            )
            if not active:
                services.set_active(unit, False, actor=None)
            db.session.commit()
            return unit.id

    def user(self, username, role, unit=None, leader_units=(), password=DEFAULT_PASSWORD, active=True, **extra):
        from tracker.auth import services
        from tracker.org import queries

        with self.app.app_context():
            data = {"username": username, "name": extra.pop("name", username), "role": role, "password": password}
            if unit:
                data["unit_id"] = queries.unit_by_code(unit).id
            data["leader_unit_ids"] = [queries.unit_by_code(c).id for c in leader_units]
            data.update(extra)
            user, _generated = services.create_user(data, actor=None)
            user.must_change_password = False
            if not active:
                user.is_active = False
            db.session.commit()
            return user.id

    def record(self, external_id, unit="UA", title="窗口服务态度差", body="办事窗口工作人员态度冷淡，推诿。", **extra):
        """An intake record; returns its id."""
        from tracker.intake import services

        with self.app.app_context():
            raw = {
                "channel": "12345 热线",
                "external_id": external_id,
                "received_at": "2026-09-25 10:00",
                "title": title,
                "body": body,
                "unit_code": unit,
                "rating": "1",
                **extra,
            }
            record, _created = services.register(raw, actor=None)
            db.session.commit()
            return record.id

    def problem(self, unit="UA", title="窗口服务态度差", body="办事窗口工作人员态度冷淡，推诿。", assign=None, **extra):
        """A problem behind a new intake record; ASSIGN (a dict of assignment details, owner as
        username) also assigns it as the user "inspector". Returns the problem number."""
        from tracker.auth.models import User
        from tracker.ledger import services as ledger_services
        from tracker.workflow import services as workflow

        record_id = self.record(f"P-{uuid.uuid4().hex[:12]}", unit=unit, title=title, body=body, **extra)
        with self.app.app_context():
            inspector = db.session.scalar(db.select(User).where(User.username == "inspector"))
            problem = ledger_services.create_problem([record_id], title=title, actor=inspector)
            if assign is not None:
                owners = {"UA": "unita", "UB": "unitb"}
                details = {"unit_code": unit, "owner": owners.get(unit), "measures": "立即整改", **assign}
                from tracker.triage import services as triage

                details.setdefault("tier", triage.suggest(problem).tier)
                workflow.apply(problem, "assign", actor=inspector, expected_version=problem.version, **details)
            db.session.commit()
            return problem.number

    def org(self):
        """A small tree: SYS-A → UA → UA1; SYS-B → UB; plus one user per role."""
        self.unit("SYS-A", "甲系统")
        self.unit("UA", "甲单位", parent="SYS-A")
        self.unit("UA1", "甲单位下属", parent="UA")
        self.unit("SYS-B", "乙系统")
        self.unit("UB", "乙单位", parent="SYS-B")
        self.user("admin", "admin")
        self.user("inspector", "inspector")
        self.user("leader", "leader", leader_units=["SYS-A"])
        self.user("unita", "unit", unit="UA")
        self.user("unitb", "unit", unit="UB")


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(client, path):
    response = client.get(path)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no csrf_token on {path} ({response.status_code})"
    return match.group(1)


def login(client, username, password=DEFAULT_PASSWORD, next_url=None):
    token = csrf_from(client, "/login")
    data = {"username": username, "password": password, "csrf_token": token}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def post_form(client, path, data, form_page=None):
    """POST DATA to PATH with a CSRF token taken from FORM_PAGE (default PATH)."""
    token = csrf_from(client, form_page or path)
    return client.post(path, data={**data, "csrf_token": token})
