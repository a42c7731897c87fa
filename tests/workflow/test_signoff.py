"""Sign-off that means something: open milestones are done or explained at 申请销号, 审核通过 takes
an opinion, a closed problem says when and by whom it was signed off, and the page reads in order."""

import pytest
from sqlalchemy import select

from tests.api.test_intake_api import auth, token_for
from tests.conftest import login, post_form
from tracker.auth.models import User
from tracker.core import clock
from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.ledger import services
from tracker.ledger.models import Problem
from tracker.workflow import services as workflow


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _problem(number):
    return db.session.scalar(select(Problem).where(Problem.number == number))


def _do(app, number, action, actor, **details):
    with app.app_context():
        problem = _problem(number)
        workflow.apply(problem, action, actor=_user(actor), expected_version=problem.version, **details)
        db.session.commit()


def _visit(app, number, result, inspector):
    """Record the verification visit of NUMBER (its batch was made when it was approved)."""
    from tracker.oversight import services as oversight

    with app.app_context():
        item = oversight.open_item_for(_problem(number))
        data = {"problem": number, "visited_on": clock.today(), "way": "现场查看", "findings": "已整改到位"}
        oversight.record_visit(
            item.batch, {**data, "result": result, "inspectors": [inspector]}, actor=_user("inspector")
        )
        db.session.commit()


def _state(app, number):
    with app.app_context():
        problem = _problem(number)
        return problem.status, problem.version, [(m.id, m.title, m.done_at, m.explanation) for m in problem.milestones]


@pytest.fixture
def blue(app, make):
    """A blue problem of UA with back-scheduled milestones, accepted; evidence waived."""
    make.org()
    clock.pin("2026-11-02T09:00:00")
    number = make.problem(title="老旧小区排水管网需改造", body="需要资金改造管网。", assign={"tier": "blue"})
    _do(app, number, "accept", "unita")
    with app.app_context():
        services.waive_evidence(_problem(number), actor=_user("inspector"), reason="以会议纪要为准")
        db.session.commit()
    clock.pin("2026-11-20T09:00:00")
    return number


@pytest.fixture
def submitted(app, make):
    """A yellow problem of UA, accepted and submitted."""
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(title="希望延长开放时间", body="周末开放时间短。", assign={"tier": "yellow"})
    _do(app, number, "accept", "unita")
    with app.app_context():
        services.waive_evidence(_problem(number), actor=_user("inspector"), reason="测试")
        db.session.commit()
    _do(app, number, "submit", "unita", report="<p>已延长周末开放时间</p>")
    return number


def _page(client, number):
    return client.get(f"/ledger/{number}").get_data(as_text=True)


# ---- 申请销号 with open milestones -----------------------------------------------------------------


def test_submit_lists_each_open_milestone(app, blue):
    _status, _version, milestones = _state(app, blue)
    assert len(milestones) >= 2
    client = app.test_client()
    login(client, "unita")
    form = _page(client, blue).split('id="submit-milestones"', 1)[1].split("</fieldset>", 1)[0]
    for milestone_id, title, _done, _explanation in milestones:
        assert title in form and f'name="milestone_explanation_{milestone_id}"' in form
        assert f'name="milestone_done_{milestone_id}"' in form


