"""Each field's cap equals its column's size, and every form's maxlength equals the cap the server applies."""
import re
from pathlib import Path

from crisiscast.core import domain, fields, passwords, promise
from crisiscast.store import models

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
COLUMNS = {
    fields.USERNAME_MAX: models.User.username, fields.SUBSCRIBER_NAME_MAX: models.Subscriber.name,
    fields.LIST_NAME_MAX: models.SubscriberList.name, fields.LIST_DESCRIPTION_MAX: models.SubscriberList.description,
    fields.REASON_MAX: models.Update.retraction_reason, fields.ACTION_MAX: models.AuditEvent.action,
    fields.ERROR_CODE_MAX: models.SmsReceipt.error_code, fields.INBOUND_FIELD_MAX: models.SmsReceipt.message_sid,
    domain.INCIDENT_MAX: models.Incident.title,
}
# (template, field name or an attribute that tells it apart) -> the cap the server applies to it.
FORMS = {
    ("auth/login.html", "username"): fields.USERNAME_MAX,
    ("auth/login.html", "password"): fields.PASSWORD_MAX,
    ("admin/users.html", "username"): fields.USERNAME_MAX,
    ("admin/users.html", "password"): fields.PASSWORD_MAX,
    ("console/compose.html", "incident"): domain.INCIDENT_MAX,
    ("console/compose.html", "headline"): domain.HEADLINE_MAX,
    ("console/compose.html", "next_at"): promise.CLOCK_MAX,
    ("console/compose.html", "body"): domain.BODY_MAX,
    ("console/update.html", "reason"): fields.REASON_MAX,
    ("subscribers/index.html", "phone"): fields.PHONE_INPUT_MAX,
    ("subscribers/index.html", 'id="name"'): fields.SUBSCRIBER_NAME_MAX,
    ("subscribers/index.html", "q"): fields.SEARCH_MAX,
    ("subscribers/index.html", 'placeholder="e.g. volunteers"'): fields.LIST_NAME_MAX,
    ("subscribers/index.html", "description"): fields.LIST_DESCRIPTION_MAX,
    ("audit/index.html", "action"): fields.ACTION_MAX,
}


def test_each_cap_is_its_column_size():
    for cap, column in COLUMNS.items():
        assert column.type.length == cap, f"{column}: column {column.type.length}, cap {cap}"
    assert domain.HEADLINE_MAX <= models.Update.headline.type.length
    assert fields.PASSWORD_MAX == passwords.MAX_LENGTH


def test_every_text_input_has_the_maxlength_the_server_applies():
    for (template, name), cap in FORMS.items():
        page = (TEMPLATES / template).read_text()
        attribute = name if "=" in name else f'name="{name}"'
        tags = re.findall(rf'<(?:input|textarea)[^>]*\b{attribute}[^>]*>', page)
        assert tags, f"{template} has no field {name}"
        for tag in tags:
            assert f'maxlength="{cap}"' in tag, f"{template} {name}: {tag}"
    assert fields.too_long("name", "n" * 121, 120) == "The name is 121 characters; the limit is 120."
    assert fields.too_long("name", "n" * 120, 120) is None
