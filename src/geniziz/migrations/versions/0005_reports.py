"""reports: the workspace's time zone, and the indexes the reports read by period

On PostgreSQL also ix_activity_report, the activity index with the columns the activity metrics,
the calls funnel and the sent-emails report read (INCLUDE), so that they are answered by an
index-only scan instead of fetching wide activity rows; written by hand (the models cannot declare
INCLUDE portably), so migrations/env.py lists it among the hand-written indexes.

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


REPORT_INDEX = "ix_activity_report"


def upgrade() -> None:
    with op.batch_alter_table('organization') as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), server_default='UTC', nullable=False))
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX {REPORT_INDEX} ON activity (organization_id, type, activity_at) "
                   "INCLUDE (user_id, direction, status, lead_id, thread_id)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {REPORT_INDEX}")
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
    with op.batch_alter_table('organization') as batch_op:
        batch_op.drop_column('time_zone')
