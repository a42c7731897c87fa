"""Bulk import throughput benchmark (not a pytest test: pytest only collects test_*.py).

Product requirement: a 100,000-row CSV imports at >= 5,000 rows/s and a 100,000-row XLSX at
>= 3,000 rows/s (issue 12), into SQLite and PostgreSQL, with memory that does not grow with the file
(at most 100 MB more for a 100,000-row XLSX, staging included).

    .venv/bin/python -m tests.bench.bench_import [--rows N] [--db sqlite|postgresql|both]
                                                 [--format csv|xlsx|both] [--xlsx-strings inline|shared]
                                                 [--no-small] [--profile]

The XLSX is written with inline strings by default (XlsxWriter's constant-memory mode); with
--xlsx-strings shared its text goes to the shared strings table, as Excel writes it.

For each format, files of N rows and of N/4 rows are generated first (not timed) and shared by the
databases. Every (database, format, size) run happens in a fresh child process, so that its memory
figures are not polluted by earlier runs: the child builds the app on a throwaway database (a temp
SQLite file, or a new PostgreSQL database dropped afterwards), creates a few units, then imports
through the real path (stage_batch -> queue_batch with the canonical mapping -> run_batch). Staging
(stage_batch + reading the headers + queue_batch) and run_batch are timed apart; "e2e rows/s" counts
both. CPU seconds are this process's (SQLite works inside it; PostgreSQL's server does not count), a
figure less disturbed than wall time when the machine is busy. Memory: ru_maxrss before/after run_batch, plus VmRSS sampled every 50 ms in a
background thread (peak growth over the RSS when run_batch starts, and over the RSS before
stage_batch, since staging an XLSX opens the workbook too).

--profile runs run_batch under cProfile (timings then include the profiler's overhead) and prints
the top functions by cumulative and by own time.
"""

import argparse
import csv
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
TARGETS = {"csv": 5000, "xlsx": 3000}  # rows per second
MEMORY_SLACK_MB = 32  # the big file's peak growth may exceed the small one's by this much and count as flat
RESULT_PREFIX = "BENCH-RESULT "

