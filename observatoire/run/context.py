"""What every piece of a run works on: the data directory's settings, its history and the source registry."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from extract.registry import Source, load_registry
from observatoire.config import Settings, load_settings
from observatoire.history import History

log = logging.getLogger("observatoire")


STAGES = ("extract", "raw_gate", "load", "dbt", "mart_gate", "publish")


@dataclass
class Context:
    settings: Settings
    history: History
    registry: dict[str, Source]

    @classmethod
    def create(cls, settings: Settings | None = None) -> Context:
        settings = (settings or load_settings()).install()  # the run's settings are the ones extract and gates use
        settings.ensure_dirs()
        return cls(settings=settings, history=History(settings.history_db), registry=load_registry())

    def run_dir(self, run_id: str) -> Path:
        d = self.settings.meta_dir / "runs" / run_id
        d.mkdir(parents=True, exist_ok=True)
        return d


def _rel(ctx: Context, path: Path) -> str:
    """Paths in the manifest are relative to the data directory, so the directory can move."""
    return str(path.relative_to(ctx.settings.data_dir))


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_or_empty(text) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
