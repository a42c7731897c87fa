"""Bulk import of intake records from CSV/XLSX: column mapping, profiles, batches with progress.

A batch streams its file in chunks; each chunk is validated, de-duplicated against the database and
inserted in one statement, then committed with the batch's counters, so that progress is visible to
other requests and a crash loses at most one chunk (re-running the batch finishes it: rows already
imported by this batch count as created, not as duplicates).
"""

import contextlib
import hashlib
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import and_, delete, insert, or_, select, tuple_, update

from tracker.audit import services as audit
from tracker.core import clock, storage
from tracker.core.errors import ValidationFailed
from tracker.core.sanitize import plain_text
from tracker.excel.services import open_table
from tracker.extensions import db
from tracker.intake import services
from tracker.intake.models import ImportBatch, ImportProfile, ImportRowError, IntakeRecord

log = logging.getLogger(__name__)
CHUNK_SIZE = 1000
STALE_AFTER = timedelta(minutes=2)

# Profiles for the two export layouts every office meets. Admins save more from the mapping page.
BUILTIN_PROFILES = {
    "好差评导出": {
        "mapping": {
            "external_id": "评价编号",
            "received_at": "评价时间",
            "channel": "评价渠道",
            "rating": "评价等级",
            "body": "评价内容",
            "service_item": "事项名称",
            "unit_code": "办理部门",
            "complainant_name": "评价人",
            "complainant_phone": "联系电话",
        },
        "defaults": {
            "kind": "差评",
            "channel": "政务服务网 PC 端",
            "derive_title": True,
            "channel_map": {
                "PC端": "政务服务网 PC 端",
                "网上办事大厅": "政务服务网 PC 端",
                "移动端": "政务服务 APP",
                "APP": "政务服务 APP",
                "政务服务APP": "政务服务 APP",
                "小程序": "政务服务 APP",
                "窗口": "现场/窗口",
                "政务服务大厅": "现场/窗口",
                "二维码": "现场/窗口",
                "评价器": "评价器",
                "短信": "短信",
                "电话": "电话回访",
                "12345热线": "12345 热线",
            },
        },
    },
    "12345 工单导出": {
        "mapping": {
            "external_id": "工单编号",
            "received_at": "来电时间",
            "title": "诉求标题",
            "body": "诉求内容",
            "kind": "诉求类型",
            "unit_code": "承办单位",
            "complainant_name": "来电人",
            "complainant_phone": "来电号码",
            "category": "诉求分类",
        },
        "defaults": {
            "channel": "12345 热线",
            "kind_map": {"咨询": "意见建议", "建议": "意见建议", "求助": "投诉", "举报": "投诉", "表扬": "意见建议"},
        },
    },
}


# ---- mapping -------------------------------------------------------------------------------------


def _header_key(header: str) -> str:
    """A header as compared with the canonical names: "Received At", "received_at" and "受理时间*"
    (a required-column mark) all find their field."""
    return services.match_key(header).replace("_", "").replace("-", "").rstrip("*")


HEADER_KEYS = {_header_key(alias): name for alias, name in services.HEADER_ALIASES.items()}


def canonical_mapping(headers: list[str]) -> dict | None:
    """{field: header} when HEADERS are the canonical columns (Chinese or English), else None."""
    mapping = {}
    for header in headers:
        name = HEADER_KEYS.get(_header_key(header))
        if name and name not in mapping:
            mapping[name] = header
    needed = [f for f in services.REQUIRED_FIELDS if f != "channel"]
    return mapping if all(f in mapping for f in needed) else None


def profiles() -> dict[str, dict]:
    """Built-in and saved profiles by name."""
    found = {name: {**spec, "builtin": True} for name, spec in BUILTIN_PROFILES.items()}
    for profile in db.session.scalars(select(ImportProfile).order_by(ImportProfile.name)):
        found[profile.name] = {"mapping": profile.mapping, "defaults": profile.defaults or {}, "builtin": False}
    return found


def matching_profile(headers: list[str]) -> str | None:
    """The first profile whose mapped columns are all among HEADERS."""
    present = set(headers)
    for name, spec in profiles().items():
        if spec["mapping"] and set(spec["mapping"].values()) <= present:
            return name
    return None


