"""The sandbox server: provider routes wrapped in latency, a concurrency limit and faults; control and inbox."""
from __future__ import annotations

import asyncio
import html
import json
import time
from functools import partial
from xml.etree import ElementTree

from aiohttp import web

from crisiscast.sandbox import bluesky, callbacks, graph, mastodon, twilio, x
from crisiscast.sandbox.state import PROVIDERS, State

MODULES = {"twilio": twilio, "x": x, "graph": graph}
MODULES["bluesky"] = bluesky
MODULES["mastodon"] = mastodon
STATE_KEY = web.AppKey("state", State)


def build_app(state: State) -> web.Application:
    """The aiohttp application for `state`."""
    app = web.Application(client_max_size=1024 * 1024)
    app[STATE_KEY] = state
    for name, module in MODULES.items():
        for route in module.routes(state):
            app.router.add_route(route.method, route.path, _provider_call(state, name, route.handler))
    app.router.add_get("/", partial(inbox, state))
    app.router.add_get("/_sandbox/requests", partial(requests_view, state))
    app.router.add_get("/_sandbox/config", partial(show_config, state))
    app.router.add_post("/_sandbox/config", partial(configure, state))
    app.router.add_post("/_sandbox/reset", partial(reset, state))
    app.router.add_get("/_sandbox/stats", partial(show_stats, state))
    app.router.add_post("/_sandbox/inbound", partial(inbound, state))
    app.router.add_post("/websub", partial(websub_hub, state))
    app.on_cleanup.append(callbacks.close)
    return app


def _provider_call(state: State, provider: str, handler):
    """Apply the concurrency limit, latency and injected faults around one provider handler."""

    async def call(request: web.Request) -> web.StreamResponse:
        limit = state.settings.concurrency
        in_flight = state.in_flight  # a reset starts a new count: a request held from before leaves it alone
        if limit and in_flight[provider] >= limit:
            state.counters[f"{provider}.rejected_concurrency"] += 1
            return MODULES[provider].fault_response("429")
        in_flight[provider] += 1
        state.counters[f"{provider}.peak_in_flight"] = max(state.counters[f"{provider}.peak_in_flight"],
                                                           in_flight[provider])
        try:
            if state.settings.latency_ms:
                await asyncio.sleep(state.settings.latency_ms / 1000)
            fault = state.next_fault(provider)
            if fault is None:
                return await handler(request)
            state.counters[f"{provider}.fault_{fault}"] += 1
            if fault == "timeout":
                await asyncio.sleep(state.settings.timeout_seconds)
                return web.Response(status=504, text="gateway timeout")
            if fault == "lost":
                response = await handler(request)
                await asyncio.sleep(state.settings.timeout_seconds)
                return response
            return MODULES[provider].fault_response(fault)
        finally:
            in_flight[provider] -= 1

    return call


