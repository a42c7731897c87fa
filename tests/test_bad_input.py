"""Bad input never answers 500: ids beyond 64 bits, negative or garbage ids in paths, query strings,
forms and JSON bodies; deeply nested JSON; JSON of the wrong type. Every route of the app, pages and
API, on SQLite and PostgreSQL (PostgreSQL raises on out-of-range integers, SQLite on > 64 bits)."""

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.api.test_intake_api import BODY, auth, token_for
from tests.conftest import csrf_from, login
from tracker.core import clock
from tracker.extensions import db

# Beyond 64 bits, beyond a signed bigint, the largest bigint, beyond a 32-bit INTEGER column (our
# ids on PostgreSQL), negative, zero and not a number at all.
BAD_IDS = [
    "18446744073709551616",
    "9223372036854775808",
    "2147483648",
    "9223372036854775807",
    "-1",
    "0",
    "abc",
    "1.5",
    "１２",
]
PATH_IDS = ["18446744073709551616", "9223372036854775808", "2147483648", "-1", "0", "abc"]
# Sent one at a time to every route, to each field that takes a number (a request with every field
# bad may stop at the first one).
ONE_AT_A_TIME = ["2147483648"]  # past INTEGER on PostgreSQL, and past 64 bits is sent all at once
NUMBER_FIELD = re.compile(
    r"(_id|_ids|_days|_minutes|_hour|_minute|_min|^id|^ids|^unit|^problem|^page|^limit|^year|^cursor|^version"
    r"|^parent|^batch|^count|^day|^days|^max|^port|^rating|^urgency|^difficulty|^duplicate_of|^upto|^level)$"
)
SKIP_ENDPOINTS = {"auth.logout", "static", "auth.login"}  # logging out would end the test's own session
ROOT = Path(__file__).resolve().parent.parent


def _parameter_names(app):
    """Every query/form field name the code reads, and every field of every form class."""
    names = set()
    pattern = re.compile(r"""(?:args|form|values)(?:\.get|\.getlist|\.to_dict\(\)\.get)?\(?\[?["']([a-z_]+)["']""")
    for path in (ROOT / "tracker").rglob("*.py"):
        names.update(pattern.findall(path.read_text(encoding="utf-8")))
    from flask_wtf import FlaskForm

    with app.test_request_context():
        for form_class in _subclasses(FlaskForm):
            if form_class.__module__.startswith("tracker."):
                names.update(name for name, _field in form_class(meta={"csrf": False})._fields.items())
    names |= {"unit", "unit_id", "owner_id", "leader_id", "intake_ids", "ids", "id", "problem", "page", "limit"}
    return sorted(names - {"csrf_token", "next"})


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@pytest.fixture
def world(app, make):
    """A problem in progress (blue, with milestones, evidence, a notice and an extension request),
    a new problem, an intake record, every user; the ids that paths take."""
    from tracker.alerts import notices
    from tracker.auth.models import User
    from tracker.ledger import services as ledger_services
    from tracker.ledger.models import Problem
    from tracker.workflow import services as workflow

    make.org()
    clock.pin("2026-09-28T09:00:00")
    working = make.problem(
        title="道路长期破损", body="道路破损多年。", assign={"tier": "blue", "tier_override_reason": "需要资金"}
    )
    fresh = make.problem(title="窗口服务态度差")
    record_id = make.record("R-1")
    with app.app_context():
        users = {u.username: u for u in db.session.scalars(select(User))}
        problem = db.session.scalar(select(Problem).where(Problem.number == working))
        workflow.apply(problem, "accept", actor=users["unita"], expected_version=problem.version)
        evidence = ledger_services.store_evidence(
            problem, io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "报告.pdf", actor=users["unita"]
        )
        ledger_services.request_extension(problem, "2026-12-31", "资金未到位", actor=users["unita"])
        notice = notices.issue_notice(problem, "supervise", "请抓紧", actor=users["inspector"])
        db.session.commit()
        ids = {
            "number": working,
            "record_id": record_id,
            "evidence_id": evidence.id,
            "notice_id": notice.id,
            "milestone_id": problem.milestones[0].id,
            "request_id": problem.extension_requests[0].id,
            "unit_id": users["unitb"].unit_id,
            "user_id": users["unitb"].id,
            "batch_id": 1,
            "code": "zh",
            "fmt": "csv",
        }
    return {"ids": ids, "fresh": fresh}


