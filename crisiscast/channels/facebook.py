"""Posts to a Facebook Page through the Graph API (facebook-sdk), at a pinned Graph version."""
from __future__ import annotations

from datetime import datetime

import facebook
import requests

from crisiscast.channels import LOOKUP_SLACK, Channel, Message, PermanentError, Receipt, RetryableError, same_text
from crisiscast.channels.transport import lookup_error, mount, retry_after_seconds, transport_error
from crisiscast.core.masking import mask_id

GRAPH_REAL_BASE = "https://graph.facebook.com"
# Graph codes that mean "try later": unknown/service errors and the app, user and page rate limits.
RETRYABLE_CODES = {1, 2, 4, 17, 32, 341, 368, 613}


class FacebookChannel(Channel):
    """The hospital's Facebook Page, posted to with a Page access token."""

    name = "facebook"
    label = "Facebook Page"
    base_setting = "FACEBOOK_API_BASE"
    required_settings = ("FACEBOOK_PAGE_ID", "FACEBOOK_PAGE_TOKEN")

    def __init__(self, settings):
        super().__init__(settings)
        self._graph = None
        self._adapter = None

    def graph(self) -> facebook.GraphAPI:
        """The Graph client; paths carry our pinned version, since facebook-sdk only knows versions up to 3.1."""
        if self._graph is None:
            session = requests.Session()
            self._adapter = mount(session, GRAPH_REAL_BASE, self.endpoint(),
                                  self.settings.PROVIDER_TIMEOUT)
            self._graph = facebook.GraphAPI(access_token=self.settings.FACEBOOK_PAGE_TOKEN,
                                            timeout=self.settings.PROVIDER_TIMEOUT, session=session)
        return self._graph

    def secrets(self):
        return (self.settings.FACEBOOK_PAGE_TOKEN,)

    def send(self, message: Message) -> Receipt:
        """Post to the Page; a correction (`message.edit`) edits the original post instead, or, when Facebook
        refuses the edit (too old, removed), is posted as a new post that links to the update."""
        if message.edit:
            try:
                self._request(f"{self.settings.FACEBOOK_GRAPH_VERSION}/{message.edit}", {"message": message.text})
                return Receipt(provider_id=message.edit, status="edited")
            except PermanentError:
                pass
        post = {"message": message.text, **({"link": message.link} if message.link else {})}
        result = self._request(f"{self.settings.FACEBOOK_GRAPH_VERSION}/{self.settings.FACEBOOK_PAGE_ID}/feed", post)
        return Receipt(provider_id=str(result["id"]))

    def delete(self, post_id: str) -> Receipt:
        """Graph DELETE /{post-id}; a post that no longer exists (code 100) counts as deleted."""
        try:
            self._request(f"{self.settings.FACEBOOK_GRAPH_VERSION}/{post_id}", method="DELETE")
        except PermanentError as exc:
            if exc.code != "100":
                raise
            return Receipt(provider_id=post_id, status="already gone")
        return Receipt(provider_id=post_id, status="deleted")

    def _request(self, path: str, post: dict | None = None, method: str | None = None) -> dict:
        """One Graph call, its errors normalised to our kinds."""
        try:
            return self.graph().request(path, post_args=post, method=method)
        except facebook.GraphAPIError as exc:
            error = exc.result.get("error", {}) if isinstance(exc.result, dict) else {}
            code = error.get("code") if error else exc.code
            status = self._adapter.last_status() or 0
            if error.get("is_transient") or code in RETRYABLE_CODES or status == 429 or status >= 500:
                wait = retry_after_seconds(self._adapter.last_rate_limit_headers())
                raise RetryableError(str(exc.message), code=code, retry_after=wait) from exc
            raise PermanentError(str(exc.message), code=code) from exc
        except requests.RequestException as exc:
            raise transport_error(exc) from exc

    def find(self, message: Message, since: datetime) -> Receipt | None:
        """The Page's recent posts (since a little before `since`) with our text."""
        path = f"{self.settings.FACEBOOK_GRAPH_VERSION}/{self.settings.FACEBOOK_PAGE_ID}/feed"
        try:
            result = self.graph().request(path, {"since": int((since - LOOKUP_SLACK).timestamp()), "limit": 100,
                                                 "fields": "id,message,created_time"})
        except facebook.GraphAPIError as exc:
            raise RetryableError(str(exc.message), code=exc.code) from exc
        except requests.RequestException as exc:
            raise lookup_error(exc) from exc
        for post in result.get("data", []):
            if same_text(message.text, post.get("message", "")):
                return Receipt(provider_id=str(post["id"]))
        return None

    def describe(self, message: Message | None = None) -> str:
        return f"page {mask_id(self.settings.FACEBOOK_PAGE_ID or '?')}"
