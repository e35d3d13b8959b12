"""`make airflow` brings Airflow up locally without Docker, the health endpoint answers, Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_airflow_up_healthy_and_stopped_by_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow_home"), AIRFLOW_PORT=str(port),
               OBSERVATOIRE_DATA_DIR=str(tmp_path / "data"), OBSERVATOIRE_MODE="demo")
    # Ctrl-C as in a terminal: SIGINT handled by default, whatever the test runner inherited (a job started in the
    # background by a shell ignores SIGINT, and bash cannot trap a signal ignored on entry)
    proc = subprocess.Popen(["make", "airflow"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []  # the script's output as it comes: Ctrl-C only once it said Airflow is up

    def read() -> None:
        for line in iter(proc.stdout.readline, ""):
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    health = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3) as r:
                    health = json.loads(r.read())
            except OSError:
                pass
            if (health and health["scheduler"]["status"] == "healthy"
                    and any("Airflow is up" in line for line in list(lines))):
                break
            time.sleep(2)
        assert health and health["metadatabase"]["status"] == "healthy", (health, "".join(lines)[-2000:])
        time.sleep(2)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does in a terminal
        proc.wait(timeout=120)
        reader.join(timeout=10)
    out = "".join(lines)
    assert "Airflow is up" in out and "admin password:" in out and "Airflow stopped." in out, out[-2000:]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3)
    # the pool every warehouse writer uses was created
    pools = subprocess.run([str(ROOT / ".venv" / "bin" / "airflow"), "pools", "list", "-o", "json"],
                           env={**env, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}, capture_output=True, text=True)
    assert any(p["pool"] == "observatoire_warehouse" and int(p["slots"]) == 1 for p in json.loads(pools.stdout))
