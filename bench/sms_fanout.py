"""SMS fan-out at the provider's limit with delivery receipts on, beside a bare client on the same sandbox.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/sms_fanout.py --runs 3
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/sms_fanout.py --subscribers 100000

The sandbox answers after --latency-ms and refuses (429, 20429) past --concurrency requests in flight, so the
ceiling is concurrency / latency messages per second. Each run: (a) the anchor, a bare aiohttp client posting
the same number of Messages.json requests at that concurrency (no database, audit, throttle or callbacks);
then (b) crisiscast: the console's publish request over HTTP to gunicorn, real worker processes, the throttle
(its sender rate raised to the ceiling), the database and the audit log, with status callbacks on, which the
sandbox posts (sent, delivered: two per message) to the same gunicorn, signature-checked and stored.
Prints figures; asserts nothing about time.
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_database  # noqa: E402
from fanout_parts import Console, Gauge, anchor  # noqa: E402

import config  # noqa: E402
from crisiscast.sandbox import product_settings  # noqa: E402
from crisiscast.services import accounts  # noqa: E402
from crisiscast.store.db import make_engine, migrate, session_factory  # noqa: E402
from crisiscast.store.models import Delivery, SmsReceipt  # noqa: E402
from dev.redis_server import PrivateRedis, free_port  # noqa: E402
from tests.support import faultkit  # noqa: E402

BODY = "Benchmark: ER open. Blood donors needed."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=50, help="SMS_WORKER_THREADS per worker")
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--callbacks-wait", type=float, default=300,
                        help="seconds to wait for the last callbacks once the delivery is final")
    args = parser.parse_args()
    args.logs = Path(tempfile.mkdtemp(prefix="crisiscast-bench-logs-"))
    # A run stopped from outside (timeout, kill) still ends the sandbox, gunicorn and the workers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.ceiling = args.concurrency / (args.latency_ms / 1000)
    redis = None if os.environ.get("REDIS_URL") else PrivateRedis()
    args.redis_url = os.environ.get("REDIS_URL") or redis.url
    port = free_port()
    args.sandbox_url = f"http://127.0.0.1:{port}"
    sandbox = subprocess.Popen([sys.executable, "-m", "crisiscast.sandbox", "--port", str(port), "--latency-ms",
                                str(args.latency_ms), "--concurrency", str(args.concurrency)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(args.logs / "sandbox.log", "w"))
    try:
        faultkit.wait_for_http(args.sandbox_url + "/_sandbox/stats")
        args.sandbox_pid = sandbox.pid
        header(args)
        results = []
        for number in range(1, args.runs + 1):
            print(f"\nrun {number} of {args.runs}")
            results.append(one_run(args))
            show(results[-1], args)
        if len(results) > 1:
            summary(results)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        if redis:
            redis.stop()


def header(args) -> None:
    database = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgresql") else "SQLite"
    print(f"{args.subscribers} recipients on {database}; sandbox {args.latency_ms:.0f} ms latency, 429 past "
          f"{args.concurrency} in flight: ceiling {args.ceiling:.0f} msg/s")
    print(f"crisiscast: {args.workers} workers x {args.threads} threads, batches of {args.batch_size}, "
          f"SMS_SENDER_RATE raised to the ceiling ({args.ceiling:.0f}/s); gunicorn gthread 2 x 8 takes the callbacks")


def one_run(args) -> dict:
    """One anchor run and one crisiscast run, on a fresh database and fresh processes."""
    database_url, cleanup = bench_database("crisiscast_bench")
    instance = tempfile.mkdtemp(prefix="crisiscast-bench-")
    web_port = free_port()
    env = {**os.environ, **product_settings(args.sandbox_url), "DATABASE_URL": database_url,
           "REDIS_URL": args.redis_url, "CRISISCAST_ENV": "production", "CRISISCAST_INSTANCE": instance,
           "PUBLIC_DIR": f"{instance}/public", "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
           "QUEUE_NAME": "bench", "SECRET_KEY": secrets.token_hex(32), "SMS_SENDER_RATE": str(args.ceiling),
           "SMS_MAX_CONCURRENCY": str(args.concurrency), "SMS_WORKER_THREADS": str(args.threads),
           "SMS_BATCH_SIZE": str(args.batch_size), "PROVIDER_TIMEOUT": "10", "RETRY_BASE_SECONDS": "0.2"}
    processes = []
    try:
        migrate(database_url)
        settings = config.load("production", environ=env)
        seed(settings, args.subscribers)
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "2",
                                "--threads", "8", "--bind", f"127.0.0.1:{web_port}", "wsgi:app"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=open(args.logs / f"gunicorn-{web_port}.log", "w"))
        processes.append(web)
        args.web_log = args.logs / f"gunicorn-{web_port}.log"
        faultkit.wait_for_http(f"http://127.0.0.1:{web_port}/login")
        result = {"load_before": os.getloadavg()}
        reset(args.sandbox_url)
        result["anchor_s"] = anchor(args.sandbox_url, args.subscribers, args.concurrency, BODY)
        result["anchor_stats"] = requests.get(args.sandbox_url + "/_sandbox/stats", timeout=30).json()
        reset(args.sandbox_url)
        workers = [subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(args.workers)]
        processes += workers
        console = Console(f"http://127.0.0.1:{web_port}", "bench", "fan-out sandbox 7291")
        form = console.prepare("Benchmark", ["public"])
        wait_idle(settings, args.redis_url)
        result.update(fan_out(settings, console, form, workers, web, args))
        return result
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        cleanup()


def reset(sandbox_url: str) -> None:
    requests.post(sandbox_url + "/_sandbox/reset", timeout=30).raise_for_status()


def seed(settings, count: int) -> None:
    engine = make_engine(settings.DATABASE_URL)
    with session_factory(engine)() as session:
        accounts.create_user(session, "bench", "fan-out sandbox 7291", "author", actor="bench")
        faultkit.add_subscribers(session, count)
    engine.dispose()


def wait_idle(settings, redis_url: str) -> None:
    """Until every worker has registered with RQ (they have built their runtime and wait for jobs)."""
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + 120
    while len(Worker.all(connection=connection)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    connection.close()


def fan_out(settings, console: Console, form: dict, workers, web, args) -> dict:
    """Publish, watch the workers until the delivery is final, then wait for the callbacks to stop coming."""
    engine = make_engine(settings.DATABASE_URL)
    sessions = session_factory(engine)
    gauge = Gauge([w.pid for w in workers])
    web_gauge = Gauge([web.pid, *(c.pid for c in psutil.Process(web.pid).children())])
    sandbox_gauge = Gauge([args.sandbox_pid])
    published_at = time.time()
    publish_ms = console.publish(form)
    state, progress = "pending", Progress(args.sandbox_url, published_at, publish_ms)
    while state in ("pending", "sending"):
        gauge.sample()
        progress.show(gauge)
        with sessions() as session:
            state = session.scalar(select(Delivery.state).where(Delivery.channel == "sms"))
        time.sleep(0.1)
    finished_at, cpu = time.time(), gauge.used()
    posted, callbacks_at = wait_callbacks(args.sandbox_url, 2 * args.subscribers, args.callbacks_wait)
    applied_at = wait_applied(sessions, limit=120)  # the workers apply the kept receipts about once a second
    posted = callback_counts(args.sandbox_url)  # again, so that posted and stored are counted at one moment
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(SmsReceipt))
        waiting = session.scalar(select(func.count()).select_from(SmsReceipt).where(SmsReceipt.waiting))
    engine.dispose()
    return {"published_at": published_at, "publish_ms": publish_ms, "finished_at": finished_at, "state": state,
            "cpu_s": cpu, "cpu_all_s": gauge.used(), "peak_rss": gauge.peak_rss, "waiting": waiting,
            "applied_at": applied_at - published_at, "web_cpu_s": web_gauge.used(), "sandbox_cpu_s": sandbox_gauge.used(),
            "callbacks": posted,
            "stored": stored, "load_after": os.getloadavg(), "callbacks_at": callbacks_at - published_at,
            "web_restarts": args.web_log.read_text().count("WORKER TIMEOUT"),
            "accepted": requests.get(args.sandbox_url + "/_sandbox/requests", params={"provider": "twilio"},
                                     timeout=300).json(),
            "stats": requests.get(args.sandbox_url + "/_sandbox/stats", timeout=30).json()}


class Progress:
    """Lines printed while a long fan-out runs: the first SMS as soon as it is accepted, then every 30 s."""

    def __init__(self, sandbox_url: str, published_at: float, publish_ms: float):
        self.url, self.published_at, self.publish_ms = sandbox_url, published_at, publish_ms
        self.first_seen, self.next_at = False, time.monotonic() + 30

    def show(self, gauge: Gauge) -> None:
        if self.first_seen and time.monotonic() < self.next_at:
            return
        stats = requests.get(self.url + "/_sandbox/stats", timeout=30).json()
        if not self.first_seen and stats["first_at"]:
            self.first_seen = True
            print(f"  (publish request {self.publish_ms:.0f} ms; first SMS accepted "
                  f"{stats['first_at'] - self.published_at:.3f} s after publish)", flush=True)
        elif self.first_seen:
            self.next_at = time.monotonic() + 30
            print(f"  ({stats['sms_accepted']} accepted after {time.time() - self.published_at:.0f} s; peak worker "
                  f"RSS so far {gauge.peak_rss / 2**20:.0f} MB; load {os.getloadavg()[0]:.1f})", flush=True)


def wait_callbacks(sandbox_url: str, expected: int, limit: float) -> tuple[dict, float]:
    """The sandbox's callback counts by answer and when the last was counted: once all `expected` are posted,
    none came for 10 s, or `limit` seconds passed."""
    last, quiet_since, deadline = None, time.monotonic(), time.monotonic() + limit
    while True:
        posted = callback_counts(sandbox_url)
        if posted != last:
            last, quiet_since, at = posted, time.monotonic(), time.time()
        if sum(posted.values()) >= expected or time.monotonic() - quiet_since > 10 or time.monotonic() > deadline:
            return posted, at
        time.sleep(0.2)


def callback_counts(sandbox_url: str) -> dict:
    """The sandbox's status callbacks posted so far, by our answer ({"204": 19990, "error": 10})."""
    counters = requests.get(sandbox_url + "/_sandbox/stats", timeout=30).json()["counters"]
    return {k.removeprefix("twilio.callback_"): v for k, v in counters.items() if k.startswith("twilio.callback_")}


