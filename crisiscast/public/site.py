"""The public site, rendered ahead of time: status page, permalinks, feeds, CAP, EDXL-HAVE.

When an update reaches the feed, is corrected or retracted, only the files it touches are rendered again
(its story's pages and alerts, its incidents' feeds, the top level), so a publish costs the same after ten
updates or ten thousand. Files are written atomically (each replaced by rename, with a gzip twin) into
PUBLIC_DIR, which any web server can serve as it is.

One update that cannot be rendered never stops the rest (crisiscast.public.isolation): it is left out of every
file, the others are written, and it is named in `problems` (update id -> why).
"""
from __future__ import annotations

import gzip
import logging
import os
import tempfile
from pathlib import Path

import requests
from lxml import etree
from feedgen.feed import FeedGenerator
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from crisiscast.core import promise
from crisiscast.core.audience import PUBLIC
from crisiscast.core.domain import ER_ACCESS, OPERATING_STATUS
from crisiscast.core.text import clean
from crisiscast.public import cap, edxl_have, feeds
from crisiscast.public.isolation import guarded, tolerant
from crisiscast.store.models import Incident, Update, utcnow
from crisiscast.store.queries import has_public_update, is_public

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Rows stored before text was cleaned at the edge may hold control characters: pages show them removed
# (type(value) keeps Markup safe).
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "xml"]),
                   finalize=lambda value: type(value)(clean(value)) if isinstance(value, str) else value)
_env.globals.update(ER_ACCESS=ER_ACCESS, OPERATING_STATUS=OPERATING_STATUS, promise_of=promise.for_update)


