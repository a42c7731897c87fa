"""Authorization matrix (issue 13): every endpoint of the URL map × GET and POST × anonymous, admin,
inspector, leader, the owning unit's user and another unit's user, with the expected answer for each.

The objects in the paths (problem, record, notice, evidence, extension request, milestone, inspection
batch) belong to unit UA: `unita` is the owning unit's user, `unitb` another unit's. POSTs carry an empty
body, or where an empty one is turned away before the permission check the BODIES one (and a valid
CSRF token on pages): an authorised POST fails validation or is refused by the state
machine (400/409/422, or a redirect back with a flash), an unauthorised one is refused (401/403/404, or
a redirect to the login page), so the tests check who may act, not what the form says, and the world
is built once. State-changing POSTs that an empty body does not stop (toggle a user or unit, reset a
password) aim at a spare unit and user nobody else uses.

Answers: each row gives the six roles' answers in ROLES' order, an exact status or "L" for a 302 to
/login. EXPECTED names every endpoint with the rows of its rule (a named row, or a literal where the
rule is the endpoint's own), so a new route, or a changed rule, fails. Some cells answer for another
endpoint at the same address: GET /api/v1/problems is api.list_problems, POST api.create_problem (and
so for the follow-ups); GET /ledger/campaign is the problem page of a number "campaign" (404).
Not exercised beyond the look-up: the import batch, inspection photo and follow-up ids do not exist.
"""

import io

import pytest
from flask import url_for
from sqlalchemy import select

from tests.api.test_intake_api import auth, token_for
from tests.conftest import CSRF_RE, Factory, _wipe, login
from tracker.core import clock
from tracker.extensions import db

ROLES = ("anon", "admin", "inspector", "leader", "unita", "unitb")
METHODS = ("GET", "POST")


# One row per method: the answers of anon, admin, inspector, leader, unita, unitb in that order;
# "L" is a redirect to the login page. Rows by rule, named after who gets through:
# roles:          anon admin insp leader unita unitb
PUBLIC = "200 200 200 200 200 200"
NO = "405 405 405 405 405 405"  # the method is not served at this address (pages)
API_NO = "401 405 405 405 405 405"  # the API asks for a token first
LOGGED_IN = "L 200 200 200 200 200"
OWN_OBJECT = "L 200 200 200 200 404"  # everyone with the object's unit in scope; others: no such object
ADMIN = "L 200 403 403 403 403"
ADMIN_ACTS = "L 302 403 403 403 403"
ADMIN_FORM = "L 422 403 403 403 403"
INSPECTOR = "L 403 200 403 403 403"
INSPECTOR_ACTS = "L 403 302 403 403 403"
INSPECTOR_FORM = "L 403 422 403 403 403"
INSPECTOR_ACTS_ON_OBJECT = "L 403 302 403 403 404"
INSPECTOR_FORM_ON_OBJECT = "L 403 422 403 403 404"
STAFF = "L 200 200 403 403 403"  # admins and inspectors
STAFF_FORM = "L 422 422 403 403 403"
OVERSIGHT = "L 200 200 404 404 404"  # inspections: to anyone else they do not exist (DESIGN §API)
REPORTS = "L 200 200 200 403 403"  # report.view: not the units
IMPORT_BATCH = "L 404 404 403 403 403"  # intake.import; the batch id does not exist
OWNING_UNIT_ACTS = "L 403 403 403 302 404"
OWNING_UNIT_FORM = "L 403 403 403 422 404"
OWNING_UNIT_STALE = "L 403 403 403 409 404"  # a unit step sent from a stale version
API_LOGGED_IN = "401 200 200 200 200 200"
API_OWN_OBJECT = "401 200 200 200 200 404"
API_REPORTS = "401 200 200 200 403 403"
API_INSPECTOR = "401 403 200 403 403 403"
API_INSPECTOR_ACTS = "401 403 422 403 403 403"

