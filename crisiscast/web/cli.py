"""Command-line tasks: `flask --app crisiscast.web db upgrade`, `users create|set-password|list`, `reconcile`,
`public rebuild`."""
from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

import config
from crisiscast import jobs
from crisiscast.core.domain import ValidationError
from crisiscast.public import site
from crisiscast.services import accounts
from crisiscast.store import audit
from crisiscast.store.db import migrate
from crisiscast.web.helpers import db, runtime, settings

db_cli = AppGroup("db", help="The database schema.")
users_cli = AppGroup("users", help="Staff accounts.")
public_cli = AppGroup("public", help="The pre-rendered public site.")


def init_app(app) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(public_cli)
    app.cli.add_command(reconcile_command)


@db_cli.command("upgrade")
def db_upgrade():
    """Apply every pending migration."""
    migrate(settings().DATABASE_URL)
    click.echo("database is up to date")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(accounts.ROLES), default="author", show_default=True)
@click.option("--password", envvar="CRISISCAST_NEW_PASSWORD", help="default: generate one and print it once")
def users_create(username, role, password):
    """Create a staff account."""
    generated = None if password else accounts.generate_password()
    try:
        user = accounts.create_user(db(), username, password or generated, role, actor=audit.SYSTEM)
    except ValidationError as exc:
        raise click.ClickException("; ".join(exc.errors.values())) from exc
    click.echo(f"created {user.username} ({user.role})")
    if generated:
        click.echo(f"one-time password: {generated}")


@users_cli.command("set-password")
@click.argument("username")
@click.option("--password", envvar="CRISISCAST_NEW_PASSWORD", help="default: generate one and print it once")
def users_set_password(username, password):
    """Give an account a new password (a lost one-time admin password); ends its sessions."""
    user = accounts.user_named(db(), username)
    if user is None:
        raise click.ClickException(f"There is no account named {username.strip().lower()}.")
    generated = None if password else accounts.generate_password()
    try:
        accounts.set_password(db(), user.id, password or generated, actor=audit.SYSTEM)
    except ValidationError as exc:
        raise click.ClickException("; ".join(exc.errors.values())) from exc
    click.echo(f"new password set for {user.username}; its sessions are ended")
    if generated:
        click.echo(f"one-time password: {generated}")


@users_cli.command("list")
def users_list():
    """List staff accounts and their roles."""
    for user in accounts.all_users(db()):
        click.echo(f"{user.username:24} {user.role:8} {'active' if user.active else 'disabled'}")


@click.command("reconcile")
@with_appcontext  # `flask` pushes one anyway; this makes the command whole outside it (the test runner)
def reconcile_command():
    """Resolve sends left in doubt, queue what is pending but not queued, settle finished fan-outs (once)."""
    if not settings().REDIS_URL:
        raise click.ClickException(
            "REDIS_URL is not set. Set it to the Redis your workers use (REDIS_URL=redis://host:6379/0). Beside "
            "./run, use the same CRISISCAST_INSTANCE as it: while it runs, it writes the Redis it started into "
            f"{config.INSTANCE / config.DEV_RUN_FILE}.")
    report = jobs.reconcile_once(runtime(), jobs.make_queue(settings()))
    click.echo("another reconciler is running right now" if report is None else str(report))
    for note in report.notes if report else ():
        click.echo(f"  {note}")


@public_cli.command("rebuild")
def public_rebuild():
    """Render every public file again (after a template change, or to restore PUBLIC_DIR)."""
    changed = site.rebuild(runtime().sessions, settings())
    click.echo(f"public site rebuilt: {changed} files changed in {settings().PUBLIC_DIR}")
