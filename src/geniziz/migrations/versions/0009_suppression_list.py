"""the suppression list: unsubscribed_email, one lower-cased address per workspace

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import geniziz.db

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table('unsubscribed_email',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', ID, nullable=False),
    sa.Column('date_created', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_updated', geniziz.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', ID, nullable=False),
    sa.Column('created_by', ID, nullable=True),
    sa.Column('updated_by', ID, nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_unsubscribed_email_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_unsubscribed_email_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_unsubscribed_email_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unsubscribed_email')),
    sa.UniqueConstraint('organization_id', 'email', name=op.f('uq_unsubscribed_email_organization_id_email'))
    )
    with op.batch_alter_table('unsubscribed_email', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unsubscribed_email_organization_id'), ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('unsubscribed_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unsubscribed_email_organization_id'))
    op.drop_table('unsubscribed_email')
