"""Long fault run: a fan-out to N recipients while workers are killed again and again and Redis is replaced.

    .venv/bin/python bench/faults.py --subscribers 20000 --kills 4 --redis-losses 1 --fault-rate 0.2

Prints lost, duplicated and recovered counts and the time to recover after the last fault; asserts nothing.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import requests
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
from crisiscast.store.models import AuditEvent  # noqa: E402
from dev.redis_server import PrivateRedis, free_port  # noqa: E402
from tests.support import faultkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kills", type=int, default=4, help="times every worker is SIGKILLed mid-run")
    parser.add_argument("--redis-losses", type=int, default=1, help="times Redis is replaced by an empty one")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()

    redis = PrivateRedis()
    sandbox_port = free_port()
    sandbox = subprocess.Popen([sys.executable, "-m", "crisiscast.sandbox", "--port", str(sandbox_port),
                                "--latency-ms", str(args.latency_ms), "--concurrency", "60",
                                "--timeout-seconds", "3", "--fault-rate", str(args.fault_rate),
                                "--settings", '{"status_callbacks": false}'], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    database_url, cleanup = bench_database("crisiscast_faults")
    settings = config.load("production", environ={}, SECRET_KEY="bench", DATABASE_URL=database_url,
                           REDIS_URL=redis.url, QUEUE_NAME="faults", SMS_SENDER_RATE=100000.0,
                           SMS_MAX_CONCURRENCY=60, SMS_WORKER_THREADS=30, SMS_BATCH_SIZE=500, PROVIDER_TIMEOUT=1.0,
                           CLAIM_LEASE_SECONDS=5.0, RECONCILE_SECONDS=2.0, RECONCILE_GRACE_SECONDS=2.0,
                           RETRY_MAX_ATTEMPTS=20, RETRY_BASE_SECONDS=0.2, RETRY_MAX_SECONDS=2.0,
                           BREAKER_COOLDOWN_SECONDS=1.0, BREAKER_MAX_COOLDOWN_SECONDS=4.0,
                           **product_settings(sandbox_url))
    migrate(database_url)
    pool = faultkit.WorkerPool(settings)
    runtime = Runtime(settings)
    try:
        with runtime.sessions() as session:
            numbers = faultkit.add_subscribers(session, args.subscribers)
            author = accounts.create_user(session, "bench", "bench password", "author", actor="bench")
        pool.start(args.workers)
        queue = jobs.make_queue(settings)
        started = time.monotonic()
        with runtime.sessions() as session:
            draft = Draft(incident="Fault run", er_access="closed", operating_status="evacuating",
                          headline="Evacuation under way", body="Go to the north entrance.",
                          channels=("sms", "x", "facebook", "feed"), lists=("public",))
            publishing.publish(session, draft, uid=publishing.new_uid(), author=session.merge(author), settings=settings,
                             channels=runtime.channels, enqueue=lambda i, c: jobs.enqueue_delivery(queue, i, c))
        faults = ["kill"] * args.kills + ["redis"] * args.redis_losses
        step = args.subscribers // (len(faults) + 1)
        last_fault = started
        for n, fault in enumerate(faults, start=1):
            wait_for_accepted(sandbox_url, step * n)
            if fault == "kill":
                killed = pool.kill9()
                pool.start(args.workers)
                print(f"{time.monotonic() - started:6.1f}s  killed {killed} workers (kill -9), started {args.workers}",
                      flush=True)
            else:
                port = redis.port
                redis.stop()
                time.sleep(1)
                redis = PrivateRedis(port, redis.password)
                print(f"{time.monotonic() - started:6.1f}s  Redis replaced by an empty server", flush=True)
            last_fault = time.monotonic()
        took = faultkit.wait_settled(runtime.sessions, timeout=1800, on_tick=pool.replace_dead)
        recovered_after = time.monotonic() - last_fault
        accepted = requests.get(sandbox_url + "/_sandbox/requests", params={"provider": "twilio"}, timeout=120).json()
        counts = faultkit.tally(accepted, numbers)
        posts = {p: len([r for r in requests.get(sandbox_url + "/_sandbox/requests", params={"provider": p},
                                                 timeout=30).json() if r["kind"] == "post"]) for p in ("x", "graph")}
        with runtime.sessions() as session:
            recovered = dict(session.execute(select(AuditEvent.outcome, func.count()).where(
                AuditEvent.action == "reconcile").group_by(AuditEvent.outcome)).all())
        stats = requests.get(sandbox_url + "/_sandbox/stats", timeout=30).json()["counters"]
        print(f"recipients             {args.subscribers}")
        print(f"faults                 {args.kills} kills of all {args.workers} workers, {args.redis_losses} Redis "
              f"losses, {args.fault_rate:.0%} of provider calls failing "
              f"({sum(v for k, v in stats.items() if '.fault_' in k)} injected)")
        print(f"SMS accepted once      {counts['once']}")
        print(f"lost                   {counts['lost']}")
        print(f"duplicated             {counts['duplicated']}")
        print(f"X posts / Page posts   {posts['x']} / {posts['graph']}")
        print(f"recovered by lookups   {recovered.get('sent', 0)} found at the provider, "
              f"{recovered.get('pending', 0)} not found and resent, {recovered.get('in_doubt', 0)} claims expired")
        print(f"total time             {time.monotonic() - started:.1f}s; settled {recovered_after:.1f}s after the "
              f"last fault (wait {took:.1f}s)")
    finally:
        pool.stop()
        sandbox.terminate()
        redis.stop()
        runtime.close()
        cleanup()


def wait_for_accepted(sandbox_url: str, count: int) -> None:
    while requests.get(sandbox_url + "/_sandbox/stats", timeout=30).json()["sms_accepted"] < count:
        time.sleep(0.1)


if __name__ == "__main__":
    main()
