"""SMS subscribers and their lists: add, remove, search, count, and who an update's SMS goes to.

A number that texted STOP is only ever subscribed again by its owner texting JOIN or START:
neither staff nor an import can put it back.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from crisiscast.core import masking
from crisiscast.core.domain import ValidationError
from crisiscast.core.fields import LIST_DESCRIPTION_MAX, LIST_NAME_MAX, SUBSCRIBER_NAME_MAX, too_long
from crisiscast.core.phones import PhonePolicy
from crisiscast.core.text import clean
from crisiscast.store import audit
from crisiscast.store.models import Subscriber, SubscriberList, Subscription, utcnow

STOPPED = "stop"
REMOVED = "staff"
# How a subscriber consented: texted JOIN, added by staff, imported by staff, or before consent was recorded.
CONSENT_SOURCES = {"keyword": "texted JOIN", "staff": "added by staff", "import": "imported by staff",
                   "legacy": "recorded before consent was kept"}


# A list's send order runs from 1 (sent first) to this.
PRIORITY_MAX = 999


def all_lists(session: Session) -> list[SubscriberList]:
    return list(session.scalars(select(SubscriberList).order_by(SubscriberList.id)))


def public_flags(session: Session) -> dict[str, bool]:
    """Each list's name and whether its members are the public (crisiscast.core.audience reads this)."""
    return {name: public for name, public in session.execute(select(SubscriberList.name, SubscriberList.public))}


def create_list(session: Session, name: str, description: str, joinable: bool, actor: str,
                public: bool = False) -> SubscriberList:
    """Add a subscriber list (letters, digits and dashes, names unique); internal unless `public`; audited."""
    name = name.strip().lower()
    if not name or len(name) > LIST_NAME_MAX or not all(c.isalnum() or c == "-" for c in name):
        raise ValidationError({"name": f"A list name is letters, digits and dashes (at most {LIST_NAME_MAX})."})
    if name in {lst.name for lst in all_lists(session)}:
        raise ValidationError({"name": f"There is already a list named {name}."})
    _check_flags(public, joinable)
    description = clean(description).strip()
    if too_long("description", description, LIST_DESCRIPTION_MAX):
        raise ValidationError({"description": too_long("description", description, LIST_DESCRIPTION_MAX)})
    created = SubscriberList(name=name, description=description, joinable=joinable, public=public)
    session.add(created)
    audit.record(session, actor=actor, action="list_created", outcome="ok", channel="sms", target=name,
                 message=_flags(created))
    session.commit()
    return created


def set_flags(session: Session, list_id: int, public: bool, joinable: bool, actor: str,
              priority: str | None = None) -> SubscriberList:
    """Mark a list public or internal, and joinable by text or not, and set its send order (`priority`, as
    typed; None keeps it); audited. Updates already published keep the audience and order they had: this
    decides only what later updates to the list are."""
    found = session.get(SubscriberList, list_id)
    if found is None:
        raise ValidationError({"list": "No such list."})
    _check_flags(public, joinable)
    order = found.priority if priority is None else _priority(priority)
    before = _flags(found)
    found.public, found.joinable = public, joinable
    if _flags(found) != before:
        audit.record(session, actor=actor, action="list_changed", outcome="ok", channel="sms", target=found.name,
                     message=f"{before} → {_flags(found)}")
    if order != found.priority:
        audit.record(session, actor=actor, action="list_priority", outcome="ok", channel="sms", target=found.name,
                     message=f"send order {found.priority} → {order}")
        found.priority = order
    session.commit()
    return found


def _priority(typed: str) -> int:
    """A list's send order from the form: a whole number from 1 (sent first) to PRIORITY_MAX."""
    text = str(typed).strip()
    if not (text.isdigit() and 1 <= int(text) <= PRIORITY_MAX):
        raise ValidationError({"priority": f"The send order is a whole number from 1 (sent first) to {PRIORITY_MAX};"
                                           f" {clean(text)[:20]!r} is not."})
    return int(text)


