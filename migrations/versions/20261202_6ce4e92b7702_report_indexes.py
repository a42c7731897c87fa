"""report indexes: covering indexes for the ranking and the dashboard

Revision ID: 6ce4e92b7702
Revises: 3ed04454d280
Create Date: 2026-12-02 15:25:54.488828

The report figures count problems and intake records per unit over a range of one column; with the
counted columns in the index, PostgreSQL answers them by an index-only scan (after VACUUM has set
the visibility map) and SQLite from the index alone. The new indexes lead with the same column as
the ones they replace, so every query those served is served as before.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '6ce4e92b7702'
down_revision = '3ed04454d280'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('intake_records', schema=None) as batch_op:
        batch_op.create_index('ix_intake_records_received_cover', ['received_at', 'unit_id', 'is_excluded'], unique=False)
        batch_op.create_index('ix_intake_records_unit_received_cover', ['unit_id', 'received_at', 'is_excluded'], unique=False)
        batch_op.drop_index('ix_intake_records_unit_received')
        batch_op.drop_index('ix_intake_records_received_at')

    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.create_index('ix_followups_called_cover', ['called_at', 'unit_id', 'outcome', 'attempt', 'intake_id'], unique=False)

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.create_index('ix_problems_unit_closed_cover', ['unit_id', 'closed_at', 'close_timeliness', 'close_workdays'], unique=False)
        batch_op.create_index('ix_problems_closed_cover', ['closed_at', 'unit_id', 'close_timeliness', 'close_workdays'], unique=False)
        batch_op.create_index('ix_problems_assigned_cover', ['assigned_at', 'unit_id', 'rework_count', 'relapse_count'], unique=False)
        batch_op.create_index('ix_problems_status_deadline_unit', ['status', 'deadline', 'id', 'unit_id'], unique=False)
        batch_op.create_index('ix_problems_status_tier_category', ['status', 'tier', 'category', 'unit_id'], unique=False)
        batch_op.drop_index('ix_problems_assigned_at')
        batch_op.drop_index('ix_problems_closed_at')
        batch_op.drop_index('ix_problems_status_deadline')
        batch_op.drop_index('ix_problems_unit_closed_at')


def downgrade():
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.create_index('ix_problems_status_deadline', ['status', 'deadline', 'id'], unique=False)
        batch_op.create_index('ix_problems_closed_at', ['closed_at'], unique=False)
        batch_op.create_index('ix_problems_assigned_at', ['assigned_at'], unique=False)
        batch_op.create_index('ix_problems_unit_closed_at', ['unit_id', 'closed_at'], unique=False)
        batch_op.drop_index('ix_problems_unit_closed_cover')
        batch_op.drop_index('ix_problems_status_tier_category')
        batch_op.drop_index('ix_problems_status_deadline_unit')
        batch_op.drop_index('ix_problems_closed_cover')
        batch_op.drop_index('ix_problems_assigned_cover')

    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_index('ix_followups_called_cover')

    with op.batch_alter_table('intake_records', schema=None) as batch_op:
        batch_op.create_index('ix_intake_records_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_intake_records_unit_received', ['unit_id', 'received_at'], unique=False)
        batch_op.drop_index('ix_intake_records_unit_received_cover')
        batch_op.drop_index('ix_intake_records_received_cover')
