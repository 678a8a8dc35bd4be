"""messaging: connected accounts, email templates, and email deliveries (one per Message-ID handed to SMTP)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 13:24:48.757543
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geniziz.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('connected_account',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('is_shared', sa.Boolean(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('smtp_host', sa.String(length=255), nullable=True),
    sa.Column('smtp_port', sa.Integer(), nullable=True),
    sa.Column('smtp_tls', sa.String(length=10), nullable=True),
    sa.Column('smtp_username', sa.String(length=320), nullable=True),
    sa.Column('imap_host', sa.String(length=255), nullable=True),
    sa.Column('imap_port', sa.Integer(), nullable=True),
    sa.Column('imap_tls', sa.String(length=10), nullable=True),
    sa.Column('imap_username', sa.String(length=320), nullable=True),
    sa.Column('credentials', sa.Text(), nullable=True),
    sa.Column('secrets_set', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('max_per_day', sa.Integer(), nullable=False),
    sa.Column('max_per_hour', sa.Integer(), nullable=False),
    sa.Column('min_gap_seconds', sa.Integer(), nullable=False),
    sa.Column('last_tested_at', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_test_error', sa.Text(), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_connected_account_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_connected_account_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_connected_account_updated_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_connected_account_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connected_account'))
    )
    with op.batch_alter_table('connected_account', schema=None) as batch_op:
        batch_op.create_index('ix_connected_account_org_user', ['organization_id', 'user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_connected_account_organization_id'), ['organization_id'], unique=False)

    op.create_table('email_template',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=True),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('attachments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('is_shared', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_email_template_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_email_template_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_email_template_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_template'))
    )
    with op.batch_alter_table('email_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_template_organization_id'), ['organization_id'], unique=False)

    op.create_table('email_delivery',
    sa.Column('message_id', sa.String(length=300), nullable=False),
    sa.Column('activity_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('date_handed_off', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['connected_account.id'], name=op.f('fk_email_delivery_account_id_connected_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_email_delivery_activity_id_activity'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_email_delivery_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_email_delivery_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_email_delivery_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_delivery')),
    sa.UniqueConstraint('message_id', name=op.f('uq_email_delivery_message_id'))
    )
    with op.batch_alter_table('email_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_email_delivery_account_at', ['account_id', 'date_handed_off'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_delivery_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_delivery_organization_id'), ['organization_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('email_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_delivery_organization_id'))
        batch_op.drop_index(batch_op.f('ix_email_delivery_activity_id'))
        batch_op.drop_index('ix_email_delivery_account_at')

    op.drop_table('email_delivery')
    with op.batch_alter_table('email_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_template_organization_id'))

    op.drop_table('email_template')
    with op.batch_alter_table('connected_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_connected_account_organization_id'))
        batch_op.drop_index('ix_connected_account_org_user')

    op.drop_table('connected_account')
