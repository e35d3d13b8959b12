"""What a publication is made of (inputs, code, settings) as one fingerprint: the « unchanged » rule compares it
with the published one."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from observatoire.config import DBT_PROJECT_DIR, PROJECT_ROOT
from observatoire.errors import PipelineError
from observatoire.run.context import Context


def _code_fingerprint() -> str:
    h = hashlib.sha256()
    roots = [DBT_PROJECT_DIR / "models", DBT_PROJECT_DIR / "seeds", DBT_PROJECT_DIR / "macros",
             DBT_PROJECT_DIR / "tests", PROJECT_ROOT / "expectations", PROJECT_ROOT / "observatoire",
             PROJECT_ROOT / "extract"]
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for root in roots:
        files += [p for p in root.rglob("*") if p.is_file() and p.suffix in (".sql", ".yml", ".csv", ".py", ".html", ".css")
                  and "recordings" not in p.parts and "__pycache__" not in p.parts]
    for p in sorted(files):
        h.update(str(p.relative_to(PROJECT_ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def fingerprint(ctx: Context) -> str:
    inputs = [(r["source_id"], r["millesime"], r["sha256"]) for r in ctx.history.current_landings()]
    # the partner files in force (observatoire/partenaires): an import makes the next run publish
    partenaires = [(r["indicateur"], r["millesime"], r["sha256"]) for r in ctx.history.current_partner_files()]
    doc = {"inputs": inputs, "partenaires": partenaires, "code": _code_fingerprint(), "mode": ctx.settings.mode,
           "perimetre": ctx.settings.perimetre, "year": datetime.now(UTC).year}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def check_published_not_locked(ctx: Context) -> None:
    """An analyst's read-write connection on the published file: stop clearly (recorded) before any work."""
    from observatoire.failures import explain
    from observatoire.warehouse import published_state

    state, why = published_state(ctx.settings)
    if state == "locked":
        raise PipelineError("environment", explain(RuntimeError(why)) or why)


def is_unchanged(ctx: Context, fp: str) -> bool:
    from observatoire.warehouse import published_state

    if published_state(ctx.settings, ctx.history)[0] != "ok":  # damaged or missing: rebuild and publish again
        return False
    return _same_fingerprint(ctx, fp)


def _same_fingerprint(ctx: Context, fp: str) -> bool:
    last = ctx.history.last_published_run()
    return bool(last and last["fingerprint"] == fp and ctx.settings.published_db.exists())
