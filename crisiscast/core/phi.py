"""The PHI guard: finds what looks like patient-identifying information in an update before it goes out.

Focused rules rather than a statistical model, chosen by measurement (bench/phi_guard.py on the labelled
corpus in tests/core/phi_corpus.tsv): presidio-analyzer needs a spaCy language model and philter-lite needs
NLTK's tagger data, and neither is installable from the package registries this product deploys from. The
rules know what crisis updates look like: staff are named with their titles ("Dr. …, chief medical officer"),
patients are named next to a condition, an age, a room or a title such as Mr./Mrs. or a military rank.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import phonenumbers

from crisiscast.core.given_names import GIVEN_NAMES

KINDS = {
    "name": "a person's name in a patient context",
    "dob": "a date of birth",
    "age": "a person's age",
    "mrn": "a medical record or patient number",
    "ssn": "a Social Security number",
    "room": "a patient's room or bed",
    "phone": "a phone number that is not one of the hospital's published numbers",
    "email": "an email address that is not the hospital's",
}


@dataclass(frozen=True)
class Finding:
    """One suspected piece of PHI: its kind, the field, what was found and where (1-based)."""

    kind: str
    field: str
    excerpt: str
    position: int

    def describe(self) -> str:
        return f"{KINDS[self.kind]}: “{self.excerpt}” (at {self.position})"


@dataclass(frozen=True)
class Allowed:
    """What may appear: the hospital's own published numbers and email domains or addresses."""

    numbers: frozenset[str] = frozenset()
    emails: tuple[str, ...] = ()
    region: str = "US"

    @classmethod
    def parse(cls, contacts: Iterable[str], region: str = "US") -> Allowed:
        """From a settings list such as ["(254) 724-2111", "@sw.org", "media@sw.org"]."""
        contacts = [c.strip() for c in contacts if c.strip()]
        numbers = {_e164(c, region) for c in contacts if "@" not in c}
        return cls(frozenset(n for n in numbers if n), tuple(c.lower() for c in contacts if "@" in c), region)


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (rf"(?:\d{{1,4}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}})")
_RULES = [
    ("ssn", re.compile(r"\b(?:ssn|ss#|social(?: security)?(?: number| no\.?| #)?)\s*(?:is\s*)?[:#]?\s*"
                       r"\d{3}[- ]?\d{2}[- ]?\d{4}\b|\b(?!000|666|9\d\d)\d{3}-\d{2}-\d{4}\b", re.I)),
    ("mrn", re.compile(r"\b(?:mrn|mr\s?#|medical record(?: number| no\.?| #)?|record (?:no\.?|number|#)|"
                       r"chart\s?(?:#|no\.?|number)|patient\s?(?:id|#|number|no\.?)|acct\.?|account (?:no\.?|#|number))"
                       r"\s*[:#]?\s*[a-z]{0,2}-?\d[\d-]{4,}\d", re.I)),
    ("dob", re.compile(rf"\b(?:dob|d\.o\.b\.?|date of birth|born(?: on)?)\s*[:\-]?\s*(?:approx\.?|about|circa|c\.)?\s*{_DATE}",
                       re.I)),
    ("age", re.compile(r"\b\d{1,3}[- ](?:year|yr|month|week|day)s?[- ]olds?\b|\b\d{1,3}\s?(?:y/o|yo|y\.o\.)(?!\w)|"
                       r"\bage[sd]?\s+\d{1,3}\b|\bin (?:his|her|their) (?:\d0s|teens|twenties|thirties|forties|"
                       r"fifties|sixties|seventies|eighties|nineties)\b|(?:\b[A-Z][a-z]+|\bpatient),\s\d{1,3},",
                       re.I)),
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
]
_ROOM = re.compile(r"\b(?:(?:icu |trauma )?bed|(?:trauma )?bay|room|rm\.?)\s*#?\s*(?:\d{1,4}[a-z]?|[a-z]\d{1,3})\b", re.I)
_PLACE_BEFORE = re.compile(r"(?:conference|meeting|board|class|waiting|operating|auditorium|building|center|"
                           r"pool|lobby|chapel)\W*$", re.I)
_PATIENT_CUE = re.compile(r"\b(?:patients?|admitted|stable|condition|transferred|treated|visitors?|injur\w*|"
                          r"intubated|identified|surgery|discharged|recovering|her|his|husband|wife|family|mr|mrs|ms)\b", re.I)
