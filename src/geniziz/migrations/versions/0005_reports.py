"""reports: the workspace's time zone, and the indexes the reports read by period

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 13:15:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_opportunity_org_won": ("opportunity", ["organization_id", "date_won"]),
    "ix_opportunity_org_created": ("opportunity", ["organization_id", "date_created"]),
    "ix_opportunity_org_close": ("opportunity", ["organization_id", "expected_close_date"]),
    "ix_lead_org_created": ("lead", ["organization_id", "date_created"]),
}


def upgrade() -> None:
    with op.batch_alter_table('organization') as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), server_default='UTC', nullable=False))
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
    with op.batch_alter_table('organization') as batch_op:
        batch_op.drop_column('time_zone')
