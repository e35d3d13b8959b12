"""Demo and live never mix: a data directory records the mode of its data (meta/mode.json, or its run history for a
directory from before that file), a run of the other mode stops before touching anything (exit 2), an
OBSERVATOIRE_URL_<ID> override keeps a demo run demo, and an edition of a demo publication needs --demo and says
« données de démonstration, valeurs synthétiques » in every file that can say it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import openpyxl
import pytest

from observatoire import tasks
from observatoire.config import DEMO_NOTICE, load_settings
from observatoire.datamode import DataModeError, check_data_mode, directory_mode, mode_file, record_mode
from observatoire.errors import RunRequestError
from observatoire.history import History
from observatoire.snapshot import demo_publication, verify
from tests.conftest import RECORDINGS, run_cli, sha256_of, tree_state


def _settings(data: Path, mode: str):
    return load_settings({"OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_MODE": mode})


def _runs(data: Path) -> int:
    con = sqlite3.connect(data / "meta" / "history.sqlite")
    try:
        return con.execute("select count(*) from runs").fetchone()[0]
    finally:
        con.close()


def _landed(history: History, run_id: str, origin: str, sha: str = "a" * 64) -> None:
    """A landing row as a run records it (the file itself is not needed to judge the directory's mode)."""
    history.record_landing({"source_id": "insee_pop_qpv", "millesime": 2021, "sha256": sha,
                            "url": "https://example.invalid/pop.csv", "url_origin": origin, "bytes": 10,
                            "etag": None, "last_modified": None, "content_type": "text/csv",
                            "raw_path": f"raw/insee_pop_qpv/2021/{sha}.csv", "parsed_path": None,
                            "rows_parsed": 1}, run_id)


def _live_directory(data: Path) -> None:
    """A directory holding live data: a live run that landed a publisher's file, its mode recorded (what the first
    live run does at its start)."""
    settings = _settings(data, "live")
    settings.ensure_dirs()
    check_data_mode(settings)
    history = History(settings.history_db)
    run_id = history.start_run(mode="live", perimetre=settings.perimetre, trigger="cli", params={})
    _landed(history, run_id, "registry")
    history.finish_run(run_id, "failed", error="stopped before dbt")


# -- the mode of a directory ----------------------------------------------------------------------------------------

def test_the_first_run_records_its_mode_and_the_other_mode_is_then_refused(tmp_path):
    data = tmp_path / "data"
    demo = _settings(data, "demo")
    demo.ensure_dirs()
    assert directory_mode(demo).mode is None
    assert check_data_mode(demo).mode == "demo"
    recorded = json.loads(mode_file(demo).read_text(encoding="utf-8"))
    assert recorded["mode"] == "demo" and recorded["recorded_at"] and "first run" in recorded["basis"]
    before = mode_file(demo).read_bytes()
    assert check_data_mode(demo).basis == "file"  # the same mode again: allowed, nothing rewritten
    with pytest.raises(DataModeError) as err:
        check_data_mode(_settings(data, "live"))
    assert isinstance(err.value, RunRequestError)  # a usage error: exit 2, no run
    msg = str(err.value)
    for text in ("OBSERVATOIRE_MODE=live", str(data), "holds demo data", str(mode_file(demo)),
                 "OBSERVATOIRE_DATA_DIR=./data ", "./data-demo", "OBSERVATOIRE_MODE=demo", "move", "remove it"):
        assert text in msg, (text, msg)
    assert mode_file(demo).read_bytes() == before
    # of two runs starting together, the second finds the file written and is checked against it
    assert record_mode(_settings(data, "live"), basis="race") is False
    assert mode_file(demo).read_bytes() == before


@pytest.mark.parametrize("runs, origins, expected", [
    (["demo"], [], "demo"),
    (["live", "demo"], [], "demo"),
    (["live"], ["recording"], "demo"),  # a live run on a directory where the recordings were landed
    (["live"], ["registry", "override"], "live"),
    ([], [], None),
])
def test_a_directory_from_before_the_mode_file_is_judged_by_its_history(tmp_path, runs, origins, expected):
    data = tmp_path / "data"
    settings = _settings(data, "live")
    settings.ensure_dirs()
    history = History(settings.history_db)
    ids = [history.start_run(mode=m, perimetre=settings.perimetre, trigger="cli", params={}) for m in runs]
    for i, origin in enumerate(origins):
        _landed(history, ids[0], origin, sha=f"{i:064d}")
    found = directory_mode(settings)
    assert found.mode == expected and found.basis == ("history" if runs else "empty"), found
    if expected is None:
        return
    other = "live" if expected == "demo" else "demo"
    with pytest.raises(DataModeError, match=f"holds {expected} data"):
        check_data_mode(_settings(data, other))
    assert not mode_file(settings).exists()  # refused: nothing written
    check_data_mode(_settings(data, expected))  # allowed: the mode judged from the history is now recorded
    recorded = json.loads(mode_file(settings).read_text(encoding="utf-8"))
    assert recorded["mode"] == expected and "history" in recorded["basis"]


@pytest.mark.parametrize("text", ["{not json", '{"mode": "prod"}', "[]"])
def test_an_unreadable_mode_file_is_a_clear_error(tmp_path, text):
    data = tmp_path / "data"
    settings = _settings(data, "demo")
    settings.ensure_dirs()
    mode_file(settings).write_text(text, encoding="utf-8")
    with pytest.raises(DataModeError) as err:
        check_data_mode(settings)
    msg = str(err.value)
    assert str(mode_file(settings)) in msg and '"mode": one of demo, live' in msg and "remove it" in msg, msg


def test_the_airflow_start_task_refuses_the_other_mode_and_records_no_run(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _live_directory(data)
    monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(data))
    monkeypatch.setenv("OBSERVATOIRE_MODE", "demo")
    before, runs = tree_state(data), _runs(data)
    with pytest.raises(DataModeError, match="holds live data"):
        tasks.start({}, external_id="manual__x")
    assert tree_state(data) == before and _runs(data) == runs
    monkeypatch.setenv("OBSERVATOIRE_MODE", "live")
    run_id = tasks.start({}, external_id="manual__y")
    assert History(data / "meta" / "history.sqlite").get_run(run_id)["mode"] == "live"
    # a fresh directory: the nightly run's start records the mode with its run id
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(fresh))
    run_id = tasks.start({}, external_id="scheduled__z")
    assert json.loads((fresh / "meta" / "mode.json").read_text(encoding="utf-8"))["run_id"] == run_id


