"""Retention: the landed versions kept per source and millésime; the others' files are deleted, their history
rows kept."""

from __future__ import annotations

import json

from observatoire.config import Settings
from observatoire.run.context import Context


def protected_sha256(settings: Settings) -> set[str]:
    """The input files an annual snapshot refers to: never pruned (an edition must stay reproducible)."""
    out: set[str] = set()
    snapshots = settings.data_dir / "snapshots"
    for manifest in snapshots.glob("*/manifest.json") if snapshots.exists() else []:
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for src in doc.get("sources", []):
            if src.get("sha256"):
                out.add(src["sha256"])
    return out


def prune_raw(ctx: Context, run_id: str) -> list[str]:
    """Keep the ``OBSERVATOIRE_RETENTION`` most recently seen landings of each source and millésime, the current
    accepted one and every one a snapshot refers to; delete the others' files (raw, parsed, derived) and mark
    them ``purged`` in the manifest (the history row stays)."""
    keep_n = ctx.settings.retention
    protected = protected_sha256(ctx.settings)
    current = {(r["source_id"], r["millesime"], r["sha256"]) for r in ctx.history.current_landings()}
    pairs = {(r["source_id"], r["millesime"]) for r in ctx.history.query(
        "SELECT DISTINCT source_id, millesime FROM manifest WHERE status <> 'purged'")}
    removed = []
    for source_id, millesime in sorted(pairs):
        for i, landing in enumerate(ctx.history.landings(source_id, millesime)):
            key = (source_id, millesime, landing["sha256"])
            if i < keep_n or key in current or landing["sha256"] in protected:
                continue
            folder = (ctx.settings.data_dir / landing["raw_path"]).parent
            for path in folder.glob(f"{landing['sha256']}*"):
                path.chmod(0o644)
                path.unlink(missing_ok=True)
            ctx.history.set_landing_status(source_id, millesime, landing["sha256"], "purged",
                                           {"purged_by": run_id, "retention": keep_n})
            removed.append(f"{source_id}/{millesime}/{landing['sha256'][:12]}")
    if removed:
        ctx.history.step(run_id, "retention", "raw", "done", f"{len(removed)} old version(s) removed")
    return removed
