"""The whole pipeline in demo mode into a temporary data directory, through the CLI."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import sqlite3
import subprocess

import duckdb
import pytest
import yaml

from observatoire.catalogue import indicateurs
from tests.conftest import RECORDINGS, ROOT, run_cli, sha256_of

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
        assert ids == set(indicateurs())
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


@pytest.mark.parametrize("args, expected", [
    (["--source", "nope"], "unknown source(s): nope; known: insee_pop_qpv"),
    (["--millesime", "1990"], "no selected source has millésime 1990; the selected sources have 2019"),
    (["--source", "insee_pop_qpv", "--millesime", "2025"], "no selected source has millésime 2025; the selected "
                                                            "sources have 2020, 2021"),
    (["--source", "insee_rp_activite_qpv"], "insee_rp_activite_qpv is non_publie with no millésime"),
])
def test_a_request_no_run_can_carry_out_is_a_usage_error_and_starts_no_run(args, expected, demo_copy):
    history = demo_copy / "meta" / "history.sqlite"
    before = sha256_of(history)
    proc = run_cli("run", *args)
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
    assert sha256_of(history) == before  # no run recorded: `status` does not report a failure for a typo


@pytest.mark.parametrize("args", [["--source", "insee_pop_qpv"], ["--millesime", "2020"]])
def test_a_first_run_restricted_to_some_sources_is_refused_with_the_way_out(args, tmp_path):
    data = tmp_path / "empty"
    proc = run_cli("run", *args, env={"OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_MODE": "demo"})
    assert proc.returncode == 2, proc.stderr
    assert f"{' '.join(args)}: nothing is loaded in this data directory yet" in proc.stderr
    assert "run `observatoire run` without --source or --millesime first" in proc.stderr
    assert not (data / "warehouse" / "observatoire.duckdb").exists() and not list((data / "raw").iterdir())


def test_a_source_run_lands_the_contours_first_when_none_are_loaded(demo_copy):
    from observatoire.config import load_settings
    from observatoire.run.context import Context
    from observatoire.run.planning import plan

    ctx = Context.create(load_settings())
    assert [it["source_id"] for it in plan(ctx, sources=["insee_pop_qpv"])] == ["insee_pop_qpv"]
    db = sqlite3.connect(ctx.settings.history_db)  # as if the contours had been quarantined at the first run
    with db:
        db.execute("UPDATE manifest SET status = 'quarantined' WHERE source_id = 'anct_qpv_contours'")
    db.close()
    items = plan(ctx, sources=["insee_pop_qpv"], millesime=2020)
    assert [(it["source_id"], it["millesime"]) for it in items] == [("anct_qpv_contours", 2024),
                                                                    ("insee_pop_qpv", 2020)]
    # a backfill of every source: the contours have no 2020 millésime, they are fetched all the same
    items = plan(ctx, millesime=2020)
    assert items[0]["source_id"] == "anct_qpv_contours" and {it["millesime"] for it in items[1:]} == {2020}


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


def test_every_indicator_covers_every_qpv_in_each_of_its_millesimes(published_demo):
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        bad = con.execute(
            "select i.indicateur, f.millesime, count(f.code_qpv) from dim_indicateur as i "
            "left join fct_indicateur_qpv as f using (indicateur) group by all having count(f.code_qpv) <> 66"
        ).fetchall()
        assert bad == []
        # every indicator has at least one millésime
        assert con.execute("select count(*) from dim_indicateur where indicateur not in "
                           "(select indicateur from fct_indicateur_qpv)").fetchall()[0][0] == 0
        # a partner baromètre covers 2024 to the current year, attendu_partenaire until a file is received
        years = [r[0] for r in con.execute("select distinct millesime from fct_indicateur_qpv "
                                           "where indicateur = 'taux_expulsion' order by 1").fetchall()]
        assert years[0] == 2024 and years == list(range(2024, years[-1] + 1)) and len(years) >= 2
        # population: two millésimes at least, evolution since the reference filled
        rows = con.execute("select millesime, count(evolution_reference), min(millesime_reference) "
                           "from fct_indicateur_qpv where indicateur = 'population' group by 1 order by 1").fetchall()
        assert len(rows) >= 2 and all(n == 66 for _, n, _ in rows) and rows[0][2] == rows[0][0]
        # the 2025 break of the DEFM series is flagged and no evolution crosses it
        assert con.execute("select bool_and(rupture_serie), count(evolution_precedent) from fct_indicateur_qpv "
                           "where indicateur = 'nb_demandeurs_emploi_abc' and millesime = 2025").fetchall()[0] == (True, 0)
        # comparators on the same row, gaps in points for rates
        row = con.execute("select valeur, valeur_commune, valeur_perimetre, valeur_france, ecart_commune "
                          "from fct_indicateur_qpv where indicateur = 'taux_pauvrete' and statut = 'disponible' "
                          "limit 1").fetchall()[0]
        assert None not in row[:4] and abs(row[4] - (row[0] - row[1])) < 1e-9
        # freshness: publication date, load date and next release of the source
        assert con.execute("select count(*) from fct_indicateur_qpv where indicateur = 'population' "
                           "and (date_chargement is null or prochaine_publication is null)").fetchall()[0][0] == 0
    finally:
        con.close()


def test_defi_marts_fiche_and_key_figures(published_demo):
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        defis = [r[0] for r in con.execute("select defi from dim_defi").fetchall()]
        assert len(defis) == 10
        for defi in defis:
            n, qpv, years = con.execute(f"select count(*), count(distinct code_qpv), count(distinct millesime) "
                                        f"from mart_defi_{defi}").fetchall()[0]
            assert qpv == 66 and n == 66 * years
        cols = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                          "where table_name = 'mart_defi_logement'").fetchall()}
        assert {"taux_effort_loyer", "taux_effort_loyer_statut", "taux_effort_loyer_valeur_commune",
                "taux_effort_loyer_ecart_perimetre"} <= cols
        assert con.execute("select count(distinct code_qpv) from mart_qpv_fiche").fetchall()[0][0] == 66
        figures = {r[0]: r[1:] for r in con.execute(
            "select chiffre, valeur, valeur_contrat, statut from mart_chiffres_cles "
            "qualify row_number() over (partition by chiffre order by millesime desc) = 1").fetchall()}
        assert figures["nombre_qpv"] == (66.0, 66.0, "disponible")
        assert figures["nombre_communes"][0] == 14.0
        # Les Escourtines (two communes) counted once: the QPV population is the sum of the 66 QPV
        total = con.execute("select sum(valeur) from fct_indicateur_qpv where indicateur = 'population' "
                            "and millesime = (select max(millesime) from fct_indicateur_qpv "
                            "where indicateur = 'population')").fetchall()[0][0]
        assert figures["population_qpv"][0] == total and figures["population_qpv"][1] == 300000
        assert figures["suroccupation_qpv"][2] == "non_publie" and figures["suroccupation_qpv"][1] == 19
        for key in ("part_population_perimetre_en_qpv", "taux_pauvrete_qpv", "ratio_chomage_qpv_hors_qpv"):
            assert figures[key][2] == "disponible" and figures[key][0] is not None, key
        # territoires à enjeux: on their 2015 perimeter, in their own tables
        assert con.execute("select count(*) from fct_indicateur_territoire where geographie = 'qpv_2015' "
                           "and statut = 'disponible'").fetchall()[0][0] > 0
        assert con.execute("select count(*) from fct_indicateur_qpv where code_qpv like 'QP%'").fetchall()[0][0] == 0
    finally:
        con.close()


def test_dbt_docs_generate_offline(demo_copy, tmp_path):
    """`make dbt-docs`: dbt's documentation of the data directory's build, one HTML file opened from disk."""
    proc = subprocess.run(["make", "--no-print-directory", "dbt-docs"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OBSERVATOIRE_DATA_DIR": str(demo_copy)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    docs = demo_copy / "meta" / "dbt" / "target"
    assert f"dbt docs: {docs / 'static_index.html'}" in proc.stdout
    catalog = json.loads((docs / "catalog.json").read_text())
    assert any(k.endswith("fct_indicateur_qpv") for k in catalog["nodes"])
    assert "fct_indicateur_qpv" in (docs / "static_index.html").read_text(encoding="utf-8")
    # dbt opens the build warehouse: the docs wait for a run holding the writer lock, and say so when they give up
    from observatoire.config import load_settings
    from observatoire.locking import writer_lock

    with writer_lock(load_settings({"OBSERVATOIRE_DATA_DIR": str(demo_copy)}).lock_path, "observatoire run"):
        busy = run_cli("docs", "--dbt", env={"OBSERVATOIRE_DATA_DIR": str(demo_copy),
                                             "OBSERVATOIRE_LOCK_TIMEOUT": "0"})
    assert busy.returncode == 1 and "is being written by" in busy.stderr and "Traceback" not in busy.stderr
    empty = subprocess.run(["make", "--no-print-directory", "dbt-docs"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600, env={**os.environ, "OBSERVATOIRE_DATA_DIR": str(tmp_path / "none")})
    assert empty.returncode != 0 and "run `observatoire run` (or make demo) first" in empty.stderr


def test_dbt_unit_tests_pass(demo_copy, tmp_path):
    """The formulas' dbt unit tests (excluded from the pipeline's builds: they check fixed fixtures, not the
    data) run here, on the demo's build warehouse."""
    from observatoire.config import load_settings
    from observatoire.dbt_runner import run_dbt

    result = run_dbt(load_settings(), ["test", "--select", "test_type:unit"], log_path=tmp_path / "unit.log",
                     vars={"perimetre": "epci:200054807"})
    unit = [r for r in result.results if r["unique_id"].startswith("unit_test.")]
    assert len(unit) >= 10 and all(r["status"] == "pass" for r in unit), unit


