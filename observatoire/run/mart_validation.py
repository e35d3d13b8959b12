"""The mart gate: the marts dbt built, validated before anything is published (a failure stops before publish)."""

from __future__ import annotations

from observatoire import progress
from observatoire.catalogue import chiffres_cles, indicateurs
from observatoire.config import DEFAULT_PERIMETRE
from observatoire.errors import PipelineError
from observatoire.perimetre import perimeter_qpv_codes
from observatoire.run.building import inputs_behind
from observatoire.run.context import Context
from observatoire.run.raw_validation import _gate_line, gx_root


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
