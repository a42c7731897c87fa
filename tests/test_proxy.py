"""Behind nginx (PROXY_HOPS=1) the client's address and scheme come from the proxy's X-Forwarded-*
headers, so that per-address limits and logs see the person, not the proxy; without it (the
default) those headers are ignored, so that nobody can pick an address by sending one."""

import logging

import pytest

from config import TestConfig
from tests.conftest import csrf_from
from tracker import create_app

FORWARDED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "zg.example.gov.cn",
    "Referer": "https://zg.example.gov.cn/login",  # over HTTPS the CSRF check wants the same origin
}


@pytest.fixture
def proxied(app):
    """A second app on the test database, configured as behind one proxy."""

    class Behind(TestConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
        STORAGE_DIR = app.config["STORAGE_DIR"]
        PROXY_HOPS = 1

    behind = create_app(Behind)
    yield behind
    with behind.app_context():
        from tracker.extensions import db

        db.engine.dispose()


def refused_login_log(client, caplog) -> str:
    token = csrf_from(client, "/login")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        client.post(
            "/login",
            data={"username": "nobody-here", "password": "wrong-password-1", "csrf_token": token},
            headers=FORWARDED,
        )
    return "\n".join(record.getMessage() for record in caplog.records if "login refused" in record.getMessage())


def test_behind_a_proxy_the_forwarded_address_scheme_and_host_are_the_clients(proxied, caplog):
    # The login form is checked (CSRF over HTTPS wants the Referer of the same https origin) and refused
    line = refused_login_log(proxied.test_client(), caplog)
    assert "from 203.0.113.9" in line


def test_without_proxy_hops_a_forwarded_header_is_ignored(app, client, caplog):
    line = refused_login_log(client, caplog)
    assert line and "203.0.113.9" not in line and "from 127.0.0.1" in line
