"""E-mail through a real SMTP server on loopback, webhooks to a real HTTP receiver, retries with
back-off, digests, the elected scheduler runner, and the settings page."""

import base64
import hashlib
import hmac
import json
import socket
import urllib.parse
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from tests.conftest import login, post_form
from tracker.alerts import services
from tracker.alerts.models import Delivery, Notification, Webhook
from tracker.alerts.scan import scan
from tracker.alerts.sink import MailKeeper, serve_webhooks
from tracker.auth.models import User
from tracker.core import clock, crypto
from tracker.extensions import db


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp(app):
    keeper = MailKeeper()
    port = free_port()
    controller = Controller(keeper, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    yield keeper
    controller.stop()
    app.config.update(MAIL_SERVER="", MAIL_PORT=25)


@pytest.fixture
def overdue(app, make):
    """A yellow problem of UA, 3 working days overdue on 2026-10-21; people have e-mail addresses."""
    make.org()
    with app.app_context():
        for name in ("unita", "inspector", "leader"):
            db.session.scalar(select(User).where(User.username == name)).email = f"{name}@example.gov.cn"
        db.session.commit()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(
        title="希望延长开放时间",
        body="周末开放时间短。",
        assign={"tier": "yellow", "leader": "leader"},
        complainant_name="张三丰",
        complainant_phone="13812345678",
    )
    return number


def test_alerts_are_mailed_through_smtp_without_the_complainant(app_ctx, smtp, overdue):
    clock.pin("2026-10-21T09:00:00")
    scan()
    counts = services.deliver_pending()
    db.session.commit()
    assert counts["sent"] >= 3 and counts["retry"] == 0
    recipients = {m["To"] for m in smtp.messages}
    assert {"unita@example.gov.cn", "inspector@example.gov.cn", "leader@example.gov.cn"} <= recipients
    text = " ".join(m["Subject"] + m.get_content() for m in smtp.messages)
    assert overdue in text and "督〔2026〕1号" in text
    assert "张三丰" not in text and "13812345678" not in text and "138****" not in text


def test_a_webhook_that_fails_twice_then_succeeds_is_delivered_once(app_ctx, overdue):
    receiver = serve_webhooks(free_port(), answers=[500, 503])
    try:
        db.session.add(
            Webhook(name="全局", kind="json", url=f"http://127.0.0.1:{receiver.server_port}/hook", is_active=True)
        )
        db.session.commit()
        clock.pin("2026-10-19T09:00:00")
        scan()
        db.session.commit()
        pending = db.session.scalars(select(Delivery).where(Delivery.channel == "webhook")).all()
        assert len(pending) == 3  # not accepted, overdue, reminder
        for minutes in (0, 1, 2, 4, 8):
            clock.pin(clock.now() + timedelta(minutes=minutes))
            services.deliver_pending()
            db.session.commit()
        statuses = db.session.execute(
            select(Delivery.status, Delivery.attempts).where(Delivery.channel == "webhook").order_by(Delivery.id)
        ).all()
        assert [s for s, _a in statuses] == ["sent", "sent", "sent"]
        assert len(receiver.received) == 5  # two failures, then each of the three delivered once
        bodies = [json.loads(r["body"]) for r in receiver.received]
        assert all(b["problem"] == overdue for b in bodies) and "张三丰" not in str(bodies)
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_an_unreachable_webhook_never_breaks_the_other_deliveries(app_ctx, smtp, overdue):
    db.session.add(Webhook(name="坏地址", kind="json", url=f"http://127.0.0.1:{free_port()}/nobody", is_active=True))
    db.session.commit()
    clock.pin("2026-10-19T09:00:00")
    scan()
    counts = services.deliver_pending()
    db.session.commit()
    assert counts["retry"] == 3 and counts["sent"] >= 1 and smtp.messages
    failed = db.session.scalar(select(Delivery).where(Delivery.channel == "webhook"))
    assert failed.status == "pending" and failed.attempts == 1 and "Error" in failed.last_error
    assert failed.next_attempt_at == clock.now() + timedelta(minutes=1)


def test_dingtalk_posts_are_markdown_and_signed(app_ctx, overdue):
    receiver = serve_webhooks(free_port())
    try:
        hook = Webhook(
            name="钉钉群",
            kind="dingtalk",
            url=f"http://127.0.0.1:{receiver.server_port}/robot/send?access_token=abc",
            secret_enc=crypto.encrypt("SEC-test-secret"),
            is_active=True,
        )
        db.session.add(hook)
        db.session.commit()
        clock.pin("2026-10-19T09:00:00")
        services.post_webhook(hook, {"title": "测试", "text": "第一行\n第二行", "problem": None})
        request = receiver.received[0]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["path"]).query)
        timestamp = query["timestamp"][0]
        expected = base64.b64encode(
            hmac.new(b"SEC-test-secret", f"{timestamp}\nSEC-test-secret".encode(), hashlib.sha256).digest()
        ).decode()
        assert query["sign"][0] == expected and query["access_token"] == ["abc"]
        body = json.loads(request["body"])
        assert body["msgtype"] == "markdown" and body["markdown"]["title"] == "测试"
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_wecom_posts_use_its_markdown_format(app_ctx):
    hook = Webhook(name="企微", kind="wecom", url="http://127.0.0.1:1/cgi-bin/webhook/send?key=k", is_active=True)
    url, body = services.webhook_request(hook, {"title": "标题", "text": "内容", "problem": None})
    assert json.loads(body) == {"msgtype": "markdown", "markdown": {"content": "**标题**\n内容"}}


