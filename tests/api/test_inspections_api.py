"""POST /api/v1/inspections, GET /api/v1/inspections/<id>, POST /api/v1/inspections/<id>/visits
against DESIGN §6: batches by method with a replayable seed, errors naming the field, a batch that
does not exist for anyone but inspectors and admins, visits and what they do to the problem, photos
checked by content, and never a complainant's name or phone in an answer."""

import hashlib
import io

import pytest
from sqlalchemy import func, select

from tests.api.test_intake_api import auth, token_for
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem
from tracker.oversight import services
from tracker.oversight.models import InspectionBatch, InspectionItem
from tracker.workflow import services as workflow

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
# A Windows executable's first bytes (DOS header, PE offset, PE signature), named .png on upload.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x40\x00\x00\x00" + b"PE\x00\x00"
NAME, PHONE = "王小明", "13812345678"
SECRETS = (NAME, PHONE, "138****5678", "王**")
POOL = ["inspector", "insp2", "insp3", "insp4", "insp5"]
URL = "/api/v1/inspections"


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _do(number, action, actor, **details):
    problem = _problem(number)
    workflow.apply(problem, action, actor=_user(actor), expected_version=problem.version, **details)


def _close(app, number, owner="unita", approver="insp2"):
    """Accept, submit and approve: a yellow problem closes, a red one goes to verifying."""
    with app.app_context():
        _do(number, "accept", owner)
        ledger_services.waive_evidence(_problem(number), actor=_user("inspector"), reason="测试")
        _do(number, "submit", owner, report="<p>已整改</p>")
        _do(number, "approve", approver, opinion="整改到位")
        db.session.commit()


def _clean(response):
    """RESPONSE, after checking that it names no complainant."""
    text = response.get_data(as_text=True)
    assert not any(secret in text for secret in SECRETS), text
    return response


@pytest.fixture
def world(app, make):
    """Four yellow problems of UA and two of UB, assigned by "inspector", each behind a record with
    a named complainant; one new problem (never drawn); tokens for every role."""
    make.org()
    for name in POOL[1:]:
        make.user(name, "inspector", name=f"检查员{name[-1]}")
    clock.pin("2026-11-02T09:00:00")
    who = {"complainant_name": NAME, "complainant_phone": PHONE}
    ua = [make.problem(unit="UA", title=f"甲问题 {k}", assign={"tier": "yellow"}, **who) for k in range(4)]
    ub = [make.problem(unit="UB", title=f"乙问题 {k}", assign={"tier": "yellow"}, **who) for k in range(2)]
    new = make.problem(unit="UA", title="待交办", **who)
    tokens = {name: token_for(app, name) for name in ("inspector", "admin", "leader", "unita")}
    return {"UA": ua, "UB": ub, "new": new, "tokens": tokens}


def _post(client, world, body, who="inspector"):
    return _clean(client.post(URL, json=body, headers=auth(world["tokens"][who])))


def _get(client, world, batch_id, who="inspector"):
    return _clean(client.get(f"{URL}/{batch_id}", headers=auth(world["tokens"][who])))


def _visit(client, world, batch_id, number, result="fail", who="inspector", **extra):
    body = {
        "problem": number,
        "visited_on": "2026-11-02",
        "way": "模拟办事",
        "findings": "窗口仍然推诿，群众反映问题依旧",
        "result": result,
        "inspectors": ["insp3"],
        **extra,
    }
    return _clean(client.post(f"{URL}/{batch_id}/visits", json=body, headers=auth(world["tokens"][who])))


def _batches(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(InspectionBatch))


def _state(app, number):
    with app.app_context():
        problem = _problem(number)
        return problem.status, problem.rework_count, problem.relapse_count, problem.version


# ---- making batches --------------------------------------------------------------------------------


