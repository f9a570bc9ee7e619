"""The sandbox's Mastodon API over plain HTTP: Idempotency-Key as Mastodon keeps it, validation, the timeline."""
import pytest
import requests

from crisiscast.sandbox.state import Credentials

BEARER = {"Authorization": f"Bearer {Credentials().mastodon_token}"}


def post(url, status="ER open", key=None, headers=BEARER, **fields):
    extra = {"Idempotency-Key": key} if key else {}
    return requests.post(f"{url}/api/v1/statuses", data={"status": status, **fields},
                         headers={**headers, **extra}, timeout=10)


def test_the_same_key_gives_back_the_first_status_and_posts_nothing_more(sandbox, sandbox_client):
    first = post(sandbox.url, key="k1")
    again = post(sandbox.url, status="a different text", key="k1")
    other = post(sandbox.url, key="k2")
    unkeyed = [post(sandbox.url), post(sandbox.url)]
    assert first.status_code == again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and "ER open" in again.json()["content"]
    assert other.json()["id"] != first.json()["id"] and unkeyed[0].json()["id"] != unkeyed[1].json()["id"]
    assert len([r for r in sandbox_client.accepted("mastodon") if r["kind"] == "post"]) == 4


def test_a_key_is_kept_for_an_hour_only(sandbox, sandbox_client):
    first = post(sandbox.url, key="k1").json()["id"]
    status_id, until = sandbox.state.idempotency["k1"]
    assert status_id == first and 3599 < until - sandbox.state.records[-1]["at"] < 3601
    sandbox.state.idempotency["k1"] = (status_id, until - 3601)  # an hour later, as the instance's Redis forgets it
    assert post(sandbox.url, key="k1").json()["id"] != first


@pytest.mark.parametrize("fields, code, error", [
    ({"status": ""}, 422, "Validation failed: Text can't be blank"),
    ({"status": "x" * 501}, 422, "Validation failed: Text character limit of 500 exceeded"),
    ({"status": "ok", "visibility": "everyone"}, 422, "Validation failed: Visibility is not included in the list"),
    ({"status": "ok", "in_reply_to_id": "123"}, 404, "The post you are trying to reply to does not appear to exist."),
])
def test_what_an_instance_refuses(sandbox, sandbox_client, fields, code, error):
    response = requests.post(f"{sandbox.url}/api/v1/statuses", data=fields, headers=BEARER, timeout=10)
    assert (response.status_code, response.json()) == (code, {"error": error})
    assert sandbox_client.accepted("mastodon") == []


def test_links_count_23_towards_the_limit(sandbox, sandbox_client):
    text = "x" * 476 + " https://www.bswhealth.com/" + "a" * 300  # 476 + 1 + 23 = 500
    assert post(sandbox.url, status=text).status_code == 200
    assert post(sandbox.url, status="x" + text).status_code == 422


def test_a_bad_token_is_401(sandbox, sandbox_client):
    response = post(sandbox.url, headers={"Authorization": "Bearer nope"})
    assert (response.status_code, response.json()) == (401, {"error": "The access token is invalid"})
    assert requests.get(f"{sandbox.url}/api/v1/accounts/verify_credentials", timeout=10).status_code == 401


def test_delete_then_the_timeline_no_longer_lists_it(sandbox, sandbox_client):
    kept, gone = post(sandbox.url, status="kept").json(), post(sandbox.url, status="gone").json()
    deleted = requests.delete(f"{sandbox.url}/api/v1/statuses/{gone['id']}", headers=BEARER, timeout=10)
    assert deleted.status_code == 200 and deleted.json()["text"] == "gone"
    assert requests.delete(f"{sandbox.url}/api/v1/statuses/{gone['id']}", headers=BEARER, timeout=10).status_code == 404
    me = requests.get(f"{sandbox.url}/api/v1/accounts/verify_credentials", headers=BEARER, timeout=10).json()
    listed = requests.get(f"{sandbox.url}/api/v1/accounts/{me['id']}/statuses", headers=BEARER, timeout=10).json()
    assert [s["id"] for s in listed] == [kept["id"]]
    newer = requests.get(f"{sandbox.url}/api/v1/accounts/{me['id']}/statuses", params={"since_id": kept["id"]},
                         headers=BEARER, timeout=10).json()
    assert newer == []


def test_the_instance_tells_its_status_length(sandbox, sandbox_client):
    sandbox_client.configure(mastodon_max_characters=11000)
    for path in ("/api/v1/instance", "/api/v2/instance/"):
        body = requests.get(sandbox.url + path, timeout=10).json()
        assert body["configuration"]["statuses"]["max_characters"] == 11000


def test_the_inbox_shows_statuses_escaped(sandbox, sandbox_client):
    post(sandbox.url, status="Shelter <now> & stay")
    page = requests.get(sandbox.url + "/", timeout=10).text
    assert "<h2>mastodon</h2>" in page and "Shelter &lt;now&gt; &amp; stay" in page
