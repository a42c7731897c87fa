"""problem counts for the ledger's counts bar

Revision ID: ec49580b9c09
Revises: 88ad43162ebf
Create Date: 2026-12-03 08:50:00

The table is filled from the problems already there, and the triggers that keep it current are made
(tracker/ledger/counts.py).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ec49580b9c09'
down_revision = '88ad43162ebf'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('problem_counts',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('tier', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('quick_fix', sa.Integer(), nullable=False),
    sa.Column('problems', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('unit_id', 'tier', 'status', 'quick_fix', name=op.f('pk_problem_counts'))
    )
    from tracker.ledger import counts

    counts.SUMMARY.rebuild(op.get_bind())


def downgrade():
    from tracker.ledger import counts

    for statement in counts.SUMMARY.drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table('problem_counts')
