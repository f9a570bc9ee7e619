"""status callbacks are kept by the web app and applied by the workers: a receipt keeps the number it names

The web app now only checks a callback's signature and stores it (waiting); the workers apply waiting
receipts in chunks. The check that a callback names its row's own number moves with them, so the receipt
keeps the `To` it was posted with.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_receipts") as batch:
        batch.add_column(sa.Column("to_phone", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sms_receipts") as batch:
        batch.drop_column("to_phone")
