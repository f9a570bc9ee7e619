"""The provider sandbox: a local HTTP server that speaks enough of Twilio, X, the Graph API, a Bluesky PDS and
Mastodon for the real SDKs."""
from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from crisiscast.sandbox.app import build_app
from crisiscast.sandbox.state import Credentials, Settings, State


class RunningSandbox:
    """A sandbox serving on a background thread's event loop; `url` is its base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, settings: Settings | None = None):
        self.state = State(settings)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(host, port), daemon=True, name="sandbox")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the sandbox did not start")

    def _run(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(build_app(self.state), access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, host, port, backlog=1024)
        self._loop.run_until_complete(site.start())
        bound = runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def product_settings(url: str, credentials: Credentials | None = None, messaging_service: bool = False) -> dict:
    """The product settings that point every channel at a sandbox at `url`, with the credentials it accepts;
    with `messaging_service`, SMS goes through the sandbox's Messaging Service (its pool of numbers)."""
    c = credentials or Credentials()
    return {
        "TWILIO_API_BASE": url, "TWILIO_ACCOUNT_SID": c.twilio_account_sid, "TWILIO_AUTH_TOKEN": c.twilio_auth_token,
        "TWILIO_FROM_NUMBER": c.twilio_sender_pool[0],
        "TWILIO_MESSAGING_SERVICE_SID": c.twilio_messaging_service_sid if messaging_service else "",
        "X_API_BASE": url, "X_CONSUMER_KEY": c.x_consumer_key, "X_CONSUMER_SECRET": "sandbox-x-consumer-secret",
        "X_ACCESS_TOKEN": "1000001-sandbox-access-token", "X_ACCESS_TOKEN_SECRET": "sandbox-access-secret",
        "X_HANDLE": "@sandbox_hospital",
        "FACEBOOK_API_BASE": url, "FACEBOOK_PAGE_ID": c.graph_page_id, "FACEBOOK_PAGE_TOKEN": c.graph_page_token,
        "BLUESKY_PDS_URL": url, "BLUESKY_HANDLE": c.bluesky_handle, "BLUESKY_APP_PASSWORD": c.bluesky_app_password,
        "MASTODON_BASE_URL": url, "MASTODON_ACCESS_TOKEN": c.mastodon_token,
    }
