"""The one clock and the configuration rules."""

from datetime import UTC, datetime

import pytest

from config import ProductionConfig, TestConfig
from tracker import create_app
from tracker.core import clock


def test_pinned_clock_is_what_now_and_today_return(app_ctx):
    clock.pin("2026-09-30T23:30:00+08:00")
    assert clock.now() == datetime(2026, 9, 30, 15, 30, tzinfo=UTC)
    assert clock.today().isoformat() == "2026-09-30"
    clock.pin(None)
    assert not clock.is_pinned()


def test_local_day_differs_from_utc_day_near_midnight(app_ctx):
    clock.pin(datetime(2026, 10, 9, 17, 0, tzinfo=UTC))
    assert clock.today().isoformat() == "2026-10-10"


def test_tracker_now_in_config_pins_the_clock():
    class Pinned(TestConfig):
        TRACKER_NOW = "2026-10-01T09:00:00"

    try:
        app = create_app(Pinned)
        with app.app_context():
            assert clock.local_now().isoformat() == "2026-10-01T09:00:00+08:00"
    finally:
        clock.pin(None)


def test_production_refuses_to_start_without_a_real_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig)
    monkeypatch.setenv("SECRET_KEY", "dev-insecure-key")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig)


def test_production_refuses_tracker_now(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-key")
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", "bm90LWNoZWNrZWQtaGVyZS1qdXN0LWEtcGxhY2Vob2xkZXI=")
    monkeypatch.setenv("TRACKER_NOW", "2026-10-01T09:00:00")
    with pytest.raises(RuntimeError, match="TRACKER_NOW"):
        create_app(ProductionConfig)


def test_production_refuses_to_start_without_field_encryption_keys(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-key")
    monkeypatch.delenv("FIELD_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(RuntimeError, match="FIELD_ENCRYPTION_KEYS"):
        create_app(ProductionConfig)


def test_production_refuses_to_start_without_an_audit_key(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-key")
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", "bm90LWNoZWNrZWQtaGVyZS1qdXN0LWEtcGxhY2Vob2xkZXI=")
    monkeypatch.delenv("TRACKER_NOW", raising=False)
    monkeypatch.setenv("AUDIT_HMAC_KEY", "short")
    with pytest.raises(RuntimeError, match="AUDIT_HMAC_KEY"):
        create_app(ProductionConfig)


def test_production_cookies_are_secure_httponly_and_samesite():
    assert ProductionConfig.SESSION_COOKIE_SECURE
    assert ProductionConfig.SESSION_COOKIE_HTTPONLY
    assert ProductionConfig.SESSION_COOKIE_SAMESITE == "Lax"
