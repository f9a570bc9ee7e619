"""The Bluesky channel through the real atproto SDK to the sandbox PDS: posts with link facets and a card, one
session per process (refreshed, not recreated), replies, deletes, lookups, and errors sorted into our kinds."""
import time
from datetime import datetime, timedelta, timezone

import pytest

import config
from crisiscast.channels import InDoubtError, Message, PermanentError, RetryableError
from crisiscast.channels.bluesky import BlueskyChannel
from crisiscast.core.domain import Draft
from crisiscast.core.rendering import render_bluesky
from crisiscast.services.publishing import render_context

LINK = "http://127.0.0.1:5000/u/abc123abc123"
MESSAGE = Message(text=f"ER open with delays\n{LINK}", link=LINK, title="ER open", description="ER: Open.")


@pytest.fixture
def channel(settings, sandbox_client):
    return BlueskyChannel(settings)


def posts(sandbox_client) -> list[dict]:
    return [r for r in sandbox_client.accepted("bluesky") if r["kind"] == "post"]


def counters(sandbox_client) -> dict:
    return sandbox_client.stats()["counters"]


def test_a_post_returns_its_at_uri_with_the_link_clickable_and_a_card(channel, sandbox_client):
    receipt = channel.send(MESSAGE)
    [accepted] = posts(sandbox_client)
    assert receipt.provider_id == accepted["id"] and receipt.provider_id.startswith("at://did:plc:")
    record = accepted["value"]
    assert record["text"] == MESSAGE.text
    [facet] = record["facets"]
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": LINK}]
    assert record["text"].encode()[facet["index"]["byteStart"]:facet["index"]["byteEnd"]].decode() == LINK
    assert record["embed"]["external"] == {"$type": "app.bsky.embed.external#external", "uri": LINK,
                                           "title": "ER open", "description": "ER: Open."}


@pytest.mark.parametrize("before", ["", "é", "e\u0301", "👨‍👩‍👧‍👦 ", "🇺🇸🇲🇽 ", "中文 ", "👍🏽" * 40])
def test_the_facet_is_in_utf8_bytes_whatever_comes_before_the_link(channel, sandbox_client, before):
    text = f"{before}Shelter in place. More: {LINK}"
    channel.send(Message(text=text, link=LINK, title="Shelter"))
    [accepted] = posts(sandbox_client)
    [facet] = accepted["value"]["facets"]
    assert facet["index"]["byteStart"] == len(f"{before}Shelter in place. More: ".encode())
    assert facet["index"]["byteEnd"] == len(text.encode())
    assert facet["index"]["byteStart"] != len(f"{before}Shelter in place. More: ") or before.isascii()


def test_an_internal_post_has_no_link_no_facet_and_no_card(channel, sandbox_client):
    channel.send(Message(text="Staff: huddle at 14:00 in the ED."))
    [accepted] = posts(sandbox_client)
    assert "facets" not in accepted["value"] and "embed" not in accepted["value"]


@pytest.mark.parametrize("count", [1, 5])
def test_many_posts_create_one_session(channel, sandbox_client, count):
    sandbox_client.configure(bluesky_session_limit=1)  # a second createSession would be refused
    for i in range(count):
        channel.send(Message(text=f"Update {i}"))
    assert len(posts(sandbox_client)) == count
    assert counters(sandbox_client)["bluesky.create_session"] == 1
    assert "bluesky.refresh_session" not in counters(sandbox_client)


def test_a_token_near_its_expiry_is_refreshed_by_the_sdk_not_recreated(channel, sandbox_client):
    # The SDK refreshes a token within 15 minutes of its `exp`; a 10-minute token is refreshed before each call.
    sandbox_client.configure(bluesky_access_seconds=600, bluesky_session_limit=1)
    for i in range(3):
        channel.send(Message(text=f"Update {i}"))
    seen = counters(sandbox_client)
    assert (seen["bluesky.create_session"], seen["bluesky.post"]) == (1, 3)
    assert seen["bluesky.refresh_session"] == 3


def test_a_token_the_server_calls_expired_is_refreshed_and_the_post_asked_again(channel, sandbox_client):
    channel.send(Message(text="Before"))
    sandbox_client.configure(bluesky_access_expired_before=time.time(), bluesky_session_limit=1)
    channel.send(Message(text="After"))
    seen = counters(sandbox_client)
    assert (seen["bluesky.create_session"], seen["bluesky.refresh_session"], seen["bluesky.post"]) == (1, 1, 2)


