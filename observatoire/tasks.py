"""The pipeline's steps as separate calls, for an orchestrator (the Airflow DAGs call these and nothing else).

Same functions as ``observatoire run`` (see :mod:`observatoire.pipeline`), split so that each Airflow task
does one thing and a failure shows on the task that failed. Everything passed between tasks is small and
JSON-serialisable (run id, source results). Steps that write the warehouse take the data directory's
writer lock themselves, on top of the Airflow pool.
"""

from __future__ import annotations

import json
import traceback

from observatoire import pipeline
from observatoire.locking import writer_lock
from observatoire.pipeline import Context, PipelineError

BUILD_OWNER = "build_owner.json"


def _ctx() -> Context:
    return Context.create()


def start(params: dict | None = None, *, trigger: str = "airflow", external_id: str | None = None) -> str:
    """Record a new run; returns its id. Raises :class:`observatoire.datamode.DataModeError` (recording nothing, so
    the task fails with the message and the run history shows no run) when the data directory holds the other
    mode's data: demo and live never share a data directory."""
    from observatoire.config import load_settings
    from observatoire.datamode import check_data_mode
    from observatoire.history import new_run_id
    from observatoire.repair import check_history

    check_history(load_settings())  # a lost history: refused (nothing recorded), naming `observatoire repair`
    ctx = _ctx()
    params = dict(params or {})
    if external_id:
        params["external_id"] = external_id
    breaks = {str(k): str(v) for k, v in (params.get("accept_breaks") or {}).items()}
    if breaks:  # a usage error found before any run is recorded, as on the command line
        pipeline.check_breaks(ctx.registry, breaks, params.get("sources") or None)
        params["accept_breaks"] = breaks
    else:
        params.pop("accept_breaks", None)
    run_id = new_run_id()
    check_data_mode(ctx.settings, trigger=trigger, run_id=run_id)
    return ctx.history.start_run(mode=ctx.settings.mode, perimetre=ctx.settings.perimetre, trigger=trigger,
                                 params=params, run_id=run_id)


def _started(run_id: str | None) -> str:
    """The run id handed over by the start task. The tasks that run whatever their upstream did (``plan``,
    ``finish``) get none when start failed (it then recorded no run, e.g. a data directory holding the other mode's
    data): a clear error, and nothing done."""
    if not run_id:
        raise PipelineError("start", "no observatoire run to continue: the start task failed before recording one "
                            "(its log says why); nothing was extracted, recorded or published")
    return run_id


def _params(ctx: Context, run_id: str) -> dict:
    run = ctx.history.get_run(run_id)
    return json.loads(run["params"] or "{}") if run else {}


def plan(run_id: str, *, referentiel: bool | None = None) -> list[dict]:
    """The (source, millésime) items of the run, from its params (``sources``, ``millesime``).
    ``referentiel`` True: only the ANCT contours' items; False: every other item; None: all."""
    from observatoire.perimetre import CONTOURS_SOURCE
    _started(run_id)
    ctx = _ctx()
    p = _params(ctx, run_id)
    items = pipeline.plan(ctx, sources=p.get("sources") or None, millesime=p.get("millesime"))
    if referentiel is not None:
        items = [it for it in items if (it["source_id"] == CONTOURS_SOURCE) == referentiel]
    return [{**it, "run_id": run_id, "force": bool(p.get("force"))} for it in items]


def referentiel(run_id: str) -> list[dict]:
    """Extract and gate the ANCT contours first: the perimeter's QPV (completeness checks) and the requests of a
    perimeter other than the default one are built from them. Raises if they failed."""
    return [load_source(item) for item in plan(run_id, referentiel=True)]


def extract(item: dict) -> dict:
    """Fetch, parse and land one (source, millésime). Raises if it failed, so the orchestrator marks this source's
    task failed while the other sources go on. Returns the landing (passed to :func:`validate`)."""
    ctx = _ctx()
    run_id = item["run_id"]
    result = pipeline.extract_source(ctx, run_id, item["source_id"], item["millesime"], target=item.get("target"),
                                     force=bool(item.get("force")))
    if result["status"] == "failed":
        raise PipelineError("extract", result["error"]["message"], run_id=run_id)
    return {**{k: v for k, v in result.items() if k != "error"}, "run_id": run_id}


