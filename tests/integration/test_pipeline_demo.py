"""The whole pipeline in demo mode into a temporary data directory, through the CLI."""

from __future__ import annotations

import csv
import os

import duckdb
import pytest

from observatoire import referentiel
from tests.conftest import RECORDINGS, run_cli, sha256_of

pytestmark = pytest.mark.slow

AMP_QPV = 66


def test_demo_run_publishes_the_referentiel_and_population(published_demo):
    pub = published_demo / "warehouse" / "observatoire.duckdb"
    assert pub.exists()
    con = duckdb.connect(str(pub), read_only=True)
    try:
        assert con.execute("select count(*) from dim_qpv").fetchall()[0][0] == AMP_QPV
        codes = {r[0] for r in con.execute("select code_qpv from dim_qpv").fetchall()}
        with open(RECORDINGS.parent.parent / "dbt_project/seeds/referentiel/ref_qpv.csv", encoding="utf-8") as fh:
            assert codes == {r["code_qpv"] for r in csv.DictReader(fh)}
        assert con.execute("select count(*) from dim_defi").fetchall()[0][0] == 10
        # the whole catalogue: every baromètre of the contract plus the socle
        ids = {r[0] for r in con.execute("select indicateur from dim_indicateur").fetchall()}
        assert ids == set(referentiel.catalogue())
        assert con.execute("select count(*) from dim_indicateur where categorie = 'barometre'").fetchall()[0][0] >= 27
        # population for every QPV, in at least two millésimes
        rows = con.execute(
            "select millesime, count(*), count(valeur), min(valeur), sum(valeur) from fct_indicateur_qpv "
            "where indicateur = 'population' group by millesime order by millesime").fetchall()
        assert len(rows) >= 2
        for _millesime, n, n_val, mini, total in rows:
            assert n == n_val == AMP_QPV and mini > 0 and 250_000 < total < 350_000
        # Les Escourtines spans two communes and is counted once
        assert con.execute("select codes_communes from dim_qpv where code_qpv = 'QN01341I'").fetchall()[0][0] \
            == "13055|13070"
        # the territoires à enjeux are never in the QPV tables
        assert con.execute("select count(*) from dim_qpv where code_commune in ('13041', '13028')").fetchall()[0][0] == 0
        assert con.execute("select count(*) from dim_territoire_enjeux").fetchall()[0][0] == 2
        # every row of the fact has a statut; an unavailable value is NULL, never 0
        assert con.execute("select count(*) from fct_indicateur_qpv where statut <> 'disponible' "
                           "and valeur is not null").fetchall()[0][0] == 0
        # the published file records the mode that produced it and its history
        mode, synth = con.execute("select mode, donnees_synthetiques from meta.publication").fetchall()[0]
        assert mode == "demo" and synth is True
        assert con.execute("select count(*) from meta.runs where status = 'success'").fetchall()[0][0] >= 1
        assert con.execute("select count(*) from meta.manifest").fetchall()[0][0] >= 2
    finally:
        con.close()
    # Parquet exports of the marts, behind an atomically switched `current` link
    current = published_demo / "warehouse" / "parquet" / "current"
    assert current.is_symlink() and (current / "fct_indicateur_qpv.parquet").exists()


def test_landed_files_are_immutable_and_named_by_sha256(published_demo):
    raw = published_demo / "raw" / "insee_pop_qpv"
    files = [p for p in raw.rglob("*.csv")]
    assert len(files) >= 2
    for p in files:
        assert p.stem == sha256_of(p)
        assert not os.access(p, os.W_OK) or os.geteuid() == 0
        assert oct(p.stat().st_mode & 0o222) == "0o0"


def test_unchanged_rerun_publishes_nothing(demo_copy):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    proc = run_cli("run")
    assert proc.returncode == 0, proc.stderr
    assert "unchanged" in proc.stdout
    assert sha256_of(pub) == before


def test_corrupted_recording_fails_the_gate_and_keeps_the_published_file(demo_copy, tmp_path):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    src = RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv"
    bad = tmp_path / "pop_QPV24.csv"
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    # a 2015 code and a negative population
    lines[5] = "QP013042" + lines[5][8:]
    fields = lines[7].split(";")
    fields[8] = "-12"
    lines[7] = ";".join(fields)
    bad.write_text("".join(lines), encoding="utf-8")
    proc = run_cli("run", env={"OBSERVATOIRE_URL_INSEE_POP_QPV": bad.as_uri()})
    assert proc.returncode == 1
    err = proc.stderr
    assert "raw_gate" in err and "insee_pop_qpv" in err
    assert "QP013042" in err and "code_qpv" in err
    assert "population" in err and "-12" in err
    assert sha256_of(pub) == before  # byte-identical
    # the bad file is kept, quarantined, and `status` says what failed and where to look
    status = run_cli("status")
    assert status.returncode == 0
    assert "FAILED" in status.stdout and "raw_gate" in status.stdout and "details:" in status.stdout
    con = duckdb.connect(str(pub), read_only=True)
    try:
        assert con.execute("select count(*) from meta.manifest where status = 'quarantined'").fetchall()[0][0] == 0
    finally:
        con.close()


def test_unparseable_recording_fails_with_file_line_and_column(demo_copy, tmp_path):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    src = RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv"
    bad = tmp_path / "pop_QPV24.csv"
    bad.write_text(src.read_text(encoding="utf-8").replace(";4", ";quatre", 1), encoding="utf-8")
    proc = run_cli("run", env={"OBSERVATOIRE_URL_INSEE_POP_QPV": bad.as_uri()})
    assert proc.returncode == 1
    assert "value is not a number" in proc.stderr and "pop_QPV24.csv" in proc.stderr and "line" in proc.stderr
    assert sha256_of(pub) == before
