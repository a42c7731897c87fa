"""The audit log page: plain Chinese, filters, pages, the Excel export and the 校验完整性 button, for
roles with audit.view only."""

import io
import re

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from tests.audit.tamper import tamper
from tests.conftest import CSRF_RE, csrf_from, login
from tracker.audit import queries
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.intake.models import IntakeRecord

CODE_NAMES = ("problem.", "intake.", "user.create", "unit.create", '{"', "intake_record")


@pytest.fixture
def log(app, make):
    """The org (set up on 2026-09-25), an inspector with a real name, and a problem assigned by her
    on 2026-09-28."""
    clock.pin("2026-09-25T09:00:00")
    make.org()
    make.user("lijc", "inspector", name="李纪检")
    clock.pin("2026-09-28T09:00:00")
    number = make.problem(assign={})
    with app.app_context():
        inspector = db.session.scalar(select(User).where(User.username == "inspector"))
        inspector.name = "王监察"
        db.session.commit()
    return number


def _visible(html):
    """What a reader sees: the text, not the markup (option values are codes, and that is fine)."""
    return re.sub(r"<[^>]+>", " ", html)


def _table(html):
    return html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""


def _rows(html):
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return body.count("<tr>")


def test_the_log_reads_in_chinese_with_real_names(client, log):
    login(client, "admin")
    html = client.get("/audit/").get_data(as_text=True)
    for code in CODE_NAMES:
        assert code not in _visible(html)
    assert "交办" in html and "登记入台账" in html and "登记反映件" in html and "新建单位" in html
    assert '<span title="inspector">王监察</span>' in html
    assert "系统（定时扫描）" in html  # the factories act as the system
    assert "状态：待交办 → 待签收" in html


def test_filters_by_who_what_object_and_date(app, client, log):
    login(client, "admin")
    with app.app_context():
        inspector_id = db.session.scalar(select(User.id).where(User.username == "inspector"))
        code = db.session.scalar(select(IntakeRecord.tracking_code))
    by_inspector = client.get(f"/audit/?actor={inspector_id}").get_data(as_text=True)
    assert _rows(by_inspector) == 2 and "交办" in _table(by_inspector) and "新建单位" not in _table(by_inspector)
    by_system = client.get("/audit/?actor=system").get_data(as_text=True)
    assert "交办" not in _table(by_system) and "新建单位" in _table(by_system)
    assigned = client.get("/audit/?action=problem.assign").get_data(as_text=True)
    assert _rows(assigned) == 1
    assert _rows(client.get("/audit/?action=unit.").get_data(as_text=True)) == 5
    assert _rows(client.get(f"/audit/?type=problem&object={log}").get_data(as_text=True)) == 2
    assert _rows(client.get(f"/audit/?type=intake_record&object={code}").get_data(as_text=True)) == 1
    assert _rows(client.get("/audit/?type=user&object=lijc").get_data(as_text=True)) == 1
    assert _rows(client.get("/audit/?date_from=2026-09-29").get_data(as_text=True)) == 0
    assert _rows(client.get("/audit/?date_from=2026-09-28&date_to=2026-09-28").get_data(as_text=True)) == 3
    assert _rows(client.get("/audit/?date_to=2026-09-27").get_data(as_text=True)) == 11
    bad = client.get("/audit/?date_from=2026-13-01&actor=99999999999999999999999")
    assert bad.status_code == 200 and "日期格式应为 YYYY-MM-DD" in bad.get_data(as_text=True)


def test_dates_are_local_days(app, make):
    make.org()
    clock.pin("2026-09-28T07:30:00+08:00")  # 23:30 UTC on the 27th: a Beijing user calls it the 28th
    make.unit("UX", "早班单位")
    with app.app_context():

        def found(**args):
            flt = queries.LogFilter.from_args({"action": "unit.create", **args})
            return [e.object_id for e in db.session.scalars(queries.log_query(flt))]

        ux = str(db.session.scalar(select(AuditEvent.object_id).order_by(AuditEvent.id.desc()).limit(1)))
        assert ux in found(date_from="2026-09-28", date_to="2026-09-28")
        assert ux not in found(date_from="2026-09-27", date_to="2026-09-27")


def test_the_log_has_pages(app, client, make):
    make.org()
    app.config["PAGE_SIZE"], size = 4, app.config["PAGE_SIZE"]
    try:
        login(client, "admin")
        with app.app_context():
            total = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
        first = client.get("/audit/").get_data(as_text=True)
        assert _rows(first) == 4 and f"共 {total} 条" in first
        last = client.get("/audit/?page=999").get_data(as_text=True)
        assert _rows(last) == total - 4 * ((total - 1) // 4)
    finally:
        app.config["PAGE_SIZE"] = size


def test_the_export_is_an_excel_file_in_words_with_formulas_neutralised(app, client, log, make):
    make.unit("UX", '=HYPERLINK("http://x")')
    login(client, "inspector")
    response = client.get("/audit/export.xlsx?action=unit.")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    content = response.data
    response.close()
    rows = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
    assert rows[0][0] == "审计日志" and rows[1][0] == "筛选条件：操作：单位（全部）"
    assert rows[2][0].startswith("导出人：王监察；导出时间：2026-09-28")
    header = [str(c) for c in rows[3]]
    assert header[:5] == ["序号", "时间", "操作人", "用户名", "操作"]
    data = rows[4:]
    assert len(data) == 6 and {r[4] for r in data} == {"新建单位"}
    assert '\'=HYPERLINK("http://x")' in [r[6] for r in data]
    text_cells = "\n".join(str(c) for r in data for c in r)
    for code in CODE_NAMES:
        assert code not in text_cells
    assert "编码：UA" in text_cells and "系统（定时扫描）" in text_cells


def test_verify_button_reports_an_intact_chain(app, client, log):
    login(client, "admin")
    with app.app_context():
        total = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
    page = client.get("/audit/").get_data(as_text=True)
    assert 'action="/audit/verify"' in page and "校验完整性" in page
    token = CSRF_RE.search(page).group(1)
    assert client.post("/audit/verify").status_code == 400  # no CSRF token
    html = client.post("/audit/verify", data={"csrf_token": token}).get_data(as_text=True)
    assert f"审计日志完整：已校验 {total} 条记录" in html


def test_verify_button_names_the_first_bad_event(app, client, log):
    with app.app_context():
        victim = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[3]
        tamper("UPDATE audit_events SET note = 'x' WHERE id = :id", id=victim.id)
        victim_id = victim.id
    login(client, "inspector")
    token = csrf_from(client, "/audit/")
    html = client.post("/audit/verify", data={"csrf_token": token}).get_data(as_text=True)
    assert f"审计日志不完整：第 {victim_id} 条记录内容与其哈希值不符" in html
    assert "此前的 3 条完好" in html and "hash" not in re.sub(r"<[^>]+>", "", html).split("审计日志不完整")[1][:80]


@pytest.mark.parametrize("role", ["leader", "unita"])
def test_only_roles_with_audit_view_reach_the_log(client, make, role):
    make.org()
    login(client, role)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.xlsx").status_code == 403
    token = CSRF_RE.search(client.get("/").get_data(as_text=True)).group(1)
    assert client.post("/audit/verify", data={"csrf_token": token}).status_code == 403
