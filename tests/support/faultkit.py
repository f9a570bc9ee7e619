"""What the tests and benchmarks share: worker processes to kill, subscribers in bulk, waiting for things.

Not used by the product itself.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import insert, select

from crisiscast.core.domain import DeliveryState
from crisiscast.store.models import Delivery, Subscriber, SubscriberList, Subscription, utcnow

ROOT = Path(__file__).resolve().parents[2]


class WorkerPool:
    """`python worker.py` processes with the given settings, which can be killed and replaced."""

    def __init__(self, settings: dict, **overrides):
        self.env = {**os.environ, **settings.as_environment(),
                    **{k: str(v) for k, v in overrides.items()}}
        self.processes: list[subprocess.Popen] = []
        self.log = Path(self.env.get("FAULTKIT_LOG", os.devnull))

    def start(self, count: int) -> None:
        for _ in range(count):
            with open(self.log, "a") as log:
                # Its own process group: RQ forks a scheduler per worker, and a crash takes both.
                self.processes.append(subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=self.env,
                                                       stdout=log, stderr=subprocess.STDOUT,
                                                       start_new_session=True))

    def kill9(self) -> int:
        """SIGKILL every worker, as a crashed host would: no cleanup of any kind."""
        alive = [p for p in self.processes if p.poll() is None]
        for process in alive:
            os.killpg(process.pid, signal.SIGKILL)
        for process in alive:
            process.wait()
        self.processes = []
        return len(alive)

    def replace_dead(self) -> int:
        """Start a new worker for each that exited, as a process supervisor does; how many were replaced."""
        dead = [p for p in self.processes if p.poll() is not None]
        for process in dead:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # its scheduler, if it outlived it
            except ProcessLookupError:
                pass
        self.processes = [p for p in self.processes if p.poll() is None]
        self.start(len(dead))
        return len(dead)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes = []


def wait_until(condition, timeout: float = 60, what=""):
    """Poll `condition` until it returns something true, and return that; TimeoutError after `timeout` s.

    `what` (text, or a function giving it) says what was awaited, with any detail worth seeing on failure.
    Tests wait for what they need, never for a time: the deadline is only there to fail instead of hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout:.0f}s: {what() if callable(what) else what or condition}")
        time.sleep(0.05)


def wait_for_http(url: str, timeout: float = 60) -> None:
    """Wait until something answers HTTP at `url` (any status)."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still booting its workers
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not come up within {timeout:.0f}s")


def add_subscribers(session, count: int, list_name: str = "public", first: int = 5_550_000) -> list[str]:
    """`count` active subscribers on `list_name`, inserted in bulk; their numbers."""
    list_id = session.scalar(select(SubscriberList.id).where(SubscriberList.name == list_name))
    numbers = [f"+1512{first + i:07d}" for i in range(count)]
    for start in range(0, count, 5000):
        chunk = numbers[start:start + 5000]
        ids = session.execute(insert(Subscriber).returning(Subscriber.id),
                              [{"phone": n, "name": "", "active": True, "created_at": utcnow()} for n in chunk])
        session.execute(insert(Subscription), [{"subscriber_id": i, "list_id": list_id, "created_at": utcnow()}
                                               for i in ids.scalars().all()])
    session.commit()
    return numbers


def wait_settled(sessions, timeout: float, on_tick=None) -> float:
    """Wait until every delivery is final; the seconds it took. Raises TimeoutError with what is left."""
    started = time.monotonic()
    while True:
        with sessions() as session:
            moving = session.execute(select(Delivery.channel, Delivery.state)
                                     .where(Delivery.state.not_in(DeliveryState.FINAL))).all()
        if not moving:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"still moving after {timeout:.0f}s: {moving}")
        if on_tick:
            on_tick()
        time.sleep(0.25)


def tally(accepted: list[dict], numbers: list[str]) -> dict:
    """Lost, duplicated and delivered-once counts of SMS accepted at the sandbox, against the subscribers."""
    seen = Counter(r["to"] for r in accepted)
    ours = set(numbers)
    return {"once": sum(1 for n in numbers if seen[n] == 1), "lost": sum(1 for n in numbers if seen[n] == 0),
            "duplicated": sum(1 for n in numbers if seen[n] > 1), "strangers": sum(1 for n in seen if n not in ours)}
