"""The wide marts are generated from the catalogue: the committed files must be what the script writes."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "dbt_project" / "scripts" / "generate_marts.py"


def test_generated_marts_are_up_to_date(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("generate_marts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = {}
    for p in [*(module.MARTS / "defis").glob("*"), module.MARTS / "mart_qpv_fiche.sql",
              module.MARTS / "_mart_qpv_fiche__models.yml"]:
        committed[p.relative_to(module.MARTS)] = p.read_bytes()
    macro = module.MACROS / "modeles_indicateurs.sql"
    committed[Path("macros") / macro.name] = macro.read_bytes()
    out = tmp_path / "marts"
    (out / "defis").mkdir(parents=True)
    (tmp_path / "macros").mkdir()
    monkeypatch.setattr(module, "MARTS", out)
    monkeypatch.setattr(module, "MACROS", tmp_path / "macros")
    written = module.main()
    regenerated = {p.relative_to(out) if p.is_relative_to(out) else p.relative_to(tmp_path): p.read_bytes()
                   for p in written}
    assert set(regenerated) == set(committed), "run: python dbt_project/scripts/generate_marts.py"
    for rel, data in regenerated.items():
        assert committed[rel] == data, f"{rel} is stale: run python dbt_project/scripts/generate_marts.py"


def test_one_mart_per_defi():
    import csv

    with open(ROOT / "dbt_project" / "seeds" / "referentiel" / "ref_defi.csv", encoding="utf-8") as fh:
        defis = [r["defi"] for r in csv.DictReader(fh)]
    assert len(defis) == 10
    for defi in defis:
        assert (ROOT / "dbt_project" / "models" / "marts" / "defis" / f"mart_defi_{defi}.sql").exists()
