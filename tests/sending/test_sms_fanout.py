"""The SMS fan-out: each active subscriber on the lists once, opt-outs honoured, throttled, retried, settled."""
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from crisiscast import jobs
from crisiscast.sending.delivery import deliver
from crisiscast.sending.sms_plan import plan
from crisiscast.sending.throttle import Limits, Throttle
from crisiscast.store.models import AuditEvent, Delivery, SmsRecipient


@pytest.fixture
def publish_sms(publish):
    """Publish an SMS update to `lists` without queueing; return its delivery's id."""

    def run(lists=("public",), body="Blood donors needed at the main campus."):
        update = publish(incident="Fort Hood", headline="Update", body=body, channels=("sms",), lists=lists,
                         queued=False)
        return update.deliveries[0].id

    return run


def fan_out(runtime, delivery_id):
    """Plan the delivery and run each of its batches with the real job function, in this process."""
    outcome = deliver(runtime.delivery_context(), delivery_id)
    for first_id, last_id in outcome.batches:
        jobs.sms_batch_job(delivery_id, first_id, last_id)
    return outcome


def accepted_numbers(sandbox_client):
    return Counter(m["to"] for m in sandbox_client.accepted("twilio"))


def test_only_active_subscribers_on_the_chosen_lists_get_it_once(runtime, publish_sms, subscribe, sandbox_client, db):
    subscribe("+15125550001", "+15125550002", lists=("public",))
    subscribe("+15125550003", lists=("media",))
    subscribe("+15125550004", lists=("public", "media"))
    subscribe("+15125550005", lists=("staff-on-call",))
    subscribe("+15125550006", lists=("media",), active=False)
    delivery_id = publish_sms(lists=("public", "media"))
    fan_out(runtime, delivery_id)
    assert accepted_numbers(sandbox_client) == Counter({"+15125550001": 1, "+15125550002": 1,
                                                        "+15125550003": 1, "+15125550004": 1})
    delivery = db.get(Delivery, delivery_id)
    assert (delivery.state, delivery.provider_id) == ("sent", "4 messages")


def test_a_batch_with_work_goes_on_to_the_later_batches_and_they_then_stop_at_once(runtime, publish_sms, subscribe,
                                                                                   sandbox_client, db):
    batch_size = int(runtime.settings["SMS_BATCH_SIZE"])
    subscribe(*[f"+1512555{i:04d}" for i in range(2 * batch_size + 10)])
    delivery_id = publish_sms()
    outcome = deliver(runtime.delivery_context(sms_batch_size=batch_size), delivery_id)
    first, *later = outcome.batches
    assert len(later) == 2
    jobs.sms_batch_job(delivery_id, *first)
    assert sum(accepted_numbers(sandbox_client).values()) == 2 * batch_size + 10
    assert db.get(Delivery, delivery_id).state == "sent"
    for batch in later:  # their recipients were all sent by the first: nothing more goes out
        jobs.sms_batch_job(delivery_id, *batch)
    assert set(accepted_numbers(sandbox_client).values()) == {1}
    assert sum(accepted_numbers(sandbox_client).values()) == 2 * batch_size + 10


def test_a_few_hundred_through_real_workers_with_429s_all_delivered_once(runtime, publish_sms, subscribe, queue,
                                                                         drain, sandbox_client, db):
    numbers = [f"+1512555{i:04d}" for i in range(300)]
    subscribe(*numbers)
    sandbox_client.configure(concurrency=4, faults={"twilio": {"rate": 0.15, "kinds": ["429", "503"]}})
    delivery_id = publish_sms()
    jobs.enqueue_delivery(queue, delivery_id, "sms")
    drain(timeout=60)
    sent = accepted_numbers(sandbox_client)
    assert set(sent) == set(numbers) and set(sent.values()) == {1}
    stats = sandbox_client.stats()["counters"]
    assert stats.get("twilio.fault_429", 0) + stats.get("twilio.rejected_concurrency", 0) > 0
    assert db.get(Delivery, delivery_id).state == "sent"
    outcomes = Counter(db.scalars(select(AuditEvent.outcome).where(AuditEvent.channel == "sms",
                                                                   AuditEvent.action == "send")))
    assert outcomes["sent"] == 300 and outcomes["retrying"] > 0 and outcomes["failed"] == 0


