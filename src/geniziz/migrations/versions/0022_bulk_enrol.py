"""bulk actions enrol contacts in a sequence: the enrolment's sequence, sender account, call assignee, start

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-26 19:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import geniziz.db

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('bulk_action', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sequence_id', ID, nullable=True))
        batch_op.add_column(sa.Column('sender_account_id', ID, nullable=True))
        batch_op.add_column(sa.Column('calls_assigned_to', ID, nullable=True))
        batch_op.add_column(sa.Column('start_date', geniziz.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bulk_action', schema=None) as batch_op:
        for name in ('start_date', 'calls_assigned_to', 'sender_account_id', 'sequence_id'):
            batch_op.drop_column(name)
