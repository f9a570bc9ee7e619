"""The dashboard's health panel: the job queue, and whether recovery (the reconciler in the workers) is running."""
from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

import config
from crisiscast import jobs
from crisiscast.runtime import Runtime
from crisiscast.store.models import Delivery, utcnow
from crisiscast.web import create_app
from dev.redis_server import free_port
from tests.conftest import AuthActions
from tests.support.faultkit import wait_until


@pytest.fixture
def dashboard(settings, users):
    """A signed-in console client for `settings` with some changed; the Runtime it uses."""
    made = []

    def open_with(**changes):
        changed = config.Settings({**settings, **changes})
        runtime = Runtime(changed)
        made.append(runtime)
        client = create_app(changed, runtime).test_client()
        AuthActions(client).login("viewer")
        return client, runtime

    yield open_with
    for runtime in made:
        runtime.close()


def panel(client) -> tuple[str, str]:
    """The dashboard's recovery row, and the banner above the panel (or '')."""
    page = " ".join(client.get("/").get_data(as_text=True).split())
    row = re.search(r'<tr id="recovery-health">(.*?)</tr>', page).group(1)
    banner = re.search(r'<div class="flash error" id="recovery-down" role="alert">(.*?)</div>', page)
    return row, banner.group(1) if banner else ""


def test_green_after_a_pass(dashboard, queue):
    client, runtime = dashboard()
    row, banner = panel(client)
    assert "not running" in row and "no pass has ever been recorded" in row and "worker.py" in banner
    assert jobs.reconcile_once(runtime, queue) is not None
    row, banner = panel(client)
    assert 'class="state state-sent">ok<' in row and banner == ""
    assert re.search(r"Last pass \d+ s ago \(one every 15 s\)\.", row), row


def test_red_when_no_pass_for_three_intervals(dashboard, queue):
    client, runtime = dashboard(RECONCILE_SECONDS=1)
    jobs.reconcile_once(runtime, queue)
    row, banner = wait_until(lambda: _when_down(client), what="the panel turning red")
    assert 'class="state state-failed">not running<' in row
    assert re.search(r"Not running: no pass has finished for \d+ s \(one is due every 1 s\)", row), row
    assert "Sends stuck or in doubt are not being recovered" in banner


def test_red_in_plain_words_when_redis_is_unreachable(dashboard):
    client, _ = dashboard(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    page = " ".join(client.get("/").get_data(as_text=True).split())
    row, banner = panel(client)
    assert "Cannot reach Redis: publishing still saves updates" in page
    assert 'class="state state-failed">not running<' in row
    assert "Redis cannot be reached, so no worker can recover stuck or in-doubt sends" in banner


def test_failed_lookups_are_shown_and_logged_with_their_reason(dashboard, queue, db, publish, sandbox_client, caplog):
    client, runtime = dashboard()
    publish(channels=("x",), queued=False, on=runtime)
    # A worker claimed it and stopped without an answer from X: only a lookup can tell whether it went out.
    db.execute(update(Delivery).values(state="in_doubt", attempts=1, claimed_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    sandbox_client.configure(script={"x": ["503"]})
    with caplog.at_level(logging.WARNING, logger="crisiscast.jobs"):
        report = jobs.reconcile_once(runtime, queue)
    assert report.lookup_failed == 1
    assert "reconciler: x #1: lookup failed: Service Unavailable" in caplog.messages
    row, banner = panel(client)
    assert 'class="state state-partial">warning<' in row and banner == ""
    assert "1 lookup at the provider failed in it: those sends stay in doubt" in row
    assert "x #1: lookup failed: Service Unavailable" in row


def test_a_failing_pass_is_logged_and_shown_with_its_reason(dashboard, settings, queue, caplog):
    client, _ = dashboard()
    away = config.Settings({**settings, "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/gone"})
    broken = Runtime(away)
    stop = threading.Event()
    reconciler = threading.Thread(target=jobs.reconcile_forever, args=(broken, queue, 0.05, stop), daemon=True)
    with caplog.at_level(logging.ERROR, logger="crisiscast.jobs"):
        reconciler.start()
        try:
            row, banner = wait_until(lambda: _when_down(client, "Last failed pass"), what=lambda: panel(client))
        finally:
            stop.set()
            reconciler.join(60)
            broken.close()
    assert "OperationalError" in row and "no pass has ever been recorded" in banner
    assert any("reconciler pass failed (OperationalError" in r.getMessage() for r in caplog.records)


def _when_down(client, also: str = ""):
    row, banner = panel(client)
    return (row, banner) if banner and also in row else None
