"""an index for a lead's contacts in order (organization_id, lead_id, id)

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-26 13:40:00

Reading a lead, or a page of leads, loads their contacts by lead_id in ID order. Without this index
SQLite (which has no statistics: the app never runs ANALYZE) chose ix_contact_org_id to get the order
and read every contact of the workspace: 120-240 ms per read at 133,000 contacts, against 0.1 ms.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contact_org_lead", "contact", ["organization_id", "lead_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_contact_org_lead", table_name="contact")
