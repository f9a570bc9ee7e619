"""The PIO's paperwork: an update as a HICS 213 General Message, an incident's log as a HICS 214 Activity Log,
each printable (print CSS, A4 or Letter) or as CSV. Read-only, so every role may export: viewers see all of
it in the console already."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, g, render_template, request

from crisiscast.core import hics
from crisiscast.core.domain import ValidationError
from crisiscast.services import hics213, hics214
from crisiscast.store.audit import defuse
from crisiscast.store.models import Incident, Update, utcnow
from crisiscast.web.auth import login_required
from crisiscast.web.helpers import db, settings

bp = Blueprint("paperwork", __name__)


@bp.get("/updates/<int:update_id>/hics-213")
@login_required()
def hics_213(update_id: int):
    update = db().get(Update, update_id) or abort(404)
    zone = settings().TIMEZONE
    form = hics213.general_message(update, zone)
    if request.args.get("format") == "csv":
        return _csv(hics213.csv_rows(form), f"hics-213-update-{update.id}.csv")
    return render_template("paperwork/hics_213.html", update=update, form=form, hics=hics,
                           prepared=hics.stamp(utcnow(), zone))


@bp.get("/incidents/<int:incident_id>/hics-214")
@login_required()
def hics_214(incident_id: int):
    incident = db().get(Incident, incident_id) or abort(404)
    zone = settings().TIMEZONE
    typed = {name: request.args.get(name, "") for name in ("from", "to")}
    try:
        window = hics.parse_window(typed["from"], typed["to"], utcnow(), zone)
    except ValidationError as exc:  # the form again, with what was typed and why it was refused
        return render_template("paperwork/hics_214.html", incident=incident, log=None, errors=exc.errors,
                               typed=typed, hics=hics), 400
    if request.args.get("format") == "csv":
        log = hics214.activity_log(db(), incident, window, zone, limit=hics214.CSV_ROWS_MAX)
        return _csv(hics214.csv_rows(log, zone), f"hics-214-incident-{incident.id}.csv")
    log = hics214.activity_log(db(), incident, window, zone)
    return render_template("paperwork/hics_214.html", incident=incident, log=log, errors={},
                           typed={"from": window.typed_from, "to": window.typed_to}, hics=hics, zone=zone,
                           preparer=g.user.username, prepared=hics.stamp(utcnow(), zone))


def _csv(rows: list[list[str]], filename: str) -> Response:
    """`rows` as a CSV download, each cell defused so a spreadsheet runs no formula."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[defuse(cell) for cell in row] for row in rows])
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
