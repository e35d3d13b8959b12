"""The partner DAG end to end through Airflow: dag.test() loads a valid file from the inbox and rejects an invalid
one (the run fails so the team is warned), without running dbt."""

from __future__ import annotations

import pytest

from observatoire.history import History
from observatoire.partenaires.template import write_template
from tests.dags.airflow_env import airflow_env, dag_test
from tests.unit.test_partenaires import PERIMETER, csv_bytes, csv_rows, fill_xlsx

pytestmark = pytest.mark.slow



def test_partner_dag_loads_the_inbox(airflow_home, tmp_path):
    data = tmp_path / "data"
    inbox = data / "partenaires" / "inbox"
    inbox.mkdir(parents=True)
    template = write_template("taux_expulsion", "xlsx", tmp_path)
    fill_xlsx(template, inbox / "Préfecture — expulsions 2025.xlsx")
    (inbox / "iae.csv").write_bytes(csv_bytes(csv_rows("nb_salaries_iae_residents", {PERIMETER[4]: "douze"})))
    env = airflow_env(airflow_home, OBSERVATOIRE_MODE="demo", OBSERVATOIRE_DATA_DIR=str(data))
    out = dag_test("observatoire_partenaires", env)
    tasks = out["tasks"]
    # both files processed (one task each); the rejected one fails the run through summarise
    assert tasks["list_inbox[-1]"].endswith("success")
    assert tasks["import_file[0]"].endswith("success") and tasks["import_file[1]"].endswith("success")
    assert tasks["summarise[-1]"].endswith("failed") and out["state"].endswith("failed")
    current = History(data / "meta" / "history.sqlite").current_partner_files()
    assert [(r["indicateur"], r["millesime"], r["nom_fichier"], r["rows"]) for r in current] == [
        ("taux_expulsion", 2025, "Préfecture — expulsions 2025.xlsx", 66)]
    assert list(inbox.iterdir()) == []
    processed = sorted(p.name for p in (data / "partenaires" / "traites").iterdir())
    rejected = sorted(p.name for p in (data / "partenaires" / "rejetes").iterdir())
    assert len(processed) == 2 and processed[1].endswith(".rapport.txt")
    assert len(rejected) == 2 and rejected[0].endswith("-iae.csv")
    report = (data / "partenaires" / "rejetes" / rejected[1]).read_text(encoding="utf-8")
    assert "Fichier CSV, ligne 6, colonne « valeur » : « douze » n'est pas un nombre" in report
    # no dbt, no warehouse: the next pipeline run publishes
    assert not (data / "warehouse" / "build.duckdb").exists()
