"""A fast generator of a realistic ledger at scale: `flask demo seed --problems N` and the benchmarks.

    from tracker.demo import generator
    with app.app_context():
        demo.seed(7); db.session.commit()        # the demo organisation: units, users
        generator.ensure_inspectors(8)            # optional: a pool for 双随机 draws
        figures = generator.fill(1_000_000)       # N problems, 3N intake records, their follow-ups

`fill` works set-based inside the database: every row is computed by INSERT ... SELECT over a
numbers source (generate_series on PostgreSQL, a recursive CTE on SQLite) with integer hashing, so
that the same N and seed give the same ledger on both backends and no row passes through Python.
The load runs in chunks (CHUNK problems with their records and follow-ups; `progress` is called
after each), all in one transaction. Secondary (non-unique) indexes of the big tables are dropped
for the load and rebuilt after it, in the same transaction (a failed load leaves the database as
it was, except for the reserved problem numbers), when the load is big beside the problems already
there (a quarter of them on PostgreSQL, as many on SQLite); a smaller one onto a big ledger keeps
them and fills them as it goes (a rebuild would read every row of the tables). The triggers that
keep the summary tables (problem_counts, intake_daily_counts: tracker.core.summary) are dropped for
every load and made again after it, in the same transaction; the new rows are then counted into the
summaries by one grouped upsert each, so the counts are exact at commit (on PostgreSQL,
session_replication_role = replica would silence the triggers anyway).

What the data looks like (all shares approximate):
  * problems over the demo units below the top level, their owners and leaders; 70 % closed (closed_at
    spread over the last year, after a rectification of a few days to a few weeks), 2 % withdrawn, the
    rest open: new 4 %, assigned 3 %, in_progress 13 %, submitted 4 %, verifying 4 %; tiers red 15 %,
    yellow 55 %, blue 30 %; deadlines in working days from the tier's deadline template (红 3 / 黄 10 /
    蓝 30 working days after the day of assignment, tracker.triage.services.propose_deadline, on the
    working-day calendar with the admin overrides); inspector_id, approved_by_id (another inspector
    when there are two or more) and closed_by_id from the inspectors; numbers ZG-<year>-NNNNNN
    reserved from the problem sequence (tracker.core.sequences), so the app's next problem gets a fresh
    one; titles and bodies from ../shared/data/complaints_zh.csv (real public complaints) when present,
    else from the demo titles; its replies as the published reply (public_reply) of closed problems;
  * 3 intake records per problem (the same complaint received through several channels), with unique
    tracking codes in the real format (10 letters of TRACKING_ALPHABET) and encrypted query PINs
    (a few hundred distinct PINs, encrypted once and reused); 25 % anonymous, the others with an
    encrypted name and (92 %) phone; 10 % of the third records were explained (已解释说明) instead
    of joining the problem;
  * follow-ups (回访) for records of closed problems and explained records: anonymous / no_phone when
    there is no one to call; due when closed in the last 14 days; of the older ones 86 % done (one
    FollowUp row: 满意 62 %, 基本满意 26 %, 不满意 12 %), 4 % unreachable after three tries, 10 %
    still due (a backlog); 10 % of the closed problems' records are published (is_public).
  * the figures a sign-off stores: close_timeliness ('original' / 'extended' / 'late', the local date of
    closed_at against original_deadline and deadline, as tracker.ledger.timeliness.judge does) and
    close_workdays (working days from the local day of assignment to that of sign-off, as
    tracker.ledger.timeliness.closing_figures counts them);
  * 15 % of the assigned problems had an extension approved: deadline = original_deadline + half the
    time limit + 2..7 working days, and one ExtensionRequest (approved, decided_at) each; their
    closures run over the longer time;
  * rework_count 1 (6 %) or 2 (2 %), relapse_count 1 for 2 % of the closed and in-progress problems;
    campaign_id on 20 % (12 % / 8 % over the first and last active campaign, the demo's two
    专项 created when there are none: tracker.demo.services.ensure_campaigns);
  * a 督办单 (SupervisionNotice, 挂牌督办 beyond 10 calendar days, days_overdue in working days) for
    30 % of the problems overdue now, numbered from the notice sequence.
The tracking code and PIN of any record are known from the database: `sample_credentials(n)`.
"""

import csv
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# ../shared/data/complaints_zh.csv beside the project (tracker/demo/generator.py -> the project -> ..)
COMPLAINTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "complaints_zh.csv"
CHUNK = 50_000
P = 2147483647  # 2^31 - 1: squares of residues stay below 2^63 (no overflow to REAL on SQLite)
CODE_SPACE = 31**10
CODE_STEP = 2305843009  # coprime with 31: i -> (i * STEP + offset) mod 31^10 is one-to-one
PIN_COUNT = 300
PEOPLE_COUNT = 400
CODE_OFFSET = 444529763028279  # where record id 0's tracking code sits in the code space
MMAP_BYTES = 16 * 2**30  # SQLite: map up to this much of the database file during the load
CALENDAR_PAST, CALENDAR_AHEAD = 1000, 400  # the days (from today) that assignments, deadlines and sign-offs fall on

