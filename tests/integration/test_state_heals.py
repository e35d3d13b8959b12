"""State that heals or says so (issue 18): a damaged published file is reported and rebuilt, an analyst's
read-write connection stops a run clearly (recorded), the machine's faults (disk full, read-only) end with one
line and a recorded failed run, partial downloads of a killed run are cleaned."""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from observatoire.config import load_settings
from observatoire.errors import PipelineError
from observatoire.run import run
from observatoire.status import render_status
from observatoire.warehouse import published_state
from tests.conftest import national_pop_file, run_cli, sha256_of

pytestmark = pytest.mark.slow


def _last_run(data: Path) -> dict:
    con = sqlite3.connect(data / "meta" / "history.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return dict(con.execute("select * from runs order by started_at desc, rowid desc limit 1").fetchone())
    finally:
        con.close()


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_published_file_is_reported_and_the_next_run_rebuilds_it(damage, demo_copy):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    good = sha256_of(pub)
    data = pub.read_bytes()
    if damage == "truncated":
        pub.write_bytes(data[: len(data) // 3])
    else:  # same size, some bytes changed: only the recorded sha256 sees it
        pub.write_bytes(data[:4096] + bytes(len(data) - 8192) + data[-4096:])
    state, why = published_state(load_settings())
    assert state == "damaged", why
    status = render_status(load_settings())
    assert "DAMAGED (endommagé)" in status and "the next `observatoire run` rebuilds" in status
    result = run(load_settings())  # inputs unchanged: still rebuilt and published, never "unchanged"
    assert result.status == "published"
    assert published_state(load_settings())[0] == "ok"
    con = duckdb.connect(str(pub), read_only=True)
    try:
        assert con.execute("select count(*) from fct_indicateur_qpv").fetchone()[0] > 0
    finally:
        con.close()
    assert sha256_of(pub) != good or damage == "overwritten"
    assert "DAMAGED" not in render_status(load_settings())


HOLDER = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])  # read-write: DuckDB takes the file's lock
print("holding", flush=True)
time.sleep(120)
"""


def test_an_analyst_read_write_connection_stops_the_run_clearly_and_is_recorded(demo_copy):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(pub)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert published_state(load_settings())[0] == "locked"
        proc = run_cli("run")
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"process {holder.pid} holds DuckDB's lock on {pub}" in proc.stderr
        assert "read_only=True" in proc.stderr
        assert "LOCKED" in render_status(load_settings())
        snap = run_cli("snapshot", "create", "--edition", "2025", "--demo")
        assert snap.returncode == 1 and "Traceback" not in snap.stderr, snap.stderr
        assert "holds DuckDB's lock" in snap.stderr
        assert not (demo_copy / "snapshots" / "2025").exists()
    finally:
        holder.kill()
        holder.wait()
    last = _last_run(demo_copy)
    assert last["status"] == "failed" and "holds DuckDB's lock" in last["error"]
    assert sha256_of(pub) == before


@pytest.mark.parametrize("code,expected", [(errno.ENOSPC, "no space left on the device"),
                                           (errno.EROFS, "read-only file system"),
                                           (errno.EACCES, "permission denied")])
def test_a_full_or_read_only_disk_ends_with_one_line_and_a_recorded_failed_run(code, expected, demo_copy,
                                                                               monkeypatch):
    from observatoire.run import building

    def load(ctx, run_id):
        raise OSError(code, "simulated", str(ctx.settings.warehouse_dir / "build.duckdb"))

    monkeypatch.setattr(building, "load", load)
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    with pytest.raises(PipelineError) as err:
        run(load_settings(), force=True)
    assert err.value.stage == "environment"
    message = str(err.value)
    assert expected in message and "build.duckdb" in message and "\n" not in message
    last = _last_run(demo_copy)
    assert last["status"] == "failed" and expected in last["error"]
    assert sha256_of(pub) == before


def test_partial_downloads_of_a_killed_run_are_cleaned(demo_copy):
    tmp = load_settings().tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    partial = tmp / "fetch-abc123.part"
    partial.write_bytes(b"x" * 1000)
    fresh = tmp / "fetch-def456.part"  # an Airflow extract task downloading right now, without the lock
    fresh.write_bytes(b"y" * 10)
    old = time.time() - 3 * 3600
    import os

    os.utime(partial, (old, old))
    run(load_settings())
    assert not partial.exists()
    assert fresh.exists()


def _population(pub: Path, code: str) -> float:
    con = duckdb.connect(str(pub), read_only=True)
    try:
        return con.execute("select valeur from fct_indicateur_qpv where indicateur = 'population' and millesime = "
                           "2021 and code_qpv = ?", [code]).fetchone()[0]
    finally:
        con.close()


def test_quarantine_sets_a_file_aside_and_the_previous_one_is_used_again(demo_copy, tmp_path):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    code = "QN01304I"
    real = _population(pub, code)
    # a file the raw gate accepts but the team wants set aside: INSEE's national file with a revised population
    revised = national_pop_file(tmp_path / "pop_QPV24.csv", {code: str(int(real) + 150)})
    env = {"OBSERVATOIRE_URL_INSEE_POP_QPV": revised.as_uri()}
    first = run_cli("run", "--source", "insee_pop_qpv", env=env)
    assert first.returncode == 0, first.stderr
    assert _population(pub, code) == real + 150
    usage = run_cli("quarantine", "insee_pop", "2021", "--reason", "x")
    assert usage.returncode == 2 and "insee_pop_qpv" in usage.stderr
    nothing = run_cli("quarantine", "insee_pop_qpv", "1999", "--reason", "x")
    assert nothing.returncode == 2 and "no accepted file" in nothing.stderr
    proc = run_cli("quarantine", "insee_pop_qpv", "2021", "--reason", "population révisée à confirmer")
    assert proc.returncode == 0, proc.stderr
    assert f"file {sha256_of(revised)[:12]}" in proc.stdout and "in use from the next run" in proc.stdout
    assert run_cli("run").returncode == 0
    assert _population(pub, code) == real  # the previous accepted file, published again
    # the same file fetched again stays aside; --force validates it again
    again = run_cli("run", "--source", "insee_pop_qpv", env=env)
    assert again.returncode == 0 and "set_aside" in again.stderr
    assert _population(pub, code) == real
    forced = run_cli("run", "--source", "insee_pop_qpv", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert _population(pub, code) == real + 150