EXPECTED = {
    "alerts.inbox": (LOGGED_IN, NO),
    "alerts.issue_notice": (NO, INSPECTOR_ACTS_ON_OBJECT),
    "alerts.mark_read": (NO, "L 302 302 302 302 302"),
    "alerts.notice": (OWN_OBJECT, NO),
    "alerts.notice_docx": (OWN_OBJECT, NO),
    "alerts.notice_register": (LOGGED_IN, NO),
    "alerts.settings_page": (ADMIN, ADMIN_ACTS),
    "api.bulk_intake": (API_NO, API_INSPECTOR_ACTS),
    "api.create_followup": (API_INSPECTOR, API_INSPECTOR_ACTS),
    "api.create_inspection": (API_NO, API_INSPECTOR_ACTS),
    "api.create_intake": (API_NO, API_INSPECTOR_ACTS),
    "api.create_problem": (API_LOGGED_IN, API_INSPECTOR_ACTS),
    "api.dashboard_report": (API_REPORTS, API_NO),
    "api.decide_extension": (API_NO, "401 403 409 403 403 404"),
    "api.get_inspection": ("401 200 200 404 404 404", API_NO),
    "api.get_intake": (API_OWN_OBJECT, API_NO),
    "api.get_problem": (API_OWN_OBJECT, API_NO),
    "api.list_alerts": (API_LOGGED_IN, API_NO),
    "api.list_followups": (API_INSPECTOR, API_INSPECTOR_ACTS),
    "api.list_problems": (API_LOGGED_IN, API_INSPECTOR_ACTS),
    "api.openapi": (PUBLIC, API_NO),
    "api.overdue_report": (API_REPORTS, API_NO),  # as the overdue page: units have their own lists
    "api.ranking_report": (API_REPORTS, API_NO),
    "api.record_visit": (API_NO, "401 403 422 404 404 404"),
    "api.request_extension": (API_NO, "401 403 403 403 422 404"),
    "api.reveal_intake": (API_NO, "401 200 200 403 403 404"),
    "api.transition": (API_NO, "401 403 403 403 409 404"),
    "api.upload_evidence": (API_NO, "401 403 403 403 201 404"),
    "audit.export": (STAFF, NO),
    "audit.index": (STAFF, NO),
    "audit.verify": (NO, STAFF),
    "auth.change_password": (LOGGED_IN, LOGGED_IN),
    "auth.login": ("200 302 302 302 302 302", "200 302 302 302 302 302"),
    "auth.logout": (NO, "L L L L L L"),
    "intake.batch": (IMPORT_BATCH, NO),
    "intake.bulk_apply": (NO, INSPECTOR_FORM),
    "intake.bulk_confirm": (NO, INSPECTOR_ACTS),
    "intake.clusters": (INSPECTOR, NO),
    "intake.create": (INSPECTOR, INSPECTOR_FORM),
    "intake.error_report": (IMPORT_BATCH, NO),
    "intake.export": (LOGGED_IN, NO),
    "intake.handle": (NO, INSPECTOR_FORM_ON_OBJECT),
    "intake.inbox": (LOGGED_IN, NO),
    "intake.mapping": (IMPORT_BATCH, IMPORT_BATCH),
    "intake.progress": (IMPORT_BATCH, NO),
    "intake.publish": (NO, INSPECTOR_ACTS_ON_OBJECT),
    "intake.receipt": (NO, "L 403 200 403 403 404"),
    "intake.reveal": (NO, "L 200 200 403 403 404"),
    "intake.show": (OWN_OBJECT, NO),
    "intake.upload": (STAFF, STAFF_FORM),
    "ledger.assign": ("L 403 200 403 403 404", "L 403 409 403 403 404"),
    "ledger.counts": (LOGGED_IN, NO),
    "ledger.export": (LOGGED_IN, NO),
    "ledger.index": (LOGGED_IN, NO),
    "ledger.people": (INSPECTOR, NO),
    "ledger.proposal": ("L 403 200 403 403 404", NO),
    "ledger.public_reply": (NO, INSPECTOR_ACTS_ON_OBJECT),
    "ledger.set_campaign": (NO, INSPECTOR_ACTS_ON_OBJECT),
    "ledger.show": (OWN_OBJECT, NO),
    "ledger.tag_campaign": ("L 404 404 404 404 404", INSPECTOR_ACTS),
    "main.favicon": (PUBLIC, NO),
    "main.health": (PUBLIC, NO),
    "main.home": (LOGGED_IN, NO),
    "main.set_language": ("302 302 302 302 302 302", NO),
    "org.edit_unit": (ADMIN, ADMIN_FORM),
    "org.edit_user": (ADMIN, ADMIN_FORM),
    "org.new_unit": (ADMIN, ADMIN_FORM),
    "org.new_user": (ADMIN, ADMIN_FORM),
    "org.reset_password": (NO, ADMIN),
    "org.toggle_unit": (NO, ADMIN_ACTS),
    "org.toggle_user": (NO, ADMIN_ACTS),
    "org.units": (ADMIN, NO),
    "org.users": (ADMIN, NO),
    "oversight.batch": (OVERSIGHT, NO),
    "oversight.batches": (OVERSIGHT, NO),
    "oversight.followup_call": (NO, INSPECTOR_FORM),
    "oversight.followup_decide": (NO, "L 403 404 403 403 403"),
    "oversight.followup_reveal": (NO, INSPECTOR_ACTS),
    "oversight.followup_settings": (ADMIN, ADMIN_FORM),
    "oversight.followup_workbench": (INSPECTOR, NO),
    "oversight.new_batch": ("L 403 200 404 404 404", "L 403 422 404 404 404"),
    "oversight.new_visit": ("L 403 302 404 404 404", "L 403 302 404 404 404"),
    "oversight.photo": ("L 404 404 404 404 404", NO),
    "oversight.plan": (OVERSIGHT, NO),
    "oversight.record": (OVERSIGHT, NO),
    "oversight.record_xlsx": (OVERSIGHT, NO),
    "oversight.redraw": (NO, OVERSIGHT),
    "public.api_track": (API_NO, "422 422 422 422 422 422"),
    "public.results": (PUBLIC, NO),
    "public.track": (PUBLIC, "422 422 422 422 422 422"),
    "reports.breakdowns": (REPORTS, NO),
    "reports.campaigns": (REPORTS, NO),
    "reports.dashboard": (REPORTS, NO),
    "reports.edit_campaign": (STAFF, STAFF_FORM),
    "reports.index": (REPORTS, NO),
    "reports.list_problems": (REPORTS, NO),
    "reports.list_responsibility": (REPORTS, NO),
    "reports.list_tasks": (REPORTS, NO),
    "reports.new_campaign": (STAFF, STAFF_FORM),
    "reports.overdue": (REPORTS, NO),
    "reports.overdue_print": (REPORTS, NO),
    "reports.overdue_xlsx": (REPORTS, NO),
    "reports.ranking": (REPORTS, NO),
    "reports.ranking_print": (REPORTS, NO),
    "reports.ranking_xlsx": (REPORTS, NO),
    "settings.calendar_page": (ADMIN, NO),
    "settings.channels": (ADMIN, ADMIN_ACTS),
    "settings.import_overrides": (NO, ADMIN_ACTS),
    "settings.set_override": (NO, ADMIN_ACTS),
    "triage.index": (ADMIN, ADMIN_ACTS),
    "workflow.act": (NO, OWNING_UNIT_STALE),
    "workflow.add_note": (NO, OWNING_UNIT_FORM),
    "workflow.decide_extension": (NO, INSPECTOR_FORM_ON_OBJECT),
    "workflow.download": (OWN_OBJECT, NO),
    "workflow.extension": (NO, OWNING_UNIT_FORM),
    "workflow.milestone": (NO, OWNING_UNIT_ACTS),
    "workflow.upload": (NO, OWNING_UNIT_ACTS),
    "workflow.waive": (NO, INSPECTOR_FORM_ON_OBJECT),
}

