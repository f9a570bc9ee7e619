"""Feed serving benchmark with wrk: nginx and gunicorn serving the pre-rendered RSS feed, 200s and 304s.

    apt-get install -y nginx wrk
    .venv/bin/python bench/feeds.py [--seconds 10] [--connections 64]

(a) nginx serving the pre-rendered feed.rss with crisiscast's headers, (b) the same bytes as a plain static
file through nginx (the ceiling), (c) gunicorn serving the feed from the app, (d) conditional requests
answered 304, for both. Also times publish → the new feed served, through a real worker. Prints figures.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import config  # noqa: E402
from crisiscast import jobs  # noqa: E402
from crisiscast.core.domain import Draft  # noqa: E402
from crisiscast.runtime import Runtime  # noqa: E402
from crisiscast.services import accounts, publishing
from crisiscast.store.db import migrate  # noqa: E402
from dev.redis_server import PrivateRedis, free_port  # noqa: E402
from tests.support import faultkit

NGINX_CONF = """
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 100000;
  open_file_cache max=1000 inactive=20s; open_file_cache_valid 1s;
  types {{ application/rss+xml rss; application/atom+xml atom; application/feed+json json;
           text/html html; application/xml xml; }}
  server {{
    listen 127.0.0.1:{public_port};
    root {public};
    gzip_static on;
    etag on;
    add_header Cache-Control "public, max-age=10";
    add_header Vary Accept-Encoding;
    location = /status {{ try_files /index.html =404; }}
    location ~ "^/u/([0-9a-f]{{12}})$" {{ try_files /u/$1.html =404; }}
    location / {{ try_files $uri =404; }}
  }}
  server {{
    listen 127.0.0.1:{plain_port};
    root {plain};
  }}
}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--updates", type=int, default=20)
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed: apt-get install -y nginx wrk")
    work = Path(tempfile.mkdtemp(prefix="crisiscast-feeds-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user
    redis = PrivateRedis()
    settings = config.load("production", environ={}, instance=work, SECRET_KEY="bench",
                           DATABASE_URL=f"sqlite:///{work}/bench.db", REDIS_URL=redis.url, QUEUE_NAME="feeds",
                           PUBLIC_DIR=str(work / "public"))
    env = {**os.environ, **settings.as_environment()}
    processes = []
    try:
        migrate(settings.DATABASE_URL)
        runtime = Runtime(settings)
        queue = jobs.make_queue(settings)
        processes.append(subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        app_port = free_port()
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{app_port}", "--workers", "2",
             "--worker-class", "gthread", "--threads", "4", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        faultkit.wait_for_http(f"http://127.0.0.1:{app_port}/status")
        with runtime.sessions() as session:
            author = accounts.create_user(session, "bench", "bench password", "author", actor="bench")
        latencies = [publish_and_wait(runtime, queue, author, app_port, n) for n in range(args.updates)]

        plain = work / "plain"
        plain.mkdir()
        shutil.copy(work / "public" / "feed.rss", plain / "feed.rss")
        public_port, plain_port = free_port(), free_port()
        (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, public=work / "public", plain=plain,
                                                           public_port=public_port, plain_port=plain_port))
        processes.append(subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-g", "daemon off;"]))
        faultkit.wait_for_http(f"http://127.0.0.1:{public_port}/feed.rss")
        etag_nginx = requests.get(f"http://127.0.0.1:{public_port}/feed.rss", timeout=5).headers["ETag"]
        etag_app = requests.get(f"http://127.0.0.1:{app_port}/feed.rss", timeout=5).headers["ETag"]
        runs = {
            "(a) nginx, pre-rendered feed.rss": wrk(args, f"http://127.0.0.1:{public_port}/feed.rss"),
            "(b) nginx, plain static file": wrk(args, f"http://127.0.0.1:{plain_port}/feed.rss"),
            "(c) gunicorn, the app": wrk(args, f"http://127.0.0.1:{app_port}/feed.rss"),
            "(d) nginx, 304": wrk(args, f"http://127.0.0.1:{public_port}/feed.rss", etag_nginx),
            "(d) gunicorn, 304": wrk(args, f"http://127.0.0.1:{app_port}/feed.rss", etag_app),
        }
        size = len((work / "public" / "feed.rss").read_bytes())
        print(f"feed.rss: {size} bytes, {args.connections} connections, {args.seconds} s each, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        for name, r in runs.items():
            print(f"{name:34} {r['rps']:>9.0f} req/s  p50 {r['p50']:>8}  p99 {r['p99']:>8}  errors {r['errors']}")
        a, b, c = (runs[k]["rps"] for k in list(runs)[:3])
        print(f"(a)/(b) = {a / b:.2f}   (c) = {c:.0f} req/s = {c / b:.2f} of (b)")
        latencies.sort()
        print(f"publish -> new feed served by gunicorn: p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
              f"max {latencies[-1] * 1000:.0f} ms over {len(latencies)} updates")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(10)
        redis.stop()


def publish_and_wait(runtime, queue, author, port: int, n: int) -> float:
    """Publish one update to the feed and time until gunicorn serves a feed that has it."""
    headline = f"Bench update {n}: ER open"
    with runtime.sessions() as session:
        draft = Draft(incident="Benchmark", er_access="open", operating_status="normal", headline=headline,
                      body="Blood donors needed at the main campus. " * 3, channels=("feed",))
        started = time.perf_counter()
        publishing.publish(session, draft, uid=publishing.new_uid(), author=session.merge(author),
                         settings=runtime.settings, channels=runtime.channels,
                         enqueue=lambda i, c: jobs.enqueue_delivery(queue, i, c))
    while headline not in requests.get(f"http://127.0.0.1:{port}/feed.rss", timeout=5).text:
        time.sleep(0.005)
    return time.perf_counter() - started


def wrk(args, url: str, etag: str | None = None) -> dict:
    command = ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s", "--latency", url]
    if etag:
        command[1:1] = ["-H", f"If-None-Match: {etag}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1),
            "p99": re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1),
            "errors": (sum(int(x) for x in errors.groups()) if errors else 0)
            + (int(non_2xx.group(1)) if non_2xx else 0)}



if __name__ == "__main__":
    main()
