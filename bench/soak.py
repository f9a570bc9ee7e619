"""Soak run: a long code (1 msg/s) sending small updates for a long time, with lookups, through real workers.

    .venv/bin/python bench/soak.py --minutes 30
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/soak.py --minutes 30

Publishes a small SMS update every --publish-every seconds; the sandbox leaves a share of Twilio calls
unanswered (half never created, half created but the answer lost), so sends go in doubt and the workers'
reconcilers look them up. Every minute prints Redis's clients, each worker's RSS and Redis connections,
messages accepted and recipients in doubt; at the end whether connections and memory stayed flat, as
ratios to the first minute (the anchor). Asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import requests
from redis import Redis
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_database  # noqa: E402

import config  # noqa: E402
from crisiscast import jobs  # noqa: E402
from crisiscast.core.domain import Draft  # noqa: E402
from crisiscast.runtime import Runtime  # noqa: E402
from crisiscast.sandbox import product_settings  # noqa: E402
from crisiscast.services import accounts, publishing
from crisiscast.store.db import migrate  # noqa: E402
from crisiscast.store.models import AuditEvent, Delivery, SmsRecipient  # noqa: E402
from dev.redis_server import PrivateRedis, free_port  # noqa: E402
from tests.support import faultkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--recipients", type=int, default=5, help="subscribers each update goes to")
    parser.add_argument("--publish-every", type=float, default=15, help="seconds between updates")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of Twilio calls left unanswered")
    args = parser.parse_args()

    redis = PrivateRedis()
    sandbox_port = free_port()
    sandbox_settings = {"status_callbacks": False,
                        "faults": {"twilio": {"rate": args.fault_rate, "kinds": ["timeout", "lost"]}}}
    sandbox = subprocess.Popen([sys.executable, "-m", "crisiscast.sandbox", "--port", str(sandbox_port),
                                "--latency-ms", "50", "--timeout-seconds", "4", "--settings",
                                json.dumps(sandbox_settings)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    database_url, cleanup = bench_database("crisiscast_soak")
    # The product's defaults (1 msg/s, 16 threads, 120 s leases, a pass every 15 s) but a 2 s provider timeout,
    # so that a call the sandbox leaves unanswered is in doubt soon.
    settings = config.load("production", environ={}, SECRET_KEY="bench", DATABASE_URL=database_url,
                           REDIS_URL=redis.url, QUEUE_NAME="soak", PROVIDER_TIMEOUT=2.0,
                           **product_settings(sandbox_url))
    migrate(database_url)
    pool = faultkit.WorkerPool(settings)
    runtime = Runtime(settings)
    try:
        faultkit.wait_for_http(sandbox_url + "/_sandbox/stats")
        with runtime.sessions() as session:
            numbers = faultkit.add_subscribers(session, args.recipients)
            author = accounts.create_user(session, "bench", "bench password", "author", actor="bench")
        pool.start(args.workers)
        soak = Soak(runtime, settings, pool, sandbox_url, author)
        rows = soak.run(max(1, args.minutes), args.publish_every)
        settled = soak.settle(timeout=600)
        verdict(rows, soak, numbers, settled)
    finally:
        pool.stop()
        sandbox.terminate()
        redis.stop()
        runtime.close()
        cleanup()


class Soak:
    """The publishing loop and the minute-by-minute figures."""

    def __init__(self, runtime, settings, pool, sandbox_url: str, author):
        self.runtime, self.settings, self.pool, self.sandbox_url = runtime, settings, pool, sandbox_url
        self.author = author
        self.queue = jobs.make_queue(settings)
        self.redis: Redis = self.queue.connection
        self.redis_port = int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0])
        self.published = 0

    def run(self, minutes: int, every: float) -> list[dict]:
        """Publish every `every` seconds for `minutes`, a row of figures at the end of each minute."""
        started = time.monotonic()
        next_publish, next_minute, rows = started, started + 60, []
        print(f"{'min':>4} {'redis clients':>13} {'throttle':>8} {'worker conns':>12} {'worker RSS MB':>14} "
              f"{'sent':>6} {'in doubt':>8} {'ever':>5} {'updates':>7}", flush=True)
        while len(rows) < minutes:
            if time.monotonic() >= next_publish:
                self.publish()
                next_publish += every
            if time.monotonic() >= next_minute:
                rows.append(self.sample(len(rows) + 1))
                next_minute += 60
            self.pool.replace_dead()
            time.sleep(0.5)
        return rows

    def publish(self) -> None:
        self.published += 1
        draft = Draft(incident="Soak", er_access="open", operating_status="normal",
                      headline=f"Reminder {self.published}", body=f"Blood drive reminder number {self.published}.",
                      channels=("sms",), lists=("public",))
        with self.runtime.sessions() as session:
            publishing.publish(session, draft, uid=publishing.new_uid(), author=session.merge(self.author),
                             settings=self.settings, channels=self.runtime.channels,
                             enqueue=lambda i, c: jobs.enqueue_delivery(self.queue, i, c))

    def sample(self, minute: int) -> dict:
        clients = self.redis.client_list()
        workers = [psutil.Process(p.pid) for p in self.pool.processes if p.poll() is None]
        stats = requests.get(self.sandbox_url + "/_sandbox/stats", timeout=30).json()
        with self.runtime.sessions() as session:
            in_doubt = session.scalar(select(func.count()).where(SmsRecipient.state == "in_doubt"))
            ever = session.scalar(select(func.count()).where(AuditEvent.outcome == "in_doubt"))
        row = {"minute": minute, "clients": len(clients),
               "throttle": sum(1 for c in clients if c["name"].startswith("crisiscast-throttle-")),
               "conns": [self.connections(w) for w in workers], "rss": [w.memory_info().rss for w in workers],
               "sent": stats["sms_accepted"], "in_doubt": in_doubt, "ever": ever, "updates": self.published}
        print(f"{minute:>4} {row['clients']:>13} {row['throttle']:>8} {'/'.join(map(str, row['conns'])):>12} "
              f"{'/'.join(f'{r / 2**20:.0f}' for r in row['rss']):>14} {row['sent']:>6} {in_doubt:>8} {ever:>5} "
              f"{self.published:>7}", flush=True)
        return row

    def connections(self, worker: psutil.Process) -> int:
        """The worker's TCP connections to Redis, its forked scheduler's included."""
        return sum(1 for p in [worker, *worker.children(recursive=True)] for c in p.net_connections(kind="tcp")
                   if c.raddr and c.raddr.port == self.redis_port and c.status == psutil.CONN_ESTABLISHED)

    def settle(self, timeout: float) -> bool:
        try:
            faultkit.wait_settled(self.runtime.sessions, timeout, on_tick=self.pool.replace_dead)
            return True
        except TimeoutError as exc:
            print(f"not settled: {exc}")
            return False


def verdict(rows: list[dict], soak: Soak, numbers: list[str], settled: bool) -> None:
    if not rows:
        print("ran under a minute: no figures")
        return
    anchor, last = rows[0], rows[-1]
    half = rows[len(rows) // 2:]
    accepted = requests.get(soak.sandbox_url + "/_sandbox/requests", params={"provider": "twilio"}, timeout=120).json()
    per_send = Counter((r["to"], r["body"]) for r in accepted)
    with soak.runtime.sessions() as session:
        states = Counter(session.scalars(select(Delivery.state)))
        reconciled = Counter(session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "reconcile")))
    print()
    print(f"minutes                {len(rows)}, {soak.published} updates to {len(numbers)} recipients each")
    print(f"deliveries             {dict(states)}{'' if settled else ' (NOT all settled)'}")
    print(f"messages               {len(accepted)} accepted, {len(per_send)} distinct sends, "
          f"{sum(n - 1 for n in per_send.values() if n > 1)} duplicates, "
          f"{soak.published * len(numbers) - len(per_send)} missing")
    print(f"recovery               {reconciled.get('in_doubt', 0)} claims expired, {reconciled.get('sent', 0)} found "
          f"by lookups, {reconciled.get('pending', 0)} not found and resent")
    mid = half[0]
    for label, figure, unit in (("Redis clients", lambda r: r["clients"], ""),
                                ("worker connections", lambda r: sum(r["conns"]), ""),
                                ("worker RSS", lambda r: sum(r["rss"]) / 2**20, " MB")):
        first, middle, end = figure(anchor), figure(mid), figure(last)
        print(f"{label:<22} {first:.0f}{unit} -> {end:.0f}{unit}: x{end / first:.2f} of minute 1, "
              f"x{end / middle:.2f} over the second half (most {max(figure(r) for r in rows):.0f}{unit})")
    # Flat: the second half grows no further than noise, whatever warming up did in the first minutes.
    flat_conns = max(r["clients"] for r in half) <= max(r["clients"] for r in rows[:len(rows) // 2 or 1]) + 2
    flat_rss = sum(last["rss"]) <= sum(mid["rss"]) * 1.05
    print(f"verdict                connections {'flat' if flat_conns else 'GROWING'}, "
          f"memory {'flat' if flat_rss else 'GROWING'}, {'settled' if settled else 'NOT SETTLED'}")

if __name__ == "__main__":
    main()
