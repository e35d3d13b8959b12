"""The settings: one object read once from the environment (``observatoire.config.load_settings``), checked with
one number rule; a bad value is refused when the settings are read, naming the variable, what it expects and
what it got; the commands stop with exit 2 before touching anything. ``extract`` and ``expectations`` read no
environment variable: they get the object the entry point installs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from extract.http import FetchPolicy
from extract.settings import parse_number
from observatoire.config import ConfigError, Settings, load_settings
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_number_rule_reads_bounds_and_whole_numbers():
    assert parse_number("5", name="X", unit="versions", integer=True) == 5
    assert parse_number(" 0.25 ", name="X", unit="seconds") == 0.25
    assert parse_number("0", name="X", unit="seconds") == 0
    # a whole number may be written as a float (values deployments used before the check was added)
    assert parse_number("2e9", name="X", unit="bytes", integer=True) == 2_000_000_000
    assert isinstance(parse_number("4.0", name="X", unit="retries", integer=True), int)
    # empty means the default, for every setting
    assert load_settings({"OBSERVATOIRE_RETENTION": " "}).retention == 3
    for raw, kwargs, message in [
        ("abc", {}, "X must be a number of seconds (0 or more), got 'abc'"),
        ("-1", {}, "X must be a number of seconds (0 or more), got '-1'"),
        ("inf", {}, "X must be a number of seconds (0 or more), got 'inf'"),
        ("0", {"strict": True}, "X must be a number of seconds (more than 0), got '0'"),
        ("1.5", {"integer": True, "minimum": 1}, "X must be a whole number of seconds (1 or more), got '1.5'"),
    ]:
        with pytest.raises(ValueError) as err:
            parse_number(raw, name="X", unit="seconds", **kwargs)
        assert str(err.value) == message


def test_the_fetch_policy_reads_the_installed_settings(monkeypatch):
    monkeypatch.setenv("OBSERVATOIRE_HTTP_TIMEOUT", "7.5")
    monkeypatch.setenv("OBSERVATOIRE_HTTP_RETRIES", "0")
    monkeypatch.setenv("OBSERVATOIRE_MAX_BYTES", "1000")
    monkeypatch.setenv("OBSERVATOIRE_HTTP_DEADLINE", "90")
    policy = FetchPolicy()
    assert policy.read_timeout == 60  # nothing read until an entry point loads the settings
    load_settings()
    policy = FetchPolicy()
    assert (policy.read_timeout, policy.retries, policy.max_bytes, policy.deadline) == (7.5, 0, 1000, 90)
    given = load_settings({"OBSERVATOIRE_HTTP_DEADLINE": "0"})  # no deadline
    assert FetchPolicy().deadline == 90  # settings read from a given mapping are not the process's…
    given.install()  # …until installed (a run installs its own)
    assert FetchPolicy().deadline == 0


def test_the_zip_limits_and_the_deadline_have_their_defaults():
    settings = load_settings({})
    assert settings.max_unzipped_bytes == 8 * 1024**3
    assert settings.max_zip_members == 1000
    assert settings.http_deadline == 1800


def test_overrides_credentials_and_proxies_are_gathered_for_extract(monkeypatch):
    from extract import settings as extract_settings
    from extract.registry import load_registry

    key_env = next((s.api_key_env for s in load_registry().values() if s.api_key_env), None)
    environ = {"OBSERVATOIRE_URL_INSEE_POP_QPV": " file:///x.csv ", "https_proxy": "http://p:3128",
               "OBSERVATOIRE_URL_EMPTY": " ", "UNRELATED_TOKEN": "no"}
    if key_env:
        environ[key_env] = "s3cret"
    settings = load_settings(environ).install()
    assert extract_settings.current() is settings
    assert settings.url_overrides == {"OBSERVATOIRE_URL_INSEE_POP_QPV": "file:///x.csv"}
    assert settings.proxies == {"https_proxy": "http://p:3128"}
    assert settings.api_keys == ({key_env: "s3cret"} if key_env else {})
    assert "s3cret" not in repr(settings) and "p:3128" not in repr(settings)
    # the gathered fields come from those variables only: a variable spelled like the field is not JSON to decode
    odd = load_settings({"OBSERVATOIRE_PROXIES": "not json", "OBSERVATOIRE_API_KEYS": "{", "OBSERVATOIRE_URL_OVERRIDES":
                         "x"})
    assert odd.proxies == {} and odd.api_keys == {}
    assert odd.url_overrides == {"OBSERVATOIRE_URL_OVERRIDES": "x"}  # a source whose id would be « overrides »


def test_extract_and_expectations_read_no_environment_variable():
    """The rule of the settings object: only the entry point (``observatoire.config``) reads the environment."""
    offenders = []
    for package in ("extract", "expectations"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                name = (node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name)
                        else None)
                if name in ("environ", "getenv", "environb", "putenv"):
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                    elif isinstance(node, ast.Name) and name == "getenv":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


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
    ("OBSERVATOIRE_GX_WORKERS", "0", "OBSERVATOIRE_GX_WORKERS must be a whole number of processes (1 or more)"),
    ("OBSERVATOIRE_GX_MAX_ROWS", "1.5", "OBSERVATOIRE_GX_MAX_ROWS must be a whole number of rows (1 or more)"),
    ("OBSERVATOIRE_CALCUL_WORKERS", "-1", "OBSERVATOIRE_CALCUL_WORKERS must be a whole number of processes"),
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
    from observatoire.partenaires.validation import DEFAULT_MAX_BYTES, max_bytes

    defaults = load_settings({})
    numeric = [name for name, field in Settings.model_fields.items()
               if isinstance(field.default, int | float) and not isinstance(field.default, bool)]
    assert len(numeric) >= 17
    for name in numeric:
        variable = f"OBSERVATOIRE_{name.upper()}"
        assert getattr(defaults, name) == Settings.model_fields[name].default
        with pytest.raises(ConfigError, match=variable):
            load_settings({variable: "not a number"})
    load_settings({})
    assert max_bytes() == DEFAULT_MAX_BYTES == 10 * 1024 * 1024
    assert load_settings({"OBSERVATOIRE_PAUSE_AT": "publish:2.5"}).pause_at == ("publish", 2.5)
    assert load_settings({"OBSERVATOIRE_PAUSE_AT": "publish"}).pause_at == ("publish", 60.0)
    assert load_settings({}).pause_at is None


@pytest.mark.parametrize("name, value", [("OBSERVATOIRE_MAX_UNZIPPED_BYTES", "lots"),
                                         ("OBSERVATOIRE_MAX_ZIP_MEMBERS", "0"),
                                         ("OBSERVATOIRE_HTTP_DEADLINE", "soon")])
def test_a_bad_zip_limit_or_deadline_stops_the_run_with_exit_2(name, value, tmp_path):
    data = tmp_path / "data"
    proc = run_cli("run", env={"OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_MODE": "demo", name: value})
    assert proc.returncode == 2 and name in proc.stderr and repr(value) in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (data / "meta" / "history.sqlite").exists()


def test_the_postgres_dsn_is_checked_without_repeating_it():
    assert load_settings({}).pg_dsn is None
    assert load_settings({"OBSERVATOIRE_PG_DSN": "host=db dbname=obs"}).pg_dsn == "host=db dbname=obs"
    bad = "host=db password=s3cret dbname='unterminated"
    with pytest.raises(ConfigError) as err:
        load_settings({"OBSERVATOIRE_PG_DSN": bad})
    assert "OBSERVATOIRE_PG_DSN must be a libpq connection string" in str(err.value)
    assert "s3cret" not in str(err.value)


def test_every_setting_is_in_the_runbooks_table():
    """docs/runbook.md « Settings » lists every variable of the settings object (the ones gathered under names of
    their own, URL overrides, credentials and proxies, are described below the table)."""
    text = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    table = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    gathered = {"url_overrides", "api_keys", "proxies"}
    missing = [f"OBSERVATOIRE_{name.upper()}" for name in Settings.model_fields
               if name not in gathered and f"`OBSERVATOIRE_{name.upper()}`" not in table]
    assert missing == []
    assert "`OBSERVATOIRE_URL_<ID>`" in table and "api_key_env" in table and "HTTPS_PROXY" in table
