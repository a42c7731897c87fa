"""The whole ledger to a folder and back: `flask backup PATH`, `flask restore PATH [--force]`.

A backup is a plain directory (easy to inspect, to rsync and to check with `sha256sum`; compress
it with tar when it leaves the machine):

    PATH/manifest.json          format, created_at, alembic revision, database kind, row counts per
                                table, size and sha256 of the dump and of every file
    PATH/database.sqlite3       SQLite: sqlite3's online backup API (a consistent copy while the app runs)
    PATH/database.pgdump        PostgreSQL: `pg_dump --format=custom`
    PATH/files/<key>            every stored file (evidence, inspection photos, import files), read
                                through the storage interface, so from a directory or from S3 alike

The backup is written into PATH.partial and renamed to PATH once complete. On PostgreSQL the dump,
the row counts and the list of files all come from one exported snapshot, so they agree.

Restore checks every checksum before it touches anything, refuses a database that holds data unless
forced, loads the dump (SQLite: the backup API again; PostgreSQL: `pg_restore --clean --if-exists
--no-owner --single-transaction`), writes the files back under their keys, then verifies the audit
chain and compares the row counts with the manifest.
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from datetime import UTC
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select, text

from tracker.core import clock, storage
from tracker.extensions import db

FORMAT = 1
MANIFEST = "manifest.json"
FILES = "files"
DUMPS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# a database holding a row in any of these is not empty: restore refuses it without --force
DATA_TABLES = ("users", "units", "intake_records", "problems", "audit_events")
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot go on; the message (Chinese) says why."""


# --- what is stored -----------------------------------------------------------------------------


def stored_keys(conn) -> list[str]:
    """The storage keys the database at CONN refers to: evidence, inspection photos, import files."""
    from tracker.intake.imports import IMPORT_FOLDER
    from tracker.intake.models import ImportBatch
    from tracker.ledger.models import Evidence
    from tracker.ledger.services import EVIDENCE_FOLDER
    from tracker.oversight.models import InspectionPhoto
    from tracker.oversight.services import PHOTO_FOLDER

    keys = [storage.key(EVIDENCE_FOLDER, n) for n in conn.scalars(select(Evidence.stored_name))]
    keys += [storage.key(PHOTO_FOLDER, n) for n in conn.scalars(select(InspectionPhoto.stored_name))]
    for path in conn.scalars(select(ImportBatch.stored_path).where(ImportBatch.stored_path.is_not(None))):
        folder, _slash, name = path.partition("/")
        if folder != IMPORT_FOLDER or "/" in name:  # a file path from before the storage backends
            name = Path(path).name
        keys.append(storage.key(IMPORT_FOLDER, name))
    valid = []
    for key in keys:
        try:
            valid.append(storage.check_key(key))
        except ValueError:
            continue
    return sorted(set(valid))


def row_counts(conn) -> dict[str, int]:
    """Rows per table of the app's schema (the tables that exist) at CONN."""
    present = set(inspect(conn).get_table_names())
    return {
        table.name: conn.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
        if table.name in present
    }


def alembic_revision(conn) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return conn.scalar(text("SELECT version_num FROM alembic_version"))


def is_empty() -> bool:
    """No row in the tables that hold the ledger's data (or no such tables at all)."""
    with db.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for name in DATA_TABLES:
            if name in present and conn.scalar(text(f"SELECT 1 FROM {name} LIMIT 1")) is not None:
                return False
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _kind() -> str:
    name = db.engine.dialect.name
    if name not in DUMPS:
        raise BackupError(f"不支持的数据库类型：{name}（只支持 SQLite 和 PostgreSQL）。")
    return name


# --- PostgreSQL tools ---------------------------------------------------------------------------


def _server_major(conn) -> int:
    return int(conn.scalar(text("SHOW server_version_num"))) // 10000


def _tool(name: str, server_major: int) -> tuple[str, int]:
    """(path, major version) of pg_dump / pg_restore able to work with a server of SERVER_MAJOR:
    /usr/lib/postgresql/<major>/bin first, then PATH. BackupError when none is, in Chinese."""
    candidates = [f"/usr/lib/postgresql/{server_major}/bin/{name}", shutil.which(name)]
    found = []
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        out = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603 - a fixed tool, no shell
        match = re.search(r"(\d+)(?:\.\d+)?", out)
        if match:
            major = int(match.group(1))
            if major >= server_major:
                return candidate, major
            found.append(f"{candidate}（{major}）")
    if not found:
        raise BackupError(
            f"找不到 {name}：请安装与数据库服务器同版本（{server_major}）的 PostgreSQL 客户端工具"
            f"（如 postgresql-client-{server_major}），并放入 PATH。"
        )
    raise BackupError(
        f"{name} 版本过旧：服务器为 PostgreSQL {server_major}，找到的是 {'、'.join(found)}；"
        f"请安装 postgresql-client-{server_major} 或更新版本。"
    )


