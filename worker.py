"""Run an RQ worker for crisiscast: python worker.py [--burst]. It builds no Flask app."""
from __future__ import annotations

import argparse
import logging

import config
from crisiscast import jobs
from crisiscast.public import site
from crisiscast.runtime import Runtime
from crisiscast.store import audit


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # one line per SMS is noise at 10,000
    try:
        settings = config.load()
    except config.SettingsError as exc:
        raise SystemExit(str(exc)) from None
    runtime = Runtime(settings)
    with runtime.sessions() as session:
        audit.record_configuration(session, actor=audit.WORKER, summary=runtime.describe_channels())
    runtime.prepare_channels()
    jobs.install(runtime)
    # The site appears on an empty PUBLIC_DIR; otherwise only the top level is rendered, so a new version's
    # templates reach the status page and feeds (`flask public rebuild` renders every page again).
    site.refresh(runtime.sessions, settings)
    jobs.run_worker(settings, burst=args.burst, name=args.name)


if __name__ == "__main__":
    main()
