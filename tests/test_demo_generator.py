"""`flask demo seed --problems N`: the set-based generator (tracker.demo.generator) behind a progress bar."""

import csv
import json

from sqlalchemy import delete, func, select, text, update

from tests.conftest import login
from tracker.alerts.models import SupervisionNotice
from tracker.core import calendar, clock, crypto, sequences
from tracker.demo import generator
from tracker.demo.services import HISTORY_PROBLEMS, TITLES
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.ledger.models import ExtensionRequest, Problem
from tracker.ledger.timeliness import closing_figures
from tracker.triage.services import template_for

N = 500


def _seed(app, *args):
    result = app.test_cli_runner().invoke(args=["demo", "seed", *args])
    assert result.exit_code == 0, result.output
    return result


def _generated(n=N):
    """The problems the generator made: the last N by id (the demo's own come first)."""
    return db.session.scalars(select(Problem).order_by(Problem.id.desc()).limit(n)).all()[::-1]


def test_seed_with_problems_makes_a_consistent_ledger(app):
    result = _seed(app, "--problems", str(N), "--json")
    body = json.loads(result.output)
    assert body["problems"] == N and body["intake_records"] == 3 * N
    with app.app_context():
        total = 4 + HISTORY_PROBLEMS + N
        assert db.session.scalar(select(func.count()).select_from(Problem)) == total
        assert db.session.scalar(select(func.count()).select_from(IntakeRecord)) == 4 + 3 * (HISTORY_PROBLEMS + N)
        numbers = db.session.scalars(select(Problem.number)).all()
        assert len(set(numbers)) == total
        year = clock.today().year
        generated = _generated()
        # numbered from the problem sequence, in order, right after the demo's own problems
        assert [p.number for p in generated] == [f"ZG-{year}-{k:06d}" for k in range(total - N + 1, total + 1)]
        assert db.session.get(sequences.Sequence, ("problem", year)).value == total

        ids = [p.id for p in generated]
        records = db.session.scalars(select(IntakeRecord).where(IntakeRecord.id > 4 + 3 * HISTORY_PROBLEMS)).all()
        assert len(records) == 3 * N
        assert len({r.tracking_code for r in records}) == 3 * N
        linked = [r for r in records if r.handling == "rectify"]
        assert {r.problem_id for r in linked} == set(ids)  # every problem has its records
        assert all(r.problem_id is None for r in records if r.handling == "explained")
        # identity fields encrypted (masked copies beside them), or empty for anonymous records
        named = [r for r in records if not r.is_anonymous]
        assert named and all(r.complainant_name_enc and r.complainant_name_mask for r in named)
        sample = named[0]
        assert crypto.mask_name(crypto.decrypt(sample.complainant_name_enc)) == sample.complainant_name_mask
        assert all(
            r.complainant_name_enc is None and r.complainant_phone_enc is None for r in records if r.is_anonymous
        )

        # deadlines: the tier's template in working days from the local day of assignment
        zone = clock.timezone()
        assigned = [p for p in generated if p.status != "new"]
        assert all(p.deadline is None and p.assigned_at is None for p in generated if p.status == "new")
        for p in assigned:
            day = p.assigned_at.astimezone(zone).date()
            assert p.original_deadline == calendar.add_workdays(day, template_for(p.tier, False, "投诉").days)
            assert p.deadline >= p.original_deadline and p.deadline_rule
        extended = [p for p in assigned if p.deadline > p.original_deadline]
        assert extended
        requests = db.session.scalars(select(ExtensionRequest).where(ExtensionRequest.problem_id.in_(ids))).all()
        assert {r.problem_id for r in requests} == {p.id for p in extended}
        closed = [p for p in generated if p.status == "closed"]
        assert len(closed) > N // 2
        for p in closed:
            assert p.assigned_at < p.closed_at <= clock.now()
            assert (p.close_timeliness, p.close_workdays) == closing_figures(p, p.closed_at)


