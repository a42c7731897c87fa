"""Covert means covert: a unit user (and a leader of the unit) who crawls every page, download, API
answer and message they can reach finds no trace of an open re-inspection batch, its selection or
its inspectors; once a visit is recorded they see the result and the findings, never who visited."""

import pytest
from sqlalchemy import select

from tests.api.test_intake_api import token_for
from tests.conftest import login
from tests.crawl import api_texts, crawl, find, inbox_texts
from tracker.alerts.scan import scan
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.intake.models import KINDS, Channel
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem
from tracker.oversight import services as inspections
from tracker.oversight.models import InspectionBatch
from tracker.workflow import services as workflow

TITLE_MARKER = "专项暗访QZX7"
INSPECTORS = {"qzx_insp1": "稽查员QZX甲", "qzx_insp2": "稽查员QZX乙", "qzx_insp3": "稽查员QZX丙"}
WORDS = ["暗访", "复查批次", "inspection"]
FINDINGS = "窗口仍无人值守QZX7"
LIMIT = 400


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _do(app, number, action, actor, **details):
    with app.app_context():
        problem = _problem(number)
        workflow.apply(problem, action, actor=_user(actor), expected_version=problem.version, **details)
        db.session.commit()


def _to_sign_off(app, make, tier, title):
    """A problem of UA assigned with TIER, accepted and submitted (evidence waived)."""
    number = make.problem(
        title=title, body=f"{title}，群众反映多次。", assign={"tier": tier, "tier_override_reason": "按实际影响定级"}
    )
    _do(app, number, "accept", "unita")
    with app.app_context():
        ledger_services.waive_evidence(_problem(number), actor=_user("inspector"), reason="以现场照片为准")
        db.session.commit()
    _do(app, number, "submit", "unita", report="<p>已安排专人值守</p>")
    return number


@pytest.fixture
def covert(app, make):
    """UA with three closed problems in an open random 双随机 batch (two drawn) and a red problem
    waiting in its verification batch; an in-progress problem outside every batch."""
    make.org()
    for username, name in INSPECTORS.items():
        make.user(username, "inspector", name=name)
    clock.pin("2026-11-02T09:00:00")
    closed = []
    for title in ("办事大厅窗口无人", "审批材料反复要求补正", "咨询电话长期占线"):
        number = _to_sign_off(app, make, "yellow", title)
        _do(app, number, "approve", "inspector", opinion="整改到位")
        closed.append(number)
    red = _to_sign_off(app, make, "red", "违规收取办证费用")
    _do(app, red, "approve", "inspector", opinion="已退还费用")  # → 待核查, in a verification batch
    working = make.problem(title="停车场收费不透明", assign={"tier": "blue", "tier_override_reason": "按实际影响定级"})
    _do(app, working, "accept", "unita")
    clock.pin("2026-11-03T09:00:00")
    with app.app_context():
        ledger_services.add_note(_problem(working), "instruction", "<p>抓紧整改</p>", actor=_user("leader"))
        scan()
        db.session.commit()
        for username in ("unita", "leader"):
            _user(username).email = f"{username}@example.org"
        batch = inspections.create_batch(
            {
                "method": "random",
                "filter": {"unit_code": "UA", "status": "closed"},
                "sample_size": 2,
                "seed": 20261103,
                "inspectors": list(INSPECTORS),
                "per_problem": 2,
                "double_random": True,
                "title": f"{TITLE_MARKER}（窗口服务）",
            },
            actor=_user("inspector"),
        )
        db.session.commit()
        batches = db.session.scalars(select(InspectionBatch).order_by(InspectionBatch.id)).all()
        assert [b.is_verification for b in batches] == [True, False] and all(b.status == "open" for b in batches)
        drawn = [item.problem.number for item in batch.items]
        return {
            "batch_id": batch.id,
            "numbers": [b.number for b in batches],
            "drawn": drawn,
            "red": red,
            "closed": closed,
        }


def _markers(covert):
    return [*covert["numbers"], TITLE_MARKER, *INSPECTORS.values(), *INSPECTORS]


def _everything(app, username):
    """Every page, download, API answer and message USERNAME can reach, as {where: text}."""
    client = app.test_client()
    assert login(client, username).status_code == 302
    texts = crawl(client, limit=LIMIT)
    assert texts.complete, f"the crawl stopped at {LIMIT} pages"
    pages = dict(texts)
    token = token_for(app, username)
    pages.update({f"api {k}": v for k, v in api_texts(app.test_client(), token).items()})
    with app.app_context():
        pages.update(inbox_texts(_user(username).id))
    return pages


@pytest.mark.parametrize("username", ["unita", "leader"])
def test_an_open_batch_leaves_no_trace_for_the_unit(app, covert, username):
    pages = _everything(app, username)
    # The crawl saw what a unit works with: the problems in the batch, downloads, the API.
    for number in [*covert["drawn"], covert["red"]]:
        assert f"/ledger/{number}" in pages
        assert number in pages[f"api /api/v1/problems/{number}"]
    assert any(url.startswith("/ledger/export.") for url in pages)
    assert username == "leader" or any(url.startswith("notification:") for url in pages)
    assert find(pages, [*_markers(covert), *WORDS], allow=_channels(app)) == []


def _channels(app):
    """Channel names such as 暗访发现 and the record kind 暗访问题: problems found on a covert visit
    are a source like any other, named in every filter, batch or no batch."""
    with app.app_context():
        names = [c.name for c in db.session.scalars(select(Channel))]
    return [name for name in [*names, *KINDS] if "暗访" in name]


@pytest.mark.parametrize("username", ["unita", "leader"])
def test_after_the_visit_the_unit_sees_result_and_findings_not_who_or_which_batch(app, covert, username):
    failed = covert["drawn"][0]
    with app.app_context():
        batch = db.session.get(InspectionBatch, covert["batch_id"])
        inspections.record_visit(
            batch,
            {"problem": failed, "visited_on": "2026-11-03", "way": "模拟办事", "findings": FINDINGS, "result": "fail"},
            actor=_user("qzx_insp1"),
        )
        db.session.commit()
        problem = _problem(failed)
        assert (problem.status, problem.relapse_count) == ("in_progress", 1)
    pages = _everything(app, username)
    page = pages[f"/ledger/{failed}"]
    assert FINDINGS in page and "整改中" in page
    assert find(pages, _markers(covert)) == []
    # The batch still open (the other drawn problem) and the verification batch stay hidden: no
    # page names another problem of the batch together with a re-inspection.
    other = covert["drawn"][1]
    assert "复查" not in pages[f"/ledger/{other}"] and "复查" not in pages[f"/ledger/{covert['red']}"]


def test_the_crawl_finds_the_batch_where_it_is_shown(app, covert):
    """The same crawl as an inspector reaches the batch pages: a blind crawler would prove nothing."""
    pages = _everything(app, "inspector")
    hits = find(pages, _markers(covert))
    for marker in [*covert["numbers"], TITLE_MARKER, *INSPECTORS.values()]:
        assert any(repr(marker) in hit for hit in hits), marker


@pytest.mark.parametrize("username", ["unita", "leader"])
def test_the_batch_addresses_do_not_exist_for_the_unit(app, covert, username):
    client = app.test_client()
    login(client, username)
    token = token_for(app, username)
    batch_id = covert["batch_id"]
    for path in (f"/inspections/{batch_id}", f"/inspections/{batch_id}/plan", f"/inspections/{batch_id}.xlsx"):
        assert client.get(path).status_code in (403, 404), path
    response = client.get(f"/api/v1/inspections/{batch_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
