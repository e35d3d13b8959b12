"""Shared fixtures. Tests never touch the internet: sources come from the project's recordings
(file:// URLs) or from a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT / "extract" / "recordings"
VENV_BIN = Path(sys.executable).parent


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_state(data: Path) -> dict[str, str]:
    """Every file (with its sha256) and directory under ``data``: what a refused command must leave as it was.
    SQLite's WAL sidecars (``-wal``, ``-shm``) are left out: a mere read of the history leaves or removes them
    depending on which connection closes last (a copied directory may hold those another test's read left);
    the history's rows are what a test checks."""
    return {p.relative_to(data).as_posix(): (sha256_of(p) if p.is_file() else "dir")
            for p in sorted(data.rglob("*")) if not p.name.endswith(("-wal", "-shm"))}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test inherits the developer's settings; the default data dir is a temp dir."""
    for key in list(os.environ):
        if key.startswith("OBSERVATOIRE_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OBSERVATOIRE_HTTP_BACKOFF", "0.05")
    monkeypatch.setenv("OBSERVATOIRE_LOCK_TIMEOUT", "30")
    apply_env()


def with_extract_settings(monkeypatch, **fields):
    """The installed extract settings with ``fields`` changed, for this test (as if the entry point had read
    them): e.g. ``api_keys={"TEST_API_KEY": "…"}``."""
    from extract import settings as extract_settings

    monkeypatch.setattr(extract_settings._installed, "value", extract_settings.current().model_copy(update=fields))


def apply_env():
    """The settings read again from the environment, as an entry point does (after a test changed a variable):
    ``extract`` and ``expectations`` never read the environment themselves."""
    from observatoire.config import load_settings

    return load_settings()


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items()}
    full_env.update(env or {})
    return subprocess.run([str(VENV_BIN / "observatoire"), *args], env=full_env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def published_demo(tmp_path_factory) -> Path:
    """A data directory where `observatoire run` (demo mode) has published once. Copy it before changing it."""
    data = tmp_path_factory.mktemp("demo") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATOIRE_")}
    env.update(OBSERVATOIRE_DATA_DIR=str(data), OBSERVATOIRE_MODE="demo")
    proc = subprocess.run([str(VENV_BIN / "observatoire"), "run"], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return data


@pytest.fixture
def demo_copy(published_demo, tmp_path, monkeypatch) -> Path:
    """A private copy of the published demo data directory, set as OBSERVATOIRE_DATA_DIR (demo mode)."""
    data = tmp_path / "demo-data"
    shutil.copytree(published_demo, data, symlinks=True)
    monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(data))
    monkeypatch.setenv("OBSERVATOIRE_MODE", "demo")
    return data


NATIONAL_POP = ROOT / "tests" / "fixtures" / "real" / "pop_QPV24_national.csv"


def national_pop_file(dest: Path, population: dict[str, str] | None = None) -> Path:
    """INSEE's national pop_QPV24 (tests/fixtures/real: every QPV of France, real populations) as a run would
    fetch it over the demo: the compilation it comes from has no partPop15_24, so the share is taken from the
    demo's 2021 recording for the QPV it covers (blank, i.e. withheld, elsewhere); ``population`` replaces some
    QPV's population (code → text as published)."""
    recorded = {}
    for line in (RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv").read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split(";")
        recorded[fields[0]] = fields[9]
    lines = NATIONAL_POP.read_text(encoding="utf-8").splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split(";")
        fields[9] = recorded.get(fields[0], "")
        if population and fields[0] in population:
            fields[8] = population[fields[0]]
        out.append(";".join(fields))
    dest.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dest


def in_daemonic_process(target, timeout: float = 120):
    """Run ``target(queue)`` in a forked daemonic process (what a Celery prefork worker's task is: it may not start
    children) and return the ``(status, value)`` it put on the queue."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=target, args=(queue,), daemon=True)
    child.start()
    try:
        return queue.get(timeout=timeout)
    finally:
        child.join(timeout=30)
