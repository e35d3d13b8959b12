"""``observatoire run``: the run's steps (:mod:`observatoire.run.steps`) in one process, under one writer lock.

The lock is taken once the request is checked and held until the run is recorded as ended; the raw gate's
Data Docs are rendered on a thread while the build step loads and waits for dbt (the mart gate starts once
they are written: one writer of the Great Expectations project at a time).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from observatoire import progress
from observatoire.config import Settings, load_settings
from observatoire.perimetre import CONTOURS_SOURCE
from observatoire.run import steps
from observatoire.run.context import Context
from observatoire.run.raw_validation import gx_root
from observatoire.run.steps import RunRequest, RunResult

log = logging.getLogger("observatoire")


def _log_docs_failure(future) -> None:
    if future.exception() is not None:
        log.error("the raw gate's Data Docs could not be rendered: %s", future.exception())


def land(ctx: Context, run_id: str, items: list[dict], *, defer_docs: bool = False) -> list[dict]:
    """Extract every planned item, the ANCT contours first, and gate the new landings; raise if any source
    failed (after all ran: :func:`observatoire.run.steps.check_loads`). The gate's Data Docs are rendered before
    returning or raising, unless ``defer_docs`` and every source passed (the caller then renders them)."""
    from expectations.runner import build_docs

    contours = [it for it in items if it["source_id"] == CONTOURS_SOURCE]
    others = [it for it in items if it["source_id"] != CONTOURS_SOURCE]
    rep = progress.current()
    landings: list[dict] = []
    rep.step_started("extract", total=len(items))
    try:
        for batch in (contours, others):  # the référentiel first
            landings += steps.raw_gate(ctx, run_id, steps.extract(ctx, run_id, batch), render_docs=False)
    finally:
        rep.step_finished("extract", None)
    try:
        steps.check_loads(ctx, run_id, landings)
    except BaseException:
        build_docs(gx_root(ctx.settings))
        raise
    if not defer_docs:
        build_docs(gx_root(ctx.settings))
    return landings


def run(
    settings: Settings | None = None,
    *,
    sources: list[str] | None = None,
    millesime: int | None = None,
    force: bool = False,
    trigger: str = "cli",
    accept_breaks: dict[str, str] | None = None,
) -> RunResult:
    """One full run. Raises :class:`observatoire.errors.PipelineError` (after recording the failure); a usage
    error (:class:`observatoire.errors.RunRequestError`, a data directory of the other mode) before recording
    anything."""
    from expectations.runner import build_docs, discard_pending
    from observatoire.locking import writer_lock

    settings = (settings or load_settings()).install()
    request = RunRequest(sources=sources, millesime=millesime, force=force, accept_breaks=accept_breaks,
                         trigger=trigger)
    rep = progress.current()
    with ExitStack() as held:
        def take_lock(ctx: Context) -> None:  # the request is sound: wait for the writer lock, then clean up
            rep.step_started("lock", detail="waiting for the data directory's writer lock")
            held.enter_context(writer_lock(ctx.settings.lock_path, "observatoire run"))
            rep.step_finished("lock", None)
            discard_pending(gx_root(ctx.settings))  # an earlier run of this process may have failed mid-gate
            ctx.history.abandon_stale_runs()  # we hold the lock: a run still "running" is dead

        run_id = steps.start(settings, request, on_checked=take_lock)
        ctx = Context.create(settings)
        landings: list[dict] = []
        built: dict | None = None
        try:
            items = steps.plan(ctx, run_id, referentiel=True) + steps.plan(ctx, run_id, referentiel=False)
            landings = land(ctx, run_id, items, defer_docs=True)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="data-docs") as docs:
                raw_docs = docs.submit(build_docs, gx_root(ctx.settings))
                raw_docs.add_done_callback(_log_docs_failure)  # seen even if the build fails first
                built = steps.build(ctx, run_id)
                raw_docs.result()
            if built["status"] == "built":
                steps.mart_gate(ctx, run_id)
                steps.publish(ctx, run_id)
        except BaseException as err:
            steps.finish(ctx, run_id, err, landings=landings, built=built)  # records the failure, raises
            raise
        return steps.finish(ctx, run_id, landings=landings, built=built)
