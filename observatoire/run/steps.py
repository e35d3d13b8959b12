"""The run's steps, each once: start, plan, extract, raw gate, build, mart gate, publish, finish.

Both drivers call these functions and nothing else to sequence a run: the command line's conductor
(:mod:`observatoire.run.conductor`, one process holding the writer lock from start to finish) and the Airflow
tasks (:mod:`observatoire.tasks`, one step per task, each writing step under the lock). The rules of a run live
here, once: the « contours first » plan, the « unchanged » rule (:func:`build`), the build handshake (the build
warehouse belongs to the run that built it: :func:`mart_gate` and :func:`publish` refuse another run's), the run's
report and its final status (:func:`finish`).

What a step needs from earlier steps it reads from the run history (the run's params, its steps) or from the
small values it is handed (run id, planned items, landings): an Airflow task runs in another process than the
step before it. The work itself is in the rooms beside this module, one per job: :mod:`.planning`,
:mod:`.extraction` (fetch → parse → land, quarantine), :mod:`.raw_validation`, :mod:`.fingerprinting`,
:mod:`.building` (load with the spatial joins, dbt), :mod:`.mart_validation`, :mod:`.publication`,
:mod:`.reports`, :mod:`.retention`, on the :class:`~.context.Context` of the data directory.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from observatoire import progress
from observatoire.config import Settings
from observatoire.errors import PipelineError
from observatoire.run import (
    building,
    extraction,
    fingerprinting,
    mart_validation,
    planning,
    publication,
    raw_validation,
    reports,
    retention,
)
from observatoire.run.context import Context

log = logging.getLogger("observatoire")

#: The steps in the order a run calls them (plan, extract and raw_gate: once for the ANCT contours, then for
#: the other sources). ``tests/dags/test_conductor_order.py`` checks both drivers follow it.
STEPS = ("start", "plan", "extract", "raw_gate", "build", "mart_gate", "publish", "finish")

BUILD_OWNER = "build_owner.json"  # meta/: which run built the build warehouse, and from what (its fingerprint)
PUBLISHED = "published.json"  # meta/runs/<run_id>/: what the publish step published


@dataclass(frozen=True)
class RunRequest:
    """What a run is asked to do (``observatoire run`` options, the nightly DAG's params)."""

    sources: list[str] | None = None
    millesime: int | None = None
    force: bool = False
    accept_breaks: dict[str, str] | None = None
    trigger: str = "cli"
    external_id: str | None = None  # the orchestrator's own run id

    def params(self) -> dict:
        """As recorded in the run history (and read back by the later steps)."""
        out = {"sources": self.sources, "millesime": self.millesime, "force": self.force}
        if self.accept_breaks:
            out["accept_breaks"] = dict(self.accept_breaks)
        if self.external_id:
            out["external_id"] = self.external_id
        return out


@dataclass
class RunResult:
    run_id: str
    status: str  # published | unchanged | failed
    sources: list[dict] = field(default_factory=list)
    published: dict | None = None
    message: str = ""
    warnings: list[dict] = field(default_factory=list)  # the gates' checks that only warned (run_warnings)
    report: Path | None = None


def params(ctx: Context, run_id: str) -> dict:
    """The run's request, as :func:`start` recorded it."""
    run = ctx.history.get_run(run_id)
    return json.loads(run["params"] or "{}") if run else {}


# -- start -------------------------------------------------------------------------------------------------

def start(settings: Settings, request: RunRequest, *, on_checked: Callable[[Context], None] | None = None) -> str:
    """Check the request and the data directory, then record the run; returns its id.

    Refused before anything is recorded: a lost history (naming ``observatoire repair``), a request no run could
    carry out (:class:`observatoire.errors.RunRequestError`), a data directory holding the other mode's data
    (:class:`observatoire.datamode.DataModeError`). ``on_checked`` is called once the checks passed, before the
    run is recorded (the command line takes the writer lock there, for the whole run)."""
    from observatoire.datamode import check_data_mode
    from observatoire.history import new_run_id
    from observatoire.repair import check_history

    check_history(settings)  # lost (missing, unreadable, emptied): refused, naming `observatoire repair`
    ctx = Context.create(settings)
    planning.check_request(ctx.registry, sources=request.sources, millesime=request.millesime,
                           history=ctx.history)
    planning.check_breaks(ctx.registry, request.accept_breaks, request.sources)
    run_id = new_run_id()
    check_data_mode(ctx.settings, trigger=request.trigger, run_id=run_id)  # demo and live never mix
    if on_checked is not None:
        on_checked(ctx)
    return ctx.history.start_run(mode=settings.mode, perimetre=settings.perimetre, trigger=request.trigger,
                                 params=request.params(), run_id=run_id)


# -- plan, extract, raw gate -------------------------------------------------------------------------------

def plan(ctx: Context, run_id: str, *, referentiel: bool) -> list[dict]:
    """The (source, millésime) items of the run (:func:`observatoire.run.planning.plan`): ``referentiel`` True, the
    ANCT contours' (extracted and gated first: the perimeter's QPV and requests come from them); False, the
    others."""
    from observatoire.perimetre import CONTOURS_SOURCE

    p = params(ctx, run_id)
    items = planning.plan(ctx, sources=p.get("sources") or None, millesime=p.get("millesime"))
    return [it for it in items if (it["source_id"] == CONTOURS_SOURCE) == referentiel]


def extract(ctx: Context, run_id: str, items: list[dict]) -> list[dict]:
    """Fetch, parse and land each item (:func:`observatoire.run.extraction.extract_source`). A source's failure is
    its result's ``status`` (``failed``, with ``error``), never an exception: the other sources go on."""
    force = bool(params(ctx, run_id).get("force"))
    rep = progress.current()
    out = []
    for it in items:
        rep.source_started(it["source_id"], it["millesime"])
        out.append(extraction.extract_source(ctx, run_id, it["source_id"], it["millesime"], target=it.get("target"),
                                           force=force))
        rep.source_done(out[-1])
    return out


def raw_gate(ctx: Context, run_id: str, landings: list[dict], *, render_docs: bool = True) -> list[dict]:
    """The raw gate of the newly landed files (several suites at once); a file that fails is quarantined (its
    ``status`` becomes ``quarantined``, its summary is under ``validation`` and ``gate``). Returns the landings.
    ``render_docs`` False: the caller renders the Data Docs (the command line does it while dbt builds)."""
    from expectations.runner import build_docs

    new = [r for r in landings if r["status"] == "new"]
    breaks = params(ctx, run_id).get("accept_breaks") or {}
    gated = raw_validation.validate_landings(ctx, run_id, new, accept_breaks=breaks) if new else []
    rep = progress.current()
    for r, summary in zip(new, gated, strict=True):
        r["validation"] = {k: summary[k] for k in ("success", "failed", "errors", "warnings")}
        if not summary["success"]:
            r["status"] = "quarantined"
            r["gate"] = summary
            rep.source_done(r)  # its line again, with the gate's verdict
    if render_docs and new:
        build_docs(raw_validation.gx_root(ctx.settings))
    return landings


def check_loads(ctx: Context, run_id: str, landings: list[dict], *, write_report: bool = True) -> None:
    """Raise :class:`PipelineError` (stage ``extract`` or ``raw_gate``) when a source failed to load or was
    quarantined: one line per source, then one diagnosis (no network? proxy?). ``write_report``: the run's report
    says the same (an Airflow task checks one source: :func:`finish` writes the run's report from every task)."""
    from expectations.runner import format_failures
    from extract.diagnosis import short_url, summarize_fetch_failures

    failed = [r for r in landings if r["status"] == "failed"]
    gate_failures = [r["gate"] for r in landings if r["status"] == "quarantined" and r.get("gate")]
    if not failed and not gate_failures:
        return
    messages = [r["error"]["message"] for r in failed]  # the full text: history, Airflow, report
    report_parts: list[str] = []
    console_parts: list[str] = []
    if failed:
        console, report_text = summarize_fetch_failures(
            failed, succeeded=[r for r in landings if r["status"] != "failed"])
        console_parts.append(console)
        report_parts.append(report_text.rstrip())
    for s in gate_failures:
        head = (f"[{s['source_id']}] millésime {s['millesime']} failed its raw gate and was quarantined "
                f"(file {s['sha256'][:12]}…")
        detail = format_failures(s)
        messages.append(f"{head}, URL {s.get('url')}):\n{detail}")
        report_parts.append(messages[-1])
        console_parts.append(f"{head}, {short_url(s.get('url') or '')}):\n{detail}")
    stage = "raw_gate" if gate_failures else "extract"
    report = reports.failure_report(ctx, run_id, stage, "\n\n".join(report_parts)) if write_report else None
    title = f"{len(failed) + len(gate_failures)} source load(s) failed; nothing was published"
    raise PipelineError(stage, f"{title}\n" + "\n\n".join(messages), run_id=run_id, details_path=report,
                        console=f"{title}\n" + "\n\n".join(console_parts))


# -- build ---------------------------------------------------------------------------------------------------

def build(ctx: Context, run_id: str) -> dict:
    """Load the raw schema of the build warehouse and run ``dbt build``; returns ``{"status": "built"}`` with
    the fingerprint and the rows loaded, or ``{"status": "unchanged"}`` when the inputs and the code are those of
    the last publication and it is sound (nothing to publish: :func:`finish` ends the run as unchanged; the
    run's ``force`` param builds anyway). Records which run built the warehouse (the build handshake)."""
    from observatoire.warehouse import recover

    for action in recover(ctx.settings):  # a killed run's leftovers, partial downloads, a damaged file
        ctx.history.step(run_id, "recover", "warehouse", "done", action)
    fingerprinting.check_published_not_locked(ctx)  # an analyst's read-write connection: stop clearly
    fp = fingerprinting.fingerprint(ctx)
    if not params(ctx, run_id).get("force") and fingerprinting.is_unchanged(ctx, fp):
        ctx.history.step(run_id, "dbt", "build", "skipped", "inputs and code unchanged")
        return {"status": "unchanged", "fingerprint": fp}
    counts = building.load(ctx, run_id)
    building.build(ctx, run_id)
    (ctx.settings.meta_dir / BUILD_OWNER).write_text(json.dumps({"run_id": run_id, "fingerprint": fp}))
    return {"status": "built", "fingerprint": fp, "raw_rows": counts}


def _owned_build(ctx: Context, run_id: str, stage: str) -> str:
    """The fingerprint of the build warehouse when this run built it; raises when another run rebuilt it since."""
    try:
        owner = json.loads((ctx.settings.meta_dir / BUILD_OWNER).read_text())
    except (OSError, ValueError):
        owner = {}
    if owner.get("run_id") != run_id:
        raise PipelineError(stage, f"the build warehouse was rebuilt by run {owner.get('run_id')} after run "
                            f"{run_id} built it; re-run instead of publishing someone else's build", run_id=run_id)
    return owner["fingerprint"]


# -- mart gate, publish ------------------------------------------------------------------------------------

def mart_gate(ctx: Context, run_id: str) -> dict:
    """The marts' Great Expectations suites; raises (stage ``mart_gate``) when one fails. Returns each suite's
    verdict."""
    _owned_build(ctx, run_id, "mart_gate")
    summaries = mart_validation.validate_marts(ctx, run_id)
    return {s["suite"]: s["success"] for s in summaries}


def publish(ctx: Context, run_id: str) -> dict:
    """Replace the published warehouse and its exports atomically, then load the optional PostgreSQL target.
    What was published is kept for :func:`finish` (``meta/runs/<run_id>/published.json``): a PostgreSQL failure
    raises (stage ``publish_postgres``) while the DuckDB publication stands."""
    fp = _owned_build(ctx, run_id, "publish")
    out = publication.publish(ctx, run_id, fp)
    record = ctx.run_dir(run_id) / PUBLISHED
    record.write_text(json.dumps({"fingerprint": fp, "published": out}, default=str), encoding="utf-8")
    out["postgres"] = publication.publish_postgres(ctx, run_id, run_id)
    record.write_text(json.dumps({"fingerprint": fp, "published": out}, default=str), encoding="utf-8")
    return out


# -- finish ------------------------------------------------------------------------------------------------

def _published(ctx: Context, run_id: str) -> tuple[dict | None, str | None]:
    try:
        doc = json.loads((ctx.run_dir(run_id) / PUBLISHED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    return doc.get("published"), doc.get("fingerprint")


def _summary(landings: list[dict] | None, published: dict | None, counts: dict | None = None) -> dict:
    return {
        "sources": [{k: r.get(k) for k in ("source_id", "millesime", "status", "sha256", "rows", "origin")}
                    for r in landings or []],
        "raw_rows": counts,
        "published": published,
    }


def finish(ctx: Context, run_id: str, error: BaseException | None = None, *, landings: list[dict] | None = None,
           built: dict | None = None) -> RunResult:
    """Record how the run ended, once, whichever driver ran it; write its report (``meta/runs/<id>/report.txt``).

    The outcome comes from ``error`` (what stopped the run, when the caller saw it) and from the run history (a
    step recorded ``failed``: an Airflow task that failed; the build step's ``unchanged``; the publication).
    Published: success. Unchanged: the old raw files are pruned and a PostgreSQL target behind the DuckDB
    publication is loaded again. Otherwise the run failed: this raises :class:`PipelineError` naming the stage
    and the report (a fault of the machine, such as a full disk, in one line: stage ``environment``)."""
    run = ctx.history.get_run(run_id) or {}
    if run.get("status") in ("success", "unchanged"):  # an orchestrator's retry of a finished run
        return RunResult(run_id, "published" if run["status"] == "success" else "unchanged",
                         report=Path(run["details_path"]) if run.get("details_path") else None)
    steps = ctx.history.steps(run_id)
    published, fp = _published(ctx, run_id)
    counts = (built or {}).get("raw_rows")
    failed_steps = [s for s in steps if s["status"] == "failed"]
    unchanged = any(s["step"] == "dbt" and s["status"] == "skipped" for s in steps)
    if error is None and not failed_steps and published:
        retention.prune_raw(ctx, run_id)
        message = f"published {published['path']} ({len(published.get('tables') or [])} tables)"
        report, warnings = reports.write_run_report(ctx, run_id, "published", message)
        ctx.history.finish_run(run_id, "success", summary=_summary(landings, published, counts)
                               | {"warnings": warnings}, fingerprint=fp, published=True, details_path=str(report))
        return RunResult(run_id, "published", landings or [], published, message, warnings, report)
    if error is None and not failed_steps and unchanged:
        summary = _summary(landings, None)
        retention.prune_raw(ctx, run_id)
        if publication.postgres_diverges(ctx):  # a failed PostgreSQL load: the publication loaded again
            summary["postgres"] = publication.publish_postgres(ctx, run_id)
        message = "inputs and code unchanged since the last publication: nothing new to publish"
        report, warnings = reports.write_run_report(ctx, run_id, "unchanged", message)
        ctx.history.finish_run(run_id, "unchanged", summary=summary | {"warnings": warnings},
                               fingerprint=(built or {}).get("fingerprint"), details_path=str(report))
        return RunResult(run_id, "unchanged", landings or [], None, message, warnings, report)
    if published:  # the DuckDB publication stands (a PostgreSQL failure): its raw files are pruned as usual
        retention.prune_raw(ctx, run_id)
    raise _failed(ctx, run_id, error, failed_steps, _summary(landings, published, counts), published, fp)


def _failed(ctx: Context, run_id: str, error: BaseException | None, failed_steps: list[dict], summary: dict,
            published: dict | None, fp: str | None) -> BaseException:
    """Record a failed run; returns the exception to raise."""
    if isinstance(error, PipelineError) or error is None:
        if error is None:  # an orchestrator's run: what its failed tasks recorded
            shown = failed_steps or [{"step": "run", "target": "",
                                      "message": "a task failed or was skipped before publish"}]
            text = "\n".join(f"{s['step']} {s['target']}: {s.get('message') or ''}" for s in shown)
            outcome = "failed after publishing DuckDB" if published else "failed; nothing was published"
            error = PipelineError(shown[0]["step"], f"run {run_id} {outcome}\n{text}")
        error.run_id = run_id
        report = ctx.run_dir(run_id) / "report.txt"
        if error.details_path is None and not (failed_steps and report.exists()):
            error.details_path = reports.failure_report(ctx, run_id, error.stage, str(error))
        error.details_path = error.details_path or report  # an orchestrator's: the failed task's own report
        ctx.history.finish_run(run_id, "failed", summary=summary | {"stage": error.stage}, error=str(error),
                               fingerprint=fp if published else None, published=bool(published),
                               details_path=str(error.details_path))
        return error
    from observatoire.failures import explain

    text = f"{error.__class__.__name__}: {error}\n\n{''.join(traceback.format_exception(error))}"
    why = explain(error, data_dir=ctx.settings.data_dir)  # the machine's fault: one line, no traceback
    stage = "environment" if why else "internal"
    details = None
    try:
        details = reports.failure_report(ctx, run_id, stage, (why + "\n\n" if why else "") + text)
        ctx.history.finish_run(run_id, "failed", summary=summary | {"stage": stage},
                               error=why or f"{error.__class__.__name__}: {error}", details_path=str(details),
                               fingerprint=fp if published else None, published=bool(published))
    except Exception as also:  # noqa: BLE001 - a full or read-only disk may refuse the record too
        log.error("the failed run %s could not be recorded: %s", run_id, also)
    if why:
        out = PipelineError(stage, why, run_id=run_id, details_path=details)
        out.__cause__ = error
        return out
    return error
