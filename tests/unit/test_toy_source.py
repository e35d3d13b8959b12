"""Adding a source is a short, checked path (CONTRIBUTING.md, section 1): a toy source written into a copy of the
dbt project, touching only the files the guide lists, is picked up by everything derived — the union of the
per-source indicator models (``int_indicateurs_qpv``), the défi mart's columns, dbt's graph — once
``generate_marts.py`` has run; and forgetting that step fails a test instead of publishing ``non_publie``."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOY = "jouet_qpv"
INDICATEUR = "nb_jouets"
DEFI = "proximite"


def _generator(dbt: Path):
    spec = importlib.util.spec_from_file_location("generate_marts_toy", ROOT / "dbt_project" / "scripts"
                                                  / "generate_marts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.DBT = dbt
    module.SEEDS = dbt / "seeds" / "referentiel"
    module.MARTS = dbt / "models" / "marts"
    module.INTERMEDIATE = dbt / "models" / "intermediate"
    module.MACROS = dbt / "macros"
    return module


def _add_toy_source(dbt: Path) -> list[Path]:
    """What CONTRIBUTING.md section 1, step 5, and section 2, step 1, ask for, for a per-QPV count. Returns the
    files written or changed."""
    folder = dbt / "models" / "staging" / "jouet"
    folder.mkdir()
    sources = folder / "_jouet__sources.yml"
    sources.write_text(
        "version: 2\n\nsources:\n  - name: raw\n    description: \"{{ doc('raw_source') }}\"\n    schema: raw\n"
        f"    tables:\n      - name: {TOY}\n        description: Source jouet des tests.\n", encoding="utf-8")
    staging = folder / "stg_jouet__qpv.sql"
    staging.write_text(
        "select cast(code_qpv as varchar) as code_qpv, cast(millesime as integer) as millesime,\n"
        "    cast(jouets as double) as jouets, list_contains(_secret, 'jouets') as jouets_secret,\n"
        f"    cast(_source_id as varchar) as source\nfrom {{{{ source('raw', '{TOY}') }}}}\n", encoding="utf-8")
    models = folder / "_jouet__models.yml"
    models.write_text(
        "version: 2\n\nmodels:\n  - name: stg_jouet__qpv\n    description: Jouets par QPV et millésime.\n"
        "    columns:\n      - name: code_qpv\n        description: Code du QPV 2024.\n", encoding="utf-8")
    intermediate = dbt / "models" / "intermediate" / "int_indicateurs__jouet.sql"
    intermediate.write_text(
        "with jouets as (select * from {{ ref('stg_jouet__qpv') }})\n\n"
        f"{{{{ indicateur_simple('jouets', '{INDICATEUR}', 'jouets', 'jouets_secret') }}}}\n", encoding="utf-8")
    catalogue = dbt / "seeds" / "referentiel" / "ref_indicateur.csv"
    with open(catalogue, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    row = {**rows[0], "indicateur": INDICATEUR, "defi": DEFI, "categorie": "barometre", "libelle": "Nombre de jouets",
           "unite": "nombre", "source": TOY, "comparateurs": "", "agregation": "somme"}
    with open(catalogue, "a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(rows[0])).writerow(row)
    return [sources, staging, models, intermediate, catalogue]


@pytest.fixture
def project(tmp_path) -> Path:
    dbt = tmp_path / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", dbt, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return dbt


def _unioned(dbt: Path) -> list[str]:
    from tests.unit.test_indicator_models_listed import listed_models

    return listed_models(dbt)


def test_the_derived_parts_pick_a_toy_source_up(project):
    touched = _add_toy_source(project)
    assert "int_indicateurs__jouet" not in _unioned(project)  # not yet: the generator has not run

    written = _generator(project).main()
    assert "int_indicateurs__jouet" in _unioned(project)
    mart = (project / "models" / "marts" / "defis" / f"mart_defi_{DEFI}.sql").read_text(encoding="utf-8")
    assert f"{INDICATEUR}_statut" in mart and f"{INDICATEUR}_motif" in mart
    yml = (project / "models" / "marts" / "defis" / "_defis__models.yml").read_text(encoding="utf-8")
    assert f"name: {INDICATEUR}" in yml
    # the files a newcomer edits are the guide's; the rest is written by the generator
    changed = {p.relative_to(project).as_posix() for p in touched + written
               if not (ROOT / "dbt_project" / p.relative_to(project)).exists()
               or (ROOT / "dbt_project" / p.relative_to(project)).read_bytes() != p.read_bytes()}
    guide = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for rel in changed:
        generic = (rel.replace("jouet", "<family>", 1) if rel.startswith("models/staging/") else rel)
        generic = generic.replace("int_indicateurs__jouet", "int_indicateurs__<source>")
        generic = generic.replace("stg_jouet__qpv", "stg_<family>__<entity>").replace("_jouet__", "_<family>__")
        generic = generic.replace(f"mart_defi_{DEFI}", "mart_defi_<defi>")
        assert generic in guide or Path(rel).name in guide, f"{rel} is changed but CONTRIBUTING.md does not list it"

    # dbt's graph: the union depends on the toy model, and the défi mart carries the indicator's columns
    env = {**os.environ, "OBSERVATOIRE_BUILD_DB": str(project / "b.duckdb"), "DBT_TARGET_PATH": str(project / "t"),
           "DBT_LOG_PATH": str(project / "l"), "DBT_PROFILES_DIR": str(project),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    proc = subprocess.run([str(BIN / "dbt"), "parse", "--project-dir", str(project)], cwd=project, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = json.loads((project / "t" / "manifest.json").read_text(encoding="utf-8"))
    nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert "model.observatoire.int_indicateurs__jouet" in nodes["int_indicateurs_qpv"]["depends_on"]["nodes"]
    assert f"{INDICATEUR}_statut" in nodes[f"mart_defi_{DEFI}"]["columns"]


def test_forgetting_the_generator_fails_a_test(project):
    _add_toy_source(project)
    from tests.unit.test_indicator_models_listed import missing_models

    assert missing_models(project) == ["int_indicateurs__jouet"]