def validate(result: dict) -> dict:
    """The raw gate of a newly landed file (nothing to do for an unchanged one). Raises if the file is
    quarantined."""
    run_id = result["run_id"]
    if result["status"] != "new":
        return {k: result.get(k) for k in ("source_id", "millesime", "status", "sha256", "rows")}
    from expectations.runner import build_docs, format_failures

    ctx = _ctx()
    breaks = _params(ctx, run_id).get("accept_breaks") or {}
    summary = pipeline.validate_landings(ctx, run_id, [result], accept_breaks=breaks)[0]
    build_docs(pipeline.gx_root(ctx.settings))
    if not summary["success"]:
        raise PipelineError("raw_gate", f"[{result['source_id']}] millésime {result['millesime']} failed its raw "
                            f"gate and was quarantined:\n{format_failures(summary)}", run_id=run_id)
    return {**{k: result.get(k) for k in ("source_id", "millesime", "status", "sha256", "rows")},
            "validation": {k: summary[k] for k in ("success", "failed", "errors", "warnings")}}


def load_source(item: dict) -> dict:
    """:func:`extract` then :func:`validate` in one call."""
    return validate(extract(item))


def build(run_id: str) -> dict:
    """Load the raw schema and run dbt, unless nothing changed since the last publication
    (returns ``{"status": "unchanged"}`` then, and the orchestrator skips the rest)."""
    ctx = _ctx()
    with writer_lock(ctx.settings.lock_path, f"build {run_id}"):
        from observatoire.warehouse import recover

        for action in recover(ctx.settings):  # as the CLI: a killed run's leftovers, a damaged file
            ctx.history.step(run_id, "recover", "warehouse", "done", action)
        pipeline._check_published_not_locked(ctx)  # an analyst's read-write connection: stop clearly
        fp = pipeline.fingerprint(ctx)
        force = bool(_params(ctx, run_id).get("force"))
        if not force and pipeline.is_unchanged(ctx, fp):
            ctx.history.step(run_id, "dbt", "build", "skipped", "inputs and code unchanged")
            return {"status": "unchanged", "fingerprint": fp}
        counts = pipeline.load(ctx, run_id)
        pipeline.build(ctx, run_id)
        (ctx.settings.meta_dir / BUILD_OWNER).write_text(json.dumps({"run_id": run_id, "fingerprint": fp}))
        return {"status": "built", "fingerprint": fp, "raw_rows": counts}


def _check_owner(ctx: Context, run_id: str) -> str:
    try:
        owner = json.loads((ctx.settings.meta_dir / BUILD_OWNER).read_text())
    except (OSError, ValueError):
        owner = {}
    if owner.get("run_id") != run_id:
        raise PipelineError("publish", f"the build warehouse was rebuilt by run {owner.get('run_id')} after run "
                            f"{run_id} built it; re-run instead of publishing someone else's build", run_id=run_id)
    return owner["fingerprint"]


def validate_marts(run_id: str) -> dict:
    ctx = _ctx()
    with writer_lock(ctx.settings.lock_path, f"validate marts {run_id}"):
        _check_owner(ctx, run_id)
        summaries = pipeline.validate_marts(ctx, run_id)
    return {s["suite"]: s["success"] for s in summaries}


def publish(run_id: str) -> dict:
    ctx = _ctx()
    with writer_lock(ctx.settings.lock_path, f"publish {run_id}"):
        fp = _check_owner(ctx, run_id)
        out = pipeline.publish(ctx, run_id, fp)
        pipeline.prune_raw(ctx, run_id)
        report, warnings = pipeline.write_run_report(ctx, run_id, "published", f"published {out['path']}")
        try:
            out["postgres"] = pipeline.publish_postgres(ctx, run_id, run_id)
        except pipeline.PipelineError as err:  # the DuckDB publication stands; the task (and the run) fail
            ctx.history.finish_run(run_id, "failed", summary={"published": out, "warnings": warnings,
                                                              "stage": err.stage}, error=str(err), fingerprint=fp,
                                   published=True, details_path=str(report))
            raise
        ctx.history.finish_run(run_id, "success", summary={"published": out, "warnings": warnings}, fingerprint=fp,
                               published=True, details_path=str(report))
    return out