def _rules(app, api=False):
    rules = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in SKIP_ENDPOINTS or rule.rule.startswith("/api/") != api:
            continue
        rules.extend((rule, method) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return rules


def _fill(rule, ids, override=None):
    def value(match):
        name = match.group(2)
        return str((override or {}).get(name, ids.get(name, 1)))

    return re.sub(r"<(?:([a-z]+):)?([a-z_]+)>", value, rule.rule)


def _int_arguments(rule):
    return [name for name, converter in rule._converters.items() if converter.__class__.__name__ != "UnicodeConverter"]


def _role(endpoint):
    if endpoint.startswith(("org.", "settings.", "triage.")) or endpoint == "alerts.settings_page":
        return ["admin"]
    if endpoint.startswith("workflow."):
        return ["inspector", "unita"]  # the unit's own actions: progress, evidence, extensions
    return ["inspector"]


def _clients(app, roles):
    clients = {}
    for role in roles:
        client = app.test_client()
        login(client, role)
        clients[role] = (client, csrf_from(client, "/"))
    return clients


def _send(client, token, method, path, params):
    if method == "GET":
        return client.get(path, query_string=params)
    return client.post(path, data={**params, "csrf_token": token})


def pytest_generate_tests(metafunc):
    if "page_route" in metafunc.fixturenames:
        from config import TestConfig
        from tracker import create_app

        rules = _rules(create_app(TestConfig))
        metafunc.parametrize("page_route", [(r.rule, m) for r, m in rules], ids=[f"{m} {r.rule}" for r, m in rules])
    if "int_route" in metafunc.fixturenames:  # only the paths that take an integer
        from config import TestConfig
        from tracker import create_app

        rules = [(r, m) for r, m in _rules(create_app(TestConfig)) if _int_arguments(r)]
        assert rules, "no route takes an integer: the converter test would test nothing"
        metafunc.parametrize("int_route", [(r.rule, m) for r, m in rules], ids=[f"{m} {r.rule}" for r, m in rules])


def _rule(app, text):
    return next(r for r in app.url_map.iter_rules() if r.rule == text)


def test_bad_ids_in_query_strings_and_forms_never_answer_500(app, world, page_route):
    rule = _rule(app, page_route[0])
    method = page_route[1]
    path = _fill(rule, world["ids"])
    names = _parameter_names(app)
    for role, (client, token) in _clients(app, _role(rule.endpoint)).items():
        for value in BAD_IDS:
            response = _send(client, token, method, path, dict.fromkeys(names, value))
            assert response.status_code < 500, f"{role} {method} {path} all={value}: {response.status_code}"
            response.close()
        for name in filter(NUMBER_FIELD.search, names):
            for value in ONE_AT_A_TIME:
                response = _send(client, token, method, path, {name: value})
                assert response.status_code < 500, f"{role} {method} {path} {name}={value}: {response.status_code}"
                response.close()


def test_bad_ids_in_paths_answer_404(app, world, int_route):
    rule = _rule(app, int_route[0])
    method = int_route[1]
    arguments = _int_arguments(rule)
    client, token = _clients(app, _role(rule.endpoint)[:1]).popitem()[1]
    for name in arguments:
        for value in PATH_IDS:
            path = _fill(rule, world["ids"], {name: value})
            response = _send(client, token, method, path, {})
            assert response.status_code == 404, f"{method} {path}: {response.status_code}"
            assert "页面不存在" in response.get_data(as_text=True)
            response.close()


def test_the_named_cases_of_the_issue(app, world):
    """The places the outside report named, each with a value beyond 64 bits."""
    big = "18446744073709551616"
    clients = _clients(app, ["inspector", "admin"])
    inspector, token = clients["inspector"]
    for path in (f"/intake/{big}", f"/notices/{big}", f"/ledger/evidence/{big}", f"/notices/{big}.docx"):
        assert inspector.get(path).status_code == 404, path
    assert inspector.get("/ledger/people", query_string={"unit_id": big}).status_code in (200, 404, 422)
    for path in ("/ledger/", "/intake/", "/notices", "/ledger/counts"):
        assert inspector.get(path, query_string={"unit": big}).status_code < 500, path
    assign = f"/ledger/{world['fresh']}/assign"
    for field in ("unit_id", "owner_id", "leader_id"):
        response = inspector.post(
            assign, data={"csrf_token": token, "tier": "yellow", "measures": "整改", "unit_id": "1", field: big}
        )
        assert response.status_code == 422, field
    admin, admin_token = clients["admin"]
    for field in ("unit_id", "leader_unit_ids", "parent_id"):
        response = admin.post(
            "/admin/users/new",
            data={"csrf_token": admin_token, "username": "x1", "name": "某人", "role": "leader", field: big},
        )
        assert response.status_code in (200, 422), field
        response = admin.post(
            "/admin/units/new", data={"csrf_token": admin_token, "code": "X1", "name": "某", field: big}
        )
        assert response.status_code in (302, 422), field
    assert admin.get("/admin/units?q=X1").status_code == 200


def test_an_admin_can_give_a_user_an_email_address(app, client, make):
    """wtforms' Email() needed a package we do not install: any address answered 500."""
    from tracker.auth.models import User

    make.org()
    login(client, "admin")
    token = csrf_from(client, "/admin/users/new")
    base = {"csrf_token": token, "username": "mailer", "name": "某人", "role": "inspector"}
    bad = client.post("/admin/users/new", data={**base, "email": "not-an-address"})
    assert bad.status_code == 422 and "邮箱格式不正确" in bad.get_data(as_text=True)
    good = client.post("/admin/users/new", data={**base, "email": "zhang.san@example.gov.cn"})
    assert good.status_code in (200, 302)
    with app.app_context():
        assert db.session.scalar(select(User.email).where(User.username == "mailer")) == "zhang.san@example.gov.cn"


# ---- JSON ----------------------------------------------------------------------------------------


def _nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100_000, 5_000, 200])
def test_deeply_nested_json_on_any_api_post_is_400_bad_json(app, world, depth):
    token = token_for(app, "inspector")
    client = app.test_client()
    number = world["ids"]["number"]
    for path in ("/api/v1/intake", "/api/v1/problems", f"/api/v1/problems/{number}/transitions"):
        for body in (_nested(depth), '{"title": ' + _nested(depth) + "}"):
            response = client.post(path, data=body, content_type="application/json", headers=auth(token))
            assert response.status_code == 400, (path, depth)
            assert response.get_json()["error"]["code"] == "bad_json"
            assert "JSON" in response.get_json()["error"]["message"]