async def configure(state: State, request: web.Request) -> web.Response:
    try:
        state.settings.update(await request.json())
    except (ValueError, TypeError, AttributeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(state.settings.to_dict())


async def reset(state: State, request: web.Request) -> web.Response:
    state.reset()
    return web.json_response({"ok": True})


async def show_stats(state: State, request: web.Request) -> web.Response:
    sms = [r["to"] for r in state.records if r["provider"] == "twilio" and r["kind"] == "sms"]
    return web.json_response({"counters": dict(state.counters), "in_flight": dict(state.in_flight),
                              "records": len(state.records), "sms_accepted": len(sms),
                              "sms_unique_recipients": len(set(sms)),
                              "first_at": state.records[0]["at"] if state.records else None,
                              "last_at": state.records[-1]["at"] if state.records else None})


async def websub_hub(state: State, request: web.Request) -> web.Response:
    """A WebSub hub's publish endpoint: records which topic changed (what subscribers would be told)."""
    form = await request.post()
    if form.get("hub.mode") != "publish" or not form.get("hub.url"):
        return web.Response(status=400, text="hub.mode=publish and hub.url are required")
    state.record("websub", "ping", id=state.new_id(length=8), url=form["hub.url"])
    return web.Response(status=204)


async def inbound(state: State, request: web.Request) -> web.StreamResponse:
    """A phone texts our number: post it, signed, to the product's inbound webhook and keep the reply.

    Takes JSON {"from", "body", "opt_out_type", "to"} (tests) or the inbox page's form (people), which it
    answers by going back to the inbox. `to` is one of our numbers (a Messaging Service's pool has several);
    by default the first.
    """
    is_form = request.content_type == "application/x-www-form-urlencoded"
    data = dict(await request.post()) if is_form else await request.json()
    if not state.settings.inbound_url:
        return web.json_response({"error": "set inbound_url first"}, status=409)
    ours = data.get("to") or state.credentials.twilio_sender_pool[0]
    params = {"AccountSid": state.credentials.twilio_account_sid, "MessageSid": state.new_id("SM"),
              "From": data.get("from", ""), "To": ours, "Body": data.get("body", ""), "NumMedia": "0"}
    if data.get("opt_out_type"):
        params["OptOutType"] = data["opt_out_type"]
    status, reply = await callbacks.post_form(state, state.settings.inbound_url, params)
    state.record("inbound", "inbound", id=params["MessageSid"], to=params["From"], sender=params["From"],
                 body=params["Body"], reply=reply, reply_status=status)
    if is_form:
        raise web.HTTPSeeOther("/")
    return web.json_response({"status": status, "reply": reply})


async def show_config(state: State, request: web.Request) -> web.Response:
    return web.json_response(state.settings.to_dict())


async def requests_view(state: State, request: web.Request) -> web.Response:
    provider = request.query.get("provider")
    since = int(request.query.get("since", 0))
    rows = [{k: v for k, v in r.items() if k != "resource"} for r in state.records
            if r["seq"] > since and (not provider or r["provider"] == provider)]
    return web.json_response(rows)


async def inbox(state: State, request: web.Request) -> web.Response:
    """What recipients, followers and readers would have seen, newest first."""
    sections = []
    for provider in ("inbound", *PROVIDERS, "websub"):
        rows = [r for r in reversed(state.records) if r["provider"] == provider][:200]
        items = "".join(f"<li><time>{time.strftime('%H:%M:%S', time.localtime(r['at']))}</time> "
                        f"<b>{html.escape(r['kind'])}</b> {html.escape(_summary(r))}</li>" for r in rows)
        sections.append(f"<h2>{provider}</h2><ul>{items or '<li>nothing yet</li>'}</ul>")
    page = (
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=3>"
        "<title>Provider sandbox inbox</title><style>body{font:15px system-ui;margin:2em;max-width:60em}"
        "li{white-space:pre-wrap;margin:.5em 0;border-bottom:1px solid #ddd}time{color:#777}</style>"
        "<h1>Provider sandbox inbox</h1><p>Settings: <code>"
        + html.escape(json.dumps(state.settings.to_dict())) + "</code></p>" + _inbound_form(state)
        + "".join(sections)
    )
    return web.Response(text=page, content_type="text/html")


def _inbound_form(state: State) -> str:
    if not state.settings.inbound_url:
        return ""
    return ("<form method=post action=/_sandbox/inbound><b>Text the hospital's number</b> from "
            "<input name=from value='+15125550100' size=14> <input name=body value='JOIN' size=20> "
            "<button>Send</button></form>")


def _as_phone_shows(record: dict) -> str:
    """A TwiML reply as the text a phone would show (one line per <Message>); any other answer as it came."""
    try:
        root = ElementTree.fromstring(record["reply"])
    except ElementTree.ParseError:
        return str(record["reply"])
    if root.tag != "Response":
        return str(record["reply"])
    texts = ["".join(message.itertext()).strip() for message in root.iter("Message")]
    return "\n".join(texts) or "(no reply)"


def _summary(record: dict) -> str:
    if record["kind"] == "ping":
        return f"publish {record['url']}"
    if record["kind"] == "inbound":
        return f"from {record['sender']}: {record['body']}\n→ reply ({record['reply_status']}): {_as_phone_shows(record)}"
    if record["provider"] == "twilio":
        status = record["resource"].get("status")
        return f"{record['id']} from {record['sender']} to {record['to']} [{status}]: {record['body']}"
    if record["kind"] == "delete":
        return f"deleted {record['id']}"
    text = record.get("text") or record.get("message", "")
    link = record.get("link")
    return f"{record['id']}: {text}" + (f"\n{link}" if link else "")
