"""`flask backup PATH` and `flask restore PATH [--force]` (tracker.ops.backup)."""

import json
import sys

import click
from flask.cli import with_appcontext

from tracker.ops import backup as ops


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def backup_command(path, as_json):
    """Back up the database, every stored file and a manifest with checksums into the folder PATH."""
    try:
        manifest = ops.backup(path)
    except ops.BackupError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        summary = {k: v for k, v in manifest.items() if k != "files"}
        click.echo(json.dumps({"path": path, **summary, "files": len(manifest["files"])}, ensure_ascii=False))
        return
    rows = sum(manifest["row_counts"].values())
    click.echo(f"备份完成：{path}")
    click.echo(f"  数据库（{manifest['database']}）：{len(manifest['row_counts'])} 张表，共 {rows} 行")
    click.echo(f"  文件：{len(manifest['files'])} 个")
    for key in manifest["missing_files"]:
        click.echo(f"  警告：存储中找不到文件 {key}，未备份", err=True)


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite a database that already holds data.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def restore_command(path, force, as_json):
    """Restore a backup made by `flask backup` into the configured database and file storage; exit 0
    when the audit chain is intact and the row counts match the manifest, else 1."""
    try:
        report = ops.restore(path, force=force)
    except ops.BackupError as error:
        if as_json:
            click.echo(json.dumps({"ok": False, "error": str(error)}, ensure_ascii=False))
            sys.exit(1)
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        click.echo(f"恢复完成：{path}（备份时间 {report['created_at']}）")
        for table, count in report["row_counts"].items():
            if count:
                click.echo(f"  {table}: {count}")
        click.echo(f"  文件：{report['files']} 个")
        audit = report["audit"]
        if audit["ok"]:
            click.echo(f"  审计链完整：{audit['checked']} 条")
        else:
            click.echo(f"  审计链断裂：第 {audit['bad_event_id']} 条，{audit['reason']}")
        for table, (expected, found) in report["row_counts_differ"].items():
            click.echo(f"  行数不符：{table} 备份 {expected}，恢复后 {found}")
    sys.exit(0 if report["ok"] else 1)