def test_stop_after_publish_before_the_send_cancels_that_message(runtime, publish_sms, subscribe, sandbox_client,
                                                                 db):
    stays, leaves = subscribe("+15125551267", "+15125550188")
    delivery_id = publish_sms()
    outcome = deliver(runtime.delivery_context(sms_batch_size=50), delivery_id)
    leaves.active = False  # texted STOP after the recipients were planned, before the batch ran
    db.commit()
    for first_id, last_id in outcome.batches:
        jobs.sms_batch_job(delivery_id, first_id, last_id)
    assert list(accepted_numbers(sandbox_client)) == ["+15125551267"]
    states = dict(db.execute(select(SmsRecipient.phone, SmsRecipient.state)).all())
    assert states == {"+15125551267": "sent", "+15125550188": "cancelled"}
    db.expire_all()
    assert db.get(Delivery, delivery_id).error_message is None
    assert "1 opted out" in db.scalar(select(AuditEvent.message).where(AuditEvent.action == "fanout"))


def test_a_permanently_invalid_number_fails_once_is_not_retried_and_the_rest_go_out(runtime, publish_sms, subscribe,
                                                                                    sandbox_client, db):
    subscribe("+15125551267", "+15005550001")
    delivery_id = publish_sms()
    fan_out(runtime, delivery_id)
    delivery = db.get(Delivery, delivery_id)
    assert delivery.state == "partial" and "1 of 2 messages failed" in delivery.error_message
    failed = db.scalar(select(SmsRecipient).where(SmsRecipient.state == "failed"))
    assert (failed.phone, failed.error_code, failed.attempts) == ("+15005550001", "21211", 1)
    fan_out(runtime, delivery_id)
    assert len(sandbox_client.accepted("twilio")) == 1


def test_retries_give_up_after_the_budget(settings, runtime, publish_sms, subscribe, sandbox_client, db):
    subscribe("+15125551267")
    sandbox_client.configure(script={"twilio": ["503"] * 6})
    delivery_id = publish_sms()
    fan_out(runtime, delivery_id)
    recipient = db.scalar(select(SmsRecipient))
    assert (recipient.state, recipient.attempts) == ("failed", 6)
    assert "gave up after 6 attempts" in recipient.error_message
    assert sandbox_client.accepted("twilio") == []


def test_planning_twice_plans_each_subscriber_once(runtime, publish_sms, subscribe, db):
    subscribe(*[f"+1512555{i:04d}" for i in range(120)])
    delivery_id = publish_sms()
    first = plan(runtime.sessions, delivery_id, ["public"], 50)
    subscribe("+15125559999")  # joins after the update was planned: not added to it
    second = plan(runtime.sessions, delivery_id, ["public"], 50)
    assert first == second and len(first) == 3
    assert len(db.scalars(select(SmsRecipient)).all()) == 120


