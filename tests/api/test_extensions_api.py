"""Extension requests over the API (DESIGN.md §6): the unit asks, the inspector approves (the deadline
moves, the original deadline stays) or refuses (with a reason); bad input is a 422 naming the field,
the wrong people get the app's usual 403/404, a stale version 409; every decision is audited."""

from datetime import date

import pytest
from sqlalchemy import select

from tests.api.test_intake_api import auth, token_for
from tracker.audit.models import AuditEvent
from tracker.core import calendar, clock
from tracker.extensions import db

EXTENSION_FIELDS = {
    "id",
    "status",
    "reason",
    "current_deadline",
    "requested_deadline",
    "requested_by",
    "created_at",
    "decided_by",
    "decided_at",
    "note",
}


@pytest.fixture
def case(app, client, make):
    """A yellow problem of UA assigned on 2026-09-28; tokens for everyone; the clock on 2026-10-09."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(unit="UA", assign={"tier": "yellow", "leader": "leader"})
    clock.pin("2026-10-09T10:00:00")
    tokens = {name: token_for(app, name) for name in ("unita", "unitb", "inspector", "leader")}
    problem = client.get(f"/api/v1/problems/{number}", headers=auth(tokens["inspector"])).get_json()
    deadline = date.fromisoformat(problem["deadline"])
    later = calendar.add_workdays(max(deadline, clock.today()), 5)
    return {"number": number, "tokens": tokens, "deadline": deadline, "later": later, "version": problem["version"]}


def _ask(client, case, who="unita", **body):
    payload = {"new_deadline": case["later"].isoformat(), "reason": "需协调财政资金，申请延期。", **body}
    return client.post(f"/api/v1/problems/{case['number']}/extensions", json=payload, headers=auth(case["tokens"][who]))


def _decide(client, case, request_id, who="inspector", **body):
    return client.post(
        f"/api/v1/problems/{case['number']}/extensions/{request_id}", json=body, headers=auth(case["tokens"][who])
    )


def _problem(client, case):
    return client.get(f"/api/v1/problems/{case['number']}", headers=auth(case["tokens"]["inspector"])).get_json()


def _events(app, number):
    with app.app_context():
        return [
            (e.action, e.after)
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.object_id == number).order_by(AuditEvent.id)
            )
        ]


def test_the_unit_asks_and_the_inspector_approves(app, client, case):
    asked = _ask(client, case)
    assert asked.status_code == 201
    item = asked.get_json()
    assert set(item) == EXTENSION_FIELDS
    assert item["status"] == "pending" and item["requested_by"] == "unita" and item["decided_at"] is None
    assert item["current_deadline"] == case["deadline"].isoformat()
    assert item["requested_deadline"] == case["later"].isoformat()
    second = _ask(client, case, new_deadline=calendar.add_workdays(case["later"], 3).isoformat())
    assert second.status_code == 422 and "待审批" in second.get_json()["error"]["message"]

    version = _problem(client, case)["version"]
    decided = _decide(client, case, item["id"], approve=True, note="同意", version=version)
    assert decided.status_code == 200
    body = decided.get_json()
    assert body["deadline"] == case["later"].isoformat()
    assert body["original_deadline"] == case["deadline"].isoformat()  # the original deadline stays
    assert body["extension"]["status"] == "approved" and body["extension"]["decided_by"] == "inspector"
    assert body["extension"]["note"] == "同意" and set(body["extension"]) == EXTENSION_FIELDS
    events = _events(app, case["number"])
    assert (
        "problem.extension_request",
        {"from": case["deadline"].isoformat(), "to": case["later"].isoformat()},
    ) in events
    assert ("problem.extension_approved", {"deadline": case["later"].isoformat()}) in events
    again = _decide(client, case, item["id"], approve=True)
    assert again.status_code == 422  # decided already


def test_a_refusal_needs_a_reason_and_leaves_the_deadline(app, client, case):
    item = _ask(client, case).get_json()
    bare = _decide(client, case, item["id"], approve=False)
    assert bare.status_code == 422 and "note" in bare.get_json()["error"]["fields"]
    refused = _decide(client, case, item["id"], approve=False, note="理由不充分，按原时限完成。")
    assert refused.status_code == 200
    body = refused.get_json()
    assert body["deadline"] == case["deadline"].isoformat() and body["extension"]["status"] == "refused"
    assert body["extension"]["note"] == "理由不充分，按原时限完成。"
    assert "problem.extension_refused" in [action for action, _after in _events(app, case["number"])]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"new_deadline": "2026-13-40"}, "new_deadline"),
        ({"new_deadline": "下周五"}, "new_deadline"),
        ({"new_deadline": 20261030}, "new_deadline"),
        ({"new_deadline": "2026-10-08"}, "new_deadline"),  # yesterday
        ({"new_deadline": ""}, "new_deadline"),
        ({"reason": ""}, "reason"),
        ({"reason": ["延期"]}, "reason"),
    ],
)
def test_bad_requests_are_422_naming_the_field(client, case, body, field):
    response = _ask(client, case, **body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_a_date_not_after_the_current_deadline_is_refused(client, case):
    earlier = calendar.add_workdays(case["deadline"], -1)
    assert earlier > clock.today()  # not refused for being in the past
    for day in (case["deadline"], earlier):
        response = _ask(client, case, new_deadline=day.isoformat())
        assert response.status_code == 422 and "new_deadline" in response.get_json()["error"]["fields"]
        assert "须晚于当前时限" in response.get_json()["error"]["message"]


def test_a_day_off_is_refused_naming_the_next_working_day(client, case):
    response = _ask(client, case, new_deadline="2026-10-31")  # a Saturday
    assert response.status_code == 422
    assert "2026-11-02" in response.get_json()["error"]["fields"]["new_deadline"]


def test_leaders_and_other_units_cannot_ask_or_decide(client, case):
    assert _ask(client, case, who="leader").status_code == 403  # sees the problem, may not ask
    assert _ask(client, case, who="unitb").status_code == 404  # does not see it at all
    item = _ask(client, case).get_json()
    assert _decide(client, case, item["id"], who="leader", approve=True).status_code == 403
    assert _decide(client, case, item["id"], who="unita", approve=True).status_code == 403  # not its own
    assert _decide(client, case, item["id"], who="unitb", approve=True).status_code == 404
    assert _problem(client, case)["deadline"] == case["deadline"].isoformat()


def test_unknown_request_stale_version_and_missing_decision(client, case):
    item = _ask(client, case).get_json()
    assert _decide(client, case, item["id"] + 100, approve=True).status_code == 404
    stale = _decide(client, case, item["id"], approve=True, version=case["version"] - 1)
    assert stale.status_code == 409
    missing = _decide(client, case, item["id"], note="x")
    assert missing.status_code == 422 and "approve" in missing.get_json()["error"]["fields"]
    wrong = _decide(client, case, item["id"], approve="yes")
    assert wrong.status_code == 422 and "approve" in wrong.get_json()["error"]["fields"]
    assert _problem(client, case)["deadline"] == case["deadline"].isoformat()
    assert client.post(f"/api/v1/problems/{case['number']}/extensions", json={}).status_code == 401


def test_an_extension_on_a_problem_that_does_not_exist_is_404(client, case):
    response = client.post(
        "/api/v1/problems/ZG-2026-999999/extensions",
        json={"new_deadline": case["later"].isoformat(), "reason": "x"},
        headers=auth(case["tokens"]["unita"]),
    )
    assert response.status_code == 404


def test_the_openapi_document_describes_every_api_route_and_the_extension_answer(app, client):
    import re

    spec = client.get("/api/v1/openapi.json").get_json()
    described = {
        (re.sub(r"{[^}]+}", "{}", path), method)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<[^>]+>", "{}", rule.rule.removeprefix("/api/v1"))
        missing += [
            f"{m} {path}" for m in sorted(rule.methods - {"HEAD", "OPTIONS"}) if (path, m.lower()) not in described
        ]
    assert missing == []
    asked = spec["paths"]["/problems/{number}/extensions"]["post"]
    assert set(asked["responses"]["201"]["content"]["application/json"]["schema"]["properties"]) == EXTENSION_FIELDS
    ranking = spec["paths"]["/reports/ranking"]["get"]
    assert {"from", "to", "period", "month", "quarter", "year"} <= {p["name"] for p in ranking["parameters"]}
    row = ranking["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["items"]["items"]
    design = "unit_code unit received closed on_time_original on_time_extended overdue_now avg_working_days rework "
    design += "relapse followed_up satisfied notices"
    assert set(design.split()) <= set(row["properties"])
