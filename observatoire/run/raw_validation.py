"""The raw gate: each landed file validated against its suite (in parallel batches), compared with the last
accepted load of the same source and millésime; a file that fails is quarantined (kept on disk, marked in the
manifest with its validation result) and the run stops before dbt."""

from __future__ import annotations

import json
from pathlib import Path

from extract.errors import ExtractError
from extract.parsers import get_parser
from observatoire import progress
from observatoire.catalogue import indicateurs
from observatoire.config import Settings
from observatoire.errors import PipelineError
from observatoire.perimetre import CONTOURS_SOURCE, perimeter_qpv_codes
from observatoire.run.context import Context, now_utc
from observatoire.run.extraction import ensure_parsed


def gx_root(settings: Settings) -> Path:
    """The Great Expectations project of a data directory (stores and Data Docs; never in git)."""
    return settings.meta_dir / "gx"


def validate_landing(ctx: Context, run_id: str, result: dict) -> dict:
    """Run the raw suite on a newly landed file; accept or quarantine it. Returns the summary."""
    return validate_landings(ctx, run_id, [result])[0]


def validate_landings(ctx: Context, run_id: str, results: list[dict], *,
                      accept_breaks: dict[str, str] | None = None) -> list[dict]:
    """Run the raw suite of each newly landed file (several at once: :func:`expectations.runner.run_suites`),
    then compare it with the last accepted load of its source (:mod:`expectations.drift`); accept or quarantine
    each. ``accept_breaks`` (source → reason): a deliberate break of series, its jumps only warn and it is
    recorded (``rupture_serie``). Returns the summaries, in order."""
    from expectations.runner import run_suites_on_parquet

    rep = progress.current()
    names = [f"{r['source_id']} {r['millesime']}" for r in results]
    rep.step_started("raw_gate", total=len(results), detail="Great Expectations suites")
    done: list[int] = []

    def suite_done(i: int, summary: dict) -> None:
        done.append(i)
        rep.step_progress("raw_gate", completed=len(done), detail=f"{names[i]}: "
                          + ("passed" if summary.get("success") else "failed"))

    def rows_done(i: int, rows: int, total: int) -> None:  # a large file, validated in chunks
        rep.step_progress("raw_gate", detail=f"{names[i]}: {rows:,}/{total:,} rows (chunks)")

    jobs = [_raw_gate_job(ctx, run_id, r) for r in results]
    # files above OBSERVATOIRE_GX_MAX_ROWS are validated in chunks plus a DuckDB profile (bounded memory)
    try:
        summaries = run_suites_on_parquet(jobs, gx_root=gx_root(ctx.settings), on_done=suite_done,
                                          on_rows=rows_done)
    except BaseException:
        rep.step_finished("raw_gate", None)
        raise
    breaks = accept_breaks or {}
    # compared and recorded millésime by millésime: a backfilled later millésime is compared with the earlier one
    # accepted just before it, as when the orchestrator validates them one by one
    order = sorted(range(len(results)), key=lambda i: (results[i]["source_id"], results[i]["millesime"]))
    recorded: dict[int, dict] = {}
    try:
        for i in order:
            r, summary, (_suite, _parquet, details) = results[i], summaries[i], jobs[i]
            rep.step_progress("raw_gate", detail=f"{names[i]}: compared with the last accepted load")
            accepted = _compare_with_last_load(ctx, r, summary, details, breaks.get(r["source_id"]))
            recorded[i] = _record_raw_gate(ctx, run_id, r, summary, details, accepted)
    except BaseException:
        rep.step_finished("raw_gate", None)
        raise
    out = [recorded[i] for i in range(len(results))]
    rep.step_finished("raw_gate", _gate_line(out, "file"), ok=all(s["success"] for s in out))
    return out


def _gate_line(summaries: list[dict], what: str) -> str:
    """``27 files validated, 27 passed, 2 with warnings`` (what the gate did, on the run's display)."""
    n = len(summaries)
    passed = sum(1 for s in summaries if s.get("success"))
    warned = sum(1 for s in summaries if s.get("warnings"))
    text = f"{n} {what}{'s' if n != 1 else ''} validated, {passed} passed"
    if n - passed:
        text += f", {n - passed} FAILED"
    if warned:
        text += f", {warned} with warnings"
    return text


def baseline_landing(ctx: Context, source_id: str, millesime: int, sha256: str) -> dict | None:
    """What a new file of ``source_id`` is compared with: the last accepted load of the same millésime, else of
    the latest earlier millésime (same perimeter for a source whose request depends on it); None for a
    source's first load (absolute bounds only)."""
    src = ctx.registry[source_id]
    rows = ctx.history.query(
        "SELECT * FROM manifest WHERE source_id = ? AND status = 'accepted' AND sha256 <> ? AND millesime <= ? "
        "AND parsed_path IS NOT NULL ORDER BY millesime DESC, last_seen_at DESC, rowid DESC",
        (source_id, sha256, millesime))
    for row in rows:
        if src.perimetre_url:
            run = ctx.history.get_run(row.get("last_run_id") or row.get("first_run_id") or "")
            if not run or run.get("perimetre") != ctx.settings.perimetre:
                continue
        return row
    return None


