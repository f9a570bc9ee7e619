"""The command line: `flask --app crisiscast.web db upgrade`, `users create|list`, `reconcile`, `public rebuild`."""
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update

import config
from crisiscast.runtime import Runtime
from crisiscast.services import accounts
from crisiscast.store.db import make_engine
from crisiscast.store.models import AuditEvent, Delivery, User, utcnow
from crisiscast.web import create_app
from tests.conftest import PASSWORD, AuthActions


def test_users_create_makes_an_account_that_can_sign_in(runner, db):
    result = runner.invoke(args=["users", "create", "Nurse.Lee", "--role", "viewer", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert result.output == "created nurse.lee (viewer)\n"
    assert accounts.authenticate(db, "nurse.lee", PASSWORD).role == "viewer"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "user_created"))
    assert (event.target, event.message) == ("nurse.lee", "role viewer")


def test_users_create_without_a_password_prints_a_one_time_one_that_works(runner, db):
    result = runner.invoke(args=["users", "create", "lee"])
    assert result.exit_code == 0, result.output
    created, printed = result.output.splitlines()
    assert created == "created lee (author)" and printed.startswith("one-time password: ")
    assert accounts.authenticate(db, "lee", printed.removeprefix("one-time password: ")) is not None


@pytest.mark.parametrize("args, message", [
    (["author", "--password", PASSWORD], "Error: There is already an account named author."),
    (["lee", "--password", "short"], "Error: Use at least 12 characters."),
    (["no spaces", "--password", PASSWORD], "Error: Use letters, digits, dots, dashes or underscores (at most 80)."),
])
def test_users_create_refuses_a_taken_or_bad_name_or_password_and_says_why(runner, db, users, args, message):
    result = runner.invoke(args=["users", "create", *args])
    assert result.exit_code == 1 and message in result.output
    assert sorted(db.scalars(select(User.username))) == ["admin", "author", "viewer"]


def test_users_create_refuses_an_unknown_role_naming_the_choices(runner, db):
    result = runner.invoke(args=["users", "create", "lee", "--role", "root", "--password", PASSWORD])
    assert result.exit_code == 2
    assert "Invalid value for '--role': 'root' is not one of 'viewer', 'author', 'admin'." in result.output
    assert db.scalar(select(User)) is None


def test_users_list_shows_each_account_its_role_and_whether_it_is_active(runner, db, users):
    accounts.set_role(db, users["viewer"].id, "viewer", False, actor="admin")
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    assert [line.split() for line in result.output.splitlines()] == [
        ["admin", "admin", "active"], ["author", "author", "active"], ["viewer", "viewer", "disabled"]]


def test_reconcile_queues_a_delivery_whose_job_was_lost_and_prints_the_report(runner, db, publish, queue):
    lost = publish(channels=("x",), queued=False).deliveries[0]
    db.execute(update(Delivery).values(updated_at=utcnow() - timedelta(minutes=5)))  # older than the grace
    db.commit()
    result = runner.invoke(args=["reconcile"])
    assert result.exit_code == 0, result.output
    assert result.output == ("0 claims expired, 0 found at the provider, 0 to resend, 0 lookups failed, "
                             "1 deliveries and 0 SMS batches queued, 0 settled, 0 receipts applied\n")
    assert [job.args[0] for job in queue.get_jobs()] == [lost.id]


def test_reconcile_prints_each_note_of_the_pass(runner, db, publish, queue, sandbox_client):
    publish(channels=("x",), queued=False)
    # A worker claimed it and stopped without an answer from X: only a lookup can tell whether it went out.
    db.execute(update(Delivery).values(state="in_doubt", attempts=1, claimed_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    sandbox_client.configure(script={"x": ["503"]})
    result = runner.invoke(args=["reconcile"])
    assert result.exit_code == 0, result.output
    report, note = result.output.splitlines()
    assert "1 lookups failed" in report and note.startswith("  x #") and "lookup failed" in note
    assert db.scalar(select(Delivery.state)) == "in_doubt"


def test_reconcile_without_redis_says_which_setting_to_set(settings, sandbox_client):
    without = config.Settings({**settings, "REDIS_URL": ""})
    runtime = Runtime(without)
    result = create_app(without, runtime).test_cli_runner().invoke(args=["reconcile"])
    runtime.close()
    assert result.exit_code == 1
    assert "Error: REDIS_URL is not set. Set it to the Redis your workers use" in result.output


def test_db_upgrade_builds_an_empty_database_and_is_idempotent(settings, runtime, scratch_url):
    fresh = config.Settings({**settings, "DATABASE_URL": scratch_url})
    cli = create_app(fresh, Runtime(fresh)).test_cli_runner()
    for _ in range(2):
        result = cli.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0 and result.output == "database is up to date\n"
    engine = make_engine(scratch_url)
    assert {"users", "updates", "deliveries", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_public_rebuild_renders_every_page_and_alert(runner, publish, settings):
    uids = [publish(headline=headline, channels=("x",), queued=False).uid
            for headline in ("ER open", "ER closed to walk-ins")]
    result = runner.invoke(args=["public", "rebuild"])
    assert result.exit_code == 0, result.output
    root = Path(settings["PUBLIC_DIR"])
    # The status page, three feeds, the CAP index and HAVE; the incident's three feeds; a page and alert each.
    assert f"public site rebuilt: 13 files changed in {root}" in result.output
    for uid in uids:
        assert "ER " in (root / "u" / f"{uid}.html").read_text() and (root / "cap" / f"{uid}.xml.gz").exists()


def test_users_set_password_gives_a_lost_admin_a_new_one_and_ends_its_sessions(runner, app, db, users):
    browser = app.test_client()
    AuthActions(browser).login("admin")
    assert browser.get("/admin/users").status_code == 200
    result = runner.invoke(args=["users", "set-password", "Admin", "--password", "amber kettle violin"])
    assert result.exit_code == 0, result.output
    assert result.output == "new password set for admin; its sessions are ended\n"
    assert browser.get("/admin/users").status_code == 302
    db.expire_all()  # the command changed the account through a session of its own
    assert accounts.authenticate(db, "admin", PASSWORD) is None
    assert accounts.authenticate(db, "admin", "amber kettle violin") is not None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "password_changed"))
    assert (event.actor, event.target, event.message) == ("system", "admin", "1 session ended")


def test_users_set_password_without_one_prints_a_one_time_password_that_works(runner, db, users):
    result = runner.invoke(args=["users", "set-password", "admin"])
    assert result.exit_code == 0, result.output
    printed = result.output.splitlines()[1].removeprefix("one-time password: ")
    db.expire_all()
    assert accounts.authenticate(db, "admin", printed) is not None


@pytest.mark.parametrize("args, message", [
    (["nobody", "--password", PASSWORD], "Error: There is no account named nobody."),
    (["admin", "--password", "short"], "Error: Use at least 12 characters."),
    (["admin", "--password", "admin in charge"], "Error: The password must not contain the username."),
])
def test_users_set_password_refuses_an_unknown_account_or_a_weak_password(runner, db, users, args, message):
    result = runner.invoke(args=["users", "set-password", *args])
    assert result.exit_code == 1 and message in result.output
    assert accounts.authenticate(db, "admin", PASSWORD) is not None
