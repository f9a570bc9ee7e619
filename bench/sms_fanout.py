"""SMS fan-out benchmark: publish one update to N subscribers and time it through real workers and the sandbox.

    .venv/bin/python bench/sms_fanout.py --subscribers 10000 --workers 2
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/sms_fanout.py --subscribers 100000

The sandbox answers after --latency-ms and refuses (429, 20429) past --concurrency requests in flight, so
the ceiling is concurrency / latency messages per second. Prints figures; asserts nothing about time.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_database  # noqa: E402

import config  # noqa: E402
from crisiscast.sandbox import product_settings  # noqa: E402
from crisiscast.services import accounts
from crisiscast.store.db import make_engine, migrate, session_factory  # noqa: E402
from crisiscast.store.models import Delivery  # noqa: E402
from dev.redis_server import PrivateRedis, free_port  # noqa: E402
from tests.support import faultkit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=50, help="SMS_WORKER_THREADS per worker")
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()

    redis = None if os.environ.get("REDIS_URL") else PrivateRedis()
    redis_url = os.environ.get("REDIS_URL") or redis.url
    database_url, cleanup = bench_database("crisiscast_bench")
    sandbox_port = free_port()
    sandbox = subprocess.Popen([sys.executable, "-m", "crisiscast.sandbox", "--port", str(sandbox_port),
                                "--latency-ms", str(args.latency_ms), "--concurrency", str(args.concurrency),
                                "--settings", '{"status_callbacks": false}'], cwd=ROOT, stdout=subprocess.DEVNULL)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    overrides = {**product_settings(sandbox_url), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                 "QUEUE_NAME": "bench", "SMS_SENDER_RATE": "100000", "SMS_MAX_CONCURRENCY": str(args.concurrency),
                 "SMS_WORKER_THREADS": str(args.threads), "SMS_BATCH_SIZE": str(args.batch_size),
                 "SECRET_KEY": "bench", "PROVIDER_TIMEOUT": "10", "RETRY_BASE_SECONDS": "0.2"}
    workers = []
    try:
        faultkit.wait_for_http(sandbox_url + "/_sandbox/stats")
        migrate(database_url)
        settings = config.load("production", environ={**os.environ, **overrides})
        seed(settings, args.subscribers)
        env = {**os.environ, **overrides, "CRISISCAST_ENV": "production"}
        workers = [subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(args.workers)]
        time.sleep(2)  # let the workers connect and idle before the clock starts
        report(run(settings, workers, sandbox_url), args, sandbox_url)
    finally:
        for process in [*workers, sandbox]:
            process.terminate()
        for process in [*workers, sandbox]:
            process.wait(10)
        if redis:
            redis.stop()
        cleanup()


def seed(settings, count: int) -> None:
    engine = make_engine(settings.DATABASE_URL)
    with session_factory(engine)() as session:
        accounts.create_user(session, "bench", "bench password", "author", actor="bench")
        faultkit.add_subscribers(session, count)
    engine.dispose()


def run(settings, workers, sandbox_url) -> dict:
    from crisiscast.web import create_app

    app = create_app(settings)
    client = app.test_client()
    token = lambda page: re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # noqa: E731
    client.post("/login", data={"username": "bench", "password": "bench password",
                                "csrf_token": token(client.get("/login").get_data(as_text=True))})
    page = client.get("/updates/new").get_data(as_text=True)
    form = {"csrf_token": token(page), "uid": re.search(r'name="uid" value="([0-9a-f]+)"', page).group(1),
            "incident": "Benchmark", "er_access": "open", "operating_status": "normal",
            "headline": "Benchmark: ER open", "body": "Blood donors needed.", "channels": ["sms"], "lists": ["public"]}
    preview = client.post("/updates/new", data={**form, "action": "preview"}).get_data(as_text=True)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)
    published_at = time.time()
    started = time.perf_counter()
    response = client.post("/updates/new", data={**form, "action": "publish", "digest": digest})
    publish_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 302, response.get_data(as_text=True)[:500]

    sessions = app.extensions["crisiscast"].sessions
    peak_rss = 0
    while True:
        rss = sum(p.memory_info().rss for w in workers for p in [psutil.Process(w.pid)])
        peak_rss = max(peak_rss, rss)
        with sessions() as session:
            state = session.scalar(select(Delivery.state))
        if state not in ("pending", "sending"):
            break
        time.sleep(0.2)
    finished_at = time.time()
    return {"publish_ms": publish_ms, "published_at": published_at, "finished_at": finished_at,
            "peak_rss": peak_rss, "state": state, "load": os.getloadavg()}


def report(result: dict, args, sandbox_url: str) -> None:
    stats = requests.get(sandbox_url + "/_sandbox/stats", timeout=30).json()
    accepted = requests.get(sandbox_url + "/_sandbox/requests", params={"provider": "twilio"}, timeout=120).json()
    latencies = sorted(r["at"] - result["published_at"] for r in accepted)
    span = max(latencies) if latencies else float("nan")
    ceiling = args.concurrency / (args.latency_ms / 1000)
    rate = len(accepted) / span if latencies else 0
    counters = stats["counters"]
    print(f"subscribers            {args.subscribers}")
    print(f"workers x threads      {args.workers} x {args.threads}, batches of {args.batch_size}")
    print(f"sandbox                {args.latency_ms:.0f} ms latency, {args.concurrency} concurrent max "
          f"(ceiling {ceiling:.0f} msg/s)")
    print(f"database               {'PostgreSQL' if 'postgresql' in os.environ.get('DATABASE_URL', '') else 'SQLite'}")
    print(f"publish request        {result['publish_ms']:.0f} ms")
    print(f"publish -> last accept {span:.2f} s")
    print(f"throughput             {rate:.0f} msg/s = {rate / ceiling:.2f} of the ceiling")
    if len(latencies) > 1:
        steady = (len(latencies) - 1) / (latencies[-1] - latencies[0])
        print(f"  first accept after   {latencies[0]:.2f} s; from first to last {steady:.0f} msg/s")
    if latencies:
        print(f"publish -> accepted    p50 {statistics.median(latencies):.2f} s, "
              f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} s")
    print(f"accepted               {stats['sms_accepted']} messages, {stats['sms_unique_recipients']} distinct "
          f"numbers ({'exactly once each' if stats['sms_accepted'] == stats['sms_unique_recipients'] == args.subscribers else 'MISMATCH'})")
    print(f"429s from the sandbox  {counters.get('twilio.rejected_concurrency', 0)} (peak in flight "
          f"{counters.get('twilio.peak_in_flight', 0)})")
    print(f"delivery state         {result['state']} after {result['finished_at'] - result['published_at']:.2f} s")
    print(f"peak worker RSS        {result['peak_rss'] / 2**20:.0f} MB for {args.workers} workers")
    print(f"load average           {' '.join(f'{x:.2f}' for x in result['load'])} (1/5/15 min, {os.cpu_count()} cores)")



if __name__ == "__main__":
    main()
