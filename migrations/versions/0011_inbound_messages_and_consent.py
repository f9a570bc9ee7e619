"""inbound messages kept once, and every subscriber's consent

Each text from the public is kept once by its MessageSid (and Twilio's idempotency token), so a replayed
or retried webhook changes nothing: a JOIN replayed after the number's STOP no longer subscribes it again.
Subscribers record who consented and how (keyword, staff, import); rows from before are marked 'legacy'
with their creation time, except numbers that only ever texted STOP (they never consented to anything).
A staff-added or imported number may await its one confirmation text (SMS_CONFIRM_ADDED).

Revision ID: 0011
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0014"
branch_labels = None
depends_on = None

BACKFILL = sa.text("""
    UPDATE subscribers SET consent_source = 'legacy', consented_at = created_at
    WHERE active OR opt_out IS NULL OR opt_out <> 'stop' OR EXISTS (
        SELECT 1 FROM subscriptions WHERE subscriptions.subscriber_id = subscribers.id)
""")


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_sid", sa.String(64), nullable=False, unique=True),
        sa.Column("idempotency_token", sa.String(120), nullable=True, unique=True),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("keyword", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("reply_state", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_source", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("consented_by", sa.String(80), nullable=True))
        batch_op.add_column(sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("confirmation", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("confirmation_sid", sa.String(64), nullable=True))
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        for column in ("confirmation_sid", "confirmation", "consented_at", "consented_by", "consent_source"):
            batch_op.drop_column(column)
    op.drop_table("inbound_messages")