def test_deeply_nested_json_on_any_page_post_is_a_400_page(app, world):
    client, token = _clients(app, ["inspector"])["inspector"]
    for rule, method in _rules(app):
        if method != "POST":
            continue
        path = _fill(rule, world["ids"])
        for body in (_nested(100_000), "[1, 2]", '"x"', "{}"):
            response = client.post(path, data=body, content_type="application/json", headers={"X-CSRFToken": token})
            assert response.status_code < 500, (path, body[:10], response.status_code)
            response.close()
    page = client.post(
        "/intake/new", data=_nested(100_000), content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert page.status_code == 400 and "请求有误" in page.get_data(as_text=True)


WRONG_TYPES = [[], [{}], {"a": 1}]


def _intake_cases():
    for field in (
        "channel",
        "kind",
        "external_id",
        "received_at",
        "title",
        "body",
        "service_item",
        "unit_code",
        "category",
        "rating",
    ):
        for value in WRONG_TYPES:
            yield field, value, field
    for value in ([], "李四", 5):
        yield "complainant", value, "complainant"
    for value in ([], {"a": 1}, 5):
        yield "complainant", {"name": value}, "complainant.name"
    for value in ([], {"a": 1}, True):
        yield "complainant", {"phone": value}, "complainant.phone"
    for value in ([], "是", {"a": 1}):
        yield "anonymous", value, "anonymous"
    for value in (True, 1.5, 2**64, -1, "abc"):
        yield "rating", value, "rating"


@pytest.mark.parametrize(("field", "value", "named"), list(_intake_cases()))
def test_wrong_json_types_on_intake_are_422_naming_the_field(app, client, make, field, value, named):
    make.org()
    token = token_for(app, "inspector")
    response = client.post("/api/v1/intake", json={**BODY, field: value}, headers=auth(token))
    assert response.status_code == 422, response.get_json()
    assert named in response.get_json()["error"]["fields"]


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"intake_ids": "1"}, "intake_ids"),
        ({"intake_ids": 1}, "intake_ids"),
        ({"intake_ids": {"a": 1}}, "intake_ids"),
        ({"intake_ids": [[]]}, "intake_ids"),
        ({"intake_ids": [{}]}, "intake_ids"),
        ({"intake_ids": ["1"]}, "intake_ids"),
        ({"intake_ids": [True]}, "intake_ids"),
        ({"intake_ids": [1.5]}, "intake_ids"),
        ({"intake_ids": [-1]}, "intake_ids"),
        ({"intake_ids": [0]}, "intake_ids"),
        ({"intake_ids": [2**31]}, "intake_ids"),
        ({"intake_ids": [2**63]}, "intake_ids"),
        ({"intake_ids": [2**64]}, "intake_ids"),
        ({"title": []}, "title"),
        ({"title": {"a": 1}}, "title"),
        ({"description": [{}]}, "description"),
        ({"category": {"a": 1}}, "category"),
    ],
)
def test_wrong_json_types_on_new_problems_are_422_naming_the_field(app, client, world, payload, named):
    token = token_for(app, "inspector")
    body = {"intake_ids": [world["ids"]["record_id"]], "title": "窗口服务", **payload}
    response = client.post("/api/v1/problems", json=body, headers=auth(token))
    assert response.status_code == 422, response.get_json()
    assert named in response.get_json()["error"]["fields"]