def _check_flags(public: bool, joinable: bool) -> None:
    if joinable and not public:
        raise ValidationError({"public": (
            "A list anyone can join by text reaches the public: mark it public, or make it staff-add only.")})


def _flags(found: SubscriberList) -> str:
    return f"{'public' if found.public else 'internal'}, {'joinable by text' if found.joinable else 'staff add only'}"


def list_counts(session: Session) -> dict[str, int]:
    """Active subscribers per list name (lists with none included)."""
    rows = session.execute(
        select(SubscriberList.name, func.count(Subscriber.id))
        .select_from(SubscriberList)
        .outerjoin(Subscription, Subscription.list_id == SubscriberList.id)
        .outerjoin(Subscriber, and_(Subscriber.id == Subscription.subscriber_id, Subscriber.active))
        .group_by(SubscriberList.id, SubscriberList.name).order_by(SubscriberList.id))
    return {name: count for name, count in rows}


def in_audience(list_names):
    """SQL condition: the subscriber is active and on at least one of `list_names`."""
    on_list = exists().where(Subscription.subscriber_id == Subscriber.id, Subscription.list_id == SubscriberList.id,
                             SubscriberList.name.in_(list(list_names)))
    return and_(Subscriber.active, on_list)


def audience_count(session: Session, list_names) -> int:
    """How many active subscribers an SMS to `list_names` reaches (each number once)."""
    if not list_names:
        return 0
    return session.scalar(select(func.count()).select_from(Subscriber).where(in_audience(list_names))) or 0


def check_lists(session: Session, list_names) -> None:
    """ValidationError unless every name is an existing list."""
    known = {lst.name for lst in all_lists(session)}
    unknown = [n for n in list_names if n not in known]
    if unknown:
        raise ValidationError({"lists": f"Unknown list: {', '.join(unknown)}."})


def search(session: Session, query: str = "", list_name: str = "", limit: int = 200,
           by_number: bool = True) -> list[Subscriber]:
    """Subscribers whose number (unless not `by_number`) or name contains `query`, optionally on one list;
    active first."""
    stmt = select(Subscriber).order_by(Subscriber.active.desc(), Subscriber.id.desc()).limit(limit)
    # Someone shown masked numbers must not be able to confirm a guessed number by searching for it.
    digits = "".join(ch for ch in query if ch.isdigit()) if by_number else ""
    if query.strip():
        by_name = func.lower(Subscriber.name).contains(query.strip().lower())
        stmt = stmt.where(or_(by_name, Subscriber.phone.contains(digits)) if digits else by_name)
    if list_name:
        stmt = stmt.where(exists().where(Subscription.subscriber_id == Subscriber.id,
                                         Subscription.list_id == SubscriberList.id, SubscriberList.name == list_name))
    return list(session.scalars(stmt))


def add(session: Session, phone: str, name: str, list_names, actor: str,
        policy: PhonePolicy = PhonePolicy()) -> Subscriber:
    """Subscribe a number to lists; staff may re-add a number they removed, never one that texted STOP."""
    number = policy.normalise(phone)
    name = subscriber_name(name)
    list_names = list(list_names) or ["public"]
    check_lists(session, list_names)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.phone == number))
    if subscriber is not None and not subscriber.active and subscriber.opt_out == STOPPED:
        raise ValidationError({"phone": (
            f"{number} texted STOP on {subscriber.opted_out_at:%Y-%m-%d}. Only its owner can re-join, "
            "by texting JOIN.")})
    if subscriber is None:
        subscriber = Subscriber(phone=number, name=name, active=True)
        session.add(subscriber)
        session.flush()
    elif subscriber.active:
        subscriber.name = name.strip() or subscriber.name
    else:
        subscriber.active, subscriber.opted_out_at, subscriber.opt_out = True, None, None
        subscriber.name = name or subscriber.name
        subscriber.consent_source = None
    if subscriber.consent_source is None:
        record_consent(subscriber, "staff", actor)
    join_lists(session, subscriber, list_names)
    audit.record(session, actor=actor, action="subscriber_added", outcome="ok", channel="sms",
                 target=masking.mask_phone(number), message=f"lists: {', '.join(list_names)}")
    session.commit()
    return subscriber