def validate_mapping(mapping: dict, headers: list[str], defaults: dict) -> dict:
    """Drop empty choices; raise ValidationFailed when a required field has no column (and, for the
    channel, no default) or a column does not exist."""
    mapping = {k: v for k, v in mapping.items() if v and k in services.FIELDS}
    errors = {}
    for name, header in mapping.items():
        if header not in headers:
            errors[name] = _("文件中没有“%(h)s”这一列。", h=header)
    for name in services.REQUIRED_FIELDS:
        if name in mapping:
            continue
        if name == "channel" and defaults.get("channel"):
            continue
        if name == "title" and defaults.get("derive_title"):
            continue
        errors[name] = _("请为“%(f)s”选择一列。", f=_(services.FIELD_LABELS[name]))
    if errors:
        raise ValidationFailed(_("列对应关系不完整。"), errors)
    return mapping


def save_profile(name: str, mapping: dict, defaults: dict, *, actor) -> ImportProfile:
    name = (name or "").strip()[:50]
    if not name:
        raise ValidationFailed(_("请填写方案名称。"), {"profile_name": _("请填写方案名称。")})
    if name in BUILTIN_PROFILES:
        raise ValidationFailed(_("“%(n)s”是内置方案，请换一个名称。", n=name), {"profile_name": _("名称已被占用。")})
    profile = db.session.scalar(select(ImportProfile).where(ImportProfile.name == name))
    if profile is None:
        profile = ImportProfile(name=name, created_by_id=getattr(actor, "id", None))
        db.session.add(profile)
    profile.mapping, profile.defaults = dict(mapping), dict(defaults)
    db.session.flush()
    audit.record(
        actor,
        "intake.profile_save",
        "import_profile",
        profile.id,
        after={"name": name, "mapping": mapping, "defaults": defaults},
    )
    return profile


def set_value_maps(defaults: dict, channel_map: dict, unit_map: dict) -> dict:
    """DEFAULTS with the values of the file mapped to a channel / a unit (code) as chosen on the mapping
    page; an empty choice drops the value's entry. Raises ValidationFailed for a channel or unit that
    does not exist (or is retired)."""
    validator = services.Validator.load()
    result = dict(defaults)
    for key, chosen, known, message in (
        ("channel_map", channel_map, validator.known_channel, _("渠道“%(v)s”不存在或已停用。")),
        ("unit_map", unit_map, validator.known_unit, _("单位“%(v)s”不存在或已停用。")),
    ):
        merged = dict(result.get(key) or {})
        for value, target in chosen.items():
            value, target = (value or "").strip(), (target or "").strip()
            if not value:
                continue
            if not target:
                merged.pop(value, None)
                continue
            if known(target) is None:
                raise ValidationFailed(message % {"v": target[:50]}, {key: message % {"v": target[:50]}})
            merged[value] = target
        if merged:
            result[key] = merged
        else:
            result.pop(key, None)
    return result


UNMATCHED_SHOWN = 50
PREVIEW_SCAN_ROWS = 10_000  # data rows the mapping page reads for the channel and unit values


@dataclass
class Preview:
    """What the mapping page shows before an import: the first rows as they would be imported (each
    with its errors), the number of data rows, and the channel and unit values that no channel or unit
    name (or alias) matches, with how many rows carry each, most frequent first: of the whole file, or
    of its first `scanned_rows` data rows when it is longer (`complete` False; `data_rows` is then the
    table's count, an XLSX sheet's height)."""

    rows: list[dict]
    data_rows: int
    channels: list[tuple[str, int, str | None]]  # (value in the file, rows, channel it is mapped to)
    units: list[tuple[str, int, str | None]]  # (value in the file, rows, unit code it is mapped to)
    more_channels: int = 0
    more_units: int = 0
    scanned_rows: int = 0
    complete: bool = True


