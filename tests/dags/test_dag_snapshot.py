"""observatoire_snapshot_annuel: structure, and dag.test() producing a verified snapshot."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from observatoire.config import load_settings
from observatoire.snapshot import verify
from tests.dags.airflow_env import DAGS, airflow_env, run_python

pytestmark = pytest.mark.slow

CODE = textwrap.dedent("""
    import json
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder={dags!r})
    dag = bag.get_dag("observatoire_snapshot_annuel")
    tasks = {{t.task_id: {{"pool": t.pool, "upstream": sorted(t.upstream_task_ids), "retries": t.retries,
                          "outlets": [getattr(o, "name", str(o)) for o in (t.outlets or [])]}} for t in dag.tasks}}
    structure = {{"errors": {{k: str(v) for k, v in bag.import_errors.items()}}, "tasks": tasks,
                 "schedule": str(getattr(dag, "schedule", "")), "tz": str(dag.timezone), "params": sorted(dag.params.keys()),
                 "catchup": dag.catchup, "doc_md": bool(dag.doc_md)}}
    runs = []
    for conf in {confs!r}:
        dr = dag.test(run_conf=conf)
        runs.append({{"state": str(dr.state),
                     "tasks": {{ti.task_id: str(ti.state) for ti in dr.get_task_instances()}}}})
    print("RESULT=" + json.dumps({{"structure": structure, "runs": runs}}))
""")


def test_snapshot_dag_creates_a_verified_snapshot_and_refuses_a_second(airflow_home, published_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    env = airflow_env(airflow_home, OBSERVATOIRE_MODE="demo", OBSERVATOIRE_DATA_DIR=str(data))
    # the demo's publication: refused without the param demo (a live deployment never holds demo data)
    confs = [{"edition": 2025}, {"edition": 2025, "demo": True}, {"edition": 2025, "demo": True},
             {"edition": 2025, "correction": "révision", "demo": True}]
    out = run_python(CODE.format(dags=str(DAGS), confs=confs), env)
    s = out["structure"]
    assert s["errors"] == {} and s["doc_md"] and s["catchup"] is False
    assert {"edition", "correction", "demo"} <= set(s["params"]) and "Europe/Paris" in s["tz"]
    assert "0 6 15 1 *" in s["schedule"], s["schedule"]
    assert s["tasks"]["create"]["pool"] == "observatoire_warehouse" and s["tasks"]["create"]["retries"] == 0
    assert s["tasks"]["verify"]["upstream"] == ["create"]
    refused, first, again, correction = out["runs"]
    assert refused["state"].endswith("failed") and refused["tasks"]["create"].endswith("failed"), refused
    assert first["state"].endswith("success") and set(first["tasks"]) == {"create", "verify"}, first
    assert all(v.endswith("success") for v in first["tasks"].values()), first
    assert again["state"].endswith("failed") and again["tasks"]["create"].endswith("failed")
    assert correction["state"].endswith("success"), correction
    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(data)})
    assert sorted(p.name for p in (data / "snapshots").iterdir()) == ["2025", "2025.1"]
    assert verify(settings, "2025") == [] and verify(settings, "2025.1") == []