HEADERS = [
    "来源编号",
    "渠道",
    "类型",
    "受理时间",
    "标题",
    "内容",
    "评价等级",
    "办理事项",
    "单位编码",
    "反映人",
    "联系电话",
]
UNITS = [
    ("SRSJ", "市人力资源和社会保障局"),
    ("SSCJGJ", "市市场监督管理局"),
    ("SZWFWZX", "市政务服务中心"),
    ("XQ-BDC", "新区不动产登记中心"),
]
KINDS = ["投诉", "投诉", "投诉", "差评", "意见建议", "评议意见"]
RATINGS = ["非常不满意", "不满意", "基本满意", "满意", "非常满意", "", ""]
SERVICE_ITEMS = [
    "社保卡补办",
    "职工养老保险转移",
    "失业保险金申领",
    "营业执照变更登记",
    "食品经营许可",
    "不动产权证书办理",
    "二手房转移登记",
    "公积金提取",
    "医保异地备案",
    "个体工商户注销",
    "居住证办理",
    "企业开办一件事",
]
TITLE_ISSUES = [
    "窗口办事排队时间长",
    "工作人员态度冷淡",
    "材料一次性告知不到位",
    "网上申报系统频繁卡顿",
    "办理时限超过承诺",
    "要求重复提交材料",
    "电话长时间无人接听",
    "办事指南与实际要求不一致",
    "预约号源太少",
    "审批进度无法查询",
]
SENTENCES = [
    "本人于上周到县政务服务中心办理相关业务，现场排队等候将近两个小时才轮到。",
    "窗口工作人员态度冷淡，对群众提出的问题不耐烦，解释也不清楚。",
    "按照网上公布的办事指南准备了全部材料，到现场后却被告知还需要补充其他证明。",
    "同一份材料已经在其他窗口提交过，现在又要求重新复印提交，来回跑了三趟。",
    "拨打咨询电话多次均无人接听，好不容易接通后又被转来转去，问题始终没有解决。",
    "网上申报系统在提交时频繁报错，上传附件总是失败，只能请假到现场办理。",
    "承诺的办理时限是五个工作日，目前已经过去半个多月仍然没有任何结果。",
    "希望有关部门能够加强对窗口人员的培训，提高服务意识和业务水平。",
    "建议增加自助服务终端和预约号源，合理安排午间和周末的值班窗口。",
    "办事大厅的指引标识不清楚，老年人找不到对应的窗口，也没有人主动引导。",
    "审批进度在网上无法查询，每次只能打电话询问，得到的答复也不一致。",
    "请相关单位尽快核实情况并给予答复，切实解决群众办事难的问题。",
    "我们是小微企业，时间成本很高，希望能简化流程、压缩办理时间。",
    "工作人员在办理过程中玩手机、聊天，让排队的群众等了很久。",
    "系统显示材料已经审核通过，但迟迟没有发放证书，也没有短信通知。",
    "上次反映的问题至今没有得到落实，希望这次能够认真对待并及时反馈。",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅志强海燕文博晓东宇航欣怡子涵"


# ---- data generation (not timed) -----------------------------------------------------------------


def _body(rng: random.Random) -> str:
    target = rng.randint(150, 400)
    parts, length = [], 0
    while length < target:
        sentence = rng.choice(SENTENCES)
        parts.append(sentence)
        length += len(sentence)
    return "".join(parts)[:target]


def generate_rows(count: int, seed: int):
    """COUNT realistic canonical rows, as dicts (受理时间 as a naive local datetime)."""
    rng = random.Random(seed)
    unit_codes = [code for code, _name in UNITS]
    start = datetime.now().replace(microsecond=0) - timedelta(days=365)
    for number in range(1, count + 1):
        received = start + timedelta(seconds=rng.randint(0, 364 * 86400))
        item = rng.choice(SERVICE_ITEMS)
        has_person = rng.random() < 0.6
        yield {
            "来源编号": f"GD{received:%Y%m%d}{seed:02d}{number:07d}",
            "渠道": "12345 热线",
            "类型": rng.choice(KINDS),
            "受理时间": received,
            "标题": f"{item}：{rng.choice(TITLE_ISSUES)}",
            "内容": _body(rng),
            "评价等级": rng.choice(RATINGS),
            "办理事项": item,
            "单位编码": rng.choice(unit_codes),
            "反映人": (rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))) if has_person else "",
            "联系电话": ("1" + rng.choice("3456789") + "".join(rng.choices("0123456789", k=9))) if has_person else "",
        }


def write_csv(path: Path, count: int, seed: int) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        for row in generate_rows(count, seed):
            row["受理时间"] = row["受理时间"].strftime("%Y-%m-%d %H:%M:%S")
            writer.writerow([row[h] for h in HEADERS])
    return path


def write_xlsx(path: Path, count: int, seed: int, shared_strings: bool = False) -> Path:
    """Inline strings (constant memory), or SHARED_STRINGS as Excel writes them (XlsxWriter then keeps
    the whole sheet in memory while writing: fine for a generator that is not measured)."""
    import xlsxwriter

    options = {"constant_memory": not shared_strings, "strings_to_formulas": False}
    workbook = xlsxwriter.Workbook(str(path), options)
    sheet = workbook.add_worksheet("工单")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    when = HEADERS.index("受理时间")
    sheet.write_row(0, 0, HEADERS)
    for number, row in enumerate(generate_rows(count, seed), start=1):
        for column, header in enumerate(HEADERS):
            value = row[header]
            if column == when:
                sheet.write_datetime(number, column, value, date_format)
            elif value != "":
                sheet.write_string(number, column, value)
    workbook.close()
    return path


