"""The Airflow side of a run: each task of the nightly DAG calls one step of :mod:`observatoire.run.steps`.

The same steps as ``observatoire run`` (:mod:`observatoire.run.conductor`), one per task, so that a failure shows
on the task that failed; the only logic here is Airflow's: JSON-serialisable values between tasks (run id,
items, landings), an exception to fail a task, and the data directory's writer lock taken by each task that
writes it (the CLI holds it once for the whole run), on top of the Airflow pool.
"""

from __future__ import annotations

import traceback

from observatoire.errors import PipelineError
from observatoire.locking import writer_lock
from observatoire.run import steps
from observatoire.run.context import Context

_LANDING_KEYS = ("source_id", "millesime", "status", "sha256", "rows")


def _ctx() -> Context:
    return Context.create()


def start(params: dict | None = None, *, trigger: str = "airflow", external_id: str | None = None) -> str:
    """Record a new run; returns its id. A request no run could carry out, a lost history or a data directory
    holding the other mode's data (:class:`observatoire.datamode.DataModeError`) is refused before anything is
    recorded, so the task fails with the message and the run history shows no run."""
    from observatoire.config import load_settings

    params = dict(params or {})
    breaks = {str(k): str(v) for k, v in (params.get("accept_breaks") or {}).items()}
    request = steps.RunRequest(sources=list(params.get("sources") or []) or None,
                               millesime=params.get("millesime"), force=bool(params.get("force")),
                               accept_breaks=breaks or None, trigger=trigger, external_id=external_id)
    return steps.start(load_settings(), request)


def _started(run_id: str | None) -> str:
    """The run id handed over by the start task. The tasks that run whatever their upstream did (``plan``,
    ``finish``) get none when start failed (it then recorded no run, e.g. a data directory holding the other mode's
    data): a clear error, and nothing done."""
    if not run_id:
        raise PipelineError("start", "no observatoire run to continue: the start task failed before recording one "
                            "(its log says why); nothing was extracted, recorded or published")
    return run_id


def plan(run_id: str, *, referentiel: bool = False) -> list[dict]:
    """The (source, millésime) items of the run (:func:`observatoire.run.steps.plan`), each with the run id."""
    _started(run_id)
    return [{**it, "run_id": run_id} for it in steps.plan(_ctx(), run_id, referentiel=referentiel)]


def referentiel(run_id: str) -> list[dict]:
    """Extract and gate the ANCT contours first (the perimeter's QPV and requests are built from them), under the
    writer lock; raises if they failed."""
    ctx = _ctx()
    items = plan(run_id, referentiel=True)
    with writer_lock(ctx.settings.lock_path, f"referentiel {run_id}"):
        landings = steps.raw_gate(ctx, run_id, steps.extract(ctx, run_id, items))
    steps.check_loads(ctx, run_id, landings, write_report=False)
    return [{k: r.get(k) for k in _LANDING_KEYS} for r in landings]


def extract(item: dict) -> dict:
    """Fetch, parse and land one (source, millésime). Raises if it failed, so the orchestrator marks this source's
    task failed while the other sources go on. Returns the landing (passed to :func:`validate`)."""
    ctx = _ctx()
    run_id = item["run_id"]
    (landing,) = steps.extract(ctx, run_id, [item])
    steps.check_loads(ctx, run_id, [landing], write_report=False)
    return {**{k: v for k, v in landing.items() if k != "error"}, "run_id": run_id}


def validate(landing: dict) -> dict:
    """The raw gate of a newly landed file (nothing to do for an unchanged one), under the writer lock. Raises if
    the file is quarantined."""
    ctx = _ctx()
    run_id = landing["run_id"]
    with writer_lock(ctx.settings.lock_path, f"raw gate {run_id}"):
        (gated,) = steps.raw_gate(ctx, run_id, [dict(landing)])
    steps.check_loads(ctx, run_id, [gated], write_report=False)
    out = {k: gated.get(k) for k in _LANDING_KEYS}
    if "validation" in gated:
        out["validation"] = gated["validation"]
    return out


def build(run_id: str) -> dict:
    """Load the raw schema and run dbt (:func:`observatoire.run.steps.build`), unless nothing changed since the
    last publication (``{"status": "unchanged"}``: the orchestrator skips the rest)."""
    ctx = _ctx()
    with writer_lock(ctx.settings.lock_path, f"build {run_id}"):
        return steps.build(ctx, run_id)


def validate_marts(run_id: str) -> dict:
    ctx = _ctx()
    with writer_lock(ctx.settings.lock_path, f"validate marts {run_id}"):
        return steps.mart_gate(ctx, run_id)


def publish(run_id: str) -> dict:
    ctx = _ctx()
    with writer_lock(ctx.settings.lock_path, f"publish {run_id}"):
        return steps.publish(ctx, run_id)


def finish(run_id: str) -> dict:
    """Record how the run ended, from its steps (:func:`observatoire.run.steps.finish`); raises if it failed (so
    the orchestrator's run fails too)."""
    _started(run_id)
    ctx = _ctx()
    with writer_lock(ctx.settings.lock_path, f"finish {run_id}"):
        result = steps.finish(ctx, run_id)
    return {"run_id": run_id, "status": "success" if result.status == "published" else result.status}


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
        signing_key_of,
    )

    settings = load_settings()
    key = public_key
    if key is None and signature_info(open_snapshot(settings, version).manifest).get("signed"):
        signing = signing_key_of(settings)
        if signing is not None:
            pub = signing.key.public_key()
            key = PublicKey(path=None, key=pub, fingerprint=key_fingerprint(pub))
    result = check(settings, version, key)
    if result.problems:
        raise SnapshotError(f"snapshot {version} differs from its manifest or its signature:\n"
                            + "\n".join(result.problems))
    return {"version": version, "status": "intact", "signed": bool(result.signed),
            "key_fingerprint": result.key_fingerprint, "signature_checked": result.signature_valid}
