"""The compose file's warehouse set-up, run for real without Docker (no engine here): warehouse-db's init script
(docker/warehouse-initdb) on a throwaway PostgreSQL server with password authentication, the .pgpass line
airflow-init writes, then `observatoire postgres init` and a publication as the pipeline's role with the
compose file's DSN, and an analyst of observatoire_lecture reading it.

The server is started here with the machine's PostgreSQL server binaries (as the user postgres when the test runs
as root, which initdb refuses to be; else as the current user); without them the test is skipped, except on CI
(where .ci/run installs them) where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

psycopg = pytest.importorskip("psycopg")

INIT_SCRIPT = ROOT / "docker" / "warehouse-initdb" / "10-observatoire-pipeline.sh"


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def throwaway_server():
    """A PostgreSQL server as the postgres image makes it: local socket trusted, TCP by scram password. Yields
    (socket directory, port); stopped and removed after."""
    bindir = _pg_bin()
    if bindir is None:
        why = "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin; apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    top = Path(tempfile.mkdtemp(prefix="obs-warehouse-db-", dir="/tmp"))
    data, sock = top / "data", top / "sock"
    sock.mkdir()
    as_pg: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        top.chmod(0o755)
        shutil.chown(top, "postgres")
        shutil.chown(sock, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    proc = subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                           "--auth-host=scram-sha-256"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(top / "server.log"), "-o",
                           f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr + (top / "server.log").read_text(errors="replace")
    try:
        yield sock, port
    finally:
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(top, ignore_errors=True)


def test_warehouse_db_init_script_pgpass_and_postgres_init_as_in_compose(throwaway_server, published_demo,
                                                                        tmp_path):
    sock, port = throwaway_server
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    password = "s3cret:with\\odd chars"

    # 1. warehouse-db's first start: the image runs the init script with its environment
    assert os.access(INIT_SCRIPT, os.X_OK), "the postgres image runs an executable script, sources the others"
    warehouse_env = compose["services"]["warehouse-db"]["environment"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "OBSERVATOIRE_"))}
    env.update(POSTGRES_USER=warehouse_env["POSTGRES_USER"], POSTGRES_DB=warehouse_env["POSTGRES_DB"],
               OBSERVATOIRE_PG_PASSWORD=password, PGHOST=str(sock), PGPORT=str(port))
    env["PATH"] = f"{_pg_bin()}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # without the password the script refuses
    no_pw = {k: v for k, v in env.items() if k != "OBSERVATOIRE_PG_PASSWORD"}
    proc = subprocess.run(["bash", str(INIT_SCRIPT)], env=no_pw, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "OBSERVATOIRE_PG_PASSWORD" in proc.stderr

    # 2. airflow-init writes the .pgpass line from OBSERVATOIRE_PG_PASSWORD (the snippet of the compose file)
    init_cmd = "\n".join(compose["services"]["airflow-init"]["command"])
    snippet = re.search(r"python -c '([^']*OBSERVATOIRE_PG_PASSWORD[^']*)'", init_cmd).group(1)
    line = subprocess.run(["python3", "-c", snippet], env={"OBSERVATOIRE_PG_PASSWORD": password, "PATH": env["PATH"]},
                          capture_output=True, text=True, check=True).stdout.strip()
    common = compose["x-airflow-common"]["environment"]
    dsn = common["OBSERVATOIRE_PG_DSN"]
    assert "password" not in dsn
    assert line.startswith("warehouse-db:5432:observatoire:pipeline:")
    # here the server listens on 127.0.0.1 and a free port, not warehouse-db:5432
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(line.replace("warehouse-db:5432:", f"127.0.0.1:{port}:", 1) + "\n")
    pgpass.chmod(0o600)
    dsn_here = dsn.replace("host=warehouse-db", "host=127.0.0.1").replace("port=5432", f"port={port}")
    pipeline_env = {"OBSERVATOIRE_PG_DSN": dsn_here, "PGPASSFILE": str(pgpass)}

    # 3. `observatoire postgres init` then a publication, as the pipeline's role (password from the .pgpass)
    proc = run_cli("postgres", "init", env=pipeline_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = tmp_path / "data"
    shutil.copytree(published_demo, data, symlinks=True)
    proc = run_cli("run", env={**pipeline_env, "OBSERVATOIRE_DATA_DIR": str(data), "OBSERVATOIRE_MODE": "demo"})
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # a wrong password is refused: the server really asks for it
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"{dsn_here} password=wrong", connect_timeout=5).close()

    # 4. an analyst, as the runbook says, reads observatoire.* and nothing else
    with psycopg.connect(dsn_here, autocommit=True, connect_timeout=5,
                         passfile=str(pgpass)) as con:
        con.execute("CREATE ROLE alice LOGIN PASSWORD 'alice-pw' IN ROLE observatoire_lecture")
        con.execute("GRANT CONNECT ON DATABASE observatoire TO alice")
    alice = f"host=127.0.0.1 port={port} dbname=observatoire user=alice password=alice-pw"
    with psycopg.connect(alice, connect_timeout=5) as con:
        assert con.execute("SELECT count(DISTINCT code_qpv) FROM observatoire.fct_indicateur_qpv "
                           "WHERE indicateur = 'population' AND valeur IS NOT NULL").fetchone()[0] == 66
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("CREATE TABLE observatoire.x (a int)")
