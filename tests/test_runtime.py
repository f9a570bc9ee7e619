"""The composition root builds each per-process part once, and one part may need another."""
import threading

from crisiscast.runtime import Runtime


def test_the_breaker_and_the_throttle_are_built_once_per_process(settings):
    runtime = Runtime(settings)
    built = []
    # On a thread of its own: a lock taken twice would hang the test rather than fail it.
    thread = threading.Thread(target=lambda: built.extend([runtime.breaker(), runtime.sms_throttle(),
                                                           runtime.breaker(), runtime.sms_throttle()]), daemon=True)
    thread.start()
    thread.join(60)
    try:
        assert not thread.is_alive(), "building the breaker or the throttle deadlocked"
        breaker, throttle, breaker_again, throttle_again = built
        assert breaker is breaker_again and throttle is throttle_again
        assert breaker.redis is runtime.redis() and breaker.namespace == f"crisiscast:{settings.QUEUE_NAME}"
    finally:
        runtime.close()
