"""Twilio's webhooks: inbound messages (keywords) and message status callbacks, both signature-checked."""
from __future__ import annotations

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from crisiscast.core.fields import ERROR_CODE_MAX, INBOUND_BODY_MAX, INBOUND_FIELD_MAX
from crisiscast.core.text import clean
from crisiscast.services import delivery_receipts, keywords
from crisiscast.services.refusals import Refusal
from crisiscast.web import limits
from crisiscast.web.errors import parse_id
from crisiscast.web.helpers import db, runtime, settings

# The fields we read, at the longest Twilio sends them.
LIMITS = {"Body": INBOUND_BODY_MAX, "ErrorCode": ERROR_CODE_MAX, **{name: INBOUND_FIELD_MAX for name in (
    "From", "To", "OptOutType", "MessageSid", "MessageStatus")}}
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/twilio")


@bp.before_request
def check_signature():
    """403 unless X-Twilio-Signature matches this URL and form under our auth token; refusals are summarised."""
    token = settings().TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if token and signature and RequestValidator(token).validate(_public_url(), request.form.to_dict(), signature):
        return None
    reason = "no auth token configured" if not token else "missing signature" if not signature \
        else "signature does not match"
    limits.record_refusal(Refusal("webhook", request.remote_addr or "", f"{request.path}: {reason}"))
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
    """A text from the public: applied once per MessageSid, answered in TwiML (a retry gets the same answer)."""
    form = request.form
    if not 0 < len(form.get("MessageSid", "")) <= 64:
        return Response("A MessageSid (at most 64 characters) is required.\n", status=400, mimetype="text/plain")
    message = keywords.Inbound(_field("MessageSid"), _field("From"), _field("Body"), _field("OptOutType"),
                               clean(request.headers.get("I-Twilio-Idempotency-Token", ""))[:64])
    effect = keywords.handle(db(), settings(), message, runtime().reply_limit())
    reply = MessagingResponse()
    if effect.reply:
        reply.message(effect.reply)
    return Response(str(reply), mimetype="application/xml")


@bp.post("/status")
def message_status():
    """A delivery receipt: kept once; the workers apply it to the row its URL names (or its SID's row)."""
    status = _field("MessageStatus").lower()
    if status not in delivery_receipts.STATUSES or not _field("MessageSid"):
        return Response(f"MessageSid and a MessageStatus Twilio documents are required, not {status!r}.\n",
                        status=400, mimetype="text/plain")
    callback = delivery_receipts.Callback(_field("MessageSid"), status, _field("ErrorCode") or None,
                                 parse_id(request.args.get("r")), _field("To"),
                                 request.headers.get("I-Twilio-Idempotency-Token", ""))
    delivery_receipts.keep(db(), callback)
    return Response(status=204)


def _field(name: str) -> str:
    """A posted field without the control characters PostgreSQL and the audit log cannot take."""
    return clean(request.form.get(name, ""))


def _public_url() -> str:
    """The URL Twilio signed: our public base (we may sit behind a proxy) plus the path and query."""
    query = request.query_string.decode()
    return settings().PUBLIC_BASE_URL.rstrip("/") + request.path + (f"?{query}" if query else "")
