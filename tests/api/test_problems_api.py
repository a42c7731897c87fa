"""/api/v1/problems: create from intake records, list with cursor, show, assign; scoped like the pages."""

from tests.api.test_intake_api import BODY, auth, token_for
from tracker.core import clock


def _intake(client, token, external_id, **over):
    response = client.post("/api/v1/intake", json={**BODY, "external_id": external_id, **over}, headers=auth(token))
    return response.get_json()["id"]


def test_create_problem_returns_the_suggested_tier_with_reasons(app, client, make):
    make.org()
    token = token_for(app, "inspector")
    ids = [_intake(client, token, "A", title="燃气泄漏安全隐患", body="燃气管道泄漏"), _intake(client, token, "B")]
    response = client.post(
        "/api/v1/problems", json={"intake_ids": ids, "title": "燃气管道安全隐患"}, headers=auth(token)
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "new" and body["number"].startswith("ZG-")
    assert body["suggested_tier"]["tier"] == "red" and body["suggested_tier"]["reasons"]
    assert [r["id"] for r in body["intake_records"]] == ids
    again = client.post("/api/v1/problems", json={"intake_ids": ids[:1], "title": "x"}, headers=auth(token))
    assert again.status_code == 422 and "已处理" in again.get_json()["error"]["message"]


def test_create_problem_validates_its_input(app, client, make):
    make.org()
    token = token_for(app, "inspector")
    for payload in ({"intake_ids": [], "title": "x"}, {"intake_ids": ["1"], "title": "x"}, {"title": "x"}):
        assert client.post("/api/v1/problems", json=payload, headers=auth(token)).status_code == 422
    assert (
        client.post("/api/v1/problems", json={"intake_ids": [999], "title": "x"}, headers=auth(token)).status_code
        == 404
    )
    unit_token = token_for(app, "unita")
    record = _intake(client, token, "C")
    assert (
        client.post(
            "/api/v1/problems", json={"intake_ids": [record], "title": "x"}, headers=auth(unit_token)
        ).status_code
        == 403
    )


def test_assign_through_the_transitions_endpoint(app, client, make):
    make.org()
    clock.pin("2026-09-30T10:00:00")
    token = token_for(app, "inspector")
    record = _intake(client, token, "D", title="燃气泄漏", body="燃气管道泄漏", received_at="2026-09-29T10:00:00+08:00")
    problem = client.post(
        "/api/v1/problems", json={"intake_ids": [record], "title": "燃气泄漏"}, headers=auth(token)
    ).get_json()
    url = f"/api/v1/problems/{problem['number']}/transitions"
    details = {
        "action": "assign",
        "tier": "red",
        "unit_code": "UA",
        "owner": "unita",
        "leader": "leader",
        "measures": "立即关阀抢修",
    }
    missing = client.post(url, json=details, headers=auth(token))
    assert missing.status_code == 422 and "version" in missing.get_json()["error"]["fields"]
    stale = client.post(url, json={**details, "version": problem["version"] + 5}, headers=auth(token))
    assert stale.status_code == 409
    wrong_owner = client.post(
        url, json={**details, "owner": "unitb", "version": problem["version"]}, headers=auth(token)
    )
    assert wrong_owner.status_code == 422 and "owner_id" in wrong_owner.get_json()["error"]["fields"]
    done = client.post(url, json={**details, "version": problem["version"]}, headers=auth(token))
    assert done.status_code == 200
    body = done.get_json()
    assert (body["status"], body["deadline"], body["original_deadline"]) == ("assigned", "2026-10-10", "2026-10-10")
    assert body["owner"] == "unita" and body["leader"] == "leader" and body["version"] > problem["version"]
    again = client.post(url, json={**details, "version": body["version"]}, headers=auth(token))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_transition"
    unknown = client.post(url, json={"action": "fly", "version": body["version"]}, headers=auth(token))
    assert unknown.status_code == 422


def test_list_is_scoped_and_paged_with_a_cursor(app, client, make):
    make.org()
    for i in range(5):
        make.problem(title=f"甲{i}")
    make.problem(unit="UB", title="乙")
    unit_token = token_for(app, "unita")
    first = client.get("/api/v1/problems?limit=2", headers=auth(unit_token)).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    seen = [p["number"] for p in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/api/v1/problems?limit=2&cursor={cursor}", headers=auth(unit_token)).get_json()
        seen += [p["number"] for p in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5
    assert client.get("/api/v1/problems?status=nonsense", headers=auth(unit_token)).status_code == 422
    other = make.problem(unit="UB", title="乙2")
    assert client.get(f"/api/v1/problems/{other}", headers=auth(unit_token)).status_code == 404


def test_unit_user_reads_a_problem_with_nothing_of_the_complainant(app, client, make):
    make.org()
    token = token_for(app, "inspector")
    record = _intake(client, token, "E")
    number = client.post(
        "/api/v1/problems", json={"intake_ids": [record], "title": "t"}, headers=auth(token)
    ).get_json()["number"]
    body = client.get(f"/api/v1/problems/{number}", headers=auth(token_for(app, "unita"))).get_json()
    assert body["intake_records"][0]["complainant"]["message"] == "反映人信息已保密"
    assert "13900001111" not in str(body) and "139****1111" not in str(body) and "李*" not in str(body)
