"""The Mastodon channel through Mastodon.py to the sandbox: statuses, Idempotency-Key, limits, delete, reply,
the reconciler's lookup, and errors sorted into our kinds."""
import time
from datetime import datetime, timedelta, timezone

import pytest

import config
from crisiscast.channels import InDoubtError, Message, PermanentError, RetryableError
from crisiscast.channels.mastodon import MastodonChannel, content_text

MESSAGE = Message(text="ER open with delays\nStatus: normal\n\nhttp://127.0.0.1:5000/u/abc123abc123", uid="abc123abc123")


@pytest.fixture
def channel(settings, sandbox_client):
    return MastodonChannel(settings)


def posts(sandbox_client) -> list[dict]:
    return [r for r in sandbox_client.accepted("mastodon") if r["kind"] == "post"]


def test_a_send_posts_one_public_status_with_a_key_from_the_delivery(channel, sandbox_client):
    receipt = channel.send(MESSAGE)
    [posted] = posts(sandbox_client)
    assert receipt.provider_id == posted["id"] and posted["text"] == MESSAGE.text
    assert posted["visibility"] == "public"
    assert posted["idempotency_key"] == "crisiscast-abc123abc123-mastodon-post"


def test_sends_cost_no_version_check_and_the_limit_is_asked_once(channel, sandbox_client):
    """Mastodon.py's version check would GET /api/v1/instance (and v2) before the first call; it is off."""
    channel.prepare()
    for n in range(3):
        channel.send(Message(text=f"Update {n}", uid=f"u{n}"))
    counters = sandbox_client.stats()["counters"]
    assert counters.get("mastodon.instance_v1", 0) == counters.get("mastodon.instance_v2", 0) == 0
    assert channel.max_characters() == channel.max_characters() == 500
    assert sandbox_client.stats()["counters"].get("mastodon.instance_v2") == 1


@pytest.mark.parametrize("limit", [11, 500, 5000, 100_000])
def test_the_limit_is_the_instances_own(settings, sandbox_client, limit):
    sandbox_client.configure(mastodon_max_characters=limit)
    channel = MastodonChannel(settings)
    assert channel.max_characters() == limit
    channel.send(Message(text="é" * limit))
    with pytest.raises(PermanentError) as refused:
        channel.send(Message(text="é" * (limit + 1)))
    assert refused.value.code == "422" and f"character limit of {limit}" in refused.value.message


def test_the_limit_is_500_when_the_instance_cannot_be_asked_or_is_not_configured(settings):
    from dev.redis_server import free_port

    down = config.Settings({**settings, "MASTODON_BASE_URL": f"http://127.0.0.1:{free_port()}"})
    assert MastodonChannel(down).max_characters() == 500
    unset = config.Settings({**settings, "MASTODON_ACCESS_TOKEN": ""})
    assert MastodonChannel(unset).max_characters() == 500 and MastodonChannel(unset).missing_settings() == [
        "MASTODON_ACCESS_TOKEN"]


def test_an_instance_slow_to_tell_its_limit_costs_the_composer_little_and_only_once(settings, sandbox_client):
    """The instance holds the answer for 60 s; the lookup's own short timeout ends it, then 500 is used for a while."""
    sandbox_client.configure(timeout_seconds=60, script={"mastodon": ["lost"]})
    channel = MastodonChannel(config.Settings({**settings, "PROVIDER_TIMEOUT": 60}))
    started = time.monotonic()
    assert channel.max_characters() == 500
    assert time.monotonic() - started < 30
    assert channel.max_characters() == 500
    assert sandbox_client.stats()["counters"]["mastodon.instance_v2"] == 1


def test_delete_takes_the_status_down_and_a_second_delete_is_fine(channel, sandbox_client):
    receipt = channel.send(MESSAGE)
    assert channel.delete(receipt.provider_id).status == "deleted"
    assert channel.delete(receipt.provider_id).status == "already gone"
    assert [r["kind"] for r in sandbox_client.accepted("mastodon")] == ["post", "delete"]
    assert channel.find(MESSAGE, datetime.now(timezone.utc) - timedelta(minutes=1)) is None


def test_a_correction_is_a_reply_in_the_originals_thread(channel, sandbox_client):
    original = channel.send(MESSAGE)
    reply = channel.send(Message(text="Correction: ER open", reply_to=original.provider_id, uid="fix1"))
    assert posts(sandbox_client)[1]["reply_to"] == original.provider_id != reply.provider_id
    assert reply.status == "reply"


def test_a_correction_whose_original_is_gone_goes_out_as_a_status_of_its_own(channel, sandbox_client):
    original = channel.send(MESSAGE)
    channel.delete(original.provider_id)
    receipt = channel.send(Message(text="Correction: ER open", reply_to=original.provider_id, uid="fix2"))
    [_, alone] = posts(sandbox_client)
    assert (alone["id"], alone["reply_to"], alone["text"]) == (receipt.provider_id, None, "Correction: ER open")
    assert receipt.status == "a status of its own: the original is gone"


