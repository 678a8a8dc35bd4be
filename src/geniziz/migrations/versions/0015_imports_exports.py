"""imports, exports and bulk actions: an import's file in chunks and its per-row errors, an export's file in chunks, bulk actions

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geniziz.db

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bulk_action',
    sa.Column('resource', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('filters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('last_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('cursor', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('succeeded', sa.Integer(), nullable=False),
    sa.Column('failures', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('job_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('date_finished', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_bulk_action_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_bulk_action_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_bulk_action_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_action'))
    )
    with op.batch_alter_table('bulk_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_action_organization_id'), ['organization_id'], unique=False)

    op.create_table('data_export',
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('resource', sa.String(length=20), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('filters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('job_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('date_finished', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_data_export_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_data_export_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_data_export_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_export'))
    )
    with op.batch_alter_table('data_export', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_export_organization_id'), ['organization_id'], unique=False)

    op.create_table('data_import',
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=True),
    sa.Column('columns', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('mapping', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('dedupe', sa.String(length=10), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=False),
    sa.Column('processed_rows', sa.Integer(), nullable=False),
    sa.Column('next_chunk', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('failed_rows', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('job_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('date_finished', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_data_import_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_data_import_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_data_import_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_import'))
    )
    with op.batch_alter_table('data_import', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_import_organization_id'), ['organization_id'], unique=False)

    op.create_table('data_export_chunk',
    sa.Column('export_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_data_export_chunk_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['export_id'], ['data_export.id'], name=op.f('fk_data_export_chunk_export_id_data_export'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_data_export_chunk_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_data_export_chunk_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_export_chunk'))
    )
    with op.batch_alter_table('data_export_chunk', schema=None) as batch_op:
        batch_op.create_index('ix_data_export_chunk_export_seq', ['export_id', 'seq'], unique=True)
        batch_op.create_index(batch_op.f('ix_data_export_chunk_organization_id'), ['organization_id'], unique=False)

    op.create_table('data_import_chunk',
    sa.Column('import_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('rows', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_data_import_chunk_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['import_id'], ['data_import.id'], name=op.f('fk_data_import_chunk_import_id_data_import'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_data_import_chunk_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_data_import_chunk_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_import_chunk'))
    )
    with op.batch_alter_table('data_import_chunk', schema=None) as batch_op:
        batch_op.create_index('ix_data_import_chunk_import_seq', ['import_id', 'seq'], unique=True)
        batch_op.create_index(batch_op.f('ix_data_import_chunk_organization_id'), ['organization_id'], unique=False)

    op.create_table('data_import_error',
    sa.Column('import_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_data_import_error_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['import_id'], ['data_import.id'], name=op.f('fk_data_import_error_import_id_data_import'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_data_import_error_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_data_import_error_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_import_error'))
    )
    with op.batch_alter_table('data_import_error', schema=None) as batch_op:
        batch_op.create_index('ix_data_import_error_import_row', ['import_id', 'row'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_import_error_organization_id'), ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('data_import_error', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_import_error_organization_id'))
        batch_op.drop_index('ix_data_import_error_import_row')

    op.drop_table('data_import_error')
    with op.batch_alter_table('data_import_chunk', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_import_chunk_organization_id'))
        batch_op.drop_index('ix_data_import_chunk_import_seq')

    op.drop_table('data_import_chunk')
    with op.batch_alter_table('data_export_chunk', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_export_chunk_organization_id'))
        batch_op.drop_index('ix_data_export_chunk_export_seq')

    op.drop_table('data_export_chunk')
    with op.batch_alter_table('data_import', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_import_organization_id'))

    op.drop_table('data_import')
    with op.batch_alter_table('data_export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_export_organization_id'))

    op.drop_table('data_export')
    with op.batch_alter_table('bulk_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulk_action_organization_id'))

    op.drop_table('bulk_action')