def test_a_sweep_batch_is_201_with_every_assigned_problem_of_the_unit(client, world):
    response = _post(
        client, world, {"method": "sweep", "filter": {"unit_code": "UA"}, "inspectors": ["insp3", "insp4"]}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert {"id", "number", "method", "seed", "population", "problems"} <= set(body)
    assert (body["method"], body["population"], body["sample"], body["number"]) == ("sweep", 4, 4, "暗访〔2026〕1号")
    assert sorted(p["number"] for p in body["problems"]) == sorted(world["UA"])
    assert world["new"] not in [p["number"] for p in body["problems"]]
    # without 双随机 every inspector named goes to every problem
    assert all(p["inspectors"] == ["insp3", "insp4"] and p["inspector"] == "insp3、insp4" for p in body["problems"])
    shown = _get(client, world, body["id"])
    assert shown.status_code == 200
    batch = shown.get_json()
    assert (batch["id"], batch["number"], batch["status"], batch["item_count"], batch["done_count"]) == (
        body["id"],
        body["number"],
        "open",
        4,
        0,
    )
    assert batch["filter"] == {"unit_code": "UA"} and batch["inspector_pool"] == ["insp3", "insp4"]
    assert [p["number"] for p in batch["problems"]] == [p["number"] for p in body["problems"]]
    assert all(p["result"] == "pending" and p["unit_code"] == "UA" for p in batch["problems"])


def test_a_random_batch_chooses_and_returns_a_seed_when_none_is_given(client, world):
    body = _post(client, world, {"method": "random", "sample_size": 2}).get_json()
    assert body["method"] == "random" and body["population"] == 6 and len(body["problems"]) == 2
    assert isinstance(body["seed"], int) and body["seed"] >= 0
    assert _get(client, world, body["id"]).get_json()["seed"] == body["seed"]
    again = _post(client, world, {"method": "random", "sample_size": 2, "seed": body["seed"]}).get_json()
    assert [p["number"] for p in again["problems"]] == [p["number"] for p in body["problems"]]
    assert again["seed"] == body["seed"]
    largest = _post(client, world, {"method": "random", "sample_size": 2, "seed": 2**63 - 1})
    assert largest.status_code == 201 and _get(client, world, largest.get_json()["id"]).get_json()["seed"] == 2**63 - 1


@pytest.mark.parametrize(("percent", "count"), [(50, 3), (20, 2), ("34%", 3), (1, 1), (100, 6), (16.7, 2)])
def test_a_sample_percent_is_rounded_up(client, world, percent, count):
    response = _post(client, world, {"method": "random", "sample_percent": percent, "seed": 1})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["population"], body["sample"], len(body["problems"])) == (6, count, count)
    assert _get(client, world, body["id"]).get_json()["sample_percent"] == float(str(percent).rstrip("%"))


def test_the_same_plan_draws_the_same_problems_and_inspectors(client, world):
    plan = {
        "method": "random",
        "filter": {"tier": "yellow"},
        "sample_size": 3,
        "seed": 20261202,
        "double_random": True,
        "inspectors": ["insp5", "insp2", "insp3", "inspector", "insp4"],
        "per_problem": 2,
    }
    first = _post(client, world, plan).get_json()
    second = _post(client, world, {**plan, "inspectors": sorted(plan["inspectors"]), "seed": "20261202"}).get_json()
    assert first["id"] != second["id"] and first["seed"] == second["seed"] == 20261202
    assert first["problems"] == second["problems"] and len(first["problems"]) == 3
    assert all(len(p["inspectors"]) == 2 and "inspector" not in p["inspectors"] for p in first["problems"])  # 回避
    others = [_post(client, world, {**plan, "seed": seed}).get_json()["problems"] for seed in range(1, 6)]
    assert any(other != first["problems"] for other in others)
    # a 双随机 sweep without a seed gets one too, and replaying it draws the same inspectors
    sweep = {"method": "sweep", "double_random": True, "per_problem": 1, "inspectors": POOL[1:]}
    drawn = _post(client, world, sweep).get_json()
    assert isinstance(drawn["seed"], int)
    assert _post(client, world, {**sweep, "seed": drawn["seed"]}).get_json()["problems"] == drawn["problems"]


