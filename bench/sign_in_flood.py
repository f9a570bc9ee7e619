"""Sign-in flood benchmark: a signed-in user's page time while 16 threads post wrong passwords.

    .venv/bin/python bench/sign_in_flood.py [--pages 60] [--threads 16]

Serves the app over HTTP (Werkzeug's threaded server) on a private Redis and a scratch database, and times a
signed-in user's dashboard: alone (the anchor), under a flood with the sign-in limits at their defaults, and
under the same flood with the limits raised out of reach (as before throttling). The flood comes from another
process, as an attacker's would. Prints the median and p90 of each and their ratio to the anchor, and how many
flood requests were answered 429. Set DATABASE_URL to a PostgreSQL server to measure there.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402
from common import bench_database  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import config  # noqa: E402
from crisiscast.runtime import Runtime  # noqa: E402
from crisiscast.services import accounts  # noqa: E402
from crisiscast.store.db import migrate  # noqa: E402
from crisiscast.web import create_app  # noqa: E402
from dev.redis_server import PrivateRedis  # noqa: E402

PASSWORD = "correct horse battery"
UNREACHABLE = "1000000/minute"


def sign_in_form(base: str) -> tuple[requests.Session, str]:
    """A session with the sign-in page's cookie, and the page's CSRF token."""
    session = requests.Session()
    return session, re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{base}/login").text).group(1)


def sign_in(session: requests.Session, base: str, token: str, username: str, password: str) -> requests.Response:
    """Post the sign-in form."""
    return session.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                        allow_redirects=False)


def flood(base: str, threads: int, stop, refused) -> None:
    """In a child process: `threads` threads post wrong passwords for "admin" until `stop` is set."""
    def attacker() -> None:
        session, token = sign_in_form(base)
        while not stop.is_set():
            answer = sign_in(session, base, token, "admin", "wrong password")
            with refused.get_lock():
                refused.value += answer.status_code == 429

    workers = [threading.Thread(target=attacker) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def page_times(session: requests.Session, base: str, pages: int) -> list[float]:
    """Seconds for each of `pages` dashboard loads, in order."""
    times = []
    for _ in range(pages):
        started = time.perf_counter()
        assert session.get(f"{base}/").status_code == 200
        times.append(time.perf_counter() - started)
    return times


def measure(settings, pages: int, threads: int) -> dict[str, tuple[list[float], int]]:
    """Page times alone, under a flood with the default limits and under one with the limits out of reach."""
    results = {}
    for label, limits, flooded in (("alone (anchor)", {}, False), ("flood, throttled", {}, True),
                                   ("flood, unthrottled", {"SIGN_IN_LIMIT_PER_USERNAME": UNREACHABLE,
                                                           "SIGN_IN_LIMIT_PER_IP": UNREACHABLE}, True)):
        run = settings.replace(QUEUE_NAME=f"bench-{uuid.uuid4().hex[:8]}", **limits)
        runtime = Runtime(run)
        server = make_server("127.0.0.1", 0, create_app(run, runtime), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        session, token = sign_in_form(base)
        sign_in(session, base, token, "author", PASSWORD)
        stop, refused = multiprocessing.Event(), multiprocessing.Value("i", 0)
        attacker = multiprocessing.Process(target=flood, args=(base, threads, stop, refused))
        if flooded:
            attacker.start()
            time.sleep(1)  # let the flood reach its stride before timing
        results[label] = (page_times(session, base, pages), refused.value)
        stop.set()
        if flooded:
            attacker.join()
            results[label] = (results[label][0], refused.value)
        server.shutdown()
        runtime.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # one line per request and per refusal would drown the figures
    redis = PrivateRedis()
    url, drop = bench_database("crisiscast_bench_sign_in")
    try:
        migrate(url)
        settings = config.load("testing", environ={}, instance=Path(tempfile.mkdtemp()) / "instance",
                               DATABASE_URL=url, REDIS_URL=redis.url, SECRET_KEY="bench-secret")
        with Runtime(settings).sessions() as session:
            for role in ("author", "admin"):
                accounts.create_user(session, role, PASSWORD, role, actor="bench")
        results = measure(settings, args.pages, args.threads)
    finally:
        drop()
        redis.stop()
    anchor = statistics.median(results["alone (anchor)"][0])
    for label, (times, refused) in results.items():
        median, p90 = statistics.median(times), statistics.quantiles(times, n=10)[-1]
        print(f"{label:20s} median {median * 1e3:6.1f} ms  p90 {p90 * 1e3:6.1f} ms  "
              f"ratio {median / anchor:5.1f}x  flood answers 429: {refused}")


if __name__ == "__main__":
    main()
