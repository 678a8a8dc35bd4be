"""organization.custom_fields_version: bumped with every change to the workspace's custom field definitions,
so that every server process can cache them and notice a change made by another (custom/definitions.py)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-26 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy of the table): SQLite takes one with a constant default.
    op.add_column('organization', sa.Column('custom_fields_version', sa.Integer(), server_default='0',
                                            nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('custom_fields_version')
