import json

import pytest

from extract.errors import ExtractError
from extract.registry import RECORDINGS_DIR, RegistryError, load_registry, override_env_name, resolve_url
from tests.conftest import run_cli


def test_registry_loads_and_ids_have_no_year():
    reg = load_registry()
    assert "insee_pop_qpv" in reg
    for sid, src in reg.items():
        if src.status == "publie":
            assert src.millesimes and src.parser, sid
        else:  # a source not published yet for the 2024 geography says why and when
            assert src.reason and src.next_release and not src.millesimes, sid
        for year in src.millesimes:
            assert isinstance(year, int)


def test_ids_with_a_year_are_refused(tmp_path):
    bad = tmp_path / "sources.yml"
    bad.write_text("sources:\n  - {id: insee_pop_2024, family: insee, publisher: INSEE, licence: LO, format: csv, "
                   "parser: insee_pop_qpv, millesimes: {2020: http://x}}\n")
    with pytest.raises(RegistryError, match="must not contain a year"):
        load_registry(bad)


def test_override_env_name():
    assert override_env_name("insee_pop_qpv") == "OBSERVATOIRE_URL_INSEE_POP_QPV"
    assert override_env_name("ademe-dpe.existant") == "OBSERVATOIRE_URL_ADEME_DPE_EXISTANT"


def test_resolve_url_by_mode_and_override():
    src = load_registry()["insee_pop_qpv"]
    latest = src.latest_millesime
    oldest = min(src.millesimes)
    url, origin = resolve_url(src, latest, "live", overrides={})
    assert (url, origin) == (src.millesimes[latest].url, "registry")
    url, origin = resolve_url(src, latest, "demo", overrides={})
    assert origin == "recording" and url.startswith("file://") and str(RECORDINGS_DIR) in url
    env = {"OBSERVATOIRE_URL_INSEE_POP_QPV": "http://127.0.0.1:1/mirror.csv"}
    # the override applies to the millésime being loaded (the latest by default), in every mode
    assert resolve_url(src, latest, "demo", overrides=env) == ("http://127.0.0.1:1/mirror.csv", "override")
    assert resolve_url(src, latest, "live", overrides=env)[1] == "override"
    # ... and not to the others
    assert resolve_url(src, oldest, "demo", overrides=env)[1] == "recording"
    # unless another millésime is the one being loaded
    assert resolve_url(src, oldest, "live", overrides=env, target_millesime=oldest)[1] == "override"
    with pytest.raises(ExtractError, match="unknown millésime 1999"):
        resolve_url(src, 1999, "live", overrides={})


def test_every_recording_exists():
    for src in load_registry().values():
        for year, m in src.millesimes.items():
            assert m.recording, f"{src.id} {year} has no recording: demo mode could not replay it"
            assert (RECORDINGS_DIR / m.recording).is_file(), m.recording


def test_sources_list_json_cli(monkeypatch):
    proc = run_cli("sources", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, list) and data
    item = next(d for d in data if d["id"] == "insee_pop_qpv")
    assert set(item) == {"id", "family", "publisher", "licence", "format", "millesimes"}
    assert all(k.isdigit() and v.startswith("http") for k, v in item["millesimes"].items())
    proc = run_cli("sources", "list", "--json", env={"OBSERVATOIRE_URL_INSEE_POP_QPV": "file:///srv/mirror/pop.csv"})
    item = next(d for d in json.loads(proc.stdout) if d["id"] == "insee_pop_qpv")
    assert item["millesimes"][max(item["millesimes"])] == "file:///srv/mirror/pop.csv"


@pytest.mark.parametrize("verb", [[], ["run"], ["sources"], ["sources", "list"], ["status"]])
def test_help_on_every_verb(verb):
    proc = run_cli(*verb, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout


def test_invalid_mode_is_a_clear_usage_error():
    proc = run_cli("run", env={"OBSERVATOIRE_MODE": "prod"})
    assert proc.returncode == 2
    assert "OBSERVATOIRE_MODE='prod'" in proc.stderr and "demo, live" in proc.stderr


def test_an_api_key_goes_only_to_the_host_it_is_configured_for():
    """Issue 18: an OBSERVATOIRE_URL_<ID> override pointing at another host never receives the source's key."""
    from observatoire.run.extraction import key_for

    src = load_registry()["insee_melodi_population"]
    assert src.api_key_env == "INSEE_MELODI_API_KEY"
    year = src.latest_millesime
    assert key_for(src, year, src.millesimes[year].url) == "INSEE_MELODI_API_KEY"
    assert key_for(src, year, "https://api.insee.fr/melodi/data/OTHER?x=1") == "INSEE_MELODI_API_KEY"
    assert key_for(src, year, "https://mirror.example.org/melodi/data/DS?x=1") is None
    assert key_for(src, year, "file:///tmp/cassette.json") is None
    assert key_for(src, year, "http://api.insee.fr/melodi/data/DS?x=1") is None  # never in clear text
    assert key_for(src, year, "https://api.insee.fr:8443/melodi/data/DS?x=1") is None
    assert key_for(load_registry()["insee_pop_qpv"], 2021, "https://www.insee.fr/x.csv") is None  # no key at all
