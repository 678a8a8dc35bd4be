"""On PostgreSQL, the lists of entries (lead emails, phones, addresses; contact emails, phones, URLs) become ``json``
columns, written compact with each entry's keys in the API's order (db.Entries), so that a list page copies their
stored text (api/documents.py). JSONB keeps no key order and writes its own spacing, so each page wrote every entry
again key by key. SQLite: nothing to do (its JSON columns are text already).

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-27 20:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each column's entry keys in the order the read models show them (frozen here: later models may differ).
EMAIL = ('email', 'type')
PHONE = ('phone', 'type', 'phone_formatted')
COLUMNS = {
    'lead': {'emails': EMAIL, 'phones': PHONE,
             'addresses': ('label', 'address_1', 'address_2', 'city', 'state', 'zipcode', 'country')},
    'contact': {'emails': EMAIL, 'phones': PHONE, 'urls': ('url', 'type')},
}

# An entries document as its compact text: the known keys in order (null when absent), then any other key (none
# is written by the API; kept so that nothing is lost), anything but a list of objects as it was.
SHOWN_ENTRIES = """
CREATE FUNCTION pg_temp.shown_entries(entries jsonb, keys text[]) RETURNS json LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN jsonb_typeof(entries) = 'array' THEN ('[' || coalesce((
    SELECT string_agg(CASE WHEN jsonb_typeof(entry) = 'object' THEN
        '{' || (SELECT string_agg(to_json(shown.key)::text || ':' || coalesce((entry -> shown.key)::text, 'null'), ','
                                  ORDER BY shown.key_position)
                FROM unnest(keys) WITH ORDINALITY AS shown(key, key_position))
            || coalesce((SELECT string_agg(',' || to_json(other.key)::text || ':' || other.value::text, ''
                                           ORDER BY other.key)
                         FROM jsonb_each(entry) AS other WHERE other.key <> ALL (keys)), '')
            || '}'
        ELSE entry::text END, ',' ORDER BY listed.entry_position)
    FROM jsonb_array_elements(entries) WITH ORDINALITY AS listed(entry, entry_position)), '') || ']')::json
ELSE entries::text::json END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(SHOWN_ENTRIES)
    for table, columns in COLUMNS.items():  # one ALTER per table: its rows are written once
        changes = ', '.join(f"ALTER COLUMN {column} TYPE json USING pg_temp.shown_entries({column}, "
                            f"ARRAY[{', '.join(repr(key) for key in keys)}])" for column, keys in columns.items())
        op.execute(f'ALTER TABLE "{table}" {changes}')
        op.execute(f'ANALYZE "{table}"')  # a changed column's statistics (and its expression indexes') are gone
    op.execute('DROP FUNCTION pg_temp.shown_entries(jsonb, text[])')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, columns in COLUMNS.items():
        changes = ', '.join(f'ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb' for column in columns)
        op.execute(f'ALTER TABLE "{table}" {changes}')
        op.execute(f'ANALYZE "{table}"')
