"""Gates that remember: a newly landed file compared with the last accepted load of the same source.

Absolute bounds cannot see a plausible-looking fault: a publisher that changes how it writes its secret marker
(an indicator silently turns NULL), a rate sent as a fraction, a count ×3, a thousands dot read as a decimal,
coordinates swapped or re-projected (nothing falls in any QPV). Each of these moves the file away from the
previous load of the same source. :func:`compare_loads` measures that move, column by column, with DuckDB on
the two parsed Parquet files, and returns checks shaped like :func:`expectations.runner.run_suite`'s, so they
join the raw gate's summary (report, ``status``, history):

* share of secret / NULL cells per value column (perimeter rows);
* QPV by QPV where both loads have the QPV: the share of values that changed by more than the source's
  ``factor`` (the QPV most affected named with its before/after figures);
* the distribution of each value column: median and quartiles, before/after;
* the set of QPV: a QPV of the perimeter that disappears refuses; new QPV only warn;
* geolocated sources: the share of rows that fall in a QPV (match rate), against the accepted contours.

Rows of the perimeter decide a refusal (severity ``error``); the same jumps on other rows are warnings. A
deliberate break (a new methodology) is accepted with ``observatoire run --accept-break SOURCE --reason …``:
the checks then only warn, and the break is recorded (``rupture_serie`` in the marts).

Tolerances come from the registry (``drift:`` of a source in ``extract/sources.yml``), else
:data:`DEFAULT_TOLERANCES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

VALUE_KINDS = ("count", "rate", "amount", "index")
EXPECTATION = "compare_with_last_accepted_load"


@dataclass(frozen=True)
class Tolerances:
    factor: float = 2.0  # a value that changed by more than this factor (either way) has "jumped"
    max_share_jumped: float = 0.25  # … refuse when more than this share of the QPV both loads have jumped
    max_null_increase: float = 0.20  # refuse when the share of secret/NULL cells grows by more than this
    max_median_factor: float = 2.0  # refuse when the median moved by more than this factor
    max_match_drop: float = 0.30  # geolocated: refuse when the share of rows in a QPV drops by more than this
    min_rows: int = 5  # fewer comparable values than this: nothing is concluded

    @classmethod
    def from_mapping(cls, raw: dict | None) -> Tolerances:
        raw = raw or {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown drift tolerance(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**raw)


DEFAULT_TOLERANCES = Tolerances()


@dataclass(frozen=True)
class Baseline:
    """The load a new file is compared with: the last accepted one of the same source, perimeter and millésime
    (else the latest earlier millésime)."""
    parsed_path: Path
    millesime: int
    sha256: str

    def describe(self) -> str:
        return f"the last accepted load (millésime {self.millesime}, file {self.sha256[:12]}…)"


def _entry(check: str, column: str | None, severity: str, ok: bool, **extra) -> dict:
    status = "passed" if ok else ("warning" if severity == "warning" else "failed")
    entry = {"check": check, "expectation": EXPECTATION, "column": column, "severity": severity,
             "row_condition": None, "success": ok, "status": status}
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NULL"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.0f}"
    return str(v)


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _scopes(con, qpv: str | None, perimeter: list[str]) -> list[tuple[str, str, str]]:
    """(SQL condition, label, severity) of each group of rows: the perimeter's QPV decide (error), the other rows
    only warn; without a QPV column or a perimeter, every row decides. Creates the table ``perimetre`` the
    conditions read."""
    con.execute("create table perimetre (code varchar)")
    if perimeter:
        con.executemany("insert into perimetre values (?)", [[c] for c in perimeter])
    if not (qpv and perimeter):
        return [("true", "every row", "error")]
    inside = f"{qpv} in (select code from perimetre)"
    return [(inside, "QPV of the perimeter", "error"),
            (f"({qpv} is null or not {inside})", "QPV outside the perimeter: reported only", "warning")]


def _value_columns(spec) -> list:
    return [c for c in spec.value_columns if c.kind in VALUE_KINDS and c.type in ("number", "integer")]


def compare_loads(new: Path, baseline: Baseline, spec, *, perimeter_qpv: list[str], tolerances: Tolerances,
                  contours: Path | None = None, accepted_break: str | None = None) -> list[dict]:
    """Checks comparing the parsed file ``new`` with ``baseline`` (see the module's docstring)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"create view n as select * from read_parquet({_literal(new)})")
        con.execute(f"create view p as select * from read_parquet({_literal(baseline.parsed_path)})")
        qpv = spec.qpv_column
        perimeter = sorted(perimeter_qpv)
        checks: list[dict] = []
        for where, label, severity in _scopes(con, qpv, perimeter):
            if accepted_break:
                severity = "warning"
            for col in _value_columns(spec):
                # the columns the observatory publishes (tied to an indicator) decide; the others (flows, small
                # shares, deciles…: dwellings put in service legitimately double from year to year) only warn,
                # and are not compared QPV by QPV
                checks += _column_checks(con, col.name, qpv, where, label,
                                         severity if col.indicateur else "warning", baseline, tolerances,
                                         per_qpv=bool(qpv) and tuple(spec.key) == (qpv,) and bool(col.indicateur))
        if qpv:
            checks += _qpv_set_checks(con, qpv, perimeter, spec, baseline, accepted_break)
        # the match rate where the QPV comes from the coordinates (a file carrying its own QPV code needs none)
        if contours is not None and not qpv and {"longitude", "latitude"} <= {c.name for c in spec.columns}:
            checks += _match_rate_checks(new, baseline, contours, tolerances, accepted_break)
        if accepted_break:
            for c in checks:
                c["check"] += f" — break accepted: {accepted_break}"
        return checks
    finally:
        con.close()


def _column_checks(con, column: str, qpv: str | None, where: str, label: str, severity: str,
                   baseline: Baseline, tol: Tolerances, *, per_qpv: bool) -> list[dict]:
    out = []
    stats = {}
    for alias in ("n", "p"):
        stats[alias] = con.execute(
            f'select count(*), count("{column}"), quantile_cont("{column}", 0.25), median("{column}"), '
            f'quantile_cont("{column}", 0.75) from {alias} where {where}').fetchone()
    (n_rows, n_vals, n_q1, n_med, n_q3), (p_rows, p_vals, p_q1, p_med, p_q3) = stats["n"], stats["p"]
    if n_rows < tol.min_rows or p_rows < tol.min_rows:
        return out
    before_null, after_null = 1 - p_vals / p_rows, 1 - n_vals / n_rows
    ok = after_null - before_null <= tol.max_null_increase
    sample = None
    if not ok and qpv:  # the QPV whose value turned NULL (withheld) since the last load
        rows = con.execute(
            f'select n.{qpv}, p."{column}" from n join p using ({qpv}) where {where.replace(qpv, "n." + qpv)} '
            f'and n."{column}" is null and p."{column}" is not null order by n.{qpv} limit 5').fetchall()
        sample = [{qpv: code, f"{column}_before": before, f"{column}_after": None} for code, before in rows] or None
    out.append(_entry(
        f"share of secret/NULL cells of {column} ({label}) grows by at most {tol.max_null_increase:.0%} against "
        f"{baseline.describe()}", column, severity, ok, sample=sample,
        unexpected_count=(n_rows - n_vals) if not ok else None,
        observed=f"before {before_null:.1%} ({p_rows - p_vals}/{p_rows}), after {after_null:.1%} "
                 f"({n_rows - n_vals}/{n_rows})"))
    if per_qpv and qpv:
        jumped = con.execute(
            f'select count(*) filter (where r > ? or r < 1.0 / ?), count(*), '
            f'arg_max({qpv}, abs(ln(r))), arg_max(pv, abs(ln(r))), arg_max(nv, abs(ln(r))) from ('
            f'  select n.{qpv}, p."{column}" as pv, n."{column}" as nv, n."{column}" / p."{column}" as r '
            f'  from n join p using ({qpv}) where {where.replace(qpv, "n." + qpv)} '
            f'  and n."{column}" > 0 and p."{column}" > 0)', [tol.factor, tol.factor]).fetchone()
        count, total, worst, before, after = jumped
        if total >= tol.min_rows:
            share = count / total
            ok = share <= tol.max_share_jumped
            out.append(_entry(
                f"QPV by QPV, at most {tol.max_share_jumped:.0%} of the values of {column} ({label}) change by more "
                f"than ×{tol.factor:g} against {baseline.describe()}", column, severity, ok,
                unexpected_count=count,
                observed=f"{count} of {total} QPV ({share:.0%}) changed by more than ×{tol.factor:g}; most affected "
                         f"{worst}: before {_fmt(before)}, after {_fmt(after)}",
                sample=[{qpv: worst, f"{column}_before": before, f"{column}_after": after}] if not ok else None))
    if p_med and n_med and p_med > 0 and n_med > 0:
        ratio = n_med / p_med
        ok = 1 / tol.max_median_factor <= ratio <= tol.max_median_factor
        out.append(_entry(
            f"median of {column} ({label}) moves by at most ×{tol.max_median_factor:g} against "
            f"{baseline.describe()}", column, severity, ok,
            observed=f"quartiles before {_fmt(p_q1)} / {_fmt(p_med)} / {_fmt(p_q3)}, after {_fmt(n_q1)} / "
                     f"{_fmt(n_med)} / {_fmt(n_q3)} (median ×{ratio:.3g})"))
    elif p_med and p_med > 0 and n_vals and (n_med is None or n_med <= 0):
        out.append(_entry(f"median of {column} ({label}) stays positive", column, severity, False,
                          observed=f"median before {_fmt(p_med)}, after {_fmt(n_med)}"))
    return out


def _qpv_set_checks(con, qpv: str, perimeter: list[str], spec, baseline: Baseline,
                    accepted_break: str | None) -> list[dict]:
    out = []
    gone = [r[0] for r in con.execute(
        f"select distinct {qpv} from p where {qpv} in (select code from perimetre) "
        f"except select distinct {qpv} from n order by 1").fetchall()]
    if spec.covers_all_qpv or gone:
        severity = "warning" if accepted_break or not spec.covers_all_qpv else "error"
        out.append(_entry(f"every QPV of the perimeter in {baseline.describe()} is still there", qpv, severity,
                          not gone, unexpected_count=len(gone) or None, missing=gone[:50] or None))
    new = [r[0] for r in con.execute(
        f"select distinct {qpv} from n where {qpv} is not null except select distinct {qpv} from p "
        f"order by 1").fetchall()]
    out.append(_entry(f"no QPV absent from {baseline.describe()}", qpv, "warning", not new,
                      unexpected_count=len(new) or None, unexpected=new[:50] or None))
    return out


def whole_number_checks(new: Path, spec, *, perimeter_qpv: list[str]) -> list[dict]:
    """Counts are whole numbers: a count read as ``1.5`` (a thousands dot ``1.500`` taken for a decimal one) or
    ``2,5`` refuses the file on the perimeter's QPV (a warning elsewhere). Checked on every load."""
    import duckdb

    counts = [c for c in spec.value_columns if c.kind == "count" and c.type == "number"]
    if not counts:
        return []
    qpv = spec.qpv_column
    ids = [c for c in dict.fromkeys([qpv, *spec.key, "_line"]) if c]
    con = duckdb.connect()
    out = []
    try:
        con.execute(f"create view n as select * from read_parquet({_literal(new)})")
        scopes = _scopes(con, qpv, sorted(perimeter_qpv))
        for col in counts:
            column = col.name
            for where, label, scope_severity in scopes:
                severity = scope_severity if col.indicateur else "warning"  # unpublished columns only warn
                rows = con.execute(
                    f'select {", ".join(ids)}, "{column}" from n where {where} and "{column}" is not null '
                    f'and "{column}" <> round("{column}") order by _line').fetchall()
                sample = [dict(zip([*ids, column], r, strict=True)) for r in rows[:5]]
                out.append(_entry(f"{column} is a count: whole numbers only ({label}; a decimal is a thousands "
                                  f"separator read as a decimal point, or not a count)", column, severity, not rows,
                                  unexpected_count=len(rows) or None, sample=sample or None))
    finally:
        con.close()
    return out


def match_rate(parsed: Path, contours: Path) -> tuple[int, int]:
    """(rows with coordinates, rows falling in a QPV of the contours) of a geolocated parsed file."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from extract.spatial import QpvIndex, iter_assign_qpv

    index = QpvIndex.from_table(pq.read_table(contours, columns=["code_qpv", "geometry_wkb"]))
    located = matched = 0
    pf = pq.ParquetFile(parsed)
    for batch in pf.iter_batches(batch_size=500_000, columns=["longitude", "latitude"]):
        valid = pc.and_(pc.is_valid(batch.column(0)), pc.is_valid(batch.column(1)))
        located += pc.sum(valid).as_py() or 0
        for codes in iter_assign_qpv(index, batch, lon_column="longitude", lat_column="latitude"):
            matched += len(codes) - codes.null_count
    return located, matched


def _match_rate_checks(new: Path, baseline: Baseline, contours: Path, tol: Tolerances,
                       accepted_break: str | None) -> list[dict]:
    n_loc, n_match = match_rate(new, contours)
    p_loc, p_match = match_rate(baseline.parsed_path, contours)
    if p_loc < tol.min_rows or p_match == 0:
        return []
    before, after = p_match / p_loc, (n_match / n_loc if n_loc else 0.0)
    ok = after >= before * (1 - tol.max_match_drop)  # relative: 18 % of the points in a QPV falling to 0 % fails
    return [_entry(
        f"share of geolocated rows falling in a QPV drops by at most {tol.max_match_drop:.0%} of itself against "
        f"{baseline.describe()} (swapped or re-projected coordinates fall nowhere)", "longitude,latitude",
        "warning" if accepted_break else "error", ok,
        observed=f"before {before:.1%} ({p_match}/{p_loc}), after {after:.1%} ({n_match}/{n_loc})")]