def test_a_refused_refresh_signs_in_again(channel, sandbox_client):
    channel.send(Message(text="Before"))
    now = time.time()
    sandbox_client.configure(bluesky_access_expired_before=now, bluesky_refresh_expired_before=now)
    channel.send(Message(text="After"))
    assert [p["text"] for p in posts(sandbox_client)] == ["Before", "After"]
    assert counters(sandbox_client)["bluesky.create_session"] == 2


def test_delete_takes_the_post_down_and_deleting_again_succeeds(channel, sandbox_client):
    receipt = channel.send(MESSAGE)
    assert channel.delete(receipt.provider_id).status == "deleted"
    assert channel.delete(receipt.provider_id).status == "deleted"
    assert channel.find(MESSAGE, datetime.now(timezone.utc)) is None
    assert [r["kind"] for r in sandbox_client.accepted("bluesky")] == ["post", "delete"]


def test_a_correction_replies_in_the_thread_with_root_and_parent(channel, sandbox_client):
    original = channel.send(MESSAGE).provider_id
    first = channel.send(Message(text="Correction: ER open", reply_to=original)).provider_id
    channel.send(Message(text="Second correction", reply_to=first))
    by_uri = {p["id"]: p for p in posts(sandbox_client)}
    reply = by_uri[first]["value"]["reply"]
    assert reply["root"]["uri"] == reply["parent"]["uri"] == original
    assert reply["parent"]["cid"] == by_uri[original]["cid"]
    second = posts(sandbox_client)[-1]["value"]["reply"]
    assert (second["root"]["uri"], second["parent"]["uri"]) == (original, first)  # the thread keeps its root


def test_a_correction_of_a_deleted_post_goes_out_on_its_own(channel, sandbox_client):
    original = channel.send(MESSAGE).provider_id
    channel.delete(original)
    channel.send(Message(text="Correction", reply_to=original))
    assert "reply" not in posts(sandbox_client)[-1]["value"]


def test_find_looks_among_recent_records_by_text_since_the_claim(channel, sandbox_client):
    since = datetime.now(timezone.utc)
    sent = channel.send(MESSAGE)
    channel.send(Message(text="Another post"))
    assert channel.find(MESSAGE, since) == type(sent)(provider_id=sent.provider_id)
    assert channel.find(Message(text="Never posted"), since) is None
    assert channel.find(MESSAGE, since + timedelta(hours=1)) is None  # posted before the window opened
    naive = since.replace(tzinfo=None)  # claims are stored as naive UTC
    assert channel.find(MESSAGE, naive).provider_id == sent.provider_id


@pytest.mark.parametrize("fault", ["429", "500", "503"])
def test_throttling_and_server_errors_are_retryable(channel, sandbox_client, fault):
    channel.account().client()  # signed in: the fault meets the post itself
    sandbox_client.configure(script={"bluesky": [fault]})
    with pytest.raises(RetryableError) as exc:
        channel.send(MESSAGE)
    assert posts(sandbox_client) == []
    if fault == "429":
        assert exc.value.code == "RateLimitExceeded" and 0 < exc.value.retry_after <= 3


def test_sign_ins_over_bluesky_limit_are_retryable_after_the_window(settings, sandbox_client):
    sandbox_client.configure(bluesky_session_limit=2)
    for _ in range(2):
        BlueskyChannel(settings).send(Message(text="A new process"))
    with pytest.raises(RetryableError) as exc:
        BlueskyChannel(settings).send(Message(text="A third process"))
    assert exc.value.code == "RateLimitExceeded" and 250 < exc.value.retry_after <= 302


def test_a_taken_down_account_and_wrong_credentials_are_permanent(channel, settings, sandbox_client):
    channel.account().client()
    sandbox_client.configure(script={"bluesky": ["permanent"]})
    with pytest.raises(PermanentError) as exc:
        channel.send(MESSAGE)
    assert exc.value.code == "AuthenticationRequired"
    wrong = config.Settings({**settings, "BLUESKY_APP_PASSWORD": "not-the-password"})
    with pytest.raises(PermanentError) as exc:
        BlueskyChannel(wrong).send(MESSAGE)
    assert (exc.value.code, exc.value.message) == ("AuthenticationRequired", "Invalid identifier or password")
    assert "not-the-password" not in BlueskyChannel(wrong).describe()


