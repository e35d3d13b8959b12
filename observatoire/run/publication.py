"""Publish: the build warehouse becomes the published one (atomic switch, Parquet exports, site), then the
optional PostgreSQL target."""

from __future__ import annotations

import logging

from observatoire import progress
from observatoire.config import PROJECT_ROOT
from observatoire.errors import PipelineError
from observatoire.run.context import Context

log = logging.getLogger("observatoire")


def pause_point(name: str) -> None:
    """Fault injection for operators and tests: ``OBSERVATOIRE_PAUSE_AT=<name>:<seconds>`` makes the run sleep
    at that point (``publish`` = the new file is written, just before it replaces the published one), so a
    crash there can be rehearsed (the value is checked with the settings). Does nothing otherwise."""
    import time

    from observatoire.config import current_settings

    spec = current_settings().pause_at
    if spec and spec[0] == name:
        log.warning("pausing %g s at %s (OBSERVATOIRE_PAUSE_AT)", spec[1], name)
        time.sleep(spec[1])


def publish(ctx: Context, run_id: str, fp: str) -> dict:
    from observatoire.warehouse import publish as publish_files

    ctx.history.step(run_id, "publish", "warehouse", "running")
    run = ctx.history.get_run(run_id) or {}
    publication = {
        "run_id": run_id,
        "mode": ctx.settings.mode,
        "donnees_synthetiques": ctx.settings.mode == "demo",
        "perimetre": ctx.settings.perimetre,
        "fingerprint": fp,
        "started_at": run.get("started_at"),
        "git_commit": git_commit(),
    }
    meta = ctx.history.export_tables()
    # the run publishing is recorded as it will end: published
    for r in meta["runs"]:
        if r["run_id"] == run_id:
            r.update(status="success", published=1, fingerprint=fp)
    rep = progress.current()
    rep.step_started("publish", detail="writing the new file and its Parquet exports")

    def before_replace(_tmp) -> None:
        rep.step_progress("publish", detail="replacing the published file")
        pause_point("publish")

    try:
        out = publish_files(ctx.settings, version=run_id, publication=publication, meta_tables=meta,
                            before_replace=before_replace)
    except BaseException:
        rep.step_finished("publish", None)
        raise
    ctx.history.step(run_id, "publish", "warehouse", "done", out["path"])
    rep.step_finished("publish", f"{len(out.get('tables') or [])} tables in {out['path']}")
    return out


def publish_postgres(ctx: Context, run_id: str, version: str | None = None) -> dict | None:
    """The optional PostgreSQL target (``OBSERVATOIRE_PG_DSN``): load the published DuckDB file into
    ``observatoire_<version>`` and swap it in (observatoire/postgres.py). None when not configured. Raises
    :class:`PipelineError` at stage ``publish_postgres``: the previous PostgreSQL version is still served, the
    DuckDB publication stands."""
    from observatoire import postgres
    from observatoire.warehouse import published_version

    dsn = postgres.pg_dsn()
    if not dsn:
        return None
    version = version or published_version(ctx.settings)
    if not version:
        return None
    ctx.history.step(run_id, "publish_postgres", "postgres", "running")
    rep = progress.current()
    rep.step_started("publish_postgres", detail=f"loading {version} into PostgreSQL")
    try:
        out = postgres.publish_file(dsn, ctx.settings.published_db, version)
    except Exception as err:
        rep.step_finished("publish_postgres", None)
        message = (f"the DuckDB publication {version} stands, but PostgreSQL still serves its previous version: "
                   f"{err}")
        ctx.history.step(run_id, "publish_postgres", "postgres", "failed", message)
        raise PipelineError("publish_postgres", message) from err
    text = (f"{len(out['tables'])} tables in schema {out['schema']} (behind `observatoire`), "
            f"loaded in {out['load_seconds']} s")
    ctx.history.step(run_id, "publish_postgres", "postgres", "done", text)
    rep.step_finished("publish_postgres", text)
    return out


def postgres_diverges(ctx: Context) -> str | None:
    """When PostgreSQL is configured and does not serve the DuckDB publication's version: why (else None)."""
    from observatoire import postgres
    from observatoire.warehouse import published_version

    dsn = postgres.pg_dsn()
    if not dsn:
        return None
    duck = published_version(ctx.settings)
    try:
        pg = postgres.current_version(dsn)
    except Exception as err:  # noqa: BLE001 - unreachable: the load will say it
        return f"PostgreSQL unreachable: {err}"
    return None if pg == duck else f"PostgreSQL serves {pg}, DuckDB {duck}"


def git_commit() -> str | None:
    head = PROJECT_ROOT / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref_path = PROJECT_ROOT / ".git" / ref[5:]
            if ref_path.exists():
                return ref_path.read_text().strip()
            packed = PROJECT_ROOT / ".git" / "packed-refs"
            for line in packed.read_text().splitlines() if packed.exists() else []:
                if line.endswith(ref[5:]):
                    return line.split()[0]
            return None
        return ref
    except OSError:
        return None