_TITLE_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+[A-Z][\w'’-]+")
_RANK = (r"(?:Staff Sgt|Sgt|Spc|Pvt|Pfc|Cpl|Corporal|Private|Sergeant|Specialist|Lt|Capt|Maj|Officer|Deputy|"
         r"Trooper|Firefighter|Father|Sister|Pastor|Rev)\.?"
         r"(?:\s+1st Class)?")
_RANK_NAME = re.compile(rf"\b{_RANK}\s+[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)?")
# Two or three capitalised words, the first not a word that starts sentences about patients ("Patient John …").
_CAPITALISED = re.compile(r"\b(?!(?:Patients?|Victims?|Family|The|Our|Update|Injured|Gunshot|Trauma|Staff|"
                          r"Relatives|Contact|Call|Text|Email)\b)([A-Z][a-z]+)(?:\s[A-Z]\.)?\s([A-Z][\w'’-]+)")
_PERSON_CUE_BEFORE = re.compile(r"(?:patients?(?: named| include)?|victims?|family of|relatives of|injured:|"
                                r"wounded:|believed to be|identified as|caring for|treating|(?:injured|wounded) \w+,)\W*$", re.I)
# What is said of a patient; two capitalised words followed by one of these in the same sentence are a person.
_PATIENT_PREDICATE = re.compile(r"^[^.;:!?]{0,60}?\b(?:treated|condition|stable|critical|serious|injur\w*|wound\w*|"
                                r"surgery|died|dead|admitted|discharged|released|transferred|burns?|shot|stabbed|ICU|"
                                r"recovering|survive\w*|unconscious|intubated|hospitali[sz]ed|brought in|remains|ventilator|awake|"
                                r"sedated|resting)\b")
_STAFF_BEFORE = re.compile(r"(?:dr|president|spokes\w*|sheriff|chief|director|officer|mayor|governor|"
                           r"commander|chaplain|ceo|manager|col|colonel|gen|general)\.?\s*$", re.I)
_STAFF_AFTER = re.compile(r"^(?:,\s*(?:a |the |our )?(?:chief|hospital|media|director|spokes\w*|president|ceo|"
                          r"commander|public information|vice|head)|\s+said\b)", re.I)
_ORG_AFTER = re.compile(r"^\s*(?:army|medical|center|hospital|school|college|building|street|st\b|avenue|ave\b|"
                        r"park\b|county|memorial|clinic|hall|road|drive|dr\b|heights|main|civic|plaza|tower|lot)", re.I)


def scan(fields: Mapping[str, str], allowed: Allowed = Allowed()) -> list[Finding]:
    """Every likely piece of PHI in `fields` (field name → text), in field order then position."""
    findings: list[Finding] = []
    for field, text in fields.items():
        findings.extend(_scan_text(field, text or "", allowed))
    return findings


def _scan_text(field: str, text: str, allowed: Allowed) -> list[Finding]:
    found: list[tuple[str, int, int]] = []
    for kind, rule in _RULES:
        found += [(kind, m.start(), m.end()) for m in rule.finditer(text)
                  if not (kind == "email" and _allowed_email(m.group(), allowed))]
    found += _rooms(text)
    found += _phones(text, allowed, found)
    found += [("mrn", m.start(), m.end()) for m in re.finditer(r"\b\d{7,10}\b", text) if not _covered(m, found)]
    found += _names(text)
    return [Finding(kind, field, text[start:end], start + 1) for kind, start, end in sorted(found, key=lambda f: f[1])]


def _rooms(text: str) -> list[tuple[str, int, int]]:
    result = []
    for match in _ROOM.finditer(text):
        is_bed = not match.group().lower().startswith(("room", "rm"))
        window = text[max(0, match.start() - 60):match.end() + 60]
        if is_bed or (not _PLACE_BEFORE.search(text[:match.start()]) and _PATIENT_CUE.search(window)):
            result.append(("room", match.start(), match.end()))
    return result


def _phones(text: str, allowed: Allowed, found) -> list[tuple[str, int, int]]:
    result = []
    for match in phonenumbers.PhoneNumberMatcher(text, allowed.region, leniency=phonenumbers.Leniency.POSSIBLE):
        number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        overlaps = any(start < match.end and match.start < end for _, start, end in found)
        if number not in allowed.numbers and not overlaps and len(match.raw_string.strip()) > 4:
            result.append(("phone", match.start, match.end))
    return result


def _names(text: str) -> list[tuple[str, int, int]]:
    spans = [(m.start(), m.end()) for m in _TITLE_NAME.finditer(text)]
    spans += [(m.start(), m.end()) for m in _RANK_NAME.finditer(text) if not _staff(text, m.start(), m.end())]
    for match in _CAPITALISED.finditer(text):
        first, before = match.group(1), text[:match.start()]
        person = (first.lower() in GIVEN_NAMES or _PERSON_CUE_BEFORE.search(before[-25:])
                  or _PATIENT_PREDICATE.search(text[match.end():]))
        place = _ORG_AFTER.match(" " + match.group(2)) or _ORG_AFTER.search(text[match.end():])
        if person and not place and not _staff(text, match.start(), match.end()):
            spans.append((match.start(), match.end()))
    return [("name", start, end) for start, end in _merge(spans)]


def _staff(text: str, start: int, end: int) -> bool:
    return bool(_STAFF_BEFORE.search(text[max(0, start - 25):start]) or _STAFF_AFTER.search(text[end:end + 40]))


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _covered(match: re.Match, found) -> bool:
    return any(start < match.end() and match.start() < end for _, start, end in found)


def _allowed_email(address: str, allowed: Allowed) -> bool:
    address = address.lower()
    return any(address == a or (a.startswith("@") and address.endswith(a)) for a in allowed.emails)


def _e164(number: str, region: str) -> str | None:
    try:
        return phonenumbers.format_number(phonenumbers.parse(number, region), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return None