# (share in thousandths, status)
STATUS_SHARES = [
    (700, "closed"),
    (20, "withdrawn"),
    (40, "new"),
    (30, "assigned"),
    (130, "in_progress"),
    (40, "submitted"),
    (40, "verifying"),
]
CHANNEL_SHARES = [
    (45, "12345 热线"),
    (10, "政务服务网 PC 端"),
    (10, "政务服务 APP"),
    (5, "短信"),
    (10, "网络问政"),
    (10, "现场/窗口"),
    (5, "来信来访"),
    (5, "评价器"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华建国红梅志海燕文博晓东宇航欣怡子涵"
INSPECTOR_NAMES = ["赵督查", "钱督查", "孙督查", "周督查", "吴督查", "郑督查", "冯督查", "陈督查", "褚督查", "卫督查"]


def log(message):
    print(message, flush=True)


# ---- texts ----------------------------------------------------------------------------------------


def load_texts(path: Path = COMPLAINTS) -> list[tuple[str, str, str | None, str | None]]:
    """[(title, body, category, reply)]: the real complaints when the file is there, else a few
    hundred made from the demo titles. Categories are the ledger's (DEFAULT_CATEGORIES)."""
    from tracker.ledger.models import DEFAULT_CATEGORIES

    rows = []
    if path.is_file():
        with open(path, encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh)):
                title, body = (row.get("title") or "").strip(), (row.get("body") or "").strip()
                if not title or not body:
                    continue
                category = row.get("category") or ""
                if category not in DEFAULT_CATEGORIES:
                    category = DEFAULT_CATEGORIES[n % len(DEFAULT_CATEGORIES)]
                rows.append((title[:200], body, category, (row.get("reply") or "").strip() or None))
    if not rows:
        from tracker.demo.services import TITLES

        rng = random.Random(11)
        for n in range(400):
            title, category = TITLES[n % len(TITLES)]
            body = f"{title}，{rng.choice(['上周', '本月初', '昨天'])}已经反映过{rng.randint(2, 9)}次，请尽快处理。"
            rows.append((title, body, category, "经核实，已督促相关单位整改到位。" if n % 3 else None))
    return rows


# ---- SQL pieces per dialect -----------------------------------------------------------------------


class _Sql:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, dialect: str, now: datetime, today):
        self.pg = dialect == "postgresql"
        self.now = now.astimezone(UTC)
        self.today = today
        # Keeps the planner from inlining a subquery's expressions into every reference to them
        # (each hashed column is then computed once per row).
        self.fence = " OFFSET 0" if self.pg else " LIMIT -1 OFFSET 0"
        # SQLite runs a FROM subquery as a co-routine (row by row) only when the join after it keeps
        # the order (CROSS JOIN); else it first writes the whole subquery into a temporary table.
        self.then = "JOIN" if self.pg else "CROSS JOIN"

    def numbers(self, low: int, high: int) -> str:
        """A subquery (no alias) with one column j = LOW .. HIGH-1."""
        if self.pg:
            return f"(SELECT generate_series({low}::bigint, {high - 1}::bigint) AS j)"
        return f"(WITH RECURSIVE s(j) AS (SELECT {low} UNION ALL SELECT j + 1 FROM s WHERE j < {high - 1}) SELECT j FROM s)"

    def now_param(self):
        return self.now if self.pg else self.now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def ts_before_now(self, seconds: str) -> str:
        """The timestamp SECONDS (an integer expression) before :now."""
        if self.pg:
            return f"(CAST(:now AS timestamptz) - ({seconds}) * INTERVAL '1 second')"
        return f"(datetime(:now, (-({seconds})) || ' seconds') || '.000000')"

    def ts_plus(self, column: str, seconds: str) -> str:
        if self.pg:
            return f"({column} + ({seconds}) * INTERVAL '1 second')"
        return f"(datetime({column}, ({seconds}) || ' seconds') || '.000000')"

    def date_plus(self, column: str, days: str) -> str:
        """The (UTC) date of timestamp COLUMN plus DAYS."""
        if self.pg:
            return f"(CAST({column} AS date) + CAST({days} AS integer))"
        return f"date({column}, ({days}) || ' days')"

    def ts_of_date(self, column: str, seconds: str) -> str:
        """Midnight UTC of date COLUMN plus SECONDS."""
        if self.pg:
            return f"(CAST({column} AS timestamp) AT TIME ZONE 'UTC' + ({seconds}) * INTERVAL '1 second')"
        return f"(datetime({column}, ({seconds}) || ' seconds') || '.000000')"

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    def pad6(self, expr: str) -> str:
        expr = f"({expr})"
        if self.pg:
            return f"(CASE WHEN {expr} < 1000000 THEN lpad(CAST({expr} AS TEXT), 6, '0') ELSE CAST({expr} AS TEXT) END)"
        return f"(CASE WHEN {expr} < 1000000 THEN substr('000000' || {expr}, -6) ELSE CAST({expr} AS TEXT) END)"

    def true(self) -> str:
        return "TRUE" if self.pg else "1"

    def false(self) -> str:
        return "FALSE" if self.pg else "0"


def _hashed(source: str, key: str, count: int, seed: int, fence: str = "") -> str:
    """SOURCE (a FROM item) with columns r1 .. rCOUNT added: independent pseudo-random integers in
    [0, 2^31-1) computed from the integer column KEY and SEED (two rounds of squaring mod P)."""
    a = ", ".join(
        f"(CAST({key} AS BIGINT) * 1103515245 + {(seed * 7919 + s * 104729) % P}) % {P} AS a{s}"
        for s in range(1, count + 1)
    )
    b = ", ".join(f"(a{s} * a{s} + {s * 31 + seed}) % {P} AS b{s}" for s in range(1, count + 1))
    r = ", ".join(f"((b{s} * 48271) % {P} * ((b{s} * 48271) % {P})) % {P} AS r{s}" for s in range(1, count + 1))
    return f"(SELECT l2.*, {r} FROM (SELECT l1.*, {b} FROM (SELECT src.*, {a} FROM {source} src{fence}) l1{fence}) l2{fence})"


def _shares(expr: str, shares: list[tuple[int, str]], total: int) -> str:
    """CASE mapping EXPR % TOTAL onto the labels by their shares."""
    parts, upto = [], 0
    for share, label in shares[:-1]:
        upto += share
        parts.append(f"WHEN ({expr}) % {total} < {upto} THEN '{label}'")
    return f"(CASE {' '.join(parts)} ELSE '{shares[-1][1]}' END)"


def tracking_code_sql(key: str, offset: int) -> str:
    """The tracking code of record KEY: base 31 of (KEY * STEP + OFFSET) mod 31^10, ten letters."""
    from tracker.intake.services import TRACKING_ALPHABET

    x = f"((({key}) * {CODE_STEP} + {offset}) % {CODE_SPACE})"
    digits = [f"substr('{TRACKING_ALPHABET}', CAST(({x} / {31**k}) % 31 AS INTEGER) + 1, 1)" for k in range(9, -1, -1)]
    return "(" + " || ".join(digits) + ")"


