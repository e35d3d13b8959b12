"""What a run tells: its warnings (what the gates reported without refusing), its report and a failure's."""

from __future__ import annotations

import json
from pathlib import Path

from extract.http import redact_text
from observatoire.run.context import Context


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
