"""The whole transition table, for every (state, action, role): allowed or refused, through the
service, the page and the API, with the same outcome each way."""

from datetime import date

import pytest
from sqlalchemy import select, update

from tests.api.test_intake_api import auth, token_for
from tests.conftest import login
from tracker.auth.models import User
from tracker.core.errors import DomainError
from tracker.extensions import db
from tracker.ledger.models import Problem, Status
from tracker.workflow import services as workflow
from tracker.workflow.services import TRANSITIONS

ACTIONS = sorted({action for (_state, action) in TRANSITIONS})
STATES = [s.value for s in Status]
ROLES = {"admin": "admin", "inspector": "inspector", "leader": "leader", "unit": "unita", "other_unit": "unitb"}
DETAILS = {
    "assign": {"tier": "yellow", "unit_code": "UA", "owner": "unita", "measures": "限期整改"},
    "withdraw": {"withdraw_reason": "重复", "reason": "与已有问题重复"},
    "return": {"reason": "非本单位职责"},
    "submit": {"report": "<p>已整改完毕</p>"},
    "approve": {"opinion": "整改到位，同意销号"},
    "reject": {"reason": "整改不到位"},
    "verify_fail": {"reason": "暗访发现问题仍在"},
    "reopen": {"reason": "回访不满意"},
}


def expected(state, action, role):
    """'ok', or the HTTP status of the refusal."""
    if role == "other_unit":
        return 404
    transition = TRANSITIONS.get((state, action))
    if transition is None:
        return 409
    from tracker.access.policy import ROLE_PERMISSIONS, Role

    role_name = {"unit": "unit"}.get(role, role)
    if transition.permission not in ROLE_PERMISSIONS[Role(role_name)]:
        return 403
    # A verification's result is recorded as a re-inspection visit, never taken as an action.
    return 422 if transition.by_visit else "ok"


def put_in_state(app, make, state):
    """A yellow problem of unit UA, forced into STATE (setup only; the workflow itself is under test)."""
    number = make.problem(title="希望延长开放时间", body="周末开放时间短。")
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.username == "unita"))
        inspector = db.session.scalar(select(User).where(User.username == "inspector"))
        values = {"status": state, "evidence_waived": True}
        if state != "new":
            values.update(
                tier="yellow",
                owner_id=owner.id,
                inspector_id=inspector.id,
                measures="限期整改",
                deadline=date(2027, 3, 1),
                original_deadline=date(2027, 3, 1),
            )
        db.session.execute(update(Problem).where(Problem.number == number).values(**values))
        db.session.commit()
    return number


def status_of(app, number):
    with app.app_context():
        return db.session.scalar(select(Problem.status).where(Problem.number == number))


CASES = [(s, a, r) for s in STATES for a in ACTIONS for r in ROLES]


@pytest.mark.parametrize(("state", "action", "role"), CASES)
def test_service(app, make, state, action, role):
    make.org()
    number = put_in_state(app, make, state)
    outcome = expected(state, action, role)
    with app.app_context():
        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        actor = db.session.scalar(select(User).where(User.username == ROLES[role]))
        try:
            workflow.apply(problem, action, actor=actor, expected_version=problem.version, **DETAILS.get(action, {}))
            db.session.commit()
            got = "ok"
        except DomainError as error:
            db.session.rollback()
            got = error.status
    assert got == outcome
    if outcome != "ok":
        assert status_of(app, number) == state


@pytest.mark.parametrize(("state", "action", "role"), CASES)
def test_page(app, make, state, action, role):
    make.org()
    number = put_in_state(app, make, state)
    outcome = expected(state, action, role)
    client = app.test_client()
    login(client, ROLES[role])
    page = client.get(f"/ledger/{number}")
    if outcome == 404:
        assert page.status_code == 404
        token = client.get("/").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    else:
        html = page.get_data(as_text=True)
        assert (f'name="action" value="{action}"' in html or (action == "assign" and "/assign" in html)) == (
            outcome == "ok"
        )
        token = html.split('name="csrf_token" value="')[1].split('"')[0]
    with app.app_context():
        version = db.session.scalar(select(Problem.version).where(Problem.number == number))
    response = client.post(
        f"/ledger/{number}/act",
        data={"csrf_token": token, "action": action, "version": version, **DETAILS.get(action, {})},
    )
    assert response.status_code == (302 if outcome == "ok" else outcome)
    if outcome != "ok":
        assert status_of(app, number) == state


@pytest.mark.parametrize(("state", "action", "role"), CASES)
def test_api(app, make, state, action, role):
    make.org()
    number = put_in_state(app, make, state)
    outcome = expected(state, action, role)
    token = token_for(app, ROLES[role])
    with app.app_context():
        version = db.session.scalar(select(Problem.version).where(Problem.number == number))
    response = app.test_client().post(
        f"/api/v1/problems/{number}/transitions",
        headers=auth(token),
        json={"action": action, "version": version, **DETAILS.get(action, {})},
    )
    assert response.status_code == (200 if outcome == "ok" else outcome), response.get_json()
    if outcome != "ok":
        assert status_of(app, number) == state


def test_a_refused_action_is_named_in_the_users_words(app, make):
    make.org()
    number = put_in_state(app, make, "closed")
    with app.app_context():
        problem = db.session.scalar(select(Problem).where(Problem.number == number))
        inspector = db.session.scalar(select(User).where(User.username == "inspector"))
        with pytest.raises(DomainError) as refused:
            workflow.apply(problem, "accept", actor=inspector)
    message = str(refused.value)
    assert f"“{workflow.ACTION_LABELS['accept']}”" in message and "accept" not in message
