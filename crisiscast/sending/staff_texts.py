"""Sending the texts to staff that crisiscast.services.staff_texts queued: each once, each outcome audited.

A row is claimed (pending -> sending) before its request leaves, so no text is sent twice. Nothing accepted
(a refused connection, 429, 5xx, our throttle away): back to pending, and the job is retried. No answer: in doubt,
never resent. A claim older than the lease (its worker died mid-send) is also in doubt: it may have gone.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from crisiscast.channels import ChannelError, InDoubtError, Message, RetryableError, Unavailable
from crisiscast.core import masking
from crisiscast.store import audit
from crisiscast.store.models import StaffText, utcnow

TABLE = StaffText.__table__


def send_all(sessions, channel, ids) -> list[str]:
    """Send each pending text among `ids` once; the outcome of each. Raises RetryableError after putting a text
    the provider did not accept back to pending (the job is retried)."""
    return [_send(sessions, channel, text_id) for text_id in ids]


def _send(sessions, channel, text_id: int) -> str:
    with sessions() as session, session.begin():
        claimed = session.execute(update(TABLE).where(TABLE.c.id == text_id, TABLE.c.state == "pending")
                                  .values(state="sending", claimed_at=utcnow())
                                  .returning(TABLE.c.phone, TABLE.c.text, TABLE.c.kind)).first()
    if claimed is None:
        return "skipped"  # sent already, or another job has it
    try:
        receipt = channel.send(Message(text=claimed.text, to=claimed.phone, wanted=_renewal(sessions, text_id)))
    except (RetryableError, Unavailable) as exc:  # nothing left our side: safe to try again
        _record(sessions, text_id, claimed, ("pending", None, f"will retry: {exc}"))
        raise
    except InDoubtError as exc:  # it may have gone: never resent
        return _record(sessions, text_id, claimed, ("in_doubt", None, str(exc)))
    except ChannelError as exc:
        return _record(sessions, text_id, claimed, ("failed", None, f"{exc.code or ''} {exc}".strip()))
    return _record(sessions, text_id, claimed, ("sent", receipt.provider_id, ""))


def _renewal(sessions, text_id: int):
    """Asked when the text's turn at the throttle comes: renews its claim, so a long wait behind a fan-out is not
    taken for a dead worker; False (not sent: back to pending) if the reconciler gave it up meanwhile."""

    def wanted() -> bool:
        with sessions() as session, session.begin():
            return bool(session.execute(update(TABLE).where(TABLE.c.id == text_id, TABLE.c.state == "sending")
                                        .values(claimed_at=utcnow())).rowcount)

    return wanted


def _record(sessions, text_id: int, claimed, result: tuple[str, str | None, str]) -> str:
    state, sid, error = result
    with sessions() as session, session.begin():
        session.execute(update(TABLE).where(TABLE.c.id == text_id).values(
            state=state, provider_id=sid, error=error[:300], sent_at=utcnow() if state == "sent" else None))
        audit.record(session, actor="worker", action=f"staff_text.{claimed.kind}", outcome=state, channel="sms",
                     target=masking.mask_phone(claimed.phone), provider_id=sid, message=error or claimed.text)
    return state


def settle_abandoned(sessions, lease_seconds: float) -> int:
    """Mark in doubt the texts claimed longer ago than the lease (their worker died mid-send); audited."""
    cutoff = utcnow() - timedelta(seconds=lease_seconds)
    with sessions() as session, session.begin():
        rows = session.execute(update(TABLE).where(TABLE.c.state == "sending", TABLE.c.claimed_at < cutoff)
                               .values(state="in_doubt", error="its worker stopped mid-send; not resent")
                               .returning(TABLE.c.phone, TABLE.c.kind)).all()
        for row in rows:
            audit.record(session, actor="reconciler", action=f"staff_text.{row.kind}", outcome="in_doubt",
                         channel="sms", target=masking.mask_phone(row.phone),
                         message="its worker stopped mid-send; not resent, in case it went")
    return len(rows)