def finish(run_id: str) -> dict:
    """Record how the run ended, from its steps; raises if it failed (so the orchestrator's run fails too)."""
    _started(run_id)
    ctx = _ctx()
    run = ctx.history.get_run(run_id) or {}
    steps = ctx.history.steps(run_id)
    if run.get("status") == "success":
        return {"run_id": run_id, "status": "success"}
    failed = [s for s in steps if s["status"] == "failed"]
    if not failed and any(s["step"] == "dbt" and s["status"] == "skipped" for s in steps):
        ctx.history.finish_run(run_id, "unchanged", summary={"steps": len(steps)})
        return {"run_id": run_id, "status": "unchanged"}
    if not failed:
        failed = [{"step": "run", "target": "", "message": "a task failed or was skipped before publish"}]
    text = "\n".join(f"{s['step']} {s['target']}: {s.get('message') or ''}" for s in failed)
    stage = failed[0]["step"]
    report = ctx.run_dir(run_id) / "report.txt"
    if not report.exists():
        report.write_text(f"stage: {stage}\n\n{text}\n", encoding="utf-8")
    ctx.history.finish_run(run_id, "failed", summary={"stage": stage}, error=text, details_path=str(report))
    raise PipelineError(stage, f"run {run_id} failed; nothing was published\n{text}\ndetails: {report}",
                        run_id=run_id, details_path=report)


def record_failure(run_id: str | None, task_id: str, error: BaseException) -> None:
    """Called by the orchestrator's failure callback: note the failing task in the run history."""
    if not run_id:
        return
    ctx = _ctx()
    msg = f"{error.__class__.__name__}: {error}" if error else "task failed"
    ctx.history.step(run_id, "task", task_id, "failed", msg + "\n" + "".join(traceback.format_exception(error))[-2000:]
                     if isinstance(error, BaseException) else msg)


def snapshot_create(edition: int, correction: str | None = None, *, skip_if_exists: bool = False,
                    demo: bool = False) -> dict:
    """Create an annual snapshot (see :mod:`observatoire.snapshot`); returns its version, path and file count.

    ``skip_if_exists`` (the yearly schedule): an edition that exists is reported as ``exists`` instead of
    raising, since a scheduled run must not fail because someone created the edition by hand. ``demo``: like
    ``snapshot create --demo``, allow an edition of a demo publication (marked as such in every file); without
    it a demo publication is refused (:class:`observatoire.snapshot.SnapshotDemoRefused`): a live deployment never
    holds demo data. Signed when ``OBSERVATOIRE_SIGNING_KEY`` is set in the worker's environment (an unusable key:
    :class:`observatoire.snapshot.SigningKeyError`, nothing written)."""
    from observatoire.config import load_settings
    from observatoire.snapshot import SnapshotExists, create

    settings = load_settings()
    try:
        snap = create(settings, int(edition), correction, demo=bool(demo))
    except SnapshotExists as err:
        if skip_if_exists and correction is None:
            return {"status": "exists", "version": str(edition), "message": str(err)}
        raise
    signature = snap.manifest.get("signature") or {}
    return {"status": "created", "version": snap.version, "path": str(snap.path),
            "files": len(snap.manifest["files"]), "run_id": snap.manifest.get("run_id"),
            "demo": bool(snap.manifest.get("donnees_demonstration")),
            "signed": bool(signature.get("signed")), "key_fingerprint": signature.get("key_fingerprint")}


def snapshot_verify(version: str, public_key: str | None = None) -> dict:
    """Recompute every hash of a snapshot and check its signature; raises naming each problem.

    The signature is checked against ``public_key`` (a file) when given, else, for a signed snapshot, against the
    public half of ``OBSERVATOIRE_SIGNING_KEY`` when set (the annual DAG: the key it was just signed with)."""
    from observatoire.config import load_settings
    from observatoire.snapshot import (
        PublicKey,
        SnapshotError,
        check,
        key_fingerprint,
        open_snapshot,
        signature_info,
        signing_key_from_env,
    )

    settings = load_settings()
    key = public_key
    if key is None and signature_info(open_snapshot(settings, version).manifest).get("signed"):
        signing = signing_key_from_env()
        if signing is not None:
            pub = signing.key.public_key()
            key = PublicKey(path=None, key=pub, fingerprint=key_fingerprint(pub))
    result = check(settings, version, key)
    if result.problems:
        raise SnapshotError(f"snapshot {version} differs from its manifest or its signature:\n"
                            + "\n".join(result.problems))
    return {"version": version, "status": "intact", "signed": bool(result.signed),
            "key_fingerprint": result.key_fingerprint, "signature_checked": result.signature_valid}