def test_a_targeted_batch_takes_the_problems_named_once_each(client, world):
    numbers = [world["UB"][1], world["UA"][2].lower(), world["UB"][1]]
    response = _post(client, world, {"method": "targeted", "problems": numbers, "inspectors": ["insp3"]})
    assert response.status_code == 201
    body = response.get_json()
    assert body["method"] == "targeted" and body["population"] == 2
    assert sorted(p["number"] for p in body["problems"]) == sorted([world["UB"][1], world["UA"][2]])
    assert all(p["inspector"] == "insp3" for p in body["problems"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "method"),
        ({"method": "lottery"}, "method"),
        ({"method": "random"}, "sample_size"),
        ({"method": "random", "sample_size": 2, "sample_percent": 10}, "sample_size"),
        ({"method": "random", "sample_size": 0}, "sample_size"),
        ({"method": "random", "sample_size": 7}, "sample_size"),  # the population is 6
        ({"method": "random", "sample_size": -1}, "sample_size"),
        ({"method": "random", "sample_percent": 0}, "sample_percent"),
        ({"method": "random", "sample_percent": 101}, "sample_percent"),
        ({"method": "random", "sample_percent": "lots"}, "sample_percent"),
        ({"method": "random", "sample_size": 2, "seed": -1}, "seed"),
        ({"method": "random", "sample_size": 2, "seed": 1.5}, "seed"),
        ({"method": "random", "sample_size": 2, "seed": 2**63}, "seed"),
        ({"method": "random", "sample_size": 2, "seed": "12a"}, "seed"),
        ({"method": "targeted", "problems": ["ZG-2026-999999"]}, "problems"),
        ({"method": "targeted", "problems": []}, "problems"),
        ({"method": "targeted", "problems": ["NEW"]}, "problems"),  # not yet assigned
        ({"method": "sweep", "inspectors": ["nobody"]}, "inspectors"),
        ({"method": "sweep", "inspectors": ["unita"]}, "inspectors"),  # not an inspector
        ({"method": "sweep", "double_random": True, "inspectors": ["inspector", "insp2"]}, "inspectors"),  # 回避
        ({"method": "sweep", "filter": {"unit_code": "NOPE"}}, "filter.unit_code"),
        ({"method": "sweep", "filter": {"tier": "green"}}, "filter.tier"),
        ({"method": "sweep", "filter": {"status": "new"}}, "filter.status"),
        ({"method": "sweep", "filter": {"colour": "red"}}, "filter.colour"),
        ({"method": "sweep", "filter": {"closed_from": "2026-13-01"}}, "filter.closed_from"),
        ({"method": "sweep", "filter": {"category": "不存在的分类"}}, "filter"),  # matches nothing
        # wrong JSON types
        ({"method": 1}, "method"),
        ({"method": "random", "sample_size": "3"}, "sample_size"),
        ({"method": "random", "sample_size": True}, "sample_size"),
        ({"method": "random", "sample_percent": [20]}, "sample_percent"),
        ({"method": "random", "sample_size": 2, "seed": True}, "seed"),
        ({"method": "sweep", "filter": "UA"}, "filter"),
        ({"method": "sweep", "filter": {"unit_code": 5}}, "filter.unit_code"),
        ({"method": "targeted", "problems": "ZG-2026-000001"}, "problems"),
        ({"method": "targeted", "problems": [1, 2]}, "problems"),
        ({"method": "sweep", "inspectors": "insp3"}, "inspectors"),
        ({"method": "sweep", "double_random": "yes"}, "double_random"),
        ({"method": "sweep", "per_problem": "2"}, "per_problem"),
        ({"method": "sweep", "title": ["暗访"]}, "title"),
    ],
)
def test_bad_plans_are_422_naming_the_field_and_save_nothing(app, client, world, body, field):
    if body.get("problems") == ["NEW"]:
        body = {**body, "problems": [world["new"]]}
    response = _post(client, world, body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and field in error["fields"], error
    assert any("\u4e00" <= c <= "\u9fff" for c in error["message"])
    assert _batches(app) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "not json", "content_type": "application/json"},
        {"data": "{bad", "content_type": "application/json"},
        {"json": ["sweep"]},
        {"json": "sweep"},
        {"data": "method=sweep", "content_type": "application/x-www-form-urlencoded"},
    ],
)
def test_a_body_that_is_not_a_json_object_is_400_bad_json(app, client, world, kwargs):
    response = client.post(URL, headers=auth(world["tokens"]["inspector"]), **kwargs)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_json"
    batch_id = _post(client, world, {"method": "sweep"}).get_json()["id"]
    visit = client.post(f"{URL}/{batch_id}/visits", headers=auth(world["tokens"]["inspector"]), **kwargs)
    assert visit.status_code == 400 and visit.get_json()["error"]["code"] == "bad_json"
    assert _batches(app) == 1


# ---- who may see a batch ---------------------------------------------------------------------------


def test_calls_without_a_token_are_401(client, world):
    assert client.post(URL, json={"method": "sweep"}).status_code == 401
    assert client.get(f"{URL}/1").status_code == 401
    assert client.post(f"{URL}/1/visits", json={}).status_code == 401


@pytest.mark.parametrize("name", ["unita", "leader", "admin"])
def test_only_inspectors_make_batches(app, client, world, name):
    response = _post(client, world, {"method": "sweep"}, who=name)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert _batches(app) == 0


