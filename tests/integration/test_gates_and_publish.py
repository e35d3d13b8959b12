"""Write-audit-publish: every broken input fails the right gate with a clear message, the published file is
never touched by a failed run, readers are never disturbed, a killed run leaves a usable data directory."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
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
from tests.conftest import RECORDINGS, ROOT, VENV_BIN, run_cli, sha256_of

pytestmark = pytest.mark.slow

POP_2021 = RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv"
AMP = "200054807"


def rows():
    lines = POP_2021.read_text(encoding="utf-8").splitlines(keepends=True)
    return lines[0], [line.split(";") for line in lines[1:]]


def write(path: Path, header: str, fields: list[list[str]]) -> Path:
    path.write_text(header + "".join(";".join(f) for f in fields), encoding="utf-8")
    return path


def set_field(fields, code, col, value):
    for f in fields:
        if f[0] == code:
            f[col] = value
    return fields


POP, PART = 8, 9  # popMuniQPV, partPop15_24 (partPop15_24 is last: keep its newline)


def mutate_renamed(h, f):
    return h.replace("popMuniQPV", "populationMunicipale"), f


def mutate_2015_code(h, f):
    f[3][0] = "QP013042"
    return h, f


def mutate_duplicate(h, f):
    return h, f + [list(f[5])]


def mutate_negative(h, f):
    return h, set_field(f, "QN01306M", POP, "-3")


def mutate_zero_population(h, f):
    return h, set_field(f, "QN01307M", POP, "0")


def mutate_rate_140(h, f):
    return h, set_field(f, "QN01308I", PART, "140\n")


def mutate_secret_to_zero(h, f):
    return h, set_field(f, "QN01313M", PART, "0\n")


def mutate_row_drop(h, f):
    return h, [x for x in f if x[4] == AMP]  # keep the 66 AMP QPV only: 46 % fewer rows


CASES = {
    "renamed column": (mutate_renamed, "extract", ["missing column(s): population", "popMuniQPV",
                                                   "populationMunicipale"]),
    "2015 code": (mutate_2015_code, "raw_gate", ["code_qpv", "QP013042", "2015"]),
    "duplicate QPV": (mutate_duplicate, "raw_gate", ["no duplicate code_qpv", "code_qpv="]),
    "negative count": (mutate_negative, "raw_gate", ["population", "QN01306M", "-3"]),
    "zero population": (mutate_zero_population, "raw_gate", ["population", "QN01307M", "0.0"]),
    "rate of 140": (mutate_rate_140, "raw_gate", ["part_15_24_ans", "QN01308I", "140"]),
    "secret cell turned into 0": (mutate_secret_to_zero, "raw_gate", ["part_15_24_ans", "never exactly 0",
                                                                     "QN01313M"]),
    "row drop over 40 %": (mutate_row_drop, "raw_gate", ["volume guard", "observed: 66"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_recording_fails_the_right_gate(case, demo_copy, tmp_path, monkeypatch):
    mutate, stage, expected = CASES[case]
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    header, fields = rows()
    header, fields = mutate(header, [list(f) for f in fields])
    if case == "duplicate QPV":
        expected = expected + [fields[5][0]]
    bad = write(tmp_path / "pop_QPV24.csv", header, fields)
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", bad.as_uri())
    with pytest.raises(PipelineError) as err:
        run(load_settings(), sources=["insee_pop_qpv"])
    message = str(err.value)
    assert err.value.stage == stage, message
    for text in expected:
        assert text in message, (text, message)
    assert "insee_pop_qpv" in message
    assert sha256_of(pub) == before
    # the bad file is kept on disk and quarantined in the manifest, never loaded
    con = sqlite3.connect(demo_copy / "meta" / "history.sqlite")
    status = con.execute("select status from manifest where source_id = 'insee_pop_qpv' and millesime = 2021 "
                         "order by rowid desc limit 1").fetchone()[0]
    con.close()
    assert status == "quarantined"
    assert err.value.details_path and Path(err.value.details_path).exists()


ESTIMATIONS_2023 = RECORDINGS / "insee_estimations_qpv" / "2023" / "estimations-demographiques_2023_QPV2024_csv.zip"


def _estimations_with_few_elderly(tmp_path: Path, code: str) -> Path:
    """The 2023 estimations with 1 inhabitant aged 60-74 and 1 aged 75+ in one QPV: every count passes the raw
    gate, but the indice de jeunesse (a ratio within one file, not a derived value of two sources) is far out
    of the catalogue's range."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(ESTIMATIONS_2023) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.startswith("data_"):
                text = data.decode("utf-8-sig")
                lines = text.split("\r\n")
                header = lines[0].split(";")
                for i, line in enumerate(lines):
                    fields = line.split(";")
                    if fields[0] == code:
                        fields[header.index("pop_60a74")] = "1"
                        fields[header.index("pop_75p")] = "1"
                        lines[i] = ";".join(fields)
                data = b"\xef\xbb\xbf" + "\r\n".join(lines).encode()
            dst.writestr(info, data)
    path = tmp_path / ESTIMATIONS_2023.name
    path.write_bytes(out.getvalue())
    return path


