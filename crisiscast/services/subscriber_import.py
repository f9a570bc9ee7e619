"""CSV import of subscribers (number, name, lists) with a line-by-line report of what happened and why."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisiscast.core.domain import ValidationError
from crisiscast.core.fields import CSV_LINE_MAX
from crisiscast.core.phones import PhonePolicy
from crisiscast.services.subscribers import STOPPED, all_lists, join_lists, record_consent, subscriber_name
from crisiscast.store import audit
from crisiscast.store.models import Subscriber

MAX_ROWS = 100_000


@dataclass(frozen=True)
class Line:
    """One CSV line's fate: added, updated, unchanged or rejected, and why."""

    number: int
    raw: str
    outcome: str
    detail: str = ""
    phone: str = ""  # the E.164 number a line added


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    def added(self) -> list[str]:
        """The numbers this import added."""
        return [line.phone for line in self.lines if line.outcome == "added"]

    def summary(self) -> str:
        return ", ".join(f"{self.count(o)} {o}" for o in ("added", "updated", "unchanged", "rejected"))


def decode(raw: bytes) -> str:
    """An uploaded file's text: UTF-8 (with or without a byte order mark), else Latin-1 (older spreadsheet exports)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


LINE_BREAK = re.compile(r"\r\n|\r|\n")


def import_csv(session: Session, text: str, actor: str, policy: PhonePolicy = PhonePolicy()) -> Report:
    """Add or update every valid row; never re-subscribe a number that opted out; report every line."""
    report = Report()
    known_lists = {lst.name for lst in all_lists(session)}
    # Only CR and LF end a line: str.splitlines() would also split at a vertical tab pasted from Word.
    lines = LINE_BREAK.split(text.lstrip("\ufeff").rstrip("\r\n"))
    if len(lines) > MAX_ROWS:
        raise ValidationError({"file": f"The file has {len(lines)} lines; import at most {MAX_ROWS} at a time."})
    seen: set[str] = set()
    for line_number, line in enumerate(lines, start=1):
        row, problem = _parse(line)
        if line_number == 1 and row and row[0].strip().lower() in {"number", "phone", "phone number"}:
            continue
        if problem:
            report.lines.append(Line(line_number, line[:80], "rejected", problem))
            continue
        if not any(cell.strip() for cell in row):
            continue
        raw = ",".join(row)
        phone, name, lists = (row + ["", "", ""])[:3]
        try:
            number, name = policy.normalise(phone), subscriber_name(name)
        except ValidationError as exc:
            report.lines.append(Line(line_number, raw, "rejected", " ".join(exc.errors.values())))
            continue
        names = [n.strip() for n in lists.replace("|", ";").split(";") if n.strip()] or ["public"]
        unknown = [n for n in names if n not in known_lists]
        if unknown:
            report.lines.append(Line(line_number, raw, "rejected", f"unknown list: {', '.join(unknown)}"))
            continue
        if number in seen:
            report.lines.append(Line(line_number, raw, "rejected", f"{number} appears earlier in this file"))
            continue
        seen.add(number)
        report.lines.append(_apply(session, (line_number, raw), number, name, names, actor))
    audit.record(session, actor=actor, action="subscriber_import", outcome="ok", channel="sms",
                 message=report.summary())
    session.commit()
    return report


def _parse(line: str) -> tuple[list[str], str]:
    """One CSV line's cells, or why it cannot be read: each line stands alone, so one bad line spoils no other."""
    if len(line) > CSV_LINE_MAX:
        return [], f"the line is {len(line)} characters; a line holds at most {CSV_LINE_MAX}"
    try:
        return next(csv.reader([line]), []), ""
    except csv.Error as exc:
        return [], f"the line cannot be read as CSV ({exc})"


def _apply(session: Session, where: tuple[int, str], number: str, name: str, names: list[str], actor: str) -> Line:
    line_number, raw = where
    subscriber = session.scalar(select(Subscriber).where(Subscriber.phone == number))
    if subscriber is None:
        subscriber = Subscriber(phone=number, name=name, active=True)
        record_consent(subscriber, "import", actor)
        session.add(subscriber)
        session.flush()
        join_lists(session, subscriber, names)
        return Line(line_number, raw, "added", f"{number} on {', '.join(names)}", number)
    if not subscriber.active:
        why = "texted STOP" if subscriber.opt_out == STOPPED else "was removed by staff"
        when = f" on {subscriber.opted_out_at:%Y-%m-%d}" if subscriber.opted_out_at else ""
        return Line(line_number, raw, "rejected", f"{number} {why}{when}; an import never re-subscribes it")
    added = join_lists(session, subscriber, names)
    renamed = bool(name) and name != subscriber.name
    if renamed:
        subscriber.name = name
    if not added and not renamed:
        return Line(line_number, raw, "unchanged", f"{number} is already on {', '.join(names)}")
    changes = ([f"added to {', '.join(added)}"] if added else []) + (["name updated"] if renamed else [])
    return Line(line_number, raw, "updated", f"{number}: {'; '.join(changes)}")
