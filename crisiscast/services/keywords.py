"""Text messages from the public: JOIN/START, STOP and its synonyms, HELP/INFO, anything else.

Each message is kept once by its MessageSid (and Twilio's idempotency token): a replay or a retry of one
already handled changes nothing and gets the answer the first one got, so an old JOIN can never undo a
later STOP. Only numbers in SMS_ALLOWED_COUNTRIES may join or get a reply (each reply is a billable text);
STOP works from any number, always. Replies pass the per-number reply limit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crisiscast.core import masking
from crisiscast.core.domain import ValidationError
from crisiscast.core.phones import PhonePolicy, normalise
from crisiscast.core.text import clean
from crisiscast.services import subscribers
from crisiscast.store import audit
from crisiscast.store.models import InboundMessage, SubscriberList, utcnow

log = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
JOIN_WORDS = {"JOIN", "START", "UNSTOP", "SUBSCRIBE"}
HELP_WORDS = {"HELP", "INFO"}
DEFAULT_LIST = "public"


@dataclass(frozen=True)
class Inbound:
    """One text as Twilio posted it: its SID, idempotency token (when sent), sender, body and OptOutType."""

    sid: str
    sender: str
    body: str
    opt_out_type: str = ""
    token: str = ""


@dataclass(frozen=True)
class Effect:
    """What an inbound message did, and the reply to it; `changed` when it changed a subscription."""

    keyword: str
    outcome: str
    reply: str | None
    changed: bool = False


def handle(session: Session, settings, message: Inbound, replies=None) -> Effect:
    """Apply one inbound SMS once and record it; `replies` (a ReplyLimit) may suppress the reply."""
    if not _keep(session, message):
        session.rollback()
        return _replayed(session, message)
    words = clean(message.body).strip().split()
    keyword = words[0].upper().strip(".!")[:20] if words else ""
    argument = words[1].lower()[:40] if len(words) > 1 else ""
    number = _number(message.sender, settings)
    effect = _apply(session, settings, message, number, (keyword, argument))
    state = "sent" if effect.reply else "none"
    if effect.reply and not (replies is None or replies.allow(number, effect.reply)):
        effect, state = replace(effect, reply=None), "suppressed"
    session.execute(InboundMessage.__table__.update().where(InboundMessage.message_sid == message.sid[:64]).values(
        keyword=keyword, outcome=effect.outcome, reply=effect.reply, reply_state=state))
    target = masking.mask_phone(number or message.sender or "?")
    # A flood of repeats is kept in inbound_messages above; the audit log gets what changed or was answered.
    if state != "suppressed" or effect.changed:
        audit.record(session, actor="sms", action="inbound", outcome=effect.outcome, channel="sms", target=target,
                     message=f"{keyword or '(empty)'}{' ' + argument if argument else ''}"
                             f"{' [OptOutType ' + message.opt_out_type + ']' if message.opt_out_type else ''}"
                             f"{'; reply suppressed by the reply limit' if state == 'suppressed' else ''}")
    else:
        log.info("inbound %s from %s: %s, reply suppressed", keyword or "(empty)", target, effect.outcome)
    session.commit()
    return effect


def _keep(session: Session, message: Inbound) -> bool:
    """Insert the message's record; False when its SID or idempotency token was seen before."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = InboundMessage.__table__
    row = dict(message_sid=message.sid[:64], idempotency_token=message.token[:120] or None,
               sender=masking.mask_phone(message.sender or "?")[:32], keyword="", outcome="received",
               reply_state="none", received_at=utcnow())
    return session.execute(insert(table).values(**row).on_conflict_do_nothing().returning(table.c.id)).first() \
        is not None


def _replayed(session: Session, message: Inbound) -> Effect:
    """The answer the first delivery of this message got (Twilio retries after a timeout); nothing changes."""
    conditions = [InboundMessage.message_sid == message.sid[:64]]
    if message.token:
        conditions.append(InboundMessage.idempotency_token == message.token[:120])
    first = session.scalar(select(InboundMessage).where(or_(*conditions)).limit(1))
    session.rollback()
    reply = first.reply if first is not None and first.reply_state == "sent" else None
    log.info("inbound %s seen before: not applied again", masking.mask_id(message.sid, 8))
    return Effect(first.keyword if first is not None else "", "duplicate", reply)


def _number(sender: str, settings) -> str | None:
    try:
        return normalise(sender, settings.SMS_DEFAULT_REGION)
    except ValidationError:  # a short code or an alphanumeric sender cannot subscribe
        return None


def _apply(session, settings, message: Inbound, number: str | None, words: tuple[str, str]) -> Effect:
    keyword, argument = words
    # With Advanced Opt-Out, Twilio has classified the message and sends the reply itself.
    twilio_replies = bool(message.opt_out_type)
    kind = (message.opt_out_type or "").upper() or _kind(keyword)
    if number is None:
        return Effect(keyword, "ignored", None)
    allowed = PhonePolicy.of(settings).allows(number)
    if kind == "STOP":  # from any country, always
        changed = subscribers.opt_out(session, number)
        return Effect(keyword, "unsubscribed", None if twilio_replies or not allowed else _stopped(settings), changed)
    if not allowed:  # no billable reply to a number outside the allowed countries, and no subscription
        return Effect(keyword, "refused", None)
    if kind == "START":
        return _join(session, settings, number, (argument or DEFAULT_LIST, keyword, message.sid), twilio_replies)
    if kind == "HELP":
        return Effect(keyword, "help", None if twilio_replies else _help(settings))
    return Effect(keyword, "unrecognised", _short_help(settings))


def _kind(keyword: str) -> str:
    if keyword in STOP_WORDS:
        return "STOP"
    if keyword in JOIN_WORDS:
        return "START"
    if keyword in HELP_WORDS:
        return "HELP"
    return ""


def _join(session, settings, number, request: tuple[str, str, str], twilio_replies) -> Effect:
    list_name, keyword, sid = request
    target = session.scalar(select(SubscriberList).where(SubscriberList.name == list_name))
    if target is None or not target.joinable:
        open_lists = ", ".join(lst.name for lst in subscribers.all_lists(session) if lst.joinable)
        return Effect(keyword, "refused", f"{settings.ORG_NAME} alerts: there is no list '{list_name}' to join. "
                                          f"Reply JOIN or JOIN with one of: {open_lists}.")
    changed = subscribers.opt_in(session, number, target.name, evidence=f"text {sid[:64]}")
    reply = (f"{settings.ORG_NAME} emergency alerts: you're subscribed to {target.name} updates. "
             f"{settings.SMS_FREQUENCY}. Msg & data rates may apply. Reply STOP to cancel, HELP for help.")
    return Effect(keyword, "subscribed", None if twilio_replies else reply, changed)


def _stopped(settings) -> str:
    return (f"{settings.ORG_NAME} alerts: you are unsubscribed and will receive no more messages. "
            "Reply START to subscribe again.")


def _help(settings) -> str:
    return (f"{settings.ORG_NAME} emergency alerts. Help: {settings.SMS_HELP_CONTACT}. "
            "Msg & data rates may apply. Reply STOP to cancel.")


def _short_help(settings) -> str:
    return f"{settings.ORG_NAME} alerts: reply JOIN to subscribe, STOP to cancel, HELP for help."
