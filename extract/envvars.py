"""Numeric settings read from the environment, each checked: a bad value is refused with a message naming the
variable, what it expects and what it got. ``load_settings`` checks them all first (``check_all``), so a
command stops before touching anything; each is then read where it is used (``setting``)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

# name: (default, unit, minimum, whole number, strictly above the minimum)
NUMERIC: dict[str, tuple[float, str, float, bool, bool]] = {
    "OBSERVATOIRE_HTTP_TIMEOUT": (60.0, "seconds", 0, False, True),
    "OBSERVATOIRE_HTTP_RETRIES": (4, "retries", 0, True, False),
    "OBSERVATOIRE_HTTP_BACKOFF": (2.0, "seconds", 0, False, False),
    "OBSERVATOIRE_HTTP_MAX_RETRY_AFTER": (300.0, "seconds", 0, False, False),
    "OBSERVATOIRE_MAX_BYTES": (2 * 1024**3, "bytes", 1, True, False),
    # a ZIP archive read from a source: uncompressed bytes over all members, number of members
    "OBSERVATOIRE_MAX_UNZIPPED_BYTES": (8 * 1024**3, "bytes", 1, True, False),
    "OBSERVATOIRE_MAX_ZIP_MEMBERS": (1000, "members", 1, True, False),
    # overall time for one file (a paged API: all its pages), besides the read timeout; 0 = no deadline
    "OBSERVATOIRE_HTTP_DEADLINE": (1800.0, "seconds", 0, False, False),
    "OBSERVATOIRE_LOCK_TIMEOUT": (3600.0, "seconds", 0, False, False),
    "OBSERVATOIRE_RETENTION": (3, "versions", 1, True, False),
    "OBSERVATOIRE_PARTENAIRES_MAX_BYTES": (10 * 1024**2, "bytes", 1, True, False),
    "OBSERVATOIRE_PARTENAIRES_MAX_UNZIPPED_BYTES": (50 * 1024**2, "bytes", 1, True, False),
    "OBSERVATOIRE_TASK_RETRIES": (2, "retries", 0, True, False),
    "OBSERVATOIRE_RETRY_DELAY_SECONDS": (120, "seconds", 0, True, False),
    # processes computing the computed baromètres' grid batches at once; 0 = one per core, at most 4
    "OBSERVATOIRE_CALCUL_WORKERS": (0, "processes", 0, True, False),
    # PostgreSQL publish target: how long the swap may wait for readers' open transactions on the views
    "OBSERVATOIRE_PG_SWAP_TIMEOUT": (600.0, "seconds", 0, False, False),
}

# text settings: name → what it expects (checked by :func:`check_text`)
TEXT: dict[str, str] = {
    # optional PostgreSQL publish target (observatoire/postgres.py); the password comes from the environment
    # (PGPASSWORD) or a .pgpass / PGPASSFILE, never from a file of the repository
    "OBSERVATOIRE_PG_DSN": "a libpq connection string (e.g. 'host=db dbname=observatoire user=pipeline' or "
                           "'postgresql://pipeline@db/observatoire')",
}


def env_number(name: str, default: float, *, unit: str, minimum: float = 0.0, integer: bool = False,
               strict: bool = False, environ: Mapping[str, str] | None = None) -> float:
    """``environ[name]`` (default: the process environment) as a number ≥ ``minimum`` (> if ``strict``; a
    whole number if ``integer``, written ``5``, ``5.0`` or ``5e0``), ``default`` when unset or empty;
    ValueError otherwise."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if integer and math.isfinite(value):
        value = int(value) if value.is_integer() else math.nan
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        kind = "a whole number" if integer else "a number"
        bound = f"more than {minimum:g}" if strict else f"{minimum:g} or more"
        raise ValueError(f"{name} must be {kind} of {unit} ({bound}), got {raw!r}")
    return value


def setting(name: str, environ: Mapping[str, str] | None = None):
    """One of the :data:`NUMERIC` settings."""
    default, unit, minimum, integer, strict = NUMERIC[name]
    return env_number(name, default, unit=unit, minimum=minimum, integer=integer, strict=strict, environ=environ)


def check_all(environ: Mapping[str, str] | None = None) -> None:
    """Every :data:`NUMERIC` setting, checked (ValueError naming the first bad one)."""
    for name in NUMERIC:
        setting(name, environ)
    for name in TEXT:
        check_text(name, environ)


def check_text(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """One of the :data:`TEXT` settings: its value (None when unset or empty), ValueError when malformed."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return None
    if name == "OBSERVATOIRE_PG_DSN":
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(raw)
        except Exception:  # noqa: BLE001 - psycopg.ProgrammingError: its text may repeat the password
            raise ValueError(f"{name} must be {TEXT[name]}; the value set does not parse") from None
    return raw
