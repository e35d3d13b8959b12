"""``observatoire``: the command line of the observatory's pipeline.

    observatoire run [--source ID]... [--millesime YEAR] [--force]
    observatoire sources list [--json]
    observatoire status [--limit N] [--json]
    observatoire snapshot create|list|verify|diff …
    observatoire partenaires modele|valider|importer …

Settings come from the environment: OBSERVATOIRE_DATA_DIR (default ./data), OBSERVATOIRE_MODE (live or
demo, default live), OBSERVATOIRE_URL_<ID> (override one source's URL), OBSERVATOIRE_PERIMETRE.
"""

from __future__ import annotations

import json
import sys

import click

from observatoire.cli_common import settings as _settings


class _Main(click.Group):
    def invoke(self, ctx: click.Context):
        from observatoire.history import HistoryVersionError

        try:
            return super().invoke(ctx)
        except HistoryVersionError as err:  # a run history written by a newer release: one line, never a traceback
            raise click.ClickException(str(err)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="observatoire-quartiers")
def main() -> None:
    """Observatoire des quartiers du Contrat de ville métropolitain Aix-Marseille-Provence 2024-2030.

    Extracts the open data of the baromètres, lands it with its provenance, builds the per-QPV marts with
    dbt, validates every load with Great Expectations and only then publishes the warehouse analysts read
    ($OBSERVATOIRE_DATA_DIR/warehouse/observatoire.duckdb).
    """


@main.command()
@click.option("--source", "sources", multiple=True, metavar="ID",
              help="Only this source (repeatable). Default: every source of the registry.")
@click.option("--millesime", type=int, metavar="YEAR",
              help="Load this millésime (backfill) instead of the latest; OBSERVATOIRE_URL_<ID> then applies to it.")
@click.option("--force", is_flag=True, help="Ignore the unchanged checks (HTTP validators, sha256, fingerprint).")
@click.option("--accept-break", "accept_breaks", multiple=True, metavar="SOURCE",
              help="A deliberate break of series (new methodology) for this source's new file: its jumps against the "
                   "last accepted load only warn, the break is recorded and flagged rupture_serie (needs --reason).")
@click.option("--reason", metavar="TEXT", help="Why the break of series is accepted (recorded and published).")
@click.option("--plain", is_flag=True,
              help="Plain lines (one per source and step, no progress bar, no colour) even on a terminal; the "
                   "default when the output is not a terminal or TERM=dumb.")
@click.option("--quiet", "-q", is_flag=True,
              help="Only the summary, the warnings and errors, and the result line: no line per source or step.")
def run(sources: tuple[str, ...], millesime: int | None, force: bool, accept_breaks: tuple[str, ...],
        reason: str | None, plain: bool, quiet: bool) -> None:
    """Run the pipeline: extract, validate, build, validate, publish.

    Publishes only if every check passed and something changed; otherwise the published warehouse is left
    untouched. Demo and live data never share a data directory: a run of the other mode than the data the
    directory holds (meta/mode.json) is refused. Exit status: 0 published or unchanged, 1 failed (the message
    says where and why), 2 usage (a bad request, or a data directory holding the other mode's data: no run
    started, nothing touched).

    Each source's line is printed as soon as it is fetched, and each step's when it ends; on a terminal,
    progress bars show the download in flight (bytes received of the announced size), the gates, dbt's build
    (nodes and models done) and the publication. A summary ends the run (sources new, unchanged, failed,
    warnings, key figures); the last line, on standard output, is the run's result.
    """
    from observatoire import progress
    from observatoire.errors import PipelineError, RunRequestError
    from observatoire.locking import LockTimeout
    from observatoire.run import run as run_pipeline

    if accept_breaks and not (reason or "").strip():
        click.echo("Error: --accept-break needs --reason \"…\" (why the series breaks: it is recorded and published)",
                   err=True)
        sys.exit(2)
    if reason and not accept_breaks:
        click.echo("Error: --reason goes with --accept-break SOURCE", err=True)
        sys.exit(2)
    settings = _settings()
    reporter = progress.for_command_line(quiet=quiet, plain=plain)
    say = reporter.line
    if not quiet:
        say(f"observatoire run — mode {settings.mode}, data directory {settings.data_dir}")
    try:
        with progress.reporting(reporter):
            result = run_pipeline(settings, sources=list(sources) or None, millesime=millesime, force=force,
                                  accept_breaks={s: reason.strip() for s in accept_breaks} if accept_breaks else None)
    except RunRequestError as err:
        say(f"Error: {err}")
        sys.exit(2)
    except PipelineError as err:
        if reporter.results:
            say("\n" + progress.summary_line(reporter.results, reporter.elapsed()))
        # the short text when the pipeline gives one (one line per failed source, a diagnosis); all in details
        say(f"\nRUN FAILED at stage {err.stage} (run {err.run_id})\n{getattr(err, 'console', None) or err}",
            "bold red")
        if err.details_path and err.stage == "publish_postgres":
            say(f"\ndetails: {err.details_path}\nthe DuckDB warehouse was published; PostgreSQL still serves its "
                "previous version (the next run loads it again); see `observatoire status`")
        elif err.details_path:
            say(f"\ndetails: {err.details_path}\nthe published warehouse was not modified; see "
                "`observatoire status`")
        sys.exit(1)
    except LockTimeout as err:
        say(f"RUN NOT STARTED: {err}", "bold red")
        sys.exit(1)
    except Exception as err:  # before a run could even be recorded: a read-only or full data directory…
        from observatoire.failures import explain

        why = explain(err, data_dir=settings.data_dir)
        if why is None:
            raise
        say(f"RUN NOT STARTED: {why}", "bold red")
        sys.exit(1)
    for line in _summary(settings, result, reporter):
        say(line)
    click.echo(f"run {result.run_id}: {result.status} — {result.message}")