def test_leader_digest_on_working_days_only_once_and_only_with_news(app_ctx, smtp, overdue):
    from datetime import date

    leader = db.session.scalar(select(User).where(User.username == "leader"))
    assert services.daily_digest(date(2026, 10, 2)) == 0  # a holiday
    assert services.daily_digest(date(2026, 10, 9)) == 0  # nothing overdue or due soon yet
    clock.pin("2026-10-21T08:30:00")
    assert services.daily_digest(date(2026, 10, 21)) == 1
    assert services.daily_digest(date(2026, 10, 21)) == 0  # the next run sends nothing twice
    services.deliver_pending()
    db.session.commit()
    digest = db.session.scalar(
        select(Notification).where(Notification.user_id == leader.id, Notification.kind == "digest.daily")
    )
    assert "逾期 1 件" in digest.title and overdue in digest.body and "甲单位" in digest.body
    assert any("日报" in m["Subject"] for m in smtp.messages)


def test_only_one_of_two_schedulers_runs_a_job(app_ctx):
    from tracker.jobs import lease

    clock.pin("2026-10-21T09:00:00")
    assert lease.acquire("deadline_scan", timedelta(minutes=10), holder="host-a:1")
    assert not lease.acquire("deadline_scan", timedelta(minutes=10), holder="host-b:2")
    assert lease.acquire("deadline_scan", timedelta(minutes=10), holder="host-a:1")  # renewal
    clock.pin(clock.now() + timedelta(minutes=11))  # host-a died; its lease ran out
    assert lease.acquire("deadline_scan", timedelta(minutes=10), holder="host-b:2")


def test_scheduler_once_runs_the_scan_job(app, overdue):
    clock.pin("2026-10-21T09:00:00")
    result = app.test_cli_runner().invoke(args=["scheduler", "--once", "deadline_scan"])
    assert result.exit_code == 0 and "ran" in result.output
    with app.app_context():
        from tracker.alerts.models import Alert

        assert db.session.scalar(select(func.count()).select_from(Alert)) >= 3


def test_admin_settings_page_saves_thresholds_and_sends_tests(app, client, smtp, make):
    make.org()
    login(client, "admin")
    assert client.get("/admin/alerts").status_code == 200
    values = {"target": "thresholds", "accept_within_days": "2", "reply_days": "3"}
    for tier in ("red", "yellow", "blue", "quick_fix"):
        values.update({f"soon_{tier}": "1", f"reminder_{tier}": "1", f"supervise_{tier}": "2", f"listed_{tier}": "4"})
    assert post_form(client, "/admin/alerts", values).status_code == 302
    with app.app_context():
        from tracker.alerts.scan import settings

        assert settings()["ladder"]["blue"] == {"reminder": 1, "supervise": 2, "listed": 4}
    bad = post_form(client, "/admin/alerts", {**values, "listed_red": "0"})
    assert bad.status_code == 422
    sent = post_form(client, "/admin/alerts", {"target": "mail_test", "address": "admin@example.gov.cn"})
    assert sent.status_code == 302 and smtp.messages[-1]["To"] == "admin@example.gov.cn"
    refused = post_form(
        client, "/admin/alerts", {"target": "webhook", "name": "x", "kind": "json", "url": "file:///etc/passwd"}
    )
    assert refused.status_code == 422
    for username in ("inspector", "leader", "unita"):
        other = app.test_client()
        login(other, username)
        assert other.get("/admin/alerts").status_code == 403


def test_inbox_shows_unread_count_and_marks_read(app, client, overdue):
    app.test_cli_runner().invoke(args=["alerts", "scan", "--now", "2026-10-21T09:00:00"])
    login(client, "unita")
    home = client.get("/").get_data(as_text=True)
    assert 'id="unread-count"' in home
    inbox = client.get("/inbox").get_data(as_text=True)
    assert overdue in inbox
    post_form(client, "/inbox/read", {}, form_page="/inbox")
    assert 'id="unread-count"' not in client.get("/").get_data(as_text=True)