# Other bodies for a POST whose permission depends on what is posted: endpoint -> {name: (body, row)}.
VARIANTS = {
    "workflow.add_note": {"instruction": (lambda: {"kind": "instruction"}, "L 403 403 422 403 404")},  # 批示
}

# Cells that are not what DESIGN.md asks: (endpoint, method, role) -> why. Marked xfail(strict) here.
HOLES: dict[tuple[str, str, str], str] = {}


# ---- the world ------------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _build(app, make):
    """A blue problem of UA accepted by unita, with milestones, evidence, an extension request and a
    notice; a closed problem of UA in an inspection batch; a campaign; a spare unit and user."""
    from tracker.alerts import notices
    from tracker.auth.models import User
    from tracker.intake.services import ensure_default_channels
    from tracker.ledger import services as ledger_services
    from tracker.ledger.models import Problem
    from tracker.oversight import services as oversight
    from tracker.triage.services import ensure_categories
    from tracker.workflow import services as workflow

    make.org()
    make.unit("UZ", "备用单位")
    make.user("spare", "unit", unit="UZ")
    with app.app_context():
        ensure_default_channels()
        ensure_categories()
        db.session.commit()
    clock.pin("2026-09-28T09:00:00")
    working = make.problem(title="道路长期破损", assign={"tier": "blue", "tier_override_reason": "需要资金"})
    closed = make.problem(title="窗口服务态度差", assign={"tier": "yellow", "tier_override_reason": "按实际"})
    with app.app_context():
        users = {u.username: u for u in db.session.scalars(select(User))}

        def problem(number):
            return db.session.scalar(select(Problem).where(Problem.number == number))

        p = problem(working)
        workflow.apply(p, "accept", actor=users["unita"], expected_version=p.version)
        evidence = ledger_services.store_evidence(p, io.BytesIO(PDF), "报告.pdf", actor=users["unita"])
        ledger_services.request_extension(p, "2026-12-31", "资金未到位", actor=users["unita"])
        notice = notices.issue_notice(p, "supervise", "请抓紧", actor=users["inspector"])
        q = problem(closed)
        workflow.apply(q, "accept", actor=users["unita"], expected_version=q.version)
        ledger_services.waive_evidence(q, actor=users["inspector"], reason="以现场查看为准")
        workflow.apply(q, "submit", actor=users["unita"], expected_version=q.version, report="<p>已整改</p>")
        workflow.apply(q, "approve", actor=users["inspector"], expected_version=q.version, opinion="整改到位")
        db.session.flush()
        batch = oversight.create_batch(
            {"method": "targeted", "title": "暗访", "problems": [closed], "per_problem": 1}, actor=users["inspector"]
        )
        campaign = ledger_services.create_campaign({"name": "专项一"}, actor=users["inspector"])
        db.session.commit()
        spare = users["spare"]
        return {
            "number": working,
            "record_id": p.intake_records[0].id,
            "evidence_id": evidence.id,
            "notice_id": notice.id,
            "milestone_id": p.milestones[0].id,
            "request_id": p.extension_requests[0].id,
            "inspection_id": batch.id,
            "campaign_id": campaign.id,
            "unit_id": spare.unit_id,
            "user_id": spare.id,
            "import_id": 999999,  # no import batch: the rule is checked before the look-up (or 404)
            "photo_id": 999999,
            "followup_id": 999999,
            "code": "zh",
            "fmt": "xlsx",
        }


