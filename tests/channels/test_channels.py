"""Each channel through its real SDK to the sandbox: receipts, and errors sorted into our kinds."""
import time

import pytest

import config
from crisiscast.channels import InDoubtError, Message, PermanentError, RetryableError
from crisiscast.channels.facebook import FacebookChannel
from crisiscast.channels.sms import SmsChannel
from crisiscast.channels.x import XChannel

MESSAGE = Message(text="ER open with delays", link="http://127.0.0.1:5000/u/abc123abc123", to="+15125551267")


@pytest.fixture
def channels(settings, sandbox_client):
    return {"sms": SmsChannel(settings), "x": XChannel(settings), "facebook": FacebookChannel(settings)}


PROVIDER = {"sms": "twilio", "x": "x", "facebook": "graph"}


def test_sms_send_returns_the_message_sid(channels, sandbox_client):
    receipt = channels["sms"].send(MESSAGE)
    [accepted] = sandbox_client.accepted("twilio")
    assert receipt.provider_id == accepted["id"] and receipt.provider_id.startswith("SM")
    assert receipt.status == "queued"
    assert (accepted["to"], accepted["body"], accepted["sender"]) == ("+15125551267", "ER open with delays",
                                                                       "+15005550006")


def test_x_send_returns_the_post_id(channels, sandbox_client):
    receipt = channels["x"].send(MESSAGE)
    [accepted] = sandbox_client.accepted("x")
    assert receipt.provider_id == accepted["id"] and accepted["text"] == "ER open with delays"


def test_facebook_send_returns_the_post_id_and_attaches_the_link(channels, sandbox_client):
    receipt = channels["facebook"].send(MESSAGE)
    [accepted] = sandbox_client.accepted("graph")
    assert receipt.provider_id == accepted["id"] and receipt.provider_id.startswith("1234567890_")
    assert accepted["link"] == MESSAGE.link


@pytest.mark.parametrize("name", ["sms", "x", "facebook"])
@pytest.mark.parametrize("fault", ["429", "500", "503"])
def test_throttling_and_server_errors_are_retryable(channels, sandbox_client, name, fault):
    sandbox_client.configure(script={PROVIDER[name]: [fault]})
    with pytest.raises(RetryableError):
        channels[name].send(MESSAGE)
    assert sandbox_client.accepted(PROVIDER[name]) == []


def test_twilio_429_carries_code_20429_and_retry_after(channels, sandbox_client):
    sandbox_client.configure(script={"twilio": ["429"]})
    with pytest.raises(RetryableError) as exc:
        channels["sms"].send(MESSAGE)
    assert (exc.value.code, exc.value.retry_after) == ("20429", 1.0)


def test_x_429_honours_the_rate_limit_reset(channels, sandbox_client):
    sandbox_client.configure(script={"x": ["429"]})
    with pytest.raises(RetryableError) as exc:
        channels["x"].send(MESSAGE)
    assert 0 < exc.value.retry_after <= 3


@pytest.mark.parametrize("name, code", [("sms", "21610"), ("x", "403"), ("facebook", "190")])
def test_permanent_errors_carry_the_providers_code_and_message(channels, sandbox_client, name, code):
    sandbox_client.configure(script={PROVIDER[name]: ["permanent"]})
    with pytest.raises(PermanentError) as exc:
        channels[name].send(MESSAGE)
    assert exc.value.code == code and exc.value.message


def test_an_invalid_number_is_permanent_21211(channels):
    with pytest.raises(PermanentError) as exc:
        channels["sms"].send(Message(text="hi", to="+15005550001"))
    assert exc.value.code == "21211"


def test_a_twilio_refusal_that_echoes_the_number_names_it_masked(channels):
    # Twilio repeats the refused "To" in its message (the sandbox as 21211 does); that message reaches the audit
    # log, the recipient rows and the HICS 214, so the number must not survive in it.
    with pytest.raises(PermanentError) as refused:
        channels["sms"].send(Message(text="hi", to="5125551267"))
    assert refused.value.code == "21211"
    assert "5125551267" not in refused.value.message and "••••••••67" in refused.value.message


