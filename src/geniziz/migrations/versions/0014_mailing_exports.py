"""mailing exports: platform connections (sealed keys), exports and each export's audience snapshot

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geniziz.db

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table('mailing_connection',
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('base_url', sa.String(length=2000), nullable=True),
    sa.Column('credentials', sa.Text(), nullable=False),
    sa.Column('account_name', sa.String(length=500), nullable=True),
    sa.Column('last_verified_at', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', ID, nullable=False),
    sa.Column('created_by', ID, nullable=True),
    sa.Column('updated_by', ID, nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_mailing_connection_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_mailing_connection_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_mailing_connection_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailing_connection')),
    sa.UniqueConstraint('organization_id', 'platform', name=op.f('uq_mailing_connection_organization_id_platform'))
    )
    with op.batch_alter_table('mailing_connection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mailing_connection_organization_id'), ['organization_id'], unique=False)

    op.create_table('mailing_export',
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('connection_id', ID, nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('filters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('pushed', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('date_started', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('date_finished', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', ID, nullable=False),
    sa.Column('created_by', ID, nullable=True),
    sa.Column('updated_by', ID, nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['mailing_connection.id'], name=op.f('fk_mailing_export_connection_id_mailing_connection'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_mailing_export_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_mailing_export_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_mailing_export_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailing_export'))
    )
    with op.batch_alter_table('mailing_export', schema=None) as batch_op:
        batch_op.create_index('ix_mailing_export_org_status', ['organization_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_mailing_export_organization_id'), ['organization_id'], unique=False)

    op.create_table('mailing_export_member',
    sa.Column('organization_id', ID, nullable=False),
    sa.Column('export_id', ID, nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('contact_id', ID, nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('batch', sa.String(length=100), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['export_id'], ['mailing_export.id'], name=op.f('fk_mailing_export_member_export_id_mailing_export'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_mailing_export_member_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('export_id', 'email', name=op.f('pk_mailing_export_member'))
    )
    with op.batch_alter_table('mailing_export_member', schema=None) as batch_op:
        batch_op.create_index('ix_mailing_export_member_export_state', ['export_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_mailing_export_member_organization_id'), ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mailing_export_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mailing_export_member_organization_id'))
        batch_op.drop_index('ix_mailing_export_member_export_state')

    op.drop_table('mailing_export_member')
    with op.batch_alter_table('mailing_export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mailing_export_organization_id'))
        batch_op.drop_index('ix_mailing_export_org_status')

    op.drop_table('mailing_export')
    with op.batch_alter_table('mailing_connection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mailing_connection_organization_id'))

    op.drop_table('mailing_connection')