def _pdf():
    return {"file": (io.BytesIO(PDF), "佐证.pdf")}


# POST bodies that reach the permission check where an empty one is turned away first (no action,
# no file, no decision): still invalid or stale for whoever may act, so nothing changes but evidence.
BODIES = {
    # the unit's next step on the problem in progress, from a stale version: 409 for the owning unit
    "workflow.act": lambda: {"action": "submit", "version": -1},
    "api.transition": lambda: {"action": "submit", "version": -1},
    "intake.handle": lambda: {"action": "explain"},  # no explanation: 422 for the inspector
    "workflow.upload": _pdf,  # the owning unit's upload is accepted (evidence added)
    "api.upload_evidence": _pdf,
    "api.decide_extension": lambda: {"approve": True, "version": -1},  # stale: 409 for the inspector
    "api.record_visit": lambda: {"problem": "无此编号"},  # not in the batch: 422 for the inspector
}


class World:
    def __init__(self, app):
        self.app = app
        self.ids = _build(app, Factory(app))
        self.clients, self.csrf, self.tokens = {}, {}, {}
        for role in ROLES:
            if role != "anon":
                self.tokens[role] = token_for(app, role)
            self._session(role)

    def _session(self, role):
        """A logged-in client for ROLE (anonymous for "anon") and its CSRF token."""
        client = self.app.test_client()
        if role != "anon":
            assert login(client, role).status_code == 302
        page = "/login" if role == "anon" else "/account/password"
        self.csrf[role] = CSRF_RE.search(client.get(page).get_data(as_text=True)).group(1)
        self.clients[role] = client

    def url(self, endpoint):
        rule = next(r for r in self.app.url_map.iter_rules() if r.endpoint == endpoint)
        values = dict(self.ids)
        if endpoint.startswith("intake."):
            values["batch_id"] = self.ids["import_id"]
        else:
            values["batch_id"] = self.ids["inspection_id"]
        with self.app.test_request_context():
            return url_for(endpoint, **{k: values[k] for k in rule.arguments})

    def answer(self, endpoint, method, role, body=None):
        """The status of METHOD on ENDPOINT as ROLE (POSTing BODY, default BODIES' or empty): an int, or
        "login" for a redirect to /login."""
        path = self.url(endpoint)
        api = path.startswith("/api/")
        if endpoint.startswith("public."):
            from tracker.extensions import limiter

            limiter.reset()  # the lookup's per-address limit is not the point here
        client = self.clients[role]
        headers = auth(self.tokens[role]) if api and role != "anon" else {}
        if method == "GET":
            response = client.get(path, headers=headers)
        else:
            body = (body or BODIES.get(endpoint, dict))()
            if api and "file" not in body:
                response = client.post(path, json=body, headers=headers)
            elif api:
                response = client.post(path, data=body, headers=headers)
            else:
                response = client.post(path, data={**body, "csrf_token": self.csrf[role]}, headers=headers)
            if endpoint == "auth.logout":  # logging out ends every session of the user: a new one
                self._session(role)
        status, location = response.status_code, response.headers.get("Location", "")
        response.close()  # downloads stream from temporary files
        if status == 302 and "/login" in location:
            return "login"
        return status


