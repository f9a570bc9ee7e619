"""Settings: class defaults, the instance file, then the environment; secrets masked when shown."""
import json
import multiprocessing
import os
import stat
import subprocess
import sys

import pytest

import config


def test_environment_overrides_with_types(tmp_path):
    s = config.load("testing", environ={"SMS_MAX_SEGMENTS": "4", "PROVIDER_TIMEOUT": "2.5",
                                        "SESSION_COOKIE_SECURE": "true"}, instance=tmp_path)
    assert (s.SMS_MAX_SEGMENTS, s.PROVIDER_TIMEOUT, s.SESSION_COOKIE_SECURE) == (4, 2.5, True)


def test_instance_file_is_read_and_environment_wins(tmp_path):
    (tmp_path / "crisiscast.cfg").write_text('ORG_NAME = "Scott & White"\nTWILIO_AUTH_TOKEN = "from-file"\n')
    s = config.load("development", environ={"TWILIO_AUTH_TOKEN": "from-env"}, instance=tmp_path)
    assert (s.ORG_NAME, s.TWILIO_AUTH_TOKEN) == ("Scott & White", "from-env")


def test_defaults_put_sqlite_and_a_secret_key_in_the_instance_folder(tmp_path):
    s = config.load("development", environ={}, instance=tmp_path)
    assert s.DATABASE_URL == f"sqlite:///{tmp_path / 'crisiscast.db'}"
    assert s.SECRET_KEY == (tmp_path / "secret_key").read_text()
    assert config.load("development", environ={}, instance=tmp_path).SECRET_KEY == s.SECRET_KEY


PRODUCTION = {"DATABASE_URL": "postgresql://crisiscast@db.internal/crisiscast", "SECRET_KEY": "k" * 32}


@pytest.mark.parametrize("missing, says", [
    ({"SECRET_KEY": ""}, "SECRET_KEY must be set in production"),
    ({"SECRET_KEY": "s" * 31}, "SECRET_KEY is 31 characters long: production needs at least 32"),
    ({"DATABASE_URL": ""}, "DATABASE_URL must be set in production"),
])
def test_production_refuses_to_start_naming_the_setting(tmp_path, missing, says):
    with pytest.raises(config.SettingsError, match=says) as refused:
        config.load("production", environ={**PRODUCTION, **missing}, instance=tmp_path)
    assert "s" * 31 not in str(refused.value)  # a key is never shown, even a bad one
    assert not (tmp_path / "crisiscast.db").exists() and not (tmp_path / "secret_key").exists()


def test_production_names_every_missing_setting_at_once_and_starts_with_both(tmp_path):
    with pytest.raises(config.SettingsError) as refused:
        config.load("production", environ={}, instance=tmp_path)
    assert "SECRET_KEY" in str(refused.value) and "DATABASE_URL" in str(refused.value)
    started = config.load("production", environ=PRODUCTION, instance=tmp_path)
    assert started.DATABASE_URL == PRODUCTION["DATABASE_URL"] and started.SESSION_COOKIE_SECURE


def test_public_view_masks_secrets(tmp_path):
    s = config.load("testing", environ={"TWILIO_AUTH_TOKEN": "tok", "TWILIO_ACCOUNT_SID": "AC1"}, instance=tmp_path)
    shown = s.public()
    assert shown["TWILIO_AUTH_TOKEN"] == "••••" and shown["TWILIO_ACCOUNT_SID"] == "AC1"


def test_a_running_dev_runs_settings_are_read_and_a_dead_ones_ignored(tmp_path):
    path = config.write_dev_run(tmp_path, {"REDIS_URL": "redis://127.0.0.1:6400/0"})
    assert path.stat().st_mode & 0o077 == 0  # it may hold a database password
    assert config.load("development", environ={}, instance=tmp_path).REDIS_URL == "redis://127.0.0.1:6400/0"
    elsewhere = config.load("development", environ={"REDIS_URL": "redis://10.0.0.9:6379/0"}, instance=tmp_path)
    assert elsewhere.REDIS_URL == "redis://10.0.0.9:6379/0"  # the environment still wins
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid": gone.pid}))  # a dev run killed outright
    assert config.load("development", environ={}, instance=tmp_path).REDIS_URL == ""


def _load_key(instance, start, keys):
    start.wait()
    keys.put(config.load("development", environ={}, instance=instance).SECRET_KEY)


def test_processes_starting_at_once_make_one_owner_only_secret_key_and_all_use_it(tmp_path):
    """The key is written whole to a private temporary file and linked into place only if none is there yet."""
    old = os.umask(0o022)  # a typical umask, under which plain files are readable by other local users
    try:
        forking = multiprocessing.get_context("fork")
        for attempt in range(10):
            instance = tmp_path / str(attempt)
            start, keys = forking.Barrier(8), forking.Queue()
            starting = [forking.Process(target=_load_key, args=(instance, start, keys)) for _ in range(8)]
            for process in starting:
                process.start()
            used = {keys.get(timeout=60) for _ in starting}
            for process in starting:
                process.join()
            key = instance / "secret_key"
            assert used == {key.read_text().strip()} and len(used.pop()) == 64
            assert stat.S_IMODE(key.stat().st_mode) == 0o600 and os.listdir(instance) == ["secret_key"]
    finally:
        os.umask(old)


def test_an_older_install_s_readable_secret_key_is_kept_and_made_owner_only(tmp_path):
    (tmp_path / "secret_key").write_text("an older install's key of 64 characters".ljust(64, "k"))
    (tmp_path / "secret_key").chmod(0o644)
    assert config.load("development", environ={}, instance=tmp_path).SECRET_KEY.startswith("an older install's")
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
