"""The per-number reply limit, on real Redis: a repeat is never sent twice, and a cap holds under concurrency."""
import threading

import redis

from crisiscast.services.reply_limit import ReplyLimit

NUMBER = "+15125551267"


def limit(settings, **changes) -> ReplyLimit:
    return ReplyLimit.from_settings(redis.Redis.from_url(settings.REDIS_URL), settings.replace(**changes))


def test_thirty_concurrent_identical_replies_let_exactly_one_through(settings):
    replies = limit(settings)
    allowed, start = [], threading.Barrier(30)

    def reply():
        start.wait()
        allowed.append(replies.allow(NUMBER, "you're subscribed"))

    threads = [threading.Thread(target=reply) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(allowed) == [False] * 29 + [True]


def test_the_cap_counts_different_replies_per_number(settings):
    replies = limit(settings, SMS_REPLY_LIMIT=3)
    assert [replies.allow(NUMBER, f"reply {n}") for n in range(5)] == [True, True, True, False, False]
    assert replies.allow("+15125550188", "reply 0")


def test_a_reply_may_repeat_once_another_came_between(settings):
    replies = limit(settings)
    assert [replies.allow(NUMBER, r) for r in ("joined", "stopped", "joined")] == [True, True, True]


def test_redis_holds_no_phone_number(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    limit(settings).allow(NUMBER, "hello")
    assert not [k for k in client.scan_iter(f"{settings.QUEUE_NAME}:*") if b"5125551267" in k]


def test_without_redis_no_reply_is_sent(settings):
    unreachable = ReplyLimit(redis.Redis(port=1, socket_connect_timeout=0.5), 5, 3600)
    assert unreachable.allow(NUMBER, "hello") is False
