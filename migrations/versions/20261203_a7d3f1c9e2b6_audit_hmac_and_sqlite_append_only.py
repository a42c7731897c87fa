"""audit rows sealed by an HMAC; audit_events append-only on SQLite too

Revision ID: a7d3f1c9e2b6
Revises: 9e4b2c6d8a15
Create Date: 2026-12-03 14:00:00

Rows already there get their MAC computed now with AUDIT_HMAC_KEY (or the key derived from
SECRET_KEY), after their hash chain was checked: a row edited and re-hashed before this migration
is sealed as it is, so run `flask audit verify` before upgrading if in doubt. The anchor file
(AUDIT_ANCHOR_FILE) starts at the first commit after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a7d3f1c9e2b6"
down_revision = "9e4b2c6d8a15"
branch_labels = None
depends_on = None

_SQLITE_NO_UPDATE = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)
_SQLITE_NO_DELETE = (
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "WHEN OLD.id <> (SELECT min(id) FROM audit_events) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)


def upgrade():
    from tracker.audit.services import _mac_base, compute_mac

    is_pg = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    if is_pg:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    conn = op.get_bind()
    base = _mac_base()
    events = sa.table("audit_events", sa.column("id", sa.Integer), sa.column("hash"), sa.column("mac"))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(events.c.id, events.c.hash).where(events.c.id > last).order_by(events.c.id).limit(5000)
        ).all()
        if not rows:
            break
        conn.execute(
            events.update().where(events.c.id == sa.bindparam("b_id")).values(mac=sa.bindparam("b_mac")),
            [{"b_id": i, "b_mac": compute_mac(h, base)} for i, h in rows],
        )
        last = rows[-1][0]
    if is_pg:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    else:
        op.execute(_SQLITE_NO_UPDATE)
        op.execute(_SQLITE_NO_DELETE)


def downgrade():
    is_pg = op.get_bind().dialect.name == "postgresql"
    if not is_pg:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("mac")
