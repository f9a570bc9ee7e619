"""The README's run command: the whole product in separate processes, publishing end to end, Ctrl-C, the
README's operator commands run beside it, and what it says when it cannot start."""
import html
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import psutil
import pytest
import redis
import requests

import config
from dev.redis_server import free_port
from tests.support.faultkit import wait_for_http, wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Product:
    """A running `./run`: its process, URLs, environment and output (a file: a full pipe would stall it)."""

    process: subprocess.Popen
    web: str
    sandbox: str
    env: dict
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def dev_environment(instance: Path, **changes) -> dict:
    """The environment of a dev run on free ports with its instance folder at `instance`."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(PORT=str(free_port()), SANDBOX_PORT=str(free_port()), CRISISCAST_INSTANCE=str(instance),
               CRISISCAST_ADMIN_PASSWORD="first sign-in on call", PYTHONUNBUFFERED="1")
    return {**env, **changes}


@contextmanager
def running_product(instance: Path, log: Path):
    """A dev run (`python -m dev.devserver`) once its console and sandbox answer; Ctrl-C at the end."""
    env = dev_environment(instance)
    port, sandbox_port = env["PORT"], env["SANDBOX_PORT"]
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "dev.devserver"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/login", timeout=180)  # migrations and gunicorn, on a busy machine
        wait_for_http(f"http://127.0.0.1:{sandbox_port}/", timeout=180)
        yield Product(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}", env, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # as Ctrl-C: it stops what it started
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def product(tmp_path):
    with running_product(tmp_path / "instance", tmp_path / "run.log") as running:
        yield running


def _accepted(sandbox):
    return requests.get(f"{sandbox}/_sandbox/requests", timeout=10).json()


def form_token(session, url):
    return re.search(r'name="csrf_token" value="([^"]+)"', session.get(url).text).group(1)


def test_run_command_serves_publishes_through_the_worker_and_stops_on_ctrl_c(product):
    process, web, sandbox = product.process, product.web, product.sandbox
    browser = requests.Session()
    browser.post(f"{web}/login", data={"username": "admin", "password": "first sign-in on call",
                                       "csrf_token": form_token(browser, f"{web}/login")})
    page = browser.get(f"{web}/updates/new").text
    form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "uid": re.search(r'name="uid" value="([0-9a-f]{12})"', page).group(1),
            "incident": "Drill", "er_access": "open", "operating_status": "normal",
            "headline": "Drill: all services normal", "body": "", "channels": ["x", "facebook", "feed"]}
    preview = browser.post(f"{web}/updates/new", data={**form, "action": "preview"}).text
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    published = browser.post(f"{web}/updates/new", data={**form, "action": "publish", "digest": digest})
    assert published.status_code == 200 and "Published." in published.text

    # Each channel is its own job: wait for every one of them, the feed included, not for the first to finish.
    wait_until(lambda: "Drill: all services normal" in requests.get(f"{web}/feed.rss", timeout=10).text,
               timeout=120, what="the update in /feed.rss")
    wait_until(lambda: len(_accepted(sandbox)) >= 2, timeout=120, what="X and Facebook sent")
    assert sorted(r["provider"] for r in _accepted(sandbox)) == ["graph", "x"]
    assert_private(Path(product.env["CRISISCAST_INSTANCE"]))

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C at a terminal does: the whole foreground group
    process.wait(60)
    output = product.output()
    assert process.returncode == 0, output
    assert "crisiscast is running" in output and "stopping" in output
    assert "could not connect to Redis" not in output and "Traceback" not in output, output
    for url in (f"{web}/login", f"{sandbox}/"):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=1)
    assert (Path(product.env["CRISISCAST_INSTANCE"]) / "crisiscast.db").exists()


def assert_private(instance: Path) -> None:
    """The dev run's Redis wants its password, and its database and secret key are for its owner's eyes only."""
    redis_url = json.loads((instance / config.DEV_RUN_FILE).read_text())["settings"]["REDIS_URL"]
    assert redis.Redis.from_url(redis_url).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url("redis://" + redis_url.split("@", 1)[1]).ping()
    for name in ("crisiscast.db", "secret_key", config.DEV_RUN_FILE):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600, name


def test_a_dev_run_killed_outright_leaves_nothing_running(product):
    """kill -9 gives the devserver no chance to clean up: its children must go by themselves."""
    process = product.process
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 4  # Redis, the sandbox, the worker, gunicorn (and their own children)
    process.kill()
    process.wait()
    _, alive = psutil.wait_procs(children, timeout=90)
    assert alive == []


def flask_command(env: dict, *args: str) -> subprocess.CompletedProcess:
    """A README operator command, run as an operator would beside the dev run (same instance folder)."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "crisiscast.web", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_readmes_operator_commands_work_beside_the_dev_run(product):
    upgraded = flask_command(product.env, "db", "upgrade")
    assert upgraded.returncode == 0 and "database is up to date" in upgraded.stdout, upgraded.stderr
    created = flask_command(product.env, "users", "create", "jane", "--role", "author")
    assert created.returncode == 0 and "created jane (author)" in created.stdout, created.stderr
    password = re.search(r"one-time password: (\S+)", created.stdout).group(1)
    listed = flask_command(product.env, "users", "list")
    assert re.search(r"jane\s+author\s+active", listed.stdout), listed.stderr
    reconciled = flask_command(product.env, "reconcile")
    assert product.process.poll() is None, product.output()
    assert reconciled.returncode == 0, reconciled.stderr + product.output()
    assert re.search(r"\d+ claims expired, .* settled", reconciled.stdout), reconciled.stdout

    # The same product: jane signs in to the running console, which saw the command's pass in its Redis.
    browser = requests.Session()
    browser.post(f"{product.web}/login", data={"username": "jane", "password": password,
                                               "csrf_token": form_token(browser, f"{product.web}/login")})
    dashboard = " ".join(browser.get(f"{product.web}/").text.split())
    assert re.search(r'<tr id="recovery-health">.*?state-sent">ok<.*?Last pass \d+ s ago', dashboard), dashboard


