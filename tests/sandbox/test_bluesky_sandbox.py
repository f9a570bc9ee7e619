"""The sandbox PDS over raw XRPC: it refuses what a PDS refuses (long text, facets outside the text or splitting a
character, bad tokens, too many sign-ins), rotates refresh tokens, and shows posts in its inbox."""
import time

import pytest
import requests

from crisiscast.sandbox.state import Credentials

CREDS = Credentials()
POST = "app.bsky.feed.post"


def xrpc(url, method, token=None, **body):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}/xrpc/{method}", json=body, headers=headers, timeout=10)


def sign_in(url) -> dict:
    response = xrpc(url, "com.atproto.server.createSession", identifier=CREDS.bluesky_handle,
                    password=CREDS.bluesky_app_password)
    assert response.status_code == 200, response.text
    return response.json()


def create(url, session, text, **record):
    return xrpc(url, "com.atproto.repo.createRecord", session["accessJwt"], repo=session["did"], collection=POST,
                record={"$type": POST, "text": text, "createdAt": "2026-12-07T14:00:00Z", **record})


def link_facet(start, end, uri="https://example.org"):
    return {"index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}]}


@pytest.mark.parametrize("text, facets, accepted", [
    ("👍" * 300, [], True),
    ("👍" * 301, [], False),
    ("👨‍👩‍👧‍👦" * 120, [], True),  # 3,000 bytes
    ("👨‍👩‍👧‍👦" * 121, [], False),  # 3,025 bytes
    ("é https://example.org", [link_facet(3, 22)], True),
    ("é https://example.org", [link_facet(3, 23)], False),  # past the end of the text
    ("é https://example.org", [link_facet(1, 21)], False),  # starts inside é's two bytes
    ("short", [link_facet(3, 3)], False),  # empty
])
def test_posts_are_validated_as_the_pds_validates_them(sandbox, sandbox_client, text, facets, accepted):
    response = create(sandbox.url, sign_in(sandbox.url), text, facets=facets)
    assert (response.status_code == 200) is accepted, response.text
    if not accepted:
        assert response.json()["error"] == "InvalidRequest"


def test_tokens_are_checked_and_a_refresh_token_works_once(sandbox, sandbox_client):
    session = sign_in(sandbox.url)
    assert create(sandbox.url, {**session, "accessJwt": "forged"}, "hi").json()["error"] == "AuthenticationRequired"
    assert create(sandbox.url, {**session, "accessJwt": session["refreshJwt"]}, "hi").json()["error"] == "InvalidToken"
    renewed = xrpc(sandbox.url, "com.atproto.server.refreshSession", session["refreshJwt"])
    assert renewed.status_code == 200 and renewed.json()["accessJwt"] != session["accessJwt"]
    again = xrpc(sandbox.url, "com.atproto.server.refreshSession", session["refreshJwt"])
    assert again.status_code == 401  # rotated away
    sandbox_client.configure(bluesky_access_expired_before=time.time())
    assert create(sandbox.url, renewed.json(), "hi").json()["error"] == "ExpiredToken"


def test_sign_ins_are_limited_per_five_minutes_and_a_reset_starts_afresh(sandbox, sandbox_client):
    sandbox_client.configure(bluesky_session_limit=3)
    for _ in range(3):
        sign_in(sandbox.url)
    refused = xrpc(sandbox.url, "com.atproto.server.createSession", identifier=CREDS.bluesky_handle,
                   password=CREDS.bluesky_app_password)
    assert refused.status_code == 429 and refused.json()["error"] == "RateLimitExceeded"
    assert 295 <= int(refused.headers["ratelimit-reset"]) - time.time() <= 302
    wrong = xrpc(sandbox.url, "com.atproto.server.createSession", identifier=CREDS.bluesky_handle, password="x")
    assert wrong.status_code == 429  # the limit is checked first, as a PDS does
    sandbox_client.reset()
    sign_in(sandbox.url)


def test_posts_are_listed_newest_first_and_shown_in_the_inbox(sandbox, sandbox_client):
    session = sign_in(sandbox.url)
    for text in ("first", "second", "third"):
        assert create(sandbox.url, session, text).status_code == 200
    listed = requests.get(f"{sandbox.url}/xrpc/com.atproto.repo.listRecords",
                          params={"repo": session["did"], "collection": POST, "limit": 2}, timeout=10).json()
    assert [r["value"]["text"] for r in listed["records"]] == ["third", "second"] and listed["cursor"]
    inbox = requests.get(sandbox.url + "/", timeout=10).text
    assert "<h2>bluesky</h2>" in inbox and "third" in inbox
