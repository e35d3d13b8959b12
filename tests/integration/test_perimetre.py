"""Any territory: the perimeter's QPV come from the ANCT référentiel, comparators follow the perimeter, and the
pipeline publishes for the default Métropole, a second EPCI of the recordings, and `france`."""

from __future__ import annotations

import csv
import shutil

import duckdb
import pytest

from extract.anct_contours import read_contours
from observatoire.config import ConfigError, load_settings
from observatoire.perimetre import (
    PerimetreError,
    perimeter_qpv_codes,
    qpv_in_perimetre,
    url_params,
    url_params_for,
)
from tests.conftest import RECORDINGS, ROOT, run_cli

TPM = "248300543"
CONTOURS = RECORDINGS / "anct_qpv_contours" / "2024" / "QP2024_France_Hexagonale_Outre_Mer.zip"


@pytest.fixture(scope="module")
def contour_rows():
    return read_contours(CONTOURS).drop_columns(["geometry_wkb"]).to_pylist()


def _seed_codes() -> list[str]:
    with open(ROOT / "dbt_project" / "seeds" / "referentiel" / "ref_qpv.csv", encoding="utf-8") as fh:
        return sorted(r["code_qpv"] for r in csv.DictReader(fh))


def test_default_perimeter_is_the_contract_s_66_qpv(contour_rows):
    codes = qpv_in_perimetre(contour_rows, "epci:200054807")
    assert len(codes) == 66 and codes == _seed_codes()


def test_other_perimeters_from_the_anct_columns(contour_rows):
    tpm = qpv_in_perimetre(contour_rows, f"epci:{TPM}")
    assert len(tpm) == 15 and all(c.startswith("QN083") for c in tpm)
    var = qpv_in_perimetre(contour_rows, "departement:83")
    assert set(tpm) < set(var) and all(c.startswith("QN083") for c in var)
    assert len(qpv_in_perimetre(contour_rows, "france")) == len(contour_rows) == 122
    assert qpv_in_perimetre(contour_rows, "departement:2a")  # Corse-du-Sud, any case


@pytest.mark.parametrize("bad", ["epci:12", "region:93", "departement:", "france:1", "Métropole"])
def test_a_bad_perimeter_is_a_clear_configuration_error(bad):
    with pytest.raises(ConfigError, match="OBSERVATOIRE_PERIMETRE"):
        load_settings({"OBSERVATOIRE_PERIMETRE": bad})
    proc = run_cli("status", env={"OBSERVATOIRE_PERIMETRE": bad})
    assert proc.returncode == 2 and "epci:<siren>" in proc.stderr


def test_request_parameters_follow_the_perimeter(contour_rows, tmp_path):
    p = url_params_for(contour_rows, f"epci:{TPM}")
    assert p["geo"] == f"GEO=EPCI-{TPM}*COM&GEO=EPCI-{TPM}&GEO=DEP-83&GEO=FRANCE-F"
    assert "83137" in p["dpe_communes"] and "13055" not in p["dpe_communes"]
    assert p["ods_departements"] == "%20and%20%28code_departement%3D%2283%22%29"
    marseille = url_params_for(contour_rows, "departement:13")
    assert "13201" in marseille["dpe_communes"] and "13055" not in marseille["dpe_communes"]  # arrondissements
    france = url_params_for(contour_rows, "france")
    assert france == {"geo": "GEO=FRANCE-F*COM&GEO=FRANCE-F", "dpe_communes": "", "ods_departements": ""}
    with pytest.raises(PerimetreError, match="no QPV"):
        url_params_for(contour_rows, "epci:999999999")
    # the default perimeter keeps the registry's URLs; another one needs the contours landed first
    assert url_params(load_settings({"OBSERVATOIRE_DATA_DIR": str(tmp_path)})) is None
    with pytest.raises(PerimetreError, match="anct_qpv_contours"):
        url_params(load_settings({"OBSERVATOIRE_DATA_DIR": str(tmp_path), "OBSERVATOIRE_PERIMETRE": "france"}))


def test_default_run_builds_dim_qpv_from_the_anct_referentiel(published_demo):
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(published_demo)})
    assert perimeter_qpv_codes(settings=settings) == _seed_codes()
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        assert sorted(r[0] for r in con.execute("select code_qpv from dim_qpv").fetchall()) == _seed_codes()
        assert con.execute("select count(*) from mart_chiffres_cles where valeur_contrat is null").fetchone()[0] == 0
    finally:
        con.close()


def _run(data, perimetre):
    proc = run_cli("run", env={"OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_MODE": "demo",
                               "OBSERVATOIRE_PERIMETRE": perimetre}, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)


@pytest.mark.slow
def test_second_epci_runs_through_to_a_published_warehouse(published_demo, tmp_path, contour_rows):
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)  # an existing data directory switching perimeter
    con = _run(data, f"epci:{TPM}")
    try:
        expected = qpv_in_perimetre(contour_rows, f"epci:{TPM}")
        assert sorted(r[0] for r in con.execute("select code_qpv from dim_qpv").fetchall()) == expected
        assert con.execute("select distinct code_qpv from fct_indicateur_qpv").fetchall().__len__() == 15
        assert con.execute("select perimetre from meta.publication").fetchone()[0] == f"epci:{TPM}"
        # valeur_perimetre is the EPCI's (Melodi EPCI-248300543), not the Métropole's
        row = con.execute("select min(valeur_perimetre), max(valeur_perimetre), min(valeur_commune) "
                          "from fct_indicateur_qpv where indicateur = 'population' and millesime = 2021").fetchone()
        assert row[0] == row[1] and 300_000 < row[0] < 600_000 and row[2] is not None
        # the Métropole's communes are not this perimeter's
        communes = {r[0] for r in con.execute("select code_commune from dim_commune").fetchall()}
        assert "83137" in communes and not any(c.startswith("13") for c in communes)
        # the contract's figures describe the Métropole: never beside another perimeter's
        assert con.execute("select count(valeur_contrat) from mart_chiffres_cles").fetchone()[0] == 0
        assert con.execute("select valeur from mart_chiffres_cles where chiffre = 'nombre_qpv' "
                           "order by millesime desc limit 1").fetchone()[0] == 15
    finally:
        con.close()
    # an annual edition of this perimeter: complete, verifiable, and saying which territory it describes
    from observatoire.snapshot import create, verify

    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_PERIMETRE": f"epci:{TPM}"})
    snap = create(settings, 2025)
    assert verify(settings, "2025") == [] and snap.manifest["publication"]["perimetre"] == f"epci:{TPM}"
    readme = (snap.path / "README.md").read_text(encoding="utf-8")
    assert f"EPCI {TPM}" in readme and "Aix-Marseille" not in readme.split("\n")[2]


@pytest.mark.slow
def test_france_runs_on_the_small_national_recording(tmp_path, contour_rows):
    con = _run(tmp_path / "data", "france")
    try:
        assert con.execute("select count(*) from dim_qpv").fetchone()[0] == len(contour_rows) == 122
        assert con.execute("select count(distinct code_departement) from dim_qpv").fetchone()[0] >= 4
        france = con.execute("select min(valeur_perimetre), min(valeur_france) from fct_indicateur_qpv "
                             "where indicateur = 'population' and millesime = 2021").fetchone()
        assert france[0] == france[1] and france[0] > 60_000_000
    finally:
        con.close()
