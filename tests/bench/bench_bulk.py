"""Bulk handling and clusters benchmark (not a pytest test: pytest only collects test_*.py).

Product requirement: one bulk action on 5,000 intake records takes <= 5 s, and the clusters of a
10,000-record import against 100,000 existing records take <= 30 s, on SQLite and PostgreSQL.

    .venv/bin/python -m tests.bench.bench_bulk [--db sqlite|postgresql|both] [--records 5000]
        [--existing 100000] [--imported 10000] [--units 20] [--repeat 3] [--only bulk|clusters]

Every database runs in a fresh child process on a throwaway database (a temp SQLite file, or a new
PostgreSQL database dropped afterwards). Records are generated and inserted first (not timed):
complaint texts built from varied sentences with their own places, numbers and dates, so that
unrelated records are not alike, plus planted near-duplicates (a resubmission of an earlier record
of the same unit, lightly reworded) as real imports contain them.

- bulk: for each action (to_problem, merge, quick_fix, explain, duplicate, set_unit, and explain
  selected by filter) and each repeat, RECORDS fresh unhandled records are created (not timed),
  then `bulk.bulk_apply(...)` plus the commit is timed. The audit chain is verified at the end.
- clusters: EXISTING records spread over the past year and an import batch of IMPORTED records over
  its last 30 days, across UNITS units; `clusters.find(inspector, batch_id=…)` is timed.
Medians over the repeats are printed.
"""

import argparse
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
RESULT_PREFIX = "BENCH-RESULT "
TARGETS = {"bulk": 5.0, "clusters": 30.0}  # seconds
ACTIONS = ["to_problem", "merge", "quick_fix", "explain", "duplicate", "set_unit", "explain_by_filter"]

TOWNS = [
    "城关镇",
    "东关街道",
    "西城街道",
    "南湖街道",
    "北山乡",
    "青石镇",
    "白沙镇",
    "柳林乡",
    "桃源镇",
    "新华街道",
    "河口镇",
    "龙泉乡",
    "凤凰街道",
    "金桥镇",
    "石门乡",
]
PLACES = [
    "小区",
    "社区",
    "菜市场",
    "学校门口",
    "医院",
    "公交站",
    "工地",
    "公园",
    "农贸市场",
    "商业街",
    "老旧小区",
    "安置小区",
    "村委会",
    "卫生院",
    "停车场",
]
ISSUES = [
    "{place}旁边的工地每天晚上{h}点以后还在施工，噪音很大，严重影响居民休息",
    "{place}的路灯已经坏了{n}个多月，晚上出行很不安全，多次报修无人处理",
    "{place}门口的排水沟堵塞，下雨后积水{n}十公分，群众出行困难",
    "在{place}附近办理业务时，窗口工作人员态度生硬，让我来回跑了{n}趟",
    "{place}的物业公司擅自上调物业费到每平方米{n}元，也没有召开业主大会",
    "{place}周边流动摊贩占道经营，垃圾随地乱扔，气味难闻",
    "{place}的电梯在{n}天内停运了三次，老人上下楼非常困难",
    "{place}附近的餐馆油烟直排，楼上住户窗户都不敢开",
    "{place}的供水水压太低，{h}点以后高层住户基本没有水",
    "去{place}办理社保转移，被告知还要补交{n}份证明材料",
    "{place}的公交车班次从{n}分钟一班改成一小时一班，上班族很不方便",
    "{place}旁的垃圾中转站没有封闭，夏天蚊蝇成群",
    "{place}的学生接送车辆乱停乱放，早晚高峰拥堵{n}十分钟",
    "{place}农户的土地流转费已经拖欠{n}年，多次找村里没有结果",
    "{place}附近的建材市场货车通宵装卸，噪音扰民",
    "{place}的医保报销窗口只开{n}个，每次排队都要一上午",
]
KEYWORDS = [
    "夜间施工",
    "路灯损坏",
    "排水沟堵塞",
    "窗口态度",
    "物业费上调",
    "占道经营",
    "电梯停运",
    "油烟直排",
    "水压太低",
    "社保转移",
    "公交班次",
    "垃圾站",
    "接送车辆乱停",
    "土地流转费",
    "货车噪音",
    "医保报销排队",
]
WHEN = ["上周三", "前天下午", "本月初", "去年年底", "昨天晚上", "国庆节前", "上个月中旬", "今天一早", "周末", "春节后"]
WHO = [
    "我家老人",
    "我和邻居",
    "我爱人",
    "我们几户业主",
    "孩子他爸",
    "楼里的住户",
    "我本人",
    "单位同事",
    "村里几位老党员",
    "隔壁商户",
]
DID = [
    "专门请假去现场",
    "打了好几次热线",
    "在网上提交了材料",
    "找到社区网格员",
    "去街道办咨询",
    "拍了照片发到群里",
    "写了书面材料",
    "联系了物业经理",
    "到窗口排队",
    "托人打听",
]
RESULT = [
    "被告知要等通知",
    "没有人接待",
    "对方说不归他们管",
    "让我们去找社区",
    "答复说正在研究",
    "只登记了一下就没下文",
    "说系统故障办不了",
    "被推到另一个部门",
    "工作人员让明天再来",
    "说要领导签字",
]
FEELING = ["前后折腾了", "来回跑了", "已经等了", "一共打了", "先后找了", "拖了"]
ASKS = [
    "请有关部门尽快核实处理。",
    "希望相关单位给个说法。",
    "恳请领导重视，早日解决。",
    "请求依法查处并答复。",
    "已经反映过多次，请不要再推诿。",
    "希望能够加强监管，杜绝类似问题。",
]
OPENINGS = ["", "尊敬的领导：", "您好！", "本人是{town}居民，", "我们是{place}的住户，"]