def test_a_batch_does_not_exist_for_units_and_leaders_even_once_recorded(app, client, world):
    body = _post(client, world, {"method": "targeted", "problems": [world["UA"][0]], "inspectors": ["insp3"]})
    batch_id = body.get_json()["id"]
    missing = _get(client, world, batch_id + 100)
    assert missing.status_code == 404
    for name in ("unita", "leader"):
        hidden = _get(client, world, batch_id, who=name)
        assert hidden.status_code == 404 and hidden.get_json() == missing.get_json(), name
        visit = _visit(client, world, batch_id, world["UA"][0], "pass", who=name)
        assert visit.status_code == 404 and visit.get_json() == missing.get_json(), name
    admin = _get(client, world, batch_id, who="admin")
    assert admin.status_code == 200 and admin.get_json()["problems"][0]["number"] == world["UA"][0]
    assert _visit(client, world, batch_id, world["UA"][0], "pass", who="admin").status_code == 403
    assert _state(app, world["UA"][0])[0] == "assigned"
    # every result recorded: the batch is done, and still the same 404 for a unit and a leader
    done = _visit(client, world, batch_id, world["UA"][0], "pass")
    assert done.status_code == 201 and done.get_json()["batch"]["status"] == "done"
    assert _get(client, world, batch_id).get_json()["status"] == "done"
    for name in ("unita", "leader"):
        hidden = _get(client, world, batch_id, who=name)
        assert hidden.status_code == 404 and hidden.get_json() == missing.get_json(), name
    assert _get(client, world, batch_id, who="admin").status_code == 200


# ---- visits ----------------------------------------------------------------------------------------


@pytest.fixture
def closed(app, client, world):
    """UA's first two problems closed (approved by insp2), in a sweep batch of the closed ones."""
    for number in world["UA"][:2]:
        _close(app, number)
    body = _post(client, world, {"method": "sweep", "filter": {"status": "closed"}}).get_json()
    assert sorted(p["number"] for p in body["problems"]) == sorted(world["UA"][:2])
    return body["id"], world["UA"][:2]


def test_a_failed_visit_on_a_closed_problem_is_a_relapse_back_in_progress(app, client, world, closed):
    batch_id, numbers = closed
    before = _state(app, numbers[0])
    response = _visit(client, world, batch_id, numbers[0], "fail", way="走访群众")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["number"], body["result"], body["relapse"], body["status_before"]) == (
        numbers[0],
        "fail",
        True,
        "closed",
    )
    assert (body["problem_status"], body["way"], body["visited_on"], body["inspectors"]) == (
        "in_progress",
        "走访群众",
        "2026-11-02",
        ["insp3"],
    )
    assert body["batch"] == {"id": batch_id, "number": "暗访〔2026〕1号", "status": "open", "done_count": 1}
    status, rework, relapse, version = _state(app, numbers[0])
    assert (status, rework, relapse) == ("in_progress", before[1], before[2] + 1) and version > before[3]
    problem = client.get(f"/api/v1/problems/{numbers[0]}", headers=auth(world["tokens"]["inspector"]))  # shows masks
    assert problem.get_json()["counters"]["relapse"] == 1 and problem.get_json()["closed_at"] is None
    shown = _get(client, world, batch_id).get_json()
    item = next(p for p in shown["problems"] if p["number"] == numbers[0])
    assert (item["result"], item["findings"], item["relapse"]) == ("fail", "窗口仍然推诿，群众反映问题依旧", True)


def test_a_passed_visit_leaves_a_closed_problem_closed_and_the_last_one_finishes_the_batch(app, client, world, closed):
    batch_id, numbers = closed
    first = _visit(client, world, batch_id, numbers[0], "pass", findings="")
    assert first.status_code == 201 and first.get_json()["problem_status"] == "closed"
    assert first.get_json()["relapse"] is False and first.get_json()["batch"]["status"] == "open"
    assert _state(app, numbers[0])[:3] == ("closed", 0, 0)
    last = _visit(client, world, batch_id, numbers[1], "fail").get_json()
    assert last["batch"]["status"] == "done" and last["batch"]["done_count"] == 2
    shown = _get(client, world, batch_id).get_json()
    assert (shown["status"], shown["done_count"]) == ("done", 2) and shown["finished_at"]