def _summary(settings, result, reporter) -> list[str]:
    """The end of a run on one screen: the sources (new, unchanged, failed…), the warnings (the first ten),
    the key figures of a publication."""
    from observatoire import progress
    from observatoire.run.reports import describe_warning

    lines = ["", progress.summary_line(result.sources, reporter.elapsed())]
    if result.warnings:
        lines.append(f"{len(result.warnings)} warning(s), not blocking (report: {result.report}):")
        lines += [f"  - {describe_warning(w)}"[:240] for w in result.warnings[:10]]
        if len(result.warnings) > 10:
            lines.append(f"  … and {len(result.warnings) - 10} more in the report")
    else:
        lines.append("no warning")
    if result.status == "published":
        lines += _key_figures(settings)
        from observatoire.warehouse import site_dir

        index = site_dir(settings) / "current" / "index.html"
        if index.is_file():
            lines.append(f"site: {index}")
    return lines


def _key_figures(settings) -> list[str]:
    """The headline of a publication: the QPV, their population (latest millésime), the mode."""
    import duckdb

    try:
        con = duckdb.connect(str(settings.published_db), read_only=True)
    except duckdb.Error:
        return []
    try:
        rows = con.execute(
            "select chiffre, millesime, valeur, valeur_contrat from mart_chiffres_cles where chiffre in "
            "('nombre_qpv', 'population_qpv') and valeur is not null qualify millesime = max(millesime) over "
            "(partition by chiffre) order by chiffre").fetchall()
        mode = con.execute("select mode from meta.publication").fetchone()
    except duckdb.Error:
        return []
    finally:
        con.close()
    lines = []
    for chiffre, millesime, valeur, contrat in rows:
        label = "QPV" if chiffre == "nombre_qpv" else f"habitants des QPV (population municipale {millesime})"
        shown = f"{int(valeur):,}".replace(",", "\u202f")
        said = f"{float(contrat):,.0f}".replace(",", "\u202f") if isinstance(contrat, int | float) else contrat
        lines.append(f"  {shown} {label}" + (f" — le contrat : {said}" if contrat else ""))
    if mode and mode[0] == "demo":
        lines.append("  (mode démonstration : données de démonstration, valeurs synthétiques sauf les populations)")
    return lines


@main.command()
@click.argument("source")
@click.argument("millesime", type=int)
@click.option("--reason", required=True, metavar="TEXT", help="Why the file is set aside (recorded).")
def quarantine(source: str, millesime: int, reason: str) -> None:
    """Set the file in use for SOURCE MILLESIME aside; the previous accepted file is used again.

    The next `observatoire run` publishes from the previous accepted file of that millésime (or without that
    millésime when there is none). The same file fetched again stays aside; `observatoire run --force --source
    SOURCE --millesime MILLESIME` fetches and validates it again. Exit 2 when there is nothing to set aside.
    """
    from observatoire.locking import LockTimeout
    from observatoire.run.extraction import QuarantineError
    from observatoire.run.extraction import quarantine as set_aside

    if not reason.strip():
        raise click.UsageError("--reason must say why the file is set aside")
    try:
        out = set_aside(_settings(), source, millesime, reason.strip())
    except QuarantineError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(2)
    except LockTimeout as err:
        click.echo(f"NOT DONE: {err}", err=True)
        sys.exit(1)
    gone, now = out["set_aside"], out["in_use"]
    click.echo(f"{source} {millesime}: file {gone['sha256'][:12]}… ({gone['raw_path']}) set aside: {reason.strip()}")
    if now:
        click.echo(f"in use from the next run: file {now['sha256'][:12]}… fetched {now['fetched_at']}")
    else:
        click.echo(f"no earlier accepted file: millésime {millesime} of {source} is left out of the next publication")
    click.echo("run `observatoire run` to publish without it")


