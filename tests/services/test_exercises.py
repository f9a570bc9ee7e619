"""Exercises end to end, counted at the sandbox: the drill list gets its texts, the public nothing, X and Facebook
nothing unless EXERCISE_SOCIAL=on (then the posts carry the marker), and the public feed is never used."""
import pytest
from sqlalchemy import func, select

from crisiscast.core.domain import Draft, ValidationError
from crisiscast.runtime import Runtime
from crisiscast.sending import sms_plan, sms_recipients
from crisiscast.services import publishing, retraction
from crisiscast.store.models import Delivery, FeedEntry, Update

DRILL = Draft(incident="Mass casualty drill", er_access="closed_walkins", operating_status="limited",
              headline="Mass casualty incident: ER closed to walk-ins", body="Report to the labour pool.",
              channels=("sms", "x", "facebook", "bluesky", "mastodon", "feed"), lists=("drill",), exercise=True)
DRILL_STAFF = ("+15125550180", "+15125550181")
PUBLIC_NUMBER = "+15125550182"


@pytest.fixture
def members(subscribe):
    subscribe(*DRILL_STAFF, lists=("drill",))
    subscribe(PUBLIC_NUMBER, lists=("public", "staff-on-call"))


def deliveries(update) -> dict[str, Delivery]:
    return {d.channel: d for d in update.deliveries}


def test_a_drill_texts_the_drill_list_only_and_skips_x_facebook_and_the_feed(db, publish, drain, members,
                                                                              sandbox_client):
    update = publish(DRILL)
    drain()
    db.refresh(update)
    texts = sandbox_client.accepted("twilio")
    assert sorted(t["to"] for t in texts) == sorted(DRILL_STAFF)  # each once, nobody else
    assert all(t["body"].startswith("EXERCISE - Scott & White: Mass casualty") for t in texts)
    assert sandbox_client.accepted("x") == sandbox_client.accepted("graph") == sandbox_client.accepted("bluesky") == []
    sent = deliveries(update)
    assert sent["sms"].state == "sent"
    for channel, reason in (("x", "X is not used for drills (EXERCISE_SOCIAL=off)"),
                            ("facebook", "Facebook Page is not used for drills (EXERCISE_SOCIAL=off)"),
                            ("bluesky", "Bluesky is not used for drills (EXERCISE_SOCIAL=off)"),
                            ("mastodon", "Mastodon is not used for drills (EXERCISE_SOCIAL=off)"),
                            ("feed", "the public feed is never used for a drill")):
        assert sent[channel].state == "skipped" and sent[channel].error_code == "exercise"
        assert reason in sent[channel].error_message
    assert (update.audience, update.exercise, update.supersede_earlier) == ("exercise", True, False)
    assert db.scalar(select(func.count()).select_from(FeedEntry)) == 0
    assert all("http" not in r["text"] for r in (d.rendering for d in update.deliveries))  # no public page


def test_with_exercise_social_on_the_posts_go_out_marked(db, settings, publish, drain, members, sandbox_client):
    social = Runtime(settings.replace(EXERCISE_SOCIAL="on"))
    try:
        update = publish(DRILL, on=social)
    finally:
        social.close()
    drain()
    db.refresh(update)
    posts = [r for r in sandbox_client.accepted("x") if r["kind"] == "post"]
    pages = [r for r in sandbox_client.accepted("graph") if r["kind"] == "post"]
    assert [p["text"][:len("EXERCISE — Mass")] for p in posts] == ["EXERCISE — Mass"]
    assert [p["message"][:len("EXERCISE — Mass")] for p in pages] == ["EXERCISE — Mass"]
    skies = [r for r in sandbox_client.accepted("bluesky") if r["kind"] == "post"]
    assert [p["text"][:len("EXERCISE — Mass")] for p in skies] == ["EXERCISE — Mass"]
    assert pages[0]["link"] == ""  # an exercise has no public page to link to
    assert {c: d.state for c, d in deliveries(update).items()} == {"sms": "sent", "x": "sent", "facebook": "sent",
                                                                   "bluesky": "sent", "mastodon": "sent",
                                                                   "feed": "skipped"}


@pytest.mark.parametrize("lists", [("public",), ("drill", "media")])
def test_a_drill_to_a_public_list_is_refused_and_nothing_is_stored(db, publish, members, lists):
    with pytest.raises(ValidationError) as refused:
        publish(DRILL, lists=lists)
    assert "An exercise is texted only to lists that are not public" in refused.value.errors["lists"]
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_a_drill_that_would_send_nothing_is_refused(db, publish):
    with pytest.raises(ValidationError) as refused:
        publish(DRILL, channels=("x", "feed"))
    assert refused.value.errors["channels"].startswith("An exercise would send nothing on these channels: "
                                                       "Exercise: X is not used for drills (EXERCISE_SOCIAL=off).")
    assert db.scalar(select(func.count()).select_from(Update)) == 0


def test_a_correction_of_a_drill_is_a_drill_and_a_drill_cannot_correct_a_real_update(db, publish, members):
    drill = publish(DRILL, channels=("sms",))
    fix = publish(DRILL, channels=("sms",), exercise=False, corrects=drill.uid, headline="ER open again")
    assert (fix.exercise, fix.audience) == (True, "exercise")
    assert fix.deliveries[0].rendering["text"].startswith("EXERCISE - ")
    real = publish(DRILL, channels=("feed",), exercise=False, lists=())
    assert real.audience == "public" and not real.exercise
    with pytest.raises(ValidationError) as refused:
        publish(DRILL, channels=("sms",), corrects=real.uid)
    assert "An exercise cannot correct a real update" in refused.value.errors["exercise"]


def test_a_drill_never_cancels_the_unsent_texts_of_a_real_update(db, runtime, publish, members):
    """Neither when the drill is published (the real texts are planned) nor when the real texts are planned
    after it: a drill must not stop a real update reaching staff."""
    real = dict(channels=("sms",), exercise=False, queued=False, keep_earlier=True)  # only the drill could cancel
    planned, unplanned = publish(DRILL, **real), publish(DRILL, **real)
    sms_plan.plan(runtime.sessions, planned.deliveries[0].id, ["drill"], 100)
    drill = publish(DRILL, channels=("sms",), queued=False)
    sms_plan.plan(runtime.sessions, unplanned.deliveries[0].id, ["drill"], 100)
    assert drill.supersede_earlier is False
    for update in (planned, unplanned):
        assert sms_recipients.counts(db, update.deliveries[0].id) == {"pending": len(DRILL_STAFF)}


def test_the_retraction_notice_of_a_drill_carries_the_marker(db, settings, publish, drain, members, sandbox_client):
    drill = publish(DRILL, channels=("sms",))
    drain()
    publishing.retract(db, drill.id, "Drill over", "author", lambda: None)
    notice = retraction.notify_recipients(db, db.get(Update, drill.id), settings, "author")
    assert notice.rendering["text"].startswith("EXERCISE - Scott & White: please disregard")
