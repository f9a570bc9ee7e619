"""update audience: public or internal, and lists flagged public

A list is public when its members are the public. Seeds: `public` is public; `media` is public but no longer
joinable by keyword (reporters are added by staff); `staff-on-call` is internal. Other lists are public
only if anyone may JOIN them. Every existing update gets its audience from its deliveries, as
crisiscast.core.audience decides it: public when any went to the feed, X, Facebook, or by SMS to a public
list (an SMS from before lists existed went to everyone, so it counts as public); otherwise internal.

Revision ID: 0008
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0016"
branch_labels = None
depends_on = None

PUBLIC_CHANNELS = ("feed", "x", "facebook")


def upgrade() -> None:
    with op.batch_alter_table("subscriber_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audience", sa.String(length=16), nullable=False,
                                      server_default="internal"))
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE subscriber_lists SET public = :yes WHERE name = 'public' OR joinable"),
                 {"yes": True})
    conn.execute(sa.text("UPDATE subscriber_lists SET public = :yes, joinable = :no WHERE name = 'media'"),
                 {"yes": True, "no": False})
    conn.execute(sa.text("UPDATE subscriber_lists SET public = :no, joinable = :no WHERE name = 'staff-on-call'"),
                 {"no": False})
    _compute_audiences(conn)


def _compute_audiences(conn) -> None:
    """Mark public every update that reached the public; the rest keep the default, internal."""
    public_lists = {name for (name,) in conn.execute(sa.text("SELECT name FROM subscriber_lists WHERE public"))}
    deliveries = sa.table("deliveries", sa.column("update_id", sa.Integer), sa.column("channel", sa.String),
                          sa.column("audience", sa.JSON))
    public_ids = set()
    for update_id, channel, lists in conn.execute(sa.select(deliveries.c.update_id, deliveries.c.channel,
                                                            deliveries.c.audience)):
        if channel in PUBLIC_CHANNELS or (channel == "sms" and (lists is None or public_lists & set(lists))):
            public_ids.add(update_id)
    ids = sorted(public_ids)
    for start in range(0, len(ids), 500):
        conn.execute(sa.text("UPDATE updates SET audience = 'public' WHERE id IN :ids")
                     .bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids[start:start + 500]})


def downgrade() -> None:
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.drop_column("audience")
    with op.batch_alter_table("subscriber_lists", schema=None) as batch_op:
        batch_op.drop_column("public")
