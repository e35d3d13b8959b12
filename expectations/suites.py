"""The expectation suites, as code: deterministic (no generated ids), reviewed in git, built from the
same facts the rest of the project uses (the parsers' column specs, the indicator catalogue, the
perimeter's QPV list).

A suite is a list of :class:`Check`; :mod:`expectations.runner` turns each into a Great Expectations 1.x
expectation and evaluates it on a DataFrame. Nothing here imports great_expectations (it is slow to
import), so suites can be listed, printed and tested cheaply.

Raw suites (one per source, evaluated on the parsed table of each newly landed file, before dbt):
    columns and types · QPV codes in the 2024 format, never a 2015 ``QP…`` code · every QPV of the
    perimeter present · no duplicate keys · values within the catalogue's plausible range (counts ≥ 0,
    rates in [0, 100], a QPV population > 0) · secret cells NULL, not 0 · millésime as expected ·
    volume guard (no drop of more than 40 % of rows against the last successful load).
Mart suites (evaluated on the marts in build.duckdb, before publish): keys unique, every QPV of the
perimeter × indicator × millésime, statut in the allowed set, values within the catalogue's range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

QPV_2024_REGEX = r"^QN(?:\d{3}|02A|02B)\d{2}[NMIC]$"
QPV_2015_REGEX = r"^QP\d{6}$"
STATUTS = ("disponible", "secret_statistique", "non_publie", "attendu_partenaire", "non_calculable")
VOLUME_DROP_MAX = 0.40
#: how the motif of a derived value withheld as implausible starts (dbt: int_indicateurs_qpv)
NON_CALCULABLE_MOTIF = "Valeur non calculable : "


@dataclass(frozen=True)
class Check:
    type: str  # the GX expectation, snake_case (expect_column_values_to_be_between, ...)
    kwargs: dict[str, Any]
    description: str  # what the check means, for people reading a failure
    severity: str = "error"  # error = fails the gate; warning = reported only
    # evaluate on some rows only: (column, value) for column == value, (column, "in", [values]) for a set
    row_condition: tuple | None = None

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column") or (
            ",".join(self.kwargs["column_list"]) if "column_list" in self.kwargs else None
        )


@dataclass
class Suite:
    name: str
    target: str  # "raw:<source>" or "mart:<model>"
    checks: list[Check] = field(default_factory=list)
    id_columns: tuple[str, ...] = ("code_qpv",)  # shown beside each offending value

    def add(self, *checks: Check) -> Suite:
        self.checks.extend(checks)
        return self

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "target": self.target,
            "checks": [
                {"type": c.type, "kwargs": c.kwargs, "description": c.description, "severity": c.severity,
                 "row_condition": list(c.row_condition) if c.row_condition else None}
                for c in self.checks
            ],
        }


def _range_for(column, catalogue: dict[str, dict]) -> tuple[float | None, float | None]:
    """Plausible range of a raw value column: the catalogue's range for its indicator, else by kind."""
    lo = hi = None
    if column.indicateur and column.indicateur in catalogue:
        ind = catalogue[column.indicateur]
        lo, hi = ind.get("valeur_min"), ind.get("valeur_max")
    if column.kind == "count":
        lo = 0 if lo is None else max(lo, 0)
    elif column.kind == "rate":
        lo = 0 if lo is None else max(lo, 0)
        hi = 100 if hi is None else min(hi, 100)
    return lo, hi