def test_submit_with_an_unanswered_milestone_is_refused_and_keeps_what_was_typed(app, blue):
    status, version, milestones = _state(app, blue)
    first, second = milestones[0][0], milestones[1][0]
    client = app.test_client()
    login(client, "unita")
    response = post_form(
        client,
        f"/ledger/{blue}/act",
        {
            "action": "submit",
            "version": version,
            "report": "管网改造一期已完工",
            f"milestone_explanation_{first}": "资金下月到位，二期随后开工",
        },
        f"/ledger/{blue}",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "个整改节点未完成" in html and "请标记完成，或说明未完成的原因。" in html
    assert "资金下月到位，二期随后开工</textarea>" in html  # the explanation stays in its field
    assert "管网改造一期已完工</textarea>" in html  # and so does the report
    assert f'name="milestone_explanation_{second}"' in html
    assert _state(app, blue)[:2] == (status, version)
    assert all(explanation is None for *_rest, explanation in _state(app, blue)[2])


def test_submit_with_every_milestone_done_or_explained_keeps_the_explanations(app, blue):
    _status, version, milestones = _state(app, blue)
    done_id = milestones[0][0]
    answers = {f"milestone_done_{done_id}": "1"}
    for milestone_id, *_rest in milestones[1:]:
        answers[f"milestone_explanation_{milestone_id}"] = "资金下月到位，二期随后开工"
    client = app.test_client()
    login(client, "unita")
    response = post_form(
        client,
        f"/ledger/{blue}/act",
        {"action": "submit", "version": version, "report": "管网改造一期已完工", **answers},
        f"/ledger/{blue}",
    )
    assert response.status_code == 302
    status, _version, after = _state(app, blue)
    assert status == "submitted"
    assert after[0][2] is not None and after[0][3] is None
    assert all(done is None and explanation == "资金下月到位，二期随后开工" for _i, _t, done, explanation in after[1:])
    inspector = app.test_client()
    login(inspector, "inspector")
    assert "说明：资金下月到位，二期随后开工" in _page(inspector, blue)


def test_the_api_submit_takes_milestone_answers_and_names_the_missing_ones(app, blue):
    _status, version, milestones = _state(app, blue)
    token = token_for(app, "unita")
    url = f"/api/v1/problems/{blue}/transitions"
    client = app.test_client()
    refused = client.post(url, headers=auth(token), json={"action": "submit", "version": version, "report": "已完工"})
    assert refused.status_code == 422
    assert set(refused.get_json()["error"]["fields"]) == {f"milestone_{m[0]}" for m in milestones}
    answers = [{"id": m[0], "explanation": "二期待资金"} for m in milestones[1:]]
    answers.append({"id": milestones[0][0], "done": True})
    response = client.post(
        url,
        headers=auth(token),
        json={"action": "submit", "version": version, "report": "已完工", "milestones": answers},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "submitted"
    assert body["milestones"][0]["done"] and body["milestones"][1]["explanation"] == "二期待资金"


def test_an_explained_milestone_no_longer_marks_the_problem_behind(app, blue):
    from tracker.alerts.models import Alert
    from tracker.alerts.scan import scan

    with app.app_context():
        scan()
        db.session.commit()
        assert db.session.scalar(select(Alert).where(Alert.kind == "behind", Alert.resolved_at.is_(None)))
    _status, _version, milestones = _state(app, blue)
    answers = [{"id": m[0], "explanation": "二期待资金"} for m in milestones]
    _do(app, blue, "submit", "unita", report="一期已完工", milestones=answers)
    with app.app_context():
        assert db.session.scalar(select(Alert).where(Alert.kind == "behind", Alert.resolved_at.is_(None))) is None


# ---- 审核通过 takes an opinion ----------------------------------------------------------------------


def test_approve_without_an_opinion_is_refused(app, submitted):
    with app.app_context():
        problem = _problem(submitted)
        with pytest.raises(ValidationFailed) as failure:
            workflow.apply(problem, "approve", actor=_user("inspector"), expected_version=problem.version)
        assert "opinion" in failure.value.fields
        db.session.rollback()
    assert _state(app, submitted)[0] == "submitted"


def test_the_api_approve_names_the_missing_opinion(app, submitted):
    token = token_for(app, "inspector")
    with app.app_context():
        version = _problem(submitted).version
    url = f"/api/v1/problems/{submitted}/transitions"
    client = app.test_client()
    refused = client.post(url, headers=auth(token), json={"action": "approve", "version": version})
    assert refused.status_code == 422 and "opinion" in refused.get_json()["error"]["fields"]
    response = client.post(
        url, headers=auth(token), json={"action": "approve", "version": version, "opinion": "整改到位"}
    )
    assert response.status_code == 200
    assert response.get_json()["review_opinion"] == "整改到位"


def test_approve_on_the_page_stores_and_shows_the_opinion_and_who_signed_off(app, submitted):
    client = app.test_client()
    login(client, "inspector")
    with app.app_context():
        version = _problem(submitted).version
    refused = post_form(
        client, f"/ledger/{submitted}/act", {"action": "approve", "version": version}, f"/ledger/{submitted}"
    )
    assert refused.status_code == 422 and "请填写审核意见" in refused.get_data(as_text=True)
    clock.pin("2026-10-12T10:30:00")
    response = post_form(
        client,
        f"/ledger/{submitted}/act",
        {"action": "approve", "version": version, "opinion": "周末开放时间已延长，群众认可"},
        f"/ledger/{submitted}",
    )
    assert response.status_code == 302
    with app.app_context():
        problem = _problem(submitted)
        assert problem.status == "closed"
        assert problem.review_opinion == "周末开放时间已延长，群众认可"
        assert problem.closed_by_id == _user("inspector").id and problem.closed_at is not None
    html = _page(client, submitted)
    assert "周末开放时间已延长，群众认可" in html.split('id="review-opinion"', 1)[1].split("</dd>", 1)[0]
    signed = html.split('id="signed-off"', 1)[1].split("</dd>", 1)[0]
    assert "2026-10-12 10:30" in signed and "inspector" in signed


def test_verification_records_who_closed_and_reopen_clears_it(app, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(title="燃气管道安全隐患", body="燃气管道锈蚀。", assign={"tier": "red"})
    _do(app, number, "accept", "unita")
    with app.app_context():
        services.waive_evidence(_problem(number), actor=_user("inspector"), reason="测试")
        db.session.commit()
    _do(app, number, "submit", "unita", report="已更换管道")
    _do(app, number, "approve", "inspector", opinion="已更换，待暗访核查")
    with app.app_context():
        problem = _problem(number)
        assert problem.status == "verifying" and problem.closed_at is None and problem.closed_by_id is None
    make.user("checker", "inspector", name="李核查")
    _visit(app, number, "pass", "checker")
    with app.app_context():
        problem = _problem(number)
        # signed off by the approver; the covert visit only confirmed it
        assert problem.status == "closed" and problem.closed_by_id == _user("inspector").id
    _do(app, number, "reopen", "inspector", reason="回访不满意")
    with app.app_context():
        problem = _problem(number)
        assert problem.closed_at is None and problem.closed_by_id is None


# ---- the page -----------------------------------------------------------------------------------


def test_the_evidence_upload_comes_before_the_submit_form_and_notes_never_say_html(app, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(title="希望延长开放时间", body="周末开放时间短。", assign={"tier": "yellow"})
    _do(app, number, "accept", "unita")
    client = app.test_client()
    login(client, "unita")
    html = _page(client, number)
    actions = html.split('id="actions"', 1)[1].split("</section>", 1)[0]
    assert actions.index('id="evidence-file"') < actions.index('name="action" value="submit"')
    assert "可使用加粗、列表等格式" in actions and "HTML" not in actions
