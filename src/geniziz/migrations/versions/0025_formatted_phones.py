"""lead.phones and contact.phones store each number's phone_formatted, as the API shows it (db.PhoneList), so
that the database can write a list page's JSON by itself (api/documents.py)

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geniziz.db import shown_phones

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _rewrite(table_name: str, formatted: bool) -> None:
    """Every row's phones, with (or without) the formatted numbers, in batches by ID."""
    connection = op.get_bind()
    phones_type = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
    table = sa.table(table_name, sa.column('id', sa.String()), sa.column('phones', phones_type))
    after = ''
    while True:
        rows = connection.execute(sa.select(table.c.id, table.c.phones).where(table.c.id > after)
                                  .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        after = rows[-1].id
        changed = []
        for row in rows:
            value = shown_phones(row.phones) if formatted else _without_formatted(row.phones)
            if value != row.phones:
                changed.append({'row_id': row.id, 'value': value})
        if changed:
            connection.execute(table.update().where(table.c.id == sa.bindparam('row_id'))
                               .values(phones=sa.bindparam('value', type_=phones_type)), changed)


def _without_formatted(value: object) -> object:
    if type(value) is not list:
        return value
    return [{k: v for k, v in entry.items() if k != 'phone_formatted'} if type(entry) is dict else entry
            for entry in value]


def upgrade() -> None:
    for table_name in ('lead', 'contact'):
        _rewrite(table_name, formatted=True)


def downgrade() -> None:
    for table_name in ('lead', 'contact'):
        _rewrite(table_name, formatted=False)
