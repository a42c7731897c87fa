"""POST /api/v1/intake/bulk: every action, skip reasons, selection by filter, errors, access, audit."""

import pytest
from sqlalchemy import func, select

from tests.api.test_intake_api import auth, token_for
from tracker.audit import services as audit
from tracker.audit.models import AuditEvent
from tracker.extensions import db
from tracker.intake.models import Handling, IntakeRecord
from tracker.ledger.models import Problem

URL = "/api/v1/intake/bulk"


def _records(make, count, unit="UA", prefix="A"):
    return [make.record(f"{prefix}-{n}", unit=unit, title=f"反映事项 {prefix}{n}") for n in range(count)]


def _handling(app, ids):
    with app.app_context():
        return [db.session.get(IntakeRecord, i).handling for i in ids]


def _call(client, token, body):
    return client.post(URL, json=body, headers=auth(token))


def test_merge_answers_the_new_problem_and_skips_with_reasons(app, client, make):
    make.org()
    ids = _records(make, 3)
    token = token_for(app, "inspector")
    response = _call(client, token, {"action": "merge", "ids": [*ids, 999999], "title": "集中反映"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["done"] == 3 and body["problem"].startswith("ZG-")
    assert body["skipped"] == [{"id": 999999, "reason": "不存在或无权处理"}]
    again = _call(client, token, {"action": "merge", "ids": ids}).get_json()
    assert again["done"] == 0 and again["problem"] is None
    assert [s["reason"] for s in again["skipped"]] == ["已处理（已转台账）"] * 3
    with app.app_context():
        problem = db.session.scalar(select(Problem).where(Problem.number == body["problem"]))
        assert problem.title == "集中反映" and len(problem.intake_records) == 3


@pytest.mark.parametrize(
    ("action", "handling", "quick"), [("to_problem", "rectify", False), ("quick_fix", "quick_fix", True)]
)
def test_one_problem_each(app, client, make, action, handling, quick):
    make.org()
    ids = _records(make, 3)
    body = _call(client, token_for(app, "inspector"), {"action": action, "ids": ids}).get_json()
    assert body["done"] == 3 and len(body["problems"]) == 3 and body["skipped"] == []
    assert _handling(app, ids) == [handling] * 3
    with app.app_context():
        flags = db.session.scalars(select(Problem.is_quick_fix).where(Problem.number.in_(body["problems"]))).all()
        assert flags == [quick] * 3


def test_explain_duplicate_and_set_unit(app, client, make):
    make.org()
    number = make.problem()
    token = token_for(app, "inspector")
    explained, duplicated, moved = (
        _records(make, 1, prefix="E"),
        _records(make, 2, prefix="D"),
        _records(make, 2, prefix="U"),
    )
    response = _call(
        client, token, {"action": "explain", "ids": explained, "explanation": "经核实无政策依据，已解释。"}
    )
    assert response.get_json()["done"] == 1 and _handling(app, explained) == ["explained"]
    response = _call(client, token, {"action": "duplicate", "ids": duplicated, "problem": number})
    assert response.get_json() == {"done": 2, "problem": number, "skipped": []}
    response = _call(client, token, {"action": "set_unit", "ids": moved, "unit_code": "UB"})
    assert response.get_json()["done"] == 2
    with app.app_context():
        assert {db.session.get(IntakeRecord, i).unit.code for i in moved} == {"UB"}
        assert len(db.session.get(IntakeRecord, duplicated[0]).problem.intake_records) == 3


def test_select_by_filter_takes_every_matching_record(app, client, make):
    make.org()
    in_ua = _records(make, 60, unit="UA")  # more than a page
    in_ub = _records(make, 2, unit="UB", prefix="B")
    token = token_for(app, "inspector")
    body = {"action": "explain", "filter": {"unit_code": "UA"}, "explanation": "统一答复：已纳入年度计划。"}
    assert _call(client, token, body).get_json()["done"] == 60
    assert set(_handling(app, in_ua)) == {"explained"} and set(_handling(app, in_ub)) == {"new"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "burn", "ids": [1]}, "action"),
        ({"ids": [1]}, "action"),
        ({"action": "merge"}, "ids"),
        ({"action": "merge", "ids": [1], "filter": {}}, "ids"),
        ({"action": "merge", "ids": "1,2"}, "ids"),
        ({"action": "merge", "ids": [2**64]}, "ids"),
        ({"action": "merge", "filter": []}, "filter"),
        ({"action": "merge", "filter": {"colour": "red"}}, "filter.colour"),
        ({"action": "merge", "filter": {"date_from": "昨天"}}, "filter.date_from"),
        ({"action": "explain", "ids": [1], "explanation": ""}, "explanation"),
        ({"action": "explain", "ids": [1], "explanation": {"a": 1}}, "explanation"),
        ({"action": "duplicate", "ids": [1], "problem": "ZG-2099-000001"}, "problem"),
        ({"action": "set_unit", "ids": [1], "unit_code": "NOPE"}, "unit_code"),
        ({"action": "merge", "ids": [1], "title": 5}, "title"),
    ],
)
def test_bad_requests_are_422_naming_the_field(app, client, make, body, field):
    make.org()
    record = make.record("X-1")
    response = _call(client, token_for(app, "inspector"), body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and field in error["fields"]
    assert _handling(app, [record]) == ["new"]


def test_not_json_is_400_and_no_token_is_401(app, client, make):
    make.org()
    token = token_for(app, "inspector")
    response = client.post(URL, json=[1, 2], headers=auth(token))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_json"
    assert client.post(URL, json={"action": "merge", "ids": [1]}).status_code == 401


@pytest.mark.parametrize("username", ["unita", "leader", "admin"])
def test_only_inspectors_may(app, client, make, username):
    make.org()
    ids = _records(make, 2)
    response = _call(client, token_for(app, username), {"action": "to_problem", "ids": ids})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert _handling(app, ids) == [Handling.NEW] * 2


def test_every_record_gets_its_own_event_and_the_chain_verifies(app, client, make):
    make.org()
    ids = _records(make, 4)
    token = token_for(app, "inspector")
    _call(client, token, {"action": "to_problem", "ids": ids[:2]})
    _call(client, token, {"action": "merge", "ids": ids[2:]})
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "intake.rectify")).all()
        assert sorted(int(e.object_id) for e in events) == sorted(ids)
        assert {e.actor_name for e in events} == {"inspector"}
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "problem.create")) == 3
        assert audit.verify().ok
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_the_openapi_description_has_the_bulk_path(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/intake/bulk"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["action"]["enum"] == [
        "to_problem",
        "merge",
        "quick_fix",
        "explain",
        "duplicate",
        "set_unit",
    ]
    assert {"200", "403", "409", "422"} <= set(post["responses"])
