"""Gates that remember, through the whole run (issue 18): a plausible-looking fault against the last accepted
load never reaches the published file; a deliberate break is accepted with --accept-break and flagged
rupture_serie in the marts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from observatoire.config import load_settings
from observatoire.errors import PipelineError
from observatoire.run import run
from tests.conftest import RECORDINGS, run_cli, sha256_of

pytestmark = pytest.mark.slow

POP_2021 = RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv"
PART, POP = 9, 8


def _rewritten(tmp_path: Path, change) -> Path:
    lines = POP_2021.read_text(encoding="utf-8").splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split(";")
        change(fields)
        out.append(";".join(fields))
    path = tmp_path / "pop_QPV24.csv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _as_fraction(fields):
    if fields[PART]:
        fields[PART] = f"{float(fields[PART].replace(',', '.')) / 100:.4f}".replace(".", ",")


def _secret_marker(fields):
    fields[PART] = "nd"  # the publisher now writes every share as withheld: the indicator would turn NULL


def _times_three(fields):
    fields[POP] = str(int(fields[POP]) * 3)


def _thousands_dot(fields):
    pop = int(fields[POP])
    fields[POP] = f"{pop // 1000}.{pop % 1000:03d}" if pop >= 1000 else str(pop)


FAULTS = {
    "rate sent as a fraction": (_as_fraction, ["part_15_24_ans", "QPV by QPV", "before", "after", "QN013"]),
    "secret marker changed": (_secret_marker, ["part_15_24_ans", "secret/NULL", "after 100.0%"]),
    "count times three": (_times_three, ["population", "QPV by QPV", "changed by more than ×2"]),
    "thousands dot read as a decimal": (_thousands_dot, ["population", "whole numbers", "code_qpv="]),
}


def _status(data: Path, sha: str) -> str:
    con = sqlite3.connect(data / "meta" / "history.sqlite")
    try:
        return con.execute("select status from manifest where sha256 = ?", (sha,)).fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_plausible_fault_against_the_last_load_never_publishes(fault, demo_copy, tmp_path, monkeypatch):
    change, expected = FAULTS[fault]
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    values = _values(pub)
    bad = _rewritten(tmp_path, change)
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", bad.as_uri())
    with pytest.raises(PipelineError) as err:
        run(load_settings(), sources=["insee_pop_qpv"])
    message = str(err.value)
    assert err.value.stage == "raw_gate", message
    assert "insee_pop_qpv" in message
    for text in expected:
        assert text in message, (text, message)
    assert sha256_of(pub) == before  # the wrong value never reaches the published file
    assert _status(demo_copy, sha256_of(bad)) == "quarantined"
    # nothing already loaded is lost: the next run goes on from the accepted file, same values
    monkeypatch.delenv("OBSERVATOIRE_URL_INSEE_POP_QPV")
    assert run(load_settings(), sources=["insee_pop_qpv"]).status in ("unchanged", "published")
    assert _values(pub) == values


def _values(pub: Path) -> list[tuple]:
    con = duckdb.connect(str(pub), read_only=True)
    try:
        return con.execute("select code_qpv, indicateur, millesime, valeur, statut from fct_indicateur_qpv where "
                           "indicateur in ('population', 'part_15_24_ans') order by 1, 2, 3").fetchall()
    finally:
        con.close()


def test_a_deliberate_break_is_accepted_recorded_and_flagged(demo_copy, tmp_path):
    bad = _rewritten(tmp_path, _as_fraction)
    env = {"OBSERVATOIRE_URL_INSEE_POP_QPV": bad.as_uri()}
    usage = run_cli("run", "--source", "insee_pop_qpv", "--accept-break", "insee_pop_qpv", env=env)
    assert usage.returncode == 2 and "--reason" in usage.stderr
    unknown = run_cli("run", "--accept-break", "insee_pop", "--reason", "x", env=env)
    assert unknown.returncode == 2 and "insee_pop_qpv" in unknown.stderr  # the closest match
    proc = run_cli("run", "--source", "insee_pop_qpv", "--accept-break", "insee_pop_qpv", "--reason",
                   "L'Insee publie désormais la part en fraction", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "break accepted: L'Insee publie désormais la part en fraction" in proc.stderr
    con = duckdb.connect(str(demo_copy / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        flagged = con.execute("select distinct indicateur, millesime, note_rupture from fct_indicateur_qpv "
                              "where rupture_serie and indicateur in ('part_15_24_ans', 'population') "
                              "order by 1, 2").fetchall()
    finally:
        con.close()
    assert ("part_15_24_ans", 2021) in {(i, m) for i, m, _ in flagged}
    assert all("Rupture de série acceptée pour la source insee_pop_qpv" in note for _, _, note in flagged)
    assert all(m >= 2021 for _, m, _ in flagged)
    con = sqlite3.connect(demo_copy / "meta" / "history.sqlite")
    try:
        step = con.execute("select message from steps where step = 'accept_break' "
                           "and target like 'insee_pop_qpv/%'").fetchone()
    finally:
        con.close()
    assert step and "fraction" in step[0]


def test_the_orchestrator_path_accepts_a_break_from_the_run_params(demo_copy, tmp_path, monkeypatch):
    """The nightly DAG's tasks (observatoire/tasks.py) with params {"accept_breaks": {source: reason}}: the
    same comparison, the break accepted and recorded; an unknown source is refused before any run is recorded."""
    from observatoire import tasks
    from observatoire.errors import RunRequestError

    with pytest.raises(RunRequestError, match="insee_pop_qpv"):
        tasks.start({"accept_breaks": {"insee_pop": "x"}})
    bad = _rewritten(tmp_path, _as_fraction)
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", bad.as_uri())
    run_id = tasks.start({"sources": ["insee_pop_qpv"], "accept_breaks": {"insee_pop_qpv": "nouvelle méthode"}})
    item = next(it for it in tasks.plan(run_id) if it["source_id"] == "insee_pop_qpv")
    out = tasks.validate(tasks.extract(item))
    assert out["validation"]["success"] and out["validation"]["warnings"] >= 1
    refused_id = tasks.start({"sources": ["insee_pop_qpv"]})
    (tmp_path / "x").mkdir()
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", _rewritten(tmp_path / "x", _times_three).as_uri())
    item = next(it for it in tasks.plan(refused_id) if it["source_id"] == "insee_pop_qpv")
    with pytest.raises(PipelineError, match="compare_with_last_accepted_load"):
        tasks.validate(tasks.extract(item))
