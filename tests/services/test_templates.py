"""Templates: the starter set, most used first, and admins' changes checked, scrubbed and audited."""
import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from crisiscast.core.domain import ValidationError
from crisiscast.services import templates
from crisiscast.store.models import AuditEvent, MessageTemplate

STARTERS = ["ER on ambulance diversion", "ER closed to walk-ins (mass-casualty incident)",
            "Lockdown — do not come to campus", "Shelter in place", "Evacuation", "Blood donors needed at {place}",
            "Family Information Center open at {place}, call {phone}", "Visitor restrictions",
            "All clear — ER open, normal operations"]


def form(**fields):
    values = {"name": "Water main break", "headline": "Water off at {place}", "body": "Use bottled water.",
              "channels": ["sms", "feed"], "lists": ["public"], "er_access": "", "operating_status": "limited",
              "next_update_minutes": "45", **fields}
    return MultiDict([(k, v) for k, vs in values.items() for v in (vs if isinstance(vs, list) else [vs])])


def test_the_starter_set_is_there_in_order(db):
    assert [t.name for t in templates.by_use(db)] == STARTERS
    family = db.scalar(select(MessageTemplate).where(MessageTemplate.name.like("Family%")))
    assert "never give patient names" in family.body


def test_the_most_used_template_comes_first(db, publish):
    evacuation = db.scalar(select(MessageTemplate).where(MessageTemplate.name == "Evacuation"))
    update = publish()
    templates.record_use(db, update, str(evacuation.id))
    assert [t.name for t in templates.by_use(db)][:2] == ["Evacuation", "ER on ambulance diversion"]
    templates.record_use(db, publish(), "999")  # a deleted template counts for nothing
    assert [t.name for t in templates.by_use(db)][0] == "Evacuation"


def test_save_scrubs_checks_and_audits(db):
    cleaned = templates.clean_form(form(body="Use bottled\x00 water.\x0bBoil the rest."))
    assert cleaned.values["body"] == "Use bottled water.\nBoil the rest."
    assert cleaned.notices == ("Text: 1 invisible control character was removed (at 12). Check the preview.",)
    saved = templates.save(db, cleaned, actor="admin")
    assert (saved.operating_status, saved.channels, saved.next_update_minutes) == ("limited", ["sms", "feed"], 45)
    templates.save(db, templates.clean_form(form(name="Water main break (east)")), "admin", template_id=saved.id)
    assert templates.delete(db, saved.id, actor="admin") == "Water main break (east)"
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "template").order_by(AuditEvent.id)).all()
    assert [(e.actor, e.outcome, e.message) for e in events] == [
        ("admin", "created", "Water main break (fills place)"),
        ("admin", "changed", "Water main break (east) (fills place)"), ("admin", "deleted", "Water main break (east)")]


@pytest.mark.parametrize("fields, field", [
    ({"name": ""}, "name"), ({"name": "Evacuation"}, "name"), ({"headline": ""}, "headline"),
    ({"channels": []}, "channels"), ({"er_access": "sideways"}, "er_access"),
    ({"next_update_minutes": "soon"}, "next_update_minutes"), ({"next_update_minutes": "0"}, "next_update_minutes")])
def test_save_refuses_bad_input_naming_the_field(db, fields, field):
    with pytest.raises(ValidationError) as refused:
        templates.save(db, templates.clean_form(form(**fields)), actor="admin")
    assert field in refused.value.errors
    assert db.scalar(select(MessageTemplate).where(MessageTemplate.name == "Water main break")) is None


def test_a_draft_from_a_template_keeps_the_latest_statuses_it_leaves_open(db):
    donors = db.scalar(select(MessageTemplate).where(MessageTemplate.name.like("Blood donors%")))
    values = templates.draft_values(donors, {"incident": "Tornado", "er_access": "open_delays",
                                             "operating_status": "limited"})
    assert (values["incident"], values["er_access"], values["operating_status"]) == \
        ("Tornado", "open_delays", "limited")
    assert values["next_in"] == "60" and values["headline"] == "Blood donors needed at {place}"


def test_no_starter_template_trips_a_guard_once_filled(db, settings):
    """A starter filled in as intended must not warn of patient information or contradicting statuses."""
    from crisiscast.core import placeholders
    from crisiscast.core.domain import Draft
    from crisiscast.services import review

    fills = {"place": "the Red Cross center on 1st Street", "phone": "(254) 724-2111"}
    for template in templates.by_use(db):
        values = templates.draft_values(template, {"er_access": "open", "operating_status": "normal"})
        draft = Draft.from_form(placeholders.fill_form(values, fills))
        assert placeholders.unfilled(placeholders.fill_form(values, fills)) == {}, template.name
        assert review.warnings(draft, settings) == [], template.name
