"""Settings read from the environment, in one place: :func:`load_settings` builds one pydantic-settings object
(:class:`Settings`) when a command, a DAG task or a DAG file starts, checks every variable with one set of rules
(the number rule of ``extract.settings``) and installs it for ``extract`` and ``expectations``, which never read
the environment themselves. Code of ``observatoire`` gets it passed down (``ctx.settings``) or, where no caller
holds it, from :func:`current_settings`.

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
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from expectations import settings as gate_settings
from expectations.settings import GateSettings
from extract import settings as extract_settings
from extract.settings import (
    ENV_PREFIX,
    GATHERED,
    NO_PROXY,
    PROXY_VARIABLES,
    URL_OVERRIDE_PREFIX,
    ExtractSettings,
    number,
    variable,
)

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


def _data_dir(raw: Any) -> Path:
    data_dir = Path(str(raw).strip() or "data").expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ValueError(f"OBSERVATOIRE_DATA_DIR={str(data_dir)!r} is a file: expected a data directory "
                         "(an existing one, or a path where one can be created)")
    return data_dir


def _mode(raw: Any) -> str:
    mode = str(raw).strip().lower()
    if mode not in MODES:
        raise ValueError(f"OBSERVATOIRE_MODE={mode!r} is not a valid mode: expected one of {', '.join(MODES)} "
                         "(demo = the project's offline recordings, live = the publishers' URLs)")
    return mode


def _perimetre(raw: Any) -> str:
    kind, code = parse_perimetre(str(raw))
    return kind if code is None else f"{kind}:{code}"


PAUSE_POINTS = ("publish",)


def _pause_at(raw: Any) -> tuple[str, float] | None:
    """``<point>:<seconds>`` (fault rehearsal: see ``observatoire.run.publication.pause_point``), or None."""
    if raw is None or isinstance(raw, tuple):
        return raw
    text = str(raw).strip()
    if not text:
        return None
    point, _, seconds = text.partition(":")
    try:
        wait = float(seconds) if seconds else 60.0
    except ValueError:
        wait = -1.0
    if point not in PAUSE_POINTS or not 0 <= wait < float("inf"):
        raise ValueError(f"OBSERVATOIRE_PAUSE_AT must be <point>:<seconds> with a point among "
                         f"{', '.join(PAUSE_POINTS)} and seconds 0 or more (e.g. publish:30), got {text!r}")
    return point, wait


PG_DSN_EXPECTED = ("a libpq connection string (e.g. 'host=db dbname=observatoire user=pipeline' or "
                   "'postgresql://pipeline@db/observatoire')")


def _pg_dsn(raw: Any) -> str | None:
    """The optional PostgreSQL publish target (observatoire/postgres.py); the password comes from the environment
    (PGPASSWORD) or a .pgpass / PGPASSFILE, never from a file of the repository."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        return None
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(text)
    except Exception:  # noqa: BLE001 - psycopg.ProgrammingError: its text may repeat the password
        raise ValueError(f"OBSERVATOIRE_PG_DSN must be {PG_DSN_EXPECTED}; the value set does not parse") from None
    return text


def _text(raw: Any) -> str | None:
    text = str(raw).strip() if raw is not None else ""
    return text or None


Text = Annotated[str | None, BeforeValidator(_text)]

#: the environment the next :func:`load_settings` reads (the process's unless it is given one)
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("observatoire_environ", default=None)


