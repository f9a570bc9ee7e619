"""The public site, rendered ahead of time: status page, permalinks, feeds, CAP, EDXL-HAVE.

Rendered whenever an update reaches the feed, is corrected or retracted, and written atomically (each
file replaced by rename, with a gzip twin) into PUBLIC_DIR, which any web server can serve as it is.
"""
from __future__ import annotations

import gzip
import logging
import os
import tempfile
from pathlib import Path

import requests
from feedgen.feed import FeedGenerator
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from . import cap, feeds, have
from .domain import ER_ACCESS, OPERATING_STATUS
from .models import Update, utcnow

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "xml"]))
_env.globals.update(ER_ACCESS=ER_ACCESS, OPERATING_STATUS=OPERATING_STATUS)


def permalink(settings, uid: str) -> str:
    return f"{settings['PUBLIC_BASE_URL'].rstrip('/')}/u/{uid}"


def build(session, settings) -> dict[str, bytes]:
    """Every public file, by its path under PUBLIC_DIR."""
    org = settings["ORG_NAME"]
    current = feeds.stories(session)
    files = {
        "feed.rss": feeds.rss(settings, current, f"{org}: status updates"),
        "feed.atom": feeds.atom(settings, current, f"{org}: status updates"),
        "feed.json": feeds.json_feed(settings, current, f"{org}: status updates"),
    }
    for incident in feeds.incidents(session):
        items = feeds.stories(session, incident.id)
        title, path = f"{org}: {incident.title}", f"/incidents/{incident.slug}/feed"
        files[f"incidents/{incident.slug}/feed.rss"] = feeds.rss(settings, items, title, path)
        files[f"incidents/{incident.slug}/feed.atom"] = feeds.atom(settings, items, title, path)
        files[f"incidents/{incident.slug}/feed.json"] = feeds.json_feed(settings, items, title, path)
    files.update(_cap_files(session, settings))
    latest = current[0].latest if current else None
    files["have.xml"] = have.hospital_status(settings, latest)
    files["index.html"] = status_page(session, settings, current)
    for update in session.scalars(select(Update)):
        files[f"u/{update.uid}.html"] = update_page(session, settings, update)
    return files


def status_page(session, settings, current=None) -> bytes:
    """The status page: current ER and hospital status, the incident's timeline, feeds, how to subscribe."""
    current = feeds.stories(session) if current is None else current
    latest = current[0].latest if current else None
    timeline = [s for s in current if latest is not None and s.latest.incident_id == latest.incident_id]
    return _env.get_template("public/status.html").render(
        settings=settings, latest=latest, timeline=timeline, incidents=feeds.incidents(session)).encode()


def update_page(session, settings, update: Update) -> bytes:
    """One update's permalink page: what it said, whether it was corrected or retracted since."""
    later = session.scalars(select(Update).where(Update.story_uid == (update.story_uid or update.uid),
                                                 Update.published_at > update.published_at)
                            .order_by(Update.published_at)).all()
    return _env.get_template("public/update.html").render(settings=settings, update=update,
                                                          corrected_by=later[-1] if later else None).encode()


def _cap_files(session, settings) -> dict[str, bytes]:
    files, index = {}, []
    versions: dict[str, list[Update]] = {}
    for update in session.scalars(select(Update).order_by(Update.published_at)):
        story = versions.setdefault(update.story_uid or update.uid, [])
        files[f"cap/{update.uid}.xml"] = cap.alert(settings, update, list(story), permalink(settings, update.uid))
        story.append(update)
    for story in versions.values():
        retracted = next((u for u in story if u.retracted_at is not None), None)
        if retracted is not None:
            files[f"cap/{story[-1].uid}-cancel.xml"] = cap.alert(settings, story[-1], story[:-1],
                                                                 permalink(settings, story[-1].uid), cancel=True)
        else:
            index.append(story[-1])
    files["cap/index.atom"] = _cap_index(settings, index)
    return files


def _cap_index(settings, current: list[Update]) -> bytes:
    """An Atom index of current alerts, newest first, each linking to its CAP file."""
    base = settings["PUBLIC_BASE_URL"].rstrip("/")
    fg = FeedGenerator()
    fg.id(f"{base}/cap/index.atom")
    fg.title(f"{settings['ORG_NAME']}: current CAP alerts")
    fg.link(href=f"{base}/cap/index.atom", rel="self", type="application/atom+xml")
    fg.updated(max((u.published_at for u in current), default=None) or utcnow())
    for update in sorted(current, key=lambda u: u.published_at):
        fe = fg.add_entry(order="prepend")
        fe.id(f"{base}/cap/{update.uid}.xml")
        fe.title(update.headline)
        fe.link(href=f"{base}/cap/{update.uid}.xml", type="application/cap+xml")
        fe.updated(update.published_at)
    return fg.atom_str(pretty=True)


def write(files: dict[str, bytes], directory: str | Path) -> int:
    """Write changed files atomically, each with a .gz twin; return how many changed."""
    root = Path(directory)
    changed = 0
    for name, content in files.items():
        path = root / name
        if path.exists() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace(path, content)
        _replace(path.with_name(path.name + ".gz"), gzip.compress(content, compresslevel=9, mtime=0))
        changed += 1
    return changed


def _replace(path: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as out:
        out.write(content)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def publish(sessions, settings) -> int:
    """Render and write the whole public site, then tell the WebSub hub which feeds changed."""
    with sessions() as session:
        files = build(session, settings)
    changed = write(files, settings["PUBLIC_DIR"])
    if changed and settings.get("WEBSUB_HUB_URL"):
        ping_hub(settings)
    return changed


def ping_hub(settings) -> None:
    """WebSub publish notifications for the main feeds; a hub that is down costs a log line, never a send."""
    base = settings["PUBLIC_BASE_URL"].rstrip("/")
    for path in ("/feed.rss", "/feed.atom", "/feed.json", "/cap/index.atom"):
        try:
            requests.post(settings["WEBSUB_HUB_URL"], data={"hub.mode": "publish", "hub.url": base + path},
                          timeout=5)
        except requests.RequestException as exc:
            log.warning("WebSub hub ping for %s failed: %s", path, exc)
