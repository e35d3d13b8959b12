"""End to end through Airflow: dag.test() of observatoire_nightly in demo mode."""

from __future__ import annotations

import textwrap

import duckdb
import pytest

from tests.dags.airflow_env import DAGS, airflow_env, run_python

pytestmark = pytest.mark.slow

DAG_TEST = textwrap.dedent("""
    import json
    from airflow.dag_processing.dagbag import DagBag
    dag = DagBag(dag_folder={dags!r}).get_dag("observatoire_nightly")
    dr = dag.test()
    states = {{f"{{ti.task_id}}[{{ti.map_index}}]": str(ti.state) for ti in dr.get_task_instances()}}
    print("RESULT=" + json.dumps({{"state": str(dr.state), "tasks": states}}))
""")


def test_nightly_dag_test_in_demo_mode(airflow_home, tmp_path):
    data = tmp_path / "data"
    env = airflow_env(airflow_home, OBSERVATOIRE_MODE="demo", OBSERVATOIRE_DATA_DIR=str(data))
    out = run_python(DAG_TEST.format(dags=str(DAGS)), env)
    assert out["state"].endswith("success"), out
    assert out["tasks"]["publish[-1]"].endswith("success")
    loads = [k for k in out["tasks"] if k.startswith("sources.load_source")]
    assert len(loads) >= 2 and all(out["tasks"][k].endswith("success") for k in loads)
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        assert con.execute("select count(distinct code_qpv) from fct_indicateur_qpv "
                           "where indicateur = 'population' and valeur is not null").fetchall()[0][0] == 66
        assert con.execute("select mode from meta.publication").fetchall()[0][0] == "demo"
    finally:
        con.close()