_GATHERED_VARIABLES = {variable(name) for name in GATHERED}


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping (default: the process environment)."""

    def _load_env_vars(self):
        environ = _ENVIRON.get()
        environ = os.environ if environ is None else environ
        # a blank value is an unset one: the default; the gathered fields come from variables of their own names
        # (load_settings), never from OBSERVATOIRE_URL_OVERRIDES & co.
        ours = {k: v.strip() for k, v in environ.items() if k.upper().startswith(ENV_PREFIX) and v.strip()
                and k.upper() not in _GATHERED_VARIABLES}
        return parse_env_vars(ours, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class Settings(BaseSettings, ExtractSettings, GateSettings):
    """Every setting of the project, read once from the environment by :func:`load_settings` and passed down:
    the field ``lock_timeout`` is the variable ``OBSERVATOIRE_LOCK_TIMEOUT``. The fetch limits
    (:class:`extract.settings.ExtractSettings`) and the gates' (:class:`expectations.settings.GateSettings`)
    are part of it; those two packages read them from the object :meth:`install` hands them."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    data_dir: Annotated[Path, BeforeValidator(_data_dir)] = Field(default="data", validate_default=True)
    mode: Annotated[str, BeforeValidator(_mode)] = DEFAULT_MODE
    perimetre: Annotated[str, BeforeValidator(_perimetre)] = DEFAULT_PERIMETRE
    #: fault rehearsal: stop for a while before a step (``publish:30``)
    pause_at: Annotated[tuple[str, float] | None, BeforeValidator(_pause_at)] = None
    #: how long a writing command waits for the writer lock
    lock_timeout: number("seconds", 0) = 3600.0
    #: versions kept: landed files per source and millésime, PostgreSQL schemas
    retention: number("versions", 1, integer=True) = 3
    partenaires_max_bytes: number("bytes", 1, integer=True) = 10 * 1024**2
    partenaires_max_unzipped_bytes: number("bytes", 1, integer=True) = 50 * 1024**2
    #: who partners contact, printed on the templates (default: the observatory's team)
    partenaires_contact: Text = None
    #: Airflow: retries of a task and the first delay (exponential backoff)
    task_retries: number("retries", 0, integer=True) = 2
    retry_delay_seconds: number("seconds", 0, integer=True) = 120
    #: processes computing the computed baromètres' grid batches at once; 0 = one per core, at most 4
    calcul_workers: number("processes", 0, integer=True) = 0
    pg_dsn: Annotated[str | None, BeforeValidator(_pg_dsn)] = Field(default=None, repr=False)
    #: how long the PostgreSQL swap may wait for readers' open transactions on the views
    pg_swap_timeout: number("seconds", 0) = 600.0
    #: where a failed run is reported (besides the Airflow connection ``observatoire_webhook``)
    webhook_url: Text = Field(default=None, repr=False)
    #: the snapshot signing key's file (``observatoire snapshot keygen``)
    signing_key: Text = None

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, _EnvironSource(settings_cls)

    def install(self) -> Settings:
        """Hand the settings to ``extract`` and ``expectations`` (which never read the environment), and switch
        Great Expectations' usage analytics off for this process (unless the environment says otherwise).
        Returns ``self``."""
        global _installed
        extract_settings.install(self)
        gate_settings.install(self)
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        _installed = self
        return self

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


_installed: Settings | None = None


def current_settings() -> Settings:
    """The settings the entry point loaded (:func:`load_settings`), read from the environment if none has."""
    return _installed if _installed is not None else load_settings()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Every setting, read from ``environ`` (default: the process environment) and checked at once: a bad value
    raises :class:`ConfigError` naming the first bad variable and what it expects, so a command stops before it
    touches anything. Read from the process environment (an entry point), they are installed for ``extract`` and
    ``expectations`` (:meth:`Settings.install`); from a given mapping, they are only returned (a run installs
    its own: ``Context.create``)."""
    from extract.registry import load_registry

    env = os.environ if environ is None else environ
    api_key_names = {s.api_key_env for s in load_registry().values() if s.api_key_env}
    token = _ENVIRON.set(env)
    try:
        settings = Settings(**gathered(env, api_key_names))
    except ValidationError as err:
        raise ConfigError(_first_problem(err)) from None
    finally:
        _ENVIRON.reset(token)
    return settings.install() if environ is None else settings


def gathered(environ: Mapping[str, str], api_key_names: set[str]) -> dict[str, dict[str, str]]:
    """The settings held under variable names of their own: the URL overrides (``OBSERVATOIRE_URL_<ID>``), the
    credentials the registry names (a source's ``api_key_env``) and the proxy variables requests reads."""
    return {
        "url_overrides": {k: v.strip() for k, v in environ.items() if k.startswith(URL_OVERRIDE_PREFIX) and v.strip()},
        "api_keys": {k: environ[k] for k in api_key_names if environ.get(k)},
        "proxies": {k: v for name in (*PROXY_VARIABLES, NO_PROXY) for k in (name.lower(), name)
                    if (v := environ.get(k))},
    }


def _first_problem(err: ValidationError) -> str:
    """The message of the first refused setting (the checks above word them; pydantic's own otherwise)."""
    first = err.errors()[0]
    cause = (first.get("ctx") or {}).get("error")
    if cause is not None:
        return str(cause)
    name = variable(str(first["loc"][0])) if first.get("loc") else "a setting"
    return f"{name}: {first['msg']}, got {first.get('input')!r}"
