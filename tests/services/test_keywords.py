"""Keywords from the public: JOIN/START, STOP and its synonyms, HELP/INFO, and the rest."""
import pytest
from sqlalchemy import select

from crisiscast.services import keywords, subscribers
from crisiscast.store.models import AuditEvent, Subscriber

NUMBER = "+15125551267"


def text(db, settings, body, opt_out_type=""):
    return keywords.handle(db, settings, NUMBER, body, opt_out_type)


def subscriber(db):
    return db.scalar(select(Subscriber).where(Subscriber.phone == NUMBER))


def test_join_subscribes_to_public_and_confirms_with_the_required_words(db, settings):
    effect = text(db, settings, " join ")
    assert effect.outcome == "subscribed"
    for words in ("Scott & White", "public", "frequency varies", "Msg & data rates may apply",
                  "Reply STOP to cancel, HELP for help"):
        assert words in effect.reply
    assert [lst.name for lst in subscriber(db).lists] == ["public"]


def test_join_a_named_list_and_refuse_a_closed_one(db, settings):
    subscribers.create_list(db, "volunteers", "", True, "admin", public=True)
    assert text(db, settings, "START volunteers").outcome == "subscribed"
    refused = text(db, settings, "JOIN staff-on-call")
    assert refused.outcome == "refused" and "public, volunteers" in refused.reply
    assert [lst.name for lst in subscriber(db).lists] == ["volunteers"]


def test_media_is_not_joinable_by_text_until_an_admin_says_so(db, settings):
    """Reporters are added by staff: a stranger texting JOIN media gets no press list."""
    refused = text(db, settings, "JOIN media")
    assert refused.outcome == "refused" and "media" not in refused.reply.split("one of:")[1]
    assert subscriber(db) is None or subscriber(db).lists == []
    media = next(lst for lst in subscribers.all_lists(db) if lst.name == "media")
    subscribers.set_flags(db, media.id, public=True, joinable=True, actor="admin")
    assert text(db, settings, "JOIN media").outcome == "subscribed"
    assert [lst.name for lst in subscriber(db).lists] == ["media"]


@pytest.mark.parametrize("word", ["STOP", "stop", "  Stop  ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"])
def test_every_stop_word_unsubscribes_from_everything(db, settings, word):
    subscribers.add(db, NUMBER, "", ["public", "media"], "author")
    effect = text(db, settings, word)
    assert effect.outcome == "unsubscribed" and "no more messages" in effect.reply
    assert not subscriber(db).active and subscriber(db).opt_out == "stop"
    assert subscribers.audience_count(db, ["public", "media"]) == 0


def test_stop_from_an_unknown_number_is_remembered(db, settings):
    text(db, settings, "STOP")
    assert subscriber(db).active is False


def test_start_after_stop_resubscribes(db, settings):
    subscribers.add(db, NUMBER, "", ["public"], "author")
    text(db, settings, "STOP")
    assert text(db, settings, "START").outcome == "subscribed" and subscriber(db).active


def test_advanced_opt_out_type_is_honoured_and_twilio_replies(db, settings):
    subscribers.add(db, NUMBER, "", ["public"], "author")
    effect = text(db, settings, "ARRET", opt_out_type="STOP")
    assert (effect.outcome, effect.reply) == ("unsubscribed", None)
    assert not subscriber(db).active
    assert text(db, settings, "HELP", opt_out_type="HELP").reply is None


@pytest.mark.parametrize("word", ["HELP", "info"])
def test_help_names_the_program_contact_and_how_to_stop(db, settings, word):
    effect = text(db, settings, word)
    assert effect.outcome == "help"
    assert "Scott & White" in effect.reply and "call the hospital's main number" in effect.reply
    assert "Reply STOP to cancel" in effect.reply


def test_anything_else_gets_a_short_help_and_everything_is_audited(db, settings):
    effect = text(db, settings, "is the ER open?")
    assert effect.outcome == "unrecognised" and "reply JOIN" in effect.reply
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "inbound"))
    assert (event.outcome, event.target, event.actor) == ("unrecognised", "+1512555••67", "sms")