# ---- measuring -----------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def current_rss_kb() -> int:
    return _status_kb("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the kernel's per-process peak RSS (VmHWM); False when not allowed. ru_maxrss cannot be
    reset: it also keeps the peak of whatever the process was before exec (the parent's size) and of
    create_app, which briefly peaks higher than the import itself."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


class RssSampler(threading.Thread):
    """Samples VmRSS every INTERVAL seconds; `peak` is the highest seen since the last reset."""

    def __init__(self, interval=0.05):
        super().__init__(daemon=True, name="rss-sampler")
        self.interval = interval
        self.peak = current_rss_kb()
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(self.interval):
            self.peak = max(self.peak, current_rss_kb())

    def reset(self) -> int:
        """The peak so far; sampling restarts from the current RSS."""
        seen = max(self.peak, current_rss_kb())
        self.peak = current_rss_kb()
        return seen

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return max(self.peak, current_rss_kb())


# ---- one run (child process) ---------------------------------------------------------------------


def _config(url: str, storage: str):
    from config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = storage

    return BenchConfig


def child_run(db_kind: str, path: Path, rows: int, profile: bool, pg_prefix: str = "tracker_bench") -> dict:
    import logging

    import sqlalchemy as sa

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench-import-run-"))
    pg_admin, pg_name = None, None
    if db_kind == "sqlite":
        url = f"sqlite:///{work / 'bench.db'}"
    else:
        pg_name = f"{pg_prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        pg_admin = sa.create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
        with pg_admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
        url = PG_SERVER + pg_name
    try:
        from tracker import create_app
        from tracker.extensions import db
        from tracker.intake import imports
        from tracker.intake.models import IntakeRecord
        from tracker.org import services as org_services

        app = create_app(_config(url, str(work / "storage")))
        with app.app_context():
            db.create_all()
            for code, name in UNITS:
                org_services.create_unit({"code": code, "name": name}, actor=None)
            db.session.commit()

            sampler = RssSampler()
            sampler.start()
            rss_pre_stage = current_rss_kb()
            started = time.perf_counter()
            cpu_started = time.process_time()
            batch = imports.stage_batch(path, path.name, actor=None)
            with imports.open_table(path) as table:  # the headers, as the mapping page would offer them
                headers = table.headers
            mapping = imports.canonical_mapping(headers)
            if mapping is None:
                raise SystemExit(f"canonical_mapping refused the headers {headers}")
            imports.queue_batch(batch, mapping, {})
            db.session.commit()
            stage_seconds = time.perf_counter() - started
            stage_cpu = time.process_time() - cpu_started
            batch_id = batch.id
            stage_peak = sampler.reset()

            hwm_reset = reset_peak_rss()
            rss_before = current_rss_kb()
            maxrss_before = maxrss_kb()
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            started = time.perf_counter()
            cpu_started = time.process_time()
            batch = imports.run_batch(batch_id)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            if profiler is not None:
                profiler.disable()
            run_peak = sampler.stop()
            maxrss_after = maxrss_kb()
            hwm_after = _status_kb("VmHWM")

            status, message = batch.status, batch.message
            created, duplicates, rejected = batch.created_count, batch.duplicate_count, batch.rejected_count
            in_table = db.session.scalar(sa.select(sa.func.count()).select_from(IntakeRecord))
            db.session.remove()
            db.engine.dispose()
        if profiler is not None:
            import pstats

            out = sys.stderr
            print(f"\n==== cProfile of run_batch: {db_kind} {path.name} ====", file=out)
            stats = pstats.Stats(profiler, stream=out).strip_dirs()
            stats.sort_stats("cumulative").print_stats(35)
            stats.sort_stats("tottime").print_stats(25)
            profiler.dump_stats(str(Path(tempfile.gettempdir()) / f"bench-{db_kind}-{path.stem}.prof"))
        return {
            "db": db_kind,
            "format": path.suffix.lstrip("."),
            "rows": rows,
            "seconds": seconds,
            "stage_seconds": stage_seconds,
            "cpu_seconds": cpu_seconds,
            "stage_cpu_seconds": stage_cpu,
            "status": status,
            "message": message,
            "created": created,
            "duplicates": duplicates,
            "rejected": rejected,
            "in_table": in_table,
            "rss_before_mb": rss_before / 1024,
            "run_growth_mb": (run_peak - rss_before) / 1024,
            "import_growth_mb": (max(stage_peak, run_peak) - rss_pre_stage) / 1024,
            "maxrss_growth_mb": (maxrss_after - maxrss_before) / 1024,
            "maxrss_before_mb": maxrss_before / 1024,
            "maxrss_mb": maxrss_after / 1024,
            "hwm_growth_mb": (hwm_after - rss_before) / 1024 if hwm_reset else None,
            "profiled": profile,
        }
    finally:
        if pg_admin is not None:
            with pg_admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            pg_admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


# ---- orchestration -------------------------------------------------------------------------------


def run_child(db_kind: str, path: Path, rows: int, profile: bool, pg_prefix: str) -> dict:
    command = [sys.executable, "-m", "tests.bench.bench_import", "--child", db_kind, str(path), str(rows)]
    command += ["--pg-prefix", pg_prefix]
    if profile:
        command.append("--profile")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    sys.stdout.write(done.stdout)
    return {"db": db_kind, "format": path.suffix.lstrip("."), "rows": rows, "error": f"child exited {done.returncode}"}


def verdict(result: dict) -> tuple[float, int, str]:
    target = TARGETS[result["format"]]
    if "error" in result:
        return 0.0, target, "ERROR"
    rate = result["rows"] / result["seconds"] if result["seconds"] else 0.0
    ok = result["status"] == "done" and result["created"] == result["rows"] == result["in_table"] and rate >= target
    return rate, target, "PASS" if ok else "FAIL"


def print_table(results: list[dict]) -> None:
    head = (
        f"{'db':<10} {'format':<6} {'rows':>7} {'stage s':>7} {'seconds':>8} {'CPU s':>6} {'rows/s':>8} "
        f"{'e2e rows/s':>10} {'created':>7} {'run RSS+MB':>10} {'HWM+MB':>6} {'maxrss+MB':>9} "
        f"{'import RSS+MB':>13} {'target':>6}  result"
    )
    print("\n" + head)
    print("-" * len(head))
    for r in results:
        rate, target, outcome = verdict(r)
        if "error" in r:
            print(f"{r['db']:<10} {r['format']:<6} {r['rows']:>7}  {r['error']}")
            continue
        note = "" if r["status"] == "done" else f"  status={r['status']}: {r['message']}"
        if r["created"] != r["rows"]:
            note += f"  created {r['created']} != {r['rows']} (dup {r['duplicates']}, rejected {r['rejected']})"
        if r["profiled"]:
            note += "  (under cProfile)"
        hwm = "n/a" if r.get("hwm_growth_mb") is None else f"{r['hwm_growth_mb']:.1f}"
        end_to_end = r["rows"] / (r["seconds"] + r["stage_seconds"]) if r["seconds"] else 0.0
        print(
            f"{r['db']:<10} {r['format']:<6} {r['rows']:>7} {r['stage_seconds']:>7.2f} {r['seconds']:>8.2f} "
            f"{r['cpu_seconds']:>6.1f} {rate:>8.0f} {end_to_end:>10.0f} {r['created']:>7} "
            f"{r['run_growth_mb']:>10.1f} {hwm:>6} {r['maxrss_growth_mb']:>9.1f} {r['import_growth_mb']:>13.1f} "
            f"{'>=' + str(target):>6}  {outcome}{note}"
        )
    print(
        "\nstage s: stage_batch + headers + queue_batch; seconds / rows/s: run_batch; CPU s: this process's "
        "CPU time in run_batch; e2e rows/s: rows over staging + run_batch. "
        "run RSS+MB: peak VmRSS (sampled every 50 ms) during run_batch minus VmRSS when it started; "
        "HWM+MB: kernel peak RSS (VmHWM, reset just before run_batch) minus VmRSS when it started; "
        "maxrss+MB: ru_maxrss after minus before run_batch (0 when an earlier peak was higher, see "
        "maxrss_before_mb in the per-run line); import RSS+MB: peak VmRSS during "
        "stage_batch+queue_batch+run_batch minus VmRSS before stage_batch."
    )
    by_key = {}
    for r in results:
        if "error" not in r:
            by_key.setdefault((r["db"], r["format"]), []).append(r)
    lines = []
    for (db_kind, fmt), runs in by_key.items():
        if len(runs) < 2:
            continue
        small, big = min(runs, key=lambda r: r["rows"]), max(runs, key=lambda r: r["rows"])
        parts, flat = [], True
        for key, label in (
            ("run_growth_mb", "run_batch"),
            ("hwm_growth_mb", "run_batch HWM"),
            ("import_growth_mb", "whole import"),
        ):
            if small.get(key) is None or big.get(key) is None:
                continue
            delta = big[key] - small[key]
            flat = flat and delta <= MEMORY_SLACK_MB
            parts.append(f"{label} {small[key]:.1f} -> {big[key]:.1f} MB")
        lines.append(
            f"{db_kind:<10} {fmt:<6} {small['rows']} -> {big['rows']} rows: {'; '.join(parts)}  "
            f"{'FLAT (PASS)' if flat else 'GROWS (FAIL)'}"
        )
    if lines:
        print(f"\nMemory vs file size (flat = the bigger file's growth within {MEMORY_SLACK_MB} MB of the smaller's):")
        print("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_import", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the big file (default 100000)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--format", choices=["csv", "xlsx", "both"], default="both")
    parser.add_argument("--no-small", action="store_true", help="skip the second run with rows/4")
    parser.add_argument(
        "--xlsx-strings",
        choices=["inline", "shared"],
        default="inline",
        help="XLSX text as inline strings (default) or in the shared strings table, as Excel writes it",
    )
    parser.add_argument("--profile", action="store_true", help="run run_batch under cProfile and print hotspots")
    parser.add_argument(
        "--pg-prefix",
        default="tracker_bench",
        help="name prefix of the throwaway PostgreSQL databases (each run makes one and drops it)",
    )
    parser.add_argument("--child", nargs=3, metavar=("DB", "FILE", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        db_kind, path, rows = args.child
        result = child_run(db_kind, Path(path), int(rows), args.profile, args.pg_prefix)
        print(RESULT_PREFIX + json.dumps(result, ensure_ascii=False), flush=True)
        return 0

    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    formats = ["csv", "xlsx"] if args.format == "both" else [args.format]
    sizes = [args.rows] if args.no_small or args.rows < 8 else [args.rows // 4, args.rows]
    folder = Path(tempfile.mkdtemp(prefix="bench-import-files-"))
    results = []
    try:
        files = {}
        for fmt in formats:
            for rows in sizes:
                path = folder / f"bench-{rows}.{fmt}"
                started = time.perf_counter()
                if fmt == "csv":
                    write_csv(path, rows, seed=rows % 97)
                else:
                    write_xlsx(path, rows, seed=rows % 97, shared_strings=args.xlsx_strings == "shared")
                print(
                    f"generated {path.name}: {path.stat().st_size / 1e6:.1f} MB in "
                    f"{time.perf_counter() - started:.1f} s (not timed)",
                    flush=True,
                )
                files[fmt, rows] = path
        for db_kind in dbs:
            for fmt in formats:
                for rows in sizes:
                    result = run_child(db_kind, files[fmt, rows], rows, args.profile, args.pg_prefix)
                    rate, target, outcome = verdict(result)
                    if "error" in result:
                        print(f"{db_kind} {fmt} {rows}: {result['error']}", flush=True)
                    else:
                        print(
                            f"{db_kind} {fmt} {rows}: run_batch {result['seconds']:.2f} s = {rate:.0f} rows/s "
                            f"(target {target}) {outcome}; CPU {result['cpu_seconds']:.1f} s; "
                            f"staging {result['stage_seconds']:.2f} s; created "
                            f"{result['created']}; run RSS +{result['run_growth_mb']:.1f} MB",
                            flush=True,
                        )
                    results.append(result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(results)
    return 0 if all(verdict(r)[2] == "PASS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