@pytest.mark.parametrize("name", ["sms", "x", "facebook"])
def test_no_answer_within_the_timeout_is_in_doubt_not_retryable(settings, sandbox_client, name):
    """tweepy sets no timeout of its own: the transport adapter's must hold for it too."""
    # The sandbox holds the request for 30 s: only the client's own 0.5 s timeout can end it sooner, so the
    # bound below tells the two apart with a margin no load on this machine comes near.
    sandbox_client.configure(timeout_seconds=30, script={PROVIDER[name]: ["lost"]})
    fast = config.Settings({**settings, "PROVIDER_TIMEOUT": 0.5})
    channel = {"sms": SmsChannel, "x": XChannel, "facebook": FacebookChannel}[name](fast)
    started = time.monotonic()
    with pytest.raises(InDoubtError):
        channel.send(MESSAGE)
    assert time.monotonic() - started < 20
    assert len(sandbox_client.accepted(PROVIDER[name])) == 1


def test_a_refused_connection_is_retryable_not_in_doubt(settings):
    from dev.redis_server import free_port

    down = config.Settings({**settings, "TWILIO_API_BASE": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(RetryableError):
        SmsChannel(down).send(MESSAGE)


def test_wrong_credentials_are_permanent(settings):
    wrong = config.Settings({**settings, "TWILIO_AUTH_TOKEN": "not-the-token"})
    with pytest.raises(PermanentError) as exc:
        SmsChannel(wrong).send(MESSAGE)
    assert exc.value.code == "20003"


def test_missing_settings_are_named_and_targets_are_masked(settings):
    empty = config.Settings({**settings, "FACEBOOK_PAGE_TOKEN": "", "X_HANDLE": "hospital"})
    assert FacebookChannel(empty).missing_settings() == ["FACEBOOK_PAGE_TOKEN"]
    assert FacebookChannel(settings).describe() == "page 1234…"
    assert XChannel(empty).describe() == "@hospital"
    assert SmsChannel(settings).describe(MESSAGE) == "+1 ••••••••67"


def test_graph_version_is_pinned_not_the_sdk_default(channels, sandbox_client, settings):
    """The sandbox refuses deprecated Graph versions such as facebook-sdk's default v2.8."""
    old = config.Settings({**settings, "FACEBOOK_GRAPH_VERSION": "v2.8"})
    with pytest.raises(PermanentError) as exc:
        FacebookChannel(old).send(MESSAGE)
    assert exc.value.code == "2635"
    channels["facebook"].send(MESSAGE)


def test_an_x_post_the_preview_fits_with_bare_domains_is_one_x_accepts(channels, sandbox_client, settings):
    from crisiscast.core.domain import Draft
    from crisiscast.services.publishing import render_context
    from crisiscast.core.rendering import render_x
    from crisiscast.sandbox import x_counting

    body = "Give blood: redcross.org, sw.org, bswhealth.com, blood.org, carter.org. " * 6
    draft = Draft(incident="Storm", er_access="open", operating_status="normal", headline="Donors needed",
                  body=body, channels=("x",))
    rendering = render_x(draft, render_context(settings, "abc123abc123"))
    # Counted with http(s) links only, this post would look like it fits; X counts each domain as 23.
    assert rendering.shortened and x_counting.weight(rendering.text) <= 280
    channels["x"].send(Message(text=rendering.text, link=rendering.link))
    assert [p["text"] for p in sandbox_client.accepted("x")] == [rendering.text]


@pytest.mark.parametrize("name, message, code", [
    ("x", Message(text="é" * 281), "400"),
    ("sms", Message(text="x" * 1601, to="+15125551267"), "21617"),
    ("sms", Message(text="hello", to="+44 20 7946 0958"), "21211"),
    ("facebook", Message(text=""), "100"),
])
def test_the_sandbox_refuses_what_the_provider_refuses(channels, name, message, code):
    with pytest.raises(PermanentError) as refused:
        channels[name].send(message)
    assert refused.value.code == code
