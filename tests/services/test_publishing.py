"""Publishing: the update and its deliveries in one transaction, jobs only after commit, idempotent by uid."""
import pytest
from sqlalchemy import func, select

import config
from crisiscast.core.domain import Draft, ValidationError
from crisiscast.runtime import Runtime
from crisiscast.services import publishing
from crisiscast.store.models import AuditEvent, Delivery, Incident, Update

DRAFT = Draft(incident="Fort Hood shooting response", er_access="diversion", operating_status="lockdown",
              headline="Lockdown: ER on diversion", body="Avoid the area.", channels=("x", "facebook", "feed"))


def test_publish_stores_one_pending_delivery_per_channel_and_enqueues_after_commit(db, runtime, users):
    seen = []

    def enqueue(delivery_id, channel):
        # The job must find its row: by now the transaction is committed and visible to other sessions.
        with runtime.sessions() as other:
            seen.append((other.get(Delivery, delivery_id).state, channel))

    result = publishing.publish(db, DRAFT, uid="aaaaaaaaaaaa", author=users["author"], settings=runtime.settings,
                              channels=runtime.channels, enqueue=enqueue)
    assert result.created and result.queued
    assert seen == [("pending", "x"), ("pending", "facebook"), ("pending", "feed")]
    stored = db.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [d.rendering["text"].splitlines()[0] for d in stored[:2]] == ["Lockdown: ER on diversion"] * 2
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "publish")).message.endswith(
        "X, Facebook Page, RSS/Atom feed")


def test_publishing_the_same_uid_twice_stores_and_enqueues_once(db, runtime, users):
    calls = []
    for _ in range(2):
        result = publishing.publish(db, DRAFT, uid="bbbbbbbbbbbb", author=users["author"], settings=runtime.settings,
                                  channels=runtime.channels, enqueue=lambda *a: calls.append(a))
    assert not result.created
    assert len(calls) == 3
    assert db.scalar(select(func.count()).select_from(Update)) == 1
    assert db.scalar(select(func.count()).select_from(Incident)) == 1


def test_an_unreachable_queue_keeps_the_outbox(db, runtime, users):
    def down(*_):
        raise ConnectionError("Redis is down")

    result = publishing.publish(db, DRAFT, uid="cccccccccccc", author=users["author"], settings=runtime.settings,
                              channels=runtime.channels, enqueue=down)
    assert result.created and not result.queued and "Redis is down" in result.queue_error
    assert [d.state for d in db.scalars(select(Delivery))] == ["pending"] * 3


def test_an_invalid_draft_stores_nothing(db, runtime, users):
    with pytest.raises(ValidationError):
        publishing.publish(db, Draft(incident="", er_access="", operating_status="", headline=""), uid="dddddddddddd",
                         author=users["author"], settings=runtime.settings, channels=runtime.channels,
                         enqueue=lambda *a: None)
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_unconfigured_channel_is_skipped_with_the_missing_settings(db, settings, users):
    rt = Runtime(config.Settings({**settings, "FACEBOOK_PAGE_TOKEN": ""}))
    result = publishing.publish(db, DRAFT, uid="eeeeeeeeeeee", author=users["author"], settings=rt.settings,
                              channels=rt.channels, enqueue=lambda *a: None)
    facebook = next(d for d in result.update.deliveries if d.channel == "facebook")
    assert (facebook.state, facebook.error_message) == (
        "skipped", "Facebook Page is not configured: set FACEBOOK_PAGE_TOKEN.")
    assert db.scalar(select(AuditEvent).where(AuditEvent.outcome == "skipped")).channel == "facebook"
    rt.close()


def test_check_draft_renders_each_channel_and_refuses_unknown_sms_lists(db, settings):
    renderings = publishing.check_draft(db, DRAFT, settings, "ffffffffffff")
    assert set(renderings) == {"x", "facebook", "feed"}
    with pytest.raises(ValidationError) as exc:
        publishing.check_draft(db, Draft(**{**vars(DRAFT), "channels": ("sms",), "lists": ("nobody",)}), settings,
                               "ffffffffffff")
    assert exc.value.errors == {"lists": "Unknown list: nobody."}
    with pytest.raises(ValidationError) as exc:
        publishing.check_draft(db, Draft(incident="", er_access="", operating_status="", headline=""), settings,
                               "ffffffffffff")
    assert "headline" in exc.value.errors


STAFF_ONLY = Draft(incident="Code silver, ward 3", er_access="open", operating_status="lockdown",
                   headline="Code silver in ward 3", body="Stay clear of the east stairs. " * 30,
                   channels=("sms",), lists=("staff-on-call",))


def test_an_sms_only_update_to_an_internal_list_is_internal_and_its_sms_has_no_link(db, runtime, users):
    result = publishing.publish(db, STAFF_ONLY, uid="cccccccccccc", author=users["author"], settings=runtime.settings,
                                channels=runtime.channels, enqueue=lambda *a: None)
    sms = result.update.deliveries[0]
    assert result.update.audience == "internal"
    assert sms.rendering["shortened"] and sms.rendering["link"] == ""
    assert "/u/" not in sms.rendering["text"] and "More:" not in sms.rendering["text"]
    assert "[internal: staff only]" in db.scalar(select(AuditEvent).where(AuditEvent.action == "publish")).message


@pytest.mark.parametrize("changes", [{"lists": ("staff-on-call", "public")}, {"channels": ("sms", "feed")}])
def test_an_update_reaching_the_public_anywhere_is_public_and_links_its_page(db, runtime, users, changes):
    draft = Draft(**{**vars(STAFF_ONLY), **changes})
    update = publishing.publish(db, draft, uid="dddddddddddd", author=users["author"], settings=runtime.settings,
                                channels=runtime.channels, enqueue=lambda *a: None).update
    sms = next(d for d in update.deliveries if d.channel == "sms")
    assert update.audience == "public" and sms.rendering["text"].endswith(
        publishing.update_link(runtime.settings, "dddddddddddd"))


def test_a_lists_flag_changed_later_leaves_published_updates_as_they_were(db, runtime, users):
    """An internal update never becomes public by a later flag change (nor a public one private)."""
    from crisiscast.services import subscribers

    internal = publishing.publish(db, STAFF_ONLY, uid="eeeeeeeeeee1", author=users["author"],
                                  settings=runtime.settings, channels=runtime.channels, enqueue=lambda *a: None).update
    staff = next(lst for lst in subscribers.all_lists(db) if lst.name == "staff-on-call")
    subscribers.set_flags(db, staff.id, public=True, joinable=False, actor="admin")
    db.expire_all()
    assert db.get(Update, internal.id).audience == "internal"
    later = publishing.publish(db, STAFF_ONLY, uid="eeeeeeeeeee2", author=users["author"],
                               settings=runtime.settings, channels=runtime.channels, enqueue=lambda *a: None).update
    assert later.audience == "public"
