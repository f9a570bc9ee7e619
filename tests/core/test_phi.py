"""The PHI guard against its labelled corpus and on the cases the console depends on."""
import pytest

from bench.phi_guard import ALLOWED, CORPORA, evaluate, load
from crisiscast.core import phi


@pytest.fixture(scope="module")
def result():
    return evaluate(load(CORPORA["labelled"]))


@pytest.mark.parametrize("kind", ["name", "dob", "mrn", "ssn"])
def test_recall_on_the_kinds_that_identify_a_patient_is_at_least_95_percent(result, kind):
    stats = result["stats"][kind]
    assert stats["tp"] / (stats["tp"] + stats["fn"]) >= 0.95, [m for m in result["misses"] if m[1] == kind]


def test_false_alarms_on_clean_crisis_updates_stay_under_5_percent(result):
    assert result["clean"] >= 100
    assert result["alarms"] / result["clean"] <= 0.05, [m for m in result["misses"] if m[0] == "fp"]


def test_findings_name_the_field_kind_and_position():
    findings = phi.scan({"headline": "ER open", "body": "Patient Maria Lopez, MRN 00482913, is stable."})
    assert [(f.field, f.kind) for f in findings] == [("body", "name"), ("body", "mrn")]
    assert findings[0].position == 9 and findings[0].excerpt == "Maria Lopez"
    assert "medical record" in findings[1].describe() and "(at 22)" in findings[1].describe()


def test_the_hospitals_own_numbers_and_addresses_are_allowed():
    text = "Call (254) 724-2111 or write to media@sw.org; not 512-555-0187 or x@gmail.com."
    assert [f.kind for f in phi.scan({"body": text}, ALLOWED)] == ["phone", "email"]
    assert len(phi.scan({"body": text})) == 4


def test_staff_quoted_with_their_title_are_not_patients():
    assert phi.scan({"body": "Dr. Glen Couchman, chief medical officer, said all patients are receiving care."}) == []
    assert phi.scan({"body": "Spokesperson Megan Smith will brief at 16:00."}) == []