def test_a_failed_dbt_test_names_the_rows_it_found(demo_copy, tmp_path, monkeypatch):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_ESTIMATIONS_QPV",
                       _estimations_with_few_elderly(tmp_path, "QN01302M").as_uri())
    with pytest.raises(PipelineError) as err:
        run(load_settings(), sources=["insee_estimations_qpv"])
    message = str(err.value)
    assert err.value.stage == "dbt", message
    assert "valeur_dans_plage_catalogue_fct_indicateur_qpv" in message
    assert "code_qpv='QN01302M'" in message and "valeur_max=" in message  # the offending rows, not only a count
    report = Path(err.value.details_path)
    assert report.name == "report.txt" and "code_qpv='QN01302M'" in report.read_text(encoding="utf-8")
    assert "dbt_build.log" in message  # and where dbt's own log is
    # the source file and the columns behind the failing rows, and how to set the file aside
    assert "inputs behind these rows" in message and "source insee_estimations_qpv, millésime 2023" in message
    assert "pop_60_74" in message and "observatoire quarantine SOURCE MILLESIME" in message
    assert sha256_of(pub) == before


def test_a_tiny_population_withholds_the_derived_rates_and_publishes(demo_copy, tmp_path, monkeypatch):
    """A population of 5 passes the raw gate (a count ≥ 1) but makes every rate per inhabitant of that QPV
    implausible: they are withheld (non_calculable, French motif), the run publishes everything else."""
    header, fields = rows()
    bad = write(tmp_path / "pop_QPV24.csv", header, set_field(fields, "QN01302M", POP, "5"))
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", bad.as_uri())
    result = run(load_settings(), sources=["insee_pop_qpv"])
    assert result.status == "published"
    con = duckdb.connect(str(demo_copy / "warehouse" / "observatoire.duckdb"), read_only=True)
    withheld = con.execute("select indicateur, motif from fct_indicateur_qpv where code_qpv = 'QN01302M' "
                           "and statut = 'non_calculable' and motif like 'Valeur non calculable%'").fetchall()
    con.close()
    assert {"part_population_couverte_caf"} <= {i for i, _ in withheld}
    assert all("dénominateur 5 (source insee_pop_qpv, millésime 2021)" in m for _, m in withheld), withheld
    assert any("QN01302M" in json.dumps(w) for w in result.warnings)


READER = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select version from meta.publication").fetchall()[0][0], flush=True)
for line in sys.stdin:
    print(con.execute("select version || ':' || (select count(*) from fct_indicateur_qpv) "
                      "from meta.publication").fetchall()[0][0], flush=True)