def test_a_failed_visit_on_a_verifying_problem_is_a_rework(app, client, make, world):
    red = make.problem(unit="UA", title="燃气管道安全隐患", assign={"tier": "red"}, complainant_name=NAME)
    _close(app, red)
    assert _state(app, red)[:3] == ("verifying", 0, 0)
    body = _post(client, world, {"method": "targeted", "problems": [red], "inspectors": ["insp3", "insp4"]})
    batch_id = body.get_json()["id"]
    response = _visit(client, world, batch_id, red, "fail", inspectors=[])  # default: those sent
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["status_before"], body["relapse"], body["problem_status"]) == ("verifying", False, "in_progress")
    assert body["inspectors"] == ["insp3", "insp4"]
    assert _state(app, red)[:3] == ("in_progress", 1, 0)


def test_a_passed_visit_on_a_verifying_problem_closes_it(app, client, make, world):
    red = make.problem(unit="UB", title="燃气管道安全隐患", assign={"tier": "red"})
    _close(app, red, owner="unitb")
    batch_id = _post(client, world, {"method": "targeted", "problems": [red]}).get_json()["id"]
    response = _visit(client, world, batch_id, red, "pass", findings="管道已更换")
    assert response.status_code == 201 and response.get_json()["problem_status"] == "closed"
    assert _state(app, red)[:3] == ("closed", 0, 0)


def _files(app):
    with app.app_context():
        folder = services.photo_folder()
        return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _multipart(client, world, batch_id, number, photos, **extra):
    data = {
        "problem": number,
        "visited_on": "2026-11-02",
        "way": "隐秘拍摄",
        "findings": "现场仍有占道经营",
        "result": "fail",
        "inspectors": "insp3，insp4",
        "photos": photos,
        **extra,
    }
    return _clean(
        client.post(
            f"{URL}/{batch_id}/visits",
            data=data,
            content_type="multipart/form-data",
            headers=auth(world["tokens"]["inspector"]),
        )
    )


def test_a_multipart_visit_keeps_its_photo(app, client, world, closed):
    batch_id, numbers = closed
    before = _files(app)
    response = _multipart(client, world, batch_id, numbers[0], [(io.BytesIO(PNG), "现场.png")], version="1")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["inspectors"] == ["insp3", "insp4"] and body["way"] == "隐秘拍摄" and body["relapse"] is True
    [photo] = body["photos"]
    assert (photo["content_type"], photo["size"], photo["sha256"]) == (
        "image/png",
        len(PNG),
        hashlib.sha256(PNG).hexdigest(),
    )
    assert photo["filename"].endswith(".png")
    [stored] = _files(app) - before
    with app.app_context():
        path = services.photo_folder() / stored
        assert path.read_bytes() == PNG and stored != "现场.png"
    shown = _get(client, world, batch_id).get_json()
    assert next(p for p in shown["problems"] if p["number"] == numbers[0])["photos"] == [photo]


@pytest.mark.parametrize(
    ("content", "filename"),
    [(EXE, "现场.png"), (b"<html>not a photo</html>", "x.jpg"), (b"", "empty.png")],
)
def test_a_visit_whose_photo_is_refused_is_422_and_records_nothing(app, client, world, closed, content, filename):
    batch_id, numbers = closed
    before, state = _files(app), _state(app, numbers[0])
    photos = [(io.BytesIO(PNG), "a.png"), (io.BytesIO(content), filename)]
    response = _multipart(client, world, batch_id, numbers[0], photos)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and "file" in error["fields"]
    assert _files(app) == before and _state(app, numbers[0]) == state
    item = next(p for p in _get(client, world, batch_id).get_json()["problems"] if p["number"] == numbers[0])
    assert (item["result"], item["photos"]) == ("pending", [])


def test_a_visit_for_a_problem_not_in_the_batch_is_422(app, client, world, closed):
    batch_id, numbers = closed
    for number in (world["UB"][0], "ZG-2026-999999", ""):
        response = _visit(client, world, batch_id, number)
        assert response.status_code == 422 and "problem" in response.get_json()["error"]["fields"], number
    missing = _visit(client, world, batch_id, None)
    assert missing.status_code == 422 and "problem" in missing.get_json()["error"]["fields"]
    assert _state(app, world["UB"][0])[0] == "assigned"
    assert _visit(client, world, batch_id + 100, numbers[0]).status_code == 404


