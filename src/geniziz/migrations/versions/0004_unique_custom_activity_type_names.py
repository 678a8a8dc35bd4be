"""custom activity type names unique per workspace (case-insensitive), enforced by the database

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 13:30:00

Before the index, names that already collide are made distinct: every type but the oldest of a name
gets its ID appended ("Demo" -> "Demo (actt_...)"), so no type or activity is lost and each stays
recognizable. Uniqueness of Genesy's external IDs and message IDs (external_ref) and of memberships
was already enforced by unique keys.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ux_custom_activity_type_org_lower_name"


def upgrade() -> None:
    connection = op.get_bind()
    seen: set[tuple[str, str]] = set()
    for type_id, organization_id, name in connection.execute(sa.text(
            "SELECT id, organization_id, name FROM custom_activity_type ORDER BY id")):
        key = (organization_id, name.lower())
        if key in seen:
            suffix = f" ({type_id})"
            connection.execute(sa.text("UPDATE custom_activity_type SET name = :name WHERE id = :id"),
                               {"name": name[:200 - len(suffix)] + suffix, "id": type_id})
        seen.add(key)
    # An expression index (models cannot declare it portably; env.py's HAND_WRITTEN_INDEXES).
    op.create_index(INDEX, "custom_activity_type", ["organization_id", sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="custom_activity_type")