def _compare_with_last_load(ctx: Context, result: dict, summary: dict, details: Path,
                            accepted_break: str | None) -> str | None:
    """Append the comparison with the last accepted load to a raw gate's summary (and its details file). Returns
    the break of series in effect: ``accepted_break`` (given for this run), else the registry's known break of
    the millésime when the file is compared with an earlier millésime (a reload of the same millésime is
    compared strictly)."""
    from expectations.drift import Baseline, Tolerances, compare_loads, whole_number_checks

    source_id, millesime, sha = result["source_id"], result["millesime"], result["sha256"]
    if source_id == CONTOURS_SOURCE:
        return accepted_break  # the référentiel: its QPV set is checked by the perimeter, its shapes by the join
    spec = get_parser(ctx.registry[source_id].parser).spec
    perimeter = perimeter_qpv_codes(ctx.settings.perimetre, ctx.settings)
    checks = whole_number_checks(Path(result["parsed_path"]), spec, perimeter_qpv=perimeter)
    base = baseline_landing(ctx, source_id, millesime, sha)
    entry = ctx.registry[source_id].millesimes.get(millesime)
    if not accepted_break and entry and entry.rupture and base is not None and base["millesime"] < millesime:
        accepted_break = entry.rupture
    summary["baseline"] = None  # a source's first load: absolute bounds only
    base_row = None
    if base is not None:
        try:
            base_row = ensure_parsed(ctx, base)
        except (PipelineError, ExtractError) as err:  # the baseline cannot be read again: absolute bounds only
            checks.append({"check": f"comparison with the last accepted load (millésime {base['millesime']}, file "
                                    f"{base['sha256'][:12]}…) not possible: {str(err).splitlines()[0][:300]}",
                           "expectation": "compare_with_last_accepted_load", "column": None, "severity": "warning",
                           "row_condition": None, "success": False, "status": "warning"})
    if base_row is not None:
        baseline = Baseline(parsed_path=ctx.settings.data_dir / base_row["parsed_path"],
                            millesime=base["millesime"], sha256=base["sha256"])
        contours = None
        contour_row = next((r for r in sorted(ctx.history.current_landings(), key=lambda r: -r["millesime"])
                            if r["source_id"] == CONTOURS_SOURCE), None)
        if contour_row and contour_row.get("parsed_path"):
            contours = ctx.settings.data_dir / contour_row["parsed_path"]
        checks += compare_loads(Path(result["parsed_path"]), baseline, spec, perimeter_qpv=perimeter,
                                tolerances=Tolerances.from_mapping(ctx.registry[source_id].drift),
                                contours=contours, accepted_break=accepted_break)
        summary["baseline"] = {"millesime": baseline.millesime, "sha256": baseline.sha256}
    summary["checks"] += checks
    summary["evaluated"] = len(summary["checks"])
    summary["failed"] = sum(1 for c in summary["checks"] if c["status"] == "failed")
    summary["warnings"] = sum(1 for c in summary["checks"] if c["status"] == "warning")
    summary["success"] = not summary["failed"] and not summary["errors"]
    if details.exists():
        doc = json.loads(details.read_text(encoding="utf-8"))
        doc["summary"] = summary
        details.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return accepted_break


def _raw_gate_job(ctx: Context, run_id: str, result: dict) -> tuple:
    """The raw suite of a landed file, the parsed file it checks and where its details go."""
    from expectations.suites import raw_suite

    source_id, millesime, sha = result["source_id"], result["millesime"], result["sha256"]
    src = ctx.registry[source_id]
    parser = get_parser(src.parser)
    previous = ctx.history.previous_accepted(source_id, exclude_sha256=sha)
    if previous and src.perimetre_url:  # the request depends on the perimeter: compare like with like
        run = ctx.history.get_run(previous.get("last_run_id") or previous.get("first_run_id") or "")
        if not run or run.get("perimetre") != ctx.settings.perimetre:
            previous = None
    suite = raw_suite(
        source_id,
        parser.spec,
        millesime=millesime,
        perimeter_qpv=perimeter_qpv_codes(ctx.settings.perimetre, ctx.settings),
        catalogue=indicateurs(),
        previous_rows=previous["rows_parsed"] if previous else None,
    )
    details = ctx.run_dir(run_id) / "validations" / f"raw_{source_id}_{millesime}.json"
    return suite, Path(result["parsed_path"]), details


def _record_raw_gate(ctx: Context, run_id: str, result: dict, summary: dict, details: Path,
                     accepted_break: str | None = None) -> dict:
    source_id, millesime, sha = result["source_id"], result["millesime"], result["sha256"]
    summary.update(source_id=source_id, millesime=millesime, sha256=sha, url=result.get("url"))
    if accepted_break:
        summary["rupture"] = {"reason": accepted_break, "run_id": run_id}
    ctx.history.record_validation(run_id, f"raw_{source_id}_{millesime}", f"raw:{source_id}", summary, str(details))
    status = "accepted" if summary["success"] else "quarantined"
    compact = {k: summary[k] for k in ("success", "evaluated", "failed", "errors", "warnings")}
    compact["details_path"] = ctx.history.portable(details)
    if accepted_break and summary["success"]:  # a deliberate break: rupture_serie in the marts (registry_table)
        compact["rupture"] = {"reason": accepted_break, "run_id": run_id, "accepted_at": now_utc()}
        ctx.history.record_rupture(source_id, millesime, accepted_break, sha, run_id)
        ctx.history.step(run_id, "accept_break", f"{source_id}/{millesime}", "recorded", accepted_break)
    ctx.history.set_landing_status(source_id, millesime, sha, status, compact)
    if summary["success"]:
        ctx.history.save_http_validators(_full_url(ctx, result), result.get("etag"), result.get("last_modified"),
                                         sha)
    ctx.history.step(run_id, "raw_gate", f"{source_id}/{millesime}", "passed" if summary["success"] else "failed",
                     None if summary["success"] else f"{summary['failed']} failed, {summary['errors']} errors")
    return summary


def _full_url(ctx: Context, result: dict) -> str:
    row = ctx.history.find_landing(result["source_id"], result["millesime"], result["sha256"])
    return row["url"] if row else result.get("url", "")
