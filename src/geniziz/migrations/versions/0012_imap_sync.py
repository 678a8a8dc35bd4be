"""imap sync: a cursor per synced mail folder, and a row per message fetched (whatever became of it)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geniziz.db

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mail_folder',
    sa.Column('account_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('folder', sa.String(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('highestmodseq', sa.BigInteger(), nullable=True),
    sa.Column('last_sync_at', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('fetched', sa.Integer(), nullable=False),
    sa.Column('resyncs', sa.Integer(), nullable=False),
    sa.Column('reconciled_at', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('server_count', sa.Integer(), nullable=True),
    sa.Column('stored_count', sa.Integer(), nullable=True),
    sa.Column('missing', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['connected_account.id'], name=op.f('fk_mail_folder_account_id_connected_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_mail_folder_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_mail_folder_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_mail_folder_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_folder')),
    sa.UniqueConstraint('account_id', 'folder', name=op.f('uq_mail_folder_account_id_folder'))
    )
    with op.batch_alter_table('mail_folder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_folder_organization_id'), ['organization_id'], unique=False)

    op.create_table('inbound_email',
    sa.Column('account_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('folder', sa.String(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.String(length=300), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=True),
    sa.Column('bounce', sa.String(length=10), nullable=True),
    sa.Column('activity_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('sender', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('raw', sa.LargeBinary(), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['connected_account.id'], name=op.f('fk_inbound_email_account_id_connected_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_inbound_email_activity_id_activity'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_inbound_email_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_inbound_email_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_inbound_email_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_email')),
    sa.UniqueConstraint('account_id', 'folder', 'uidvalidity', 'uid', name=op.f('uq_inbound_email_account_id_folder_uidvalidity_uid'))
    )
    with op.batch_alter_table('inbound_email', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_email_account_message_id', ['account_id', 'message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_email_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index('ix_inbound_email_org_message_id', ['organization_id', 'message_id'], unique=False)
        batch_op.create_index('ix_inbound_email_org_sender', ['organization_id', 'sender'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_email_organization_id'), ['organization_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inbound_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_email_organization_id'))
        batch_op.drop_index('ix_inbound_email_org_sender')
        batch_op.drop_index('ix_inbound_email_org_message_id')
        batch_op.drop_index(batch_op.f('ix_inbound_email_activity_id'))
        batch_op.drop_index('ix_inbound_email_account_message_id')

    op.drop_table('inbound_email')
    with op.batch_alter_table('mail_folder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_folder_organization_id'))

    op.drop_table('mail_folder')
