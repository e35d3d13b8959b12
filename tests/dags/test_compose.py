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
SERVICES = {"postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "airflow-worker"}
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
        assert re.search(r":\d", image), (name, image)
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
    for name, svc in compose["services"].items():
        if name != "redis":  # every service holding a secret reads it from .env
            assert svc.get("env_file") == ".env", name
        for key in svc.get("environment") or {}:
            assert not SECRET_WORDS.search(key) or key.endswith("_FILE"), f"{name}: {key} must come from .env"
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for key in ("POSTGRES_PASSWORD", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY",
                "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD"):
        assert re.search(rf"^{key}=change-me", example, re.M) or re.search(rf"^{key}=.*change-me", example, re.M), key
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config(tmp_path):
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    proc = subprocess.run(["docker-compose", "-f", str(tmp_path / "docker-compose.yml"), "--project-directory",
                           str(tmp_path), "--profile", "celery", "config", "-q"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
