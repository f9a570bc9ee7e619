"""Phone numbers masked in every log line the process writes, tracebacks included.

The audit log masks the numbers it is given, but a log line can carry one nobody chose to write: the DETAIL of a
PostgreSQL unique violation ("Key (phone)=(+15125551267) already exists"), a provider's error echoed in an
exception, a SQL parameter in a traceback. Masking at the record factory covers every logger and handler (ours,
RQ's, gunicorn's, werkzeug's) without configuring each.
"""
from __future__ import annotations

import logging
import traceback

from crisiscast.core.masking import mask_numbers


def mask_numbers_in_records() -> None:
    """Make every log record from now on carry its message and traceback with phone numbers masked; idempotent."""
    make = logging.getLogRecordFactory()
    if getattr(make, "masks_numbers", False):
        return

    def masked(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            record.msg, record.args = mask_numbers(record.getMessage()), None
        except Exception:  # noqa: BLE001 - a bad format string: logging itself reports it when the line is written
            return record
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_numbers("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return record

    masked.masks_numbers = True
    logging.setLogRecordFactory(masked)
