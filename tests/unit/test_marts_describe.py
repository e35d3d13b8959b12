"""The marts describe themselves: every mart and every column has a French description in the dbt YAML (dbt's
persist_docs turns them into the published tables' comments), and the indicator catalogue says what each
indicator is, where it comes from, what date its value refers to and how precisely to show it. Static checks on
the project's files; tests/integration/test_warehouse_describes.py checks the published warehouse."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MARTS = ROOT / "dbt_project" / "models" / "marts"
SEED = ROOT / "dbt_project" / "seeds" / "referentiel" / "ref_indicateur.csv"


@cache
def _mart_models() -> dict[str, dict]:
    models = {}
    for path in sorted(MARTS.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            models[model["name"]] = model
    return models


def _catalogue() -> list[dict[str, str]]:
    with open(SEED, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_mart_sql_has_its_yaml():
    sql = {p.stem for p in MARTS.rglob("*.sql")}
    assert sql - set(_mart_models()) == set(), "marts without YAML (description, contract)"


@pytest.mark.parametrize("name", sorted(_mart_models()))
def test_every_mart_and_column_is_described(name):
    model = _mart_models()[name]
    assert (model.get("description") or "").strip(), f"{name} has no description"
    undescribed = [c["name"] for c in model.get("columns", []) if not (c.get("description") or "").strip()]
    assert undescribed == [], f"{name}: columns without a description"
    untyped = [c["name"] for c in model.get("columns", []) if not c.get("data_type")]
    assert untyped == [], f"{name}: columns without a data_type (the contract is enforced)"


def test_new_marts_are_declared_with_their_columns():
    models = _mart_models()
    derniere = [c["name"] for c in models["mart_derniere_valeur"]["columns"]]
    for col in ("code_qpv", "libelle_qpv", "code_commune", "libelle_commune", "defi", "numero_defi", "indicateur",
                "libelle", "unite", "millesime", "valeur", "statut", "motif", "millesime_reference",
                "valeur_reference", "evolution_reference", "valeur_commune", "valeur_commune_hors_qpv",
                "valeur_perimetre", "valeur_france", "ecart_commune", "ecart_commune_hors_qpv", "ecart_perimetre",
                "ecart_france", "source", "rupture_serie"):
        assert col in derniere, col
    contour = {c["name"]: c for c in models["dim_qpv_contour"]["columns"]}
    assert contour["code_qpv"]["data_type"] == "varchar"
    assert contour["geometrie_wkb"]["data_type"] == "blob"
    assert "EPSG:4326" in contour["geometrie_wkb"]["description"]


def test_wide_marts_statut_never_empty_and_motif_beside_it():
    for name, model in _mart_models().items():
        if not (name.startswith("mart_defi_") or name == "mart_qpv_fiche"):
            continue
        cols = {c["name"]: c for c in model["columns"]}
        statuts = [c for c in cols if c.endswith("_statut")]
        assert statuts, name
        for statut in statuts:
            ind = statut.removesuffix("_statut")
            assert ind in cols and f"{ind}_motif" in cols, (name, ind)
            assert {"type": "not_null"} in cols[statut].get("constraints", []), (name, statut)
        tests = [next(iter(t)) if isinstance(t, dict) else t for t in model.get("data_tests", [])]
        assert "motif_si_valeur_vide" in tests, name


def test_catalogue_describes_each_indicator():
    rows = _catalogue()
    assert len(rows) >= 41
    for row in rows:
        ind = row["indicateur"]
        assert len(row["definition"].strip()) >= 40, ind
        assert row["date_reference"].strip(), ind
        assert row["decimales"] in ("0", "1", "2"), ind
        if row["type_source"] == "partner":
            assert row["url_source"] == "", f"{ind}: a partner baromètre has no public source page"
        else:
            assert row["url_source"].startswith("https://"), ind
    # the publisher's precision: counts and euros without decimals, percentages with one
    by_id = {r["indicateur"]: r for r in rows}
    assert by_id["population"]["decimales"] == "0"
    assert by_id["revenu_median"]["decimales"] == "0"
    assert by_id["taux_pauvrete"]["decimales"] == "1"
    assert by_id["indice_jeunesse"]["decimales"] == "2"


def test_python_reader_of_the_catalogue_keeps_working():
    from observatoire.catalogue import indicateurs

    indicateurs.cache_clear()
    cat = indicateurs()
    assert cat["taux_pauvrete"]["valeur_max"] == 100
    assert cat["taux_pauvrete"]["definition"]
