"""Settings read from the environment, in one place.

Every path the pipeline writes lives under ``OBSERVATOIRE_DATA_DIR`` (default ``./data``)::

    raw/<source>/<millesime>/<sha256>.<ext>   landed source files (immutable)
    warehouse/build.duckdb                    private build warehouse (pipeline only)
    warehouse/observatoire.duckdb             published warehouse (analysts, read-only)
    warehouse/parquet/<version>/              Parquet exports of the published marts
    meta/                                     run history, manifest, validation results, locks
    meta/mode.json                            the mode of the data the directory holds (demo or live: they
                                              never share a directory, see ``observatoire.datamode``)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODES = ("demo", "live")
DEFAULT_MODE = "live"
DEFAULT_PERIMETRE = "epci:200054807"
#: the conventional data directories: live data in ./data (the default), demo data in ./data-demo (`make demo`)
LIVE_DATA_DIR = "./data"
DEMO_DATA_DIR = "./data-demo"
#: what every output of a demo publication says (snapshots: README.md, manifest.json, workbook notes)
DEMO_NOTICE = "données de démonstration, valeurs synthétiques"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
REGISTRY_PATH = PROJECT_ROOT / "extract" / "sources.yml"
RECORDINGS_DIR = PROJECT_ROOT / "extract" / "recordings"


class ConfigError(ValueError):
    """A setting read from the environment is invalid."""


def parse_perimetre(perimetre: str) -> tuple[str, str | None]:
    """``epci:<siren>``, ``departement:<code>`` or ``france`` → (kind, code); anything else is a clear error."""
    kind, _, code = (perimetre or "").strip().partition(":")
    kind, code = kind.strip().lower(), code.strip()
    if kind == "france" and not code:
        return "france", None
    if kind == "epci" and code.isdigit() and len(code) == 9:
        return "epci", code
    if kind == "departement" and (code.isdigit() and len(code) in (2, 3) or code.upper() in ("2A", "2B")):
        return "departement", code.upper()
    raise ValueError(f"OBSERVATOIRE_PERIMETRE={perimetre!r}: expected epci:<siren> (9 digits, e.g. epci:200054807), "
                     "departement:<code> (e.g. departement:13, departement:2A) or france")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    mode: str
    perimetre: str = DEFAULT_PERIMETRE

    # -- derived paths -------------------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

    @property
    def build_db(self) -> Path:
        return self.warehouse_dir / "build.duckdb"

    @property
    def published_db(self) -> Path:
        return self.warehouse_dir / "observatoire.duckdb"

    @property
    def parquet_dir(self) -> Path:
        return self.warehouse_dir / "parquet"

    @property
    def meta_dir(self) -> Path:
        return self.data_dir / "meta"

    @property
    def history_db(self) -> Path:
        return self.meta_dir / "history.sqlite"

    @property
    def lock_path(self) -> Path:
        return self.meta_dir / "writer.lock"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    def ensure_dirs(self) -> None:
        for d in (self.raw_dir, self.warehouse_dir, self.meta_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("OBSERVATOIRE_DATA_DIR") or "data").expanduser().resolve()
    mode = (env.get("OBSERVATOIRE_MODE") or DEFAULT_MODE).strip().lower()
    if mode not in MODES:
        raise ConfigError(
            f"OBSERVATOIRE_MODE={mode!r} is not a valid mode: expected one of {', '.join(MODES)} "
            "(demo = the project's offline recordings, live = the publishers' URLs)"
        )
    perimetre = (env.get("OBSERVATOIRE_PERIMETRE") or DEFAULT_PERIMETRE).strip()
    try:
        kind, code = parse_perimetre(perimetre)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    perimetre = kind if code is None else f"{kind}:{code}"
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"OBSERVATOIRE_DATA_DIR={str(data_dir)!r} is a file: expected a data directory "
                          "(an existing one, or a path where one can be created)")
    try:
        check_environment(env)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return Settings(data_dir=data_dir, mode=mode, perimetre=perimetre)


def check_environment(env) -> None:
    """Every setting read later where it is used (the numeric ones of ``extract.envvars``: fetch policy,
    writer lock, retention, partner file limits, Airflow retries; the fault rehearsal point; the gates'),
    checked now: ValueError naming the first bad variable and what it expects."""
    from expectations.runner import check_environment as check_gates
    from extract.envvars import check_all

    check_all(env)
    pause_point_setting(env)
    check_gates(env)


PAUSE_POINTS = ("publish",)


def pause_point_setting(env=None) -> tuple[str, float] | None:
    """``OBSERVATOIRE_PAUSE_AT=<point>:<seconds>`` (fault rehearsal: see ``pipeline.pause_point``), or None."""
    raw = ((os.environ if env is None else env).get("OBSERVATOIRE_PAUSE_AT") or "").strip()
    if not raw:
        return None
    point, _, seconds = raw.partition(":")
    try:
        wait = float(seconds) if seconds else 60.0
    except ValueError:
        wait = -1.0
    if point not in PAUSE_POINTS or not 0 <= wait < float("inf"):
        raise ValueError(f"OBSERVATOIRE_PAUSE_AT must be <point>:<seconds> with a point among "
                         f"{', '.join(PAUSE_POINTS)} and seconds 0 or more (e.g. publish:30), got {raw!r}")
    return point, wait
