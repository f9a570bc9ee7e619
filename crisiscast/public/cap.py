"""CAP 1.2 (OASIS Common Alerting Protocol): one alert per update, Cancel for retractions, an Atom index.

Statuses map to CAP's urgency and severity; corrections are msgType Update and retractions msgType Cancel,
each with `references` to every earlier alert of the same story.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlparse

from lxml import etree

from crisiscast.core import promise
from crisiscast.core.domain import ER_ACCESS, OPERATING_STATUS
from crisiscast.core.rendering import EXERCISE_MARKER
from crisiscast.core.text import clean

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SEVERE = {"diversion", "closed", "lockdown", "evacuating"}
MODERATE = {"open_delays", "closed_walkins", "limited"}
INSTRUCTIONS = {
    "diversion": "Ambulances: take patients to other hospitals.",
    "closed": "Do not come to the emergency department; call 911 in an emergency.",
    "closed_walkins": "Walk-in patients: go to urgent care or another emergency department.",
    "open_delays": "Expect long waits in the emergency department unless your condition is life-threatening.",
    "lockdown": "Stay away from the hospital campus; nobody may enter or leave.",
    "evacuating": "Do not come to the hospital; families will be told where patients are taken.",
    "limited": "Elective procedures are postponed; you will be called to reschedule.",
}


def timestamp(moment: datetime) -> str:
    """CAP's dateTime: seconds precision and an explicit offset (UTC written -00:00, as CAP asks)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def sender(settings) -> str:
    return settings.CAP_SENDER or f"alerts@{urlparse(settings.PUBLIC_BASE_URL).hostname or 'localhost'}"


def identifier(settings, uid: str, cancel: bool = False) -> str:
    host = (urlparse(settings.PUBLIC_BASE_URL).hostname or "localhost").replace(",", "")
    return f"{host}-{uid}{'-cancel' if cancel else ''}"


def reference(settings, update) -> str:
    return f"{sender(settings)},{identifier(settings, update.uid)},{timestamp(update.published_at)}"


def severity(update) -> str:
    levels = {update.er_access, update.operating_status}
    return "Severe" if levels & SEVERE else "Moderate" if levels & MODERATE else "Minor"


def alert(settings, update, earlier: list, link: str, cancel=None) -> bytes:
    """The CAP alert for `update`, referencing the `earlier` versions of its story; a Cancel when `cancel`
    (the retracted version, which may be an earlier one: its time and reason are the Cancel's)."""
    root = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})

    def add(parent, name, text):
        element = etree.SubElement(parent, f"{{{NS}}}{name}")
        # Rows stored before text was cleaned at the edge may hold what XML cannot carry: leave it out.
        element.text = None if text is None else clean(text)
        return element

    add(root, "identifier", identifier(settings, update.uid, bool(cancel)))
    add(root, "sender", sender(settings))
    add(root, "sent", timestamp(cancel.retracted_at if cancel else update.published_at))
    # A drill is an Exercise whatever CAP_STATUS says: no reader may take it for an actual alert.
    exercise = bool(update.exercise)
    add(root, "status", "Exercise" if exercise else settings.CAP_STATUS)
    add(root, "msgType", "Cancel" if cancel else "Update" if earlier else "Alert")
    add(root, "scope", "Public")
    if cancel:
        add(root, "note", f"Retracted: {cancel.retraction_reason or 'withdrawn by the hospital'}")
    references = [reference(settings, u) for u in earlier] + ([reference(settings, update)] if cancel else [])
    if references:
        add(root, "references", " ".join(references))
    if cancel:  # the references and the reason only: the withdrawn words stay out of every public file
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    info = add(root, "info", None)
    add(info, "language", "en-US")
    add(info, "category", "Health")
    add(info, "event", "Hospital status")
    add(info, "urgency", "Past" if cancel else "Immediate" if severity(update) == "Severe" else "Expected")
    add(info, "severity", "Minor" if cancel else severity(update))
    add(info, "certainty", "Observed")
    add(info, "senderName", settings.ORG_NAME)
    add(info, "headline", (EXERCISE_MARKER if exercise else "") + update.headline)
    # The promised next update goes in the description, as every channel says it; not in `expires`, which would
    # drop the alert from displays the moment an update runs late, while it is still the hospital's latest word.
    promised = promise.for_update(update, settings.TIMEZONE)
    add(info, "description", f"ER: {ER_ACCESS[update.er_access]}. Hospital: {OPERATING_STATUS[update.operating_status]}."
                             + "".join(f"\n\n{p}" for p in (update.body, promised) if p))
    steps = [INSTRUCTIONS[s] for s in (update.er_access, update.operating_status) if s in INSTRUCTIONS]
    if steps:
        add(info, "instruction", " ".join(steps))
    add(info, "web", link)
    add(info, "contact", settings.SMS_HELP_CONTACT)
    area = add(info, "area", None)
    add(area, "areaDesc", settings.CAP_AREA or f"{settings.ORG_NAME} service area")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