def test_the_largest_possible_intake_id_is_simply_not_found(app, client, world):
    token = token_for(app, "inspector")
    body = {"intake_ids": [2**31 - 1], "title": "窗口服务"}
    assert client.post("/api/v1/problems", json=body, headers=auth(token)).status_code == 404


TRANSITION_CASES = [
    ("tier", []),
    ("tier", {"a": 1}),
    ("unit_code", [{}]),
    ("unit_code", []),
    ("owner", []),
    ("owner", {"a": 1}),
    ("leader", [1]),
    ("measures", {"a": 1}),
    ("deadline", []),
    ("deadline", 20261231),
    ("reason", {"a": 1}),
    ("report", {"a": 1}),
    ("report", ["x"]),
    ("note", []),
    ("new_deadline", {}),
    ("withdraw_reason", []),
    ("tier_override_reason", []),
    ("deadline_note", {}),
    ("urgency", []),
    ("difficulty", {"a": 1}),
    ("quick_fix", "x"),
    ("quick_fix", []),
    ("milestones", "x"),
    ("unit_id", 2**64),
    ("unit_id", 2**63),
    ("unit_id", 2**31),
    ("unit_id", -1),
    ("unit_id", "abc"),
    ("unit_id", []),
    ("owner_id", 2**64),
    ("owner_id", "1e3"),
    ("leader_id", 2**63),
    ("leader_id", {"a": 1}),
    ("version", "1"),
    ("version", 1.5),
    ("version", True),
    ("version", []),
    ("action", []),
    ("action", {"a": 1}),
]


@pytest.mark.parametrize(("field", "value"), TRANSITION_CASES)
@pytest.mark.parametrize("action", ["assign", "submit", "reject"])
def test_wrong_json_types_on_transitions_are_422_naming_the_field(app, client, world, action, field, value):
    from tracker.ledger.models import Problem

    number = world["fresh"] if action == "assign" else world["ids"]["number"]
    with app.app_context():
        version = db.session.scalar(select(Problem.version).where(Problem.number == number))
    token = token_for(app, "unita" if action == "submit" else "inspector")
    body = {"action": action, "version": version, "tier": "yellow", "unit_code": "UA", "owner": "unita"}
    body |= {"measures": "整改", "report": "已整改", "reason": "不合格", field: value}
    response = client.post(f"/api/v1/problems/{number}/transitions", json=body, headers=auth(token))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]


def test_bad_ids_in_api_paths_and_query_strings_never_answer_500(app, world):
    token = token_for(app, "inspector")
    client = app.test_client()
    for value in PATH_IDS:
        response = client.get(f"/api/v1/intake/{value}", headers=auth(token))
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    for rule, method in _rules(app, api=True):
        if method != "GET":
            continue
        path = _fill(rule, world["ids"])
        for value in BAD_IDS:
            params = dict.fromkeys(("unit", "unit_id", "problem", "limit", "cursor", "page", "status", "tier"), value)
            response = client.get(path, query_string=params, headers=auth(token))
            assert response.status_code < 500, (path, value, response.status_code)
            assert response.is_json, path