def test_data_docs_show_every_validation(published_demo):
    """The raw and mart gates' results are in the data directory's GX project and its Data Docs, with the
    observed values of the checks that passed."""
    from expectations.runner import docs_index

    index = docs_index(published_demo / "meta" / "gx")
    assert index.exists()
    pages = list((index.parent / "validations").rglob("*.html"))
    suites = {p.relative_to(index.parent / "validations").parts[0] for p in pages}
    assert {"raw_insee_pop_qpv", "raw_anct_qpv_contours", "mart_dim_qpv", "mart_fct_indicateur_qpv"} <= suites
    assert len(pages) >= 40  # one per landed file (28) and per mart suite (15)
    page = next(p for p in pages if p.parts[-4] == "mart_dim_qpv").read_text(encoding="utf-8")
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert "Status: Succeeded" in text and "Must have exactly 66 rows. 66" in text and "0% unexpected" in text
    assert len(list((published_demo / "meta" / "gx" / "gx" / "uncommitted" / "validations").rglob("*.json"))) \
        == len(pages)
    # the project holds suites, results and Data Docs only: batches are validated in an in-memory context
    config = yaml.safe_load((published_demo / "meta" / "gx" / "gx" / "great_expectations.yml").read_text())
    assert not config.get("fluent_datasources")


