"""leaner sms_recipients indexes: the fan-out inserts and updates every row of a delivery

delivery_id alone is served by the (delivery_id, subscriber_id) unique constraint, and status is only
ever read per delivery; provider_id is looked up by the status callback only once a message has one.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

HAS_PROVIDER_ID = sa.text("provider_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("sms_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_recipients_delivery_id")
        batch_op.drop_index("ix_sms_recipients_status")
        batch_op.drop_index("ix_sms_recipients_provider_id")
        batch_op.create_index("ix_sms_recipients_provider_id", ["provider_id"], unique=False,
                              postgresql_where=HAS_PROVIDER_ID, sqlite_where=HAS_PROVIDER_ID)


def downgrade() -> None:
    with op.batch_alter_table("sms_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_recipients_provider_id")
        batch_op.create_index("ix_sms_recipients_provider_id", ["provider_id"], unique=False)
        batch_op.create_index("ix_sms_recipients_status", ["status"], unique=False)
        batch_op.create_index("ix_sms_recipients_delivery_id", ["delivery_id"], unique=False)