def raw_suite(
    source_id: str,
    spec,
    *,
    millesime: int,
    perimeter_qpv: list[str],
    catalogue: dict[str, dict],
    previous_rows: int | None = None,
    covers_perimeter: bool = True,
) -> Suite:
    """The gate for one newly landed file of ``source_id`` (its parsed table)."""
    ids = tuple(dict.fromkeys([c for c in (spec.qpv_column, *spec.key) if c] + ["_line"]))
    suite = Suite(name=f"raw_{source_id}", target=f"raw:{source_id}", id_columns=ids)
    columns = [c.name for c in spec.columns] + ["millesime", "_line", "_secret"]
    suite.add(
        Check("expect_table_columns_to_match_set", {"column_set": columns, "exact_match": True},
              "the parsed table has exactly the expected columns"),
        Check("expect_table_row_count_to_be_between", {"min_value": 1},
              "the file holds at least one data row"),
        Check("expect_column_values_to_be_in_set", {"column": "millesime", "value_set": [millesime]},
              f"every row is of millésime {millesime}"),
    )
    for col in spec.columns:
        if col.type in ("number", "integer"):
            suite.add(Check("expect_column_values_to_be_of_type",
                            {"column": col.name, "type_": "float64" if col.type == "number" else "int64"},
                            f"{col.name} is numeric"))
    qpv = spec.qpv_column
    if qpv:
        if spec.qpv_required:
            suite.add(Check("expect_column_values_to_not_be_null", {"column": qpv}, "every row has a QPV code"))
        suite.add(
            Check("expect_column_values_to_not_match_regex", {"column": qpv, "regex": QPV_2015_REGEX},
                  "no QPV 2015 code (QP + 6 digits) in a source on the 2024 geography"),
            Check("expect_column_values_to_match_regex", {"column": qpv, "regex": QPV_2024_REGEX},
                  "QPV codes follow the 2024 format QN + département (3 characters) + 2 digits + N/M/I/C"),
        )
        if covers_perimeter and spec.covers_all_qpv and perimeter_qpv:
            suite.add(Check("expect_column_distinct_values_to_contain_set",
                            {"column": qpv, "value_set": sorted(perimeter_qpv)},
                            f"every QPV of the perimeter ({len(perimeter_qpv)}) is present"))
    if spec.key:
        if len(spec.key) == 1:
            suite.add(Check("expect_column_values_to_be_unique", {"column": spec.key[0]},
                            f"no duplicate {spec.key[0]}"))
        else:
            suite.add(Check("expect_compound_columns_to_be_unique", {"column_list": list(spec.key)},
                            f"no duplicate key ({', '.join(spec.key)})"))
    # value checks (ranges, plausibility) decide only for the rows of the perimeter: the same failure on a row
    # outside it (a national file's QPV the observatory does not publish) is a warning naming the row
    value_checks: list[Check] = []
    for col in spec.value_columns:
        lo, hi = _range_for(col, catalogue)
        if lo is not None or hi is not None:
            kw = {"column": col.name}
            if lo is not None:
                kw["min_value"] = lo
            if hi is not None:
                kw["max_value"] = hi
            what = col.indicateur or col.kind or "value"
            value_checks.append(Check("expect_column_values_to_be_between", kw,
                                      f"{col.name} within the plausible range for {what} [{lo}, {hi}]"))
        if not col.secret_allowed:
            value_checks.append(Check("expect_column_values_to_not_be_null", {"column": col.name},
                                      f"{col.name} is published for every row (never secret)"))
        if col.zero_is_suspect:
            value_checks.append(Check(
                "expect_column_values_to_not_be_in_set", {"column": col.name, "value_set": [0]},
                f"{col.name} is never exactly 0: a withheld (secret) cell must be blank/NULL, not 0"))
    suite.add(*split_by_perimeter(value_checks, qpv, perimeter_qpv))
    if previous_rows:
        floor = math.ceil(previous_rows * (1 - VOLUME_DROP_MAX))
        suite.add(
            Check("expect_table_row_count_to_be_between", {"min_value": floor},
                  f"volume guard: at most a {int(VOLUME_DROP_MAX * 100)} % drop against the last successful "
                  f"load ({previous_rows} rows, so at least {floor})"),
            Check("expect_table_row_count_to_be_between", {"max_value": previous_rows},
                  f"more rows than the last successful load ({previous_rows}): check the source",
                  severity="warning"),
        )
    return suite


OUTSIDE_PERIMETER = "outside the perimeter"


def split_by_perimeter(checks: list[Check], qpv_column: str | None, perimeter_qpv: list[str]) -> list[Check]:
    """Each value check twice: an error on the rows of the perimeter's QPV, a warning on the other rows (a QPV
    the observatory does not publish, or no QPV). Without a QPV column or a perimeter, the checks as they are:
    every row decides."""
    if not qpv_column or not perimeter_qpv:
        return list(checks)
    inside = ("in", sorted(perimeter_qpv))
    out = []
    for check in checks:
        out.append(Check(check.type, check.kwargs, f"{check.description} (QPV of the perimeter)",
                         row_condition=(qpv_column, *inside)))
        out.append(Check(check.type, check.kwargs, f"{check.description} ({OUTSIDE_PERIMETER}: reported only)",
                         severity="warning", row_condition=(qpv_column, "not_in", sorted(perimeter_qpv))))
    return out


