"""Contradiction and PHI warnings on drafts, and the acknowledgement digest."""
import pytest

from crisiscast.core import guards
from crisiscast.core.domain import Draft


def draft(**changes) -> Draft:
    values = {"incident": "Storm", "er_access": "open", "operating_status": "normal", "headline": "ER open",
              "body": "", "channels": ("feed",)}
    return Draft(**{**values, **changes})


@pytest.mark.parametrize("er, hospital, headline, field", [
    ("open", "closed", "Update", "er_access"),
    ("open_delays", "evacuating", "Update", "er_access"),
    ("closed", "normal", "Update", "operating_status"),
    ("diversion", "normal", "ER reopened to ambulances", "headline"),
    ("open", "lockdown", "All clear on campus", "headline"),
])
def test_contradictions_are_named(er, hospital, headline, field):
    warnings = guards.contradictions(draft(er_access=er, operating_status=hospital, headline=headline))
    assert [w.field for w in warnings] == [field] and all(w.kind == "contradiction" for w in warnings)


@pytest.mark.parametrize("er, hospital, headline", [
    ("open", "normal", "All clear: ER reopened"), ("diversion", "limited", "ER on ambulance diversion"),
    ("closed_walkins", "lockdown", "Lockdown: do not come to campus"), ("closed", "closed", "Hospital closed"),
])
def test_consistent_updates_have_no_warning(er, hospital, headline):
    assert guards.review(draft(er_access=er, operating_status=hospital, headline=headline)) == []


def test_phi_warnings_name_the_field():
    warnings = guards.review(draft(body="Patient Maria Lopez is stable.", headline="Mr. Smith transferred"))
    assert [(w.kind, w.field) for w in warnings] == [("phi", "headline"), ("phi", "body")]
    assert warnings[1].message.startswith("Text: a person's name in a patient context: “Maria Lopez”")


def test_the_acknowledgement_changes_with_the_warnings():
    one = guards.review(draft(body="Patient Maria Lopez is stable."))
    two = guards.review(draft(body="Patient Maria Lopez, MRN 00482913, is stable."))
    assert guards.acknowledgement(one) != guards.acknowledgement(two)
    assert guards.acknowledgement([]) == ""
