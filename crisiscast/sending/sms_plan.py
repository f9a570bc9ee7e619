"""The SMS fan-out's plan: one recipient row per subscriber, in send order, written in chunks so that the first
texts leave while the rest are still being planned.

Each chunk is one INSERT … SELECT in a transaction of its own, its batches handed to `queue_batches` as soon as
it commits. Lists carry a priority (1 before 2): the plan writes the subscribers of each priority in turn, so
row ids, batches and claims follow it, and a number on several lists is written once, at its best priority.

A crash mid-plan loses nothing and doubles nothing: the delivery keeps `batches` empty (NULL) until the last
chunk, which is the reconciler's sign that its plan is not done; its claim lapses and the plan runs again,
skipping every subscriber already written (the (delivery, subscriber) pair is unique, and the SELECT leaves
them out). No batch settles the delivery before `batches` is written (sms_recipients.settle).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from crisiscast.core.domain import RecipientState
from crisiscast.sending import supersede
from crisiscast.store.models import Delivery, SmsRecipient, Subscriber, Subscription, SubscriberList, utcnow

R = SmsRecipient.__table__.c
# Rows per chunk after the first (which is one batch, so the first text waits for as little as possible).
CHUNK_ROWS = 5000
COLUMNS = ["delivery_id", "subscriber_id", "phone", "state", "attempts", "updated_at"]


def plan(sessions, delivery_id: int, audience, batch_size: int, queue_batches=None,
         lease: float = 120.0) -> list[tuple[int, int]]:
    """Plan the recipients (safe to repeat, and to resume after a crash) and return the delivery's (first id,
    last id) batches of its rows. `queue_batches`, if given, is called with each chunk's batches once
    they are committed, and with any left over from an interrupted plan at the end."""
    with sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        done, notice = delivery.batches is not None, delivery.channel == "sms.notice"
        levels = [_notice_level(delivery)] if notice else _audience_levels(session, audience or ["public"])
    queued: list[tuple[int, int]] = []
    if not done:
        for level in levels:
            queued += _plan_level(sessions, delivery_id, level, batch_size, (queue_batches, lease, not notice))
    return _finish(sessions, delivery_id, batch_size, queued, queue_batches)


@dataclass(frozen=True)
class _Level:
    """One pass of the plan: the active subscribers whose id is in `column` of the rows `where` selects."""

    column: Any
    where: tuple


def _audience_levels(session, names) -> list[_Level]:
    """The members of the targeted lists, one level per priority, best first."""
    by_priority: dict[int, list[int]] = {}
    for priority, list_id in session.execute(select(SubscriberList.priority, SubscriberList.id)
                                             .where(SubscriberList.name.in_(list(names)))):
        by_priority.setdefault(priority, []).append(list_id)
    return [_Level(Subscription.subscriber_id, (Subscription.list_id.in_(ids),))
            for _, ids in sorted(by_priority.items())]


def _notice_level(notice: Delivery) -> _Level:
    """The subscribers who got the retracted update's text (and, as every level, have not opted out since)."""
    original = select(Delivery.id).where(Delivery.update_id == notice.update_id, Delivery.channel == "sms")
    # In doubt counts: it may well have arrived, and a needless notice hurts less than a missing one.
    return _Level(R.subscriber_id, (R.delivery_id.in_(original.scalar_subquery()),
                                    R.state.in_((RecipientState.SENT, RecipientState.IN_DOUBT))))


def _plan_level(sessions, delivery_id: int, level: _Level, batch_size: int, how: tuple) -> list[tuple[int, int]]:
    """Write the rows of `level`, chunk by chunk in subscriber order; the batches written."""
    queue_batches, lease, supersedes = how
    after, limit, written = 0, batch_size, []
    while True:
        with sessions() as session, session.begin():
            upto = _window(session, level, after, limit)
            rows = _insert_chunk(session, delivery_id, level, (after, upto)) if upto is not None else []
            if supersedes and rows:
                supersede.on_plan(session, session.get(Delivery, delivery_id))
            # The plan is alive: the reconciler must not take its delivery for a dead one's.
            session.execute(update(Delivery).where(Delivery.id == delivery_id)
                            .values(lease_until=utcnow() + timedelta(seconds=lease)))
        if upto is None:
            return written
        batches = _batches(sorted(row_id for row_id, _ in rows), batch_size)
        written += batches
        if queue_batches and batches:
            queue_batches(batches)
        # Later chunks are whole batches too, so that planning again finds the same batches.
        after, limit = upto, batch_size * max(1, CHUNK_ROWS // batch_size)


def _window(session, level: _Level, after: int, limit: int) -> int | None:
    """The last subscriber id of the next `limit` candidates past `after` (None when there are none): a walk
    along an index, where a join of the whole level would hash every member for every chunk."""
    ids = (select(level.column.label("subscriber_id")).where(*level.where, level.column > after)
           .order_by(level.column).limit(limit).subquery())
    return session.scalar(select(func.max(ids.c.subscriber_id)))


def _insert_chunk(session, delivery_id: int, level: _Level, window: tuple[int, int]) -> list[tuple[int, int]]:
    """One INSERT … SELECT of the level's active subscribers in `window` (after, up to) not planned yet; their
    (row id, subscriber id)."""
    after, upto = window
    members = select(level.column).where(*level.where, level.column > after, level.column <= upto)
    planned = exists().where(R.delivery_id == delivery_id, R.subscriber_id == Subscriber.id)
    rows = (select(literal(delivery_id), Subscriber.id, Subscriber.phone, literal(RecipientState.PENDING),
                   literal(0), literal(utcnow()))
            .where(Subscriber.active, Subscriber.id > after, Subscriber.id <= upto, Subscriber.id.in_(members),
                   ~planned).order_by(Subscriber.id))
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(SmsRecipient.__table__).from_select(COLUMNS, rows)
                 .on_conflict_do_nothing(index_elements=["delivery_id", "subscriber_id"])
                 .returning(R.id, R.subscriber_id))
    return [tuple(row) for row in session.execute(statement)]


def _finish(sessions, delivery_id: int, batch_size: int, queued: list, queue_batches) -> list[tuple[int, int]]:
    """Keep the delivery's batches (the plan is done) and queue batches for the rows no batch of this run covers.

    Every row is covered, whatever its state: one claimed by a worker that died mid-plan is pending again once
    the reconciler has asked Twilio about it, and the reconciler re-queues only the kept batches."""
    queued = sorted(queued)
    with sessions() as session, session.begin():
        ids = session.scalars(select(R.id).where(R.delivery_id == delivery_id).order_by(R.id)).all()
        left_over = _batches([i for i in ids if not _within(queued, i)], batch_size)
        batches = sorted(queued + left_over)
        # Kept with the delivery: the reconciler re-queues exactly these if the queue loses them.
        session.execute(update(Delivery).where(Delivery.id == delivery_id)
                        .values(batches=[list(b) for b in batches]))
    if queue_batches and left_over:
        queue_batches(left_over)
    return batches


def _within(batches: list[tuple[int, int]], row_id: int) -> bool:
    """True when `row_id` lies in one of `batches` (sorted, not overlapping)."""
    at = bisect.bisect_right(batches, (row_id, math.inf)) - 1
    return at >= 0 and row_id <= batches[at][1]


def _batches(ids: list[int], batch_size: int) -> list[tuple[int, int]]:
    """(first id, last id) of each run of `batch_size` ids (sorted)."""
    return [(ids[i], ids[min(i + batch_size, len(ids)) - 1]) for i in range(0, len(ids), batch_size)]
