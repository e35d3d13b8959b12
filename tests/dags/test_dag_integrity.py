"""DagBag integrity and structure: no import errors, nothing heavy imported at parse time, publish
downstream of every validation, writers in the pool, retries set."""

from __future__ import annotations

import textwrap

import pytest

from tests.dags.airflow_env import DAGS, airflow_env, run_python

HEAVY = ("dbt", "great_expectations", "pandas")


@pytest.fixture(scope="module")
def dagbag_report(airflow_home):
    code = textwrap.dedent(f"""
        import json, sys
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        out = {{"errors": {{k: str(v) for k, v in bag.import_errors.items()}}, "dags": {{}}}}
        for dag_id, dag in bag.dags.items():
            tasks = {{}}
            for t in dag.tasks:
                tasks[t.task_id] = {{
                    "upstream": sorted(t.upstream_task_ids), "downstream": sorted(t.downstream_task_ids),
                    "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)), "pool": t.pool, "retries": t.retries,
                    "retry_exponential_backoff": bool(t.retry_exponential_backoff),
                    "on_failure_callback": bool(t.on_failure_callback),
                    "outlets": [getattr(o, "name", str(o)) for o in (t.outlets or [])],
                }}
            out["dags"][dag_id] = {{"tasks": tasks, "catchup": dag.catchup, "max_active_runs": dag.max_active_runs,
                                   "schedule": str(getattr(dag.timetable, "description", "")), "doc_md": bool(dag.doc_md),
                                   "tz": str(dag.timezone), "params": sorted(dag.params.keys())}}
        print("RESULT=" + json.dumps(out))
    """)
    return run_python(code, airflow_env(airflow_home, fast_retries=False))


def test_no_import_errors(dagbag_report):
    assert dagbag_report["errors"] == {}
    assert "observatoire_nightly" in dagbag_report["dags"]
    assert "observatoire_partenaires" in dagbag_report["dags"]


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_importing_a_dag_file_imports_nothing_heavy(airflow_home, dag_file):
    code = textwrap.dedent(f"""
        import json, runpy, sys
        runpy.run_path({str(DAGS / dag_file)!r})
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print("RESULT=" + json.dumps(heavy))
    """)
    assert run_python(code, airflow_env(airflow_home)) == []


def ancestors(tasks: dict, name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(tasks[name]["upstream"])
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(tasks[n]["upstream"])
    return seen


def test_nightly_structure(dagbag_report):
    dag = dagbag_report["dags"]["observatoire_nightly"]
    t = dag["tasks"]
    assert dag["catchup"] is False and dag["max_active_runs"] == 1 and dag["doc_md"]
    assert "Europe/Paris" in dag["tz"]
    assert {"millesime", "sources", "force", "accept_breaks"} <= set(dag["params"])
    # one extract and one raw validation per source (mapped), then build, mart validation, publish
    assert "sources.extract" in t["sources.validate"]["upstream"]
    # publish only downstream of every validation (each source's raw gate, the mart gate), through edges that
    # all require all_success: a failed or skipped gate never lets publish run
    assert {"validate_marts", "build", "sources.validate", "sources.extract", "referentiel"} <= ancestors(t, "publish")
    # the référentiel (ANCT contours) is landed first; it must succeed for a publication (a direct all_success
    # edge into build), but the other sources run even if it failed (plan is all_done)
    assert "referentiel" in t["plan"]["upstream"] and t["plan"]["trigger_rule"] == "all_done"
    assert "referentiel" in t["build"]["upstream"] and t["referentiel"]["pool"] == "observatoire_warehouse"
    for name in ("publish", "validate_marts", "build"):
        assert t[name]["trigger_rule"] == "all_success", name
    path = ["sources.validate", "build", "validate_marts", "publish"]
    for up, down in zip(path, path[1:], strict=False):
        assert up in t[down]["upstream"], (up, down)
    # every task writing the data directory shares the 1-slot pool
    for name in ("sources.validate", "build", "validate_marts", "publish"):
        assert t[name]["pool"] == "observatoire_warehouse", name
    # retries with exponential backoff, and a failure callback, on the work tasks
    for name in ("sources.extract", "sources.validate", "build", "validate_marts"):
        assert t[name]["retries"] >= 1 and t[name]["retry_exponential_backoff"], name
    assert all(task["on_failure_callback"] for task in t.values())
    assert t["finish"]["trigger_rule"] == "all_done"
    # data-aware: landed sources (asset alias) and the published warehouse
    assert t["sources.validate"]["outlets"] == t["referentiel"]["outlets"] == ["observatoire_landed_sources"]
    assert t["publish"]["outlets"] == ["observatoire_published_warehouse"]


def test_partenaires_structure(dagbag_report):
    dag = dagbag_report["dags"]["observatoire_partenaires"]
    t = dag["tasks"]
    assert dag["catchup"] is False and dag["max_active_runs"] == 1 and dag["doc_md"]
    assert "Europe/Paris" in dag["tz"] and "remplacer" in dag["params"]
    # the import (the only writer) runs in the shared 1-slot pool, with retries; the summary runs whatever happened
    assert t["import_file"]["pool"] == "observatoire_warehouse"
    assert t["import_file"]["retries"] >= 1 and t["import_file"]["retry_exponential_backoff"]
    assert t["list_inbox"]["downstream"] == ["import_file"] and t["import_file"]["downstream"] == ["summarise"]
    assert t["summarise"]["trigger_rule"] == "all_done"
    assert all(task["on_failure_callback"] for task in t.values())
