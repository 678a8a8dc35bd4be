"""custom fields and custom objects: field definitions, object types and their instances, and a `custom`
JSON column ({field ID: value}) on leads, contacts, opportunities and activities

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 16:30:00

On PostgreSQL the `custom` columns that lists filter (lead, contact, opportunity, custom_object) get a
GIN index (jsonb_ops: containment `@>` for equality and `?` for "is set"); SQLite filters by scanning
the workspace's rows with json_extract. These indexes are hand-written (env.py HAND_WRITTEN_INDEXES).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geniziz.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GIN_INDEXED = ("lead", "contact", "opportunity", "custom_object")


def upgrade() -> None:
    op.create_table('custom_object_type',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_plural', sa.String(length=200), nullable=False),
    sa.Column('api_name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('link_contact', sa.Boolean(), nullable=False),
    sa.Column('link_custom_object_type_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_custom_object_type_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['link_custom_object_type_id'], ['custom_object_type.id'], name=op.f('fk_custom_object_type_link_custom_object_type_id_custom_object_type'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_custom_object_type_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_custom_object_type_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_object_type'))
    )
    op.create_index(op.f('ix_custom_object_type_organization_id'), 'custom_object_type', ['organization_id'], unique=False)
    op.create_index('ux_custom_object_type_org_api_name', 'custom_object_type', ['organization_id', 'api_name'], unique=True)
    op.create_table('custom_field',
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('custom_object_type_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('accepts_multiple', sa.Boolean(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('choices', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_custom_field_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['custom_object_type_id'], ['custom_object_type.id'], name=op.f('fk_custom_field_custom_object_type_id_custom_object_type'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_custom_field_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_custom_field_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_field'))
    )
    op.create_index(op.f('ix_custom_field_custom_object_type_id'), 'custom_field', ['custom_object_type_id'], unique=False)
    op.create_index('ix_custom_field_org_object', 'custom_field', ['organization_id', 'object_type', 'id'], unique=False)
    op.create_index(op.f('ix_custom_field_organization_id'), 'custom_field', ['organization_id'], unique=False)
    op.create_index('ux_custom_field_org_scope_name', 'custom_field', ['organization_id', 'scope', 'name_key'], unique=True)
    op.create_table('custom_object',
    sa.Column('custom_object_type_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('lead_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('contact_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('parent_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_custom_object_contact_id_contact'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_custom_object_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['custom_object_type_id'], ['custom_object_type.id'], name=op.f('fk_custom_object_custom_object_type_id_custom_object_type'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_custom_object_lead_id_lead'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_custom_object_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['custom_object.id'], name=op.f('fk_custom_object_parent_id_custom_object'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_custom_object_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_object'))
    )
    op.create_index(op.f('ix_custom_object_contact_id'), 'custom_object', ['contact_id'], unique=False)
    op.create_index('ix_custom_object_lead', 'custom_object', ['lead_id', 'id'], unique=False)
    op.create_index('ix_custom_object_org_type', 'custom_object', ['organization_id', 'custom_object_type_id', 'id'], unique=False)
    op.create_index(op.f('ix_custom_object_organization_id'), 'custom_object', ['organization_id'], unique=False)
    op.create_index(op.f('ix_custom_object_parent_id'), 'custom_object', ['parent_id'], unique=False)
    op.add_column('activity', sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default=sa.text("'{}'"), nullable=False))
    op.add_column('contact', sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default=sa.text("'{}'"), nullable=False))
    op.add_column('lead', sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default=sa.text("'{}'"), nullable=False))
    op.add_column('opportunity', sa.Column('custom', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default=sa.text("'{}'"), nullable=False))

    if op.get_bind().dialect.name == "postgresql":
        for table in GIN_INDEXED:
            op.create_index(f"ix_{table}_custom_gin", table, ["custom"], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in GIN_INDEXED:
            op.drop_index(f"ix_{table}_custom_gin", table_name=table)
    op.drop_column('opportunity', 'custom')
    op.drop_column('lead', 'custom')
    op.drop_column('contact', 'custom')
    op.drop_column('activity', 'custom')
    op.drop_index(op.f('ix_custom_object_parent_id'), table_name='custom_object')
    op.drop_index(op.f('ix_custom_object_organization_id'), table_name='custom_object')
    op.drop_index('ix_custom_object_org_type', table_name='custom_object')
    op.drop_index('ix_custom_object_lead', table_name='custom_object')
    op.drop_index(op.f('ix_custom_object_contact_id'), table_name='custom_object')
    op.drop_table('custom_object')
    op.drop_index('ux_custom_field_org_scope_name', table_name='custom_field')
    op.drop_index(op.f('ix_custom_field_organization_id'), table_name='custom_field')
    op.drop_index('ix_custom_field_org_object', table_name='custom_field')
    op.drop_index(op.f('ix_custom_field_custom_object_type_id'), table_name='custom_field')
    op.drop_table('custom_field')
    op.drop_index('ux_custom_object_type_org_api_name', table_name='custom_object_type')
    op.drop_index(op.f('ix_custom_object_type_organization_id'), table_name='custom_object_type')
    op.drop_table('custom_object_type')
