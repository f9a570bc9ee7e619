"""The audit log page and its CSV download."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, abort, render_template, request, stream_with_context

from crisiscast.core.domain import CHANNELS
from crisiscast.core.fields import ACTION_MAX, too_long
from crisiscast.store import audit
from crisiscast.web.auth import login_required
from crisiscast.web.errors import parse_id
from crisiscast.web.helpers import db

bp = Blueprint("audit_log", __name__)


def _filters() -> dict:
    if too_long("action", request.args.get("action", ""), ACTION_MAX):
        abort(400, too_long("action", request.args.get("action", ""), ACTION_MAX))
    return {"update_id": parse_id(request.args.get("update")),
            "channel": request.args.get("channel") if request.args.get("channel") in CHANNELS else None,
            "action": request.args.get("action", "").strip() or None}


@bp.get("/audit")
@login_required()
def index():
    filters = _filters()
    events = audit.query(db(), limit=500, **filters)
    return render_template("audit/index.html", events=events, filters=filters, channels=CHANNELS)


@bp.get("/audit.csv")
@login_required()
def download():
    filters = _filters()
    events = audit.query(db(), limit=None, **filters)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Response(stream_with_context(audit.to_csv(events)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="crisiscast-audit-{stamp}.csv"'})