@main.group()
def sources() -> None:
    """The source registry (extract/sources.yml)."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (id, family, publisher, licence, format, millesimes).")
def sources_list(as_json: bool) -> None:
    """List the sources of the registry and the URL of each millésime.

    The URL of the latest millésime shows the OBSERVATOIRE_URL_<ID> override when one is set.
    """
    from extract.registry import load_registry

    overrides = _settings().url_overrides
    registry = load_registry()
    out = []
    for src in registry.values():
        item = src.as_public_dict()
        override = overrides.get(src.env_override_name)
        if override and src.latest_millesime is not None:
            item["millesimes"][str(src.latest_millesime)] = override
        out.append(item)
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for item in out:
        click.echo(f"{item['id']}  [{item['family']}] {item['publisher']} — {item['format']}, {item['licence']}")
        for year, url in item["millesimes"].items():
            click.echo(f"    {year}  {url}")


@main.command()
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1), help="Number of runs shown.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def status(limit: int, as_json: bool) -> None:
    """Show the last runs and, for a failed one, what failed and where the details are."""
    from observatoire.status import render_status

    settings = _settings()
    click.echo(render_status(settings, limit=limit, as_json=as_json))


@main.command()
@click.option("--mode", type=click.Choice(["demo", "live"]),
              help="The mode of the data the directory holds; needed only when meta/mode.json and an intact published "
                   "file are both missing.")
def repair(mode: str | None) -> None:
    """Rebuild a lost or emptied run history (meta/history.sqlite) from the files on disk.

    Source files: from the published file's copy of the history when it is intact, else from raw/ (checked
    against their sha256, validated again by the raw gate); partner files: from partenaires/fichiers/ (validated
    again). Files missing or altered are left out and named. A usable history is left as it is. Exit status: 0
    rebuilt or nothing to repair, 1 busy or failed, 2 the data's mode unknown or not OBSERVATOIRE_MODE (nothing
    written). See docs/runbook.md, « Lost or damaged history ».
    """
    from observatoire.locking import LockTimeout
    from observatoire.repair import RepairError
    from observatoire.repair import repair as rebuild

    try:
        report = rebuild(_settings(), mode=mode)
    except RepairError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(2)
    except LockTimeout as err:
        click.echo(f"NOT DONE: {err}", err=True)
        sys.exit(1)
    for line in report.lines():
        click.echo(line)


@main.command()
@click.option("--dbt", "dbt_docs", is_flag=True,
              help="Instead: write dbt's documentation of the models (in French, with lineage) from the last build "
                   "as one HTML file, and print its path.")
def docs(dbt_docs: bool) -> None:
    """Print the path of the Great Expectations Data Docs (validation results of every run)."""
    from expectations.runner import docs_index
    from observatoire.run.raw_validation import gx_root

    settings = _settings()
    if dbt_docs:
        from observatoire.dbt_runner import DbtError, generate_docs
        from observatoire.locking import LockTimeout

        try:
            click.echo(str(generate_docs(settings)))
        except (DbtError, LockTimeout) as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(1)
        return
    index = docs_index(gx_root(settings))
    if not index.exists():
        click.echo(f"no Data Docs yet in {settings.data_dir} (they are written by the first run's validations)",
                   err=True)
        sys.exit(1)
    click.echo(str(index))


from observatoire.cli_partenaires import partenaires  # noqa: E402 - sub-command groups, registered last
from observatoire.cli_postgres import postgres  # noqa: E402
from observatoire.cli_site import site  # noqa: E402
from observatoire.cli_snapshot import snapshot  # noqa: E402

main.add_command(snapshot)
main.add_command(site)
main.add_command(partenaires)
main.add_command(postgres)

if __name__ == "__main__":
    main()
