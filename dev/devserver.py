"""The whole product on one machine (what `./run` starts): private Redis, sandbox, migrations, worker, web.

It checks its ports before starting anything and says "running" only once the console answers.
Ctrl-C (or SIGTERM) stops every process it started; so does any of them exiting.
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import config
from crisiscast.core.domain import ValidationError
from crisiscast.sandbox import product_settings
from crisiscast.services import accounts
from crisiscast.settings import Settings
from crisiscast.store.db import make_engine, migrate, session_factory
from dev.processes import die_with_parent
from dev.redis_server import PrivateRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 120  # the first start on a slow machine: migrations, then gunicorn importing the app
# What an operator's command run beside the dev run needs to reach the same product (see config.DEV_RUN_FILE).
_SHARED = ("REDIS_URL", "DATABASE_URL", "QUEUE_NAME", "PUBLIC_BASE_URL", "PUBLIC_DIR")


# Set by Ctrl-C (SIGINT) or SIGTERM from the moment main() starts; the run stops at the next check.
_STOP: dict = {"signal": None}


def _on_stop_signal(signum, _frame) -> None:
    _STOP["signal"] = signum


def main() -> int:
    # First of all: a Ctrl-C that comes before the banner must stop the run too. A process started as a shell's
    # background job begins with SIGINT ignored, so without this such a Ctrl-C was lost.
    signal.signal(signal.SIGINT, _on_stop_signal)
    signal.signal(signal.SIGTERM, _on_stop_signal)
    os.environ.setdefault("CRISISCAST_ENV", "development")
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "5000")
    sandbox_port = os.environ.get("SANDBOX_PORT", "5050") if _sandbox_on() else None
    taken = _taken_port([("PORT", host, port), ("SANDBOX_PORT", "127.0.0.1", sandbox_port)])
    if taken:
        print(taken, file=sys.stderr, flush=True)
        return 2
    # ./run's own defaults sit beneath the instance file and the environment: what the user set wins.
    settings = config.load(defaults={"PUBLIC_BASE_URL": f"http://{host}:{port}"})
    processes: list[subprocess.Popen] = []
    redis = dev_run = None
    try:
        if not settings.REDIS_URL:
            redis = PrivateRedis()
            settings = settings.replace(REDIS_URL=redis.url)
        sandbox_url, set_aside = None, []
        if sandbox_port:
            sandbox_url = f"http://127.0.0.1:{sandbox_port}"
            processes.append(_start("sandbox", [sys.executable, "-m", "crisiscast.sandbox", "--port", sandbox_port,
                                                "--inbound-url", f"http://{host}:{port}/webhooks/twilio/sms"]))
            settings, set_aside = _point_at_sandbox(settings, sandbox_url)
        migrate(settings.DATABASE_URL)
        password = _ensure_admin(settings)
        dev_run = config.write_dev_run(config.INSTANCE, {k: getattr(settings, k) for k in _SHARED + tuple(
            product_settings(sandbox_url) if sandbox_url else ())})
        # The children load exactly these settings: the environment beats the instance file there too.
        environment = {**os.environ, **settings.as_environment()}
        processes.append(_start("worker", [sys.executable, "worker.py"], environment))
        processes.append(_start("web", [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"{host}:{port}",
                                        "--worker-class", "gthread", "--workers", "2", "--threads", "8",
                                        "--access-logfile", "-", "--log-level", "warning"], environment))
        urls = [f"http://{host}:{port}/login"] + ([f"{sandbox_url}/"] if sandbox_url else [])
        failure = _not_answering(processes, urls)
        if failure:
            print(f"{failure}; stopping everything.", file=sys.stderr, flush=True)
            return 1
        if _STOP["signal"] is None:
            _banner(Banner(host, port, settings, password, sandbox_url, redis is not None, set_aside))
        return _wait(processes)
    finally:
        _stop(processes)
        if dev_run is not None:
            dev_run.unlink(missing_ok=True)
        if redis is not None:
            redis.stop()


def _sandbox_on() -> bool:
    return os.environ.get("CRISISCAST_SANDBOX", "on").lower() not in {"off", "0", "no", "false"}


def _taken_port(ports: list[tuple[str, str, str | None]]) -> str | None:
    """Why ./run cannot have one of its (setting, host, port)s, naming the setting to change; None if all free."""
    seen: dict[str, str] = {}
    for setting, host, port in ports:
        if port is None:
            continue
        if not port.isdigit() or not 0 < int(port) < 65536:
            return f"{setting}={port!r} is not a port number (1 to 65535). Nothing was started."
        if port in seen:
            return f"{seen[port]} and {setting} are both {port}. Nothing was started: set {setting} to another port."
        seen[port] = setting
        with socket.socket() as probe:
            # As gunicorn and aiohttp do, so that a port left in TIME_WAIT by the last run counts as free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, int(port)))
            except OSError as exc:
                return (f"Port {port} ({setting}) on {host} is taken: {exc.strerror}. Nothing was started. "
                        f"Stop what listens there, or choose another port, for example: {setting}={free_port()} ./run")
    return None


def _point_at_sandbox(settings: Settings, sandbox_url: str) -> tuple[Settings, list[str]]:
    """The settings with every provider pointed at the sandbox, and which of the user's own values that sets aside."""
    sandbox = product_settings(sandbox_url)
    set_aside = sorted(k for k, v in sandbox.items()
                       if getattr(settings, k) not in (v, Settings.model_fields[k].default))
    return settings.replace(**sandbox), set_aside