def test_operator_commands_say_what_to_set_when_no_dev_run_is_there(product):
    os.killpg(product.process.pid, signal.SIGINT)
    product.process.wait(60)
    assert not (Path(product.env["CRISISCAST_INSTANCE"]) / config.DEV_RUN_FILE).exists()  # removed on stop
    reconciled = flask_command(product.env, "reconcile")
    assert reconciled.returncode != 0 and "Traceback" not in reconciled.stderr
    assert "REDIS_URL is not set. Set it to the Redis your workers use" in reconciled.stderr


def banner(product: Product) -> str:
    """The dev run's banner: its output once the blank line that ends the banner is there."""
    return wait_until(lambda: re.search(r"(?s).*crisiscast is running.*?\n\n", product.output()),
                      timeout=120, what=product.output).group(0)


def started_by(instance: Path) -> list[psutil.Process]:
    """Processes that a dev run with this instance folder started and left behind (they inherit its environment)."""
    found = []
    for candidate in psutil.process_iter():
        try:
            if candidate.environ().get("CRISISCAST_INSTANCE") == str(instance):
                found.append(candidate)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.mark.parametrize("setting", ["PORT", "SANDBOX_PORT"])
def test_a_taken_port_stops_the_dev_run_before_it_starts_anything(tmp_path, setting):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "dev.devserver"], cwd=ROOT, capture_output=True,
                              text=True, env=dev_environment(tmp_path, **{setting: str(taken)}), timeout=120)
    assert done.returncode != 0
    assert f"Port {taken} ({setting}) on 127.0.0.1 is taken" in done.stderr, done.stderr
    assert f"choose another port, for example: {setting}=" in done.stderr
    assert "running" not in done.stdout + done.stderr
    assert started_by(tmp_path) == [] and not (tmp_path / "crisiscast.db").exists()


def test_the_instance_file_wins_over_the_dev_runs_own_defaults(tmp_path):
    (tmp_path / "crisiscast.cfg").write_text('ORG_NAME = "Instance Test Hospital"\n'
                                             'PUBLIC_BASE_URL = "https://status.example.test"\n'
                                             'TWILIO_AUTH_TOKEN = "a real token"\n')
    with running_product(tmp_path, tmp_path / "run.log") as product:
        feed = requests.get(f"{product.web}/feed.rss", timeout=10).text
        shown = banner(product)
    assert "<title>Instance Test Hospital: status updates</title>" in feed, feed
    assert "<link>https://status.example.test" in feed, feed
    assert "links in feeds, CAP and texts point at PUBLIC_BASE_URL = https://status.example.test" in shown, shown
    # With the sandbox on, it stands in for the real provider and says so (the token itself is never shown).
    assert "the sandbox stands in for your TWILIO_AUTH_TOKEN; CRISISCAST_SANDBOX=off uses them" in shown, shown
    assert "a real token" not in shown


def test_the_sandbox_inbox_shows_a_reply_as_the_phone_would(product):
    sandbox = product.sandbox
    answer = requests.post(f"{sandbox}/_sandbox/inbound", json={"from": "+15125550123", "body": "JOIN"},
                           timeout=30).json()
    assert answer["status"] == 200, answer
    shown = ElementTree.fromstring(answer["reply"]).find("Message").text  # TwiML, as the console answered
    assert "Crisiscast Hospital" in shown
    inbox = requests.get(f"{sandbox}/", timeout=10).text
    assert f"→ reply (200): {html.escape(shown)}</li>" in inbox, inbox
    assert "&lt;Response&gt;" not in inbox and "&lt;Message&gt;" not in inbox


def test_a_weak_first_admin_password_stops_the_dev_run_with_the_reason(settings):
    from dev import devserver

    with pytest.raises(config.SettingsError) as exc:
        devserver._ensure_admin(settings.replace(CRISISCAST_ADMIN_PASSWORD="admin123"))
    assert str(exc.value) == "CRISISCAST_ADMIN_PASSWORD: Use at least 12 characters."
    assert devserver._ensure_admin(settings.replace(CRISISCAST_ADMIN_PASSWORD="first sign-in on call")) is None


def test_a_ctrl_c_before_the_banner_stops_the_run_even_when_started_as_a_background_job(tmp_path):
    """A shell starts a background job with SIGINT ignored; a Ctrl-C that came before the run had set up its
    handler (it used to, only once the banner was up) was lost, and the run kept going."""
    ignoring = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 - as `cmd &` in a script
    with open(tmp_path / "run.log", "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "dev.devserver"], cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT, env=dev_environment(tmp_path / "instance"),
                                   start_new_session=True, preexec_fn=ignoring)
    try:
        wait_until(lambda: psutil.Process(process.pid).children(), timeout=120, what="the run starting its parts")
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    wait_until(lambda: started_by(tmp_path / "instance") == [], timeout=60, what="every part of the run stopped")
