"""Value checks decide for the perimeter's QPV only: the same failure on another QPV of a national file is a
warning naming the QPV, the column and the value (issue 17). Structure checks still apply to every row."""

from __future__ import annotations

import pandas as pd
import pytest

from expectations.runner import format_failures, format_warnings, run_suite
from expectations.suites import mart_suites, raw_suite, split_by_perimeter
from extract.parsers import get_parser
from observatoire.catalogue import indicateurs

PERIMETER = ["QN01301M", "QN01302M"]


def _pop_frame(rows: list[tuple[str, float | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame({
        "code_qpv": [r[0] for r in rows],
        "libelle_qpv": ["q"] * len(rows),
        "population": pd.array([r[1] for r in rows], dtype="float64"),
        "part_15_24_ans": pd.array([r[2] for r in rows], dtype="float64"),
    })


def _suite():
    spec = get_parser("insee_pop_qpv").spec
    return spec, raw_suite("insee_pop_qpv", spec, millesime=2021, perimeter_qpv=PERIMETER,
                           catalogue=indicateurs())


def _frame_for(spec, rows) -> pd.DataFrame:
    """A parsed table of the pop_QPV24 parser: its columns, the rows' values, the technical columns."""
    base = _pop_frame(rows)
    df = pd.DataFrame(index=range(len(rows)))
    for col in spec.columns:
        if col.name in base:
            df[col.name] = base[col.name]
        elif col.type in ("number",):
            df[col.name] = pd.array([None] * len(rows), dtype="float64")
        elif col.type == "integer":
            df[col.name] = pd.array([None] * len(rows), dtype="Int64")
        else:
            df[col.name] = pd.array(["x"] * len(rows), dtype="object")
    df["millesime"] = 2021
    df["_line"] = range(2, len(rows) + 2)
    df["_secret"] = ""
    return df


def test_value_checks_come_in_pairs_structure_checks_do_not():
    _spec, suite = _suite()
    ranges = [c for c in suite.checks if c.type == "expect_column_values_to_be_between"]
    assert {c.severity for c in ranges} == {"error", "warning"}
    for c in ranges:
        assert c.row_condition is not None
        assert c.row_condition[1] == ("in" if c.severity == "error" else "not_in")
        assert sorted(c.row_condition[2]) == PERIMETER
    # the code format, the duplicates and the columns are checked on every row, as errors
    for t in ("expect_column_values_to_match_regex", "expect_column_values_to_be_unique",
              "expect_table_columns_to_match_set"):
        found = [c for c in suite.checks if c.type == t]
        assert found and all(c.row_condition is None and c.severity == "error" for c in found)
    # the catalogue's real-world bound: the largest QPV 2024 (132,511 inhabitants) is plausible
    pop = next(c for c in ranges if c.kwargs["column"] == "population")
    assert pop.kwargs["min_value"] == 1 and pop.kwargs["max_value"] >= 132_511 * 1.2


def test_split_without_qpv_column_or_perimeter_keeps_every_row_deciding():
    _spec, suite = _suite()
    checks = [c for c in suite.checks if c.type == "expect_column_values_to_be_between"][:1]
    assert split_by_perimeter(checks, None, PERIMETER) == checks
    assert split_by_perimeter(checks, "code_qpv", []) == checks


def test_out_of_range_outside_the_perimeter_warns_inside_refuses():
    spec, suite = _suite()
    # a zero population and a share above 100 on a QPV the observatory does not publish: warnings
    df = _frame_for(spec, [("QN01301M", 5035.0, 21.2), ("QN01302M", 7840.0, 12.5),
                           ("QN09313M", 0.0, 140.0)])
    summary = run_suite(suite, df)
    assert summary["success"], format_failures(summary)
    assert summary["warnings"] >= 2
    text = format_warnings(summary)
    assert "QN09313M" in text and "population" in text and "part_15_24_ans" in text and "140.0" in text
    # the same row on a QPV of the perimeter refuses the file, naming it
    df = _frame_for(spec, [("QN01301M", 0.0, 21.2), ("QN01302M", 7840.0, 12.5), ("QN09313M", 132511.0, None)])
    summary = run_suite(suite, df)
    assert not summary["success"]
    failed = format_failures(summary)
    assert "QN01301M" in failed and "population" in failed and "QN09313M" not in failed


def test_structure_checks_refuse_a_bad_code_outside_the_perimeter_too():
    spec, suite = _suite()
    df = _frame_for(spec, [("QN01301M", 5035.0, 21.2), ("QN01302M", 7840.0, 12.5), ("QP093013", 900.0, 10.0)])
    summary = run_suite(suite, df)
    assert not summary["success"]
    assert "QP093013" in format_failures(summary)


@pytest.mark.parametrize("statut,valeur,ok", [("disponible", 213.4, False), ("non_calculable", None, True)])
def test_mart_gate_refuses_an_implausible_value_still_available(statut, valeur, ok):
    catalogue = {"part_population_couverte_caf": {"valeur_min": 0, "valeur_max": 150, "defi": None,
                                                  "categorie": "socle", "comparateurs": ""}}
    fct = next(s for s in mart_suites(perimeter_qpv=["QN01301M"], catalogue=catalogue,
                                      millesimes={"part_population_couverte_caf": [2024]})
               if s.target == "mart:fct_indicateur_qpv")
    motif = None if statut == "disponible" else "Valeur non calculable : 213,4 (pourcentage) hors de la plage"
    df = pd.DataFrame({"code_qpv": ["QN01301M"], "indicateur": ["part_population_couverte_caf"],
                       "millesime": [2024], "valeur": pd.array([valeur], dtype="float64"), "statut": [statut],
                       "motif": pd.array([motif], dtype="object")})
    summary = run_suite(fct, df)
    assert summary["success"] is ok, format_failures(summary)
    if ok:  # withheld: reported as a warning naming the QPV and the motif
        assert summary["warnings"] == 1
        assert "QN01301M" in format_warnings(summary) and "213,4" in format_warnings(summary)


def test_a_national_perimeter_is_evaluated_as_a_flag_with_the_same_verdicts(monkeypatch):
    """A perimeter of 1,609 QPV: the membership is computed once per validation as a boolean column
    (``runner.FLAG_CONDITION_VALUES``), never handed to pandas' parser per check; the verdicts, the offending
    rows and the table's columns are those of GX's own membership condition."""
    from expectations import runner

    national = [f"QN{d:03d}{i:02d}M" for d in range(1, 34) for i in range(1, 51)][:1609]
    assert {"QN01301M", "QN01302M"} <= set(national) and "QN09313M" not in national
    spec = get_parser("insee_pop_qpv").spec
    suite = raw_suite("insee_pop_qpv", spec, millesime=2021, perimeter_qpv=national,
                      catalogue=indicateurs())
    # a failure inside the perimeter, a warning outside it, a row with no QPV code at all (outside: warns)
    df = _frame_for(spec, [("QN01301M", 0.0, 21.2), ("QN01302M", 7840.0, 12.5), ("QN09313M", 0.0, 140.0)])
    flagged_df, override = runner._flag_conditions(suite.checks, df)
    assert override and set(flagged_df.columns) - set(df.columns) == {"_condition_1"}
    assert list(df.columns) == [c for c in flagged_df.columns if not c.startswith("_condition_")]
    flagged = run_suite(suite, df)
    monkeypatch.setattr(runner, "FLAG_CONDITION_VALUES", 10**9)  # GX's own `in` / `not in` conditions
    assert runner._flag_conditions(suite.checks, df)[1] == {}
    plain = run_suite(suite, df)

    def verdicts(summary):
        return [(c["check"], c["status"], c.get("unexpected_count"), c.get("sample")) for c in summary["checks"]]

    assert verdicts(flagged) == verdicts(plain)
    assert not flagged["success"] and flagged["warnings"] >= 2
    failed = format_failures(flagged)
    assert "QN01301M" in failed and "QN09313M" not in failed
    assert "where code_qpv in (1609 values: " in failed  # the report names the condition, not the flag column
    assert "QN09313M" in format_warnings(flagged) and "140.0" in format_warnings(flagged)
    assert all(c["status"] != "error" for c in flagged["checks"])
