"""The tables: staff, incidents, updates, their deliveries (the outbox), SMS recipients, feed entries, audit."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# A new list's place in a fan-out's send order: after the seeded ones (staff-on-call 10, media 20, public 30).
DEFAULT_LIST_PRIORITY = 100


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime: use crisiscast.store.models.utcnow()")
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class User(Base):
    """A staff account; role is viewer, author or admin."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The member of staff's own mobile (E.164), for texts crisiscast sends to staff (approval requests); optional.
    phone: Mapped[str] = mapped_column(String(20), default="", server_default="")
    # May approve another author's update when APPROVAL_REQUIRED is on; set by admins, never implied by a role.
    can_approve: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class UserSession(Base):
    """One signed-in browser: the cookie carries its token, the table only the token's SHA-256.

    Deleting the row ends that session wherever the cookie went; idle and absolute lifetimes are checked
    against `last_seen_at` and `created_at` on every request.
    """

    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class Incident(Base):
    """An event that updates belong to, e.g. 'Fort Hood shooting response'."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120), unique=True)
    slug: Mapped[str | None] = mapped_column(String(140), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Update(Base):
    """One published status update; `uid` is its public, stable identifier and its idempotency key."""

    __tablename__ = "updates"
    # The overdue alarm reads each incident's latest live update of each audience on every console page.
    __table_args__ = (Index("ix_updates_live_promises", "incident_id", "audience", "published_at",
                            sqlite_where=text("retracted_at IS NULL"), postgresql_where=text("retracted_at IS NULL")),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    er_access: Mapped[str] = mapped_column(String(32))
    operating_status: Mapped[str] = mapped_column(String(32))
    headline: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Free text, kept readable for updates written before the promise became a time (migration 0019).
    next_update: Mapped[str] = mapped_column(String(80), default="")
    # The promised next update (crisiscast.core.promise), or that no further update is planned.
    next_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    no_further_updates: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("updates.id"))
    story_uid: Mapped[str | None] = mapped_column(String(32), index=True)
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retraction_reason: Mapped[str] = mapped_column(String(200), default="")
    # "public" or "internal" (crisiscast.core.audience), fixed at publish: a list's flag changed later
    # neither publishes an old staff-only update nor withdraws what the public already received. A row
    # written without one (by hand, or by an older migration's test) is internal: nothing private goes out.
    audience: Mapped[str] = mapped_column(String(16), server_default="internal")
    # The template it started from, for "most used first"; no foreign key, so a template can be deleted.
    template_id: Mapped[int | None] = mapped_column(Integer)
    # Its SMS cancels the not-yet-sent texts of earlier updates of the incident (unless the author said not to).
    supersede_earlier: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # How it went out: "direct" (no approval needed), "approved" (by a second person) or "break_glass" (the
    # author published without approval after the timeout, with `release_reason`).
    release: Mapped[str] = mapped_column(String(16), default="direct", server_default="direct")
    release_reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # No foreign key: a plain ADD COLUMN on SQLite, and the approver's name is in the audit log too.
    approved_by_id: Mapped[int | None] = mapped_column(Integer)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A drill (audience "exercise"): marked EXERCISE everywhere, never public. A correction of one is one too.
    exercise: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # When the author started writing it (the draft's first autosave), for the drill report; None if unsaved.
    composed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(lazy="joined")
    author: Mapped[User] = relationship(lazy="joined")
    corrects: Mapped["Update | None"] = relationship(remote_side="Update.id")
    approved_by: Mapped["User | None"] = relationship(primaryjoin="foreign(Update.approved_by_id) == User.id",
                                                      viewonly=True)
    deliveries: Mapped[list["Delivery"]] = relationship(back_populates="update", order_by="Delivery.id")


class MessageTemplate(Base):
    """A ready-made update an author starts from; `{name}` placeholders must be filled before preview."""

    __tablename__ = "message_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    er_access: Mapped[str] = mapped_column(String(32), default="")
    operating_status: Mapped[str] = mapped_column(String(32), default="")
    headline: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    channels: Mapped[list] = mapped_column(JSON)
    lists: Mapped[list] = mapped_column(JSON)
    next_update_minutes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One channel of one update: the rendering to send, its state and the provider's answer."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("update_id", "channel"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("updates.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    rendering: Mapped[dict] = mapped_column(JSON)
    audience: Mapped[list | None] = mapped_column(JSON)
    batches: Mapped[list | None] = mapped_column(JSON)
    target: Mapped[str] = mapped_column(String(200), default="")
    provider_id: Mapped[str | None] = mapped_column(String(120))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    update: Mapped[Update] = relationship(back_populates="deliveries")


class SubscriberList(Base):
    """A list an update can target, e.g. public, media, staff-on-call; `joinable` lists accept JOIN by text.

    A `public` list's members are the public: an SMS to it makes an update public. Joinable implies public.
    """

    __tablename__ = "subscriber_lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    joinable: Mapped[bool] = mapped_column(Boolean, default=False)
    public: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Send order in a fan-out: 1 before 2. A number on several targeted lists is sent once, at its lowest.
    priority: Mapped[int] = mapped_column(Integer, default=DEFAULT_LIST_PRIORITY, server_default=text("100"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(Base):
    """A subscriber's membership of one list."""

    __tablename__ = "subscriptions"
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("subscriber_lists.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscriber(Base):
    """A phone number that receives SMS alerts; `opt_out` says who ended that: 'stop' (the person) or 'staff'."""

    __tablename__ = "subscribers"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opt_out: Mapped[str | None] = mapped_column(String(16))
    # Who asked for the alerts: 'keyword' (the owner texted JOIN), 'staff', 'import', or 'legacy' (from before
    # consent was recorded). None only for a number that never subscribed (it texted STOP first).
    consent_source: Mapped[str | None] = mapped_column(String(16))
    consented_by: Mapped[str | None] = mapped_column(String(80))
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SMS_CONFIRM_ADDED: 'pending' until a job claims it ('sending'), then 'sent' or 'failed'; never sent twice.
    confirmation: Mapped[str | None] = mapped_column(String(16))
    confirmation_sid: Mapped[str | None] = mapped_column(String(64))

    lists: Mapped[list[SubscriberList]] = relationship(secondary="subscriptions", order_by="SubscriberList.name")


class InboundMessage(Base):
    """One text from the public, kept once by its MessageSid (and Twilio's idempotency token): a replay or a
    retry of it changes nothing and gets the same answer."""

    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    idempotency_token: Mapped[str | None] = mapped_column(String(120), unique=True)
    sender: Mapped[str] = mapped_column(String(32))  # masked
    keyword: Mapped[str] = mapped_column(String(20), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="")
    reply: Mapped[str | None] = mapped_column(Text)  # the TwiML reply's text, given again to a retry
    reply_state: Mapped[str] = mapped_column(String(16), default="none")  # sent, suppressed or none
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsRecipient(Base):
    """One SMS of one delivery to one subscriber: sent at most once."""

    __tablename__ = "sms_recipients"
    # Few indexes: a fan-out inserts and updates every row. delivery_id lookups use the unique constraint.
    __table_args__ = (UniqueConstraint("delivery_id", "subscriber_id"),
                      # Unique: one provider message is never credited to two recipients.
                      Index("ix_sms_recipients_provider_id", "provider_id", unique=True,
                            postgresql_where=text("provider_id IS NOT NULL"),
                            sqlite_where=text("provider_id IS NOT NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    phone: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(16), index=True)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str | None] = mapped_column(String(16))
    status_error_code: Mapped[str | None] = mapped_column(String(16))
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SmsReceipt(Base):
    """One status callback from Twilio, kept once (its key) and waiting until a worker applies it to its row."""

    __tablename__ = "sms_receipts"
    __table_args__ = (Index("ix_sms_receipts_waiting", "message_sid", postgresql_where=text("waiting"),
                            sqlite_where=text("waiting")),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    message_sid: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(16))
    to_phone: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    waiting: Mapped[bool] = mapped_column(Boolean, default=False)


class FeedEntry(Base):
    """An update as it stands in the public feeds."""

    __tablename__ = "feed_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("updates.id"), unique=True)
    guid: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ApprovalRequest(Base):
    """A draft waiting for a second person: its form values, not an update, so nothing of it can be public."""

    __tablename__ = "approval_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    # The compose form's uid: the update approval publishes gets it, so a resubmitted form is recognised.
    uid: Mapped[str] = mapped_column(String(32), index=True)
    values: Mapped[dict] = mapped_column(JSON)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The guard warnings the author acknowledged (their messages), shown to the approver.
    warnings: Mapped[list] = mapped_column(JSON)
    # The fingerprint of exactly what would go out (crisiscast.core.rendering.fingerprint) when asked.
    content_hash: Mapped[str] = mapped_column(String(64))
    headline: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # pending, approved, rejected, withdrawn (the author changed it: a new request replaces it) or break_glass.
    state: Mapped[str] = mapped_column(String(16), index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(500), default="")
    update_id: Mapped[int | None] = mapped_column(Integer)
    # The author has seen the decision: their banner stops showing it.
    author_seen: Mapped[bool] = mapped_column(Boolean, default=False)

    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="joined")
    decided_by: Mapped["User | None"] = relationship(foreign_keys=[decided_by_id], lazy="joined")


class SavedDraft(Base):
    """What an author was typing in the composer, saved as they type so a lost session loses nothing."""

    __tablename__ = "saved_drafts"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    values: Mapped[dict] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OverdueReminder(Base):
    """One reminder that an update's promised next update is overdue; unique, so each goes out once."""

    __tablename__ = "overdue_reminders"
    __table_args__ = (UniqueConstraint("update_id", "number", name="uq_overdue_reminders_update_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("updates.id"))
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """One line of the append-only audit log; the database refuses updates and deletes."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40), index=True)
    update_id: Mapped[int | None] = mapped_column(Integer, index=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(120))
    error_code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")


class StaffText(Base):
    """One text crisiscast sends to a member of staff (an approval request, an overdue reminder): once per
    (key, phone), claimed ('sending') before the request leaves, so it is never sent twice."""

    __tablename__ = "staff_texts"
    __table_args__ = (UniqueConstraint("key", "phone"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(1600))
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
