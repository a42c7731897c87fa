"""处理结果向群众公开: /results lists closed problems whose records the inspector opted in, with
their reply, anonymised; filters by unit and category; counts per unit in grouped queries."""

from datetime import timedelta

from sqlalchemy import event

from tests.public.conftest import MARKERS, do, marked_problem, problem_of, user
from tracker.core import clock
from tracker.extensions import db
from tracker.intake import services as intake_services
from tracker.intake.models import IntakeRecord
from tracker.oversight.models import FollowUp, Outcome


def publish(app, case, on=True):
    with app.app_context():
        record = db.session.get(IntakeRecord, case.record_id)
        intake_services.publish(record, on, actor=user("inspector"))
        db.session.commit()


def results(client, **args):
    response = client.get("/results", query_string=args)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def listed(text):
    return text.split('id="results"', 1)[1].split("</section>", 1)[0]


def counts_table(text):
    return text.split('id="unit-counts"', 1)[1].split("</section>", 1)[0]


def test_only_opted_in_closed_problems_are_listed_without_private_data(app, client, world):
    shown = marked_problem(app, world, reply="答复甲：已整改完毕。")
    not_opted = marked_problem(app, world, reply="答复乙：未公开的。")
    still_open = marked_problem(app, world, close=False, reply="答复丙：办理中的。")
    publish(app, shown)
    publish(app, still_open)
    text = results(client)
    part = listed(text)
    assert "答复甲：已整改完毕。" in part and "（1 件）" in part
    assert "答复乙" not in text and "答复丙" not in text
    for marker in MARKERS.values():
        assert marker not in text
    for number in (shown.number, not_opted.number, still_open.number):
        assert number not in text
    assert "甲单位" in part and clock.today().isoformat() in part  # unit, received and closed dates


def test_unpublished_record_leaves_the_page(app, client, world):
    case = marked_problem(app, world, reply="答复丁：将被撤下。")
    publish(app, case)
    assert "答复丁" in results(client)
    publish(app, case, on=False)
    assert "答复丁" not in results(client)


def test_reopened_problem_leaves_the_page_until_closed_again(app, client, world):
    case = marked_problem(app, world, reply="答复戊：再次办理。")
    publish(app, case)
    do(app, case.number, "reopen", "inspector", reason="回访不满意")
    assert "答复戊" not in results(client)


def test_filter_by_unit_and_category(app, client, world):
    a = marked_problem(app, world, unit="UA", reply="答复一：甲单位的。", category="干部作风")
    b = marked_problem(app, world, unit="UB", reply="答复二：乙单位的。", category="环境保护")
    publish(app, a)
    publish(app, b)
    assert "答复一" in results(client, unit="UA") and "答复二" not in results(client, unit="UA")
    assert "答复二" in results(client, category="环境保护") and "答复一" not in results(client, category="环境保护")
    assert "暂无公开的处理结果" in results(client, unit="UA", category="环境保护")
    assert "暂无公开的处理结果" in results(client, unit="NO-SUCH")  # an unknown unit: nothing, no error
    assert "答复一" in results(client, page="abc")  # a bad page number is page 1


def test_results_are_paginated(app, client, world):
    with app.app_context():
        from tracker.public import queries

        per_page = queries.PER_PAGE
    cases = [marked_problem(app, world, reply=f"答复第{i:02d}件。") for i in range(per_page + 1)]
    for case in cases:
        publish(app, case)
    first, second = results(client), results(client, page=2)
    assert f"（{per_page + 1} 件）" in first and "第 1 / 2 页" in first
    assert sum(f"答复第{i:02d}件。" in listed(first) for i in range(per_page + 1)) == per_page
    assert sum(f"答复第{i:02d}件。" in listed(second) for i in range(per_page + 1)) == 1


def test_counts_per_unit_received_closed_on_time_and_satisfaction(app, client, world):
    on_time = marked_problem(app, world, unit="UA")
    marked_problem(app, world, unit="UA", close=False)
    late = marked_problem(app, world, unit="UB", close=False)
    with app.app_context():
        deadline = problem_of(late.number).deadline
    clock.pin(f"{(deadline + timedelta(days=3)).isoformat()}T10:00:00")
    do(app, late.number, "submit", "unitb", report="<p>已整改</p>")
    do(app, late.number, "approve", "inspector", opinion="同意")
    with app.app_context():
        ua = problem_of(on_time.number)
        now = clock.now()
        for outcome in (Outcome.SATISFIED, Outcome.BASICALLY_SATISFIED, Outcome.UNSATISFIED, Outcome.UNREACHABLE):
            db.session.add(
                FollowUp(
                    intake_id=on_time.record_id, problem_id=ua.id, unit_id=ua.unit_id, outcome=outcome, called_at=now
                )
            )
        db.session.commit()
    table = counts_table(results(client))
    rows = {cells[0]: cells[1:] for cells in _rows(table)}
    assert rows["甲单位"] == ["2", "1", "1", "66.7%"]  # (满意 + 基本满意) / reached = 2 / 3
    assert rows["乙单位"] == ["1", "1", "0", "—"]  # closed after its deadline; nobody reached
    assert "丙单位" not in rows
    assert "最初确定的完成时限" in table


def _rows(table):
    import re

    body = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_counts_take_a_fixed_number_of_queries_whatever_the_units(app, client, world):
    for unit in ("UA", "UB", "UC"):
        publish(app, marked_problem(app, world, unit=unit))
    statements = []

    def count(*_args):
        statements.append(1)

    with app.app_context():
        from tracker.public import queries

        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            rows = queries.unit_counts(queries.ResultsFilter())
            queries.results_page(queries.ResultsFilter())
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert len(rows) == 3
    assert len(statements) <= 8  # counts: problems, 4 follow-up figures, names; the page: count, rows


def test_results_page_needs_no_login_and_stands_alone(client, world):
    text = results(client)
    assert "app-navbar" not in text and "工作台" not in text
    assert "暂无公开的处理结果" in text and "本年度暂无数据" in text


def test_reply_text_is_escaped(app, client, world):
    case = marked_problem(app, world, reply="<script>alert(1)</script>已整改")
    publish(app, case)
    text = results(client)
    assert "<script>alert(1)</script>" not in text


def test_counts_are_kept_for_a_while_outside_tests(app, client, world):
    publish(app, marked_problem(app, world, unit="UA"))
    app.config["PUBLIC_COUNTS_CACHE_SECONDS"] = 60
    try:
        first = counts_table(results(client))
        marked_problem(app, world, unit="UB")
        assert counts_table(results(client)) == first  # the same numbers within the minute
        assert "乙单位" in counts_table(results(client, unit="UB"))  # another filter is its own entry
    finally:
        del app.config["PUBLIC_COUNTS_CACHE_SECONDS"]
        with app.app_context():
            from flask import current_app

            current_app.extensions.pop("tracker_public_counts", None)
    assert "乙单位" in counts_table(results(client))