# -- through the CLI -------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_demo_run_recorded_its_mode_and_published_it(published_demo):
    recorded = json.loads((published_demo / "meta" / "mode.json").read_text(encoding="utf-8"))
    assert recorded["mode"] == "demo"
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        assert con.execute("select mode, donnees_synthetiques from meta.publication").fetchall() == [("demo", True)]
    finally:
        con.close()


@pytest.mark.slow
def test_a_live_run_on_a_demo_directory_exits_2_and_changes_nothing(demo_copy):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before, runs, pub_sha = tree_state(demo_copy), _runs(demo_copy), sha256_of(pub)
    proc = run_cli("run", env={"OBSERVATOIRE_MODE": "live"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for text in (f"the data directory {demo_copy} holds demo data", "mode.json", "OBSERVATOIRE_DATA_DIR=./data ",
                 "./data-demo", "no run was started"):
        assert text in proc.stderr, (text, proc.stderr)
    assert tree_state(demo_copy) == before and _runs(demo_copy) == runs and sha256_of(pub) == pub_sha
    # a directory from before meta/mode.json: judged demo by its history, refused the same way
    (demo_copy / "meta" / "mode.json").unlink()
    before = tree_state(demo_copy)
    proc = run_cli("run", env={"OBSERVATOIRE_MODE": "live"})
    assert proc.returncode == 2 and "demo run(s)" in proc.stderr and "from the recordings" in proc.stderr, proc.stderr
    assert tree_state(demo_copy) == before and _runs(demo_copy) == runs and sha256_of(pub) == pub_sha


def test_a_demo_run_on_a_live_directory_exits_2_and_changes_nothing(tmp_path):
    data = tmp_path / "data"
    _live_directory(data)
    before, runs = tree_state(data), _runs(data)
    proc = run_cli("run", env={"OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_MODE": "demo"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for text in (f"the data directory {data} holds live data", "OBSERVATOIRE_DATA_DIR=./data-demo",
                 "OBSERVATOIRE_MODE=live"):
        assert text in proc.stderr, (text, proc.stderr)
    assert tree_state(data) == before and _runs(data) == runs
    assert not list((data / "raw").iterdir())


@pytest.mark.slow
def test_an_override_in_demo_mode_keeps_the_run_and_the_directory_demo(demo_copy, tmp_path):
    lines = (RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv").read_text(encoding="utf-8").split("\n")
    fields = lines[1].split(";")
    fields[8] = str(int(fields[8]) + 7)  # a real-looking new version of one file
    lines[1] = ";".join(fields)
    real = tmp_path / "pop_QPV24.csv"
    real.write_text("\n".join(lines), encoding="utf-8")
    recorded = (demo_copy / "meta" / "mode.json").read_bytes()
    proc = run_cli("run", "--source", "insee_pop_qpv", env={"OBSERVATOIRE_URL_INSEE_POP_QPV": real.as_uri()})
    assert proc.returncode == 0 and "published" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    history = History(demo_copy / "meta" / "history.sqlite")
    last = history.last_runs(1)[0]
    assert last["mode"] == "demo" and last["status"] == "success"
    landing = history.find_landing("insee_pop_qpv", 2021, sha256_of(real))
    assert landing["url_origin"] == "override" and landing["status"] == "accepted"
    assert (demo_copy / "meta" / "mode.json").read_bytes() == recorded
    assert directory_mode(load_settings()).mode == "demo"
    con = duckdb.connect(str(demo_copy / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        assert con.execute("select run_id, mode from meta.publication").fetchall() == [(last["run_id"], "demo")]
    finally:
        con.close()
    # still a demo directory: a later demo run goes on, a live one is refused
    proc = run_cli("run", "--source", "insee_pop_qpv")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert history.last_runs(1)[0]["mode"] == "demo"
    assert run_cli("run", env={"OBSERVATOIRE_MODE": "live"}).returncode == 2


# -- annual editions -------------------------------------------------------------------------------------------------

def _notes(path: Path) -> str:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return "\n".join(str(c) for row in wb["notes"].iter_rows(values_only=True) for c in row if c is not None)
    finally:
        wb.close()


@pytest.mark.slow
def test_an_edition_of_a_demo_publication_needs_demo_and_says_so_everywhere(demo_copy):
    proc = run_cli("snapshot", "create", "--edition", "2025")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "holds demo data" in proc.stderr and "--demo" in proc.stderr and DEMO_NOTICE in proc.stderr, proc.stderr
    assert not (demo_copy / "snapshots").exists()
    proc = run_cli("snapshot", "create", "--edition", "2025", "--demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = demo_copy / "snapshots" / "2025"
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert DEMO_NOTICE in readme.splitlines()[0] and readme.count(DEMO_NOTICE) >= 2
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["donnees_demonstration"] is True and DEMO_NOTICE in manifest["avertissement"]
    assert manifest["publication"]["mode"] == "demo" and manifest["publication"]["donnees_synthetiques"] is True
    assert DEMO_NOTICE in _notes(root / "observatoire_2025.xlsx")
    con = duckdb.connect(str(root / "observatoire_2025.duckdb"), read_only=True)
    try:
        demo, notice = con.execute("select donnees_demonstration, avertissement from meta.snapshot").fetchone()
        assert demo is True and DEMO_NOTICE in notice
    finally:
        con.close()
    assert verify(load_settings(), "2025") == []
    # a correction of it is a demo edition too, and needs --demo as well
    proc = run_cli("snapshot", "create", "--edition", "2025", "--correction", "x")
    assert proc.returncode == 2 and "--demo" in proc.stderr, proc.stderr
    assert sorted(p.name for p in (demo_copy / "snapshots").iterdir()) == ["2025"]


@pytest.mark.slow
def test_recordings_under_a_live_publication_are_demo_data_and_demo_is_refused_on_live_data(demo_copy):
    """A publication made in live mode on a directory where the recordings were landed (before demo and live were
    kept apart) still holds synthetic values; a truly live publication takes no --demo and is not marked."""
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    con = duckdb.connect(str(pub))
    try:
        con.execute("UPDATE meta.publication SET mode = 'live', donnees_synthetiques = false")
    finally:
        con.close()
    proc = run_cli("snapshot", "create", "--edition", "2026")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "source files it was built from are the project's recordings" in proc.stderr, proc.stderr
    con = duckdb.connect(str(pub))
    try:
        con.execute("UPDATE meta.manifest SET url_origin = 'registry'")
    finally:
        con.close()
    proc = run_cli("snapshot", "create", "--edition", "2026", "--demo")
    assert proc.returncode == 2 and "holds live data" in proc.stderr and "without --demo" in proc.stderr, proc.stderr
    assert not (demo_copy / "snapshots").exists()
    proc = run_cli("snapshot", "create", "--edition", "2026")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = demo_copy / "snapshots" / "2026"
    assert DEMO_NOTICE not in (root / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["donnees_demonstration"] is False and manifest["avertissement"] is None
    assert DEMO_NOTICE not in _notes(root / "observatoire_2026.xlsx")


def test_demo_publication_reasons():
    assert demo_publication({"mode": "demo", "run_id": "r1"}, []) == "its meta.publication says mode demo (run r1)"
    assert demo_publication({"mode": "live", "donnees_synthetiques": True}, [])
    live = [{"source_id": "a", "millesime": 2021, "url_origin": "registry"},
            {"source_id": "b", "millesime": 2022, "url_origin": "override"}]
    assert demo_publication({"mode": "live"}, live) is None
    mixed = live + [{"source_id": "c", "millesime": 2023, "url_origin": "recording"}]
    assert "1 of the source files" in demo_publication({"mode": "live"}, mixed) and "c/2023" in \
        demo_publication({"mode": "live"}, mixed)