def preview(path: Path, mapping: dict, defaults: dict, limit=5, scan=None) -> Preview:
    """Read the first rows as the import would (blank rows skipped; a line break inside a quoted cell
    is part of the cell), at most SCAN (PREVIEW_SCAN_ROWS) data rows, never the whole of a big file,
    and tell what they hold; see `Preview`."""
    scan = PREVIEW_SCAN_ROWS if scan is None else scan
    validator = services.Validator.load(defaults)
    shown, data_rows = [], 0
    channel_counts, unit_counts = Counter(), Counter()
    complete = True
    with open_table(path) as table:
        index = {h: i for i, h in enumerate(table.headers)}
        channel_at = index.get(mapping.get("channel"))
        unit_at = index.get(mapping.get("unit_code"))
        default_channel = defaults.get("channel") or ""
        for row in table.rows:
            if not _has_data(row):
                continue
            if data_rows >= scan:
                complete = False
                break
            data_rows += 1
            width = len(row)
            channel = _cell(row, channel_at, width) or default_channel
            if channel:
                channel_counts[channel] += 1
            unit = _cell(row, unit_at, width)
            if unit:
                unit_counts[unit] += 1
            if len(shown) >= limit:
                continue
            raw = {name: (row[index[h]] if index[h] < width else None) for name, h in mapping.items() if h in index}
            clean, errors = validator.validate(raw)
            clean["complainant_name"] = services.crypto.mask_name(clean.get("complainant_name"))
            clean["complainant_phone"] = services.crypto.mask_phone(clean.get("complainant_phone"))
            shown.append({"values": clean, "errors": errors})
        scanned = data_rows
        if not complete:
            data_rows = max(table.estimated_rows, scanned + 1)
    channel_map, unit_map = defaults.get("channel_map") or {}, defaults.get("unit_map") or {}
    channels = [
        (value, count, validator.channel_for(value) if services.mapped_value(channel_map, value) else None)
        for value, count in channel_counts.most_common()
        if validator.known_channel(value) is None
    ]
    units = [
        (value, count, services.mapped_value(unit_map, value) if validator.unit_for(value) else None)
        for value, count in unit_counts.most_common()
        if validator.known_unit(value) is None
    ]
    return Preview(
        shown,
        data_rows,
        channels[:UNMATCHED_SHOWN],
        units[:UNMATCHED_SHOWN],
        max(0, len(channels) - UNMATCHED_SHOWN),
        max(0, len(units) - UNMATCHED_SHOWN),
        scanned,
        complete,
    )


def _cell(row, at, width) -> str:
    if at is None or at >= width or row[at] is None:
        return ""
    value = row[at]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return plain_text(str(value))


# ---- batches -------------------------------------------------------------------------------------


IMPORT_FOLDER = "imports"  # in the file storage (tracker.core.storage)


def stage_upload(stream, filename: str) -> str:
    """Store an uploaded file under a random name in the file storage; its key. Refuses an empty file."""

    def check(saved):
        if saved.size == 0:
            raise ValidationFailed(_("文件是空的。"))

    return storage.get().save(stream, IMPORT_FOLDER, suffix=".upload", check=check).key


@contextlib.contextmanager
def source_file(source):
    """A real path with the content of SOURCE: a Path (a local file, as the CLI gives), or what
    ImportBatch.stored_path holds: a key in the file storage (`imports/<name>`), or (rows from
    before the storage backends) a file path, read where it is; one that is gone there is looked up
    in the storage's imports/ folder by its name, as after copying STORAGE_DIR into a bucket."""
    if isinstance(source, Path):
        yield source
        return
    folder, _slash, name = source.partition("/")
    if folder != IMPORT_FOLDER or "/" in name:  # a path from before
        path = Path(source)
        if path.exists() or path.parent.name != IMPORT_FOLDER:
            yield path
            return
        source = storage.key(IMPORT_FOLDER, path.name)
    with storage.get().local_path(source) as local:
        yield local


def batch_file(batch: ImportBatch):
    """A context manager giving a real path with BATCH's file (see source_file)."""
    return source_file(batch.stored_path)


