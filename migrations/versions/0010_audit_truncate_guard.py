"""audit log guarded against TRUNCATE on PostgreSQL

The row trigger of 0001 refuses UPDATE and DELETE, but TRUNCATE fires no row trigger: a statement-level
BEFORE TRUNCATE trigger refuses it too. Like every ordinary trigger it does not fire while
`session_replication_role` is `replica`, which only a superuser (or a role granted SET on it, PostgreSQL 15+)
may set: the test suite's fixture, connected as the server's superuser, empties the tables that way between
tests; the application's role cannot. SQLite has no TRUNCATE: nothing to do there.

Revision ID: 0010
Revises: 0006
"""
from alembic import op

revision = "0010"
down_revision = "0006"
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
