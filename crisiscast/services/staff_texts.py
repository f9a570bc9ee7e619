"""Texts crisiscast sends to its own staff (approval requests, overdue reminders): asked for here, sent by a job.

One row per (key, number): asking again under the same key queues nothing new, so two workers noticing the same
overdue promise, or a page submitted twice, text each person once. The rows are the outbox: a job sends them
(crisiscast.sending.staff_texts), and the worker queues again any row whose job was lost.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crisiscast.core.text import clean
from crisiscast.services.subscribers import in_audience
from crisiscast.store.models import StaffText, Subscriber, User, utcnow

KEY_MAX = 80
TEXT_MAX = 1600  # Twilio's limit for one message body


def request(session: Session, key: str, numbers: Iterable[str], text: str, kind: str) -> list[int]:
    """Queue one text per number under `key` (e.g. "approval:12"); a (key, number) already queued is not queued
    again. Returns the ids of the new rows: commit, then hand them to the job."""
    if not key or len(key) > KEY_MAX:
        raise ValueError(f"a staff text's key is 1 to {KEY_MAX} characters")
    body = clean(text)[:TEXT_MAX]
    wanted = [n for n in dict.fromkeys(n.strip() for n in numbers) if n]
    if not wanted:
        return []
    have = set(session.scalars(select(StaffText.phone).where(StaffText.key == key, StaffText.phone.in_(wanted))))
    if not set(wanted) - have:
        return []  # all asked for already: nothing written
    # The insert skips a (key, number) another worker committed since the look above: a plain insert would fail
    # this worker's whole transaction on the unique key.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = StaffText.__table__
    rows = [dict(key=key, kind=kind, phone=number, text=body, state="pending", error="", created_at=utcnow())
            for number in wanted if number not in have]
    added = session.execute(insert(table).values(rows).on_conflict_do_nothing().returning(table.c.id))
    return sorted(added.scalars())


def list_numbers(session: Session, list_name: str) -> list[str]:
    """The numbers of a subscriber list's active members (a number that texted STOP is not among them)."""
    return list(session.scalars(select(Subscriber.phone).where(in_audience([list_name])).order_by(Subscriber.id)))


def user_numbers(session: Session, user_ids: Iterable[int]) -> list[str]:
    """The own phones of these active staff accounts, where they gave one."""
    ids = list(user_ids)
    if not ids:
        return []
    return [p for p in session.scalars(select(User.phone).where(User.id.in_(ids), User.active).order_by(User.id)) if p]


def pending_ids(session: Session, older_than) -> list[int]:
    """Rows still waiting for their job since before `older_than`: their job was lost (Redis replaced)."""
    return list(session.scalars(select(StaffText.id).where(StaffText.state == "pending",
                                                           StaffText.created_at < older_than)
                                .order_by(StaffText.id).limit(500)))


def sent_to(session: Session, key: str) -> list[StaffText]:
    """The texts asked for under `key`, oldest first (a page shows who was told, and how it went)."""
    return list(session.scalars(select(StaffText).where(StaffText.key == key).order_by(StaffText.id)))