def subscriber_name(name: str) -> str:
    """A subscriber's name as typed, trimmed; ValidationError when it is longer than its column."""
    name = " ".join(clean(name).split())  # a pasted line break or tab is not part of a name
    problem = too_long("name", name, SUBSCRIBER_NAME_MAX)
    if problem:
        raise ValidationError({"name": problem})
    return name


def remove(session: Session, subscriber_id: int, actor: str) -> None:
    """Stop sending to a subscriber; the row stays so the number's history is kept."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not subscriber.active:
        return
    subscriber.active, subscriber.opted_out_at, subscriber.opt_out = False, utcnow(), REMOVED
    audit.record(session, actor=actor, action="subscriber_removed", outcome="ok", channel="sms",
                 target=masking.mask_phone(subscriber.phone))
    session.commit()


def opt_in(session: Session, number: str, list_name: str, evidence: str = "text") -> bool:
    """The owner of `number` asked to join `list_name` (by text, `evidence` names it): this also lifts their own
    earlier STOP, and records their consent. True when it changed anything."""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.phone == number))
    if subscriber is None:
        subscriber = Subscriber(phone=number, name="", active=True)
        session.add(subscriber)
        session.flush()
    changed = not subscriber.active
    if changed or subscriber.consent_source is None:
        record_consent(subscriber, "keyword", evidence)
    subscriber.active, subscriber.opted_out_at, subscriber.opt_out = True, None, None
    return bool(join_lists(session, subscriber, [list_name])) or changed


def opt_out(session: Session, number: str) -> bool:
    """The owner of `number` said STOP: off every list at once. Remembered even for unknown numbers.
    True when it changed anything (the number was active, or is new)."""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.phone == number))
    created = subscriber is None
    if created:
        subscriber = Subscriber(phone=number, name="", active=False)
        session.add(subscriber)
    was_active = bool(subscriber.active)
    subscriber.active, subscriber.opted_out_at, subscriber.opt_out = False, utcnow(), STOPPED
    return was_active or created


def record_consent(subscriber: Subscriber, source: str, by: str) -> None:
    """Note how (`source`, one of CONSENT_SOURCES), by whom and when `subscriber` came to receive alerts."""
    subscriber.consent_source, subscriber.consented_by, subscriber.consented_at = source, by[:80], utcnow()


def request_confirmations(session: Session, numbers) -> list[int]:
    """Mark staff-added or imported `numbers` that never had a confirmation text as awaiting one; their ids.
    Committed by the caller, before the job that sends them is queued."""
    if not numbers:
        return []
    marked = session.execute(
        update(Subscriber).where(Subscriber.phone.in_(list(numbers)), Subscriber.active,
                                 Subscriber.confirmation.is_(None),
                                 Subscriber.consent_source.in_(("staff", "import")))
        .values(confirmation="pending").returning(Subscriber.id))
    return sorted(marked.scalars())


def join_lists(session: Session, subscriber: Subscriber, list_names) -> list[str]:
    """Add memberships the subscriber lacks; return the names added."""
    lists = {lst.name: lst for lst in all_lists(session)}
    have = set(session.scalars(select(Subscription.list_id).where(Subscription.subscriber_id == subscriber.id)))
    added = []
    for name in list_names:
        if lists[name].id not in have:
            session.add(Subscription(subscriber_id=subscriber.id, list_id=lists[name].id))
            have.add(lists[name].id)
            added.append(name)
    return added


def active_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Subscriber).where(Subscriber.active)) or 0
