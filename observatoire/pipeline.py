"""The work of a run's steps: plan, extract (fetch → parse → land), raw gate, load, dbt, mart gate, publish, reports.

The steps themselves, and their order, are in :mod:`observatoire.run` (one sequence for the command line and
Airflow); this module does the work they ask for, as functions of the data directory's state (settings +
history).

Which millésimes a run fetches: for every selected source, its latest millésime (the nightly refresh: an
unchanged file is detected by HTTP validators or sha256 and skipped), plus any older millésime of the
registry never loaded successfully (so a fresh data directory is backfilled). ``millesime=`` fetches that
millésime only. ``force=True`` ignores the unchanged checks.

Gates: a landed file that fails its raw suite is quarantined (kept on disk, marked in the manifest with its
validation result) and the run stops before dbt; a failed mart suite stops before publish. Either way the
published warehouse is untouched and the run is recorded as failed with a readable report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from extract.apis import fetch_paged
from extract.errors import ExtractError
from extract.http import FetchPolicy, fetch, redact, redact_text
from extract.landing import file_sha256, land_file, landed_extension, parsed_path_for, write_parsed
from extract.parsers import ParseContext, code_fingerprint, get_parser
from extract.registry import Source, load_registry, recording_path, resolve_url
from observatoire import progress
from observatoire.catalogue import chiffres_cles, indicateurs
from observatoire.config import DBT_PROJECT_DIR, DEFAULT_PERIMETRE, PROJECT_ROOT, Settings, load_settings
from observatoire.errors import PipelineError, RunRequestError  # noqa: F401 - re-exported
from observatoire.history import History
from observatoire.locking import writer_lock
from observatoire.perimetre import CONTOURS_SOURCE, perimeter_qpv_codes

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


# -- planning ----------------------------------------------------------------------------------------

def check_request(registry: dict[str, Source], *, sources: list[str] | None = None,
                  millesime: int | None = None, history: History | None = None) -> None:
    """Refuse a request no run could carry out, naming what is wrong and what exists. With the data
    directory's ``history``: a run restricted to some sources needs the others loaded before (the marts
    and their comparators are built from every source)."""
    unknown = [s for s in (sources or []) if s not in registry]
    if unknown:
        raise RunRequestError(f"unknown source(s): {', '.join(unknown)}; known: {', '.join(registry)}")
    if (sources or millesime is not None) and history is not None and not history.current_landings():
        asked = [f"--source {s}" for s in sources or []] + ([f"--millesime {millesime}"] if millesime else [])
        raise RunRequestError(
            f"{' '.join(asked)}: nothing is loaded in this data directory yet, and a publication is built from "
            "every source; run `observatoire run` without --source or --millesime first (it loads every source "
            "and millésime), then --source and --millesime refresh or backfill some of them")
    selected = [registry[s] for s in sources] if sources else list(registry.values())
    published = [src for src in selected if src.status == "publie" and src.millesimes]
    if sources and not published:
        raise RunRequestError(
            f"no millésime to fetch for {', '.join(sources)}: "
            + "; ".join(f"{src.id} is {src.status}" + (" with no millésime" if not src.millesimes else "")
                        for src in selected)
            + " (see `observatoire sources list`)")
    if millesime is not None and not any(millesime in src.millesimes for src in published):
        years = sorted({y for src in published for y in src.millesimes})
        raise RunRequestError(f"no selected source has millésime {millesime}; the selected sources have "
                              f"{', '.join(map(str, years))}")


def check_breaks(registry: dict[str, Source], accept_breaks: dict[str, str] | None,
                 sources: list[str] | None) -> None:
    """``--accept-break SOURCE``: a known source with a parser, among the selected ones, with a reason."""
    import difflib

    for source_id, reason in (accept_breaks or {}).items():
        if source_id not in registry:
            close = difflib.get_close_matches(source_id, list(registry), n=3)
            raise RunRequestError(f"--accept-break {source_id}: unknown source"
                                  + (f" (did you mean {', '.join(close)}?)" if close else ""))
        if sources and source_id not in sources:
            raise RunRequestError(f"--accept-break {source_id}: not among the selected --source "
                                  f"({', '.join(sources)})")
        if not (reason or "").strip():
            raise RunRequestError(f"--accept-break {source_id}: give the reason of the break (--reason)")


def plan(ctx: Context, *, sources: list[str] | None = None, millesime: int | None = None) -> list[dict]:
    """The (source, millésime) pairs a run fetches, each with the millésime being loaded (``target``). The
    ANCT contours come first, and are added to a run restricted to other sources while the data directory
    has none landed (the perimeter's QPV and the spatial join come from them)."""
    try:
        check_request(ctx.registry, sources=sources, millesime=millesime)
    except RunRequestError as err:
        raise PipelineError("extract", str(err)) from None
    selected = [ctx.registry[s] for s in sources] if sources else list(ctx.registry.values())
    current = {(r["source_id"], r["millesime"]) for r in ctx.history.current_landings()}
    contours = ctx.registry.get(CONTOURS_SOURCE)
    added = None  # the contours, fetched whatever the request while none are accepted
    if contours and not any(sid == contours.id for sid, _ in current):
        added = contours
        selected = [contours] + [src for src in selected if src is not contours]
    items = []
    for src in selected:
        if src.status != "publie" or not src.millesimes:
            continue
        if millesime is not None and src is not added:
            if millesime in src.millesimes:
                items.append({"source_id": src.id, "millesime": millesime, "target": millesime})
            continue
        latest = src.latest_millesime
        for year in sorted(src.millesimes):
            if year == latest or (src.id, year) not in current:
                items.append({"source_id": src.id, "millesime": year, "target": latest})
    # the référentiel first (see observatoire.run.conductor.land)
    return sorted(items, key=lambda it: it["source_id"] != CONTOURS_SOURCE)


# -- extract: fetch → parse → land ---------------------------------------------------------------------

def _parse_to_parquet(src: Source, raw_path: Path, millesime: int, url: str, shown: str) -> tuple[Path, int]:
    parser = get_parser(src.parser)
    dest = parsed_path_for(raw_path, code_fingerprint())
    batches = parser.parse(raw_path, ParseContext(src.id, millesime, redact(url), shown))
    rows = write_parsed(_counted(batches, src.id, millesime), parser.spec.arrow_schema(), dest)
    return dest, rows


def _counted(batches, source_id: str, millesime: int):
    """The parser's batches, the rows parsed so far told to the progress display."""
    rep = progress.current()
    rep.source_stage(source_id, millesime, "parsing")
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        rep.source_stage(source_id, millesime, f"parsing: {rows:,} rows")
        yield batch


def ensure_parsed(ctx: Context, landing: dict) -> dict:
    """The landing with an up-to-date parsed Parquet (re-parsed if the extract code changed)."""
    data = ctx.settings.data_dir
    raw_path = data / landing["raw_path"]
    wanted = parsed_path_for(raw_path, code_fingerprint())
    if landing.get("parsed_path") == _rel(ctx, wanted) and wanted.exists():
        return landing
    src = ctx.registry[landing["source_id"]]
    found = file_sha256(raw_path) if raw_path.exists() else "no file"
    if found != landing["sha256"]:  # parse only the bytes that were validated
        rel = landing["raw_path"]
        raise PipelineError("load", f"[{src.id}] the landed file {rel} (millésime {landing['millesime']}) no "
                            f"longer matches its sha256: expected {landing['sha256']}, found {found}. It was "
                            "altered or removed on disk; fetch it again with `observatoire run --force --source "
                            f"{src.id} --millesime {landing['millesime']}`")
    shown = Path(landing["url"]).name or raw_path.name
    dest, rows = _parse_to_parquet(src, raw_path, landing["millesime"], landing["url"], shown)
    return ctx.history.record_landing({**landing, "parsed_path": _rel(ctx, dest), "rows_parsed": rows},
                                      landing.get("last_run_id") or "reparse")


def _rel(ctx: Context, path: Path) -> str:
    """Paths in the manifest are relative to the data directory, so the directory can move."""
    return str(path.relative_to(ctx.settings.data_dir))


def key_for(src: Source, millesime: int, url: str) -> str | None:
    """The variable of the source's API key, only when ``url`` goes to the host the key is configured for (the
    registry's URL of the source): an override pointing elsewhere never receives it."""
    from urllib.parse import urlsplit

    if not src.api_key_env:
        return None
    entry = src.millesimes.get(millesime)

    def origin(u: str) -> tuple:  # scheme, host and port: never the key in clear text or to another port
        parts = urlsplit(u)
        return parts.scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(parts.scheme)

    configured = {origin(u) for u in ([entry.url] if entry else []) + [src.perimetre_url or ""] if u}
    return src.api_key_env if origin(url) in configured else None


def extract_source(ctx: Context, run_id: str, source_id: str, millesime: int, *,
                   target: int | None = None, force: bool = False) -> dict:
    """Fetch, parse and land one millésime of one source. Never raises for a source problem: returns a
    result with ``status`` = new | unchanged | restored (an earlier accepted file again: no new validation, it
becomes the loaded one) | failed (and ``error`` for the latter)."""
    src = ctx.registry[source_id]
    result: dict = {"source_id": source_id, "millesime": millesime, "status": "failed"}
    h = ctx.history
    h.step(run_id, "extract", f"{source_id}/{millesime}", "running")
    try:
        params = None
        if src.perimetre_url:
            from observatoire.perimetre import url_params

            params = url_params(ctx.settings)
        url, origin = resolve_url(src, millesime, ctx.settings.mode, target_millesime=target, url_params=params)
        result.update(url=redact(url), origin=origin)
        current = h.current_landing(source_id, millesime)
        validators = None
        if current and not force and current["url"] == redact(url):  # the history keeps URLs redacted
            validators = h.http_validators(url)
        api_key_env = key_for(src, millesime, url)
        policy = FetchPolicy()
        if src.max_bytes:
            policy.max_bytes = src.max_bytes
        if src.kind == "api":
            session = None
            if origin == "recording":  # demo: the cassette answers the publisher's URLs
                from extract.replay import replay_session

                session = replay_session(recording_path(src, millesime))
            fetched = fetch_paged(url, ctx.settings.tmp_dir, source_id=source_id, paginator=src.paginator,
                                  policy=policy, session=session, api_key_env=api_key_env,
                                  rate_limit_per_minute=None if session else src.rate_limit_per_minute,
                                  progress=progress.download_hook(source_id, millesime))
        else:
            fetched = fetch(url, ctx.settings.tmp_dir, source_id=source_id, validators=validators, policy=policy,
                            api_key_env=api_key_env, progress=progress.download_hook(source_id, millesime))
        if fetched.status == "not_modified" and current:
            h.touch_landing(source_id, millesime, current["sha256"], run_id)
            result.update(status="unchanged", sha256=current["sha256"], rows=current["rows_parsed"],
                          reason="HTTP 304 Not Modified")
            h.step(run_id, "extract", f"{source_id}/{millesime}", "unchanged", "HTTP 304")
            return result
        if fetched.status == "not_modified":  # validators without a current landing: fetch in full
            fetched = fetch(url, ctx.settings.tmp_dir, source_id=source_id, policy=policy,
                            api_key_env=api_key_env, progress=progress.download_hook(source_id, millesime))
        sha = fetched.sha256
        result.update(sha256=sha, bytes=fetched.bytes)
        existing = h.find_landing(source_id, millesime, sha)
        set_aside = _json_or_empty(existing.get("validation")).get("set_aside") if existing else None
        if set_aside and existing["status"] == "quarantined" and not force:
            # an operator set this very file aside (observatoire quarantine): never accepted again by itself
            fetched.path.unlink(missing_ok=True)
            reason = (f"file {sha[:12]}… set aside on {set_aside.get('at')} ({set_aside.get('reason')}); the "
                      f"previous accepted file stays in use (--force re-validates it)")
            result.update(status="set_aside", reason=reason)
            h.step(run_id, "extract", f"{source_id}/{millesime}", "set_aside", reason)
            return result
        if existing and existing["status"] == "accepted" and not force:
            fetched.path.unlink(missing_ok=True)
            h.touch_landing(source_id, millesime, sha, run_id)
            h.adopt_url(source_id, millesime, sha, url, origin)  # a landing rebuilt by repair learns its URL again
            h.save_http_validators(url, fetched.etag, fetched.last_modified, sha)
            if current and current["sha256"] != sha:  # the publisher went back to an earlier file
                reason = (f"same bytes as an earlier accepted file (sha256 {sha[:12]}…), loaded again in place of "
                          f"{current['sha256'][:12]}…")
                result.update(status="restored", rows=existing["rows_parsed"], reason=reason)
                h.step(run_id, "extract", f"{source_id}/{millesime}", "restored", reason)
                return result
            result.update(status="unchanged", rows=existing["rows_parsed"], reason="same sha256 as the loaded file")
            h.step(run_id, "extract", f"{source_id}/{millesime}", "unchanged", "same sha256")
            return result
        ext = landed_extension(fetched.path, fetched.filename)
        raw_path = land_file(fetched.path, ctx.settings.raw_dir, source_id, millesime, sha, ext)
        row = {"source_id": source_id, "millesime": millesime, "sha256": sha, "url": url, "url_origin": origin,
               "bytes": fetched.bytes, "etag": fetched.etag, "last_modified": fetched.last_modified,
               "content_type": fetched.content_type, "raw_path": _rel(ctx, raw_path), "parsed_path": None,
               "rows_parsed": None}
        try:
            parsed, rows = _parse_to_parquet(src, raw_path, millesime, url, fetched.filename)
        except ExtractError as err:
            h.record_landing(row, run_id, relanded=True)
            h.set_landing_status(source_id, millesime, sha, "quarantined", {"parse_error": err.as_dict()})
            raise
        landing = h.record_landing({**row, "parsed_path": _rel(ctx, parsed), "rows_parsed": rows}, run_id,
                                   relanded=True)
        result.update(status="new", rows=rows, raw_path=str(raw_path), parsed_path=str(parsed),
                      fetched_at=landing["fetched_at"], etag=fetched.etag, last_modified=fetched.last_modified)
        h.step(run_id, "extract", f"{source_id}/{millesime}", "landed", f"{rows} rows, sha256 {sha[:12]}")
        return result
    except ExtractError as err:
        result["error"] = err.as_dict()
        h.step(run_id, "extract", f"{source_id}/{millesime}", "failed", str(err))
        return result
    except Exception as err:  # noqa: BLE001 - reported as this source's failure, the others go on
        result["error"] = {"kind": "internal", "source_id": source_id, "message":
                           redact_text(f"[{source_id}] unexpected error: {err.__class__.__name__}: {err}"),
                           "traceback": redact_text(traceback.format_exc())}
        h.step(run_id, "extract", f"{source_id}/{millesime}", "failed", result["error"]["message"])
        return result


class QuarantineError(ValueError):
    """``observatoire quarantine``: nothing to set aside (exit 2)."""


def quarantine(settings: Settings, source_id: str, millesime: int, reason: str) -> dict:
    """Set the file in use for ``source_id`` / ``millesime`` aside (``quarantined``, by an operator): the previous
    accepted file of that millésime is used again from the next run; the same file fetched again is not accepted
    again unless ``run --force``. Returns the file set aside and the one now in use (or None)."""
    ctx = Context.create(settings)
    if source_id not in ctx.registry:
        import difflib

        close = difflib.get_close_matches(source_id, list(ctx.registry), n=3)
        raise QuarantineError(f"unknown source {source_id!r}" + (f" (did you mean {', '.join(close)}?)" if close
                                                                  else ""))
    with writer_lock(ctx.settings.lock_path, f"observatoire quarantine {source_id} {millesime}"):
        current = ctx.history.current_landing(source_id, millesime)
        if current is None:
            raise QuarantineError(f"{source_id} millésime {millesime}: no accepted file to set aside")
        validation = _json_or_empty(current.get("validation"))
        validation["set_aside"] = {"at": now_utc(), "reason": reason}
        ctx.history.set_landing_status(source_id, millesime, current["sha256"], "quarantined", validation)
        now = ctx.history.current_landing(source_id, millesime)
    return {"set_aside": current, "in_use": now}


# -- raw gate ----------------------------------------------------------------------------------------

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


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _full_url(ctx: Context, result: dict) -> str:
    row = ctx.history.find_landing(result["source_id"], result["millesime"], result["sha256"])
    return row["url"] if row else result.get("url", "")


# -- fingerprint of what a publication is made of -------------------------------------------------------

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


# -- load + dbt --------------------------------------------------------------------------------------

def dbt_vars(ctx: Context) -> dict:
    return {"perimetre": ctx.settings.perimetre}


def load(ctx: Context, run_id: str) -> dict[str, int]:
    from observatoire.warehouse import load_raw

    rep = progress.current()
    landings = [r for r in ctx.history.current_landings() if r["source_id"] in ctx.registry]
    rep.step_started("load", total=len(landings), detail="parsed files")
    try:
        by_source: dict[str, list[dict]] = {}
        for n, landing in enumerate(landings, 1):
            landing = ensure_parsed(ctx, landing)
            by_source.setdefault(landing["source_id"], []).append(
                {**landing, "parsed_path": str(ctx.settings.data_dir / landing["parsed_path"])})
            rep.step_progress("load", completed=n, detail=f"{landing['source_id']} {landing['millesime']}")
        schemas = {sid: get_parser(src.parser).spec.arrow_schema() for sid, src in ctx.registry.items()
                   if src.parser}
        from observatoire.partenaires.store import values_table

        rep.step_progress("load", detail="spatial joins, registry, partner values")
        extra = {"_registre": registry_table(ctx), **derived_tables(ctx, by_source),
                 "partenaires_valeurs": values_table(ctx.settings, ctx.history)}
        rep.step_progress("load", detail="into the build warehouse")
        counts = load_raw(ctx.settings, by_source, schemas, extra)
    except BaseException:
        rep.step_finished("load", None)
        raise
    ctx.history.step(run_id, "load", "raw", "done", json.dumps(counts))
    rows = sum(v for v in counts.values() if isinstance(v, int))
    rep.step_finished("load", f"{len(counts)} tables, {rows:,} rows into the build warehouse")
    return counts


def registry_table(ctx: Context):
    """The registry as a table (``raw._registre``): one row per source × millésime, with its publication
    date, the next expected release and when the current file was loaded (freshness of every figure)."""
    import pyarrow as pa

    current = {(r["source_id"], r["millesime"]): r for r in ctx.history.current_landings()}
    accepted = ctx.history.ruptures()  # breaks accepted on a run, whatever file of the millésime is in use
    rows = []
    for src in ctx.registry.values():
        base = {"source_id": src.id, "statut_source": src.status, "motif": src.reason, "publisher": src.publisher,
                "licence": src.licence, "prochaine_publication": src.next_release, "titre": src.title}
        if not src.millesimes:
            rows.append({**base, "millesime": None, "url": src.landing_page, "date_publication": None,
                         "charge_le": None, "sha256": None, "rupture_motif": None})
        for year, m in sorted(src.millesimes.items()):
            landing = current.get((src.id, year))
            rupture = accepted.get((src.id, year)) or ({"reason": m.rupture} if m.rupture else {})
            rows.append({**base, "millesime": year, "url": m.url, "date_publication": m.published,
                         "charge_le": landing["fetched_at"] if landing else None,
                         "sha256": landing["sha256"] if landing else None,
                         "rupture_motif": rupture.get("reason")})
    schema = pa.schema([("source_id", pa.string()), ("millesime", pa.int32()), ("statut_source", pa.string()),
                        ("motif", pa.string()), ("publisher", pa.string()), ("licence", pa.string()),
                        ("titre", pa.string()), ("url", pa.string()), ("date_publication", pa.string()),
                        ("prochaine_publication", pa.string()), ("charge_le", pa.string()), ("sha256", pa.string()),
                        ("rupture_motif", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema)


def _json_or_empty(text) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


#: derived tables: points of a source assigned to their QPV 2024 against the ANCT contours
SPATIAL_JOINS = {
    "ademe_dpe_existant__qpv": {"points": "ademe_dpe_existant", "contours": "anct_qpv_contours",
                                "key": "numero_dpe", "lon": "longitude", "lat": "latitude"},
}


def derived_tables(ctx: Context, by_source: dict[str, list[dict]]) -> dict:
    """Point-in-polygon assignments (:data:`SPATIAL_JOINS`), cached next to the points' landed file and keyed by
    the contours file and the extract code, computed in bounded memory (batches of the parsed Parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}
    for name, spec in SPATIAL_JOINS.items():
        schema = pa.schema([(spec["key"], pa.string()), ("millesime", pa.int32()), ("code_qpv", pa.string())])
        points = by_source.get(spec["points"]) or []
        contours = sorted(by_source.get(spec["contours"]) or [], key=lambda r: r["millesime"])
        if not points or not contours:
            out[name] = ([], schema)
            continue
        contour = contours[-1]  # the latest geography
        paths = []
        index = None
        for landing in points:
            parsed = Path(landing["parsed_path"])
            dest = parsed.with_name(f"{landing['sha256']}.{name}-{contour['sha256'][:16]}-{code_fingerprint()}.parquet")
            if not dest.exists():
                if index is None:
                    from extract.spatial import QpvIndex

                    index = QpvIndex.from_table(pq.read_table(contour["parsed_path"],
                                                              columns=["code_qpv", "geometry_wkb"]))
                write_parsed(_assign_batches(index, parsed, spec, schema), schema, dest)
            paths.append(dest)
        out[name] = (paths, schema)
    # the computed baromètres (grid + GTFS + BPE + OSM + elections + contours + census): observatoire/calculs.py
    from observatoire.calculs import ELECTIONS_PARSER, GTFS_PARSER, TABLE, calcul_indicateurs

    def of_parser(parser: str) -> list[str]:
        return [sid for sid, src in ctx.registry.items() if src.parser == parser]

    out[TABLE] = calcul_indicateurs(by_source, of_parser(GTFS_PARSER), of_parser(ELECTIONS_PARSER))
    return out


def _assign_batches(index, parsed: Path, spec: dict, schema):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from extract.spatial import iter_assign_qpv

    pf = pq.ParquetFile(parsed)
    for batch in pf.iter_batches(batch_size=500_000, columns=[spec["key"], "millesime", spec["lon"], spec["lat"]]):
        codes = pa.concat_arrays(list(iter_assign_qpv(index, batch, lon_column=spec["lon"], lat_column=spec["lat"])))
        keep = pc.is_valid(codes)
        yield pa.RecordBatch.from_arrays(
            [pc.filter(batch.column(spec["key"]), keep), pc.filter(batch.column("millesime"), keep),
             pc.filter(codes, keep)], schema=schema)


# dbt's unit tests check the formulas on fixed fixtures, not the data: they run in `make test`
# (tests/integration/test_pipeline_demo.py), not in every build (dbt's own advice for production runs)
DBT_BUILD_EXCLUDE = ("--exclude-resource-type", "unit_test")


def build(ctx: Context, run_id: str) -> None:
    from observatoire.dbt_runner import DbtError, run_dbt

    ctx.history.step(run_id, "dbt", "build", "running")
    log_path = ctx.run_dir(run_id) / "dbt_build.log"
    rep = progress.current()
    rep.step_started("dbt", detail="parsing the project")
    try:
        result = run_dbt(ctx.settings, ["build", *DBT_BUILD_EXCLUDE], log_path=log_path, vars=dbt_vars(ctx),
                         on_progress=progress.dbt_hook("dbt"))
    except DbtError as err:
        rep.step_finished("dbt", "FAILED", ok=False)
        text = str(err) + inputs_behind(ctx, str(err))  # the failing nodes and rows, and the files behind them
        ctx.history.step(run_id, "dbt", "build", "failed", text)
        report = failure_report(ctx, run_id, "dbt", text)  # the log is named
        raise PipelineError("dbt", text, run_id=run_id, details_path=report) from None
    except BaseException:
        rep.step_finished("dbt", None)
        raise
    ctx.history.step(run_id, "dbt", "build", "done")
    rep.step_finished("dbt", result.progress.summary())


def inputs_behind(ctx: Context, text: str) -> str:
    """For a dbt or mart-gate failure: the source files and columns behind the indicators its rows name — the
    catalogue's sources of each indicator, the file in use for each millésime named (sha256, path) and the
    parsed columns tied to the indicator — with the command that sets a file aside. Empty when no indicator of
    the catalogue is named."""
    import re

    catalogue = indicateurs()
    named = [i for i in catalogue if re.search(rf"\b{re.escape(i)}\b", text)]
    if not named:
        return ""
    years = {int(y) for y in re.findall(r"millesime[='\": ]+(\d{4})", text)}
    current = ctx.history.current_landings()
    lines = ["", "", "inputs behind these rows (set a file aside: observatoire quarantine SOURCE MILLESIME "
             "--reason …; the previous accepted file is then used again):"]
    for ind in named[:8]:
        sources = [s for s in (catalogue[ind].get("source") or "").split("|") if s in ctx.registry]
        for source_id in sources:
            src = ctx.registry[source_id]
            columns = []
            if src.parser:
                spec = get_parser(src.parser).spec
                columns = [c.name for c in spec.columns if c.indicateur == ind] or [
                    c.name for c in spec.value_columns if c.kind in ("count", "rate", "amount", "index")]
            files = [r for r in current if r["source_id"] == source_id and (not years or r["millesime"] in years)]
            for r in files or [None]:
                where = (f"millésime {r['millesime']}, file {r['sha256'][:12]}… ({r['raw_path']})" if r
                         else "no file in use")
                lines.append(f"  - {ind}: source {source_id}, {where}; columns {', '.join(columns[:8]) or '-'}")
    return "\n".join(lines)


# -- mart gate ---------------------------------------------------------------------------------------

def validate_marts(ctx: Context, run_id: str) -> list[dict]:
    from expectations.runner import build_docs, format_failures, run_suites
    from expectations.suites import chiffres_cles_suite, mart_suites
    from observatoire.warehouse import read_tables

    (available,) = read_tables(ctx.settings, [("intermediate", "int_indicateur_millesimes")])
    millesimes: dict[str, list[int]] = {}
    for row in available.itertuples():
        millesimes.setdefault(row.indicateur, []).append(int(row.millesime))
    contract = ctx.settings.perimetre == DEFAULT_PERIMETRE
    suites = mart_suites(perimeter_qpv=perimeter_qpv_codes(ctx.settings.perimetre, ctx.settings),
                         catalogue=indicateurs(), millesimes=millesimes, contract_perimeter=contract)
    suites.append(chiffres_cles_suite(chiffres_cles(), contract_perimeter=contract))
    rep = progress.current()
    rep.step_started("mart_gate", total=len(suites), detail="reading the marts")
    done: list[int] = []

    def suite_done(i: int, summary: dict) -> None:
        done.append(i)
        rep.step_progress("mart_gate", completed=len(done), detail=f"{suites[i].name}: "
                          + ("passed" if summary.get("success") else "failed"))

    try:
        frames = read_tables(ctx.settings, [("marts", suite.target.split(":", 1)[1]) for suite in suites])
        jobs = [(suite, df, ctx.run_dir(run_id) / "validations" / f"{suite.name}.json")
                for suite, df in zip(suites, frames, strict=True)]
        rep.step_progress("mart_gate", detail="Great Expectations suites")
        summaries = run_suites(jobs, gx_root=gx_root(ctx.settings), on_done=suite_done)
        for (suite, _df, details), summary in zip(jobs, summaries, strict=True):
            ctx.history.record_validation(run_id, suite.name, suite.target, summary, str(details))
        del jobs
        rep.step_progress("mart_gate", detail="rendering the Data Docs")
        build_docs(gx_root(ctx.settings))
    except BaseException:
        rep.step_finished("mart_gate", None)
        raise
    failed = [s for s in summaries if not s["success"]]
    rep.step_finished("mart_gate", _gate_line(summaries, "suite"), ok=not failed)
    ctx.history.step(run_id, "mart_gate", "marts", "failed" if failed else "passed")
    if failed:
        text = "\n".join(format_failures(s) for s in failed)
        text += inputs_behind(ctx, text)
        report = ctx.run_dir(run_id) / "report.txt"
        report.write_text(text + "\n", encoding="utf-8")
        raise PipelineError("mart_gate", "the marts failed their gate; nothing was published\n" + text,
                            run_id=run_id, details_path=report)
    return summaries


# -- publish -----------------------------------------------------------------------------------------

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


# -- warnings: what the gates reported without refusing ------------------------------------------------

def run_warnings(ctx: Context, run_id: str) -> list[dict]:
    """Every check of this run's gates that only warned, compact: the suite, the check, the column, how many
    rows and the first of them (QPV, column, value). Out-of-range values on QPV outside the perimeter and
    derived values withheld as ``non_calculable`` are reported this way; they never block a publication."""
    out = []
    for v in ctx.history.validations(run_id):
        try:
            summary = json.loads(v.get("summary") or "{}")
        except ValueError:
            continue
        for c in summary.get("checks", []):
            if c.get("status") != "warning":
                continue
            out.append({"suite": v["suite"], "target": v["target"], "check": c.get("check"),
                        "column": c.get("column"), "rows": c.get("unexpected_count"),
                        "sample": (c.get("sample") or [])[:5], "observed": c.get("observed")})
    return out


def describe_warning(w: dict) -> str:
    """One warning on one line: suite, column, how many rows, the first rows' QPV and values."""
    rows = ""
    if w.get("sample"):
        rows = "; ".join(", ".join(f"{k}={v}" for k, v in r.items() if k != "_line") for r in w["sample"][:3])
        rows = f": {rows}" + (" …" if (w.get("rows") or 0) > 3 else "")
    count = f" ({w['rows']} row{'s' if w['rows'] != 1 else ''})" if w.get("rows") is not None else ""
    observed = f" — {w['observed']}" if w.get("observed") and not rows else ""
    return f"{w['suite']}: {w['check']}{count}{rows}{observed}"


def failure_report(ctx: Context, run_id: str, stage: str, text: str) -> Path:
    """The report of a failed run (``meta/runs/<run_id>/report.txt``): the stage and what went wrong, redacted."""
    report = ctx.run_dir(run_id) / "report.txt"
    report.write_text(redact_text(f"stage: {stage}\n\n{text}\n"), encoding="utf-8")
    return report


def write_run_report(ctx: Context, run_id: str, status: str, message: str) -> tuple[Path, list[dict]]:
    """The report of a run that did not fail (``meta/runs/<run_id>/report.txt``): what it did and every warning
    of its gates with the rows concerned (QPV, column, value)."""
    from expectations.runner import format_warnings

    warnings = run_warnings(ctx, run_id)
    lines = [f"status: {status}", "", message, ""]
    if warnings:
        lines.append(f"warnings ({len(warnings)}): reported, not blocking")
        for v in ctx.history.validations(run_id):
            try:
                summary = json.loads(v.get("summary") or "{}")
            except ValueError:
                continue
            if any(c.get("status") == "warning" for c in summary.get("checks", [])):
                lines += ["", format_warnings(summary, limit=10)]
    else:
        lines.append("no warning")
    report = ctx.run_dir(run_id) / "report.txt"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report, warnings


# -- the whole run -----------------------------------------------------------------------------------

# -- retention -----------------------------------------------------------------------------------------

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
    """Keep the ``OBSERVATOIRE_RETENTION`` most recently seen landings of each source and millésime, the current accepted
    one and every one a snapshot refers to; delete the others' files (raw, parsed, derived) and mark them
    ``purged`` in the manifest (the history row stays)."""
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
