"""docker-compose.yml: parsed (services, pinned images, healthchecks, volumes, secrets only from .env) and, where
docker-compose is installed, validated by `docker-compose config`."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"}
SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "warehouse-db", "files", "metabase"}
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|FERNET|SQL_ALCHEMY_CONN|RESULT_BACKEND|TOKEN|API_KEY", re.I)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_official_airflow_3_topology(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init and "pools set observatoire_warehouse 1" in init and "passwords.json" in init
    # scale-out profile: Redis broker and Celery workers, off by default
    assert services["redis"]["profiles"] == ["celery"] and services["airflow-worker"]["profiles"] == ["celery"]


def test_images_pinned(compose):
    for name, svc in compose["services"].items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), (name, image)
        assert re.search(r":v?\d", image), (name, image)
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.\d+-python3\.\d+$", dockerfile, re.M)


def test_healthchecks_and_volumes(compose):
    for name, svc in compose["services"].items():
        assert "healthcheck" in svc and svc["healthcheck"]["test"], name
    assert {"observatoire-data", "postgres-db"} <= set(compose["volumes"])
    common = compose["services"]["airflow-scheduler"]
    assert "observatoire-data:/opt/observatoire-data" in common["volumes"]
    assert any(v.startswith("./:/opt/observatoire") for v in common["volumes"])
    assert common["environment"]["OBSERVATOIRE_MODE"] == "live"


def test_no_secret_written_in_the_compose_file(compose):
    text = COMPOSE.read_text(encoding="utf-8")
    # no default value for anything secret, not even ${VAR:-default}
    for match in re.finditer(r"\$\{(\w+):?-[^}]*\}", text):
        assert not SECRET_WORDS.search(match.group(1)), match.group(0)
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, svc in compose["services"].items():
        if name in AIRFLOW_SERVICES | {"postgres"}:  # Airflow and its metadata database read .env
            assert svc.get("env_file") == ".env", name
        else:  # the others get only what they need: never the whole .env (Airflow's keys)
            assert "env_file" not in svc, name
        for key, value in (svc.get("environment") or {}).items():
            if not SECRET_WORDS.search(key) or key.endswith("_FILE"):
                continue
            # a secret is only ever a required reference to a variable of .env (no default), never a value
            ref = re.fullmatch(r"\$\{(\w+):\?[^}]*\}", str(value))
            assert ref, f"{name}: {key} must come from .env, as ${{VAR:?message}}"
            assert re.search(rf"^{ref.group(1)}=change-me", example, re.M), f"{ref.group(1)} missing from .env.example"
    for key in ("POSTGRES_PASSWORD", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY",
                "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "WAREHOUSE_POSTGRES_PASSWORD",
                "OBSERVATOIRE_PG_PASSWORD"):
        assert re.search(rf"^{key}=change-me", example, re.M) or re.search(rf"^{key}=.*change-me", example, re.M), key
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    # the pipeline's DSN names no password: it comes from the .pgpass file airflow-init writes (mode 600)
    common = compose["x-airflow-common"]["environment"]
    assert "password" not in common["OBSERVATOIRE_PG_DSN"].lower()
    init = "\n".join(compose["services"]["airflow-init"]["command"])
    assert common["PGPASSFILE"] in init and f"chmod 600 /opt/airflow/auth/passwords.json {common['PGPASSFILE']}" in init


def test_warehouse_postgres_service(compose):
    """The analysts' warehouse: a PostgreSQL server of its own (not Airflow's metadata database), its own volume,
    a health check, the analysts' port; the pipeline publishes to it."""
    services = compose["services"]
    wh, meta = services["warehouse-db"], services["postgres"]
    assert "profiles" not in wh  # up with the default `docker compose up`
    assert wh["image"].startswith("postgres:")
    volumes = {v.split(":")[0]: v.split(":")[1] for v in wh["volumes"]}
    assert volumes.get("warehouse-db") == "/var/lib/postgresql/data" and "warehouse-db" in compose["volumes"]
    meta_volumes = {v.split(":")[0] for v in meta["volumes"]}
    assert "warehouse-db" not in meta_volumes and "postgres-db" not in volumes  # nothing shared with Airflow's
    init = [v for v in wh["volumes"] if ":/docker-entrypoint-initdb.d" in v]
    assert init == ["./docker/warehouse-initdb:/docker-entrypoint-initdb.d:ro"]
    script = ROOT / "docker" / "warehouse-initdb" / "10-observatoire-pipeline.sh"
    assert script.exists() and script.stat().st_mode & 0o111, "the postgres image executes *.sh only if executable"
    assert "pg_isready" in wh["healthcheck"]["test"]
    assert any(str(p).endswith(":5432") and "WAREHOUSE_PG_PORT" in str(p) for p in wh["ports"]), wh["ports"]
    assert "ports" not in meta  # Airflow's metadata database is never exposed
    # every Airflow service publishes to it (tasks run in the scheduler or the workers) and waits for it
    common = compose["x-airflow-common"]
    dsn = dict(part.split("=", 1) for part in common["environment"]["OBSERVATOIRE_PG_DSN"].split())
    assert dsn == {"host": "warehouse-db", "port": "5432", "dbname": "observatoire", "user": "pipeline"}
    sql = script.read_text(encoding="utf-8")
    assert "CREATE ROLE pipeline LOGIN CREATEROLE PASSWORD :'pw';" in sql
    assert "CREATE DATABASE observatoire OWNER pipeline;" in sql
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert svc["environment"]["OBSERVATOIRE_PG_DSN"] == common["environment"]["OBSERVATOIRE_PG_DSN"], name
        assert svc["depends_on"]["warehouse-db"]["condition"] == "service_healthy", name
    # airflow-init creates the read-only role and the stable schema
    assert "observatoire.cli postgres init" in "\n".join(services["airflow-init"]["command"])


