"""CAP 1.2 alerts of exercises: status Exercise whatever CAP_STATUS says, valid against the OASIS schema."""
import pytest
from lxml import etree

from crisiscast.public import cap
from tests.public.test_site import CAP, SPECS
from tests.services.test_exercises import DRILL


@pytest.fixture(scope="module")
def cap_schema():
    return etree.XMLSchema(etree.parse(str(SPECS / "CAP-v1.2.xsd")))


@pytest.mark.parametrize("cap_status", ["Actual", "Test", "Exercise"])
def test_an_exercise_alert_is_status_exercise_and_valid(settings, publish, cap_schema, cap_status):
    configured = settings.replace(CAP_STATUS=cap_status)
    drill = publish(DRILL, channels=("sms",), queued=False)
    fix = publish(DRILL, channels=("sms",), queued=False, corrects=drill.uid, exercise=False, headline="All clear")
    real = publish(queued=False)
    for update, earlier, status in ((drill, [], "Exercise"), (fix, [drill], "Exercise"), (real, [], cap_status)):
        alert = etree.fromstring(cap.alert(configured, update, earlier, "https://h.example/drill"))
        cap_schema.assertValid(alert)
        assert alert.findtext(f"{CAP}status") == status
        marked = alert.findtext(f"{CAP}info/{CAP}headline").startswith("EXERCISE — ")
        assert marked == update.exercise
