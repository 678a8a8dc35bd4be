"""one user per email address in any letter case, enforced by the database

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 17:20:00

Invitations find users with lower(email); two invitations of "Ann@x.example" and "ann@x.example" at the
same instant could still insert two users, because the unique key was on the email as typed. Users that
already collide are not merged automatically (each may hold memberships and keys): the upgrade stops and
names them, so an operator decides which one stays.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ux_user_lower_email"


def upgrade() -> None:
    clashes = op.get_bind().execute(sa.text(
        'SELECT lower(email), count(*) FROM "user" GROUP BY lower(email) HAVING count(*) > 1')).all()
    if clashes:
        raise RuntimeError("Users whose emails differ only in case must be merged by hand before this upgrade: "
                           + ", ".join(f"{email} ({count} users)" for email, count in clashes))
    # An expression index (models cannot declare it portably; env.py's HAND_WRITTEN_INDEXES).
    op.create_index(INDEX, "user", [sa.text("lower(email)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="user")
