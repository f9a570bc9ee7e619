"""audit log guarded against TRUNCATE on PostgreSQL

The row trigger of 0001 refuses UPDATE and DELETE, but TRUNCATE fires no row trigger: a statement-level
BEFORE TRUNCATE trigger refuses it too. Only the table's owner (or a superuser) can switch it off, with an
explicit `ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate`, as it could drop any trigger:
run the application as a role that does not own the tables (see the README's Production section). The test
suite's fixture, owner of its scratch databases, does that inside the transaction that empties the tables
between tests. SQLite has no TRUNCATE: nothing to do there.

Revision ID: 0010
Revises: 0011
"""
from alembic import op

revision = "0010"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(
        "CREATE FUNCTION audit_events_no_truncate() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit log is append-only: TRUNCATE refused'; END; $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_no_truncate()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    op.execute("DROP FUNCTION audit_events_no_truncate()")