def tracking_code(key: int, offset: int) -> str:
    """The same in Python (for checks)."""
    from tracker.intake.services import TRACKING_ALPHABET

    x = (key * CODE_STEP + offset) % CODE_SPACE
    return "".join(TRACKING_ALPHABET[(x // 31**k) % 31] for k in range(9, -1, -1))


# ---- helpers around the load ----------------------------------------------------------------------


def ensure_inspectors(count: int) -> list[int]:
    """At least COUNT active inspectors (extra ones 督查员 named 赵督查 ...), for 双随机 pools; returns their ids."""
    from sqlalchemy import select

    from tracker.access.policy import Role
    from tracker.auth import services as user_services
    from tracker.auth.models import User
    from tracker.extensions import db

    have = db.session.scalars(select(User).where(User.role == Role.INSPECTOR, User.is_active.is_(True))).all()
    taken = set(db.session.scalars(select(User.username)).all())
    n = 0
    while len(have) < count:
        n += 1
        username = f"ducha{n:02d}"
        if username in taken:
            continue
        name = INSPECTOR_NAMES[(n - 1) % len(INSPECTOR_NAMES)] + ("" if n <= len(INSPECTOR_NAMES) else str(n))
        user, _pw = user_services.create_user(
            {"username": username, "name": name, "role": Role.INSPECTOR, "email": f"{username}@demo.gov.cn"},
            actor=None,
        )
        user.must_change_password = False
        have.append(user)
    db.session.commit()
    return [u.id for u in have]


def _secondary_indexes(conn, pg: bool, tables: list[str]) -> list[tuple[str, str]]:
    """[(name, CREATE INDEX ...)] of the non-unique indexes of TABLES, as the database holds them."""
    import sqlalchemy as sa

    if pg:
        rows = conn.execute(
            sa.text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = ANY(:t) AND indexdef NOT LIKE 'CREATE UNIQUE%'"
            ),
            {"t": tables},
        ).all()
    else:
        marks = ", ".join(f"'{t}'" for t in tables)
        rows = conn.execute(
            sa.text(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({marks}) "
                "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'"
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


def _small_tables(conn, sql: _Sql, texts, units, inspectors, leaders, pins, people) -> None:
    import sqlalchemy as sa

    temp = "TEMPORARY"
    specs = {
        "bench_texts": ("k INTEGER PRIMARY KEY, title TEXT, body TEXT, category TEXT, reply TEXT", texts),
        "bench_units": ("k INTEGER PRIMARY KEY, unit_id INTEGER, owner_id INTEGER", units),
        "bench_insp": ("k INTEGER PRIMARY KEY, user_id INTEGER", inspectors),
        "bench_leaders": ("k INTEGER PRIMARY KEY, user_id INTEGER", leaders),
        "bench_pins": ("k INTEGER PRIMARY KEY, enc TEXT", pins),
        "bench_people": (
            "k INTEGER PRIMARY KEY, name_enc TEXT, phone_enc TEXT, name_mask TEXT, phone_mask TEXT",
            people,
        ),
    }
    for name, (columns, rows) in specs.items():
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE {temp} TABLE {name} ({columns})")
        width = len(rows[0]) + 1 if rows else 1
        if rows:
            marks = ", ".join(f":c{c}" for c in range(width))
            conn.execute(
                sa.text(f"INSERT INTO {name} VALUES ({marks})"),
                [{f"c{c}": v for c, v in enumerate((k, *row))} for k, row in enumerate(rows)],
            )
        if sql.pg:
            conn.exec_driver_sql(f"ANALYZE {name}")


# ---- the load -------------------------------------------------------------------------------------


def _calendar_tables(conn, sql: _Sql, low: int, high: int) -> None:
    """bench_days: day k (LOW .. HIGH, days from today) with its date and the running count of working
    days up to and including it; bench_wd: the working day number n (that count) and its day. So
    add_workdays(day, m) is bench_wd[cum(day) + m] and workdays_between(a, b) is cum(b) - cum(a)."""
    import sqlalchemy as sa

    from tracker.core.calendar import WorkdayCalendar

    cal = WorkdayCalendar()
    days, workdays, count = [], [], 0
    for k in range(low, high + 1):
        day = sql.today + timedelta(days=k)
        value = day if sql.pg else day.isoformat()
        if cal.is_workday(day):
            count += 1
            workdays.append({"n": count, "k": k, "d": value})
        days.append({"k": k, "d": value, "cum": count})
    for name in ("bench_days", "bench_wd"):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_days (k INTEGER PRIMARY KEY, d DATE UNIQUE, cum INTEGER)")
    conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_wd (n INTEGER PRIMARY KEY, k INTEGER, d DATE)")
    conn.execute(sa.text("INSERT INTO bench_days VALUES (:k, :d, :cum)"), days)
    conn.execute(sa.text("INSERT INTO bench_wd VALUES (:n, :k, :d)"), workdays)
    if sql.pg:
        conn.exec_driver_sql("ANALYZE bench_days")
        conn.exec_driver_sql("ANALYZE bench_wd")


def _set_sequence(conn, name: str, year: int, value: int) -> None:
    """Sequence (NAME, YEAR) at VALUE at least (the numbers up to VALUE are taken)."""
    import sqlalchemy as sa

    params = {"name": name, "year": year, "value": value}
    done = conn.execute(
        sa.text("UPDATE sequences SET value = :value WHERE name = :name AND year = :year AND value < :value"), params
    ).rowcount
    if (
        not done
        and not conn.execute(sa.text("SELECT 1 FROM sequences WHERE name = :name AND year = :year"), params).first()
    ):
        conn.execute(sa.text("INSERT INTO sequences (name, year, value) VALUES (:name, :year, :value)"), params)


def fill(
    problems: int,
    *,
    seed: int = 7,
    records_per_problem: int = 3,
    texts_path: Path = COMPLAINTS,
    drop_indexes: bool | None = None,
    quiet: bool = False,
    chunk: int = CHUNK,
    progress=None,
) -> dict:
    """Add PROBLEMS problems with RECORDS_PER_PROBLEM (1..3) intake records each, and the follow-up
    calls already made, to the database of the current app context (which must hold the demo
    organisation: units below the top level, at least one inspector). Commits. CHUNK problems at a
    time; PROGRESS(count) is called after each chunk with the number of problems it made.
    DROP_INDEXES: drop the secondary indexes for the load and rebuild them after it (None: when the load
    is big beside the problems already there, see above; else they are kept and filled as it goes).
    Returns figures: {problems, intake_records, followups, extensions, notices, seconds, cpu_seconds, rate (problems/s),
    steps: {name: seconds}, first_problem_id, first_record_id, code_offset}."""
    import sqlalchemy as sa

    from tracker.access.policy import Role
    from tracker.alerts.models import SupervisionNotice
    from tracker.alerts.scan import settings as alert_settings
    from tracker.auth.models import User
    from tracker.core import calendar, clock, crypto, sequences
    from tracker.extensions import db
    from tracker.intake import counts as intake_counts
    from tracker.intake.models import IntakeRecord
    from tracker.ledger import counts as problem_counts
    from tracker.ledger.models import ExtensionRequest, Problem
    from tracker.ledger.services import NUMBER_PREFIX
    from tracker.org.models import Unit
    from tracker.oversight.models import FollowUp
    from tracker.triage.services import template_for

    if not 1 <= records_per_problem <= 3:
        raise ValueError("records_per_problem is 1, 2 or 3")
    if problems < 1:
        raise ValueError("problems is at least 1")
    chunk = max(1, chunk)
    say = (lambda m: None) if quiet else log
    started, started_cpu = time.perf_counter(), time.process_time()
    steps = {}
    session = db.session
    rng = random.Random(seed)
    units = session.execute(sa.select(Unit.id).where(Unit.parent_id.is_not(None)).order_by(Unit.id)).scalars().all()
    if not units:
        raise ValueError("create the organisation first (tracker.demo.services.seed)")
    owners = dict(
        session.execute(sa.select(User.unit_id, User.id).where(User.role == Role.UNIT).order_by(User.id)).all()
    )
    inspectors = session.scalars(sa.select(User.id).where(User.role == Role.INSPECTOR).order_by(User.id)).all()
    if not inspectors:
        raise ValueError("no inspector: create the organisation first (tracker.demo.services.seed)")
    leaders = session.scalars(sa.select(User.id).where(User.role == Role.LEADER).order_by(User.id)).all()
    today = clock.today()
    year = today.year
    # the tier's time limit (working days) and rule text, as an assignment proposes them
    templates = {}
    for tier in ("red", "yellow", "blue"):
        template = template_for(tier, False, "投诉")
        templates[tier] = (template.days, template.rule_text)
    first_seq = sequences.reserve("problem", year, problems)
    first_pid = (session.scalar(sa.select(sa.func.max(Problem.id))) or 0) + 1
    first_rid = (session.scalar(sa.select(sa.func.max(IntakeRecord.id))) or 0) + 1
    first_fid = (session.scalar(sa.select(sa.func.max(FollowUp.id))) or 0) + 1
    session.commit()  # the numbers are reserved whatever happens next
    if drop_indexes is None:
        # A rebuild reads every row of the tables; filling the indexes as the rows go in costs the new
        # rows only, but more per row (measured: about 5x a rebuild's share on PostgreSQL, 1.5x on SQLite).
        there = first_pid - 1
        drop_indexes = problems * 4 >= there if db.engine.dialect.name == "postgresql" else problems >= there
    # The tracking code is a one-to-one map of the record id: a fixed offset keeps the codes of
    # every load (any seed) apart from each other.
    code_offset = CODE_OFFSET
    rng.randrange(CODE_SPACE)  # (the draw that used to pick the offset: the rest stays as it was)
    texts = load_texts(texts_path)
    pins = [crypto.encrypt(f"{rng.randrange(10**6):06d}") for _ in range(PIN_COUNT)]
    people = []
    for _ in range(PEOPLE_COUNT):
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
        phone = "1" + rng.choice("3456789") + "".join(rng.choices("0123456789", k=9))
        people.append((crypto.encrypt(name), crypto.encrypt(phone), crypto.mask_name(name), crypto.mask_phone(phone)))
    from tracker.demo.services import ensure_campaigns

    campaigns = ensure_campaigns()
    first_eid = (session.scalar(sa.select(sa.func.max(ExtensionRequest.id))) or 0) + 1
    first_nid = (session.scalar(sa.select(sa.func.max(SupervisionNotice.id))) or 0) + 1
    taken_nseq = session.scalar(
        sa.select(sequences.Sequence.value).where(sequences.Sequence.name == "notice", sequences.Sequence.year == year)
    )
    first_nseq = (
        max(
            taken_nseq or 0,
            session.scalar(sa.select(sa.func.max(SupervisionNotice.seq)).where(SupervisionNotice.year == year)) or 0,
        )
        + 1
    )
    reply_by = calendar.add_workdays(today, alert_settings()["reply_days"])
    session.commit()
    steps["prepare"] = time.perf_counter() - started
    session.remove()

    engine = db.engine
    sql = _Sql(engine.dialect.name, clock.now(), today)
    local_now = clock.now().astimezone(clock.timezone())
    nowsec = local_now.hour * 3600 + local_now.minute * 60 + local_now.second
    params = {
        "now": sql.now_param(),
        "today": sql.today.isoformat(),
        "nowsec": nowsec,
        "reply_by": reply_by if sql.pg else reply_by.isoformat(),
        "cut": _Sql(engine.dialect.name, clock.now() - timedelta(days=14), today).now_param(),
    }
    nt, nu, ni, nl = len(texts), len(units), len(inspectors), max(1, len(leaders))
    n_records = problems * records_per_problem
    tables = ["problems", "intake_records", "followups", "extension_requests", "supervision_notices"]
    summaries = (problem_counts.SUMMARY, intake_counts.SUMMARY)
    made_followups = made_extensions = made_notices = 0
    for name in ("problems", "intake records", "followups", "extensions, notices"):
        steps[name] = 0.0
    with engine.connect() as conn:
        if not sql.pg:
            conn.exec_driver_sql("PRAGMA synchronous = OFF")
            conn.exec_driver_sql("PRAGMA journal_mode = MEMORY")
            # a cache of about 100 MB: dirty pages go out as the load goes (a cache holding the whole load
            # makes the commit write and sort it all at once, slower); reads come through the memory map
            conn.exec_driver_sql("PRAGMA cache_size = -100000")
            conn.exec_driver_sql("PRAGMA temp_store = MEMORY")
            # index builds scan the whole tables: read through a memory map, not page by page into the cache
            conn.exec_driver_sql(f"PRAGMA mmap_size = {MMAP_BYTES}")
        conn.commit()
        try:
            with conn.begin():
                if sql.pg:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
                    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
                    conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
                    conn.exec_driver_sql("SET LOCAL jit = off")
                    # The planner cannot estimate the generated rows: it would nest loops over the
                    # small tables, computing every hashed key once per pair; hash joins compute it once.
                    conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
                    # Foreign keys are checked by a trigger per row and constraint, which costs more
                    # than the insert itself; the rows made here refer only to existing units, users
                    # and the rows made just before. Needs a superuser: else the checks run.
                    try:  # long texts (over about 2 kB a row) compress faster with lz4, where the server has it
                        with conn.begin_nested():
                            conn.exec_driver_sql("SET LOCAL default_toast_compression = 'lz4'")
                    except sa.exc.DBAPIError:
                        pass
                    try:  # the index builds write their pages whole into the WAL: compressed (superuser, lz4 or pglz)
                        with conn.begin_nested():
                            conn.exec_driver_sql("SET LOCAL wal_compression = 'lz4'")
                    except sa.exc.DBAPIError:
                        try:
                            with conn.begin_nested():
                                conn.exec_driver_sql("SET LOCAL wal_compression = 'pglz'")
                        except sa.exc.DBAPIError:
                            pass
                    try:
                        with conn.begin_nested():
                            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                        steps["foreign key triggers off"] = 1
                    except sa.exc.DBAPIError:
                        say("  (not a superuser: foreign keys are checked row by row)")
                t0 = time.perf_counter()
                _small_tables(
                    conn,
                    sql,
                    texts,
                    [(u, owners.get(u)) for u in units],
                    [(i,) for i in inspectors],
                    [(i,) for i in leaders] or [(None,)],
                    [(p,) for p in pins],
                    people,
                )
                _calendar_tables(conn, sql, -CALENDAR_PAST, CALENDAR_AHEAD)
                indexes = _secondary_indexes(conn, sql.pg, tables) if drop_indexes else []
                for name, _ddl in indexes:
                    conn.exec_driver_sql(f'DROP INDEX "{name}"')
                # the triggers that keep the summary tables: off for the load, the new rows counted once after it
                for summary in summaries:
                    summary.drop(conn)
                steps["small tables, drop indexes"] = time.perf_counter() - t0

                problem_sql = _problems_sql(
                    sql, seed, first_pid, first_seq, f"{NUMBER_PREFIX}-{year}-", nt, nu, ni, nl, campaigns, templates
                )
                for low in range(0, problems, chunk):
                    high = min(problems, low + chunk)
                    pid_low, pid_high = first_pid + low, first_pid + high - 1
                    rid_low, rid_high = (
                        first_rid + low * records_per_problem,
                        first_rid + high * records_per_problem - 1,
                    )

                    t0 = time.perf_counter()
                    conn.execute(sa.text(problem_sql.replace("{numbers}", sql.numbers(low, high))), params)
                    steps["problems"] += time.perf_counter() - t0

                    t0 = time.perf_counter()
                    conn.execute(
                        sa.text(
                            _records_sql(
                                sql, seed, first_pid, pid_low, pid_high, first_rid, records_per_problem, code_offset
                            )
                        ),
                        params,
                    )
                    steps["intake records"] += time.perf_counter() - t0

                    t0 = time.perf_counter()
                    made_followups += conn.execute(
                        sa.text(_followups_sql(sql, seed, first_rid, rid_low, rid_high, first_fid, ni)), params
                    ).rowcount
                    steps["followups"] += time.perf_counter() - t0

                    t0 = time.perf_counter()
                    made_extensions += conn.execute(
                        sa.text(_extensions_sql(sql, first_pid, pid_low, pid_high, first_eid)), params
                    ).rowcount
                    made_notices += conn.execute(
                        sa.text(
                            _notices_sql(sql, first_pid, pid_low, pid_high, first_nid, first_nseq + made_notices, year)
                        ),
                        params,
                    ).rowcount
                    steps["extensions, notices"] += time.perf_counter() - t0
                    if progress is not None:
                        progress(high - low)
                say(f"  problems: {problems:,} in {steps['problems']:.1f} s")
                say(f"  intake records: {n_records:,} in {steps['intake records']:.1f} s")
                say(f"  follow-up calls: {made_followups:,} in {steps['followups']:.1f} s")
                say(f"  approved extensions: {made_extensions:,}, supervision notices: {made_notices:,}")

                t0 = time.perf_counter()
                for _name, ddl in indexes:
                    conn.exec_driver_sql(ddl)
                steps["rebuild indexes"] = time.perf_counter() - t0
                say(f"  {len(indexes)} indexes rebuilt in {steps['rebuild indexes']:.1f} s")
                t0 = time.perf_counter()
                for summary, where in (
                    (problem_counts.SUMMARY, f"id BETWEEN {first_pid} AND {first_pid + problems - 1}"),
                    (intake_counts.SUMMARY, f"id BETWEEN {first_rid} AND {first_rid + n_records - 1}"),
                ):
                    summary.install(conn)
                    conn.exec_driver_sql(summary.add_statement(engine.dialect.name, where))
                steps["summary counts"] = time.perf_counter() - t0
                if made_notices:
                    _set_sequence(conn, "notice", year, first_nseq + made_notices - 1)
                if sql.pg:
                    for table in tables:
                        conn.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                        )
                for name in (
                    "bench_texts",
                    "bench_units",
                    "bench_insp",
                    "bench_leaders",
                    "bench_pins",
                    "bench_people",
                    "bench_days",
                    "bench_wd",
                ):
                    conn.exec_driver_sql(f"DROP TABLE {name}")
                t0 = time.perf_counter()
            steps["commit"] = time.perf_counter() - t0
        finally:
            if not sql.pg:
                conn.exec_driver_sql("PRAGMA journal_mode = DELETE")
                conn.exec_driver_sql("PRAGMA synchronous = FULL")
                conn.exec_driver_sql("PRAGMA mmap_size = 0")
                conn.commit()
    seconds = time.perf_counter() - started
    return {
        "problems": problems,
        "intake_records": n_records,
        "followups": made_followups,
        "extensions": made_extensions,
        "notices": made_notices,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - started_cpu,  # of this process (on SQLite: the database's work too)
        "rate": problems / seconds if seconds else 0.0,
        "steps": steps,
        "first_problem_id": first_pid,
        "first_record_id": first_rid,
        "code_offset": code_offset,
    }


def analyze(vacuum: bool = True) -> float:
    """VACUUM (ANALYZE) on PostgreSQL (what autovacuum would do after the load), ANALYZE on SQLite."""
    from tracker.extensions import db

    started = time.perf_counter()
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)" if vacuum else "ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def _problems_sql(sql: _Sql, seed, first_pid, first_seq, prefix, nt, nu, ni, nl, campaigns, templates) -> str:
    """INSERT ... SELECT of the problems j in {numbers} (a placeholder: the chunk's numbers source)."""
    status = _shares("r1", STATUS_SHARES, 1000)
    tier = "(CASE WHEN r2 % 100 < 15 THEN 'red' WHEN r2 % 100 < 70 THEN 'yellow' ELSE 'blue' END)"
    # the time limit in working days, and its rule text (deadline_rule), from the deadline templates
    days = f"(CASE WHEN tr = 'red' THEN {templates['red'][0]} WHEN tr = 'yellow' THEN {templates['yellow'][0]} ELSE {templates['blue'][0]} END)"
    rule = " ".join(
        f"WHEN x.tr = '{t}' THEN '{text.replace(chr(39), chr(39) * 2)}'" for t, (_d, text) in templates.items()
    )
    channel = _shares("r11", CHANNEL_SHARES, 100)
    # seconds before now: of the sign-off (closed) and of the assignment
    closed_off = "(r7 % 31536000)"
    # an approved extension (延期) for 15 % of the assigned problems: half the time limit and 2-7 working days more
    ext = f"(CASE WHEN st <> 'new' AND r12 % 100 < 15 THEN {days} / 2 + 2 + (r12 / 100) % 6 ELSE 0 END)"
    # closed: assigned one day to 1.3 times the (calendar) time limit before the sign-off
    assigned_off = (
        f"(CASE WHEN st = 'new' THEN NULL "
        f"WHEN st = 'closed' THEN {closed_off} + (1 + r8 % ((dd + ext) * 91 / 50 + 1)) * 86400 + r9 % 36000 "
        f"WHEN st = 'withdrawn' THEN r7 % 31536000 + 259200 "
        f"ELSE r7 % 6480000 END)"
    )
    second_insp = f"((r5 % {ni}) + 1 + r6 % {max(1, ni - 1)}) % {ni}" if ni > 1 else "0"

    def day_of(seconds):  # the local day (days from today, <= 0) of the moment SECONDS before now
        return f"((:nowsec - ({seconds}) + {86400 * 10000}) / 86400 - 10000)"

    inner = f"""
        SELECT h.*, {status} AS st, {tier} AS tr FROM {_hashed("{numbers}", "j + " + str(first_pid), 14, seed, sql.fence)} h{sql.fence}
    """
    mid0 = f"""
        SELECT q.*, {days} AS dd, {ext} AS ext FROM ({inner}) q{sql.fence}
    """
    mid = f"""
        SELECT q0.*, {assigned_off} AS aoff, CASE WHEN q0.st = 'closed' THEN {closed_off} END AS cof,
            {second_insp} AS i2k FROM ({mid0}) q0{sql.fence}
    """
    outer = f"""
        SELECT z.*, COALESCE(z.aoff + 3600 + z.r9 % 172800, z.r7 % 864000) AS coff,
            {day_of("z.aoff")} AS ak, {day_of("z.cof")} AS ck FROM ({mid}) z
    """
    f = sql.false()
    timeliness = (
        "CASE WHEN x.st = 'closed' THEN (CASE WHEN x.ck <= wo.k THEN 'original' "
        "WHEN x.ck <= we.k THEN 'extended' ELSE 'late' END) END"
    )
    workdays = "CASE WHEN x.st = 'closed' THEN dc.cum - da.cum END"
    campaign = "NULL"
    if campaigns:
        campaign = f"CASE WHEN x.r13 % 100 < 12 THEN {campaigns[0]} "
        campaign += f"WHEN x.r13 % 100 < 20 THEN {campaigns[-1]} END" if len(campaigns) > 1 else "END"
    return f"""
    INSERT INTO problems (id, number, title, description, category, channel, source_kind, status, tier,
        is_quick_fix, unit_id, owner_id, leader_id, inspector_id, created_by_id, measures, assigned_at,
        deadline, original_deadline, deadline_rule, closed_at, closed_by_id, approved_by_id, public_reply,
        review_opinion, needs_verification, evidence_waived, rework_count, reopen_count, relapse_count,
        close_timeliness, close_workdays, campaign_id, created_at, updated_at, version)
    SELECT
        x.j + {first_pid},
        '{prefix}' || {sql.pad6(f"x.j + {first_seq}")},
        t.title, t.body, t.category, {channel}, '投诉', x.st,
        CASE WHEN x.st = 'new' THEN NULL ELSE x.tr END,
        {f}, u.unit_id,
        CASE WHEN x.st = 'new' THEN NULL ELSE u.owner_id END,
        CASE WHEN x.st = 'new' THEN NULL ELSE ld.user_id END,
        CASE WHEN x.st = 'new' THEN NULL ELSE i1.user_id END,
        i1.user_id,
        CASE WHEN x.st = 'new' THEN NULL ELSE '立行立改，限期整改到位' END,
        CASE WHEN x.st = 'new' THEN NULL ELSE {sql.ts_before_now("x.aoff")} END,
        we.d, wo.d,
        CASE WHEN x.st = 'new' THEN NULL {rule} END,
        CASE WHEN x.st = 'closed' THEN {sql.ts_before_now("x.cof")} END,
        CASE WHEN x.st = 'closed' THEN i2.user_id END,
        CASE WHEN x.st IN ('closed', 'verifying') THEN i2.user_id END,
        CASE WHEN x.st = 'closed' THEN t.reply END,
        CASE WHEN x.st IN ('closed', 'verifying') THEN '整改措施落实到位，同意销号' END,
        {f}, {f},
        CASE WHEN x.st = 'new' THEN 0 WHEN x.r10 % 100 < 6 THEN 1 WHEN x.r10 % 100 < 8 THEN 2 ELSE 0 END, 0,
        CASE WHEN x.st IN ('closed', 'in_progress') AND x.r14 % 100 < 2 THEN 1 ELSE 0 END,
        {timeliness}, {workdays}, {campaign},
        {sql.ts_before_now("x.coff")},
        {sql.ts_before_now("CASE WHEN x.st = 'closed' THEN x.cof WHEN x.st = 'new' THEN x.coff ELSE x.r10 % (x.aoff + 1) END")},
        1
    FROM ({outer}) x
    {sql.then} bench_texts t ON t.k = x.r4 % {nt}
    JOIN bench_units u ON u.k = x.r3 % {nu}
    JOIN bench_insp i1 ON i1.k = x.r5 % {ni}
    JOIN bench_insp i2 ON i2.k = x.i2k
    JOIN bench_leaders ld ON ld.k = x.r6 % {nl}
    LEFT JOIN bench_days da ON da.k = x.ak
    LEFT JOIN bench_wd wo ON wo.n = da.cum + x.dd
    LEFT JOIN bench_wd we ON we.n = da.cum + x.dd + x.ext
    LEFT JOIN bench_days dc ON dc.k = x.ck
    """


def _records_sql(sql: _Sql, seed, first_pid, pid_low, pid_high, first_rid, per, code_offset) -> str:
    channel = _shares("r1", CHANNEL_SHARES, 100)
    kind = "(CASE WHEN r2 % 100 < 70 THEN '投诉' WHEN r2 % 100 < 85 THEN '差评' WHEN r2 % 100 < 95 THEN '意见建议' ELSE '评议意见' END)"
    ks = " UNION ALL ".join(f"SELECT {k} AS k" for k in range(per))
    source = f"""(SELECT p.id AS pid, kk.k AS k, (p.id - {first_pid}) * {per} + kk.k + {first_rid} AS rid,
            p.status AS pst, p.closed_at AS pclosed, p.created_at AS pcreated, p.channel AS pchannel,
            p.title AS ptitle, p.description AS pbody, p.category AS pcat, p.unit_id AS punit,
            p.inspector_id AS pinsp, p.public_reply AS preply
        FROM problems p CROSS JOIN ({ks}) kk WHERE p.id BETWEEN {pid_low} AND {pid_high})"""
    received = sql.ts_plus("h.pcreated", "-(1800 + h.r3 % 172800 + h.k * 86400)")
    step1 = f"""SELECT h.*, {received} AS recv,
            (h.k = 2 AND h.r9 % 100 < 10) AS expl,
            (h.r5 % 100 < 25) AS anon, (h.r7 % 100 < 8) AS nophone
        FROM {_hashed(source, "rid", 11, seed + 1, sql.fence)} h{sql.fence}"""
    # when the follow-up clock starts: the problem's closing, or the explanation (2 days after receipt)
    step2 = f"""SELECT s.*,
            CASE WHEN s.expl THEN {sql.ts_plus("s.recv", "172800")} END AS handled,
            CASE WHEN s.expl THEN {sql.ts_plus("s.recv", "172800")} WHEN s.pst = 'closed' THEN s.pclosed END AS base
        FROM ({step1}) s{sql.fence}"""
    cut = ":cut"  # two weeks ago
    state = f"""(CASE WHEN y.base IS NULL THEN NULL
            WHEN y.anon THEN 'anonymous' WHEN y.nophone THEN 'no_phone'
            WHEN y.base > {cut} THEN 'due'
            WHEN y.r10 % 100 < 86 THEN 'done' WHEN y.r10 % 100 < 90 THEN 'unreachable' ELSE 'due' END)"""
    step3 = f"SELECT y.*, {state} AS fst FROM ({step2}) y"
    due_on = f"""CASE WHEN w.fst = 'due' AND w.base > {cut} THEN {sql.date_plus("w.base", "1")}
            WHEN w.fst = 'due' THEN {sql.date_plus("w.base", "1 + w.r11 % 5")}
            WHEN w.fst IN ('done', 'unreachable') THEN {sql.date_plus("w.base", "1 + w.r11 % 3")} END"""
    tries = (
        "CASE WHEN w.fst = 'unreachable' THEN 3 WHEN w.fst = 'due' AND w.base <= " + cut + " THEN w.r11 % 3 ELSE 0 END"
    )
    t, f = sql.true(), sql.false()
    return f"""
    INSERT INTO intake_records (id, channel, external_id, kind, received_at, title, body, category, rating,
        unit_id, is_anonymous, complainant_name_enc, complainant_phone_enc, complainant_name_mask,
        complainant_phone_mask, tracking_code, query_pin_enc, handling, explanation, reply, is_excluded,
        handled_by_id, handled_at, problem_id, followup_state, followup_due_on, followup_tries, is_public,
        created_at, updated_at, version)
    SELECT
        w.rid,
        CASE WHEN w.k = 0 THEN w.pchannel ELSE {channel.replace("r1", "w.r1")} END,
        'GD' || {sql.text("w.rid + 1000000000")},
        {kind.replace("r2", "w.r2")},
        w.recv,
        CASE WHEN w.k = 0 THEN w.ptitle ELSE substr('再次反映：' || w.ptitle, 1, 200) END,
        w.pbody, w.pcat,
        CASE WHEN w.r4 % 10 < 3 THEN 1 WHEN w.r4 % 10 < 5 THEN 2 WHEN w.r4 % 10 < 6 THEN 3 END,
        w.punit,
        CASE WHEN w.anon THEN {t} ELSE {f} END,
        CASE WHEN w.anon THEN NULL ELSE pe.name_enc END,
        CASE WHEN w.anon OR w.nophone THEN NULL ELSE pe.phone_enc END,
        CASE WHEN w.anon THEN NULL ELSE pe.name_mask END,
        CASE WHEN w.anon OR w.nophone THEN NULL ELSE pe.phone_mask END,
        {tracking_code_sql("w.rid", code_offset)},
        pn.enc,
        CASE WHEN w.expl THEN 'explained' ELSE 'rectify' END,
        CASE WHEN w.expl THEN '经核实，已向反映人解释说明相关政策和办理流程。' END,
        CASE WHEN w.k = 0 THEN w.preply END,
        {f},
        w.pinsp,
        CASE WHEN w.expl THEN w.handled ELSE w.pcreated END,
        CASE WHEN w.expl THEN NULL ELSE w.pid END,
        w.fst, {due_on}, {tries},
        CASE WHEN w.pst = 'closed' AND NOT w.expl AND w.r6 % 100 < 10 THEN {t} ELSE {f} END,
        w.recv, COALESCE(w.base, w.recv), 1
    FROM ({step3}) w
    {sql.then} bench_people pe ON pe.k = w.r8 % {PEOPLE_COUNT}
    JOIN bench_pins pn ON pn.k = w.r6 % {PIN_COUNT}
    """


def _extensions_sql(sql: _Sql, first_pid, pid_low, pid_high, first_eid) -> str:
    """An approved ExtensionRequest for every generated problem whose deadline is past its original one."""
    asked = sql.ts_plus("p.assigned_at", "3600 * (1 + p.id % 47)")
    decided = sql.ts_plus("p.assigned_at", "3600 * (21 + p.id % 47)")
    now = "CAST(:now AS timestamptz)" if sql.pg else ":now"
    least = "LEAST" if sql.pg else "min"
    return f"""
    INSERT INTO extension_requests (id, problem_id, requested_by_id, reason, current_deadline, requested_deadline,
        status, decided_by_id, decided_at, decision_note, created_at)
    SELECT p.id - {first_pid} + {first_eid}, p.id, p.owner_id, '涉及资金和施工周期，原定时限内难以整改到位，申请延期。',
        p.original_deadline, p.deadline, 'approved', p.inspector_id, {least}({decided}, {now}), '同意延期，请按新时限整改到位。',
        {least}({asked}, {now})
    FROM problems p
    WHERE p.id BETWEEN {pid_low} AND {pid_high} AND p.deadline > p.original_deadline
    """


def _notices_sql(sql: _Sql, first_pid, pid_low, pid_high, first_nid, first_nseq, year) -> str:
    """督办单 for 30 % of the generated problems overdue now (挂牌督办 beyond 10 calendar days), numbered
    FIRST_NSEQ on in problem order; days_overdue in working days (as the deadline scan counts them)."""
    late = (
        "(CAST(:today AS date) - p.deadline)"
        if sql.pg
        else "CAST(julianday(:today) - julianday(p.deadline) AS INTEGER)"
    )
    today = "CAST(:today AS date)" if sql.pg else ":today"
    return f"""
    INSERT INTO supervision_notices (id, year, seq, problem_id, level, unit_id, leader_id, deadline, days_overdue,
        reply_by, note, issued_at, issued_by_id, source_key)
    SELECT p.id - {first_pid} + {first_nid}, {year}, {first_nseq - 1} + ROW_NUMBER() OVER (ORDER BY p.id), p.id,
        CASE WHEN {late} > 10 THEN 'listed' ELSE 'supervise' END, p.unit_id, p.leader_id, p.deadline,
        dn.cum - dl.cum, :reply_by, '逾期未办结，请于回复期限前书面报告整改情况。',
        {sql.ts_before_now("3600 * (1 + p.id % 72)")}, p.inspector_id, NULL
    FROM problems p
    JOIN bench_days dl ON dl.d = p.deadline
    JOIN bench_days dn ON dn.k = 0
    WHERE p.id BETWEEN {pid_low} AND {pid_high} AND p.status IN ('assigned', 'in_progress', 'submitted', 'verifying')
        AND p.deadline < {today} AND (CAST(p.id AS BIGINT) * 40503) % 100 < 30
    """


def _followups_sql(sql: _Sql, seed, first_rid, rid_low, rid_high, first_fid, ni) -> str:
    outcome = "(CASE WHEN h.followup_state = 'unreachable' THEN 'unreachable' WHEN h.r1 % 100 < 62 THEN 'satisfied' WHEN h.r1 % 100 < 88 THEN 'basically_satisfied' ELSE 'unsatisfied' END)"
    source = f"""(SELECT r.id AS rid, r.problem_id, r.unit_id, r.followup_state, r.followup_due_on
        FROM intake_records r WHERE r.id BETWEEN {rid_low} AND {rid_high}
        AND r.followup_state IN ('done', 'unreachable'))"""
    notes = {
        "satisfied": "反映人表示问题已解决，对处理结果满意。",
        "basically_satisfied": "反映人表示基本解决，希望继续跟进。",
        "unsatisfied": "反映人表示问题未解决，对处理结果不满意。",
        "unreachable": "连续三次拨打无人接听。",
    }
    note = "(CASE o.outcome " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in notes.items()) + " END)"
    return f"""
    INSERT INTO followups (id, intake_id, problem_id, unit_id, attempt, outcome, note, called_at, caller_id, decision)
    SELECT o.rid - {first_rid} + {first_fid}, o.rid, o.problem_id, o.unit_id, o.attempt, o.outcome, {note},
        {sql.ts_of_date("o.followup_due_on", "32400 + o.r2 % 28800")}, i.user_id,
        CASE WHEN o.outcome = 'unsatisfied' AND o.r3 % 100 < 3 THEN 'pending' END
    FROM (SELECT h.*, {outcome} AS outcome, CASE WHEN h.followup_state = 'unreachable' THEN 3 ELSE 1 END AS attempt
          FROM {_hashed(source, "rid", 3, seed + 2, sql.fence)} h) o
    {sql.then} bench_insp i ON i.k = o.r2 % {ni}
    """


def sample_credentials(count: int, seed: int = 1, **where) -> list[tuple[str, str]]:
    """COUNT (tracking code, PIN) pairs of records spread over the table (PINs decrypted)."""
    import sqlalchemy as sa

    from tracker.core import crypto
    from tracker.extensions import db
    from tracker.intake.models import IntakeRecord

    rng = random.Random(seed)
    low, high = db.session.execute(sa.select(sa.func.min(IntakeRecord.id), sa.func.max(IntakeRecord.id))).one()
    ids = sorted({rng.randint(low, high) for _ in range(count * 2)})[: count * 2]
    rows = db.session.execute(
        sa.select(IntakeRecord.tracking_code, IntakeRecord.query_pin_enc).where(IntakeRecord.id.in_(ids))
    ).all()
    rng.shuffle(rows)
    cache = {}
    pairs = []
    for code, enc in rows[:count]:
        if enc not in cache:
            cache[enc] = crypto.decrypt(enc)
        pairs.append((code, cache[enc]))
    return pairs


def describe(kind: str) -> dict:
    """Counts of the generated ledger (status shares, follow-up states) for the report."""
    import sqlalchemy as sa

    from tracker.extensions import db

    out = {}
    out["status"] = dict(db.session.execute(sa.text("SELECT status, count(*) FROM problems GROUP BY status")).all())
    out["close_timeliness"] = dict(
        db.session.execute(
            sa.text("SELECT COALESCE(close_timeliness, '-'), count(*) FROM problems GROUP BY close_timeliness")
        ).all()
    )
    out["extended"] = db.session.scalar(sa.text("SELECT count(*) FROM problems WHERE deadline > original_deadline"))
    out["campaign"] = dict(
        db.session.execute(
            sa.text("SELECT COALESCE(campaign_id, 0), count(*) FROM problems GROUP BY campaign_id")
        ).all()
    )
    out["extension_requests"] = db.session.scalar(sa.text("SELECT count(*) FROM extension_requests"))
    out["supervision_notices"] = db.session.scalar(sa.text("SELECT count(*) FROM supervision_notices"))
    out["followup_state"] = dict(
        db.session.execute(
            sa.text("SELECT COALESCE(followup_state, '-'), count(*) FROM intake_records GROUP BY followup_state")
        ).all()
    )
    return out


__all__ = [
    "CHUNK",
    "COMPLAINTS",
    "analyze",
    "describe",
    "ensure_inspectors",
    "fill",
    "load_texts",
    "sample_credentials",
    "tracking_code",
]


if __name__ == "__main__":  # a quick check: python -m tracker.demo.generator N [database URL]
    import sys

    from config import TestConfig
    from tracker import create_app
    from tracker.demo import services as demo
    from tracker.extensions import db

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    url = sys.argv[2] if len(sys.argv) > 2 else "sqlite:////tmp/bigdata_check.db"
    if url.startswith("sqlite:////"):
        Path(url[len("sqlite:///") :]).unlink(missing_ok=True)

    class C(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(C)
    with app.app_context():
        db.create_all()
        demo.seed(7)
        db.session.commit()
        ensure_inspectors(8)
        figures = fill(n)
        print({k: v for k, v in figures.items() if k != "steps"}, figures["steps"])
        print(f"analyze {analyze():.1f} s")
        print(describe(""))
        print(sample_credentials(3))
