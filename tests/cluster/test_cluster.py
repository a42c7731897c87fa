"""Several app servers and schedulers on one PostgreSQL database (`make e2e-cluster`; issue 12).

Starts what a two-server deployment runs, from deploy/gunicorn.conf.py and the production
configuration: two gunicorn instances (2 workers each) on two ports and two `flask scheduler`
processes, sharing the database, the file directory, the secrets and the Redis rate-limit store;
e-mail goes to a real SMTP server on loopback (aiosmtpd). Then drives them over HTTP:

- both servers upgrade the empty database at once, as their units do when they start;
- a user logs in through one server and goes on through the other (the session is a signed cookie
  checked against the database, not anything a process keeps);
- evidence uploaded through one server downloads, byte for byte, through the other;
- one overdue problem yields exactly one alert and one e-mail in total, though both schedulers try
  to run the scan and the delivery (the job leases elect one);
- the per-address limit of the public lookup is shared: lookups spread over both servers add up.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from config import TestConfig
from tests.conftest import DEFAULT_PASSWORD, Factory
from tracker import create_app
from tracker.core import calendar, clock
from tracker.extensions import db

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BASE_URL = os.environ.get("CLUSTER_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """The SMTP server's handler: every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, _server, _session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def _wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _up(port) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    name = f"tracker_cluster_{uuid.uuid4().hex[:8]}"
    admin = create_engine(BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(BASE_URL).set(database=name).render_as_string(hide_password=False)
    storage = tmp_path_factory.mktemp("shared-storage")
    logs = tmp_path_factory.mktemp("logs")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    env = {
        **os.environ,
        "TRACKER_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": "cluster-" + uuid.uuid4().hex,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "AUDIT_HMAC_KEY": "cluster-audit-" + uuid.uuid4().hex,
        "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback; production keeps it on
        "STORAGE_DIR": str(storage),
        "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:6379/{9 + os.getpid() % 6}",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "2",
    }
    env.pop("TRACKER_NOW", None)
    # both servers run `flask db upgrade` as they start (tracker-web.service): at once, on an empty database
    upgrades = [
        subprocess.Popen([BIN / "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
        for _server in range(2)
    ]
    for upgrade in upgrades:
        _out, err = upgrade.communicate(timeout=300)
        assert upgrade.returncode == 0, err.decode()[-2000:]
    data = _seed(url, env, storage)
    import redis

    redis.Redis.from_url(env["RATELIMIT_STORAGE_URI"]).flushdb()
    processes, files, ports = [], [], [_free_port(), _free_port()]
    try:
        for i, port in enumerate(ports):
            log = open(logs / f"web{i}.log", "w")  # noqa: SIM115 - closed with the process
            files.append(log)
            processes.append(
                subprocess.Popen(
                    [BIN / "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
                    cwd=ROOT,
                    env={**env, "BIND": f"127.0.0.1:{port}"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
        for port in ports:
            _wait_until(lambda port=port: _up(port), 60, f"gunicorn on {port}")
        schedulers = []
        for i in range(2):
            log = open(logs / f"scheduler{i}.log", "w")  # noqa: SIM115 - closed with the process
            files.append(log)
            schedulers.append(logs / f"scheduler{i}.log")
            processes.append(
                subprocess.Popen(
                    [BIN / "flask", "--app", "wsgi", "scheduler"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield {"urls": [f"http://127.0.0.1:{p}" for p in ports], "url": url, "inbox": inbox, "schedulers": schedulers,
               "env": env, **data}  # fmt: skip
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in files:
            log.close()
        smtp.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(storage, ignore_errors=True)


def _seed(url, env, storage) -> dict:
    """The organisation, one user with an e-mail address (the inspector), one problem in progress whose
    deadline passed three working days ago, and alert settings under which it raises one alert only
    (the ladder's steps are far away)."""

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        FIELD_ENCRYPTION_KEYS = env["FIELD_ENCRYPTION_KEYS"]
        AUDIT_HMAC_KEY = env["AUDIT_HMAC_KEY"]
        STORAGE_DIR = str(storage)

    app = create_app(Config)
    make = Factory(app)
    make.unit("UA", "甲单位")
    make.user("inspector", "inspector", email="inspector@example.gov.cn")
    make.user("unita", "unit", unit="UA")
    make.user("leader", "leader", leader_units=["UA"])
    number = make.problem(assign={"tier": "yellow", "tier_override_reason": "按实际情况"})
    with app.app_context():
        from tracker.alerts.scan import DEFAULTS
        from tracker.auth.models import User
        from tracker.ledger.models import Problem
        from tracker.settings.services import put_setting
        from tracker.workflow import services as workflow

        owner = db.session.scalar(select(User).where(User.username == "unita"))
        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        workflow.apply(problem, "accept", actor=owner, expected_version=problem.version)
        far = {tier: {"reminder": 90, "supervise": 95, "listed": 99} for tier in DEFAULTS["ladder"]}
        put_setting("alerts", {**DEFAULTS, "ladder": far}, actor=None)
        past = calendar.add_workdays(clock.today(), -3)
        db.session.execute(update(Problem).where(Problem.id == problem.id).values(deadline=past))
        db.session.commit()
        problem_id = problem.id
    with app.app_context():
        db.engine.dispose()
    return {"number": number, "problem_id": problem_id}


def _login(session, base, username):
    page = session.get(f"{base}/login")
    token = CSRF.search(page.text).group(1)
    return session.post(
        f"{base}/login", data={"username": username, "password": DEFAULT_PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )  # fmt: skip


def test_a_user_logs_in_through_one_server_and_goes_on_through_the_other(cluster):
    one, other = cluster["urls"]
    session = requests.Session()
    assert _login(session, one, "inspector").status_code == 302
    page = session.get(f"{other}/ledger/", allow_redirects=False)
    assert page.status_code == 200 and cluster["number"] in page.text
    # and a form rendered by one server is accepted by the other (the CSRF token is the session's)
    token = CSRF.search(session.get(f"{one}/inbox").text).group(1)
    answer = session.post(f"{other}/inbox/read", data={"csrf_token": token}, allow_redirects=False)
    assert answer.status_code == 302
    # logging out through the other server ends the session on both
    logout_token = CSRF.search(session.get(f"{other}/ledger/").text).group(1)
    session.post(f"{other}/logout", data={"csrf_token": logout_token})
    assert session.get(f"{one}/ledger/", allow_redirects=False).status_code == 302


def test_an_upload_through_one_server_downloads_through_the_other(cluster):
    one, other = cluster["urls"]
    session = requests.Session()
    assert _login(session, one, "unita").status_code == 302
    page = session.get(f"{one}/ledger/{cluster['number']}")
    token = CSRF.search(page.text).group(1)
    content = b"%PDF-1.4\n" + os.urandom(50_000) + b"\n%%EOF\n"
    answer = session.post(
        f"{one}/ledger/{cluster['number']}/evidence",
        data={"csrf_token": token},
        files={"file": ("整改报告.pdf", content, "application/pdf")},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    links = re.findall(r'href="(/ledger/evidence/\d+)"', session.get(f"{other}/ledger/{cluster['number']}").text)
    assert links, "the evidence is listed on the other server"
    download = session.get(f"{other}{links[-1]}")
    assert download.status_code == 200 and download.content == content


def test_one_overdue_problem_yields_one_alert_and_one_email_in_total(cluster):
    from tracker.alerts.models import Alert, Delivery

    engine = create_engine(cluster["url"])

    def alerts():
        with engine.connect() as conn:
            return conn.execute(select(Alert.kind, Alert.step).where(Alert.problem_id == cluster["problem_id"])).all()

    def sent():
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "sent"))

    try:
        _wait_until(lambda: cluster["inbox"].messages and sent(), 90, "the alert's e-mail")
        time.sleep(8)  # both schedulers have had their turn at the scan and the delivery by now
        assert [kind for kind, _step in alerts()] == ["overdue"]
        assert len(cluster["inbox"].messages) == 1 and sent() == 1
        message = cluster["inbox"].messages[0]
        assert message.rcpt_tos == ["inspector@example.gov.cn"]
        logs = [path.read_text() for path in cluster["schedulers"]]
        assert sum(log.count("deadline scan:") for log in logs) == 1, logs
        assert any("another scheduler holds the lease" in log for log in logs), logs
    finally:
        engine.dispose()


def test_the_lookup_limit_is_shared_by_the_servers(cluster):
    """PUBLIC_LOOKUP_LIMIT (10 a minute per address): lookups spread over both servers add up, in Redis."""
    one, other = cluster["urls"]
    codes = [
        requests.post(
            f"{(one, other)[i % 2]}/api/v1/public/track", json={"code": "X" * 12, "pin": "000000"}, timeout=10
        ).status_code
        for i in range(12)
    ]
    assert 429 not in codes[:10] and codes[10:] == [429, 429], codes
