"""Masked forms of targets, fit for the audit log and logs: enough to tell them apart, not to reach them."""


def mask_phone(number: str) -> str:
    """+15125551267 -> +1512555••67: enough to tell numbers apart, not enough to dial."""
    if len(number) < 6:
        return "••"
    return number[:-4] + "••" + number[-2:]


def mask_id(value: str, keep: int = 4) -> str:
    """1234567890 -> 1234…"""
    return value[:keep] + "…" if len(value) > keep else value
