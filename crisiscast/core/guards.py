"""Guards against the mistakes that hurt: patient information, statuses that contradict each other.

Each finding is a warning the author must acknowledge before publishing, never a silent block: the PIO may
know better (a hospital that is "closed" may still run its ER), but must have looked.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from crisiscast.core import phi
from crisiscast.core.domain import Draft

FIELD_LABELS = {"incident": "Incident", "headline": "Headline", "body": "Text"}
_ALL_CLEAR = re.compile(r"\b(?:re-?opened|all clear|resum\w+ normal|normal operations (?:have )?resumed|"
                        r"lockdown (?:is |has been )?lifted|diversion (?:has )?ended)\b", re.I)
_CLOSED_ER = {"diversion", "closed_walkins", "closed"}
_SHUT_HOSPITAL = {"lockdown", "evacuating", "closed"}


@dataclass(frozen=True)
class Warning:
    """One thing the author must look at: its kind (phi or contradiction), the field and what was found."""

    kind: str
    field: str
    message: str


def review(draft: Draft, allowed: phi.Allowed = phi.Allowed()) -> list[Warning]:
    """Every warning for `draft`: patient information first, then contradictions."""
    return phi_warnings(draft, allowed) + contradictions(draft)


def phi_warnings(draft: Draft, allowed: phi.Allowed = phi.Allowed()) -> list[Warning]:
    """What looks like patient-identifying information, by field and position."""
    fields = {name: getattr(draft, name) for name in FIELD_LABELS}
    return [Warning("phi", f.field, f"{FIELD_LABELS[f.field]}: {f.describe()}") for f in phi.scan(fields, allowed)]


def contradictions(draft: Draft) -> list[Warning]:
    """Statuses that disagree with each other or with what the headline says."""
    er, hospital, found = draft.er_access, draft.operating_status, []
    if er in ("open", "open_delays") and hospital in ("closed", "evacuating"):
        found.append(Warning("contradiction", "er_access",
                             f"ER access says “{draft.er_label}” while the hospital is “{draft.status_label}”."))
    if er == "closed" and hospital == "normal":
        found.append(Warning("contradiction", "operating_status",
                             "The ER is “Closed” while the hospital reports “Normal operations”."))
    said = _ALL_CLEAR.search(f"{draft.headline}\n{draft.body}")
    if said and (er in _CLOSED_ER or hospital in _SHUT_HOSPITAL):
        found.append(Warning("contradiction", "headline",
                             f"The text says “{said.group()}” while the statuses say ER “{draft.er_label}”, "
                             f"hospital “{draft.status_label}”."))
    return found


def acknowledgement(warnings: list[Warning]) -> str:
    """A short digest of the warnings: the author's tick counts only for the warnings they were shown."""
    text = "\n".join(f"{w.kind}|{w.field}|{w.message}" for w in warnings)
    return hashlib.sha256(text.encode()).hexdigest()[:16] if warnings else ""
