"""Every route of the app, who may use it, and a valid request for it: the route x role matrix and the fuzzer
both read this table, so a new route cannot be added without deciding who may use it and how to call it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from twilio.request_validator import RequestValidator

# Who may use a route: "public" (no sign-in), "anyone" (sign-in optional), "webhook" (a Twilio signature),
# or the lowest role that may.
ACCESS = ("public", "anyone", "webhook", "viewer", "author", "admin")
ROLES = ("viewer", "author", "admin")


@dataclass(frozen=True)
class Route:
    """Who may use an endpoint, and what a well-formed request to it carries."""

    access: str
    method: str = "GET"
    form: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    # Form fields a refused form must show again as typed (the fields of a form that re-renders itself).
    echoed: tuple[str, ...] = ()


UPDATE_FORM = {"uid": "0123456789ab", "incident": "Water main break", "er_access": "open", "operating_status": "normal",
               "headline": "Use the north entrance", "body": "The south lobby is closed until noon.",
               "next_in": "30", "channels": ["feed"], "lists": ["public"], "action": "preview"}
ROUTES = {
    "static": Route("public"),
    "auth.login": Route("public", "POST", {"username": "nobody-here", "password": "not the password"},
                        {"next": "/audit"}),
    "auth.logout": Route("anyone", "POST"),
    "console.index": Route("viewer"),
    "console.compose": Route("author", "POST", UPDATE_FORM, echoed=("incident", "headline", "body")),
    "console.save_draft": Route("author", "POST", UPDATE_FORM),
    "console.discard_draft": Route("author", "POST"),
    "console.live_preview": Route("author", "POST", UPDATE_FORM),
    "console.update": Route("viewer"),
    "drill_report.report": Route("viewer"),
    "drill_report.download": Route("viewer"),
    "account.index": Route("viewer"),
    "account.change_password": Route("viewer", "POST", {"current": "not the password", "password": "x"}),
    "account.change_phone": Route("viewer", "POST", {"phone": "+1 512 555 0100"}),
    "account.sign_out_everywhere": Route("viewer", "POST"),
    "admin.message_templates": Route("admin", "POST", {"name": "Water main", "headline": "Use the north entrance"}),
    "admin.edit_template": Route("admin", "POST", {"name": "Water main", "headline": "Use the north entrance"}),
    "admin.delete_template": Route("admin", "POST"),
    "subscribers.set_list_flags": Route("admin", "POST", {"public": "1", "joinable": "1"}),
    "console.deliveries": Route("viewer"),
    "console.retract": Route("author", "POST", {"reason": "The drill is over."}),
    "console.retry": Route("author", "POST"),
    "admin.users": Route("admin", "POST", {"username": "fuzz-new", "password": "a long enough pass phrase 42",
                                           "role": "viewer"}, echoed=("username",)),
    "admin.change_user": Route("admin", "POST", {"role": "viewer", "active": "on", "password": ""}),
    "subscribers.index": Route("viewer", query={"q": "512", "list": "public"}),
    "subscribers.add": Route("author", "POST", {"phone": "+1 512 555 0142", "name": "Ann Example",
                                                "lists": ["public"]}, echoed=("phone", "name")),
    "subscribers.remove": Route("author", "POST"),
    "subscribers.import_file": Route("author", "POST", {"csv": "number,name,lists\n+15125550143,Bo,public\n"}),
    "subscribers.add_list": Route("admin", "POST", {"name": "volunteers", "description": "Off-duty staff",
                                                    "joinable": "on"}),
    "audit_log.index": Route("viewer", query={"update": "1", "channel": "sms", "action": "inbound"}),
    "audit_log.download": Route("viewer", query={"update": "1", "channel": "sms", "action": "inbound"}),
    "approval.index": Route("author"),
    "approval.show": Route("author"),
    "approval.approve": Route("author", "POST", {"seen": "0" * 32}),
    "approval.reject": Route("author", "POST", {"reason": "Say where the entrance is."}, echoed=("reason",)),
    "approval.break_glass": Route("author", "POST", {"seen": "0" * 32, "reason": "No approver answers."},
                                  echoed=("reason",)),
    "approval.reopen": Route("author", "POST"),
    "approval.withdraw": Route("author", "POST"),
    # Paperwork is read-only: every role may export it (viewers see all of it in the console already).
    "paperwork.hics_213": Route("viewer", query={"format": "csv"}),
    "paperwork.hics_214": Route("viewer", query={"from": "2026-12-07T02:00", "to": "2026-12-07T14:00"}),
    "public.status": Route("public"),
    "public.feed": Route("public"),
    "public.update": Route("public"),
    "public.incident_feed": Route("public"),
    "public.cap_alert": Route("public"),
    "webhooks.inbound_sms": Route("webhook", "POST", {"From": "+15125551267", "To": "+15005550006", "Body": "JOIN",
                                                      "MessageSid": "SM" + "a" * 32}),
    "webhooks.message_status": Route("webhook", "POST", {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered",
                                                         "To": "+15125551267", "ErrorCode": ""}, {"r": "1"}),
}
# A valid value for each URL variable, by name; ids are filled in from the rows a test made.
# Routes that end the session they are called from: the matrix and the fuzzer call them in tests of their own.
SIGN_OUT = ("auth.logout", "account.sign_out_everywhere")
PATH_VALUES = {"incident_id": 1, "template_id": 1, "list_id": 1, "filename": "console.css", "kind": "rss", "uid": "0123456789ab", "slug": "water-main-break",
               "name": "0123456789ab", "request_id": 1}


def missing_routes(app) -> list[str]:
    """Endpoints of `app` that the table does not list."""
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()} - ROUTES.keys())


def unknown_routes(app) -> list[str]:
    """Endpoints the table lists that `app` no longer has."""
    return sorted(ROUTES.keys() - {rule.endpoint for rule in app.url_map.iter_rules()})


VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def path_for(rule, values: dict) -> str:
    """The rule's path with each variable replaced by `values[name]` (already quoted as it should be sent)."""
    return VARIABLE.sub(lambda m: str(values[m.group(2)]), rule.rule)


def int_variables(rule) -> list[str]:
    """Names of the rule's `<int:…>` variables."""
    return [m.group(2) for m in VARIABLE.finditer(rule.rule) if m.group(1) == "int"]


def methods(rule) -> list[str]:
    """The rule's GET and POST, the methods our pages use."""
    return [m for m in ("GET", "POST") if m in rule.methods]


def csrf_token(client) -> str:
    """A CSRF token of this client's session, from the sign-in page (every form of the session accepts it)."""
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on /login"
    return match.group(1)


def signed_in(app, username: str, password: str):
    """A test client signed in as `username` through the real form."""
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302, f"{username} could not sign in"
    return client


def sign(settings, path: str, form: dict) -> str:
    """X-Twilio-Signature for a POST of `form` (first value of each field, as the app reads it) to `path`."""
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in form.items()}
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(settings.PUBLIC_BASE_URL + path, params)
