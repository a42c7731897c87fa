"""POST /api/v1/intake: bearer tokens, idempotency (also under concurrent requests), JSON errors."""

import threading

import pytest
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.intake.models import IntakeRecord

BODY = {
    "channel": "12345 热线",
    "kind": "投诉",
    "external_id": "API-1",
    "received_at": "2026-10-09T10:00:00+08:00",
    "title": "噪音扰民",
    "body": "夜间施工噪音扰民。",
    "rating": 2,
    "unit_code": "UA",
    "complainant": {"name": "李四", "phone": "13900001111"},
}


def token_for(app, username):
    result = app.test_cli_runner().invoke(args=["tokens", "create", "test", "--user", username])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_calls_without_a_valid_token_get_401(client, make):
    make.org()
    assert client.post("/api/v1/intake", json=BODY).status_code == 401
    response = client.post("/api/v1/intake", json=BODY, headers=auth("trk_not-a-token"))
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_create_returns_201_then_the_same_record_with_200(app, client, make):
    make.org()
    token = token_for(app, "inspector")
    first = client.post("/api/v1/intake", json=BODY, headers=auth(token))
    assert first.status_code == 201
    created = first.get_json()
    assert created["tracking_code"] and len(created["query_pin"]) == 6
    assert created["complainant"] == {"name": "李*", "phone": "139****1111", "can_reveal": True}  # masks only
    again = client.post("/api/v1/intake", json={**BODY, "title": "changed"}, headers=auth(token))
    assert again.status_code == 200 and again.get_json()["id"] == created["id"]
    assert "query_pin" not in again.get_json()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IntakeRecord)) == 1


def test_validation_errors_are_422_with_fields(app, client, make):
    make.org()
    token = token_for(app, "inspector")
    response = client.post(
        "/api/v1/intake", json={**BODY, "received_at": "昨天", "rating": 9, "title": ""}, headers=auth(token)
    )
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert {"received_at", "rating", "title"} <= set(fields)


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b"", b"null"])
def test_malformed_json_is_400_never_500(app, client, make, payload):
    make.org()
    token = token_for(app, "inspector")
    response = client.post("/api/v1/intake", data=payload, headers={**auth(token), "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_json"


def test_unit_users_token_cannot_create_and_reads_no_identity(app, client, make):
    make.org()
    created = client.post("/api/v1/intake", json=BODY, headers=auth(token_for(app, "inspector"))).get_json()
    unit_token = token_for(app, "unita")
    assert client.post("/api/v1/intake", json={**BODY, "external_id": "X"}, headers=auth(unit_token)).status_code == 403
    seen = client.get(f"/api/v1/intake/{created['id']}", headers=auth(unit_token)).get_json()
    assert seen["complainant"] == {"name": None, "phone": None, "hidden": True, "message": "反映人信息已保密"}
    other = client.get(f"/api/v1/intake/{created['id']}", headers=auth(token_for(app, "unitb")))
    assert other.status_code == 404


def test_openapi_description_is_served(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/intake" in spec["paths"]


def test_concurrent_posts_of_the_same_record_create_one(app, make):
    make.org()
    token = token_for(app, "inspector")
    statuses, barrier = [], threading.Barrier(8)

    def post():
        client = app.test_client()
        barrier.wait()
        statuses.append(
            client.post("/api/v1/intake", json={**BODY, "external_id": "RACE"}, headers=auth(token)).status_code
        )

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses).count(201) == 1 and statuses.count(200) == 7
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IntakeRecord)) == 1


def test_reply_must_be_text(app, client, make):
    make.org()
    response = client.post(
        "/api/v1/intake", json={**BODY, "reply": {"a": 1}}, headers=auth(token_for(app, "inspector"))
    )
    assert response.status_code == 422 and "reply" in response.get_json()["error"]["fields"]


def test_a_body_that_is_not_json_is_400_bad_json(app, client, make):
    make.org()
    response = client.post(
        "/api/v1/intake", data="title=x", content_type="text/plain", headers=auth(token_for(app, "inspector"))
    )
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_json"