def test_two_workers_running_the_same_batch_send_each_message_once(runtime, publish_sms, subscribe, sandbox_client):
    subscribe(*[f"+1512555{i:04d}" for i in range(60)])
    sandbox_client.configure(latency_ms=20)
    delivery_id = publish_sms()
    outcome = deliver(runtime.delivery_context(sms_batch_size=100), delivery_id)
    [(first_id, last_id)] = outcome.batches
    threads = [threading.Thread(target=jobs.sms_batch_job, args=(delivery_id, first_id, last_id)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = accepted_numbers(sandbox_client)
    assert len(sent) == 60 and set(sent.values()) == {1}


def test_no_one_on_the_lists_is_skipped_with_a_reason(runtime, publish_sms, subscribe, db):
    subscribe("+15125551267", lists=("media",))
    delivery_id = publish_sms(lists=("staff-on-call",))
    assert fan_out(runtime, delivery_id).batches == ()
    delivery = db.get(Delivery, delivery_id)
    assert (delivery.state, delivery.error_code) == ("skipped", "no_subscribers")


def test_throttle_holds_the_concurrency_cap_across_threads(runtime, queue):
    throttle = Throttle(queue.connection, Limits(account="ACtest", sender="+1", max_concurrency=3, rate_per_second=10_000))
    peak, inside, lock, full = [0], [0], threading.Lock(), threading.Event()

    def hold():
        with throttle.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
                if inside[0] == 3:
                    full.set()
            full.wait(60)  # the first three stay until the cap is reached, however slowly threads start
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 3
    throttle.flush()
    assert throttle.in_use() == 0


def test_a_finished_slot_is_reused_by_the_next_request(runtime, queue):
    throttle = Throttle(queue.connection, Limits(account="ACtest4", sender="+4", max_concurrency=1, rate_per_second=10_000),
                        linger_seconds=30)
    with throttle.slot():
        first = queue.connection.zrange(throttle.slots_key, 0, -1)
    with throttle.slot():  # the cap is 1: this gets in only because it reuses the first slot
        assert throttle.in_use() == 1
        assert queue.connection.zrange(throttle.slots_key, 0, -1) == first  # that very slot, not a new one
    throttle.flush()
    assert throttle.in_use() == 0


def test_a_finished_slot_no_acquire_takes_along_goes_back_soon(runtime, queue):
    throttle = Throttle(queue.connection, Limits(account="ACtest6", sender="+6", max_concurrency=1, rate_per_second=10_000))
    with throttle.slot():
        pass
    deadline = time.monotonic() + 60
    while throttle.in_use() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert throttle.in_use() == 0  # no acquire followed: the sweeper gave it back


def test_the_throttle_loads_its_script_into_a_new_redis_server(runtime, queue):
    throttle = Throttle(queue.connection, Limits(account="ACtest5", sender="+5", max_concurrency=2, rate_per_second=10_000))
    queue.connection.script_flush()
    with throttle.slot():
        assert throttle.in_use() == 1


def test_throttle_holds_the_sender_rate(runtime, queue):
    throttle = Throttle(queue.connection, Limits(account="ACtest2", sender="+2", max_concurrency=100, rate_per_second=50))
    started = time.monotonic()
    for _ in range(26):
        with throttle.slot():
            pass
    assert time.monotonic() - started >= 0.49  # 25 intervals of 20 ms after the first


def test_reserving_several_messages_at_once_still_holds_the_rate(runtime, queue):
    throttle = Throttle(queue.connection, Limits(account="ACtest7", sender="+7", max_concurrency=100, rate_per_second=200),
                        burst=10)
    started = time.monotonic()
    for _ in range(100):
        with throttle.slot():
            pass
    # 90 intervals of 5 ms after the burst, less the 45 ms a reserved message may wait before it is sent.
    assert time.monotonic() - started >= 0.4


def test_slots_kept_from_before_redis_was_replaced_are_not_reused(private_redis):
    """A new Redis knows nothing of this process's idle slots: using them would exceed the cap unseen."""
    ours = Throttle(private_redis, Limits(account="ACtest8", sender="+8", max_concurrency=1, rate_per_second=10_000),
                    linger_seconds=30)
    theirs = Throttle(private_redis, Limits(account="ACtest8", sender="+8", max_concurrency=1, rate_per_second=10_000))
    with ours.slot():
        pass  # now an idle slot of ours, kept for our next request
    private_redis.flushdb()  # a Redis of this test's own, never one REDIS_URL named
    private_redis.script_flush()  # as a freshly started server
    entered = threading.Event()

    def send_next():
        with ours.slot():
            entered.set()

    with theirs.slot():  # the new server's only slot
        waiting = threading.Thread(target=send_next)
        waiting.start()
        time.sleep(0.3)
        assert not entered.is_set()
    theirs.flush()
    waiting.join(60)
    assert entered.is_set() and ours.in_use() == 1


def test_throttle_slots_of_a_dead_worker_come_back_after_the_lease(runtime, queue):
    throttle = Throttle(queue.connection, Limits(account="ACtest3", sender="+3", max_concurrency=1, rate_per_second=1000),
                        lease_seconds=0.2)
    taken_ms = int(time.time() * 1000)
    queue.connection.zadd(throttle.slots_key, {"killed-worker": taken_ms})
    with throttle.slot():
        got = time.time()
    # Not before the dead worker's lease ran out (a slow machine only makes it later; 1 ms for rounding).
    assert got >= taken_ms / 1000 + 0.2 - 0.001


def test_a_claim_takes_no_more_than_its_limit(db, runtime, publish):
    """On PostgreSQL a LIMIT inside UPDATE … IN (SELECT … SKIP LOCKED) can be run per row and claim them all."""
    from sqlalchemy import func, select

    from crisiscast.sending import sms_plan, sms_recipients
    from crisiscast.store.models import SmsRecipient
    from tests.support import faultkit

    faultkit.add_subscribers(db, 30)
    update = publish(channels=("sms",), lists=("public",), queued=False)
    delivery = update.deliveries[0]
    sms_plan.plan(runtime.sessions, delivery.id, ["public"], 100)
    first, last = db.execute(select(func.min(SmsRecipient.id), func.max(SmsRecipient.id))).one()
    claimed = sms_recipients.claim(runtime.sessions, delivery.id, update.id, (first, last), 5, 120)
    db.expire_all()
    assert len(claimed) == 5
    assert db.scalar(select(func.count()).where(SmsRecipient.state == "sending")) == 5


@pytest.mark.parametrize("threads, media_priority", [(1, None), (1, "5"), (None, None)])
def test_acceptance_at_the_sandbox_follows_the_lists_send_order(settings, publish_sms, subscribe, sandbox_client, db,
                                                                threads, media_priority):
    from crisiscast.runtime import Runtime
    from crisiscast.services import subscribers

    public = [f"+1512555{i:04d}" for i in range(30)]  # added first: their rows would come first by id alone
    media = [f"+1512556{i:04d}" for i in range(20)]
    staff = [f"+1512557{i:04d}" for i in range(10)]
    subscribe(*public)
    subscribe(*media, lists=("media",))
    subscribe(*staff, lists=("staff-on-call",))
    subscribe("+15125579999", lists=("public", "staff-on-call"))  # once, at staff-on-call's place
    staff.append("+15125579999")
    if media_priority:
        on = {lst.name: lst for lst in subscribers.all_lists(db)}
        subscribers.set_flags(db, on["media"].id, True, False, "admin", priority=media_priority)
    delivery_id = publish_sms(lists=("public", "media", "staff-on-call"))
    rt = Runtime(settings.replace(SMS_WORKER_THREADS=threads or settings.SMS_WORKER_THREADS))
    jobs.install(rt)
    try:
        fan_out(rt, delivery_id)
    finally:
        jobs.install(None)
        rt.close()
    order = [m["to"] for m in sorted(sandbox_client.accepted("twilio"), key=lambda m: m["seq"])]
    assert sorted(order) == sorted(public + media + staff)  # each number once
    place = {number: at for at, number in enumerate(order)}
    first, second = (media, staff) if media_priority else (staff, media)
    # Sends in flight at once may finish in any order, but never across a whole list of 20.
    assert max(place[n] for n in first) < min(place[n] for n in public)
    if threads == 1:
        assert set(order[:len(first)]) == set(first)
        assert set(order[len(first):len(first) + len(second)]) == set(second)
