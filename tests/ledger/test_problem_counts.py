"""problem_counts always equals a recount of the problems per unit, tier, status and quick-fix flag,
whatever wrote them (the services, a bulk INSERT, UPDATEs, a DELETE); the counts bar read from it
gives what a live count gives, for every role and every filter it answers; the upgrade that adds it
counts the problems already there."""

from collections import Counter
from datetime import UTC, datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import delete, insert, select, update

from tests.conftest import login
from tests.test_migrations import app_at, empty_database_url, table  # noqa: F401 - the fixture
from tracker.extensions import db
from tracker.ledger import counts, queries
from tracker.ledger.models import Problem, ProblemCount
from tracker.org.queries import unit_by_code


def _recount():
    found = Counter()
    for unit_id, tier, status, quick in db.session.execute(
        select(Problem.unit_id, Problem.tier, Problem.status, Problem.is_quick_fix)
    ):
        found[(unit_id or 0, tier or "", status, 1 if quick else 0)] += 1
    return dict(found)


def _summary():
    rows = db.session.execute(select(ProblemCount.unit_id, ProblemCount.tier, ProblemCount.status,
                                     ProblemCount.quick_fix, ProblemCount.problems))  # fmt: skip
    return {(u, t, s, q): n for u, t, s, q, n in rows if n}


def _bulk_rows(template, n, unit_ids):
    now = datetime(2026, 11, 10, 1, tzinfo=UTC)
    return [
        {
            "number": f"ZG-2026-9{i:05d}",
            "title": "批量",
            "description": "批量写入",
            "status": ("new", "assigned", "in_progress", "closed")[i % 4],
            "tier": (None, "red", "yellow", "blue")[i % 4],
            "is_quick_fix": i % 7 == 0,
            "unit_id": unit_ids[i % len(unit_ids)],
            "source_kind": template.source_kind,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for i in range(n)
    ]


def test_the_counts_follow_every_kind_of_write(app, make):
    make.org()
    first = make.problem(assign={"tier": "red", "tier_override_reason": "按实际情况"})
    make.problem(unit="UB")
    with app.app_context():
        assert _summary() == _recount() and sum(_summary().values()) == 2
        ua, ub = unit_by_code("UA").id, unit_by_code("UB").id
        template = db.session.scalar(select(Problem).where(Problem.number == first))
        db.session.execute(insert(Problem), _bulk_rows(template, 40, [ua, ub, None]))
        db.session.commit()
        assert _summary() == _recount()
        db.session.execute(update(Problem).where(Problem.number == first).values(unit_id=ub, tier="blue"))
        db.session.execute(update(Problem).where(Problem.number.like("ZG-2026-90001%")).values(status="closed"))
        db.session.execute(update(Problem).where(Problem.number.like("ZG-2026-90002%")).values(is_quick_fix=True))
        db.session.execute(update(Problem).values(title="无关字段的修改"))
        db.session.commit()
        assert _summary() == _recount()
        db.session.execute(delete(Problem).where(Problem.number.like("ZG-2026-90003%")))
        db.session.commit()
        assert _summary() == _recount()
        db.session.execute(delete(ProblemCount))
        counts.SUMMARY.rebuild(db.session.connection())
        db.session.commit()
        assert _summary() == _recount()


FILTERS = [{}, {"status": "open"}, {"tier": "quick_fix"}, {"unit": "UA"}, {"unit": "SYS-A"},
           {"unit": "UA", "unit_only": "1"}, {"status": "closed", "tier": "red"}]  # fmt: skip


@pytest.mark.parametrize("role", ["admin", "inspector", "leader", "unita", "unitb"])
def test_the_counts_bar_from_the_summary_equals_a_live_count(app, make, role):
    from tracker.auth.models import User

    make.org()
    for i in range(12):  # new ones in every unit (UA1 has nobody to assign to), assigned ones in UA and UB
        unit = ("UA", "UB", "UA1")[i % 3]
        tier = {"tier": ("red", "yellow", "blue")[i % 3], "tier_override_reason": "按实际情况"}
        make.problem(unit=unit, assign=None if unit == "UA1" or i % 4 == 0 else tier)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == role))
        for args in FILTERS:
            args = {k: (unit_by_code(v).id if k == "unit" else v) for k, v in args.items()}
            flt = queries.LedgerFilter.from_args(args)
            assert queries._summary_answers(flt)
            live = queries.filtered(user, flt, for_counts=True).with_only_columns(Problem.tier, Problem.status)
            expected_tier, expected_status = Counter(), Counter()
            for tier, status in db.session.execute(live):
                expected_tier[tier or ""] += 1
                expected_status[status] += 1
            got = queries.counts(user, flt)
            assert got["tier"] == dict(expected_tier), (role, args)
            assert got["status"] == dict(expected_status), (role, args)
            assert got["total"] == sum(expected_status.values())
        # a filter the summary cannot answer is counted live
        assert not queries._summary_answers(queries.LedgerFilter.from_args({"q": "窗口"}))
    client = app.test_client()
    login(client, role)
    assert client.get("/ledger/counts?status=open").status_code == 200


BEFORE = "88ad43162ebf"  # the revision before problem_counts


def test_upgrade_counts_the_problems_already_there(empty_database_url):  # noqa: F811
    with app_at(empty_database_url, BEFORE):
        problems = table("problems")
        now = datetime(2026, 11, 10, 1, tzinfo=UTC)
        with db.engine.begin() as conn:
            for i, (status, tier) in enumerate([("new", None), ("assigned", "red"), ("assigned", "red")]):
                conn.execute(
                    insert(problems),
                    [{"number": f"ZG-2026-{i:06d}", "title": "旧", "description": "旧", "status": status, "tier": tier,
                      "is_quick_fix": False, "source_kind": "complaint", "created_at": now, "updated_at": now,
                      "version": 1, "rework_count": 0, "reopen_count": 0, "relapse_count": 0}],
                )  # fmt: skip
        upgrade()
        got = _summary()
    assert got == {(0, "", "new", 0): 1, (0, "red", "assigned", 0): 2}
