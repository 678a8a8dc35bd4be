"""sequences: sequences (steps, sending schedule), their subscriptions (the engine's state) and events (history)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import geniziz.db

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sequence',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('schedule', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('holidays', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('steps', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('goal_status_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_sequence_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['goal_status_id'], ['status.id'], name=op.f('fk_sequence_goal_status_id_status'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_sequence_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_sequence_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence'))
    )
    with op.batch_alter_table('sequence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_organization_id'), ['organization_id'], unique=False)

    op.create_table('sequence_subscription',
    sa.Column('sequence_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('contact_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('lead_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('open_contact_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('sender_account_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('calls_assigned_to', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.String(length=40), nullable=True),
    sa.Column('paused_until', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('start_date', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('next_step_at', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('last_step_at', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('thread_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('date_finished', geniziz.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['calls_assigned_to'], ['user.id'], name=op.f('fk_sequence_subscription_calls_assigned_to_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_sequence_subscription_contact_id_contact'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_sequence_subscription_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_sequence_subscription_lead_id_lead'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_sequence_subscription_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_account_id'], ['connected_account.id'], name=op.f('fk_sequence_subscription_sender_account_id_connected_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequence.id'], name=op.f('fk_sequence_subscription_sequence_id_sequence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_sequence_subscription_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_subscription')),
    sa.UniqueConstraint('sequence_id', 'open_contact_id', name=op.f('uq_sequence_subscription_sequence_id_open_contact_id'))
    )
    with op.batch_alter_table('sequence_subscription', schema=None) as batch_op:
        batch_op.create_index('ix_sequence_subscription_next_step_at', ['next_step_at'], unique=False)
        batch_op.create_index('ix_sequence_subscription_org_contact', ['organization_id', 'contact_id'], unique=False)
        batch_op.create_index('ix_sequence_subscription_org_lead', ['organization_id', 'lead_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sequence_subscription_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_sequence_subscription_sequence_status', ['sequence_id', 'status'], unique=False)

    op.create_table('sequence_event',
    sa.Column('sequence_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('subscription_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('step_index', sa.Integer(), nullable=True),
    sa.Column('step_type', sa.String(length=30), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.Column('activity_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('task_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_sequence_event_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_sequence_event_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequence.id'], name=op.f('fk_sequence_event_sequence_id_sequence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['sequence_subscription.id'], name=op.f('fk_sequence_event_subscription_id_sequence_subscription'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_sequence_event_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_event'))
    )
    with op.batch_alter_table('sequence_event', schema=None) as batch_op:
        batch_op.create_index('ix_sequence_event_org_sequence', ['organization_id', 'sequence_id', 'date_created'], unique=False)
        batch_op.create_index(batch_op.f('ix_sequence_event_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_sequence_event_subscription', ['subscription_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sequence_event', schema=None) as batch_op:
        batch_op.drop_index('ix_sequence_event_subscription')
        batch_op.drop_index(batch_op.f('ix_sequence_event_organization_id'))
        batch_op.drop_index('ix_sequence_event_org_sequence')

    op.drop_table('sequence_event')
    with op.batch_alter_table('sequence_subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_sequence_subscription_sequence_status')
        batch_op.drop_index(batch_op.f('ix_sequence_subscription_organization_id'))
        batch_op.drop_index('ix_sequence_subscription_org_lead')
        batch_op.drop_index('ix_sequence_subscription_org_contact')
        batch_op.drop_index('ix_sequence_subscription_next_step_at')

    op.drop_table('sequence_subscription')
    with op.batch_alter_table('sequence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequence_organization_id'))

    op.drop_table('sequence')