def _complaint(rng):
    town, place = rng.choice(TOWNS), rng.choice(PLACES)
    where = f"{town}{rng.choice('东西南北新老')}{rng.choice('园苑湾庄里坊')}{place}"
    parts = [rng.choice(OPENINGS).format(town=town, place=place)]
    chosen = rng.randrange(len(ISSUES))
    parts.append(ISSUES[chosen].format(place=where, n=rng.randint(2, 9), h=rng.randint(10, 12)) + "。")
    for _n in range(rng.randint(2, 4)):  # the complainant's own story: what makes texts differ
        parts.append(
            f"{rng.choice(WHEN)}{rng.choice(WHO)}{rng.choice(DID)}，{rng.choice(RESULT)}，"
            f"{rng.choice(FEELING)}{rng.randint(2, 30)}{rng.choice('天次趟回个')}。"
        )
    parts.append(rng.choice(ASKS))
    body = "".join(parts)
    title = f"{where}{KEYWORDS[chosen]}" + rng.choice(["问题", "", "无人管", "请求处理", "投诉"])
    return title, body


def _reworded(rng, title, body):
    """A resubmission: the same matter, lightly reworded."""
    body = rng.choice(["再次反映：", "之前反映过，", "", "补充说明："]) + body
    if rng.random() < 0.5:
        body = body.replace("。", "，", 1)
    return rng.choice([title, title + "（再次反映）", "关于" + title]), body


def generate(rng, count, start, span_days, unit_ids, earlier=(), duplicate_share=0.05):
    """COUNT (title, body, received_at, unit_id), a share of them resubmissions of EARLIER records."""
    rows = []
    for _n in range(count):
        pool = earlier or rows
        if pool and rng.random() < duplicate_share:
            title, body, when, unit_id = rng.choice(pool)
            title, body = _reworded(rng, title, body)
            when = when + timedelta(days=rng.uniform(0.1, 20))
        else:
            title, body = _complaint(rng)
            when = start + timedelta(seconds=rng.randint(0, span_days * 86400))
            unit_id = rng.choice(unit_ids)
        rows.append((title, body, when, unit_id))
    return rows


# ---- the child ---------------------------------------------------------------------------------


def _config(url, storage):
    from config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = storage

    return BenchConfig


