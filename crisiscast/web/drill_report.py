"""The drill report of an update: printable HTML and CSV, for the emergency-preparedness committee."""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template

from crisiscast.services import drill_report
from crisiscast.store.models import Update
from crisiscast.web.auth import login_required
from crisiscast.web.helpers import db

bp = Blueprint("drill_report", __name__)


def _report(update_id: int) -> drill_report.Report:
    found = db().get(Update, update_id)
    if found is None:
        abort(404)
    return drill_report.build(db(), found)


@bp.get("/updates/<int:update_id>/drill-report")
@login_required()
def report(update_id: int):
    return render_template("console/drill_report.html", report=_report(update_id))


@bp.get("/updates/<int:update_id>/drill-report.csv")
@login_required()
def download(update_id: int):
    report_ = _report(update_id)
    kind = "drill-report" if report_.update.exercise else "timeline"
    return Response(drill_report.to_csv(report_), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="crisiscast-{kind}-{update_id}.csv"'})
