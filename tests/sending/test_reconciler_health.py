"""When the heartbeat says recovery is running: a recent pass, a pass under way, or a worker just started."""
from crisiscast.sending.reconciler_health import Heartbeat


def test_a_recent_pass_is_running_and_three_missed_ones_are_not():
    assert Heartbeat(every=15, last_pass_age=44).running
    assert not Heartbeat(every=15, last_pass_age=46).running
    assert not Heartbeat(every=15).running  # no worker has ever said anything


def test_a_long_pass_under_way_counts_until_its_lock_would_lapse():
    assert Heartbeat(every=15, last_pass_age=300, began_age=50).running
    assert not Heartbeat(every=15, last_pass_age=300, began_age=80).running
    assert not Heartbeat(every=15, last_pass_age=300, began_age=50, error_age=40).running  # it failed


def test_a_worker_started_after_an_outage_is_given_its_first_passes():
    assert Heartbeat(every=15, last_pass_age=3600, started_age=10).running
    assert not Heartbeat(every=15, last_pass_age=3600, started_age=60).running


def test_failing_means_the_latest_attempt_failed():
    assert Heartbeat(every=15, last_pass_age=30, error_age=10).failing
    assert not Heartbeat(every=15, last_pass_age=10, error_age=30).failing
