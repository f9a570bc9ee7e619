"""Message templates: the picker's order (most used first), admins' create/edit/delete (audited), and a draft
started from one."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crisiscast.core import placeholders
from crisiscast.core.domain import CHANNELS, ER_ACCESS, HEADLINE_MAX, OPERATING_STATUS, ValidationError
from crisiscast.core.text import removal_notice, scrub
from crisiscast.store import audit
from crisiscast.store.models import MessageTemplate, Update

NAME_MAX = 80
BODY_MAX = 4000
TEXT_FIELDS = {"name": "Name", "headline": "Headline", "body": "Text"}


@dataclass(frozen=True)
class TemplateForm:
    """What an admin typed for a template, cleaned, with a notice per field that lost invisible characters."""

    values: dict
    notices: tuple[str, ...] = ()


def by_use(session: Session) -> list[MessageTemplate]:
    """Every template, the most used first (ties in the order they were made)."""
    uses = (select(Update.template_id, func.count().label("n")).where(Update.template_id.is_not(None))
            .group_by(Update.template_id).subquery())
    rows = session.execute(select(MessageTemplate).outerjoin(uses, uses.c.template_id == MessageTemplate.id)
                           .order_by(func.coalesce(uses.c.n, 0).desc(), MessageTemplate.id))
    return list(rows.scalars())


def clean_form(form) -> TemplateForm:
    """Scrub the text fields as pasted (core.text) and collect the choices; nothing is checked yet."""
    values, notices = {}, []
    for field, label in TEXT_FIELDS.items():
        scrubbed = scrub(form.get(field) or "")
        values[field] = scrubbed.text.strip() if field == "body" else " ".join(scrubbed.text.split())
        if scrubbed.removed:
            notices.append(removal_notice(label, scrubbed.removed))
    values["er_access"] = (form.get("er_access") or "").strip()
    values["operating_status"] = (form.get("operating_status") or "").strip()
    values["channels"] = [c for c in CHANNELS if c in form.getlist("channels")]
    values["lists"] = [n.strip() for n in form.getlist("lists") if n.strip()]
    values["next_update_minutes"] = (form.get("next_update_minutes") or "").strip()
    return TemplateForm(values, tuple(notices))


def check(values: dict) -> dict:
    """The values to store, or ValidationError naming every field that is wrong."""
    errors = {}
    if not values["name"] or len(values["name"]) > NAME_MAX:
        errors["name"] = f"Name the template in 1 to {NAME_MAX} characters."
    if not values["headline"] or len(values["headline"]) > HEADLINE_MAX:
        errors["headline"] = f"Write a headline of 1 to {HEADLINE_MAX} characters (placeholders included)."
    if len(values["body"]) > BODY_MAX:
        errors["body"] = f"The text is {len(values['body'])} characters; the limit is {BODY_MAX}."
    if values["er_access"] not in ("", *ER_ACCESS):
        errors["er_access"] = "Choose the ER access from the list, or leave it to the composer."
    if values["operating_status"] not in ("", *OPERATING_STATUS):
        errors["operating_status"] = "Choose the operating status from the list, or leave it to the composer."
    if not values["channels"]:
        errors["channels"] = "Choose at least one channel."
    minutes = values["next_update_minutes"]
    if minutes and not (minutes.isdigit() and 1 <= int(minutes) <= 1440):
        errors["next_update_minutes"] = "Give the next update as whole minutes between 1 and 1440, or leave it empty."
    if errors:
        raise ValidationError(errors)
    return {**values, "next_update_minutes": int(minutes) if minutes else None}


def save(session: Session, form: TemplateForm, actor: str, template_id: int | None = None) -> MessageTemplate:
    """Create a template (or change the one with `template_id`), audited with its name and placeholders."""
    values = check(form.values)
    template = session.get(MessageTemplate, template_id) if template_id else MessageTemplate()
    if template is None:
        raise ValidationError({"template": "No such template; it may have been deleted."})
    clash = session.scalar(select(MessageTemplate.id).where(MessageTemplate.name == values["name"]))
    if clash is not None and clash != template.id:
        raise ValidationError({"name": "Another template has this name."})
    for key, value in values.items():
        setattr(template, key, value)
    session.add(template)
    session.flush()
    found = placeholders.names(template.headline, template.body)
    audit.record(session, actor=actor, action="template", outcome="changed" if template_id else "created",
                 message=f"{template.name}" + (f" (fills {', '.join(found)})" if found else ""))
    session.commit()
    return template


def delete(session: Session, template_id: int, actor: str) -> str:
    """Delete a template (updates made from it keep their text); audited. Returns its name."""
    template = session.get(MessageTemplate, template_id)
    if template is None:
        raise ValidationError({"template": "No such template; it may have been deleted already."})
    name = template.name
    session.delete(template)
    audit.record(session, actor=actor, action="template", outcome="deleted", message=name)
    session.commit()
    return name


def draft_values(template: MessageTemplate, latest: dict) -> dict:
    """The compose form's values when starting from `template`: its text and choices, the latest statuses and
    incident where it leaves them open."""
    minutes = template.next_update_minutes
    return {
        "template": str(template.id),
        "incident": latest.get("incident") or template.name,
        "er_access": template.er_access or latest.get("er_access", ""),
        "operating_status": template.operating_status or latest.get("operating_status", ""),
        "headline": template.headline, "body": template.body,
        "next_in": str(minutes) if minutes else "",
        "channels": list(template.channels), "lists": list(template.lists),
    }


def record_use(session: Session, update: Update, template_id: str) -> None:
    """Remember which template an update started from (the picker puts the most used first)."""
    if template_id.isdigit() and session.get(MessageTemplate, int(template_id)) is not None:
        update.template_id = int(template_id)
        session.commit()