def test_analysts_read_only_file_server(compose):
    """The published DuckDB file, the Parquet exports and the site over HTTP, from the data volume read-only."""
    files = compose["services"]["files"]
    assert "profiles" not in files
    assert files["image"].startswith("nginx:")
    assert "observatoire-data:/srv/observatoire-data:ro" in files["volumes"]
    assert all(v.endswith(":ro") for v in files["volumes"]), files["volumes"]
    assert files.get("read_only") is True
    conf_mount = next(v for v in files["volumes"] if v.startswith("./docker/nginx/"))
    conf = (ROOT / conf_mount.split(":")[0]).read_text(encoding="utf-8")
    assert "root /srv/observatoire-data/warehouse/site/current;" in conf
    assert "alias /srv/observatoire-data/warehouse/observatoire.duckdb;" in conf
    assert "alias /srv/observatoire-data/warehouse/parquet/current/;" in conf
    # nothing else of the data directory: no raw files, run history, build warehouse
    for private in ("/raw", "/meta", "build.duckdb", "/snapshots", "/partenaires"):
        assert private not in conf, private
    port = re.search(r"listen (\d+);", conf).group(1)
    assert any(str(p).endswith(f":{port}") for p in files["ports"]), files["ports"]
    assert "/healthz" in " ".join(files["healthcheck"]["test"]) and "location = /healthz" in conf


def test_metabase_is_an_optional_profile(compose):
    metabase = compose["services"]["metabase"]
    assert metabase["profiles"] == ["metabase"]
    assert metabase["depends_on"]["warehouse-db"]["condition"] == "service_healthy"
    assert any(v.startswith("metabase-data:") for v in metabase["volumes"]) and "metabase-data" in compose["volumes"]
    assert metabase["healthcheck"]["test"]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config(tmp_path):
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    proc = subprocess.run(["docker-compose", "-f", str(tmp_path / "docker-compose.yml"), "--project-directory",
                           str(tmp_path), "--profile", "celery", "config", "-q"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