def test_problems_and_notices_made_afterwards_get_fresh_numbers(app):
    from tracker.alerts import notices
    from tracker.auth.models import User
    from tracker.intake import services as intake
    from tracker.ledger import services as ledger

    _seed(app, "--problems", str(N), "--json")
    with app.app_context():
        inspector = db.session.scalar(select(User).where(User.username == "jijian"))
        record, _created = intake.register(
            {
                "channel": "12345 热线",
                "kind": "投诉",
                "external_id": "AFTER-GENERATOR-1",
                "received_at": clock.local_now(),
                "title": "生成之后新登记的问题",
                "body": "检查编号不与生成的问题重复。",
                "unit_code": "JY-JYJ",
            },
            actor=inspector,
        )
        problem = ledger.create_problem([record.id], title=record.title, actor=inspector)
        db.session.commit()
        assert problem.number == f"ZG-{clock.today().year}-{4 + HISTORY_PROBLEMS + N + 1:06d}"
        assert db.session.scalar(select(func.count()).where(Problem.number == problem.number)) == 1
        overdue = db.session.scalar(select(Problem).where(Problem.status == "in_progress").limit(1))
        before = db.session.scalar(select(func.max(SupervisionNotice.seq)))
        notice = notices.issue_notice(overdue, "supervise", "生成之后的督办", actor=inspector)
        db.session.commit()
        assert before and notice.seq == before + 1


def test_the_ledger_opens_on_the_generated_problems(app):
    users = json.loads(_seed(app, "--problems", str(N), "--json").output)["users"]
    admin = next(u for u in users if u["role"] == "admin")
    client = app.test_client()
    assert login(client, admin["username"], admin["password"]).status_code == 302
    page = client.get("/ledger/")
    assert page.status_code == 200
    with app.app_context():
        last = _generated(1)[0]
    assert last.number in page.get_data(as_text=True)  # newest first
    assert client.get(f"/ledger/{last.number}").status_code == 200


def test_seed_with_problems_shows_a_progress_bar_and_adds_to_a_seeded_database(app):
    _seed(app)
    result = _seed(app, "--problems", "120")
    assert "生成问题" in result.output and "generated 120 problems and 360 intake records" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Problem)) == 4 + HISTORY_PROBLEMS + 120


def test_fill_goes_chunk_by_chunk_with_the_real_complaints(app):
    _seed(app)
    calls = []
    with app.app_context():
        figures = generator.fill(120, chunk=50, quiet=True, progress=calls.append)
        assert calls == [50, 50, 20] and figures["problems"] == 120
        titles = {p.title for p in _generated(120)}
    if generator.COMPLAINTS.is_file():  # ../shared/data/complaints_zh.csv: the real complaints
        with open(generator.COMPLAINTS, encoding="utf-8", newline="") as fh:
            expected = {row["title"].strip()[:200] for row in csv.DictReader(fh)}
        assert len(titles) > 50
    else:
        expected = {title for title, _category in TITLES}
    assert titles <= expected


def test_without_the_complaints_file_the_texts_are_the_built_in_phrases(tmp_path):
    texts = generator.load_texts(tmp_path / "missing.csv")
    assert len(texts) == 400
    assert {title for title, _body, _category, _reply in texts} == {title for title, _category in TITLES}


def test_the_summary_counts_are_exact_after_a_load_and_follow_later_writes(app):
    """The load drops the summary triggers and counts its rows once: the summaries equal a recount
    (on PostgreSQL too, where session_replication_role = replica silences triggers), and the
    triggers are back for the writes that follow."""
    from tests.ledger.test_problem_counts import _recount, _summary
    from tracker.intake import counts as intake_counts

    def daily():
        summary = intake_counts.SUMMARY
        dialect = db.engine.dialect.name
        keys = ", ".join(summary.keys)
        live = db.session.execute(
            text(
                f"SELECT {keys}, sum(records), sum(counted) FROM ({summary._select(dialect, summary.source, '', 1)}) d "
                f"GROUP BY {keys}"
            )
        ).all()
        kept = db.session.execute(
            text(f"SELECT {keys}, records, counted FROM {summary.table} WHERE records <> 0")
        ).all()
        return sorted(tuple(map(str, r)) for r in live), sorted(tuple(map(str, r)) for r in kept)

    _seed(app)
    with app.app_context():
        generator.fill(300, chunk=120, quiet=True)
        assert _summary() == _recount()
        live, kept = daily()
        assert live == kept
        db.session.execute(update(Problem).where(Problem.status == "new").values(status="withdrawn"))
        uncalled = select(func.max(IntakeRecord.id)).where(IntakeRecord.followup_state.is_(None))
        db.session.execute(delete(IntakeRecord).where(IntakeRecord.id == db.session.scalar(uncalled)))
        db.session.commit()
        assert _summary() == _recount()
        live, kept = daily()
        assert live == kept