def permalink(settings, uid: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/u/{uid}"


def _story_key(story: feeds.Story) -> int:
    return story.latest.id


def build(session, settings, problems: dict[int, str] | None = None) -> dict[str, bytes]:
    """Every public file, by its path under PUBLIC_DIR: what `flask public rebuild` writes."""
    problems = {} if problems is None else problems
    files = top_level(session, settings, problems)
    for incident in feeds.incidents(session):
        files.update(incident_feeds(session, settings, incident, problems))
    for versions in _all_stories(session):
        files.update(_story_files(settings, versions, problems))
    return files


def touched(session, settings, update: Update, problems: dict[int, str] | None = None) -> dict[str, bytes]:
    """The files that publishing, correcting or retracting `update` changes, exactly as `build` renders them."""
    problems = {} if problems is None else problems
    versions = feeds.versions(session, update)
    files = top_level(session, settings, problems)
    for incident in {v.incident_id: v.incident for v in versions}.values():
        files.update(incident_feeds(session, settings, incident, problems))
    files.update(_story_files(settings, versions, problems))
    return files


def top_level(session, settings, problems: dict[int, str] | None = None) -> dict[str, bytes]:
    """The status page, the main feeds, the CAP index and HAVE: what every change touches."""
    problems = {} if problems is None else problems
    files, current = _feed_files(settings, feeds.stories(session), f"{settings.ORG_NAME}: status updates", "/feed",
                                 problems)  # the same as main_feeds, keeping the stories that rendered
    files["cap/index.atom"] = _cap_index(settings, _current_alerts(session), {s.latest.id for s in current}, problems)
    files["have.xml"] = edxl_have.hospital_status(settings, current[0].latest if current else None)
    files["index.html"] = status_page(session, settings, current, problems)
    return files


def _feed_files(settings, items: list[feeds.Story], title: str, path: str, problems: dict[int, str]):
    """The RSS, Atom and JSON feeds of the `items` that can be rendered, and those items."""
    name = path.lstrip("/")

    def render(stories):
        return {f"{name}.rss": feeds.rss(settings, stories, title, path),
                f"{name}.atom": feeds.atom(settings, stories, title, path),
                f"{name}.json": feeds.json_feed(settings, stories, title, path)}

    return tolerant(render, items, problems, _story_key)


def main_feeds(session, settings) -> dict[str, bytes]:
    """The main RSS, Atom and JSON feeds."""
    files, _ = _feed_files(settings, feeds.stories(session), f"{settings.ORG_NAME}: status updates", "/feed", {})
    return files


def incident_feeds(session, settings, incident: Incident, problems: dict[int, str] | None = None) -> dict[str, bytes]:
    """One incident's RSS, Atom and JSON feeds."""
    items = feeds.stories(session, incident.id)
    files, _ = _feed_files(settings, items, f"{settings.ORG_NAME}: {incident.title}",
                           f"/incidents/{incident.slug}/feed", {} if problems is None else problems)
    return files


def status_page(session, settings, current=None, problems: dict[int, str] | None = None) -> bytes:
    """The status page: current ER and hospital status, the incident's timeline, feeds, how to subscribe."""
    current = feeds.stories(session) if current is None else current
    page, _ = tolerant(lambda items: _status_page(session, settings, items), current,
                        {} if problems is None else problems, _story_key)
    return page


def _status_page(session, settings, current: list[feeds.Story]) -> bytes:
    latest = current[0].latest if current else None
    timeline = [s for s in current if latest is not None and s.latest.incident_id == latest.incident_id]
    return _env.get_template("public/status.html").render(
        settings=settings, latest=latest, timeline=timeline, incidents=feeds.incidents(session)).encode()


def update_page(session, settings, update: Update) -> bytes:
    """One update's permalink page: what it said, whether it was corrected or retracted since."""
    return _page(settings, update, feeds.versions(session, update))


def _page(settings, update: Update, versions: list[Update]) -> bytes:
    later = [v for v in versions if v.published_at > update.published_at]
    # A retracted story's pages keep their addresses but carry only the notice: the words are withdrawn.
    withdrawn = next((v for v in versions if v.retracted_at is not None), None)
    return _env.get_template("public/update.html").render(settings=settings, update=update, withdrawn=withdrawn,
                                                          corrected_by=later[-1] if later else None).encode()


def story_files(session, settings, update: Update) -> dict[str, bytes]:
    """The pages and CAP alerts of `update`'s story."""
    return _story_files(settings, feeds.versions(session, update), {})


def _story_files(settings, versions: list[Update], problems: dict[int, str]) -> dict[str, bytes]:
    """One story's permalink pages and CAP alerts (oldest version first), and its Cancel once retracted; a
    version that cannot be rendered is left out."""
    files = {}
    for n, update in enumerate(versions):
        files.update(guarded(problems, update.id, lambda: _version_files(settings, versions, n)) or {})
    retracted = next((v for v in versions if v.retracted_at is not None), None)
    if retracted is not None:
        files.update(guarded(problems, versions[-1].id, lambda: _cancel_file(settings, versions, retracted)) or {})
        cancel = files.get(f"cap/{versions[-1].uid}-cancel.xml")
        # Each version's alert address now answers with the Cancel: a reader holding it learns it was withdrawn.
        files.update({f"cap/{v.uid}.xml": cancel for v in versions if cancel is not None})
    return files


def _cancel_file(settings, versions: list[Update], retracted: Update) -> dict[str, bytes]:
    """The story's CAP Cancel, from its latest version; the retracted version gives its time and reason."""
    latest = versions[-1]
    return {f"cap/{latest.uid}-cancel.xml": cap.alert(settings, latest, versions[:-1], permalink(settings, latest.uid),
                                                      cancel=retracted)}


def _version_files(settings, versions: list[Update], n: int) -> dict[str, bytes]:
    """The permalink page and CAP alert of the story's `n`-th version."""
    update = versions[n]
    return {f"u/{update.uid}.html": _page(settings, update, versions),
            f"cap/{update.uid}.xml": cap.alert(settings, update, versions[:n], permalink(settings, update.uid))}


def _all_stories(session) -> list[list[Update]]:
    stories: dict[str, list[Update]] = {}
    for update in session.scalars(select(Update).where(is_public()).order_by(Update.published_at, Update.id)):
        stories.setdefault(update.story_uid or update.uid, []).append(update)
    return list(stories.values())


def _current_alerts(session) -> list[tuple[Update, Update | None]]:
    """The latest version of each of the most recent stories, with its retracted version if it was retracted
    (listed as its Cancel for as long as the story would have been listed), oldest first."""
    latest: dict[str, Update] = {}
    retracted: dict[str, Update] = {}
    keys = feeds.current_keys(session, feed=False, withdrawn_too=True)
    for update in session.scalars(select(Update).where(feeds.in_stories(keys)).order_by(Update.published_at,
                                                                                         Update.id)):
        key = update.story_uid or update.uid
        latest[key] = update
        if update.retracted_at is not None:
            retracted[key] = update
    return sorted(((u, retracted.get(k)) for k, u in latest.items()), key=lambda pair: (pair[0].published_at,
                                                                                         pair[0].id))


def _cap_index(settings, current: list[tuple[Update, Update | None]], rendered: set[int], problems: dict[int, str]) -> bytes:
    """The CAP index of the current alerts that can be rendered, so it links only to files that exist. An
    alert's words are its feed entry's: only those not `rendered` in the feeds just now are tried here."""
    def render(alerts):
        for update, retracted in alerts:
            if update.id not in rendered or retracted is not None:
                cap.alert(settings, update, [], permalink(settings, update.uid), cancel=retracted)
        return _cap_atom(settings, alerts)

    index, _ = tolerant(render, current, problems, lambda pair: pair[0].id)
    return index


def _cap_atom(settings, current: list[tuple[Update, Update | None]]) -> bytes:
    """An Atom index of current alerts (given oldest first), newest first, each linking to its CAP file; a
    retracted story's entry is its Cancel, titled with the reason only."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    fg = FeedGenerator()
    fg.id(f"{base}/cap/index.atom")
    fg.title(f"{settings.ORG_NAME}: current CAP alerts")
    fg.author({"name": settings.ORG_NAME, "uri": f"{base}/"})
    fg.link(href=f"{base}/cap/index.atom", rel="self", type="application/atom+xml")
    fg.updated(max((r.retracted_at if r else u.published_at for u, r in current), default=None) or utcnow())
    for update, retracted in current:
        name = f"{update.uid}-cancel" if retracted else update.uid
        fe = fg.add_entry(order="prepend")
        fe.id(f"{base}/cap/{name}.xml")
        fe.title(clean(f"Retracted: {retracted.retraction_reason}" if retracted else update.headline))
        fe.link(href=f"{base}/cap/{name}.xml")
        fe.updated(retracted.retracted_at if retracted else update.published_at)
    root = etree.fromstring(fg.atom_str())
    for link in root.iterfind(f"{{{feeds.ATOM}}}entry/{{{feeds.ATOM}}}link"):
        link.set("rel", "alternate")
        link.set("type", "application/cap+xml")  # feedgen 1.0 drops the type it is given
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


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


def publish(sessions, settings, update_id: int, problems: dict[int, str] | None = None) -> int:
    """Render and write the files one update touches, then tell the WebSub hub; return how many changed.
    Updates left out because they cannot be rendered are named in `problems`."""
    with sessions() as session:
        update = session.get(Update, update_id)
        files = touched(session, settings, update, problems)
        stale = [] if update.audience == PUBLIC else internal_files([update])
    remove(stale, settings.PUBLIC_DIR)
    return _write(files, settings)


def rebuild(sessions, settings) -> int:
    """Render and write the whole public site (every page and alert of all history)."""
    with sessions() as session:
        files = build(session, settings)
        stale = _internal_files(session)
    remove(stale, settings.PUBLIC_DIR)
    return _write(files, settings)


def refresh(sessions, settings) -> int:
    """At a worker's start: the whole site on an empty PUBLIC_DIR (a fresh install or disk), else the top level
    and the removal of any file an internal update left (written before updates had an audience)."""
    if not (Path(settings.PUBLIC_DIR) / "index.html").exists():
        return rebuild(sessions, settings)
    with sessions() as session:
        files = top_level(session, settings)
        stale = _internal_files(session)
    remove(stale, settings.PUBLIC_DIR)
    return _write(files, settings)


def internal_files(updates, incidents=()) -> list[str]:
    """The paths no public file may have: each internal update's page and alerts, each internal incident's feeds."""
    names = [f"{prefix}{u.uid}{suffix}" for u in updates
             for prefix, suffix in (("u/", ".html"), ("cap/", ".xml"), ("cap/", "-cancel.xml"))]
    return names + [f"incidents/{i.slug}/feed.{kind}" for i in incidents for kind in ("rss", "atom", "json")]


def _internal_files(session) -> list[str]:
    updates = session.scalars(select(Update).where(~is_public()))
    incidents = session.scalars(select(Incident).where(~has_public_update(), Incident.slug.is_not(None)))
    return internal_files(updates, incidents)


def remove(names: list[str], directory: str | Path) -> int:
    """Delete these files and their gzip twins where they exist; return how many files were deleted."""
    root = Path(directory)
    removed = 0
    for name in names:
        for path in (root / name, root / f"{name}.gz"):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed += 1
    return removed


def _write(files: dict[str, bytes], settings) -> int:
    changed = write(files, settings.PUBLIC_DIR)
    if changed and settings.WEBSUB_HUB_URL:
        ping_hub(settings)
    return changed


def ping_hub(settings) -> None:
    """WebSub publish notifications for the main feeds; a hub that is down costs a log line, never a send."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    for path in ("/feed.rss", "/feed.atom", "/feed.json", "/cap/index.atom"):
        try:
            requests.post(settings.WEBSUB_HUB_URL, data={"hub.mode": "publish", "hub.url": base + path},
                          timeout=5)
        except requests.RequestException as exc:
            log.warning("WebSub hub ping for %s failed: %s", path, exc)
