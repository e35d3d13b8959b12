"""Numeric settings read from the environment, each checked: a bad value is refused with a message naming the
variable, what it expects and what it got (``load_settings`` reads them all first, so a command stops before
touching anything)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping


def env_number(name: str, default: float, *, unit: str, minimum: float = 0.0, integer: bool = False,
               strict: bool = False, environ: Mapping[str, str] | None = None) -> float:
    """``environ[name]`` (default: the process environment) as a number ≥ ``minimum`` (> if ``strict``; a
    whole number if ``integer``), ``default`` when unset or empty; ValueError otherwise."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum or (strict and value == minimum):
        kind = "a whole number" if integer else "a number"
        bound = f"more than {minimum:g}" if strict else f"{minimum:g} or more"
        raise ValueError(f"{name} must be {kind} of {unit} ({bound}), got {raw!r}")
    return value
