"""expectations/gx_patches.py makes GX read an expectation's configuration once per call instead of once per
argument: the same values, the same verdicts, the same results (ADR 11)."""

import pandas as pd
import pytest

from expectations import gx_patches, runner
from expectations.suites import QPV_2015_REGEX, QPV_2024_REGEX, STATUTS, Check, Suite
from tests.conftest import apply_env

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


RUNTIME = {"result_format": {"result_format": "COMPLETE", "unexpected_index_column_names": ["code_qpv"]},
           "catch_exceptions": True, "include_config": False}


def _kwargs_of(expectations) -> list:
    """What the three methods return for each expectation, as ordered (key, type, value) lists."""
    out = []
    for expectation in expectations:
        for name, args in (("_get_domain_kwargs", ()), ("_get_success_kwargs", ()),
                           ("_get_runtime_kwargs", ()), ("_get_runtime_kwargs", (None,)),
                           ("_get_runtime_kwargs", (RUNTIME,))):
            got = getattr(expectation, name)(*args)
            out.append((type(expectation).__name__, name, [(k, type(v).__name__, v) for k, v in got.items()]))
    return out


def _both_ways(make, caplog=None) -> tuple:
    """``_kwargs_of(make())`` with the patches, then with GX's own methods (and the warnings each logged)."""
    results = []
    for on in (True, False):
        if on:
            assert gx_patches.apply()
        else:
            gx_patches.remove()
        if caplog is not None:
            caplog.clear()
        got = _kwargs_of(make())
        logged = [(r.levelname, r.getMessage()) for r in caplog.records] if caplog is not None else []
        results.append((got, logged))
    gx_patches.apply()
    return results[0], results[1]


def test_the_replaced_methods_return_what_gx_returns(gx):
    patched, original = _both_ways(lambda: [runner._build(gx, c, i) for i, c in enumerate(checks())])
    assert len(patched[0]) == 5 * len(checks())
    assert patched == original


@pytest.fixture
def probes(gx):
    """Subclasses overriding each method the replacements call or replace (GX registers every subclass as an
    expectation type: they are taken out of its registry afterwards)."""
    from typing import ClassVar

    from great_expectations.expectations.registry import _registered_expectations
    from great_expectations.util import camel_to_snake

    base = gx.expectations.ExpectColumnValuesToBeBetween
    classes = [
        type("ExpectGxPatchesProbeDomain", (base,), {
            "_get_domain_kwargs": lambda self: {"column": "overridden", "row_condition": None}}),
        type("ExpectGxPatchesProbeSuccess", (base,), {
            "_get_success_kwargs": lambda self: {"column": self.column, "min_value": -1}}),
        type("ExpectGxPatchesProbeKwarg", (base,), {
            "_get_success_kwarg": lambda self, key, default=None: f"override:{key}"}),
        type("ExpectGxPatchesProbeDefault", (base,), {
            "_get_default_value": lambda self, key: f"default:{key}"}),
        type("ExpectGxPatchesProbeUnknownKeys", (base,), {
            "__annotations__": {"domain_keys": ClassVar[tuple], "success_keys": ClassVar[tuple],
                                "runtime_keys": ClassVar[tuple]},
            "domain_keys": (*base.domain_keys, "not_a_domain_field"),
            "success_keys": (*base.success_keys, "not_a_success_field"),
            "runtime_keys": (*base.runtime_keys, "not_a_runtime_field")}),
    ]
    try:
        yield lambda: [cls(column="valeur", min_value=0, max_value=100) for cls in classes]
    finally:
        for cls in classes:
            _registered_expectations.pop(camel_to_snake(cls.__name__), None)


