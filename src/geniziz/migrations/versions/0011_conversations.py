"""conversations (threads of email, SMS and note activities with a contact), SMS accounts and deliveries

A conversation links its messages through conversation_message (one conversation per activity, with
its unread flag); sms_delivery keys each SMS handed to the provider (at most once) and each one
received from it (stored once); connected accounts gain the SMS provider's settings.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geniziz.db

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('conversation',
    sa.Column('lead_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('contact_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('subject', sa.String(length=1000), nullable=True),
    sa.Column('channels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('participants', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('thread_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('n_messages', sa.Integer(), nullable=False),
    sa.Column('n_unread', sa.Integer(), nullable=False),
    sa.Column('latest_message_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('activity_at', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_deleted', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_conversation_contact_id_contact'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_conversation_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['deleted_by'], ['user.id'], name=op.f('fk_conversation_deleted_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_conversation_lead_id_lead'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_conversation_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['email_thread.id'], name=op.f('fk_conversation_thread_id_email_thread'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_conversation_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation'))
    )
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_contact', ['contact_id'], unique=False)
        batch_op.create_index('ix_conversation_lead', ['lead_id'], unique=False)
        batch_op.create_index('ix_conversation_org_at', ['organization_id', 'activity_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_conversation_thread', ['thread_id'], unique=False)

    op.create_table('conversation_message',
    sa.Column('conversation_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('activity_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('is_unread', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_conversation_message_activity_id_activity'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], name=op.f('fk_conversation_message_conversation_id_conversation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_conversation_message_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_conversation_message_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_conversation_message_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_message')),
    sa.UniqueConstraint('activity_id', name=op.f('uq_conversation_message_activity_id'))
    )
    with op.batch_alter_table('conversation_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_message_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_message_organization_id'), ['organization_id'], unique=False)

    op.create_table('sms_delivery',
    sa.Column('send_key', sa.String(length=300), nullable=False),
    sa.Column('direction', sa.String(length=20), nullable=False),
    sa.Column('activity_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('account_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('date_handed_off', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('provider_sid', sa.String(length=100), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['connected_account.id'], name=op.f('fk_sms_delivery_account_id_connected_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_sms_delivery_activity_id_activity'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_sms_delivery_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_sms_delivery_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_sms_delivery_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_delivery')),
    sa.UniqueConstraint('send_key', name=op.f('uq_sms_delivery_send_key'))
    )
    with op.batch_alter_table('sms_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_delivery_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_delivery_organization_id'), ['organization_id'], unique=False)

    with op.batch_alter_table('connected_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_base_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('sms_account_sid', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('phone_numbers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))




def downgrade() -> None:
    with op.batch_alter_table('connected_account', schema=None) as batch_op:
        batch_op.drop_column('phone_numbers')
        batch_op.drop_column('sms_account_sid')
        batch_op.drop_column('sms_base_url')

    with op.batch_alter_table('sms_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_delivery_organization_id'))
        batch_op.drop_index(batch_op.f('ix_sms_delivery_activity_id'))

    op.drop_table('sms_delivery')
    with op.batch_alter_table('conversation_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_message_organization_id'))
        batch_op.drop_index(batch_op.f('ix_conversation_message_conversation_id'))

    op.drop_table('conversation_message')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_thread')
        batch_op.drop_index(batch_op.f('ix_conversation_organization_id'))
        batch_op.drop_index('ix_conversation_org_at')
        batch_op.drop_index('ix_conversation_lead')
        batch_op.drop_index('ix_conversation_contact')

    op.drop_table('conversation')
