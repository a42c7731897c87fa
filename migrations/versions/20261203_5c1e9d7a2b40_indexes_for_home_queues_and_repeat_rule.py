"""indexes for the home page's rework queues and the triage repeat rule

Revision ID: 5c1e9d7a2b40
Revises: ec49580b9c09
Create Date: 2026-12-03 13:40:00

At 1,000,000 problems the unit user's home page read every in-progress row of the unit's subtree
to find the few sent back (600 ms), and the list API counted a unit's records of a category over
30 days from the heap for every new problem (200-400 ms each).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5c1e9d7a2b40'
down_revision = 'ec49580b9c09'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_problems_unit_status_action', 'problems', ['unit_id', 'status', 'last_action', 'deadline', 'id']
    )
    op.create_index(
        'ix_intake_records_unit_category_received',
        'intake_records',
        ['unit_id', 'category', 'received_at', 'is_excluded'],
    )


def downgrade():
    op.drop_index('ix_intake_records_unit_category_received', table_name='intake_records')
    op.drop_index('ix_problems_unit_status_action', table_name='problems')