def test_find_sees_our_status_through_mastodons_html_and_not_others(channel, sandbox_client):
    since = datetime.now(timezone.utc)
    receipt = channel.send(MESSAGE)
    channel.send(Message(text="Something else entirely"))
    assert channel.find(MESSAGE, since).provider_id == receipt.provider_id
    assert channel.find(Message(text="Never posted"), since) is None
    naive = since.replace(tzinfo=None)  # SQLite gives naive UTC times back
    assert channel.find(MESSAGE, naive).provider_id == receipt.provider_id


def test_find_pages_back_past_forty_statuses(channel, sandbox_client):
    since = datetime.now(timezone.utc)
    first = channel.send(Message(text="The first of many"))
    for n in range(45):
        channel.send(Message(text=f"Later status {n}"))
    assert channel.find(Message(text="The first of many"), since).provider_id == first.provider_id


def test_content_text_undoes_mastodons_html():
    html = ('<p>Line one<br />Line &amp; two</p><p>See <a href="https://sw.org/x"><span class="invisible">'
            'https://</span><span class="">sw.org/x</span></a></p>')
    assert content_text(html) == "Line one\nLine & two\n\nSee https://sw.org/x"


def test_a_timeout_after_the_instance_stored_the_status_then_a_resend_makes_one_post(settings, sandbox_client):
    """Idempotency: the first answer is lost; the resend with the same key gets the same status back."""
    sandbox_client.configure(timeout_seconds=30, script={"mastodon": ["lost"]})
    fast = MastodonChannel(config.Settings({**settings, "PROVIDER_TIMEOUT": 0.5}))
    started = time.monotonic()
    with pytest.raises(InDoubtError):
        fast.send(MESSAGE)
    assert time.monotonic() - started < 20
    receipt = fast.send(MESSAGE)
    assert [p["id"] for p in posts(sandbox_client)] == [receipt.provider_id]


def test_the_same_key_after_the_status_was_deleted_is_not_posted_again(channel, sandbox_client):
    receipt = channel.send(MESSAGE)
    channel.delete(receipt.provider_id)
    with pytest.raises(PermanentError) as refused:
        channel.send(MESSAGE)
    assert refused.value.code == "404" and len(posts(sandbox_client)) == 1


@pytest.mark.parametrize("fault", ["500", "503"])
def test_server_errors_are_retryable(channel, sandbox_client, fault):
    sandbox_client.configure(script={"mastodon": [fault]})
    with pytest.raises(RetryableError) as exc:
        channel.send(MESSAGE)
    assert exc.value.code == fault and not isinstance(exc.value, InDoubtError)


def test_429_is_retryable_after_the_rate_limit_reset(channel, sandbox_client):
    sandbox_client.configure(script={"mastodon": ["429"]})
    with pytest.raises(RetryableError) as exc:
        channel.send(MESSAGE)
    assert exc.value.code == "429" and 0 < exc.value.retry_after <= 3
    assert posts(sandbox_client) == []


@pytest.mark.parametrize("message, code", [(Message(text=""), "422"), (Message(text="   "), "422"),
                                           (Message(text="x" * 501), "422")])
def test_what_an_instance_refuses_is_permanent(channel, message, code):
    with pytest.raises(PermanentError) as refused:
        channel.send(message)
    assert refused.value.code == code


def test_a_forbidden_action_is_permanent(channel, sandbox_client):
    sandbox_client.configure(script={"mastodon": ["permanent"]})
    with pytest.raises(PermanentError) as refused:
        channel.send(MESSAGE)
    assert refused.value.code == "403" and refused.value.message == "This action is not allowed"


def test_a_bad_token_is_permanent_and_never_in_the_message(settings):
    wrong = MastodonChannel(config.Settings({**settings, "MASTODON_ACCESS_TOKEN": "not-the-token"}))
    with pytest.raises(PermanentError) as refused:
        wrong.send(MESSAGE)
    assert refused.value.code == "401" and "not-the-token" not in str(refused.value)
    with pytest.raises(RetryableError):  # a lookup that cannot read the account leaves the post in doubt
        wrong.find(MESSAGE, datetime.now(timezone.utc))


def test_a_refused_connection_is_retryable_not_in_doubt(settings):
    from dev.redis_server import free_port

    down = MastodonChannel(config.Settings({**settings, "MASTODON_BASE_URL": f"http://127.0.0.1:{free_port()}"}))
    with pytest.raises(RetryableError) as exc:
        down.send(MESSAGE)
    assert not isinstance(exc.value, InDoubtError)


def test_the_target_names_the_instance_and_hides_the_token(channel, settings):
    assert channel.describe() == f"account on {settings.MASTODON_BASE_URL.split('//')[1]}"
    assert channel.secrets() == (settings.MASTODON_ACCESS_TOKEN,)