def test_a_second_visit_for_the_same_problem_is_409_and_changes_nothing(app, client, world, closed):
    batch_id, numbers = closed
    assert _visit(client, world, batch_id, numbers[0], "pass").status_code == 201
    state = _state(app, numbers[0])
    again = _visit(client, world, batch_id, numbers[0].lower(), "fail")
    assert again.status_code == 409
    assert again.get_json()["error"] == {
        "code": "conflict",
        "message": "该问题的复查结果已登记，不能重复登记。",
        "fields": {},
    }
    assert _state(app, numbers[0]) == state
    shown = _get(client, world, batch_id).get_json()
    assert shown["done_count"] == 1 and shown["status"] == "open"


def test_a_stale_item_version_is_409_and_the_current_one_is_201(app, client, world, closed):
    batch_id, numbers = closed
    stale = _visit(client, world, batch_id, numbers[0], version=7)
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "conflict"
    assert "刷新" in stale.get_json()["error"]["message"]
    assert _state(app, numbers[0])[0] == "closed"
    item = next(p for p in _get(client, world, batch_id).get_json()["problems"] if p["number"] == numbers[0])
    assert _visit(client, world, batch_id, numbers[0], version=item["version"]).status_code == 201


def test_a_visit_on_a_problem_whose_state_moved_on_keeps_the_state_and_says_so(app, client, world, closed):
    """Drawn while closed, reopened by a fail in another batch: a fail here moves nothing (no
    second relapse) and the answer tells the state the problem was in."""
    batch_id, numbers = closed
    other = _post(client, world, {"method": "targeted", "problems": [numbers[0]]}).get_json()["id"]
    assert _visit(client, world, other, numbers[0], "fail").status_code == 201
    after_relapse = _state(app, numbers[0])
    response = _visit(client, world, batch_id, numbers[0], "fail")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["status_before"], body["problem_status"], body["relapse"]) == ("in_progress", "in_progress", False)
    assert _state(app, numbers[0])[:3] == after_relapse[:3] == ("in_progress", 0, 1)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"result": "maybe"}, "result"),
        ({"result": None}, "result"),
        ({"way": "打电话"}, "way"),
        ({"visited_on": "2026-11-31"}, "visited_on"),
        ({"visited_on": "2026-11-05"}, "visited_on"),  # later than today
        ({"visited_on": "2026-10-01"}, "visited_on"),  # before the batch was made
        ({"visited_on": None}, "visited_on"),
        ({"findings": ""}, "findings"),  # a fail says what was found
        ({"inspectors": []}, "inspectors"),  # nobody was sent and nobody is named
        ({"inspectors": ["insp2"]}, "inspectors"),  # approved it: 回避
        ({"inspectors": ["unita"]}, "inspectors"),
        ({"inspectors": ["nobody"]}, "inspectors"),
        # wrong JSON types
        ({"problem": 5}, "problem"),
        ({"result": True}, "result"),
        ({"inspectors": "insp3"}, "inspectors"),
        ({"findings": ["推诿"]}, "findings"),
        ({"visited_on": 20261102}, "visited_on"),
        ({"version": "1"}, "version"),
        ({"way": {"模拟办事": 1}}, "way"),
    ],
)
def test_a_bad_visit_is_422_naming_the_field_and_records_nothing(app, client, world, closed, extra, field):
    batch_id, numbers = closed
    state = _state(app, numbers[0])
    response = _visit(client, world, batch_id, numbers[0], **{"result": "fail", **extra})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and field in error["fields"], error
    assert _state(app, numbers[0]) == state
    with app.app_context():
        results = db.session.scalars(select(InspectionItem.result).where(InspectionItem.batch_id == batch_id)).all()
    assert results == ["pending", "pending"]


def test_no_answer_names_the_complainant(app, client, world, closed):
    """Every answer above went through _clean; here the records are checked to hold the names, so
    that the check can fail."""
    batch_id, numbers = closed
    with app.app_context():
        from tracker.intake.models import IntakeRecord

        record = db.session.scalars(
            select(IntakeRecord).where(IntakeRecord.problem_id == _problem(numbers[0]).id)
        ).one()
        stored = record.complainant()
        masks = (record.complainant_name_mask, record.complainant_phone_mask)
    assert (stored["name"], stored["phone"]) == (NAME, PHONE) and set(masks) <= set(SECRETS)
    _visit(client, world, batch_id, numbers[0], "fail", findings=f"群众反映问题依旧（{numbers[0]}）")
    for response in (_get(client, world, batch_id), _post(client, world, {"method": "sweep"})):
        assert response.status_code in (200, 201)
