"""Airflow's Celery executor for real: the scheduler, the API server (execution API), the DAG processor and two
Celery workers (two slots each), against a real Redis broker and a real PostgreSQL metadata database + Celery
result backend, run ``observatoire_nightly`` (demo mode, a copy of a published data directory shared by both
workers) to a new publication; the 1-slot pool ``observatoire_warehouse`` keeps every writer alone although four
task slots are free.

To keep it to a few minutes the run is the runbook's « reload some sources »: triggered with ``force`` and eight
sources (every task of the DAG runs: référentiel, plan, eight mapped extract + validate pairs, build, mart gate,
publish, finish). The scheduler's own schedule is off (``use_job_schedule``), so that run is the only one.

Servers: ``OBSERVATOIRE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) and ``OBSERVATOIRE_TEST_PG_DSN``
(a libpq string reaching a maintenance database as a role allowed to create databases; default
``host=127.0.0.1 port=5432 user=postgres dbname=postgres``). The test creates its own metadata database
``obs_airflow_<random>`` (dropped after) and its own Celery queue (so a concurrent run elsewhere on the same
Redis never takes its tasks). On CI (``CI`` set) a server that cannot be reached fails the test; elsewhere it is
skipped with the reason. Every process started here runs in its own process group, killed at teardown.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from tests.dags.airflow_env import airflow_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

psycopg = pytest.importorskip("psycopg")

REDIS_URL = os.environ.get("OBSERVATOIRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_SERVER = os.environ.get("OBSERVATOIRE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
AIRFLOW = str(Path(sys.executable).parent / "airflow")
DAG_ID = "observatoire_nightly"
POOL = "observatoire_warehouse"
WORKERS = ("worker-a", "worker-b")
RUN_TIMEOUT = 600  # seconds for the DAG run itself (2-3 minutes on 2 cores)
#: reloaded by the run (force): one mapped extract + validate each, all writers but extract
SOURCES = ["insee_pop_qpv", "insee_filosofi_qpv", "insee_estimations_qpv", "caf_allocataires_qpv", "ft_defm_qpv",
           "rpls_qpv", "caf_communes", "dares_defm_communes"]

# each worker reports its own name as the task instances' hostname (both run on this machine)
HOSTNAME_MODULE = '''
import os
import socket


def worker_name() -> str:
    return os.environ.get("OBS_TEST_WORKER_NAME") or socket.getfqdn()
'''


def _unreachable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def redis_url() -> str:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5, socket_timeout=5)
        client.ping()
        client.close()
    except redis.RedisError as err:
        _unreachable(f"Redis not reachable at {REDIS_URL!r} (set OBSERVATOIRE_TEST_REDIS_URL): {err}")
    return REDIS_URL


@pytest.fixture
def metadata_db(redis_url) -> str:
    """A fresh PostgreSQL database for Airflow's metadata and Celery's results; its SQLAlchemy URL (psycopg 3).
    Dropped after the test."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    try:
        with psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=5) as con:
            con.execute("SELECT 1")
    except psycopg.Error as err:
        _unreachable(f"PostgreSQL not reachable at {PG_SERVER!r} (set OBSERVATOIRE_TEST_PG_DSN): {err}")
    name = f"obs_airflow_{secrets.token_hex(4)}"
    with psycopg.connect(PG_SERVER, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(PG_SERVER)
    url = URL.create("postgresql+psycopg", username=params.get("user"), password=params.get("password"),
                     host=params.get("host"), port=int(params["port"]) if params.get("port") else None,
                     database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        return f"({path.name}: {err})"
    return "\n".join(text[-lines:])


@dataclass
class Cluster:
    """The Airflow components started for the test: each in its own process group, its output in a log file."""

    logs: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str, **extra_env: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen([AIRFLOW, *args], env={**self.env, **extra_env}, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        log.close()

    def cli(self, *args: str, timeout: int = 300) -> str:
        proc = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, (f"airflow {' '.join(args)} exited {proc.returncode}:\n"
                                      f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        return proc.stdout

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}\n{self.diagnosis()}")

    def diagnosis(self, task_logs: bool = True) -> str:
        """The tail of every component's log and of the task logs that mention an error."""
        parts = [f"--- {name} ({self.logs / (name + '.log')}) ---\n{_tail(self.logs / (name + '.log'))}"
                 for name in self.procs]
        if task_logs:
            base = Path(self.env["AIRFLOW_HOME"]) / "logs"
            for path in sorted(base.rglob("*.log")) if base.exists() else []:
                text = path.read_text(encoding="utf-8", errors="replace")
                if '"level":"error"' in text or "Traceback" in text:
                    parts.append(f"--- task log {path.relative_to(base)} ---\n{_tail(path, 30)}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():  # the group too: a worker's pool processes outlive a killed parent
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


def _query(url: str, sql: str, *params) -> list[tuple]:
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, connect_timeout=5) as con:
        return con.execute(sql, params).fetchall()


def _wait(what: str, predicate, cluster: Cluster, timeout: float, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster.check_alive()
        out = predicate()
        if out:
            return out
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{cluster.diagnosis()}")


def _api_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def _forget_queue(url: str, queue: str) -> None:
    """Remove what Celery left in Redis for the test's queue (its bindings; the queue itself if not empty)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    finally:
        client.close()


def _published_version(data: Path) -> str:
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        return con.execute("select run_id from meta.publication").fetchall()[0][0]
    finally:
        con.close()


def test_nightly_dag_on_celery_workers_publishes_and_the_pool_keeps_writers_alone(
        redis_url, metadata_db, published_demo, tmp_path):
    started = time.monotonic()
    home, data, logs = tmp_path / "airflow_home", tmp_path / "data", tmp_path / "logs"
    shutil.copytree(published_demo, data, symlinks=True)
    before = _published_version(data)
    for d in (home, logs):
        d.mkdir()
    (tmp_path / "pythonpath").mkdir()
    (tmp_path / "pythonpath" / "obs_test_hostname.py").write_text(HOSTNAME_MODULE, encoding="utf-8")
    port = _free_port()
    queue = f"obs_test_{secrets.token_hex(4)}"
    env = airflow_env(
        home,
        OBSERVATOIRE_MODE="demo", OBSERVATOIRE_DATA_DIR=str(data),
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_db,
        # the async engine (API server) on psycopg 3 too: derived, the URL would ask for asyncpg
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=metadata_db,
        AIRFLOW__CELERY__BROKER_URL=redis_url,
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+{metadata_db}",
        AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API__HOST="127.0.0.1", AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__CORE__FERNET_KEY="",
        AIRFLOW__CORE__PARALLELISM="8",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__CORE__HOSTNAME_CALLABLE="obs_test_hostname.worker_name",
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "pythonpath"), os.environ.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1",
    )
    cluster = Cluster(logs=logs, env=env)
    try:
        cluster.cli("db", "migrate")
        cluster.cli("pools", "set", POOL, "1", "Observatoire: one writer at a time on the data directory")
        cluster.start("api-server", "api-server")
        cluster.start("scheduler", "scheduler")
        cluster.start("dag-processor", "dag-processor")
        for name in WORKERS:
            cluster.start(name, "celery", "worker", "--queues", queue, "--concurrency", "2",
                          "--celery-hostname", f"{name}@%h", "--skip-serve-logs", "--without-mingle",
                          "--without-gossip", OBS_TEST_WORKER_NAME=name)
        _wait("the API server's health endpoint", lambda: _api_healthy(port), cluster, 180)
        for name in WORKERS:
            _wait(f"Celery {name} to be ready",
                  lambda name=name: "ready." in (logs / f"{name}.log").read_text(errors="replace"), cluster, 180)
        _wait(f"the DAG processor to serialize {DAG_ID}",
              lambda: _query(metadata_db, "SELECT 1 FROM serialized_dag WHERE dag_id = %s", DAG_ID), cluster, 180)
        cluster.cli("dags", "unpause", DAG_ID)
        run_id = f"manual__celery_{secrets.token_hex(4)}"
        cluster.cli("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf",
                    json.dumps({"force": True, "sources": SOURCES}))
        setup = time.monotonic() - started

        def finished():
            rows = _query(metadata_db, "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
            return rows and rows[0][0] in ("success", "failed") and rows[0][0]

        state = _wait(f"dag run {run_id} to finish", finished, cluster, RUN_TIMEOUT, interval=3)
        tis = _query(metadata_db,
                     "SELECT task_id, map_index, state, pool, queue, hostname, start_date, end_date "
                     "FROM task_instance WHERE dag_id = %s AND run_id = %s ORDER BY start_date", DAG_ID, run_id)
        runs = _query(metadata_db, "SELECT run_id FROM dag_run WHERE dag_id = %s", DAG_ID)
        summary = "\n".join(f"{t[0]}[{t[1]}] {t[2]} pool={t[3]} host={t[5]} {t[6]} → {t[7]}" for t in tis)
        assert state == "success", f"dag run {run_id} ended {state}:\n{summary}\n{cluster.diagnosis()}"
        elapsed = time.monotonic() - started
    finally:
        cluster.stop()
        _forget_queue(redis_url, queue)

    # every task ran (or was skipped) on our queue, through the Celery workers
    assert all(t[2] in ("success", "skipped") for t in tis), summary
    assert {t[4] for t in tis} == {queue}, summary
    ran = [t for t in tis if t[2] == "success"]
    assert runs == [(run_id,)], runs  # the scheduler's own schedule stayed off: no other run shared the pool
    for task in ("start", "referentiel", "plan", "build", "validate_marts", "publish", "finish"):
        assert any(t[0] == task for t in ran), f"{task} did not succeed:\n{summary}"
    # forced, each source's latest millésime is reloaded: one mapped extract + validate per source
    assert len([t for t in ran if t[0] == "sources.validate"]) == len(SOURCES), summary
    hosts = {t[5] for t in ran}
    assert hosts <= set(WORKERS) and hosts == set(WORKERS), f"tasks must run on both workers:\n{summary}"

    # the tasks really ran side by side (four slots across two workers)...
    def overlap(a, b) -> bool:
        return a[6] < b[7] and b[6] < a[7]

    assert any(overlap(a, b) for i, a in enumerate(ran) for b in ran[i + 1:]), f"no two tasks overlapped:\n{summary}"
    # ...but never two writers: the pool's one slot holds across workers
    writers = [t for t in ran if t[3] == POOL]
    assert len(writers) >= len(SOURCES) + 4, summary  # référentiel, validate × sources, build, mart gate, publish
    for a, b in zip(writers, writers[1:], strict=False):
        assert b[6] >= a[7], f"writers overlapped: {a[0]}[{a[1]}] on {a[5]} and {b[0]}[{b[1]}] on {b[5]}\n{summary}"
    assert {t[5] for t in writers} == set(WORKERS), f"writers ran on one worker only:\n{summary}"

    # the publication: the published warehouse, written by the workers into the shared data directory
    assert _published_version(data) != before, "the run published nothing new"
    con = duckdb.connect(str(data / "warehouse" / "observatoire.duckdb"), read_only=True)
    try:
        assert con.execute("select mode from meta.publication").fetchall()[0][0] == "demo"
        assert con.execute("select count(distinct code_qpv) from fct_indicateur_qpv "
                           "where indicateur = 'population' and valeur is not null").fetchall()[0][0] == 66
    finally:
        con.close()
    assert (data / "warehouse" / "site" / "current" / "index.html").exists()
    print(f"\nCelery run {run_id} of {DAG_ID}: {len(ran)} tasks, {len(writers)} writers; set-up {setup:.0f} s, "
          f"{elapsed:.0f} s in all")
