"""Typed settings: every bad value stops start-up naming the setting; the README's table matches the model."""
import logging
import re
from pathlib import Path

import pytest

import config
from crisiscast.settings import LAUNCHER_VARIABLES, Settings, SettingsError

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("name, value, says", [
    ("SMS_SENDER_RATE", "0", "greater than 0"),
    ("SMS_SENDER_RATE", "abc", "valid number"),
    ("SMS_WORKER_THREADS", "2.5", "valid integer"),
    ("CLAIM_LEASE_SECONDS", "-1", "greater than or equal to 1"),
    ("CAP_STATUS", "actual", "'Actual', 'Exercise' or 'Test'"),
    ("TWILIO_FROM_NUMBER", "512-555-0100", "E.164"),
    ("TWILIO_MESSAGING_SERVICE_SID", "MG123", "MG and 32 hexadecimal digits"),
    ("TWILIO_MESSAGING_SERVICE_SID", "PN" + "0" * 32, "MG and 32 hexadecimal digits"),
    ("TWILIO_MESSAGING_SERVICE_SID", "MG" + "g" * 32, "MG and 32 hexadecimal digits"),
    ("SMS_SENDER_TYPE", "longcode", "'long_code', 'toll_free', '10dlc' or 'short_code'"),
    ("PUBLIC_BASE_URL", "status.hospital.org", "pattern"),
    ("SESSION_COOKIE_SECURE", "maybe", "valid boolean"),
])
def test_a_bad_value_stops_start_up_naming_the_setting_and_what_it_accepts(tmp_path, name, value, says):
    with pytest.raises(SettingsError) as refused:
        config.load("development", environ={name: value}, instance=tmp_path)
    assert f"{name} = {value!r}" in str(refused.value) and says in str(refused.value)


def test_every_bad_setting_is_named_at_once_and_secrets_are_not_shown(tmp_path):
    with pytest.raises(SettingsError) as refused:
        config.load("development", environ={"SMS_BATCH_SIZE": "0", "RECONCILE_SECONDS": "soon"}, instance=tmp_path,
                    SECRET_KEY=12345)
    message = str(refused.value)
    assert "SMS_BATCH_SIZE" in message and "RECONCILE_SECONDS" in message
    assert "SECRET_KEY = ••••" in message and "12345" not in message


def test_a_misspelt_setting_in_the_instance_file_stops_start_up_with_the_closest_name(tmp_path):
    (tmp_path / "crisiscast.cfg").write_text('SMS_SENDER_RAT = 3\n')
    with pytest.raises(SettingsError, match=r"SMS_SENDER_RAT \(did you mean SMS_SENDER_RATE\?\)"):
        config.load("development", environ={}, instance=tmp_path)


def test_a_setting_like_environment_variable_that_is_none_is_reported(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        settings = config.load("development", environ={"TWILIO_FROM_NUMBR": "+15125550100", "HOME": "/root"},
                               instance=tmp_path)
    assert "TWILIO_FROM_NUMBR is not a crisiscast setting (did you mean TWILIO_FROM_NUMBER?)" in caplog.text
    assert "HOME" not in caplog.text and settings.TWILIO_FROM_NUMBER == ""


def test_values_are_typed_and_read_as_attributes(tmp_path):
    s = config.load("development", environ={"SMS_SENDER_RATE": "3", "SMS_BATCH_SIZE": "200",
                                            "WTF_CSRF_TIME_LIMIT": ""}, instance=tmp_path)
    assert (s.SMS_SENDER_RATE, s.SMS_BATCH_SIZE, s.WTF_CSRF_TIME_LIMIT) == (3.0, 200, None)
    assert isinstance(s.SMS_SENDER_RATE, float) and isinstance(s.SMS_BATCH_SIZE, int)


def test_settings_are_immutable_and_replace_validates(tmp_path):
    s = config.load("testing", environ={}, instance=tmp_path)
    with pytest.raises(ValueError):
        s.SMS_SENDER_RATE = 2
    assert s.replace(SMS_SENDER_RATE=2).SMS_SENDER_RATE == 2.0 and s.SMS_SENDER_RATE == 5000.0
    with pytest.raises(SettingsError, match="SMS_SENDER_RATE"):
        s.replace(SMS_SENDER_RATE=0)


def test_the_readme_table_and_the_settings_model_name_the_same_settings():
    section = README.read_text().split("\n## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", section, flags=re.M):
        documented.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row))
    assert documented == set(Settings.model_fields) | LAUNCHER_VARIABLES
