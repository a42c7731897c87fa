"""GET/POST /api/v1/followups: the records to call back oldest first with the counts, paginated by
page or cursor; a call → 201; errors in the DESIGN §6 shape; callers only."""

import pytest
from sqlalchemy import func, select

from tests.api.test_intake_api import auth, token_for
from tests.oversight.test_followups import PHONE, closed, explained
from tracker.core import clock
from tracker.extensions import db
from tracker.oversight.models import FollowUp


@pytest.fixture
def world(app, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number, record_id = closed(app, make)
    others = [explained(app, make, f"E-{i}", complainant_name="赵六", complainant_phone=PHONE) for i in range(3)]
    explained(app, make, "ANON", anonymous=True)
    return {"number": number, "record_id": record_id, "others": others, "token": token_for(app, "inspector")}


def test_list_is_oldest_first_with_masks_and_counts(client, world):
    response = client.get("/api/v1/followups", headers=auth(world["token"]))
    assert response.status_code == 200
    body = response.get_json()
    assert [i["intake_id"] for i in body["items"]] == [world["record_id"], *world["others"]]
    first = body["items"][0]
    assert first["problem"] == world["number"] and first["unit_code"] == "UA" and first["tries"] == 0
    assert first["complainant"] == {"name": "王*", "phone": "138****1234"}
    assert PHONE not in response.get_data(as_text=True)
    assert body["counts"] == {"due": 4, "anonymous": 1, "no_phone": 0, "unreachable": 0, "pending_decision": 0}


def test_list_pages_by_page_and_by_cursor(client, world):
    headers = auth(world["token"])
    first = client.get("/api/v1/followups?size=2", headers=headers).get_json()
    by_cursor = client.get(f"/api/v1/followups?size=2&cursor={first['next_cursor']}", headers=headers).get_json()
    by_page = client.get("/api/v1/followups?size=2&page=2", headers=headers).get_json()
    assert (
        [i["intake_id"] for i in by_cursor["items"]]
        == [i["intake_id"] for i in by_page["items"]]
        == world["others"][1:]
    )
    for bad in ("cursor=garbage", "cursor=2026-09-28_abc", "size=0", "size=999", "page=-1", "page=abc"):
        response = client.get(f"/api/v1/followups?{bad}", headers=headers)
        assert response.status_code == 422, bad
        assert set(response.get_json()["error"]) == {"code", "message", "fields"}


def test_post_records_a_call_201(app, client, world):
    response = client.post(
        "/api/v1/followups",
        json={"intake_id": world["record_id"], "outcome": "unsatisfied", "note": "仍然推诿"},
        headers=auth(world["token"]),
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["outcome"] == "unsatisfied" and body["tries"] == 0 and body["state"] is None
    assert body["problem"] == {"number": world["number"], "status": "in_progress"}  # reopened
    unreachable = client.post(
        "/api/v1/followups",
        json={"intake_id": world["others"][0], "outcome": "unreachable"},
        headers=auth(world["token"]),
    ).get_json()
    assert (unreachable["state"], unreachable["tries"], unreachable["due_on"], unreachable["problem"]) == (
        "due",
        1,
        "2026-09-29",
        None,
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"intake_id": "x", "outcome": "satisfied"}, 422, "validation_failed", "intake_id"),
        ({"outcome": "satisfied"}, 422, "validation_failed", "intake_id"),
        ({"intake_id": 2147483647, "outcome": "satisfied"}, 404, "not_found", None),
        ({"intake_id": "RID", "outcome": "happy"}, 422, "validation_failed", "outcome"),
        ({"intake_id": "RID", "outcome": "unsatisfied"}, 422, "validation_failed", "note"),
        ({"intake_id": "RID", "outcome": "satisfied", "note": ["a"]}, 422, "validation_failed", "note"),
    ],
)
def test_bad_calls_answer_in_the_error_shape_and_write_nothing(app, client, world, body, status, code, field):
    body = {k: (world["record_id"] if v == "RID" else v) for k, v in body.items()}
    response = client.post("/api/v1/followups", json=body, headers=auth(world["token"]))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert field in error["fields"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FollowUp)) == 0


def test_not_json_and_not_due_and_twice(client, make, world):
    headers = auth(world["token"])
    response = client.post("/api/v1/followups", data="x", headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_json"
    waiting = make.record("WAIT-1", complainant_name="褚四", complainant_phone=PHONE)
    response = client.post("/api/v1/followups", json={"intake_id": waiting, "outcome": "satisfied"}, headers=headers)
    assert response.status_code == 409 and "还不到回访" in response.get_json()["error"]["message"]
    ok = client.post(
        "/api/v1/followups", json={"intake_id": world["record_id"], "outcome": "satisfied"}, headers=headers
    )
    assert ok.status_code == 201
    again = client.post(
        "/api/v1/followups", json={"intake_id": world["record_id"], "outcome": "satisfied"}, headers=headers
    )
    assert again.status_code == 409 and again.get_json()["error"]["message"] == "该反映件已回访，不能重复登记。"


@pytest.mark.parametrize("name", ["unita", "leader", "admin"])
def test_only_callers_use_the_api(app, client, world, name):
    headers = auth(token_for(app, name))
    listing = client.get("/api/v1/followups", headers=headers)
    assert listing.status_code == 403 and listing.get_json()["error"]["code"] == "forbidden"
    call = client.post(
        "/api/v1/followups", json={"intake_id": world["record_id"], "outcome": "satisfied"}, headers=headers
    )
    assert call.status_code == 403
    assert "王" not in listing.get_data(as_text=True) + call.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FollowUp)) == 0