def stage_batch(source, filename: str, *, actor) -> ImportBatch:
    """Register an uploaded file (status `staged`) after checking that it is a readable table.
    SOURCE is a storage key (stage_upload) or a local Path (kept there, as the CLI does).
    Raises ValidationFailed for an empty file, a non-spreadsheet or an unreadable encoding."""
    with source_file(source) as path:
        with open_table(path) as table:
            headers = table.headers
            estimated = table.estimated_rows
        if not any(headers):
            raise ValidationFailed(_("第一行应为列标题，但它是空的。"))
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    batch = ImportBatch(
        filename=Path(filename).name[:255] or "upload",
        stored_path=str(source),
        file_sha256=digest.hexdigest(),
        status="staged",
        total_rows=estimated,
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def headers_of(batch: ImportBatch) -> list[str]:
    with batch_file(batch) as path, open_table(path) as table:
        return table.headers


def queue_batch(batch: ImportBatch, mapping: dict, defaults: dict, *, profile_name=None) -> ImportBatch:
    """Fix the batch's column mapping and queue it. Raises ValidationFailed for an incomplete mapping."""
    if batch.status != "staged":
        raise ValidationFailed(_("该文件已开始导入。"))
    batch.mapping = validate_mapping(mapping, headers_of(batch), defaults)
    batch.defaults = defaults
    batch.profile_name = profile_name
    batch.status = "queued"
    db.session.flush()
    return batch


def run_batch(batch_id: int) -> ImportBatch:
    """Import a queued (or interrupted) batch to the end, committing after every chunk."""
    batch = db.session.get(ImportBatch, batch_id)
    claimed = db.session.execute(
        update(ImportBatch)
        .where(
            ImportBatch.id == batch_id,
            or_(
                ImportBatch.status == "queued",
                and_(ImportBatch.status == "running", ImportBatch.heartbeat_at < clock.now() - STALE_AFTER),
            ),
        )
        .values(
            status="running",
            heartbeat_at=clock.now(),
            done_rows=0,
            created_count=0,
            duplicate_count=0,
            rejected_count=0,
        )
    ).rowcount
    if not claimed:
        db.session.rollback()
        return batch
    db.session.execute(delete(ImportRowError).where(ImportRowError.batch_id == batch_id))
    db.session.commit()
    db.session.refresh(batch)
    try:
        _import(batch)
    except ValidationFailed as failed:
        db.session.rollback()
        batch = db.session.get(ImportBatch, batch_id)
        batch.status, batch.message = "failed", failed.message
    except Exception:
        log.exception("import batch %s failed", batch_id)
        db.session.rollback()
        batch = db.session.get(ImportBatch, batch_id)
        batch.status, batch.message = (
            "failed",
            _("导入时发生系统错误，已记录。已导入的行保留，可重新导入同一文件补齐。"),
        )
    else:
        batch.status = "done"
    batch.finished_at = clock.now()
    actor = batch.created_by
    audit.record(
        actor,
        "intake.import",
        "import_batch",
        batch.id,
        after={
            "file": batch.filename,
            "status": batch.status,
            "created": batch.created_count,
            "duplicate": batch.duplicate_count,
            "rejected": batch.rejected_count,
        },
    )
    db.session.commit()
    return batch


def _import(batch: ImportBatch) -> None:
    with batch_file(batch) as path, open_table(path) as table:
        _import_table(batch, table)


def _has_data(row) -> bool:
    """Whether ROW holds anything but empty or blank cells (blank rows are skipped, not counted)."""
    for cell in row:
        if cell is None:
            continue
        if cell.__class__ is not str or cell.strip():
            return True
    return False


def _import_table(batch: ImportBatch, table) -> None:
    """Import TABLE's rows chunk by chunk. While one chunk is inserted (the database's work: SQLite
    and the PostgreSQL driver let other threads run meanwhile), the next one is read, validated and
    encrypted: the insert runs on a worker thread, on the session's own connection, which this thread
    leaves alone until the insert is over; then the chunk is counted and committed here, in order."""
    mapping = validate_mapping(batch.mapping or {}, table.headers, batch.defaults or {})
    index = {h: i for i, h in enumerate(table.headers)}
    columns = [(name, index[header]) for name, header in mapping.items()]
    identity_headers = {mapping[f] for f in services.COMPLAINANT_FIELDS if f in mapping}
    # The source row as kept on the record: every named column, the complainant's identity masked.
    source_columns = [(i, h, h in identity_headers) for i, h in enumerate(table.headers) if h]
    validator = services.Validator.load(batch.defaults or {})
    # Read once: after a commit the batch's attributes expire, and loading them again would use the
    # connection while the worker inserts.
    ids = (batch.id, batch.created_by_id)
    insert_rows = _inserter()
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-insert") if _can_overlap() else None
    pending = None  # (prepared chunk, its insert: a Future, or the pairs inserted)

    def finish():
        nonlocal pending
        prepared, insertion = pending
        pending = None
        _finish_chunk(batch, prepared, insertion.result() if worker else insertion)

    def flush(chunk):
        nonlocal pending
        prepared = _prepare_chunk(ids, chunk, columns, source_columns, validator)
        if pending is not None:
            finish()
        connection = db.session.connection()
        if worker is None:
            pending = (prepared, insert_rows(connection, prepared.values))
        else:
            pending = (prepared, worker.submit(insert_rows, connection, prepared.values))

    try:
        chunk = []
        row_number = 1  # the header is row 1, as a spreadsheet shows it
        for row in table.rows:
            row_number += 1
            if not _has_data(row):
                continue
            chunk.append((row_number, row))
            if len(chunk) >= CHUNK_SIZE:
                flush(chunk)
                chunk = []
        if chunk:
            flush(chunk)
        if pending is not None:
            finish()
    except BaseException:
        # The chunk being inserted is finished and committed, as it would have been before reading on:
        # a failure (a broken file further down) loses at most the chunk it happened in.
        if pending is not None:
            try:
                finish()
            except Exception:
                log.exception("import batch %s: the last chunk before a failure was not saved", ids[0])
        raise
    finally:
        if worker is not None:
            worker.shutdown(wait=True)
    batch.total_rows = batch.done_rows


def _source_row(row, width, source_columns) -> dict:
    """What services.protected_source_row keeps of ROW, built for speed (this runs for every row)."""
    source = {}
    for i, header, hidden in source_columns:
        if hidden:
            source[header] = "***"
            continue
        value = row[i] if i < width else None
        if value is not None and value.__class__ is not str and isinstance(value, date | time):  # datetime too
            value = value.isoformat()
        source[header] = value
    return source


@dataclass
class _Chunk:
    """A chunk read and validated, ready to insert."""

    rows: int  # data rows in the chunk
    errors: list[dict]  # ImportRowError rows
    keys: list[tuple[str, str]]  # (channel, external_id) of the rows to insert
    values: list[list]  # their INSERT_COLUMNS values
    duplicates: int  # rows whose key an earlier row of the chunk has


def _prepare_chunk(ids, chunk, columns, source_columns, validator) -> _Chunk:
    """Validate CHUNK's rows and build the values of the good ones (no database access: the previous
    chunk may be being inserted meanwhile)."""
    batch_id, actor_id = ids
    errors, candidates = [], {}
    duplicates = 0
    validate = validator.validate
    for row_number, row in chunk:
        width = len(row)
        raw = {name: (row[i] if i < width else None) for name, i in columns}
        clean, problems = validate(raw)
        if problems:
            for name, message in problems.items():
                errors.append(
                    {
                        "batch_id": batch_id,
                        "row_number": row_number,
                        "column": services.FIELD_LABELS.get(name, name),
                        "reason": message[:500],
                    }
                )
            continue
        key = (clean["channel"], clean["external_id"])
        if key in candidates:
            duplicates += 1  # the same id twice in one file
            continue
        candidates[key] = (clean, _source_row(row, width, source_columns))
    record_values = services.record_values
    values = []
    for clean, source in candidates.values():
        record = record_values(clean, source_row=source, batch_id=batch_id, actor_id=actor_id)
        values.append([record.get(name) for name in INSERT_COLUMNS])
    return _Chunk(len(chunk), errors, list(candidates), values, duplicates)


def _finish_chunk(batch, prepared: _Chunk, inserted: set[tuple[str, str]]) -> None:
    """Count an inserted chunk on its batch, store its row errors, commit."""
    created, duplicates = len(inserted), prepared.duplicates
    # What was not inserted already existed: imported by this batch before an interruption (counts
    # as created), or a real duplicate. Usually nothing is left to look up.
    missing = [key for key in prepared.keys if key not in inserted]
    for offset in range(0, len(missing), 500):
        part = missing[offset : offset + 500]
        owners = db.session.execute(
            select(IntakeRecord.import_batch_id).where(tuple_(IntakeRecord.channel, IntakeRecord.external_id).in_(part))
        ).scalars()
        for owner in owners:
            if owner == batch.id:
                created += 1
            else:
                duplicates += 1
    errors = prepared.errors
    if errors:
        db.session.execute(insert(ImportRowError), errors)
    batch.done_rows += prepared.rows
    batch.created_count += created
    batch.duplicate_count += duplicates
    batch.rejected_count += len({e["row_number"] for e in errors})
    batch.heartbeat_at = clock.now()
    if batch.total_rows is not None and batch.done_rows > batch.total_rows:
        batch.total_rows = batch.done_rows
    db.session.commit()


def _can_overlap() -> bool:
    """Whether inserts may run on a worker thread: not on an in-memory SQLite database, whose
    connection belongs to the thread that made it."""
    url = db.session.get_bind().url
    return url.get_backend_name() != "sqlite" or (url.database or ":memory:") != ":memory:"


INSERT_COLUMNS = [c.name for c in IntakeRecord.__table__.columns if c.name != "id"]
SQLITE_VARIABLES = 32766  # SQLite's limit of parameters in one statement (since 3.32)


def _inserter():
    """A function (connection, rows) inserting ROWS (lists of INSERT_COLUMNS values, as the model takes
    them) that skips the (channel, external_id) pairs that exist, returning the pairs inserted. It may
    run on another thread: it uses CONNECTION only, never the session.
    PostgreSQL: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING.
    SQLite: multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, straight to the driver, the values
    converted by the columns' own types (as SQLAlchemy would store them) but without its per-row
    statement machinery, which cost more than the insert itself."""
    if db.session.get_bind().dialect.name == "postgresql":
        return _insert_new_postgresql
    dialect = db.session.get_bind().dialect
    table = IntakeRecord.__table__
    converters = [
        (at, processor)
        for at, name in enumerate(INSERT_COLUMNS)
        if (processor := table.c[name].type.bind_processor(dialect)) is not None
    ]
    per_statement = max(1, SQLITE_VARIABLES // len(INSERT_COLUMNS))
    one_row = "(" + ", ".join("?" * len(INSERT_COLUMNS)) + ")"
    statements = {}

    def statement(count: int) -> str:
        if count not in statements:
            statements[count] = (
                f"INSERT INTO {table.name} ({', '.join(INSERT_COLUMNS)}) VALUES "
                + ", ".join([one_row] * count)
                + " ON CONFLICT (channel, external_id) DO NOTHING RETURNING channel, external_id"
            )
        return statements[count]

    def insert_rows(connection, rows: list[list]) -> set[tuple[str, str]]:
        inserted = set()
        for offset in range(0, len(rows), per_statement):
            part = rows[offset : offset + per_statement]
            flat = []
            for values in part:
                for at, processor in converters:
                    value = values[at]
                    if value is not None:  # NULL stays NULL whatever the type
                        values[at] = processor(value)
                flat.extend(values)
            result = connection.exec_driver_sql(statement(len(part)), tuple(flat))
            inserted.update(tuple(r) for r in result.fetchall())
        return inserted

    return insert_rows


def _insert_new_postgresql(connection, rows: list[list]) -> set[tuple[str, str]]:
    from psycopg.types.json import Jsonb

    columns = ", ".join(INSERT_COLUMNS)
    json_at = [at for at, name in enumerate(INSERT_COLUMNS) if name == "source_row"]
    cursor = connection.connection.driver_connection.cursor()
    try:
        # Columns only: no defaults or constraints that would tie the temporary table to intake_records.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS intake_import_stage AS SELECT {columns} FROM intake_records WITH NO DATA"
        )
        with cursor.copy(f"COPY intake_import_stage ({columns}) FROM STDIN") as copy:
            write_row = copy.write_row
            for values in rows:
                for at in json_at:
                    if values[at] is not None:
                        values[at] = Jsonb(values[at])
                write_row(values)
        cursor.execute(
            f"INSERT INTO intake_records ({columns}) SELECT {columns} FROM intake_import_stage "
            "ON CONFLICT (channel, external_id) DO NOTHING RETURNING channel, external_id"
        )
        inserted = {tuple(r) for r in cursor.fetchall()}
        cursor.execute("DELETE FROM intake_import_stage")
        return inserted
    finally:
        cursor.close()


def start_in_background(app, batch_id: int) -> threading.Thread:
    """Run the batch in a thread of this process; `resume_stale` in the scheduler picks up batches
    whose thread died with its process."""

    def work():
        with app.app_context():
            try:
                run_batch(batch_id)
            finally:
                db.session.remove()

    thread = threading.Thread(target=work, name=f"import-{batch_id}", daemon=True)
    thread.start()
    return thread


def resume_stale() -> list[int]:
    """Scheduler job: run batches that were queued but never started, or whose runner stopped."""
    cutoff = clock.now() - STALE_AFTER
    ids = db.session.scalars(
        select(ImportBatch.id).where(
            (ImportBatch.status == "queued") & (ImportBatch.created_at < cutoff)
            | (ImportBatch.status == "running") & (ImportBatch.heartbeat_at < cutoff)
        )
    ).all()
    for batch_id in ids:
        run_batch(batch_id)
    return list(ids)


def error_report(batch: ImportBatch) -> list[tuple]:
    return [(e.row_number, e.column or "", e.reason) for e in batch.errors]
