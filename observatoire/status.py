"""``observatoire status``: what the last runs did, and for a failed one what failed and where to look."""

from __future__ import annotations

import json

from observatoire.config import Settings
from observatoire.history import History


def render_status(settings: Settings, *, limit: int = 10, as_json: bool = False) -> str:
    from observatoire.repair import lost_history

    lost = lost_history(settings)  # missing, unreadable or empty while files are on disk: said first, with the way out
    if lost is not None and as_json:  # still JSON for a script, and never an empty list that would look normal
        return json.dumps({"history_lost": lost.state, "message": lost.message, "command": "observatoire repair"},
                          ensure_ascii=False, indent=2)
    if lost is not None and lost.state in ("missing", "unreadable"):
        return lost.message  # nothing else to read
    if not settings.history_db.exists():
        return f"no run yet in {settings.data_dir}"
    history = History(settings.history_db)
    runs = history.last_runs(limit)
    from observatoire.locking import lock_is_free

    free = lock_is_free(settings.lock_path)
    for r in runs:  # a CLI run holds the writer lock from start to end: 'running' with the lock free = killed
        if r["status"] == "running" and r.get("trigger") == "cli" and free:
            r["status"] = "interrupted"
            r["error"] = r.get("error") or ("its process stopped before the end (killed?); the next run closes it "
                                            "and cleans what it left")
    if as_json:
        for r in runs:
            for key in ("params", "summary"):  # stored as JSON text: nested as JSON, not as strings
                r[key] = _decoded(r.get(key))
            r["details_path"] = history.resolve(r.get("details_path"))  # stored relative to the data directory
            r["steps"] = history.steps(r["run_id"])
            r["validations"] = [{k: history.resolve(v) if k == "details_path" else v for k, v in x.items()
                                 if k != "summary"} for x in history.validations(r["run_id"])]
        return json.dumps(runs, ensure_ascii=False, indent=2, default=str)
    from observatoire.warehouse import published_state

    state, why = published_state(settings)
    shown = {"ok": "", "missing": " (not published yet)",
             "damaged": f" — DAMAGED (endommagé): {why}; the next `observatoire run` rebuilds and publishes it again",
             "locked": f" — LOCKED: {why}; close the read-write connection (analysts open it read_only=True)"}[state]
    from observatoire.datamode import directory_mode

    try:
        held = directory_mode(settings).mode
    except Exception:  # noqa: BLE001 - an unreadable mode file: check_data_mode reports it at the next run
        held = None
    holds = f" (holds {held} data)" if held else ""
    lines = [f"data directory: {settings.data_dir}{holds}", f"published warehouse: {settings.published_db}{shown}",
             ""]
    lines[2:2] = _postgres_lines(settings)
    if lost is not None:  # emptied, or only an unfinished repair: said before the runs
        lines[2:2] = ["", lost.message]
    last_pub = history.last_published_run()
    if last_pub:
        lines.append(f"last publication: run {last_pub['run_id']} at {last_pub['ended_at']} ({last_pub['mode']} mode)")
        lines.append("")
    lines.append(f"{'run':<26} {'status':<12} {'mode':<5} {'started':<26} {'ended':<26}")
    for r in runs:
        lines.append(f"{r['run_id']:<26} {r['status']:<12} {r['mode']:<5} {r['started_at']:<26} "
                     f"{(r['ended_at'] or '-'):<26}")
    lines += _warning_lines(history, runs, last_pub)
    failed = next((r for r in runs if r["status"] in ("failed", "interrupted")), None)
    if failed and runs and failed["run_id"] == runs[0]["run_id"]:
        lines += ["", f"last run {failed['run_id']} {failed['status'].upper()}"]
        summary = json.loads(failed["summary"] or "{}")
        if summary.get("stage"):
            lines.append(f"  stage: {summary['stage']}")
        for s in history.steps(failed["run_id"]):
            if s["status"] in ("failed",):
                lines.append(f"  step {s['step']} {s['target']}: {s['status']}")
                for msg_line in (s["message"] or "").splitlines()[:6]:
                    lines.append(f"      {msg_line}")
        for v in history.validations(failed["run_id"]):
            if not v["success"]:
                lines.append(f"  validation {v['suite']} ({v['target']}): {v['failed']} failed, {v['errors']} errors"
                             f" — {history.resolve(v['details_path'])}")
        if failed["error"]:
            lines.append("  error:")
            for msg_line in failed["error"].splitlines()[:25]:
                lines.append(f"    {msg_line}")
        if failed["details_path"]:
            lines.append(f"  details: {history.resolve(failed['details_path'])}")
    return "\n".join(lines)


def _postgres_lines(settings: Settings) -> list[str]:
    """The PostgreSQL publication's version next to the DuckDB one, and whether they diverge (only when
    OBSERVATOIRE_PG_DSN is set)."""
    from observatoire import postgres
    from observatoire.warehouse import published_version

    dsn = postgres.pg_dsn()
    if not dsn:
        return []
    try:
        duck = published_version(settings)
    except Exception:  # noqa: BLE001 - a damaged file is said above
        duck = None
    try:
        pg = postgres.current_version(dsn)
    except Exception as err:  # noqa: BLE001 - unreachable, refused: said, status goes on
        return [f"PostgreSQL publication: UNREACHABLE ({postgres.describe_dsn(dsn)}): "
                f"{str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__}"]
    shown = pg or "nothing published yet"
    line = f"PostgreSQL publication: {shown} (schema observatoire, DuckDB: {duck or 'nothing published'})"
    if pg != duck:
        line += (" — DIVERGES (diverge): PostgreSQL does not serve the DuckDB publication; the next "
                 "`observatoire run` loads it again (see the last run's publish_postgres step)")
    return [line]


def _warning_lines(history: History, runs: list[dict], last_pub: dict | None, limit: int = 10) -> list[str]:
    """The warnings of the last run that had some (the last publication's when the latest run changed nothing):
    a value out of range on a QPV outside the perimeter, a derived value withheld… each naming its rows."""
    from observatoire.run.reports import describe_warning

    candidates = [r for r in runs[:1] if r["status"] != "failed"]
    if last_pub and (not candidates or candidates[0]["status"] == "unchanged"):
        candidates.append(last_pub)
    for run in candidates:
        warnings = (_decoded(run.get("summary")) or {}).get("warnings") if isinstance(
            _decoded(run.get("summary")), dict) else None
        if not warnings:
            continue
        out = ["", f"warnings of run {run['run_id']} ({len(warnings)}, not blocking):"]
        out += [f"  - {describe_warning(w)}" for w in warnings[:limit]]
        if len(warnings) > limit:
            out.append(f"  … {len(warnings) - limit} more")
        if run.get("details_path"):
            out.append(f"  report: {history.resolve(run['details_path'])}")
        return out
    return []


def _decoded(text):
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
