"""End to end through Airflow: dag.test() of observatoire_nightly in demo mode, and with one source broken."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from tests import step_trace
from tests.conftest import RECORDINGS, sha256_of
from tests.dags.airflow_env import airflow_env, dag_test
from tests.local_server import LocalServer

pytestmark = pytest.mark.slow



def test_nightly_dag_test_in_demo_mode(airflow_home, tmp_path):
    data = tmp_path / "data"
    trace = tmp_path / "steps.txt"
    env = airflow_env(airflow_home, OBSERVATOIRE_MODE="demo", OBSERVATOIRE_DATA_DIR=str(data))
    out = dag_test("observatoire_nightly", env, prelude=f"from tests import step_trace; step_trace.to_file({str(trace)!r})")
    assert out["state"].endswith("success"), out
    # the DAG's tasks call the run's steps in the order the command line does (tests/integration/
    # test_conductor_order.py): one sequence, observatoire.run.steps.STEPS
    step_trace.check(trace.read_text(encoding="utf-8").split())
    assert out["tasks"]["publish[-1]"].endswith("success")
    loads = [k for k in out["tasks"] if k.startswith("sources.validate")]
    assert len(loads) >= 20 and all(out["tasks"][k].endswith("success") for k in loads)
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        assert con.execute("select count(distinct code_qpv) from fct_indicateur_qpv "
                           "where indicateur = 'population' and valeur is not null").fetchall()[0][0] == 66
        assert con.execute("select mode from meta.publication").fetchall()[0][0] == "demo"
    finally:
        con.close()


def test_one_broken_source_blocks_publish_and_the_others_still_run(airflow_home, published_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    pub = data / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    broken = tmp_path / "pop_QPV24.csv"
    text = (RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv").read_text(encoding="utf-8")
    broken.write_text(text.replace("QN01306M", "QP013042"), encoding="utf-8")
    with LocalServer() as hook:
        env = airflow_env(airflow_home, OBSERVATOIRE_MODE="demo", OBSERVATOIRE_DATA_DIR=str(data),
                          OBSERVATOIRE_URL_INSEE_POP_QPV=broken.as_uri(),
                          OBSERVATOIRE_WEBHOOK_URL=hook.url("/hook"))
        out = dag_test("observatoire_nightly", env)
        posts = [json.loads(p["body"]) for p in hook.posts]
    tasks = out["tasks"]
    assert out["state"].endswith("failed")
    failed = [k for k, v in tasks.items() if k.startswith("sources.validate") and v.endswith("failed")]
    ok = [k for k, v in tasks.items() if k.startswith("sources.validate") and v.endswith("success")]
    # only the broken source's gate failed; every other source's tasks ran and succeeded
    assert len(failed) == 1 and len(ok) >= 10
    assert len(failed) + len(ok) == len([k for k in tasks if k.startswith("sources.validate")])
    assert not tasks["publish[-1]"].endswith("success")
    assert sha256_of(pub) == before
    # the failure callback called the webhook with a readable summary naming the task and the problem
    assert any(p["task_id"] == "sources.validate" and "QP013042" in p["text"] and "insee_pop_qpv" in p["text"] for p in posts)
