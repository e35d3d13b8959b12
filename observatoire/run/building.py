"""Load the accepted landings into the build warehouse (with the point-in-polygon joins) and run dbt."""

from __future__ import annotations

import json
from pathlib import Path

from extract.landing import write_parsed
from extract.parsers import code_fingerprint, get_parser
from observatoire import progress
from observatoire.catalogue import indicateurs
from observatoire.errors import PipelineError
from observatoire.run.context import Context
from observatoire.run.extraction import ensure_parsed
from observatoire.run.reports import failure_report


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
