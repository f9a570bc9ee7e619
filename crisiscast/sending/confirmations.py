"""SMS_CONFIRM_ADDED: one text to each number staff added or imported, saying who added it and how to stop.

A subscriber awaiting one is marked 'pending' (crisiscast.services.subscribers.request_confirmations); a
job claims it ('sending') before the request leaves, so no confirmation is ever sent twice. Nothing
accepted (a refused connection, 429, 5xx): back to 'pending' for the job's retry. No answer: 'in_doubt',
never resent. Every outcome is audited with the number masked.
"""
from __future__ import annotations

from sqlalchemy import update

from crisiscast.channels import ChannelError, InDoubtError, Message, RetryableError, Unavailable
from crisiscast.core import masking
from crisiscast.store import audit
from crisiscast.store.models import Subscriber


def confirmation_text(org: str, list_names) -> str:
    """The confirmation's words: who added the number to which alerts, and how to opt out."""
    return f"{org}: you were added to {', '.join(list_names)} alerts by {org}. Reply STOP to opt out."


def send_confirmations(sessions, channel, org: str, subscriber_ids) -> list[str]:
    """Send each pending confirmation once; the outcome per subscriber. Raises RetryableError after putting a
    confirmation the provider did not accept back to pending (the job is retried)."""
    return [_confirm(sessions, channel, org, subscriber_id) for subscriber_id in subscriber_ids]


def _confirm(sessions, channel, org: str, subscriber_id: int) -> str:
    with sessions() as session, session.begin():
        claimed = session.execute(update(Subscriber).where(
            Subscriber.id == subscriber_id, Subscriber.confirmation == "pending", Subscriber.active)
            .values(confirmation="sending").returning(Subscriber.phone)).scalar()
        if claimed is None:
            return "skipped"  # done already, or the number opted out meanwhile
        lists = [lst.name for lst in session.get(Subscriber, subscriber_id).lists]
    text = confirmation_text(org, lists)
    try:
        receipt = channel.send(Message(text=text, to=claimed))
    except (RetryableError, Unavailable) as exc:  # nothing left our side: safe to try again
        _record(sessions, subscriber_id, ("pending", None, claimed), f"will retry: {exc}")
        raise
    except InDoubtError as exc:  # it may have gone: never resent
        return _record(sessions, subscriber_id, ("in_doubt", None, claimed), str(exc))
    except ChannelError as exc:
        return _record(sessions, subscriber_id, ("failed", None, claimed), f"{exc.code or ''} {exc}".strip())
    return _record(sessions, subscriber_id, ("sent", receipt.provider_id, claimed), text)


def _record(sessions, subscriber_id: int, result: tuple[str, str | None, str], message: str) -> str:
    state, sid, phone = result
    with sessions() as session, session.begin():
        session.execute(update(Subscriber).where(Subscriber.id == subscriber_id)
                        .values(confirmation=state, confirmation_sid=sid))
        audit.record(session, actor="worker", action="confirmation", outcome=state, channel="sms",
                     target=masking.mask_phone(phone), provider_id=sid, message=message)
    return state

