"""Twilio's webhooks: inbound messages (keywords) and message status callbacks, both signature-checked."""
from __future__ import annotations

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from crisiscast.core.fields import ERROR_CODE_MAX, INBOUND_BODY_MAX, INBOUND_FIELD_MAX
from crisiscast.core.text import clean
from crisiscast.services import delivery_receipts, keywords
from crisiscast.store import audit
from crisiscast.web.errors import parse_id
from crisiscast.web.helpers import db, settings

# The fields we read, at the longest Twilio sends them.
LIMITS = {"Body": INBOUND_BODY_MAX, "ErrorCode": ERROR_CODE_MAX, **{name: INBOUND_FIELD_MAX for name in (
    "From", "To", "OptOutType", "MessageSid", "MessageStatus")}}
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/twilio")


@bp.before_request
def check_signature():
    """403 and an audit entry unless X-Twilio-Signature matches this URL and form under our auth token."""
    token = settings().TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if token and signature and RequestValidator(token).validate(_public_url(), request.form.to_dict(), signature):
        return None
    audit.record(db(), actor="twilio", action="webhook_refused", outcome="refused", channel="sms",
                 target=request.remote_addr or "", message=f"{request.path}: "
                 + ("no auth token configured" if not token else "missing signature" if not signature
                    else "signature does not match"))
    db().commit()
    abort(403)


@bp.before_request
def refuse_oversized():
    """400 for a field longer than Twilio ever sends: it would only fill the audit log (after the signature)."""
    for name in LIMITS:
        for value in request.form.getlist(name):
            if len(value) > LIMITS[name]:
                return Response(f"{name} is {len(value)} characters; Twilio sends at most {LIMITS[name]}.\n",
                                status=400, mimetype="text/plain")
    return None


@bp.post("/sms")
def inbound_sms():
    effect = keywords.handle(db(), settings(), _field("From"), _field("Body"), _field("OptOutType"))
    reply = MessagingResponse()
    if effect.reply:
        reply.message(effect.reply)
    return Response(str(reply), mimetype="application/xml")


@bp.post("/status")
def message_status():
    """A delivery receipt: kept once, applied to the recipient row its URL names (or its SID's row)."""
    status = _field("MessageStatus").lower()
    if status not in delivery_receipts.STATUSES or not _field("MessageSid"):
        return Response(f"MessageSid and a MessageStatus Twilio documents are required, not {status!r}.\n",
                        status=400, mimetype="text/plain")
    callback = delivery_receipts.Callback(_field("MessageSid"), status, _field("ErrorCode") or None,
                                 parse_id(request.args.get("r")), _field("To"),
                                 request.headers.get("I-Twilio-Idempotency-Token", ""))
    delivery_receipts.receive(db(), callback)
    return Response(status=204)


def _field(name: str) -> str:
    """A posted field without the control characters PostgreSQL and the audit log cannot take."""
    return clean(request.form.get(name, ""))


def _public_url() -> str:
    """The URL Twilio signed: our public base (we may sit behind a proxy) plus the path and query."""
    query = request.query_string.decode()
    return settings().PUBLIC_BASE_URL.rstrip("/") + request.path + (f"?{query}" if query else "")