def wait_applied(sessions, limit: float) -> float:
    """When no kept receipt was waiting any more (or `limit` seconds passed)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with sessions() as session:
            if not session.scalar(select(func.count()).select_from(SmsReceipt).where(SmsReceipt.waiting)):
                break
        time.sleep(0.2)
    return time.time()


def figures(result: dict, args) -> dict:
    """The numbers one run prints."""
    n = args.subscribers
    at = sorted(r["at"] - result["published_at"] for r in result["accepted"])
    stats = result["stats"]
    posted = sum(result["callbacks"].values())
    span = at[-1] if at else float("nan")
    return {"anchor": n / result["anchor_s"], "rate": len(at) / span if at else 0.0,
            "first": at[0] if at else float("nan"), "p50": statistics.median(at) if at else float("nan"),
            "p99": at[max(0, int(len(at) * 0.99) - 1)] if at else float("nan"), "span": span,
            "cpu_ms": result["cpu_s"] * 1000 / max(1, len(at)),
            "cpu_all_ms": result["cpu_all_s"] * 1000 / max(1, len(at)), "rss_mb": result["peak_rss"] / 2**20,
            "web_cpu_ms": result["web_cpu_s"] * 1000 / max(1, posted),
            "sandbox_cpu_ms": result["sandbox_cpu_s"] * 1000 / max(1, len(at)), "posted": posted,
            "stored": result["stored"], "dropped": posted - result["stored"],
            "once": stats["sms_accepted"] == stats["sms_unique_recipients"] == n,
            "accepted": stats["sms_accepted"], "distinct": stats["sms_unique_recipients"],
            "anchor_once": result["anchor_stats"]["sms_accepted"] == n,
            "rejected": stats["counters"].get("twilio.rejected_concurrency", 0),
            "publish_ms": result["publish_ms"], "load": (*result["load_before"], *result["load_after"])}


def show(result: dict, args) -> None:
    f = figures(result, args)
    result["figures"] = f
    load = result["load_before"], result["load_after"]
    print(f"  anchor (bare aiohttp)   {f['anchor']:.0f} msg/s = {f['anchor'] / args.ceiling:.2f} of the ceiling"
          f"{'' if f['anchor_once'] else ' (MISMATCH in accepted count)'}")
    print(f"  crisiscast              {f['rate']:.0f} msg/s publish -> last accept ({f['span']:.2f} s); "
          f"ratio to the anchor {f['rate'] / f['anchor']:.2f}")
    print(f"  publish request         {f['publish_ms']:.0f} ms; first SMS accepted {f['first']:.3f} s after publish")
    print(f"  publish -> accepted     p50 {f['p50']:.2f} s, p99 {f['p99']:.2f} s")
    print(f"  worker CPU              {f['cpu_ms']:.2f} ms per message (user+sys, {args.workers} workers) until the "
          f"delivery was final; {f['cpu_all_ms']:.2f} ms with applying every receipt")
    print(f"  peak worker RSS         {f['rss_mb']:.0f} MB, {args.workers} workers together")
    print(f"  callbacks               {f['posted']} posted by the sandbox {result['callbacks']} (of "
          f"{2 * args.subscribers}; the last {result['callbacks_at']:.1f} s after publish), {f['stored']} stored, "
          f"{f['dropped']} dropped; gunicorn workers killed for timeout: {result['web_restarts']}")
    print(f"  receipts applied        all but {result['waiting']} waiting, {result['applied_at']:.1f} s after publish "
          f"(the workers apply what the web app kept)")
    print(f"  CPU elsewhere           web (gunicorn) {f['web_cpu_ms']:.2f} ms per callback; sandbox "
          f"{f['sandbox_cpu_ms']:.2f} ms per message with its callbacks")
    print(f"  accepted                {f['accepted']} messages, {f['distinct']} distinct numbers: "
          f"{'exactly one per number' if f['once'] else 'MISMATCH'}; {f['rejected']} 429s; delivery {result['state']}")
    print(f"  load average            {' '.join(f'{x:.2f}' for x in load[0])} before, "
          f"{' '.join(f'{x:.2f}' for x in load[1])} after (1/5/15 min, {os.cpu_count()} cores)")


def summary(results: list[dict]) -> None:
    rows = [r["figures"] for r in results]
    print("\nruns       " + " | ".join(f"{r['rate']:.0f} / {r['anchor']:.0f} msg/s = {r['rate'] / r['anchor']:.2f}"
                                       for r in rows))
    print("median ratio " + f"{statistics.median(r['rate'] / r['anchor'] for r in rows):.2f}; dropped callbacks "
          + ", ".join(str(r["dropped"]) for r in rows))


if __name__ == "__main__":
    main()
