"""expectations/gx_patches.py makes GX read an expectation's configuration once per call instead of once per
argument: the same values, the same verdicts, the same results (ADR 11)."""

import pandas as pd
import pytest

from expectations import gx_patches, runner
from expectations.suites import QPV_2015_REGEX, QPV_2024_REGEX, STATUTS, Check, Suite

QPV = [f"QN013{i:02d}M" for i in range(1, 9)]


def frame() -> pd.DataFrame:
    rows = []
    for i, code in enumerate(QPV):
        for millesime in (2022, 2023):
            statut = "disponible" if i % 3 else "secret_statistique"
            rows.append({"code_qpv": code, "millesime": millesime, "indicateur": f"ind_{i % 2}",
                         "statut": statut, "valeur": float(i * 10) if statut == "disponible" else None,
                         "population": i * 100})
    rows[3]["code_qpv"] = "QP013042"  # a 2015 code
    rows[5]["valeur"] = 250.0  # out of range
    rows[6]["statut"] = "inconnu"  # not an allowed statut
    rows[8]["population"] = 0  # a secret cell written as 0
    return pd.DataFrame(rows)


def checks() -> list[Check]:
    """Every expectation type the suites use, with the kinds of arguments they give it; some fail."""
    inds = ["ind_0"]
    return [
        Check("expect_table_columns_to_match_set", {"column_set": list(frame().columns), "exact_match": True}, "columns"),
        Check("expect_table_row_count_to_equal", {"value": 16}, "rows"),
        Check("expect_table_row_count_to_be_between", {"min_value": 1}, "not empty"),
        Check("expect_table_row_count_to_be_between", {"max_value": 10}, "volume guard"),
        Check("expect_column_values_to_not_be_null", {"column": "code_qpv"}, "code present"),
        Check("expect_column_values_to_match_regex", {"column": "code_qpv", "regex": QPV_2024_REGEX}, "2024 code"),
        Check("expect_column_values_to_not_match_regex", {"column": "code_qpv", "regex": QPV_2015_REGEX}, "no 2015"),
        Check("expect_column_values_to_be_in_set", {"column": "code_qpv", "value_set": QPV}, "in perimeter"),
        Check("expect_column_distinct_values_to_equal_set", {"column": "code_qpv", "value_set": QPV}, "all QPV"),
        Check("expect_column_distinct_values_to_contain_set", {"column": "indicateur", "value_set": inds}, "inds"),
        Check("expect_column_values_to_be_in_set", {"column": "statut", "value_set": list(STATUTS)}, "statut"),
        Check("expect_column_values_to_be_in_set", {"column": "millesime", "value_set": [2022, 2023]}, "years"),
        Check("expect_column_values_to_be_between", {"column": "valeur", "min_value": 0, "max_value": 100},
              "range", row_condition=("indicateur", "in", inds)),
        Check("expect_column_values_to_not_be_null", {"column": "valeur"}, "available has a value",
              row_condition=("statut", "disponible")),
        Check("expect_column_values_to_be_null", {"column": "valeur"}, "secret is NULL",
              row_condition=("statut", "secret_statistique")),
        Check("expect_column_values_to_not_be_in_set", {"column": "population", "value_set": [0]}, "no 0",
              severity="warning"),
        Check("expect_column_values_to_be_unique", {"column": "code_qpv"}, "one row per QPV"),
        Check("expect_compound_columns_to_be_unique", {"column_list": ["code_qpv", "millesime"]}, "key"),
        Check("expect_column_values_to_be_of_type", {"column": "millesime", "type_": "int64"}, "type"),
    ]


@pytest.fixture
def gx():
    gx = runner._gx_module()
    yield gx
    gx_patches.apply()


def test_the_patches_are_installed_for_the_gx_version_of_the_lock(gx):
    # a GX upgrade leaves them out until this file's comparisons pass on it and CHECKED_VERSION follows
    assert gx.__version__ == gx_patches.CHECKED_VERSION
    assert gx_patches.applied()


def test_the_replaced_methods_return_what_gx_returns(gx):
    runtime = {"result_format": {"result_format": "COMPLETE", "unexpected_index_column_names": ["code_qpv"]},
               "catch_exceptions": True}
    compared = 0
    for i, check in enumerate(checks()):
        expectation = runner._build(gx, check, i)
        for name, args in (("_get_domain_kwargs", ()), ("_get_success_kwargs", ()),
                           ("_get_runtime_kwargs", ()), ("_get_runtime_kwargs", (runtime,))):
            ours = getattr(expectation, name)(*args)
            theirs = gx_patches._ORIGINAL[name](expectation, *args)
            assert ours == theirs, (check.type, name)
            compared += 1
    assert compared == 4 * len(checks())


def _validate_all() -> tuple[dict, list[dict]]:
    suite = Suite(name="gx_patches", target="raw:test", checks=checks())
    summary = runner.run_suite(suite, frame())
    gx = runner._gx_module()
    gx_suite = gx.ExpectationSuite(name="gx_patches_raw",
                                   expectations=[runner._build(gx, c, i) for i, c in enumerate(checks())])
    result, _ = runner._validate("gx_patches_raw", gx_suite, frame(), {
        "result_format": "COMPLETE", "unexpected_index_column_names": ["code_qpv"]})
    details = [r.to_json_dict() for r in result.results]
    for d in details:
        d["expectation_config"].pop("id", None)
    return summary, details


def test_validation_gives_the_same_results_with_and_without_the_patches(gx):
    patched = _validate_all()
    gx_patches.remove()
    assert not gx_patches.applied()
    original = _validate_all()
    assert patched == original
    summary = patched[0]
    statuses = {c["check"]: c["status"] for c in summary["checks"]}
    assert statuses["volume guard"] == "failed" and statuses["2024 code"] == "failed"
    assert statuses["statut"] == "failed" and statuses["no 0"] == "warning" and statuses["range"] == "failed"
    assert statuses["columns"] == "passed" and statuses["years"] == "passed" and statuses["type"] == "passed"
    assert summary["errors"] == 0


def test_a_subclass_override_is_kept(gx):
    expectation = runner._build(gx, Check("expect_column_values_to_be_unique", {"column": "code_qpv"}, "x"), 0)

    class ExpectGxPatchesOverrideProbe(type(expectation)):  # registered by GX under this name
        def _get_domain_kwargs(self):
            return {"column": "overridden"}

    custom = ExpectGxPatchesOverrideProbe(column="code_qpv")
    assert custom._get_success_kwargs()["column"] == "overridden"
    assert custom._get_runtime_kwargs()["column"] == "overridden"


def test_the_shortcuts_can_be_turned_off_and_a_bad_switch_is_refused(gx, monkeypatch):
    gx_patches.remove()
    monkeypatch.setenv("OBSERVATOIRE_GX_PATCHES", "0")
    assert gx_patches.apply() is False and not gx_patches.applied()
    monkeypatch.setenv("OBSERVATOIRE_GX_PATCHES", "yes")
    with pytest.raises(ValueError, match=r"OBSERVATOIRE_GX_PATCHES must be 1 .* or 0 .*got 'yes'"):
        gx_patches.apply()
    assert not gx_patches.applied()
    monkeypatch.setenv("OBSERVATOIRE_GX_PATCHES", "1")
    assert gx_patches.apply() is True and gx_patches.applied()