def test_mart_keys_and_required_columns_are_enforced_by_the_warehouse(demo_copy):
    """The marts' keys and required columns are constraints of their tables (dbt contracts, enforced by
    DuckDB when dbt writes them) rather than data tests run afterwards: a duplicate or a NULL cannot be
    written."""
    con = duckdb.connect(str(demo_copy / "warehouse" / "build.duckdb"))
    try:
        keys = {(t, tuple(cols)) for t, cols in con.execute(
            "select table_name, constraint_column_names from duckdb_constraints() "
            "where schema_name = 'marts' and constraint_type = 'PRIMARY KEY'").fetchall()}
        assert ("fct_indicateur_qpv", ("code_qpv", "indicateur", "millesime")) in keys
        assert ("dim_qpv", ("code_qpv",)) in keys
        for defi in ("logement", "precarites", "transition_ecologique"):
            assert (f"mart_defi_{defi}", ("code_qpv", "millesime")) in keys
        with pytest.raises(duckdb.ConstraintException, match="primary key|PRIMARY KEY|Duplicate key"):
            con.execute("insert into marts.mart_defi_logement select * from marts.mart_defi_logement limit 1")
        with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
            con.execute("insert into marts.dim_qpv (code_qpv, libelle_qpv, code_commune) "
                        "values ('QN01399M', NULL, '13055')")
    finally:
        con.close()


def test_history_paths_are_relative_so_the_data_directory_can_move(demo_copy):
    # demo_copy is a copy of the data directory the demo ran in: every stored path must still lead to its file
    con = sqlite3.connect(demo_copy / "meta" / "history.sqlite")
    stored = [r[0] for r in con.execute("SELECT details_path FROM validations")]
    validation = [json.loads(r[0]).get("details_path") for r in con.execute(
        "SELECT validation FROM manifest WHERE validation IS NOT NULL")]
    con.close()
    assert stored and validation and all(not p.startswith("/") for p in stored + validation), stored + validation
    runs = json.loads(run_cli("status", "--json").stdout)
    paths = [v["details_path"] for r in runs for v in r["validations"]]
    assert paths and all(p.startswith(str(demo_copy)) and os.path.exists(p) for p in paths), paths
