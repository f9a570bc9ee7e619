"""public site: incident slugs, promised next update, corrections and retractions

Revision ID: 0004
Revises: 0003
"""
import re

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=140), nullable=True))
        batch_op.create_unique_constraint("uq_incidents_slug", ["slug"])
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_update", sa.String(length=80), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("corrects_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("story_uid", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retraction_reason", sa.String(length=200), nullable=False, server_default=""))
        batch_op.create_foreign_key("fk_updates_corrects_id", "updates", ["corrects_id"], ["id"])
        batch_op.create_index("ix_updates_story_uid", ["story_uid"], unique=False)
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE updates SET story_uid = uid"))
    for incident_id, title in conn.execute(sa.text("SELECT id, title FROM incidents")).all():
        slug = (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "incident")[:120] + f"-{incident_id}"
        conn.execute(sa.text("UPDATE incidents SET slug = :slug WHERE id = :id"), {"slug": slug, "id": incident_id})


def downgrade() -> None:
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.drop_index("ix_updates_story_uid")
        batch_op.drop_constraint("fk_updates_corrects_id", type_="foreignkey")
        for column in ("retraction_reason", "retracted_at", "story_uid", "corrects_id", "next_update"):
            batch_op.drop_column(column)
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_constraint("uq_incidents_slug", type_="unique")
        batch_op.drop_column("slug")