"""


def test_reader_keeps_working_while_a_run_publishes(demo_copy):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(pub)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        old_version = reader.stdout.readline().strip()
        # publishes a new version while the reader holds the old file
        proc = run_cli("run", "--force", "--source", "insee_pop_qpv")
        assert proc.returncode == 0, proc.stderr
        reader.stdin.write("again\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip().startswith(old_version + ":")  # the old connection still answers
        con = duckdb.connect(str(pub), read_only=True)
        new_version = con.execute("select version from meta.publication").fetchall()[0][0]
        con.close()
        assert new_version != old_version  # a new connection sees the new run
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)


def _start_run(data: Path, **env) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items()}
    full.update(OBSERVATOIRE_DATA_DIR=str(data), OBSERVATOIRE_MODE="demo", **env)
    return subprocess.Popen([str(VENV_BIN / "observatoire"), "run", "--force", "--source", "insee_pop_qpv"],
                            env=full, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_step(data: Path, step: str, status: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            con = sqlite3.connect(data / "meta" / "history.sqlite", timeout=5)
            row = con.execute("select count(*) from steps s join runs r using (run_id) where r.status = 'running' "
                              "and s.step = ? and s.status = ?", (step, status)).fetchone()
            con.close()
            if row and row[0]:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    raise AssertionError(f"step {step} never reached {status}")


def _published_is_intact(pub: Path, versions: set[str]) -> str:
    con = duckdb.connect(str(pub), read_only=True)
    try:
        version = con.execute("select version from meta.publication").fetchall()[0][0]
        assert con.execute("select count(*) from dim_qpv").fetchall()[0][0] == 66
    finally:
        con.close()
    assert version in versions
    return version


def _processes_working_in(path: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(os.readlink(proc / "cwd")) == path:
                    found.append((proc / "cmdline").read_text().replace("\0", " "))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("moment", ["publish", "dbt"])
def test_sigkill_leaves_the_published_file_intact_and_the_next_run_succeeds(moment, demo_copy):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    con = duckdb.connect(str(pub), read_only=True)
    old_version = con.execute("select version from meta.publication").fetchall()[0][0]
    con.close()
    if moment == "publish":
        proc = _start_run(demo_copy, OBSERVATOIRE_PAUSE_AT="publish:120")
        _wait_for_step(demo_copy, "publish", "running")
        time.sleep(1.0)  # inside the pause: the new file is written, not yet swapped in
    else:
        proc = _start_run(demo_copy)
        _wait_for_step(demo_copy, "dbt", "running")
        time.sleep(2.0)  # dbt is working on the build warehouse
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _published_is_intact(pub, {old_version})
    # no dbt process survives its parent (it would hold the build warehouse's lock): dbt works in the
    # warehouse directory, the run's gate workers in the data directory's parent
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(demo_copy) not in ps
    assert not _processes_working_in(demo_copy / "warehouse")
    # status already calls the killed run interrupted (its lock is free), before any next run closes it
    killed = json.loads(run_cli("status", "--json").stdout)[0]
    assert killed["status"] == "interrupted" and "killed?" in killed["error"]
    assert "interrupted" in run_cli("status").stdout
    # the lock was released by the kernel: the next run neither waits nor needs cleaning
    nxt = run_cli("run", "--force", "--source", "insee_pop_qpv", env={"OBSERVATOIRE_LOCK_TIMEOUT": "0"})
    assert nxt.returncode == 0, nxt.stderr
    new_version = _published_is_intact(pub, {old_version} | set(os.listdir(demo_copy / "warehouse" / "parquet")))
    assert new_version != old_version
    assert not list((demo_copy / "warehouse").glob(".observatoire.*.tmp"))
    status = json.loads(run_cli("status", "--json").stdout)
    assert any(r["status"] == "interrupted" for r in status)
    assert status[0]["params"] == {"force": True, "millesime": None, "sources": ["insee_pop_qpv"]}  # JSON, not text
    assert status[0]["summary"]["published"]["version"] == status[0]["run_id"]
    assert run_cli("status", "--limit", "0").returncode == 2  # at least one run shown
    # the killed run's Parquet version (written just before the swap) is gone: only published versions remain
    published = {r["run_id"] for r in status if r["published"]} | {old_version}
    assert set(os.listdir(demo_copy / "warehouse" / "parquet")) - {"current"} <= published


@pytest.mark.parametrize("name, value, expected", [
    ("OBSERVATOIRE_GX_WORKERS", "two", "OBSERVATOIRE_GX_WORKERS must be a whole number of processes (1 or more), got 'two'"),
    ("OBSERVATOIRE_GX_WORKERS", "0", "OBSERVATOIRE_GX_WORKERS must be a whole number of processes (1 or more), got '0'"),
    ("OBSERVATOIRE_GX_MAX_ROWS", "1.5", "OBSERVATOIRE_GX_MAX_ROWS must be a whole number of rows (1 or more), got '1.5'"),
    ("OBSERVATOIRE_GX_PATCHES", "yes", "OBSERVATOIRE_GX_PATCHES must be 1 (GX's shortcuts on, the default) or 0"),
    ("OBSERVATOIRE_HTTP_TIMEOUT", "abc", "OBSERVATOIRE_HTTP_TIMEOUT must be a number of seconds (more than 0), got 'abc'"),
    ("OBSERVATOIRE_RETENTION", "0", "OBSERVATOIRE_RETENTION must be a whole number of versions (1 or more), got '0'"),
])
def test_a_bad_setting_stops_the_run_before_it_starts(name, value, expected, demo_copy):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = (sha256_of(pub), pub.stat().st_ino, pub.stat().st_mtime_ns)
    runs = sqlite3.connect(demo_copy / "meta" / "history.sqlite").execute("select count(*) from runs").fetchone()[0]
    proc = run_cli("run", env={name: value, "OBSERVATOIRE_URL_INSEE_POP_QPV": "file:///nowhere/pop.csv"})
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
    assert (sha256_of(pub), pub.stat().st_ino, pub.stat().st_mtime_ns) == before
    con = sqlite3.connect(demo_copy / "meta" / "history.sqlite")
    assert con.execute("select count(*) from runs").fetchone()[0] == runs  # no run was even started
    con.close()


def test_second_writer_fails_clearly_when_it_cannot_wait(demo_copy):
    proc = _start_run(demo_copy, OBSERVATOIRE_PAUSE_AT="publish:60")
    try:
        _wait_for_step(demo_copy, "publish", "running")
        second = run_cli("run", env={"OBSERVATOIRE_LOCK_TIMEOUT": "0"})
        assert second.returncode != 0
        assert "is being written by pid" in second.stderr and "observatoire run" in second.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_raw_data_docs_render_while_dbt_builds_and_before_the_mart_gate(demo_copy, monkeypatch, caplog):
    """The raw gate's Data Docs are rendered on a thread while dbt builds; the mart gate writes the GX project
    only once they are written (one writer at a time); if they fail, the run fails and publishes nothing."""
    import threading

    import expectations.runner as runner
    from observatoire.run import building, raw_validation

    calls: list[dict] = []
    real_docs, real_build = runner.build_docs, building.build
    dbt_started = threading.Event()

    def docs(root):
        call = {"what": "docs", "thread": threading.current_thread().name, "start": time.monotonic()}
        calls.append(call)
        if call["thread"].startswith("data-docs"):
            # rendered while dbt builds: dbt starts while this thread is still here (were the Docs rendered
            # on the run's own thread, dbt could not start before they are done, and this wait would time out)
            call["saw_dbt"] = dbt_started.wait(timeout=120)
        try:
            return real_docs(root)
        finally:
            call["end"] = time.monotonic()

    def build(ctx, run_id):
        call = {"what": "dbt", "start": time.monotonic()}
        calls.append(call)
        dbt_started.set()
        real_build(ctx, run_id)
        call["end"] = time.monotonic()

    monkeypatch.setattr(runner, "build_docs", docs)
    monkeypatch.setattr(building, "build", build)
    # what an earlier run of this process left unrendered (it failed mid-gate) is not rendered by this one
    settings = load_settings()
    runner._PENDING_DOCS[str(raw_validation.gx_root(settings))] = [("a stale entry",)]
    result = run(settings, sources=["insee_pop_qpv"], force=True)
    assert result.status == "published"
    raw, dbt, mart = calls
    assert (raw["what"], dbt["what"], mart["what"]) == ("docs", "dbt", "docs")
    assert raw["thread"].startswith("data-docs") and mart["thread"] == threading.current_thread().name
    assert raw["saw_dbt"] and raw["end"] > dbt["start"]  # in flight while dbt builds
    assert mart["start"] >= raw["end"] and mart["start"] >= dbt["end"]

    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)

    def broken(root):
        if threading.current_thread().name.startswith("data-docs"):
            raise OSError(f"disk full while writing the Data Docs under {root}")
        return real_docs(root)

    monkeypatch.setattr(runner, "build_docs", broken)
    with caplog.at_level(logging.ERROR, logger="observatoire"), pytest.raises(OSError, match="disk full"):
        run(load_settings(), sources=["insee_pop_qpv"], force=True)
    assert "the raw gate's Data Docs could not be rendered: disk full" in caplog.text  # logged when it happens
    assert sha256_of(pub) == before
    con = sqlite3.connect(demo_copy / "meta" / "history.sqlite")
    status, error = con.execute("select status, error from runs order by started_at desc, rowid desc "
                                "limit 1").fetchone()
    con.close()
    assert status == "failed" and "disk full" in error


def test_a_landed_file_altered_on_disk_is_named_and_a_forced_fetch_repairs_it(demo_copy):
    from observatoire.run.context import Context
    from observatoire.run.extraction import ensure_parsed

    ctx = Context.create(load_settings())
    landing = next(r for r in ctx.history.current_landings()
                   if r["source_id"] == "insee_pop_qpv" and r["millesime"] == 2021)
    raw = demo_copy / landing["raw_path"]
    good = raw.read_bytes()
    raw.chmod(0o644)
    header, fields = rows()
    set_field(fields, fields[3][0], POP, "abc")
    raw.write_text(header + "".join(";".join(f) for f in fields), encoding="utf-8")
    raw.chmod(0o444)
    (demo_copy / landing["parsed_path"]).unlink()  # as after a change of the extract code: parsed again
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)

    with pytest.raises(PipelineError) as err:  # the altered bytes are never parsed as if they were the landed ones
        ensure_parsed(ctx, landing)
    text = str(err.value)
    assert err.value.stage == "load" and landing["raw_path"] in text and landing["sha256"] in text
    assert "--force --source insee_pop_qpv --millesime 2021" in text

    proc = run_cli("run", "--force", "--source", "insee_pop_qpv", "--millesime", "2021")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert raw.read_bytes() == good  # the fetched bytes replaced the altered copy
    row = ctx.history.find_landing("insee_pop_qpv", 2021, landing["sha256"])
    assert row["status"] == "accepted"
    assert sha256_of(pub) != before  # published again (forced), from the good bytes
    again = run_cli("run")
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stdout + again.stderr


def test_going_back_to_an_earlier_file_is_reported_as_restored_and_published(demo_copy, tmp_path, monkeypatch):
    header, fields = rows()
    old = next(float(f[POP]) for f in fields if f[0] == "QN01306M")
    revised = write(tmp_path / "pop_QPV24.csv", header, set_field(fields, "QN01306M", POP, str(int(old) + 7)))
    monkeypatch.setenv("OBSERVATOIRE_URL_INSEE_POP_QPV", revised.as_uri())
    first = run(load_settings(), sources=["insee_pop_qpv"], millesime=2021)
    assert first.status == "published" and [r["status"] for r in first.sources if r["source_id"] == "insee_pop_qpv"] == ["new"]
    monkeypatch.delenv("OBSERVATOIRE_URL_INSEE_POP_QPV")
    proc = run_cli("run", "--source", "insee_pop_qpv", "--millesime", "2021")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"insee_pop_qpv\s+2021\s+restored", proc.stderr), proc.stderr  # not "unchanged"
    assert "published" in proc.stdout
    con = duckdb.connect(str(demo_copy / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT valeur FROM fct_indicateur_qpv WHERE code_qpv = 'QN01306M' AND indicateur = "
                           "'population' AND millesime = 2021").fetchone()[0] == old  # the earlier file's
    finally:
        con.close()


def test_recovery_removes_only_unpublished_run_versions_of_the_parquet_exports(demo_copy):
    from observatoire.warehouse import recover

    parquet = demo_copy / "warehouse" / "parquet"
    unfinished, published_later, own = "20991231T000000Z-abcdef", "20991231T000001Z-123456", "archive"
    for name in (unfinished, published_later, own):
        (parquet / name).mkdir()
        (parquet / name / "dim_qpv.parquet").write_bytes(b"x")
    con = sqlite3.connect(demo_copy / "meta" / "history.sqlite")
    with con:  # a run whose id was taken before another's but which published after it (Airflow takes ids early)
        con.execute("INSERT INTO runs (run_id, started_at, status, mode, published) "
                    "VALUES (?, '2099-12-31T00:00:01+00:00', 'success', 'demo', 1)", [published_later])
    con.close()
    actions = recover(load_settings())
    assert actions == [f"removed unfinished publication parquet/{unfinished}"]
    assert not (parquet / unfinished).exists()
    assert (parquet / published_later).is_dir() and (parquet / own).is_dir()
