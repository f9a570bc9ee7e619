"""The README's run command: the whole product in separate processes, publishing end to end, Ctrl-C, and the
README's operator commands run beside it."""
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

import config
from crisiscast.faultkit import wait_for_http, wait_until
from crisiscast.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def product(tmp_path):
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(PORT=str(port), SANDBOX_PORT=str(sandbox_port), CRISISCAST_INSTANCE=str(tmp_path / "instance"),
               CRISISCAST_ADMIN_PASSWORD="first admin password", PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "crisiscast.devserver"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/login", timeout=180)  # migrations and gunicorn, on a busy machine
        wait_for_http(f"http://127.0.0.1:{sandbox_port}/", timeout=180)
        yield Product(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}", env, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # as Ctrl-C: it stops what it started
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _accepted(sandbox):
    return requests.get(f"{sandbox}/_sandbox/requests", timeout=10).json()


def form_token(session, url):
    return re.search(r'name="csrf_token" value="([^"]+)"', session.get(url).text).group(1)


def test_run_command_serves_publishes_through_the_worker_and_stops_on_ctrl_c(product):
    process, web, sandbox = product.process, product.web, product.sandbox
    browser = requests.Session()
    browser.post(f"{web}/login", data={"username": "admin", "password": "first admin password",
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
