"""Numeric settings: a bad value is refused when the settings are read, naming the variable, what it expects
and what it got; the commands stop with exit 2 before touching anything."""

from __future__ import annotations

import pytest

from extract.envvars import env_number
from extract.http import FetchPolicy
from observatoire.config import ConfigError, load_settings
from tests.conftest import run_cli


def test_env_number_reads_defaults_bounds_and_whole_numbers():
    assert env_number("X", 3, unit="versions", environ={}) == 3
    assert env_number("X", 3, unit="versions", environ={"X": " "}) == 3
    assert env_number("X", 3, unit="versions", integer=True, environ={"X": "5"}) == 5
    assert env_number("X", 1.0, unit="seconds", environ={"X": "0.25"}) == 0.25
    assert env_number("X", 1.0, unit="seconds", environ={"X": "0"}) == 0
    # a whole number may be written as a float (values deployments used before the check was added)
    assert env_number("X", 3, unit="bytes", integer=True, environ={"X": "2e9"}) == 2_000_000_000
    assert isinstance(env_number("X", 3, unit="retries", integer=True, environ={"X": "4.0"}), int)
    for raw, kwargs, message in [
        ("abc", {}, "X must be a number of seconds (0 or more), got 'abc'"),
        ("-1", {}, "X must be a number of seconds (0 or more), got '-1'"),
        ("inf", {}, "X must be a number of seconds (0 or more), got 'inf'"),
        ("0", {"strict": True}, "X must be a number of seconds (more than 0), got '0'"),
        ("1.5", {"integer": True, "minimum": 1}, "X must be a whole number of seconds (1 or more), got '1.5'"),
    ]:
        with pytest.raises(ValueError) as err:
            env_number("X", 1.0, unit="seconds", environ={"X": raw}, **kwargs)
        assert str(err.value) == message


def test_the_fetch_policy_reads_its_settings(monkeypatch):
    monkeypatch.setenv("OBSERVATOIRE_HTTP_TIMEOUT", "7.5")
    monkeypatch.setenv("OBSERVATOIRE_HTTP_RETRIES", "0")
    monkeypatch.setenv("OBSERVATOIRE_MAX_BYTES", "1000")
    monkeypatch.setenv("OBSERVATOIRE_HTTP_DEADLINE", "90")
    policy = FetchPolicy()
    assert (policy.read_timeout, policy.retries, policy.max_bytes, policy.deadline) == (7.5, 0, 1000, 90)
    monkeypatch.setenv("OBSERVATOIRE_HTTP_DEADLINE", "0")  # no deadline
    assert FetchPolicy().deadline == 0


def test_the_zip_limits_and_the_deadline_have_their_defaults():
    from extract.envvars import setting

    assert setting("OBSERVATOIRE_MAX_UNZIPPED_BYTES", {}) == 8 * 1024**3
    assert setting("OBSERVATOIRE_MAX_ZIP_MEMBERS", {}) == 1000
    assert setting("OBSERVATOIRE_HTTP_DEADLINE", {}) == 1800


