"""The ledger list: filters in the URL, keyset pagination, counts, garbage filters; Excel/CSV export."""

import io
import re

from openpyxl import load_workbook
from sqlalchemy import update

from tests.conftest import login
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Problem

NUMBER = re.compile(r"ZG-\d{4}-\d{6}")


def _numbers(html):
    return list(dict.fromkeys(NUMBER.findall(html)))


def _bulk(app, make, count):
    numbers = [make.problem(title=f"问题{i:03d}", body="内容") for i in range(count)]
    with app.app_context():
        # Spread deadlines (some missing) to exercise the deadline ordering.
        for i, number in enumerate(numbers):
            deadline = None if i % 7 == 0 else f"2026-11-{(i % 28) + 1:02d}"
            db.session.execute(
                update(Problem)
                .where(Problem.number == number)
                .values(deadline=deadline and __import__("datetime").date.fromisoformat(deadline))
            )
        db.session.commit()
    return numbers


def _walk(client, url):
    seen, pages = [], 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += [n for n in _numbers(html)]
        match = re.search(r'id="next-page" href="([^"]+)"', html)
        url = match.group(1).replace("&amp;", "&") if match else None
        pages += 1
    return seen, pages


def test_keyset_pages_cover_every_problem_once_in_every_sort(app, client, make):
    make.org()
    numbers = _bulk(app, make, 120)
    login(client, "inspector")
    for sort in ("-id", "id", "deadline", "-deadline"):
        seen, pages = _walk(client, f"/ledger/?sort={sort}")
        assert sorted(seen) == sorted(numbers) and len(seen) == 120, sort
        assert pages == 3
    seen, _pages = _walk(client, "/ledger/?sort=id")
    assert seen == sorted(numbers)


def test_filters_live_in_the_url_and_garbage_is_ignored_with_a_message(app, client, make):
    make.org()
    make.problem(title="甲的问题")
    make.problem(unit="UB", title="乙的问题")
    login(client, "inspector")
    with app.app_context():
        from tracker.org import queries

        sys_a = queries.unit_by_code("SYS-A").id
    html = client.get(f"/ledger/?unit={sys_a}").get_data(as_text=True)  # sub-units included
    assert "甲的问题" in html and "乙的问题" not in html
    html = client.get("/ledger/?q=乙的").get_data(as_text=True)
    assert "乙的问题" in html and "甲的问题" not in html
    response = client.get("/ledger/?status=bogus&tier=purple&unit=x&assigned_from=31/12&cursor=%%%&sort=evil")
    assert response.status_code == 200
    assert "已忽略无效的筛选条件" in response.get_data(as_text=True)


def test_overdue_filter_and_counts(app, client, make):
    make.org()
    clock.pin("2026-09-28T09:00:00")
    late = make.problem(title="会逾期的问题", body="x", assign={"tier": "yellow"})
    make.problem(title="尚未交办", body="y")
    clock.pin("2026-10-19T09:00:00")  # deadline 10-16 has passed
    login(client, "inspector")
    html = client.get("/ledger/?due=overdue").get_data(as_text=True)
    assert _numbers(html) == [late] and "逾期 1 个工作日" in html
    counts = client.get("/ledger/counts").get_data(as_text=True)
    assert re.search(r"黄 <b>1</b>", counts) and re.search(r"待交办 <b>1</b>", counts)


def test_unit_user_ledger_is_limited_to_its_unit(app, client, make):
    make.org()
    make.problem(title="甲的问题")
    make.problem(unit="UB", title="乙的问题")
    login(client, "unitb")
    html = client.get("/ledger/").get_data(as_text=True)
    assert "乙的问题" in html and "甲的问题" not in html
    assert "乙的问题" in client.get("/ledger/export.csv").get_data(as_text=True)
    assert "甲的问题" not in client.get("/ledger/export.csv").get_data(as_text=True)


def test_excel_export_has_the_ledger_columns_and_neutralises_formulas(app, client, make):
    make.org()
    make.problem(title='=HYPERLINK("http://x")', body="公式注入")
    make.problem(title="普通问题", body="内容")
    login(client, "inspector")
    response = client.get("/ledger/export.xlsx")
    assert response.status_code == 200
    content = response.get_data()
    response.close()
    sheet = load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "问题整改台账"
    header = list(rows[4])
    assert header[:6] == ["序号", "编号", "问题", "来源", "分级", "责任单位"]
    data = [dict(zip(header, r, strict=True)) for r in rows[5:]]
    assert data[0]["问题"] == '\'=HYPERLINK("http://x")' and data[1]["问题"] == "普通问题"
    assert data[0]["状态"] == "待交办" and data[0]["责任单位"] == "甲单位"
    csv_text = client.get("/ledger/export.csv").get_data(as_text=True)
    assert csv_text.startswith("\ufeff序号,编号") and "'=HYPERLINK" in csv_text
