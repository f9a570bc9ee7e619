"""The whole product on one machine (what `./run` starts): private Redis, sandbox, migrations, worker, web.

Ctrl-C (or SIGTERM) stops every process it started; so does any of them exiting.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import config
from crisiscast import accounts
from crisiscast.db import make_engine, migrate, session_factory
from crisiscast.processes import die_with_parent
from crisiscast.redis_server import PrivateRedis
from crisiscast.sandbox import product_settings

ROOT = Path(__file__).resolve().parent.parent
# What an operator's command run beside the dev run needs to reach the same product (see config.DEV_RUN_FILE).
_SHARED = ("REDIS_URL", "DATABASE_URL", "QUEUE_NAME", "PUBLIC_BASE_URL", "PUBLIC_DIR")


def main() -> int:
    os.environ.setdefault("CRISISCAST_ENV", "development")
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "5000")
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    processes: list[subprocess.Popen] = []
    redis = dev_run = None
    try:
        if not os.environ.get("REDIS_URL"):
            redis = PrivateRedis()
            os.environ["REDIS_URL"] = redis.url
        sandbox_url = None
        if os.environ.get("CRISISCAST_SANDBOX", "on").lower() not in {"off", "0", "no", "false"}:
            sandbox_port = os.environ.get("SANDBOX_PORT", "5050")
            sandbox_url = f"http://127.0.0.1:{sandbox_port}"
            processes.append(_start("sandbox", [sys.executable, "-m", "crisiscast.sandbox", "--port", sandbox_port,
                                                "--inbound-url", f"http://{host}:{port}/webhooks/twilio/sms"]))
            os.environ.update(product_settings(sandbox_url))
        settings = config.load()
        migrate(settings["DATABASE_URL"])
        password = _ensure_admin(settings)
        dev_run = config.write_dev_run(config.INSTANCE, {k: settings[k] for k in _SHARED + tuple(
            product_settings(sandbox_url) if sandbox_url else ())})
        processes.append(_start("worker", [sys.executable, "worker.py"]))
        processes.append(_start("web", [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"{host}:{port}",
                                        "--worker-class", "gthread", "--workers", "2", "--threads", "8",
                                        "--access-logfile", "-", "--log-level", "warning"]))
        _banner(host, port, settings, password, sandbox_url, redis)
        return _wait(processes)
    finally:
        _stop(processes)
        if dev_run is not None:
            dev_run.unlink(missing_ok=True)
        if redis is not None:
            redis.stop()


def _start(name: str, argv: list[str]) -> subprocess.Popen:
    process = subprocess.Popen(argv, cwd=ROOT, start_new_session=True, preexec_fn=die_with_parent)
    process.name = name
    return process


def _ensure_admin(settings) -> str | None:
    engine = make_engine(settings["DATABASE_URL"])
    try:
        with session_factory(engine)() as session:
            return accounts.ensure_admin(session, settings.get("CRISISCAST_ADMIN_PASSWORD") or None)
    finally:
        engine.dispose()


def _banner(host, port, settings, password, sandbox_url, redis) -> None:
    lines = [
        "", "crisiscast is running. Ctrl-C stops everything.",
        f"  console:   http://{host}:{port}/",
        f"  public:    http://{host}:{port}/status  (feeds: /feed.rss /feed.atom /feed.json /cap/index.atom)",
        f"  database:  {settings['DATABASE_URL'].split('@')[-1]}",
        f"  redis:     {'private, ' if redis else ''}{settings['REDIS_URL'].split('@')[-1]}",
        f"  providers: {'sandbox, inbox at ' + sandbox_url + '/' if sandbox_url else 'real (CRISISCAST_SANDBOX=off)'}",
    ]
    if password:
        lines.append(f"  first sign-in: admin / {password}   (one-time: shown only now; change it under Users)")
    print("\n".join(lines) + "\n", flush=True)


def _wait(processes) -> int:
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while stopping["signal"] is None:
        for process in processes:
            if process.poll() is not None:
                print(f"{process.name} exited with {process.returncode}; stopping everything.", flush=True)
                return process.returncode or 1
        time.sleep(0.3)
    print("\nstopping…", flush=True)
    return 0


def _stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