def test_no_answer_within_the_timeout_is_in_doubt(settings, sandbox_client):
    fast = BlueskyChannel(config.Settings({**settings, "PROVIDER_TIMEOUT": 0.5}))
    fast.account().client()
    sandbox_client.configure(timeout_seconds=30, script={"bluesky": ["lost"]})
    started = time.monotonic()
    with pytest.raises(InDoubtError):
        fast.send(MESSAGE)
    assert time.monotonic() - started < 20
    assert len(posts(sandbox_client)) == 1
    assert fast.find(MESSAGE, datetime.now(timezone.utc)).provider_id == posts(sandbox_client)[0]["id"]


def test_a_refused_connection_is_retryable_not_in_doubt(settings):
    from dev.redis_server import free_port

    down = config.Settings({**settings, "BLUESKY_PDS_URL": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(RetryableError):
        BlueskyChannel(down).send(MESSAGE)


def test_settings_missing_are_named_and_the_target_is_the_handle(settings):
    empty = config.Settings({**settings, "BLUESKY_APP_PASSWORD": "", "BLUESKY_HANDLE": "@hospital.org"})
    assert BlueskyChannel(empty).missing_settings() == ["BLUESKY_APP_PASSWORD"]
    assert BlueskyChannel(empty).describe() == "@hospital.org"
    assert BlueskyChannel(settings).secrets() == (settings.BLUESKY_APP_PASSWORD,)
    assert "BLUESKY_APP_PASSWORD" in config.Settings(settings).public() and \
        config.Settings(settings).public()["BLUESKY_APP_PASSWORD"] == "••••"


@pytest.mark.parametrize("text, code", [
    ("👍" * 301, "InvalidRequest"),  # 301 graphemes, 602 code points: the PDS counts graphemes
    ("👨‍👩‍👧‍👦" * 121, "InvalidRequest"),  # 121 graphemes but 3,025 bytes
    ("a" * 3001, "invalid_record"),  # the SDK's own model refuses it before any request
])
def test_what_the_pds_refuses_is_permanent(channel, sandbox_client, text, code):
    with pytest.raises(PermanentError) as refused:
        channel.send(Message(text=text))
    assert refused.value.code == code
    assert posts(sandbox_client) == []


@pytest.mark.parametrize("unit", ["a", "é", "e\u0301", "👨‍👩‍👧‍👦", "🇺🇸", "👍🏽", "中"])
def test_a_post_the_preview_fits_at_the_limit_is_one_the_pds_accepts(channel, settings, sandbox_client, unit):
    """Rendered from a body far over the limit in the tricky character: cut to at most 300 graphemes, which the
    sandbox counts independently, and the link still clickable after the cut."""
    draft = Draft(incident="Storm", er_access="open", operating_status="normal", headline="Shelter in place",
                  body=" ".join([unit * 5] * 200), channels=("bluesky",))
    rendering = render_bluesky(draft, render_context(settings, "abc123abc123"))
    # Cut close to the limit that binds: 300 graphemes, or 3,000 bytes for 25-byte ZWJ families.
    assert rendering.shortened and rendering.stats["graphemes"] <= 300 and rendering.stats["bytes"] <= 3000
    assert rendering.stats["graphemes"] > 280 or rendering.stats["bytes"] > 2900
    channel.send(Message(text=rendering.text, link=rendering.link, title=rendering.title,
                         description=rendering.description))
    [accepted] = posts(sandbox_client)
    [facet] = accepted["value"]["facets"]
    assert accepted["value"]["text"].encode()[facet["index"]["byteStart"]:].decode() == rendering.link


def test_the_console_does_not_pay_for_the_sdks_import(settings):
    """atproto's models take seconds to import: only a send (or a worker's prepare) loads them."""
    import subprocess
    import sys
    from pathlib import Path

    probe = ("import sys, config; from crisiscast.channels import build_channels; "
             "c = build_channels(config.Settings(%r), None)['bluesky']; c.describe(); c.missing_settings(); "
             "print('atproto_client' in sys.modules); c.prepare(); print('atproto_client' in sys.modules)")
    values = {"BLUESKY_HANDLE": "hospital.org", "BLUESKY_APP_PASSWORD": "x"}
    out = subprocess.run([sys.executable, "-c", probe % values], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["False", "True"], out.stderr
