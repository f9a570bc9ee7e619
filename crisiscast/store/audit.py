"""The append-only audit log: who did what, where, when, and what came of it; targets masked."""
from __future__ import annotations

import csv
import io
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisiscast.store import bulk
from crisiscast.store.models import AuditEvent, utcnow

WORKER = "worker"
SYSTEM = "system"


def record(session: Session, *, actor: str, action: str, outcome: str, secrets: Iterable[str] = (),
           **details) -> AuditEvent:
    """Add one entry to the session; it is written with the caller's transaction.

    `details` are the entry's other columns, each optional: update_id, channel, target, provider_id,
    error_code and message (scrubbed of `secrets`); any other name is a TypeError.
    """
    code, message = details.pop("error_code", None), details.pop("message", "")
    event = AuditEvent(actor=actor, action=action, outcome=outcome, target=details.pop("target", ""),
                       error_code=None if code is None else str(code), message=scrub(message, secrets), **details)
    session.add(event)
    return event


def record_many(session: Session, events: list[dict], secrets: Iterable[str] = ()) -> None:
    """Insert many entries in one statement (the SMS fan-out writes thousands a second)."""
    if not events:
        return
    secrets = tuple(secrets)
    rows = [{"at": e.get("at") or utcnow(), "actor": e["actor"], "action": e["action"], "outcome": e["outcome"],
             "update_id": e.get("update_id"), "channel": e.get("channel"), "target": e.get("target", ""),
             "provider_id": e.get("provider_id"),
             "error_code": None if e.get("error_code") is None else str(e["error_code"]),
             "message": scrub(e.get("message") or "", secrets)} for e in events]
    bulk.insert_rows(session, AuditEvent.__table__, rows)


def record_configuration(session: Session, actor: str, summary: str) -> bool:
    """Add a `configuration` entry when `summary` differs from the last one recorded; True if it did."""
    last = session.scalar(select(AuditEvent.message).where(AuditEvent.action == "configuration")
                          .order_by(AuditEvent.id.desc()).limit(1))
    if last == summary:
        return False
    record(session, actor=actor, action="configuration", outcome="ok", message=summary)
    session.commit()
    return True


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret that occurs in `text` (a provider may echo a token back) with a mask."""
    for secret in secrets:
        if secret and len(secret) >= 6 and secret in text:
            text = text.replace(secret, "••••")
    return text


def query(session: Session, update_id: int | None = None, channel: str | None = None,
          action: str | None = None, limit: int | None = 500) -> list[AuditEvent]:
    """Entries newest first, filtered by update, channel and action."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if update_id is not None:
        stmt = stmt.where(AuditEvent.update_id == update_id)
    if channel:
        stmt = stmt.where(AuditEvent.channel == channel)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


CSV_FIELDS = ("id", "at", "actor", "action", "update_id", "channel", "target", "outcome",
              "provider_id", "error_code", "message")


def to_csv(events: Iterable[AuditEvent]) -> Iterable[str]:
    """The entries as CSV text, one chunk per row, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        chunk = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return chunk

    writer.writerow(CSV_FIELDS)
    yield flush()
    for event in events:
        row = [getattr(event, f) for f in CSV_FIELDS]
        row[1] = event.at.isoformat()
        writer.writerow(["" if v is None else defuse(str(v)) for v in row])
        yield flush()


def defuse(value: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    risky = value[:1] in ("=", "@", "\t", "\r") or (
        value[:1] in ("+", "-") and any(ch.isalpha() or ch in "(|" for ch in value))
    return "'" + value if risky else value
