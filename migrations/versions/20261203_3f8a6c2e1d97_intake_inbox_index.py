"""the intake inbox's index: a handling state, newest first

Revision ID: 3f8a6c2e1d97
Revises: a7d3f1c9e2b6
Create Date: 2026-12-03 14:50:00

With 3,000,000 records SQLite answered the inbox (handling = 'new', newest first) by walking every
record by date (15 s); (handling, received_at, id) answers it from the index on both backends and
replaces the index on handling alone.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '3f8a6c2e1d97'
down_revision = 'a7d3f1c9e2b6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_intake_records_handling_received', 'intake_records', ['handling', 'received_at', 'id']
    )
    op.drop_index('ix_intake_records_handling', table_name='intake_records')


def downgrade():
    op.create_index('ix_intake_records_handling', 'intake_records', ['handling'])
    op.drop_index('ix_intake_records_handling_received', table_name='intake_records')
