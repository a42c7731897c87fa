"""Scheduled reports: the weekly summary e-mails each inspector and leader the unit ranking of the
last full week and the overdue list as Excel, scoped to what that person may see, through a real SMTP
server on loopback; the leader's daily digest links to the dashboard and the overdue list."""

import io
import logging
from datetime import date

import openpyxl
import pytest
from sqlalchemy import select

from tests.alerts.test_delivery import smtp  # noqa: F401 - the loopback SMTP fixture
from tracker.alerts import services
from tracker.alerts.models import Delivery, Notification
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db

MONDAY = date(2026, 10, 26)  # the summary covers the week 2026-10-19 … 2026-10-25
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def two_units(app, make):
    """An overdue problem of UA (in the leader's charge) and one of UB (not); everyone has e-mail."""
    make.org()
    with app.app_context():
        for name in ("inspector", "leader", "unita"):
            db.session.scalar(select(User).where(User.username == name)).email = f"{name}@example.gov.cn"
        db.session.commit()
    clock.pin("2026-09-28T09:00:00")
    ours = make.problem(unit="UA", title="甲单位窗口推诿", assign={"tier": "yellow", "leader": "leader"})
    theirs = make.problem(unit="UB", title="乙单位办事拖延", assign={"tier": "yellow"})
    clock.pin("2026-10-26T09:00:00")
    return ours, theirs


def _mail_to(keeper, address):
    found = [m for m in keeper.messages if m["To"] == address]
    assert len(found) == 1, [m["To"] for m in keeper.messages]
    return found[0]


def _workbooks(message):
    """{file name: all cell text of the workbook} of the message's attachments."""
    books = {}
    for part in message.iter_attachments():
        assert part.get_content_type() == XLSX
        sheet = openpyxl.load_workbook(io.BytesIO(part.get_content())).active
        books[part.get_filename()] = "\n".join(
            " ".join(str(c) for c in row if c is not None) for row in sheet.iter_rows(values_only=True)
        )
    return books


def test_weekly_summary_attaches_the_ranking_and_the_overdue_list_scoped_to_each_reader(app_ctx, smtp, two_units):  # noqa: F811
    ours, theirs = two_units
    assert services.weekly_summary(MONDAY) == 2  # the inspector and the leader
    db.session.commit()
    counts = services.deliver_pending()
    db.session.commit()
    assert counts == {"sent": 2, "retry": 0, "failed": 0}

    leader = _mail_to(smtp, "leader@example.gov.cn")
    body = leader.get_body(preferencelist=("plain",)).get_content()
    assert "http://127.0.0.1:5000/reports/dashboard" in body and "/reports/overdue" in body
    assert "2026-10-19 至 2026-10-25" in body
    books = _workbooks(leader)
    names = sorted(books)
    assert len(names) == 2
    ranking_name = next(n for n in names if "排名" in n)
    overdue_name = next(n for n in names if "逾期" in n)
    assert ranking_name.endswith(".xlsx") and overdue_name.endswith(".xlsx")  # Chinese names survive
    assert ranking_name in body and overdue_name in body
    assert ours in books[overdue_name] and theirs not in books[overdue_name]
    assert "乙单位" not in books[overdue_name] and "乙单位" not in books[ranking_name]
    assert "甲单位" in books[ranking_name]

    inspector = _workbooks(_mail_to(smtp, "inspector@example.gov.cn"))
    overdue_text = next(text for name, text in inspector.items() if "逾期" in name)
    ranking_text = next(text for name, text in inspector.items() if "排名" in name)
    assert ours in overdue_text and theirs in overdue_text
    assert "甲单位" in ranking_text and "乙单位" in ranking_text
    assert not [m for m in smtp.messages if m["To"] == "unita@example.gov.cn"]  # unit users get no summary


def test_the_summary_runs_once_a_day_scoped_to_each_readers_units(app_ctx, smtp, two_units):  # noqa: F811
    assert services.weekly_summary(MONDAY) == 2
    assert services.weekly_summary(MONDAY) == 0
    db.session.commit()
    leader = db.session.scalar(select(User).where(User.username == "leader"))
    note = db.session.scalar(
        select(Notification).where(Notification.user_id == leader.id, Notification.kind == "digest.weekly")
    )
    assert "周报" in note.title and "当前逾期 1 件" in note.title  # the leader's units only
    inspector = db.session.scalar(select(User).where(User.username == "inspector"))
    title = db.session.scalar(
        select(Notification.title).where(Notification.user_id == inspector.id, Notification.kind == "digest.weekly")
    )
    assert "当前逾期 2 件" in title
    assert db.session.scalar(select(db.func.count()).select_from(Delivery)) == 2


def test_one_readers_failing_attachments_do_not_stop_the_others(app_ctx, smtp, two_units, monkeypatch, caplog):  # noqa: F811
    """Fault injection: the overdue file of the leader cannot be built. The leader still gets the
    summary (without files, saying so) and the failure is logged; the inspector gets both files."""
    from tracker.reports import overdue

    real = overdue.xlsx_attachment

    def broken_for_leaders(user, args=None):
        if user.username == "leader":
            db.session.execute(select(db.text("no_such_column")))  # a real failing statement
        return real(user, args)

    monkeypatch.setattr(overdue, "xlsx_attachment", broken_for_leaders)
    with caplog.at_level(logging.ERROR, logger="tracker.alerts.services"):
        assert services.weekly_summary(MONDAY) == 2
    db.session.commit()
    assert any("attachments" in r.getMessage() for r in caplog.records)
    services.deliver_pending()
    db.session.commit()
    leader = _mail_to(smtp, "leader@example.gov.cn")
    assert list(leader.iter_attachments()) == []
    assert "附件生成失败" in leader.get_content() and "/reports/dashboard" in leader.get_content()
    assert len(list(_mail_to(smtp, "inspector@example.gov.cn").iter_attachments())) == 2


def test_the_leaders_daily_digest_links_to_the_dashboard_and_the_overdue_list(app, app_ctx, smtp, two_units):  # noqa: F811
    app.config["PUBLIC_BASE_URL"] = "https://zhenggai.example.gov.cn/"
    try:
        assert services.daily_digest(MONDAY) == 1
        db.session.commit()
        services.deliver_pending()
        db.session.commit()
    finally:
        app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:5000"
    text = _mail_to(smtp, "leader@example.gov.cn").get_content()
    assert "https://zhenggai.example.gov.cn/reports/dashboard" in text
    assert "https://zhenggai.example.gov.cn/reports/overdue" in text


def test_attachments_with_chinese_names_go_through_smtp_intact(app_ctx, smtp):  # noqa: F811
    services.queue_email(["a@example.gov.cn"], "测试附件", "正文", [("单位排名通报.xlsx", XLSX, b"PK\x03\x04abc")])
    services.queue_email(["b@example.gov.cn"], "无附件", "正文")  # the old callers: no attachments
    db.session.commit()
    assert services.deliver_pending()["sent"] == 2
    db.session.commit()
    [part] = list(_mail_to(smtp, "a@example.gov.cn").iter_attachments())
    assert part.get_filename() == "单位排名通报.xlsx" and part.get_content() == b"PK\x03\x04abc"
    assert list(_mail_to(smtp, "b@example.gov.cn").iter_attachments()) == []
