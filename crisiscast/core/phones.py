"""Phone numbers: parse what staff or a CSV typed into E.164, or say why not."""
from __future__ import annotations

import phonenumbers

from crisiscast.core.domain import ValidationError
from crisiscast.core.fields import PHONE_INPUT_MAX

DEFAULT_REGION = "US"


def normalise(raw: str, region: str = DEFAULT_REGION) -> str:
    """`raw` as E.164 (+15125551267); ValidationError with the reason when it is not a valid number."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError({"phone": "Enter a phone number."})
    if len(text) > PHONE_INPUT_MAX:
        raise ValidationError({"phone": f"A phone number is at most {PHONE_INPUT_MAX} characters."})
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError({"phone": f"{text!r} is not a phone number: {getattr(exc, '_msg', exc)}"}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({"phone": f"{text!r} is not a valid number in any region we know."})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