def _insert(rows, *, batch_id=None, offset=0):
    """Insert generated rows through the import's own value builder; returns their ids."""
    import sqlalchemy as sa

    from tracker.extensions import db
    from tracker.intake import services
    from tracker.intake.models import IntakeRecord

    ids = []
    for start in range(0, len(rows), 2000):
        values = []
        for number, (title, body, when, unit_id) in enumerate(rows[start : start + 2000], start=offset + start):
            clean = {
                "channel": "12345 热线",
                "external_id": f"BENCH-{secrets.token_hex(4)}-{number}",
                "kind": "投诉",
                "received_at": when,
                "title": title[:200],
                "body": body,
                "unit_id": unit_id,
            }
            values.append(services.record_values(clean, batch_id=batch_id))
        table = IntakeRecord.__table__
        ids += [
            r.id
            for r in db.session.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), values)
        ]
    db.session.commit()
    return ids


def child_run(db_kind, only, args) -> dict:
    import logging

    import sqlalchemy as sa

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    pg_admin = pg_name = None
    if db_kind == "sqlite":
        url = f"sqlite:///{work / 'bench.db'}"
    else:
        pg_name = f"tracker_bench_{os.getpid()}_{secrets.token_hex(3)}"
        pg_admin = sa.create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
        with pg_admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
        url = PG_SERVER + pg_name
    try:
        from tracker import create_app
        from tracker.audit import services as audit
        from tracker.auth import services as auth_services
        from tracker.core import clock
        from tracker.extensions import db
        from tracker.org import services as org_services

        app = create_app(_config(url, str(work / "storage")))
        rng = random.Random(20261202)
        result = {"db": db_kind}
        with app.app_context():
            db.create_all()
            unit_ids = [
                org_services.create_unit({"code": f"U{n:02d}", "name": f"单位{n:02d}"}, actor=None).id
                for n in range(args.units)
            ]
            inspector, _password = auth_services.create_user(
                {"username": "inspector", "name": "检查员", "role": "inspector", "password": "Bench-Passw0rd"},
                actor=None,
            )
            db.session.commit()
            inspector_id = inspector.id
            if only in ("both", "bulk"):
                result["bulk"] = _bench_bulk(db, rng, unit_ids, inspector_id, args)
                started = time.perf_counter()
                report = audit.verify()
                result["audit_verify"] = {
                    "ok": report.ok,
                    "events": report.checked,
                    "seconds": time.perf_counter() - started,
                }
            if only in ("both", "clusters"):
                result["clusters"] = _bench_clusters(db, rng, unit_ids, inspector_id, args, clock)
            db.session.remove()
            db.engine.dispose()
        return result
    finally:
        if pg_admin is not None:
            with pg_admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            pg_admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


def _bench_bulk(db, rng, unit_ids, inspector_id, args) -> dict:
    from tracker.auth.models import User
    from tracker.core import clock
    from tracker.intake import bulk
    from tracker.intake.queries import InboxFilter
    from tracker.ledger import services as ledger_services

    start = clock.now() - timedelta(days=60)
    timings, offset = {}, 0
    target = db.session.get(User, inspector_id)
    # An open problem for `duplicate` to join, and a unit for `set_unit` that no record has yet.
    seed_ids = _insert(generate(rng, 1, start, 30, unit_ids[:1]), offset=10**8)
    anchor = ledger_services.create_problem(seed_ids, title="基准问题", actor=target).number
    db.session.commit()
    for action in ACTIONS:
        for _round in range(args.repeat):
            ids = _insert(generate(rng, args.records, start, 30, unit_ids[1:2]), offset=offset)
            offset += args.records
            actor = db.session.get(User, inspector_id)
            details = {
                "explain": {"explanation": "经核实，该诉求无政策依据，已向反映人解释说明。"},
                "explain_by_filter": {"explanation": "经核实，该诉求无政策依据，已向反映人解释说明。"},
                "duplicate": {"problem": anchor},
                "set_unit": {"unit_code": "U00"},
            }.get(action, {})
            name = "explain" if action == "explain_by_filter" else action
            selection = {"ids": ids}
            if action == "explain_by_filter":
                selection = {"flt": InboxFilter.from_args({"unit": str(unit_ids[1])})}
            started = time.perf_counter()
            outcome = bulk.bulk_apply(name, actor=actor, **selection, **details)
            db.session.commit()
            seconds = time.perf_counter() - started
            if outcome["done"] != args.records:
                raise SystemExit(
                    f"{action}: done {outcome['done']} of {args.records}; skipped {outcome['skipped'][:3]}"
                )
            timings.setdefault(action, []).append(seconds)
            db.session.expunge_all()
    return {a: {"median": statistics.median(t), "runs": t, "records": args.records} for a, t in timings.items()}


