"""An edition describes the publication it freezes, and only it: its run's validations and the raw gates that
accepted the files it was built from (in whichever run), never another run's failures, a quarantined, superseded
or purged file; and a correction stays on the edition's territory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import openpyxl
import pytest

from observatoire.config import DEFAULT_PERIMETRE, load_settings
from observatoire.history import History
from observatoire.snapshot import SnapshotError, create, verify
from tests.conftest import RECORDINGS, ROOT, VENV_BIN, sha256_of

pytestmark = pytest.mark.slow

POP_2021 = RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv"
TPM = "epci:248300543"  # Toulon Provence Méditerranée, in the demo's recordings


def _cli(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATOIRE_")}
    full.update(OBSERVATOIRE_DATA_DIR=str(data), OBSERVATOIRE_MODE="demo", OBSERVATOIRE_LOCK_TIMEOUT="30", **env)
    return subprocess.run([str(VENV_BIN / "observatoire"), *args], env=full, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)


def _pop_file(path: Path, code: str, population: str | None = None, part: str | None = None) -> Path:
    """The 2021 recording with one QPV's popMuniQPV and/or partPop15_24 replaced."""
    lines = POP_2021.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        fields = line.rstrip("\n").split(";")
        if fields[0] == code:
            fields[8] = population or fields[8]
            fields[9] = part or fields[9]
            lines[i] = ";".join(fields) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """A fresh data directory (one version kept per source and millésime) after three runs: the first lands
    every source but fails at insee_pop_qpv 2021's raw gate (a share of 140 %); the second publishes with
    the good file, reusing every other file the first accepted; the third publishes a revised insee_pop_qpv
    2021 file. Then edition 2025. Never modified (copy it)."""
    root = tmp_path_factory.mktemp("scope")
    data = root / "data"
    bad = _pop_file(root / "bad_rate.csv", "QN01308I", part="140")
    revised = _pop_file(root / "revised.csv", "QN01302M", population="7850")
    runs = []
    for url in (bad, None, revised):
        env = {"OBSERVATOIRE_RETENTION": "1"}
        if url:
            env["OBSERVATOIRE_URL_INSEE_POP_QPV"] = url.as_uri()
        proc = _cli(data, "run", **env)
        runs.append(proc)
    assert runs[0].returncode == 1 and "raw gate" in runs[0].stderr + runs[0].stdout, runs[0].stderr[-3000:]
    for proc in runs[1:]:
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    history = History(data / "meta" / "history.sqlite")
    ids = [r["run_id"] for r in reversed(history.last_runs(10))]
    assert [history.get_run(i)["status"] for i in ids] == ["failed", "success", "success"]
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    snap = create(settings, 2025)
    return {"data": data, "settings": settings, "snap": snap, "runs": ids, "history": history,
            "sha": {"bad": sha256_of(bad), "original": sha256_of(POP_2021), "revised": sha256_of(revised)}}


def test_manifest_validations_are_the_publications_own(three_runs):
    first, _second, third = three_runs["runs"]
    m = three_runs["snap"].manifest
    assert m["run_id"] == third
    # the published warehouse's history does hold the first run's failed gate (what the edition must leave out)
    con = duckdb.connect(str(three_runs["settings"].published_db), read_only=True)
    try:
        failed = con.execute("select run_id, suite from meta.validations where success = 0").fetchall()
    finally:
        con.close()
    assert (first, "raw_insee_pop_qpv_2021") in failed
    assert m["validations_reussies"] is True
    assert m["validations"] and all(v["success"] for v in m["validations"]), [
        v for v in m["validations"] if not v["success"]]
    # one entry per suite, each saying which run evaluated it
    suites = [v["suite"] for v in m["validations"]]
    assert len(suites) == len(set(suites)), sorted(suites)
    assert all(v["run_id"] in (first, third) for v in m["validations"])
    # the mart gate: exactly the suites of the run that published
    own = three_runs["history"].validations(third)
    marts = {v["suite"] for v in m["validations"] if not v["suite"].startswith("raw_")}
    assert marts == {v["suite"] for v in own if not v["suite"].startswith("raw_")} and len(marts) >= 10
    assert {v["run_id"] for v in m["validations"] if v["suite"] in marts} == {third}
    # the raw gate: for each source file in use, the validation that accepted it, with its run and file
    raw = {v["suite"]: v for v in m["validations"] if v["suite"].startswith("raw_")}
    assert set(raw) == {f"raw_{s['source_id']}_{s['millesime']}" for s in m["sources"]}
    for s in m["sources"]:
        assert raw[f"raw_{s['source_id']}_{s['millesime']}"]["sha256"] == s["sha256"], s
    # the revised file was accepted by the publishing run; the others by the first run (a failed run, but their
    # gate passed there and they were reused unchanged since)
    assert raw["raw_insee_pop_qpv_2021"]["run_id"] == third
    assert raw["raw_insee_pop_qpv_2021"]["sha256"] == three_runs["sha"]["revised"]
    assert {v["run_id"] for k, v in raw.items() if k != "raw_insee_pop_qpv_2021"} == {first}


