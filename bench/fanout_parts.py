"""Pieces of bench/sms_fanout.py: the bare-client anchor, the console client, and the processes' gauges."""
from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import psutil
import requests

from crisiscast.sandbox.state import Credentials


def numbers(count: int, first: int = 5_550_000) -> list[str]:
    """The numbers tests.support.faultkit.add_subscribers gives `count` subscribers."""
    return [f"+1512{first + i:07d}" for i in range(count)]


def anchor(sandbox_url: str, count: int, concurrency: int, body: str) -> float:
    """A bare aiohttp client: `count` Twilio Messages.json posts, `concurrency` in flight; seconds taken."""
    return asyncio.run(_anchor(sandbox_url, numbers(count), concurrency, body))


async def _anchor(sandbox_url: str, to: list[str], concurrency: int, body: str) -> float:
    c = Credentials()
    url = f"{sandbox_url}/2010-04-01/Accounts/{c.twilio_account_sid}/Messages.json"
    auth = aiohttp.BasicAuth(c.twilio_account_sid, c.twilio_auth_token)
    todo = iter(to)
    failures = 0

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for number in todo:
            while True:
                form = {"To": number, "From": "+15005550006", "Body": body, "ValidityPeriod": "1800"}
                async with session.post(url, data=form, auth=auth) as response:
                    await response.read()
                    if response.status == 201:
                        break
                    failures += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
        took = time.perf_counter() - started
    if failures:
        print(f"  anchor: {failures} requests refused and retried")
    return took


class Console:
    """A signed-in author driving the real web app over HTTP, as a browser does."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base = base_url
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}
        page = self.call("GET", "/login").text
        self.call("POST", "/login", data={"username": username, "password": password, "csrf_token": _token(page)})

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """One request carrying the session cookie by hand: production marks it Secure, and the bench speaks
        plain HTTP on loopback (TLS ends at the proxy in production), so a cookie jar would withhold it."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        response = self.http.request(method, self.base + path, headers=headers, allow_redirects=False,
                                     timeout=60, **kwargs)
        self.cookies.update({c.name: c.value for c in response.cookies})
        self.http.cookies.clear()
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response

    def prepare(self, incident: str, lists: list[str]) -> dict:
        """The compose form, previewed: what the publish request posts."""
        page = self.call("GET", "/updates/new").text
        form = {"csrf_token": _token(page), "uid": re.search(r'name="uid" value="([0-9a-f]+)"', page).group(1),
                "incident": incident, "er_access": "open", "operating_status": "normal",
                "headline": f"{incident}: ER open", "body": "Blood donors needed.", "channels": ["sms"],
                "lists": lists}
        preview = self.call("POST", "/updates/new", data={**form, "action": "preview"}).text
        return {**form, "digest": re.search(r'name="digest" value="([0-9a-f]+)"', preview).group(1)}

    def publish(self, form: dict) -> float:
        """Post the publish request; how long it took (ms)."""
        response = self.call("POST", "/updates/new", data={**form, "action": "publish"})
        if response.status_code != 302:
            raise SystemExit(f"publish answered {response.status_code}: {response.text[:500]}")
        return response.elapsed.total_seconds() * 1000


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


class Gauge:
    """CPU time and peak RSS of a set of processes (each with the children it has reaped)."""

    def __init__(self, pids: list[int]):
        self.processes = [psutil.Process(pid) for pid in pids]
        self.peak_rss = 0
        self.start = self.cpu()

    def cpu(self) -> float:
        """user + sys seconds so far, children included."""
        total = 0.0
        for p in self.processes:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, sum(p.memory_info().rss for p in self.processes))

    def used(self) -> float:
        return self.cpu() - self.start
