"""the last run of each scheduled job, for /healthz

Revision ID: 9e4b2c6d8a15
Revises: 5c1e9d7a2b40
Create Date: 2026-12-03 14:00:00

The scheduler notes when each job last ran and whether it failed; /healthz reads the scheduler's
heartbeat and the last deadline scan from it.
"""
from alembic import op
import sqlalchemy as sa

from tracker.core.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '9e4b2c6d8a15'
down_revision = '5c1e9d7a2b40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_leases') as batch:
        batch.add_column(sa.Column('last_run_at', UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_ok', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('job_leases') as batch:
        batch.drop_column('last_ok')
        batch.drop_column('last_run_at')
