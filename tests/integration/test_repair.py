"""A lost run history (issue 18, « state that heals or says so »): ``meta/history.sqlite`` deleted, emptied or
unreadable while the landed files and the partner files are on disk. ``status`` says it and names
``observatoire repair``; ``run`` refuses (exit 2, nothing published); ``repair`` rebuilds the history from the
published copy and the disk; the next run publishes again, the partner values with it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from observatoire.history import History
from observatoire.repair import LANDED_NAME, UNKNOWN_URL, HistoryLostError
from tests.conftest import ROOT, VENV_BIN, run_cli, sha256_of
from tests.unit.test_partenaires import PARTNER, PERIMETER, csv_bytes, csv_rows

pytestmark = pytest.mark.slow

PARTNER_FILE = "expulsions_2025.csv"


def _env(data: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATOIRE_")}
    env.update(OBSERVATOIRE_DATA_DIR=str(data), OBSERVATOIRE_MODE="demo")
    return env


@pytest.fixture(scope="module")
def with_partner(published_demo, tmp_path_factory) -> Path:
    """The published demo with a partner file imported (taux_expulsion 2025, 2.5 for every QPV of the perimeter)
    and a run that published it."""
    data = tmp_path_factory.mktemp("repair") / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    partner = data.parent / PARTNER_FILE
    partner.write_bytes(csv_bytes(csv_rows("taux_expulsion")))
    for args in (["partenaires", "importer", str(partner)], ["run"]):
        proc = subprocess.run([str(VENV_BIN / "observatoire"), *args], env=_env(data), capture_output=True,
                              text=True, timeout=900, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "published" in proc.stdout
    return data


@pytest.fixture
def partner_copy(with_partner, tmp_path, monkeypatch) -> Path:
    data = tmp_path / "data"
    shutil.copytree(with_partner, data, symlinks=True)
    monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(data))
    monkeypatch.setenv("OBSERVATOIRE_MODE", "demo")
    return data


def _lose(data: Path, how: str) -> None:
    db = data / "meta" / "history.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    if how == "emptied":  # replaced by a fresh database: every table, no row
        History(db)
    elif how == "zero-bytes":
        db.write_bytes(b"")


def _partner_values(data: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "select code_qpv, valeur, statut, source from fct_indicateur_qpv "
            "where indicateur = 'taux_expulsion' and millesime = 2025").fetchall()}
    finally:
        con.close()


def _published_partner_rows(data: Path) -> list[tuple]:
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        return con.execute("select indicateur, millesime, partenaire, nom_fichier, status "
                           "from meta.partenaires_fichiers").fetchall()
    finally:
        con.close()


def _refused(data: Path, *, readable: bool = True) -> None:
    """``run`` on the lost history: exit 2 naming the command, nothing recorded, the published file untouched."""
    pub = data / "warehouse" / "observatoire.duckdb"
    before = (sha256_of(pub), (data / "meta" / "published.json").read_bytes())
    proc = run_cli("run")
    assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
    assert "RUN HISTORY LOST" in proc.stderr and "`observatoire repair`" in proc.stderr
    assert (sha256_of(pub), (data / "meta" / "published.json").read_bytes()) == before
    if readable:
        assert History(data / "meta" / "history.sqlite").last_runs() == []  # no run recorded


def _published_with_partner_values(data: Path) -> None:
    proc = run_cli("run")
    assert proc.returncode == 0 and "published" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    values = _partner_values(data)
    assert len(values) == len(PERIMETER) == 66
    assert {v[:3] for v in values.values()} == {(2.5, "disponible", f"partenaires:{PARTNER}")}


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_history_is_said_refused_and_rebuilt_then_the_partner_values_are_published(how, partner_copy):
    data = partner_copy
    assert {v[1] for v in _partner_values(data).values()} == {"disponible"}  # published before the loss
    mode = (data / "meta" / "mode.json").read_bytes()
    columns = "source_id, millesime, sha256, url, url_origin, status, validation, fetched_at, last_seen_at"
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        copied = set(con.execute(f"select {columns} from meta.manifest").fetchall())
    finally:
        con.close()
    _lose(data, how)
    status = run_cli("status")
    assert status.returncode == 0, status.stderr
    assert "RUN HISTORY LOST" in status.stdout and "`observatoire repair`" in status.stdout
    assert "1 partner file(s) under partenaires/" in status.stdout
    assert "landed source file(s) under raw/" in status.stdout
    as_json = json.loads(run_cli("status", "--json").stdout)  # still JSON for a monitoring script
    assert as_json["history_lost"] in ("missing", "empty") and as_json["command"] == "observatoire repair"
    _refused(data)
    _refused(data)  # refused again: the first refusal recorded nothing

    proc = run_cli("repair")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    out = proc.stdout
    assert "run history rebuilt" in out and "from the published copy" in out and "LEFT OUT" not in out
    assert f"taux_expulsion 2025: current — « {PARTNER_FILE} » from {PARTNER}, 66 QPV" in out
    assert "the HTTP validators (the next fetch of each source is a full download)" in out
    assert (data / "meta" / "mode.json").read_bytes() == mode  # the directory's mode stays as it was
    history = History(data / "meta" / "history.sqlite")
    runs = history.last_runs()
    assert [(r["trigger"], r["status"], r["mode"]) for r in runs] == [("repair", "repaired", "demo")]
    assert {s["step"] for s in history.steps(runs[0]["run_id"])} == {"repair"}
    # the rows as the published copy had them: real (redacted) URLs, origins, statuses, validations, dates
    assert len(copied) >= 28
    assert {tuple(r.values()) for r in history.query(f"select {columns} from manifest")} == copied
    assert all(json.loads(r["validation"])["success"] for r in history.current_landings())
    partner = history.current_partner_file("taux_expulsion", 2025)
    assert partner["nom_fichier"] == PARTNER_FILE and partner["partenaire"] == PARTNER
    status = run_cli("status")
    assert "RUN HISTORY LOST" not in status.stdout and "repaired" in status.stdout, status.stdout

    _published_with_partner_values(data)
    assert _published_partner_rows(data) == [("taux_expulsion", 2025, PARTNER, PARTNER_FILE, "current")]


def test_without_a_published_copy_every_file_is_rebuilt_from_the_disk_and_validated_again(partner_copy):
    data = partner_copy
    _lose(data, "deleted")
    for name in ("warehouse/observatoire.duckdb", "meta/published.json", "meta/mode.json"):
        (data / name).unlink()
    # a second, newer file of one source and millésime (landed after the last publication): it is the one loaded
    old = next((data / "raw" / "insee_pop_qpv" / "2021").glob("*.csv"))
    lines = old.read_text(encoding="utf-8").splitlines()
    fields = lines[1].split(";")
    fields[8] = str(int(fields[8]) + 7)
    lines[1] = ";".join(fields)
    newer = "\n".join(lines) + "\n"
    sha = hashlib.sha256(newer.encode()).hexdigest()
    (old.parent / f"{sha}.csv").write_text(newer, encoding="utf-8")
    os.utime(old, (old.stat().st_mtime - 3600,) * 2)

    proc = run_cli("repair")  # which mode? nothing on disk says it
    assert proc.returncode == 2 and "--mode demo" in proc.stderr and "--mode live" in proc.stderr, proc.stderr
    assert not (data / "meta" / "history.sqlite").exists() and not (data / "meta" / "mode.json").exists()
    proc = run_cli("repair", "--mode", "live")  # not the mode of this environment
    assert proc.returncode == 2 and "OBSERVATOIRE_MODE=demo" in proc.stderr, proc.stderr
    assert not (data / "meta" / "mode.json").exists()
    proc = run_cli("repair", "--mode", "demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "0 from the published copy" in proc.stdout and "LEFT OUT" not in proc.stdout, proc.stdout
    assert json.loads((data / "meta" / "mode.json").read_text(encoding="utf-8"))["mode"] == "demo"
    history = History(data / "meta" / "history.sqlite")
    run_id = history.last_runs()[0]["run_id"]
    rows = history.query("select * from manifest")
    landed = [p for p in (data / "raw").glob("*/*/*") if LANDED_NAME.match(p.name)]
    assert len(rows) == len(landed) >= 28
    assert {(r["url"], r["url_origin"], r["status"]) for r in rows} == {(UNKNOWN_URL, "repair", "accepted")}
    # validated again: the raw gate's results are recorded for the repair run
    suites = {v["suite"] for v in history.validations(run_id)}
    assert "raw_insee_pop_qpv_2021" in suites and "raw_anct_qpv_contours_2024" in suites
    assert history.current_landing("insee_pop_qpv", 2021)["sha256"] == sha
    partner = history.current_partner_file("taux_expulsion", 2025)
    assert partner["partenaire"] == PARTNER and partner["rows"] == 66 and "name unknown" in partner["nom_fichier"]

    _published_with_partner_values(data)


def test_an_altered_landed_file_is_left_out_with_its_hashes_and_fetched_again(demo_copy):
    data = demo_copy
    _lose(data, "zero-bytes")
    assert "RUN HISTORY LOST" in run_cli("status").stdout
    altered = next((data / "raw" / "insee_pop_qpv" / "2021").glob("*.csv"))
    expected = altered.name.split(".")[0]
    altered.chmod(0o644)
    altered.write_bytes(altered.read_bytes() + b"\n")
    found = sha256_of(altered)
    proc = run_cli("repair")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    rel = str(altered.relative_to(data))
    assert "LEFT OUT (1):" in proc.stdout
    assert f"{rel}: altered on disk: named by sha256 {expected}, its bytes hash to {found}" in proc.stdout
    history = History(data / "meta" / "history.sqlite")
    assert history.find_landing("insee_pop_qpv", 2021, expected) is None
    steps = history.steps(history.last_runs()[0]["run_id"])
    assert any(s["target"] == rel and s["status"] == "left_out" and found in s["message"] for s in steps)
    proc = run_cli("run")  # the millésime left out is fetched again: the altered copy is replaced
    assert proc.returncode == 0 and "published" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert sha256_of(altered) == expected
    assert history.current_landing("insee_pop_qpv", 2021)["sha256"] == expected


def test_an_unreadable_history_is_said_and_set_aside_by_repair(demo_copy):
    db = demo_copy / "meta" / "history.sqlite"
    db.write_bytes(b"this is not a SQLite database, whatever it was" * 100)
    status = run_cli("status")
    assert status.returncode == 0 and "is not a readable SQLite database" in status.stdout, status.stdout
    assert "`observatoire repair`" in status.stdout
    _refused(demo_copy, readable=False)
    proc = run_cli("repair")
    assert proc.returncode == 0 and "unreadable history moved aside" in proc.stdout, proc.stdout + proc.stderr
    aside = list(db.parent.glob("history.sqlite.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a SQLite database")
    assert History(db).current_landings()


def test_repair_on_a_usable_history_changes_nothing(demo_copy):
    db = demo_copy / "meta" / "history.sqlite"
    before = sha256_of(db)
    proc = run_cli("repair")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nothing to repair: the run history" in proc.stdout and "it was left as it is" in proc.stdout
    assert sha256_of(db) == before
    assert "RUN HISTORY LOST" not in run_cli("status").stdout


def test_a_first_run_killed_after_landing_is_not_a_lost_history(tmp_path, monkeypatch):
    """A run recorded in the history (a first run killed while parsing its first file leaves a landed file and no
    manifest row) is not a lost history: only a history with no run and files it does not know is."""
    from observatoire.config import load_settings
    from observatoire.repair import check_history, lost_history

    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(tmp_path / "d"), "OBSERVATOIRE_MODE": "demo"})
    folder = settings.raw_dir / "insee_pop_qpv" / "2021"
    folder.mkdir(parents=True)
    (folder / f"{'0' * 64}.csv").write_text("x")
    (folder / f"{'0' * 64}.parsed-abc.parquet").write_text("x")  # a parse cache is not a landed file
    assert lost_history(settings).state == "missing" and lost_history(settings).landed == 1
    history = History(settings.history_db)
    assert lost_history(settings).state == "empty"
    with pytest.raises(HistoryLostError, match="observatoire repair"):
        check_history(settings)
    history.start_run(mode="demo", perimetre=settings.perimetre, trigger="cli", params={})
    assert lost_history(settings) is None
    check_history(settings)


def test_a_repair_that_stopped_before_the_end_leaves_the_history_lost(tmp_path):
    from observatoire.config import load_settings
    from observatoire.repair import lost_history

    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(tmp_path / "d"), "OBSERVATOIRE_MODE": "demo"})
    folder = settings.raw_dir / "insee_pop_qpv" / "2021"
    folder.mkdir(parents=True)
    (folder / f"{'0' * 64}.csv").write_text("x")
    history = History(settings.history_db)
    stopped = history.start_run(mode="demo", perimetre=settings.perimetre, trigger="repair", params={})
    history.restore_landing({"source_id": "insee_pop_qpv", "millesime": 2021, "sha256": "0" * 64, "url": UNKNOWN_URL,
                             "url_origin": "repair", "bytes": 1, "fetched_at": "2024-01-01T00:00:00+00:00",
                             "last_seen_at": "2024-01-01T00:00:00+00:00", "status": "landed",
                             "raw_path": f"raw/insee_pop_qpv/2021/{'0' * 64}.csv"})
    history.finish_run(stopped, "failed", error="killed")
    lost = lost_history(settings)
    assert lost.state == "unfinished" and "stopped before the end" in lost.message
    done = history.start_run(mode="demo", perimetre=settings.perimetre, trigger="repair", params={})
    history.finish_run(done, "repaired")
    assert lost_history(settings) is None


def test_a_rebuilt_landing_takes_the_url_it_is_fetched_from_again(tmp_path):
    history = History(tmp_path / "meta" / "history.sqlite")
    row = {"source_id": "s", "millesime": 2024, "sha256": "a" * 64, "url": UNKNOWN_URL, "url_origin": "repair",
           "bytes": 1, "fetched_at": "2024-01-01T00:00:00+00:00", "last_seen_at": "2024-01-01T00:00:00+00:00",
           "raw_path": "raw/s/2024/x.csv", "status": "accepted"}
    assert history.restore_landing(row) and not history.restore_landing(row)
    url = "https://user:secret@example.org/data.csv?apikey=k"
    assert history.adopt_url("s", 2024, "a" * 64, url, "registry")
    got = history.find_landing("s", 2024, "a" * 64)
    assert "secret" not in got["url"] and got["url_origin"] == "registry" and got["url_key"]
    assert not history.adopt_url("s", 2024, "a" * 64, "https://other.example/x.csv", "registry")  # only once
    assert history.find_landing("s", 2024, "a" * 64)["url"] == got["url"]
