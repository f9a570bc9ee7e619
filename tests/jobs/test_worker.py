"""worker.py: the real entry point works the queue without Flask and records its configuration."""
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from crisiscast.store.models import AuditEvent, Delivery

ROOT = Path(__file__).resolve().parents[2]


def test_worker_process_sends_a_queued_delivery_and_audits_its_configuration(settings, db, publish, queue,
                                                                              sandbox_client):
    uid = publish(channels=("x",)).uid
    env = {**os.environ, **settings.as_environment()}
    done = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert db.scalar(select(Delivery)).state == "sent"
    assert len(sandbox_client.accepted("x")) == 1
    config_event = db.scalar(select(AuditEvent).where(AuditEvent.action == "configuration"))
    assert "x: @sandbox_hospital via http://127.0.0.1:" in config_event.message
    assert settings["TWILIO_AUTH_TOKEN"] not in config_event.message
    # PUBLIC_DIR was empty: the worker's start rendered the whole site, this update's alert included.
    assert (Path(settings["PUBLIC_DIR"]) / "index.html").exists()
    assert (Path(settings["PUBLIC_DIR"]) / "cap" / f"{uid}.xml").exists()
