"""The longest value each typed field may hold: its column's size, and the form's maxlength.

A field longer than this is refused with a message naming it, before it reaches the database (where
PostgreSQL would refuse it with an error) or a page that echoes it back.
"""
from __future__ import annotations

USERNAME_MAX = 80          # users.username
PASSWORD_MAX = 200         # core.passwords.MAX_LENGTH: hashed, so no column; any pass phrase fits
PHONE_INPUT_MAX = 40       # what staff type, spaces and dashes included; stored as E.164 (subscribers.phone, 20)
SUBSCRIBER_NAME_MAX = 120  # subscribers.name
LIST_NAME_MAX = 40         # subscriber_lists.name
LIST_DESCRIPTION_MAX = 200  # subscriber_lists.description
REASON_MAX = 200           # updates.retraction_reason
SEARCH_MAX = 200           # a search box: longer finds nothing anyway
ACTION_MAX = 40            # audit_events.action, the audit log's filter
CSV_LINE_MAX = 1000        # a subscriber CSV line: a number, a name and a few lists
INBOUND_BODY_MAX = 1600    # Twilio's longest inbound message
INBOUND_FIELD_MAX = 64     # Twilio's SIDs (34, sms_receipts.message_sid 64), numbers, status words, opt-out types
ERROR_CODE_MAX = 16        # sms_receipts.error_code: Twilio's codes are five digits


def too_long(label: str, value: str, limit: int) -> str | None:
    """'The name is 131 characters; the limit is 120.' when `value` is longer than `limit`, else None."""
    if len(value) <= limit:
        return None
    return f"The {label} is {len(value)} characters; the limit is {limit}."
