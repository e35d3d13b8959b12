"""Static checks run with the tests: ruff on the code, dbt parse on the project."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_ruff_clean():
    proc = subprocess.run([str(BIN / "ruff"), "check", "observatoire", "extract", "expectations", "dags", "tests"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_block_of_code_written_twice():
    """pylint's duplicate-code check (settings in pyproject.toml): the CLI and Airflow call the same steps, and a
    repeated block of five lines or more anywhere in the packages fails, naming both places."""
    proc = subprocess.run([str(BIN / "pylint"), "--score=n", "observatoire", "extract", "expectations", "dags", "bench"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_dbt_parse(tmp_path):
    env = {**os.environ, "OBSERVATOIRE_BUILD_DB": str(tmp_path / "b.duckdb"), "DBT_TARGET_PATH": str(tmp_path / "t"),
           "DBT_LOG_PATH": str(tmp_path / "l"), "DBT_PROFILES_DIR": str(ROOT / "dbt_project"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    proc = subprocess.run([str(BIN / "dbt"), "parse", "--project-dir", str(ROOT / "dbt_project")], cwd=ROOT / "dbt_project",
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
