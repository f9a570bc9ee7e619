"""python -m crisiscast.sandbox [--port 5050] [--latency-ms 0] [--concurrency 0] [--fault-rate 0]"""
from __future__ import annotations

import argparse
import json

from aiohttp import web

from crisiscast.sandbox.app import build_app
from crisiscast.sandbox.state import PROVIDERS, Settings, State


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m crisiscast.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=0, help="in-flight requests per provider before 429")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of calls that fail (429/500/503/timeout)")
    parser.add_argument("--timeout-seconds", type=float, default=30.0, help="how long a 'timeout' fault hangs")
    parser.add_argument("--inbound-url", default="", help="the product's inbound SMS webhook, for texting it")
    parser.add_argument("--settings", default="", help="a JSON object as POST /_sandbox/config takes")
    args = parser.parse_args(argv)
    settings = Settings()
    settings.update({"latency_ms": args.latency_ms, "concurrency": args.concurrency,
                     "timeout_seconds": args.timeout_seconds, "inbound_url": args.inbound_url})
    if args.fault_rate:
        settings.update({"faults": {p: {"rate": args.fault_rate} for p in PROVIDERS}})
    if args.settings:
        settings.update(json.loads(args.settings))
    print(f"provider sandbox on http://{args.host}:{args.port}/ (inbox), settings {settings.to_dict()}", flush=True)
    web.run_app(build_app(State(settings)), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
