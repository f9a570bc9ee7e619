"""Phone numbers: parse what staff or a CSV typed into E.164, or say why not; and whose country we text."""
from __future__ import annotations

from dataclasses import dataclass

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


def region_of(number: str) -> str:
    """The region (ISO 3166 code) an E.164 number belongs to; '' when phonenumbers cannot tell."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


@dataclass(frozen=True)
class PhonePolicy:
    """How numbers are read (`region` for those without +) and which regions may be subscribed.

    By region, not by calling code: +1 also covers Jamaica and the rest of the Caribbean, a classic
    destination of SMS toll fraud.
    """

    region: str = DEFAULT_REGION
    allowed: tuple[str, ...] = (DEFAULT_REGION,)

    @classmethod
    def of(cls, settings) -> PhonePolicy:
        """The policy `settings` set: SMS_ALLOWED_COUNTRIES, or the default region's country alone."""
        allowed = tuple(c.strip() for c in settings.SMS_ALLOWED_COUNTRIES.split(",") if c.strip())
        return cls(settings.SMS_DEFAULT_REGION, allowed or (settings.SMS_DEFAULT_REGION,))

    def allows(self, number: str) -> bool:
        """True when the E.164 `number` is in an allowed region."""
        return region_of(number) in self.allowed

    def normalise(self, raw: str) -> str:
        """`raw` as E.164 if valid and in an allowed region; else ValidationError saying which rule it breaks."""
        number = normalise(raw, self.region)
        if not self.allows(number):
            where = region_of(number) or "an unknown region"
            raise ValidationError({"phone": (
                f"{number} is a number in {where}; alerts go only to numbers in {', '.join(self.allowed)} "
                "(SMS_ALLOWED_COUNTRIES).")})
        return number