def _bench_clusters(db, rng, unit_ids, inspector_id, args, clock) -> dict:
    from tracker.auth.models import User
    from tracker.intake import clusters
    from tracker.intake.models import ImportBatch

    now = clock.now()
    started = time.perf_counter()
    existing = generate(rng, args.existing, now - timedelta(days=365), 335, unit_ids)
    _insert(existing, offset=2 * 10**8)
    imported = generate(
        rng, args.imported, now - timedelta(days=30), 29, unit_ids, earlier=existing[-args.existing // 6 :]
    )
    batch = ImportBatch(filename="bench.csv", status="done")
    db.session.add(batch)
    db.session.commit()
    batch_id = batch.id
    _insert(imported, batch_id=batch_id, offset=3 * 10**8)
    setup = time.perf_counter() - started
    runs, found = [], []
    for _round in range(args.repeat):
        db.session.expunge_all()
        user = db.session.get(User, inspector_id)
        started = time.perf_counter()
        found = clusters.find(user, batch_id=batch_id)
        runs.append(time.perf_counter() - started)
    return {
        "median": statistics.median(runs),
        "runs": runs,
        "existing": args.existing,
        "imported": args.imported,
        "units": args.units,
        "clusters": len(found),
        "in_clusters": sum(c.size for c in found),
        "largest": max((c.size for c in found), default=0),
        "setup_seconds": setup,
    }


# ---- orchestration -----------------------------------------------------------------------------


def run_child(db_kind, only, argv) -> dict:
    command = [sys.executable, "-m", "tests.bench.bench_bulk", "--child", db_kind, "--only", only, *argv]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    sys.stdout.write(done.stdout)
    return {"db": db_kind, "error": f"child exited {done.returncode}"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_bulk", description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--only", choices=["bulk", "clusters", "both"], default="both")
    parser.add_argument("--records", type=int, default=5000, help="records per bulk action (default 5000)")
    parser.add_argument("--existing", type=int, default=100_000, help="existing records (default 100000)")
    parser.add_argument("--imported", type=int, default=10_000, help="records in the import (default 10000)")
    parser.add_argument("--units", type=int, default=20, help="units the records are spread over (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--child", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [
        f"--records={args.records}",
        f"--existing={args.existing}",
        f"--imported={args.imported}",
        f"--units={args.units}",
        f"--repeat={args.repeat}",
    ]
    if args.child:
        result = child_run(args.child, args.only, args)
        print(RESULT_PREFIX + json.dumps(result, ensure_ascii=False), flush=True)
        return 0
    ok = True
    for db_kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        result = run_child(db_kind, args.only, sizes)
        if "error" in result:
            print(f"{db_kind}: {result['error']}")
            ok = False
            continue
        for action, figures in result.get("bulk", {}).items():
            passed = figures["median"] <= TARGETS["bulk"]
            ok = ok and passed
            runs = ", ".join(f"{s:.2f}" for s in figures["runs"])
            print(
                f"{db_kind:<10} bulk {action:<18} {figures['records']} records: median {figures['median']:.2f} s "
                f"(runs {runs}; target <= {TARGETS['bulk']:.0f} s) {'PASS' if passed else 'FAIL'}"
            )
        if "audit_verify" in result:
            check = result["audit_verify"]
            ok = ok and check["ok"]
            print(f"{db_kind:<10} audit verify: {'OK' if check['ok'] else 'BROKEN'} ({check['events']} events)")
        if "clusters" in result:
            c = result["clusters"]
            passed = c["median"] <= TARGETS["clusters"]
            ok = ok and passed
            runs = ", ".join(f"{s:.2f}" for s in c["runs"])
            print(
                f"{db_kind:<10} clusters of {c['imported']} imported vs {c['existing']} existing ({c['units']} units): "
                f"median {c['median']:.2f} s (runs {runs}; target <= {TARGETS['clusters']:.0f} s) "
                f"{'PASS' if passed else 'FAIL'}; {c['clusters']} clusters, {c['in_clusters']} records, "
                f"largest {c['largest']} (setup {c['setup_seconds']:.0f} s, not timed)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
