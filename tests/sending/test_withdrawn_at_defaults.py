"""A retraction and a superseding update during a fan-out at the settings a hospital runs: a long code at the
default 1 text/s, the default 120 s lease and 16 threads, status callbacks on through the real web app."""
from sqlalchemy import func, select

from crisiscast import jobs
from crisiscast.core.domain import Draft
from crisiscast.services import publishing
from crisiscast.store.models import SmsRecipient
from tests.support import faultkit
from tests.support.faultkit import wait_until
from tests.web.test_webhooks import serving

DEFAULTS = dict(SMS_SENDER_RATE=1, CLAIM_LEASE_SECONDS=120, SMS_WORKER_THREADS=16, SMS_BATCH_SIZE=500)
DRAFT = Draft(incident="Flood", er_access="diversion", operating_status="limited", headline="ER on diversion",
              channels=("sms",), lists=("public",))
# A fan-out asks once a second whether its update was retracted, and a send is asked again when its turn at the
# throttle comes: at 1 text/s, at most about two more texts leave after the retraction commits.
AFTER_RETRACTION = 2


def states(db, delivery_id):
    db.expire_all()
    return dict(db.execute(select(SmsRecipient.state, func.count()).where(SmsRecipient.delivery_id == delivery_id)
                           .group_by(SmsRecipient.state)).all())


def sent_so_far(db, delivery_id) -> int:
    return states(db, delivery_id).get("sent", 0)


def publish(db, live, users, queue, draft=DRAFT):
    """Publish `draft` as the author through the served app's settings and channels; the stored update."""
    return publishing.publish(db, draft, uid=publishing.new_uid(), author=users["author"], settings=live.settings,
                              channels=live.channels, enqueue=lambda i, c: jobs.enqueue_delivery(queue, i, c)).update


def under_way(db, update) -> int:
    """Once the update's fan-out has sent two texts: its SMS delivery's id."""
    sms = update.deliveries[0].id
    wait_until(lambda: sent_so_far(db, sms) >= 2, timeout=120, what="the fan-out under way")
    return sms


def run_with_a_worker(settings, tmp_path, sandbox_client, scenario):
    """Serve the app (the sandbox's callbacks reach it), start one real worker at the defaults, run `scenario`."""
    sandbox_client.configure(status_callbacks=True, status_delay_ms=20)
    with serving(settings) as live:
        pool = faultkit.WorkerPool(live.settings, FAULTKIT_LOG=tmp_path / "worker.log", **DEFAULTS)
        try:
            pool.start(1)
            return scenario(live)
        finally:
            pool.stop()


def test_a_retraction_mid_fan_out_stops_every_text_not_yet_claimed(db, settings, users, runtime, tmp_path,
                                                                   sandbox_client, queue):
    numbers = faultkit.add_subscribers(db, 30)

    def scenario(live):
        update = publish(db, live, users, queue)
        sms = under_way(db, update)
        before = sent_so_far(db, sms)
        publishing.retract(db, update.id, "Sent in error", "author", rerender=lambda: None)
        faultkit.wait_settled(runtime.sessions, timeout=180)
        return sms, before

    sms, before = run_with_a_worker(settings, tmp_path, sandbox_client, scenario)
    final = states(db, sms)
    assert faultkit.tally(sandbox_client.accepted("twilio"), numbers)["duplicated"] == 0
    assert final.get("sent", 0) + final.get("cancelled", 0) == 30
    assert final.get("sent", 0) <= before + AFTER_RETRACTION
    assert set(db.scalars(select(SmsRecipient.error_code).where(SmsRecipient.state == "cancelled"))) == {"retracted"}
    wait_until(lambda: _delivered(db, sms) == final["sent"], timeout=60,
               what="a receipt for every text sent")


def test_a_newer_update_mid_fan_out_reaches_everyone_once_and_stops_the_older_texts(db, settings, users, runtime,
                                                                                   tmp_path, sandbox_client, queue):
    numbers = faultkit.add_subscribers(db, 30)

    def scenario(live):
        older = publish(db, live, users, queue)
        before = sent_so_far(db, under_way(db, older))
        newer = publish(db, live, users, queue, Draft(**{**vars(DRAFT), "headline": "ER open again",
                                                         "er_access": "open"}))
        faultkit.wait_settled(runtime.sessions, timeout=240)
        return older.deliveries[0].id, newer.deliveries[0].id, before

    older, newer, before = run_with_a_worker(settings, tmp_path, sandbox_client, scenario)
    texts = sandbox_client.accepted("twilio")
    newest = [t for t in texts if "ER open again" in t["body"]]
    assert faultkit.tally(newest, numbers)["once"] == 30  # the new update reaches everyone, once
    assert faultkit.tally([t for t in texts if t not in newest], numbers)["duplicated"] == 0
    assert states(db, newer) == {"sent": 30}
    old = states(db, older)
    # A newer update stops the older texts not yet claimed; those a batch already holds (sends waiting in the
    # throttle, about 20 at the default 16 threads) still go out, each once.
    assert old.get("sent", 0) + old.get("cancelled", 0) == 30 and old.get("cancelled", 0) > 0 and before >= 2


def _delivered(db, delivery_id) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).where(SmsRecipient.delivery_id == delivery_id,
                                                SmsRecipient.status == "delivered")) or 0


def test_a_staff_text_goes_out_during_a_long_fan_out_not_after_it(db, settings, users, runtime, tmp_path,
                                                                  sandbox_client, queue):
    """At the defaults one worker is busy with a fan-out's batch for as long as it lasts (120 texts at 1/s): an
    approval request's text queued behind it is sent by the worker's periodic pass, taking a turn at the sender's
    rate, long before the fan-out ends; and once."""
    from crisiscast.jobs.tasks import enqueue_staff_texts
    from crisiscast.services import staff_texts
    from crisiscast.store.models import StaffText

    faultkit.add_subscribers(db, 120)
    approver = "+15125559876"

    def scenario(live):
        update = publish(db, live, users, queue)
        sms = under_way(db, update)
        ids = staff_texts.request(db, "approval:1", [approver], "Approval needed: ER on diversion", kind="approval")
        db.commit()
        enqueue_staff_texts(queue, ids)  # behind the batch job the only worker is running

        def staff_text_sent():
            db.expire_all()
            return db.scalar(select(StaffText.state)) == "sent"

        wait_until(staff_text_sent, timeout=150, what="the staff text sent")
        during = sent_so_far(db, sms)
        faultkit.wait_settled(runtime.sessions, timeout=300)
        return during

    during = run_with_a_worker(settings, tmp_path, sandbox_client, scenario)
    assert during < 120  # the fan-out was still under way when the staff text went
    assert [m["to"] for m in sandbox_client.accepted("twilio")].count(approver) == 1
