"""Masked forms of targets, fit for the audit log and logs: enough to tell them apart, not to reach them."""
import re

import phonenumbers

# Digits kept at the end of a masked number: enough to tell a handful of numbers apart in a list.
KEPT_DIGITS = 2
# A number as a provider echoes it in an error (Twilio: "Invalid 'To' Phone Number: 5125551267"): 7 to 15 digits,
# a + or not, not inside a longer run. Codes (21211) and dashed numbers (a hospital's 254-724-2111) are kept.
_ECHOED = r"(?<!\d)\+?\d{7,15}(?!\d)"
# Provider ids whose digit runs are not phone numbers, left whole so a log or report can still be searched for
# them: a Twilio SID (SM + 32 hex) and a Facebook post id (page id _ post id).
_PROVIDER_IDS = r"\b[A-Z]{2}[0-9a-fA-F]{32}\b|\b\d{10,}_\d{10,}\b"
_NUMBERS = re.compile(f"(?P<id>{_PROVIDER_IDS})|{_ECHOED}")


def mask_phone(number: str) -> str:
    """+15125551267 -> +1 ••••••••67: the country code and the last two digits, never dialable or guessable."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if len(digits) < 6:
        return "••"
    try:
        code = str(phonenumbers.parse(number, None).country_code) if number.startswith("+") else ""
    except phonenumbers.NumberParseException:
        code = ""
    hidden = len(digits) - len(code) - KEPT_DIGITS
    return (f"+{code} " if code else "") + "•" * hidden + digits[-KEPT_DIGITS:]


def mask_numbers(text: str) -> str:
    """Every phone number `text` carries masked as mask_phone masks it: a provider's message, fit for the audit log."""
    return _NUMBERS.sub(lambda m: m.group() if m.group("id") else mask_phone(m.group()), text or "")


def mask_id(value: str, keep: int = 4) -> str:
    """1234567890 -> 1234…"""
    return value[:keep] + "…" if len(value) > keep else value
