"""subscriber lists and delivery receipts

Revision ID: 0002
Revises: 0001
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subscriber_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('joinable', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('subscriptions',
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['subscriber_lists.id'], ),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ),
    sa.PrimaryKeyConstraint('subscriber_id', 'list_id')
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_list_id'), ['list_id'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.JSON(), nullable=True))

    with op.batch_alter_table('sms_recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('status_error_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('status_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_sms_recipients_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_recipients_status'), ['status'], unique=False)

    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opt_out', sa.String(length=16), nullable=True))

    _seed_lists()


def _seed_lists() -> None:
    """The three lists every hospital starts with; numbers added before lists existed join `public`."""
    lists = sa.table("subscriber_lists", sa.column("id", sa.Integer), sa.column("name", sa.String),
                     sa.column("description", sa.String), sa.column("joinable", sa.Boolean),
                     sa.column("created_at", sa.DateTime(timezone=True)))
    now = datetime.now(timezone.utc)
    op.bulk_insert(lists, [
        {"id": 1, "name": "public", "description": "Anyone who texts JOIN", "joinable": True, "created_at": now},
        {"id": 2, "name": "media", "description": "Reporters and newsrooms", "joinable": True, "created_at": now},
        {"id": 3, "name": "staff-on-call", "description": "On-call staff (added by the hospital only)",
         "joinable": False, "created_at": now},
    ])
    op.execute(sa.text("INSERT INTO subscriptions (subscriber_id, list_id, created_at) "
                       "SELECT id, 1, created_at FROM subscribers"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("SELECT setval('subscriber_lists_id_seq', 3)"))



def downgrade() -> None:
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_column('opt_out')

    with op.batch_alter_table('sms_recipients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_recipients_status'))
        batch_op.drop_index(batch_op.f('ix_sms_recipients_provider_id'))
        batch_op.drop_column('status_at')
        batch_op.drop_column('status_error_code')
        batch_op.drop_column('status')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('audience')

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_list_id'))

    op.drop_table('subscriptions')
    op.drop_table('subscriber_lists')
