"""Run Airflow code in a subprocess with its own AIRFLOW_HOME (a migrated SQLite metadata DB), so the test
process never imports Airflow's settings with the developer's configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


def airflow_env(home: Path, *, fast_retries: bool = True, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OBSERVATOIRE_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        OBSERVATOIRE_HTTP_BACKOFF="0.05",
    )
    if fast_retries:  # dag.test runs retries for real: the tests keep them short
        env.update(OBSERVATOIRE_TASK_RETRIES="0", OBSERVATOIRE_RETRY_DELAY_SECONDS="1")
    env.update(extra)
    return env


def migrate(home: Path) -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env=airflow_env(home),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def run_python(code: str, env: dict[str, str], timeout: int = 900) -> dict:
    """Run ``code`` (which prints one JSON line prefixed with RESULT=) and return that JSON."""
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT="):
            return json.loads(line[len("RESULT="):])
    raise AssertionError(f"no result (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")


DAG_TEST = """
import json
{prelude}
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={dags!r}).get_dag({dag_id!r})
dr = dag.test()
states = {{f"{{ti.task_id}}[{{ti.map_index}}]": str(ti.state) for ti in dr.get_task_instances()}}
print("RESULT=" + json.dumps({{"state": str(dr.state), "tasks": states}}))
"""


def dag_test(dag_id: str, env: dict[str, str], *, prelude: str = "") -> dict:
    """``dag.test()`` of one of the project's DAGs in a subprocess: the run's state and each task's state
    (keys ``task_id[map_index]``). ``prelude``: Python run before the DAG is parsed (e.g. a step trace)."""
    return run_python(DAG_TEST.format(dags=str(DAGS), dag_id=dag_id, prelude=prelude), env)
