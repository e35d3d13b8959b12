"""The nightly DAG refuses a data directory holding the other mode's data: its start task fails, saying why, and
nothing is recorded or written (demo and live never share a data directory)."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from tests.conftest import tree_state
from tests.dags.airflow_env import airflow_env, dag_test

pytestmark = pytest.mark.slow


def test_nightly_dag_in_live_mode_refuses_a_demo_directory(airflow_home, published_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    before = tree_state(data)
    env = airflow_env(airflow_home, OBSERVATOIRE_MODE="live", OBSERVATOIRE_DATA_DIR=str(data))
    out = dag_test("observatoire_nightly", env)
    assert out["state"].endswith("failed"), out
    assert out["tasks"]["start[-1]"].endswith("failed"), out
    # plan and finish run whatever start did: they stop too (no run to continue), so no source is even tried
    assert out["tasks"]["plan[-1]"].endswith("failed") and out["tasks"]["sources.extract[-1]"].endswith("upstream_failed")
    assert not any(v.endswith("success") for v in out["tasks"].values()), out
    assert tree_state(data) == before
    con = sqlite3.connect(data / "meta" / "history.sqlite")
    try:
        assert [r[0] for r in con.execute("select mode from runs")] == ["demo"]  # the demo's run only
    finally:
        con.close()
