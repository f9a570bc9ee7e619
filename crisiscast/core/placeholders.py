"""Template placeholders such as {place} and {phone}: find them, fill them, and refuse what is left unfilled."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

PLACEHOLDER = re.compile(r"\{([a-z][a-z_]{0,23})\}")
# The fields of a draft a template's text can sit in.
FILLED_FIELDS = ("headline", "body")


def names(*texts: str) -> list[str]:
    """The placeholders in `texts`, each once, in the order they first appear."""
    return list(dict.fromkeys(m.group(1) for text in texts for m in PLACEHOLDER.finditer(text or "")))


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with every placeholder that has a non-blank value replaced by it; the others are left as they are."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), "").strip() or m.group(0), text or "")


def fill_form(form: Mapping, values: Mapping[str, str]) -> dict:
    """A copy of a compose form with its text fields filled."""
    return {**form, **{name: fill(form.get(name) or "", values) for name in FILLED_FIELDS}}


def unfilled(form: Mapping) -> dict[str, str]:
    """An error per text field that still holds a placeholder, for the preview to show; {} when all are filled."""
    errors = {}
    for field in FILLED_FIELDS:
        left = names(form.get(field) or "")
        if left:
            errors[field] = "Fill in " + ", ".join("{" + n + "}" for n in left) + " before the preview."
    return errors


def label(name: str) -> str:
    """'{place}' as the composer reads it: 'Place'."""
    return name.replace("_", " ").capitalize()


def values_from(form: Mapping, prefix: str = "ph_") -> dict[str, str]:
    """The placeholder values a compose form carries as `ph_<name>` fields."""
    return {key[len(prefix):]: str(value) for key, value in form.items()
            if key.startswith(prefix) and isinstance(value, str)}


def in_fields(form: Mapping, fields: Iterable[str] = FILLED_FIELDS) -> list[str]:
    """The placeholders the form's text fields hold, for the composer to ask for."""
    return names(*(form.get(f) or "" for f in fields))