def _not_answering(processes: list[subprocess.Popen], urls: list[str]) -> str | None:
    """Wait until every url answers HTTP; why not, if a child exits first or time runs out."""
    deadline = time.monotonic() + READY_SECONDS
    for url in urls:
        while not _answers(url) and _STOP["signal"] is None:
            exited = next((p for p in processes if p.poll() is not None), None)
            if exited is not None:
                return f"{exited.name} exited with {exited.returncode} before {url} answered"
            if time.monotonic() > deadline:
                return f"{url} did not answer within {READY_SECONDS} s"
            time.sleep(0.2)
    return None


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True  # an HTTP error status is still an answer
    except (OSError, http.client.HTTPException):
        return False
    return True


def _start(name: str, argv: list[str], environment: dict | None = None) -> subprocess.Popen:
    process = subprocess.Popen(argv, cwd=ROOT, env=environment, start_new_session=True, preexec_fn=die_with_parent)
    process.name = name
    return process


def _ensure_admin(settings) -> str | None:
    engine = make_engine(settings.DATABASE_URL)
    try:
        with session_factory(engine)() as session:
            return accounts.ensure_admin(session, settings.CRISISCAST_ADMIN_PASSWORD or None)
    except ValidationError as exc:  # a weak CRISISCAST_ADMIN_PASSWORD: say so, as for any bad setting
        raise config.SettingsError(f"CRISISCAST_ADMIN_PASSWORD: {exc.errors['password']}") from None
    finally:
        engine.dispose()


@dataclass
class Banner:
    """What the dev run tells its user once the console answers."""

    host: str
    port: str
    settings: Settings
    password: str | None
    sandbox_url: str | None
    private_redis: bool
    set_aside: list[str]


def _banner(b: Banner) -> None:
    settings, local = b.settings, f"http://{b.host}:{b.port}"
    providers = f"sandbox, inbox at {b.sandbox_url}/" if b.sandbox_url else "real (CRISISCAST_SANDBOX=off)"
    lines = [
        "", "crisiscast is running. Ctrl-C stops everything.",
        f"  console:   {local}/",
        f"  public:    {local}/status  (feeds: /feed.rss /feed.atom /feed.json /cap/index.atom)",
        f"  database:  {settings.DATABASE_URL.split('@')[-1]}",
        f"  redis:     {'private, ' if b.private_redis else ''}{settings.REDIS_URL.split('@')[-1]}",
        f"  providers: {providers}",
        f"  settings:  {config.INSTANCE / 'crisiscast.cfg'}, then the environment (README: Where settings come from)",
    ]
    if settings.PUBLIC_BASE_URL.rstrip("/") != local:
        lines.append(f"  links in feeds, CAP and texts point at PUBLIC_BASE_URL = {settings.PUBLIC_BASE_URL}")
    if b.set_aside:
        lines.append(f"  the sandbox stands in for your {', '.join(b.set_aside)}; CRISISCAST_SANDBOX=off uses them")
    if b.password:
        lines.append(f"  first sign-in: admin / {b.password}   (one-time: shown only now; change it on your account "
                     "page, 'admin' in the header)")
    print("\n".join(lines) + "\n", flush=True)


def _wait(processes) -> int:
    while _STOP["signal"] is None:
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
    try:
        sys.exit(main())
    except config.SettingsError as exc:
        sys.exit(str(exc))
    except KeyboardInterrupt:  # Ctrl-C before the banner: what was started is already stopped
        sys.exit(130)