@pytest.fixture(scope="module")
def world(_app):
    _wipe(_app)
    yield World(_app)
    clock.pin(None)
    _wipe(_app)


def _endpoints(app):
    return sorted({r.endpoint for r in app.url_map.iter_rules()} - {"static"})


def test_every_endpoint_is_in_the_table(world):
    endpoints = set(_endpoints(world.app))
    assert not endpoints - set(EXPECTED), f"add these endpoints to EXPECTED: {sorted(endpoints - set(EXPECTED))}"
    assert not set(EXPECTED) - endpoints, f"stale endpoints in EXPECTED: {sorted(set(EXPECTED) - endpoints)}"


def _cells():
    for endpoint, rows in EXPECTED.items():
        for method, row in zip(METHODS, rows, strict=True):
            answers = row.split()
            assert len(answers) == len(ROLES), (endpoint, method, row)
            for role, answer in zip(ROLES, answers, strict=True):
                yield endpoint, method, role, "login" if answer == "L" else int(answer)


CELLS = list(_cells())


@pytest.mark.parametrize(
    ("endpoint", "method", "role", "expected"), CELLS, ids=[f"{e}-{m}-{r}" for e, m, r, _x in CELLS]
)
def test_who_gets_what(world, endpoint, method, role, expected):
    if (endpoint, method, role) in HOLES:
        pytest.xfail(HOLES[(endpoint, method, role)])
    assert world.answer(endpoint, method, role) == expected, world.url(endpoint)


VARIANT_CELLS = [
    (endpoint, name, role, "login" if answer == "L" else int(answer))
    for endpoint, variants in VARIANTS.items()
    for name, (_body, row) in variants.items()
    for role, answer in zip(ROLES, row.split(), strict=True)
]


@pytest.mark.parametrize(
    ("endpoint", "variant", "role", "expected"), VARIANT_CELLS, ids=[f"{e}-{v}-{r}" for e, v, r, _x in VARIANT_CELLS]
)
def test_who_may_post_what(world, endpoint, variant, role, expected):
    body, _row = VARIANTS[endpoint][variant]
    assert world.answer(endpoint, "POST", role, body=body) == expected, world.url(endpoint)
