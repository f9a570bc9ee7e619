"""receipts inbox and one recipient per provider message

Every Twilio status callback is kept once (by its idempotency token, or its SID, status and error code),
and one the product cannot place yet waits there for its message's SID. A provider message id is now
unique among SMS recipients. Rows that share one (the old lookup credited a later update's recipient with
an earlier update's message) keep it only on the row claimed first; the others go back to *in doubt*, so
the reconciler asks Twilio again with the stricter matching and resends what was never sent.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HAS_PROVIDER_ID = sa.text("provider_id IS NOT NULL")
WAITING = sa.text("waiting")
BORROWED = sa.text("""
    UPDATE sms_recipients SET provider_id = NULL, status = NULL, state = 'in_doubt', error_code = 'in_doubt',
        error_message = 'Credited with a message another recipient row owns; asking Twilio again.'
    WHERE provider_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM sms_recipients first WHERE first.provider_id = sms_recipients.provider_id
        AND (COALESCE(first.claimed_at, first.updated_at), first.id)
            < (COALESCE(sms_recipients.claimed_at, sms_recipients.updated_at), sms_recipients.id))
""")


def upgrade() -> None:
    op.create_table(
        "sms_receipts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(120), nullable=False, unique=True),
        sa.Column("message_sid", sa.String(64), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(16), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("waiting", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_sms_receipts_waiting", "sms_receipts", ["message_sid"], postgresql_where=WAITING,
                    sqlite_where=WAITING)
    op.execute(BORROWED)
    with op.batch_alter_table("sms_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_recipients_provider_id")
        batch_op.create_index("ix_sms_recipients_provider_id", ["provider_id"], unique=True,
                              postgresql_where=HAS_PROVIDER_ID, sqlite_where=HAS_PROVIDER_ID)


def downgrade() -> None:
    with op.batch_alter_table("sms_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_recipients_provider_id")
        batch_op.create_index("ix_sms_recipients_provider_id", ["provider_id"], unique=False,
                              postgresql_where=HAS_PROVIDER_ID, sqlite_where=HAS_PROVIDER_ID)
    op.drop_index("ix_sms_receipts_waiting", table_name="sms_receipts")
    op.drop_table("sms_receipts")