def mart_suites(*, perimeter_qpv: list[str], catalogue: dict[str, dict], millesimes: dict[str, list[int]],
                contract_perimeter: bool = True) -> list[Suite]:
    """The gates on the marts. ``millesimes`` maps each indicator to the millésimes it must cover.
    ``contract_perimeter`` False (any perimeter but the Métropole): the comparators' presence is reported as a
    warning, since the comparator sources' coverage of a new territory is checked before it is enforced."""
    n_qpv = len(perimeter_qpv)
    dim_qpv = Suite(name="mart_dim_qpv", target="mart:dim_qpv").add(
        Check("expect_table_row_count_to_equal", {"value": n_qpv}, f"one row per QPV of the perimeter ({n_qpv})"),
        Check("expect_column_values_to_be_unique", {"column": "code_qpv"}, "no duplicate code_qpv"),
        Check("expect_column_values_to_match_regex", {"column": "code_qpv", "regex": QPV_2024_REGEX},
              "QPV codes in the 2024 format"),
        Check("expect_column_distinct_values_to_equal_set", {"column": "code_qpv", "value_set": sorted(perimeter_qpv)},
              "exactly the QPV of the perimeter"),
    )
    dim_indicateur = Suite(name="mart_dim_indicateur", target="mart:dim_indicateur", id_columns=("indicateur",)).add(
        Check("expect_table_row_count_to_equal", {"value": len(catalogue)},
              f"the whole indicator catalogue ({len(catalogue)} indicators)"),
        Check("expect_column_values_to_be_unique", {"column": "indicateur"}, "no duplicate indicateur"),
    )
    fct = Suite(name="mart_fct_indicateur_qpv", target="mart:fct_indicateur_qpv",
                id_columns=("code_qpv", "indicateur", "millesime"))
    expected_rows = sum(len(v) for v in millesimes.values()) * n_qpv
    fct.add(
        Check("expect_compound_columns_to_be_unique", {"column_list": ["code_qpv", "indicateur", "millesime"]},
              "one row per QPV × indicateur × millésime"),
        Check("expect_table_row_count_to_equal", {"value": expected_rows},
              f"every QPV of the perimeter ({n_qpv}) × every indicator × each of its millésimes "
              f"({expected_rows} rows)"),
        Check("expect_column_values_to_be_in_set", {"column": "statut", "value_set": list(STATUTS)},
              "statut is one of " + ", ".join(STATUTS)),
        Check("expect_column_values_to_be_in_set", {"column": "code_qpv", "value_set": sorted(perimeter_qpv)},
              "only QPV of the perimeter"),
        Check("expect_column_values_to_be_in_set", {"column": "indicateur", "value_set": sorted(catalogue)},
              "only indicators of the catalogue"),
    )
    # plausible range per indicator, one check per distinct range (indicators sharing it grouped)
    ranges: dict[tuple, list[str]] = {}
    for ind, info in sorted(catalogue.items()):
        ranges.setdefault((info.get("valeur_min"), info.get("valeur_max")), []).append(ind)
    for (lo, hi), inds in sorted(ranges.items(), key=lambda kv: str(kv[0])):
        kw = {"column": "valeur"}
        if lo is not None:
            kw["min_value"] = lo
        if hi is not None:
            kw["max_value"] = hi
        if len(kw) > 1:
            fct.add(Check("expect_column_values_to_be_between", kw,
                          f"valeur within the catalogue's range [{lo}, {hi}] for {', '.join(inds)}",
                          row_condition=("indicateur", "in", inds)))
    # a derived value outside its plausible range was withheld (non_calculable, its motif naming the value found,
    # its numerator and denominator): reported, never blocking
    fct.add(Check("expect_column_values_to_not_match_regex", {"column": "motif", "regex": f"^{NON_CALCULABLE_MOTIF}"},
                  "no derived value withheld as implausible (its sources disagree: see the motif)",
                  severity="warning"))
    # a value is present exactly when the statut says it is available
    fct.add(Check("expect_column_values_to_not_be_null", {"column": "valeur"},
                  "a row with statut 'disponible' has a value", row_condition=("statut", "disponible")))
    for statut in STATUTS[1:]:
        fct.add(Check("expect_column_values_to_be_null", {"column": "valeur"},
                      f"a row with statut '{statut}' has no value (NULL, never 0)",
                      row_condition=("statut", statut)))
    # comparators present where the catalogue promises them (outside-QPV values may be unknowable: not checked)
    for niveau in ("commune", "perimetre", "france"):
        inds = sorted(i for i, info in catalogue.items()
                      if niveau in (info.get("comparateurs") or "").split("|") and millesimes.get(i))
        if inds:
            fct.add(Check("expect_column_values_to_not_be_null", {"column": f"valeur_{niveau}"},
                          f"the {niveau} comparator is present for {', '.join(inds)}",
                          severity="error" if contract_perimeter else "warning",
                          row_condition=("indicateur", "in", inds)))

    wide = []
    defis = sorted({info["defi"] for info in catalogue.values() if info.get("defi")})
    socle = [i for i, info in catalogue.items() if info.get("categorie") == "socle"]
    for name, inds in [(f"mart_defi_{d}", [i for i, x in catalogue.items() if x.get("defi") == d]) for d in defis] + [
            ("mart_qpv_fiche", socle)]:
        years = sorted({y for i in inds for y in millesimes.get(i, [])})
        suite = Suite(name=f"mart_{name}" if not name.startswith("mart_") else name, target=f"mart:{name}",
                      id_columns=("code_qpv", "millesime"))
        suite.add(
            Check("expect_compound_columns_to_be_unique", {"column_list": ["code_qpv", "millesime"]},
                  "one row per QPV × millésime"),
            Check("expect_table_row_count_to_equal", {"value": n_qpv * len(years)},
                  f"every QPV of the perimeter ({n_qpv}) × each millésime of its indicators ({len(years)})"),
            Check("expect_column_distinct_values_to_equal_set", {"column": "code_qpv", "value_set": sorted(perimeter_qpv)},
                  "exactly the QPV of the perimeter"),
        )
        for ind in inds:
            suite.add(
                Check("expect_column_values_to_not_be_null", {"column": f"{ind}_statut"},
                      f"{ind}_statut is never empty (the catalogue's statut where {ind} does not cover the millésime)"),
                Check("expect_column_values_to_be_in_set", {"column": f"{ind}_statut", "value_set": list(STATUTS)},
                      f"{ind}_statut is one of the statuts"),
                Check("expect_column_values_to_not_be_null", {"column": f"{ind}_motif"},
                      f"an empty {ind} has its motif", row_condition=(f"{ind}_statut", "not_in", ["disponible"])),
            )
        wide.append(suite)

    # where are we now: every QPV × every indicator, its latest available value or why there is none
    derniere = Suite(name="mart_derniere_valeur", target="mart:mart_derniere_valeur",
                     id_columns=("code_qpv", "indicateur")).add(
        Check("expect_compound_columns_to_be_unique", {"column_list": ["code_qpv", "indicateur"]},
              "one row per QPV × indicateur"),
        Check("expect_table_row_count_to_equal", {"value": n_qpv * len(catalogue)},
              f"every QPV of the perimeter ({n_qpv}) × every indicator of the catalogue ({len(catalogue)})"),
        Check("expect_column_distinct_values_to_equal_set", {"column": "code_qpv", "value_set": sorted(perimeter_qpv)},
              "exactly the QPV of the perimeter"),
        Check("expect_column_distinct_values_to_equal_set", {"column": "indicateur", "value_set": sorted(catalogue)},
              "exactly the indicators of the catalogue"),
        Check("expect_column_values_to_not_be_null", {"column": "statut"}, "statut is never empty"),
        Check("expect_column_values_to_be_in_set", {"column": "statut", "value_set": list(STATUTS)},
              "statut is one of " + ", ".join(STATUTS)),
        Check("expect_column_values_to_not_be_null", {"column": "valeur"},
              "a row with statut 'disponible' has a value", row_condition=("statut", "disponible")),
        Check("expect_column_values_to_not_be_null", {"column": "motif"},
              "an empty value has its motif", row_condition=("statut", "not_in", ["disponible"])),
        Check("expect_column_values_to_not_be_null", {"column": "motif_reference"},
              "an empty baseline value has its motif",
              row_condition=("statut_reference", "in", [s for s in STATUTS if s != "disponible"])),
    )
    # the maps' contours: one per QPV of the perimeter
    contour = Suite(name="mart_dim_qpv_contour", target="mart:dim_qpv_contour").add(
        Check("expect_table_row_count_to_equal", {"value": n_qpv}, f"one contour per QPV of the perimeter ({n_qpv})"),
        Check("expect_column_values_to_be_unique", {"column": "code_qpv"}, "no duplicate code_qpv"),
        Check("expect_column_distinct_values_to_equal_set", {"column": "code_qpv", "value_set": sorted(perimeter_qpv)},
              "exactly the QPV of the perimeter"),
    )
    return [dim_qpv, dim_indicateur, fct, *wide, derniere, contour]


def chiffres_cles_suite(chiffres: list[str], *, contract_perimeter: bool = True) -> Suite:
    """The key figures: each of the contract's figures present, beside the contract's value (the Métropole's
    perimeter; for another perimeter the contract's value is never shown)."""
    suite = Suite(name="mart_chiffres_cles", target="mart:mart_chiffres_cles", id_columns=("chiffre", "millesime")).add(
        Check("expect_column_distinct_values_to_equal_set", {"column": "chiffre", "value_set": sorted(chiffres)},
              "every key figure of the contract is recomputed"),
        Check("expect_compound_columns_to_be_unique", {"column_list": ["chiffre", "millesime"]},
              "one row per key figure × millésime"),
        Check("expect_column_values_to_not_be_null", {"column": "valeur"},
              "an available key figure has a value", row_condition=("statut", "disponible")),
    )
    if contract_perimeter:
        suite.add(Check("expect_column_values_to_not_be_null", {"column": "valeur_contrat"},
                        "the contract's figure is shown beside each recomputed one"))
    else:
        suite.add(Check("expect_column_values_to_be_null", {"column": "valeur_contrat"},
                        "the contract's figures (the Métropole's) are never set beside another perimeter's"))
    return suite