def test_manifest_sources_are_the_files_the_publication_was_built_from(three_runs):
    m, sha = three_runs["snap"].manifest, three_runs["sha"]
    con = duckdb.connect(str(three_runs["settings"].published_db), read_only=True)
    try:
        status = dict(con.execute("select sha256, status from meta.manifest where source_id = 'insee_pop_qpv' "
                                  "and millesime = 2021").fetchall())
    finally:
        con.close()
    # as the publication recorded them: the bad file purged, the first good one superseded, the revised one in use
    assert status == {sha["bad"]: "purged", sha["original"]: "accepted", sha["revised"]: "accepted"}
    keys = [(s["source_id"], s["millesime"]) for s in m["sources"]]
    assert len(keys) == len(set(keys)), sorted(keys)
    used = {(r["source_id"], r["millesime"], r["sha256"]) for r in three_runs["history"].current_landings()}
    assert {(s["source_id"], s["millesime"], s["sha256"]) for s in m["sources"]} == used
    shas = {s["sha256"] for s in m["sources"]}
    assert sha["revised"] in shas and sha["bad"] not in shas and sha["original"] not in shas
    for s in m["sources"]:
        assert s["url"] and s["licence"] and len(s["sha256"]) == 64, s


def test_snapshot_meta_schema_readme_and_notes_describe_the_same_scope(three_runs):
    first, _second, third = three_runs["runs"]
    snap = three_runs["snap"]
    m = snap.manifest
    assert verify(three_runs["settings"], "2025") == []
    con = duckdb.connect(str(snap.path / "observatoire_2025.duckdb"), read_only=True)
    try:
        assert con.execute("select run_id from meta.publication").fetchone()[0] == third
        validations = con.execute("select run_id, suite, success from meta.validations").fetchall()
        assert sorted((r, s) for r, s, _ in validations) == sorted((v["run_id"], v["suite"]) for v in m["validations"])
        assert all(ok for _, _, ok in validations)
        manifest = con.execute("select source_id, millesime, sha256, status from meta.manifest").fetchall()
        assert sorted(r[:3] for r in manifest) == sorted((s["source_id"], s["millesime"], s["sha256"])
                                                         for s in m["sources"])
        assert {r[3] for r in manifest} == {"accepted"}
        assert {r[0] for r in con.execute("select run_id from meta.runs").fetchall()} == {first, third}
    finally:
        con.close()
    readme = (snap.path / "README.md").read_text(encoding="utf-8")
    assert readme.count("| insee_pop_qpv | 2021 |") == 1
    wb = openpyxl.load_workbook(snap.path / "observatoire_2025.xlsx", read_only=True)
    try:
        notes = {row[0]: row[1:] for row in wb["notes"].iter_rows(values_only=True) if row and row[0]}
        assert str(notes["Validations"][0]).startswith("toutes réussies")
        listed = [row for row in wb["notes"].iter_rows(values_only=True) if row and row[0] == "insee_pop_qpv"]
        assert [(r[2], r[5]) for r in listed if r[2] == 2021] == [(2021, three_runs["sha"]["revised"])]
    finally:
        wb.close()


def test_a_correction_for_another_perimeter_is_refused(three_runs, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(three_runs["data"], data, symlinks=True)
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    # same territory: a correction is written (and the edition's perimeter is the one of its versions)
    assert create(settings, 2025, "même territoire").version == "2025.1"
    proc = _cli(data, "run", OBSERVATOIRE_PERIMETRE=TPM)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    before = sorted(p.name for p in (data / "snapshots").iterdir())
    proc = _cli(data, "snapshot", "create", "--edition", "2025", "--correction", "x", "--demo")  # demo data
    assert proc.returncode == 1, proc.stdout + proc.stderr
    message = proc.stderr
    assert "SNAPSHOT ERROR" in message and "edition 2025" in message, message
    assert DEFAULT_PERIMETRE in message and TPM in message, message
    assert sorted(p.name for p in (data / "snapshots").iterdir()) == before == ["2025", "2025.1"]
    with pytest.raises(SnapshotError, match="same territory"):
        create(settings, 2025, "x")
    assert sorted(p.name for p in (data / "snapshots").iterdir()) == ["2025", "2025.1"]
    assert json.loads((data / "snapshots" / "2025.1" / "manifest.json").read_text())["publication"]["perimetre"] \
        == DEFAULT_PERIMETRE
    # a new edition is not a correction: it describes the territory published
    assert create(settings, 2026).manifest["publication"]["perimetre"] == TPM
