"""Public site render benchmark: the render of one feed publish after 10 and after 2,000 updates.

    .venv/bin/python bench/public_render.py [--history 10 2000] [--samples 5]

History is bulk-inserted (updates with their feed entries, one in ten a correction, one in fifty retracted,
over four incidents); then each sample publishes one more update and times the feed channel's send of it,
the same call a worker makes. Prints the median per history size and its ratio to the first (the anchor).
Set DATABASE_URL to a PostgreSQL server to measure there (a scratch database is created and dropped).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import bench_database  # noqa: E402
from sqlalchemy import select  # noqa: E402

import config  # noqa: E402
from crisiscast.channels import Message  # noqa: E402
from crisiscast.core.domain import Draft  # noqa: E402
from crisiscast.runtime import Runtime  # noqa: E402
from crisiscast.services import accounts, publishing
from crisiscast.store import bulk  # noqa: E402
from crisiscast.store.db import migrate  # noqa: E402
from crisiscast.store.models import FeedEntry, Incident, Update, utcnow  # noqa: E402

INCIDENTS = ("Fort Hood shooting response", "Winter storm", "Water main break", "Power outage")


def add_history(runtime, author_id: int, upto: int) -> None:
    """Bulk-insert updates (and their feed entries) until there are `upto`, all older than now."""
    base = runtime.settings.PUBLIC_BASE_URL.rstrip("/")
    with runtime.sessions() as session, session.begin():
        have = session.query(Update).count()
        incidents = [i.id for i in session.query(Incident).order_by(Incident.id)]
        start = utcnow() - timedelta(days=30)
        updates, entries = [], []
        for n in range(have, upto):
            uid, at = f"{n:012x}", start + timedelta(seconds=n)
            story = f"{n - 1:012x}" if n % 10 == 9 else uid
            updates.append({"uid": uid, "incident_id": incidents[n % len(incidents)],
                            "er_access": "open", "operating_status": "normal", "headline": f"Update {n}",
                            "body": "History.", "author_id": author_id, "published_at": at, "next_update": "",
                            "story_uid": story, "audience": "public",
                            "retracted_at": at if n % 50 == 25 else None, "retraction_reason": "Bench"})
        bulk.insert_rows(session, Update.__table__, updates)
        ids = dict(session.execute(select(Update.uid, Update.id).where(Update.uid.in_([u["uid"] for u in updates]))).all())
        entries = [{"update_id": ids[u["uid"]], "guid": f"{base}/u/{u['uid']}", "title": u["headline"],
                    "content": u["body"], "link": f"{base}/u/{u['uid']}", "published_at": u["published_at"]}
                   for u in updates]
        bulk.insert_rows(session, FeedEntry.__table__, entries)


def timed_publish(runtime, author, n: int) -> float:
    """Publish one update to the feed and return how long the feed channel's send (the render) took."""
    uid = publishing.new_uid()
    draft = Draft(incident=INCIDENTS[n % len(INCIDENTS)], er_access="open_delays", operating_status="normal",
                  headline=f"Sample {n}", channels=("feed",))
    with runtime.sessions() as session:
        publishing.publish(session, draft, uid=uid, author=session.merge(author), settings=runtime.settings,
                         channels=runtime.channels, enqueue=lambda *a: None)
    link = publishing.update_link(runtime.settings, uid)
    started = time.perf_counter()
    runtime.channels["feed"].send(Message(text=draft.headline, link=link, title=draft.headline, uid=uid))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, nargs="+", default=[10, 2000])
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crisiscast-render-"))
    url, drop = bench_database("crisiscast_bench_render")
    settings = config.load("production", environ={}, instance=work, SECRET_KEY="bench", DATABASE_URL=url,
                           PUBLIC_DIR=str(work / "public"))
    migrate(url)
    runtime = Runtime(settings)
    try:
        with runtime.sessions() as session:
            author = accounts.create_user(session, "bench", "bench password", "author", actor="bench")
            session.add_all(Incident(title=t, slug=publishing.slugify(t)) for t in INCIDENTS)
            session.commit()
        anchor, n = None, 0
        for size in args.history:
            add_history(runtime, author.id, size)
            timed_publish(runtime, author, n)  # warm-up: the files this history needs, caches, connections
            samples = []
            for _ in range(args.samples):
                n += 1
                samples.append(timed_publish(runtime, author, n))
            median = statistics.median(samples)
            anchor = anchor or median
            print(f"render of one publish after {size:>5} updates: {median * 1000:8.1f} ms "
                  f"(median of {args.samples}; x{median / anchor:.2f} of the {args.history[0]}-update anchor)")
    finally:
        runtime.close()
        drop()


if __name__ == "__main__":
    main()