def test_overrides_defaults_and_warnings_are_those_of_gx(probes, caplog):
    caplog.set_level("INFO", logger="great_expectations")
    patched, original = _both_ways(probes, caplog)
    assert patched == original
    values = {}  # the first call of each method: no runtime configuration
    for cls, name, items in patched[0]:
        values.setdefault((cls, name), {k: v for k, _t, v in items})
    assert values["ExpectGxPatchesProbeDomain", "_get_success_kwargs"]["column"] == "overridden"
    assert values["ExpectGxPatchesProbeSuccess", "_get_runtime_kwargs"]["min_value"] == -1
    assert values["ExpectGxPatchesProbeKwarg", "_get_runtime_kwargs"]["catch_exceptions"] == "override:catch_exceptions"
    assert values["ExpectGxPatchesProbeDefault", "_get_domain_kwargs"]["row_condition"] == "default:row_condition"
    assert values["ExpectGxPatchesProbeUnknownKeys", "_get_runtime_kwargs"]["not_a_runtime_field"] is None
    warned = [m for level, m in patched[1] if level == "WARNING"]
    assert any('"not_a_runtime_field", but it is not a known field' in m for m in warned)


def _validate_all() -> tuple[dict, list[dict]]:
    suite = Suite(name="gx_patches", target="raw:test", checks=checks())
    summary = runner.run_suite(suite, frame())
    gx = runner._gx_module()
    details = []
    for name in ("gx_patches_raw", "gx_patches_raw", "gx_patches_other"):  # a suite name seen again, a new one
        gx_suite = gx.ExpectationSuite(name=name, expectations=[runner._build(gx, c, i)
                                                                for i, c in enumerate(checks())])
        result, _ = runner._validate(name, gx_suite, frame(), {
            "result_format": "COMPLETE", "unexpected_index_column_names": ["code_qpv"]})
        details.append([r.to_json_dict() for r in result.results])
        for d in details[-1]:
            d["expectation_config"].pop("id", None)
    return summary, details


def test_validation_gives_the_same_results_with_and_without_the_shortcuts(gx):
    outcomes = []
    for on in (True, False):
        gx_patches.apply() if on else gx_patches.remove()
        runner._context.cache_clear()  # a new in-memory project: with or without the skipped saves
        context, _source = runner._context(None)
        assert ("_save_project_config" in vars(context)) is on
        outcomes.append(_validate_all())
    runner._context.cache_clear()
    patched, original = outcomes
    assert patched == original
    summary = patched[0]
    statuses = {c["check"]: c["status"] for c in summary["checks"]}
    assert statuses["volume guard"] == "failed" and statuses["2024 code"] == "failed"
    assert statuses["statut"] == "failed" and statuses["no 0"] == "warning" and statuses["range"] == "failed"
    assert statuses["columns"] == "passed" and statuses["years"] == "passed" and statuses["type"] == "passed"
    assert summary["errors"] == 0


def test_the_shortcuts_can_be_turned_off_and_a_bad_switch_is_refused(gx, monkeypatch):
    gx_patches.remove()
    monkeypatch.setenv("OBSERVATOIRE_GX_PATCHES", "0")
    apply_env()
    assert gx_patches.apply() is False and not gx_patches.applied()
    monkeypatch.setenv("OBSERVATOIRE_GX_PATCHES", "yes")
    with pytest.raises(ValueError, match=r"OBSERVATOIRE_GX_PATCHES must be 1 .* or 0 .*got 'yes'"):
        apply_env()
    assert gx_patches.apply() is False and not gx_patches.applied()  # the settings installed before stand
    monkeypatch.setenv("OBSERVATOIRE_GX_PATCHES", "1")
    apply_env()
    assert gx_patches.apply() is True and gx_patches.applied()


def test_an_unchecked_gx_version_turns_the_shortcuts_off_with_one_warning(monkeypatch, caplog):
    """After an upgrade of Great Expectations the shortcuts stay off until checked against the new version, and
    the run says so once (they were silently off)."""
    import logging

    import great_expectations

    from expectations import gx_patches

    monkeypatch.setattr(great_expectations, "__version__", "9.9.9")
    monkeypatch.setattr(gx_patches, "_WARNED", [])
    with caplog.at_level(logging.WARNING, logger="expectations.gx_patches"):
        assert gx_patches.apply() is False
        assert gx_patches.apply() is False
    warned = [r.getMessage() for r in caplog.records if "9.9.9" in r.getMessage()]
    assert len(warned) == 1 and gx_patches.CHECKED_VERSION in warned[0] and "CHECKED_VERSION" in warned[0]