@pytest.mark.parametrize("name, value, expected", [
    ("OBSERVATOIRE_HTTP_TIMEOUT", "abc", "OBSERVATOIRE_HTTP_TIMEOUT must be a number of seconds (more than 0)"),
    ("OBSERVATOIRE_HTTP_RETRIES", "-3", "OBSERVATOIRE_HTTP_RETRIES must be a whole number of retries (0 or more)"),
    ("OBSERVATOIRE_HTTP_BACKOFF", "x", "OBSERVATOIRE_HTTP_BACKOFF must be a number of seconds (0 or more)"),
    ("OBSERVATOIRE_HTTP_MAX_RETRY_AFTER", "-1", "OBSERVATOIRE_HTTP_MAX_RETRY_AFTER must be a number of seconds"),
    ("OBSERVATOIRE_MAX_BYTES", "zz", "OBSERVATOIRE_MAX_BYTES must be a whole number of bytes (1 or more)"),
    ("OBSERVATOIRE_MAX_UNZIPPED_BYTES", "0", "OBSERVATOIRE_MAX_UNZIPPED_BYTES must be a whole number of bytes (1 or"),
    ("OBSERVATOIRE_MAX_ZIP_MEMBERS", "1.5", "OBSERVATOIRE_MAX_ZIP_MEMBERS must be a whole number of members (1 or"),
    ("OBSERVATOIRE_HTTP_DEADLINE", "-1", "OBSERVATOIRE_HTTP_DEADLINE must be a number of seconds (0 or more)"),
    ("OBSERVATOIRE_LOCK_TIMEOUT", "abc", "OBSERVATOIRE_LOCK_TIMEOUT must be a number of seconds (0 or more)"),
    ("OBSERVATOIRE_RETENTION", "0", "OBSERVATOIRE_RETENTION must be a whole number of versions (1 or more)"),
    ("OBSERVATOIRE_PARTENAIRES_MAX_BYTES", "1.5", "OBSERVATOIRE_PARTENAIRES_MAX_BYTES must be a whole number"),
    ("OBSERVATOIRE_PARTENAIRES_MAX_UNZIPPED_BYTES", "0", "OBSERVATOIRE_PARTENAIRES_MAX_UNZIPPED_BYTES must be"),
    ("OBSERVATOIRE_TASK_RETRIES", "x", "OBSERVATOIRE_TASK_RETRIES must be a whole number of retries (0 or more)"),
    ("OBSERVATOIRE_RETRY_DELAY_SECONDS", "-5", "OBSERVATOIRE_RETRY_DELAY_SECONDS must be a whole number"),
    ("OBSERVATOIRE_PG_SWAP_TIMEOUT", "-1", "OBSERVATOIRE_PG_SWAP_TIMEOUT must be a number of seconds (0 or more)"),
    ("OBSERVATOIRE_PAUSE_AT", "foo", "OBSERVATOIRE_PAUSE_AT must be <point>:<seconds> with a point among publish"),
    ("OBSERVATOIRE_PAUSE_AT", "publish:abc", "OBSERVATOIRE_PAUSE_AT must be <point>:<seconds>"),
])
def test_a_bad_setting_is_refused_when_the_settings_are_read(name, value, expected):
    with pytest.raises(ConfigError) as err:
        load_settings({name: value})
    assert expected in str(err.value) and repr(value) in str(err.value)


def test_a_data_directory_that_is_a_file_is_refused_before_anything_is_written(tmp_path):
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("not a directory\n")
    with pytest.raises(ConfigError, match="OBSERVATOIRE_DATA_DIR=.* is a file: expected a data directory"):
        load_settings({"OBSERVATOIRE_DATA_DIR": str(not_a_dir)})
    for args in (["status"], ["run"]):
        proc = run_cli(*args, env={"OBSERVATOIRE_DATA_DIR": str(not_a_dir), "OBSERVATOIRE_MODE": "demo"})
        assert proc.returncode == 2 and "is a file: expected a data directory" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not_a_dir.read_text() == "not a directory\n"


def test_every_numeric_setting_is_checked_and_read_with_its_default():
    from extract.envvars import NUMERIC, check_all, setting
    from observatoire.config import pause_point_setting
    from observatoire.partenaires.validation import DEFAULT_MAX_BYTES, max_bytes

    check_all({})
    for name, (default, *_rest) in NUMERIC.items():
        assert setting(name, {}) == default
        with pytest.raises(ValueError, match=name):
            check_all({name: "not a number"})
    assert max_bytes({}) == DEFAULT_MAX_BYTES == 10 * 1024 * 1024
    assert pause_point_setting({"OBSERVATOIRE_PAUSE_AT": "publish:2.5"}) == ("publish", 2.5)
    assert pause_point_setting({"OBSERVATOIRE_PAUSE_AT": "publish"}) == ("publish", 60.0)
    assert pause_point_setting({}) is None


@pytest.mark.parametrize("name, value", [("OBSERVATOIRE_MAX_UNZIPPED_BYTES", "lots"),
                                         ("OBSERVATOIRE_MAX_ZIP_MEMBERS", "0"),
                                         ("OBSERVATOIRE_HTTP_DEADLINE", "soon")])
def test_a_bad_zip_limit_or_deadline_stops_the_run_with_exit_2(name, value, tmp_path):
    data = tmp_path / "data"
    proc = run_cli("run", env={"OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_MODE": "demo", name: value})
    assert proc.returncode == 2 and name in proc.stderr and repr(value) in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (data / "meta" / "history.sqlite").exists()


def test_the_postgres_dsn_is_checked_without_repeating_it():
    from extract.envvars import check_text

    assert check_text("OBSERVATOIRE_PG_DSN", {}) is None
    assert check_text("OBSERVATOIRE_PG_DSN", {"OBSERVATOIRE_PG_DSN": "host=db dbname=obs"}) == "host=db dbname=obs"
    bad = "host=db password=s3cret dbname='unterminated"
    with pytest.raises(ConfigError) as err:
        load_settings({"OBSERVATOIRE_PG_DSN": bad})
    assert "OBSERVATOIRE_PG_DSN must be a libpq connection string" in str(err.value)
    assert "s3cret" not in str(err.value)
