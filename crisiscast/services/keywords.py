"""Text messages from the public: JOIN/START, STOP and its synonyms, HELP/INFO, anything else.

Returns the reply to send (None when Twilio Advanced Opt-Out already replies) and records the effect.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisiscast.core import masking
from crisiscast.core.domain import ValidationError
from crisiscast.core.phones import normalise
from crisiscast.core.text import clean
from crisiscast.services import subscribers
from crisiscast.store import audit
from crisiscast.store.models import SubscriberList

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
JOIN_WORDS = {"JOIN", "START", "UNSTOP", "SUBSCRIBE"}
HELP_WORDS = {"HELP", "INFO"}
DEFAULT_LIST = "public"


@dataclass(frozen=True)
class Effect:
    """What an inbound message did, and the reply to it."""

    keyword: str
    outcome: str
    reply: str | None


def handle(session: Session, settings, sender: str, body: str, opt_out_type: str = "") -> Effect:
    """Apply one inbound SMS from `sender` and audit it; the caller turns `reply` into TwiML."""
    words = clean(body).strip().split()
    keyword = words[0].upper().strip(".!") if words else ""
    argument = words[1].lower() if len(words) > 1 else ""
    # With Advanced Opt-Out, Twilio has classified the message and sends the reply itself.
    twilio_replies = bool(opt_out_type)
    kind = (opt_out_type or "").upper() or _kind(keyword)
    try:
        number = normalise(sender, settings.SMS_DEFAULT_REGION)
    except ValidationError:  # a short code or an alphanumeric sender cannot subscribe
        number = None
    if number is None:
        effect = Effect(keyword, "ignored", None)
    elif kind == "STOP":
        subscribers.opt_out(session, number)
        effect = Effect(keyword, "unsubscribed", None if twilio_replies else _stopped(settings))
    elif kind == "START":
        effect = _join(session, settings, number, argument or DEFAULT_LIST, keyword, twilio_replies)
    elif kind == "HELP":
        effect = Effect(keyword, "help", None if twilio_replies else _help(settings))
    else:
        effect = Effect(keyword, "unrecognised", _short_help(settings))
    audit.record(session, actor="sms", action="inbound", outcome=effect.outcome, channel="sms",
                 target=masking.mask_phone(number or sender or "?"),
                 message=f"{keyword or '(empty)'}{' ' + argument if argument else ''}"
                         f"{' [OptOutType ' + opt_out_type + ']' if opt_out_type else ''}")
    session.commit()
    return effect


def _kind(keyword: str) -> str:
    if keyword in STOP_WORDS:
        return "STOP"
    if keyword in JOIN_WORDS:
        return "START"
    if keyword in HELP_WORDS:
        return "HELP"
    return ""


def _join(session, settings, number, list_name, keyword, twilio_replies) -> Effect:
    target = session.scalar(select(SubscriberList).where(SubscriberList.name == list_name))
    if target is None or not target.joinable:
        open_lists = ", ".join(lst.name for lst in subscribers.all_lists(session) if lst.joinable)
        return Effect(keyword, "refused", f"{settings.ORG_NAME} alerts: there is no list '{list_name}' to join. "
                                          f"Reply JOIN or JOIN with one of: {open_lists}.")
    subscribers.opt_in(session, number, target.name)
    reply = (f"{settings.ORG_NAME} emergency alerts: you're subscribed to {target.name} updates. "
             f"{settings.SMS_FREQUENCY}. Msg & data rates may apply. Reply STOP to cancel, HELP for help.")
    return Effect(keyword, "subscribed", None if twilio_replies else reply)


def _stopped(settings) -> str:
    return (f"{settings.ORG_NAME} alerts: you are unsubscribed and will receive no more messages. "
            "Reply START to subscribe again.")


def _help(settings) -> str:
    return (f"{settings.ORG_NAME} emergency alerts. Help: {settings.SMS_HELP_CONTACT}. "
            "Msg & data rates may apply. Reply STOP to cancel.")


def _short_help(settings) -> str:
    return f"{settings.ORG_NAME} alerts: reply JOIN to subscribe, STOP to cancel, HELP for help."