def _libpq(url) -> tuple[list[str], dict]:
    """(--dbname argument, environment) for the libpq tools; the password goes in PGPASSWORD, never
    on the command line."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return ["--dbname", plain.render_as_string(hide_password=False)], env


def _run(command, env, what):
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - argument list, no shell
    if done.returncode != 0:
        raise BackupError(f"{what}失败（退出码 {done.returncode}）：{done.stderr.strip()[-2000:]}")


# --- backup -------------------------------------------------------------------------------------


def backup(path) -> dict:
    """Write the whole ledger to the directory PATH (which must not exist or be empty); the manifest."""
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"备份目录已存在且不是空目录：{target}")
    kind = _kind()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        manifest = _write(partial, kind)
        if target.exists():
            target.rmdir()
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _write(folder: Path, kind: str) -> dict:
    dump = folder / DUMPS[kind]
    db.session.remove()
    extra = {}
    if kind == "sqlite":
        raw = db.engine.raw_connection()
        try:
            out = sqlite3.connect(dump)
            with out:
                raw.driver_connection.backup(out)
            out.close()
        finally:
            raw.close()
        engine = create_engine(f"sqlite:///{dump}")
        try:
            with engine.connect() as conn:  # counts and files read from the copy itself: they agree
                counts, keys, revision = row_counts(conn), stored_keys(conn), alembic_revision(conn)
        finally:
            engine.dispose()
    else:
        with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            server_major = _server_major(conn)
            pg_dump, tool_major = _tool("pg_dump", server_major)
            snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
            dbname, env = _libpq(db.engine.url)
            command = [pg_dump, "--format=custom", "--no-owner", f"--snapshot={snapshot}", "--file", str(dump)]
            _run(command + dbname, env, "pg_dump ")
            counts, keys, revision = row_counts(conn), stored_keys(conn), alembic_revision(conn)
            extra = {"server_version": conn.scalar(text("SHOW server_version")), "pg_dump_major": tool_major}
    files, missing = {}, []
    store = storage.get()
    for key in keys:
        out_path = folder / FILES / key
        out_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = store.open(key)
        except FileNotFoundError:
            missing.append(key)
            continue
        digest, size = hashlib.sha256(), 0
        with handle, open(out_path, "wb") as out:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        files[key] = {"size": size, "sha256": digest.hexdigest()}
    manifest = {
        "format": FORMAT,
        "created_at": clock.now().astimezone(UTC).isoformat(timespec="seconds"),
        "app": "tracker",
        "alembic_revision": revision,
        "database": kind,
        **extra,
        "dump": {"name": dump.name, "size": dump.stat().st_size, "sha256": _sha256(dump)},
        "row_counts": counts,
        "files": files,
        "missing_files": missing,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest


# --- restore ------------------------------------------------------------------------------------


def check(path) -> dict:
    """The manifest of the backup at PATH once every checksum matches; BackupError naming what does not."""
    folder = Path(path)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"不是备份目录：{folder} 里没有 {MANIFEST}。") from None
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{MANIFEST} 已损坏，无法读取。") from None
    if manifest.get("format") != FORMAT or manifest.get("database") not in DUMPS:
        raise BackupError(f"无法识别的备份格式：format={manifest.get('format')}，database={manifest.get('database')}。")
    entries = [(manifest["dump"]["name"], manifest["dump"])]
    entries += [(f"{FILES}/{storage.check_key(key)}", entry) for key, entry in manifest["files"].items()]
    bad = []
    for name, entry in entries:
        file = folder / name
        if not file.is_file():
            bad.append(f"{name}（缺失）")
        elif file.stat().st_size != entry["size"] or _sha256(file) != entry["sha256"]:
            bad.append(f"{name}（校验和不符）")
    if bad:
        shown = "、".join(bad[:10]) + (f" 等 {len(bad)} 个" if len(bad) > 10 else "")
        raise BackupError(f"备份已损坏，未做任何改动：{shown}。")
    return manifest


def restore(path, *, force=False) -> dict:
    """Load the backup at PATH into the configured database and storage; a report (dict)."""
    from tracker.audit import services as audit

    folder = Path(path)
    manifest = check(folder)
    kind = _kind()
    if manifest["database"] != kind:
        raise BackupError(f"备份来自 {manifest['database']} 数据库，当前配置的是 {kind}，无法恢复。")
    if kind == "sqlite" and db.engine.url.database not in (None, "", ":memory:"):
        Path(db.engine.url.database).parent.mkdir(parents=True, exist_ok=True)  # a new machine: no folder yet
    if not force and not is_empty():
        raise BackupError("目标数据库已有数据；恢复会覆盖全部数据。确认要覆盖时请加 --force。")
    dump = folder / manifest["dump"]["name"]
    db.session.remove()
    if kind == "sqlite":
        db.engine.dispose()
        raw = db.engine.raw_connection()
        try:
            source = sqlite3.connect(dump)
            try:
                source.backup(raw.driver_connection)
            finally:
                source.close()
        finally:
            raw.close()
    else:
        with db.engine.connect() as conn:
            server_major = _server_major(conn)
        pg_restore, tool_major = _tool("pg_restore", server_major)
        if tool_major < manifest.get("pg_dump_major", 0):
            raise BackupError(
                f"pg_restore（{tool_major}）比制作备份的 pg_dump（{manifest['pg_dump_major']}）旧，读不了这个备份。"
            )
        db.engine.dispose()
        dbname, env = _libpq(db.engine.url)
        command = [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error"]
        _run(command + dbname + [str(dump)], env, "pg_restore ")
    db.engine.dispose()
    store = storage.get()
    for key in manifest["files"]:
        with open(folder / FILES / key, "rb") as fh:
            store.put(key, fh)
    with db.engine.connect() as conn:
        counts = row_counts(conn)
    chain = audit.verify()
    db.session.remove()
    expected = manifest["row_counts"]
    differ = {t: (n, counts.get(t)) for t, n in expected.items() if counts.get(t) != n}
    return {
        "ok": chain.ok and not differ,
        "database": kind,
        "created_at": manifest["created_at"],
        "row_counts": counts,
        "row_counts_differ": differ,
        "files": len(manifest["files"]),
        "missing_files": manifest.get("missing_files", []),
        "audit": chain.__dict__,
    }
