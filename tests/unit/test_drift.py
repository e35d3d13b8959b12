"""Gates that remember (issue 18): a new load compared with the last accepted one catches the faults that pass
every absolute bound — a secret marker written differently, a rate sent as a fraction, a count ×3, a thousands
dot read as a decimal, swapped coordinates — on the perimeter's QPV, and only warns elsewhere."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from expectations.drift import Baseline, Tolerances, compare_loads, whole_number_checks
from extract.parsers import get_parser

POP = get_parser("insee_pop_qpv").spec
DPE = get_parser("ademe_dpe_existant").spec
PERIMETER = [f"QN013{i:02d}M" for i in range(1, 21)]
OUTSIDE = [f"QN093{i:02d}M" for i in range(1, 21)]


def _pop_table(values: dict[str, tuple[float | None, float | None]]) -> pa.Table:
    codes = list(values)
    cols = {}
    for col in POP.columns:
        if col.name == "code_qpv":
            cols[col.name] = pa.array(codes, pa.string())
        elif col.name == "population":
            cols[col.name] = pa.array([values[c][0] for c in codes], pa.float64())
        elif col.name == "part_15_24_ans":
            cols[col.name] = pa.array([values[c][1] for c in codes], pa.float64())
        else:
            cols[col.name] = pa.array([None] * len(codes), pa.string() if col.type == "text" else pa.float64())
    cols["millesime"] = pa.array([2021] * len(codes), pa.int32())
    cols["_line"] = pa.array(range(2, len(codes) + 2), pa.int64())
    cols["_secret"] = pa.array([""] * len(codes), pa.string())
    return pa.table(cols)


def _write(tmp_path: Path, name: str, table: pa.Table) -> Path:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    return path


def _base_values() -> dict[str, tuple[float, float]]:
    return {code: (1000.0 + 137 * i, 12.0 + (i % 7)) for i, code in enumerate(PERIMETER + OUTSIDE)}


def _compare(tmp_path, new_values, *, base_values=None, accepted_break=None, perimeter=PERIMETER):
    base = _write(tmp_path, "base", _pop_table(base_values or _base_values()))
    new = _write(tmp_path, "new", _pop_table(new_values))
    return compare_loads(new, Baseline(base, 2021, "a" * 64), POP, perimeter_qpv=perimeter,
                         tolerances=Tolerances(), accepted_break=accepted_break)


def _failed(checks, column=None):
    return [c for c in checks if c["status"] == "failed" and (column is None or c["column"] == column)]


def _warnings(checks, column=None):
    return [c for c in checks if c["status"] == "warning" and (column is None or c["column"] == column)]


def test_the_same_load_passes(tmp_path):
    checks = _compare(tmp_path, _base_values())
    assert checks and not _failed(checks)
    assert not [c for c in _warnings(checks) if "absent" not in c["check"]]


def test_a_rate_sent_as_a_fraction_refuses_naming_the_qpv_and_before_after(tmp_path):
    new = {c: (p, r / 100) for c, (p, r) in _base_values().items()}
    failed = _failed(_compare(tmp_path, new), "part_15_24_ans")
    assert len(failed) == 2  # QPV by QPV and the median
    per_qpv = next(c for c in failed if "QPV by QPV" in c["check"])
    assert per_qpv["unexpected_count"] == len(PERIMETER)
    assert "before" in per_qpv["observed"] and "after" in per_qpv["observed"] and "QN013" in per_qpv["observed"]
    assert per_qpv["sample"][0]["code_qpv"] in PERIMETER


def test_a_count_times_three_refuses(tmp_path):
    new = {c: (p * 3, r) for c, (p, r) in _base_values().items()}
    assert _failed(_compare(tmp_path, new), "population")


def test_a_thousands_dot_read_as_a_decimal_refuses(tmp_path):
    """« 1.234 » for 1 234 inhabitants: a count of 1.234, not whole, and a thousand times smaller."""
    new = {c: (p / 1000, r) for c, (p, r) in _base_values().items()}
    assert _failed(_compare(tmp_path, new), "population")
    path = _write(tmp_path, "decimals", _pop_table(new))
    whole = whole_number_checks(path, POP, perimeter_qpv=PERIMETER)
    failed = _failed(whole, "population")
    assert failed and failed[0]["sample"][0]["code_qpv"] in PERIMETER and "whole numbers" in failed[0]["check"]
    assert _warnings(whole, "population")  # the same decimals outside the perimeter only warn


def test_a_secret_marker_written_differently_refuses(tmp_path):
    """The publisher's new marker is not recognised: the whole column turns NULL."""
    new = {c: (p, None) for c, (p, _r) in _base_values().items()}
    failed = _failed(_compare(tmp_path, new), "part_15_24_ans")
    assert any("secret/NULL" in c["check"] and "before 0.0%" in c["observed"] and "after 100.0%" in c["observed"]
               for c in failed)


def test_jumps_outside_the_perimeter_only_warn(tmp_path):
    new = {c: ((p * 3, r / 100) if c in OUTSIDE else (p, r)) for c, (p, r) in _base_values().items()}
    checks = _compare(tmp_path, new)
    assert not _failed(checks)
    warned = _warnings(checks, "population") + _warnings(checks, "part_15_24_ans")
    assert warned and all("outside the perimeter" in c["check"] for c in warned)


def test_a_qpv_of_the_perimeter_that_disappears_refuses_a_new_one_warns(tmp_path):
    new = dict(_base_values())
    del new[PERIMETER[3]]
    new["QN09399M"] = (1500.0, 15.0)
    checks = _compare(tmp_path, new)
    gone = next(c for c in checks if "still there" in c["check"])
    assert gone["status"] == "failed" and gone["missing"] == [PERIMETER[3]]
    added = next(c for c in checks if "absent from" in c["check"])
    assert added["status"] == "warning" and added["unexpected"] == ["QN09399M"]


def test_an_accepted_break_only_warns_and_says_so(tmp_path):
    new = {c: (p, r / 100) for c, (p, r) in _base_values().items()}
    checks = _compare(tmp_path, new, accepted_break="nouvelle méthode")
    assert not _failed(checks)
    assert all("break accepted: nouvelle méthode" in c["check"] for c in _warnings(checks, "part_15_24_ans"))


def test_tolerances_come_from_the_registry_and_unknown_ones_are_refused():
    assert Tolerances.from_mapping({"factor": 3}).factor == 3
    with pytest.raises(ValueError, match="unknown drift tolerance"):
        Tolerances.from_mapping({"facteur": 3})


def _dpe_table(points: list[tuple[float, float]]) -> pa.Table:
    n = len(points)
    cols = {}
    for col in DPE.columns:
        if col.name == "numero_dpe":
            cols[col.name] = pa.array([f"D{i}" for i in range(n)], pa.string())
        elif col.name == "longitude":
            cols[col.name] = pa.array([p[0] for p in points], pa.float64())
        elif col.name == "latitude":
            cols[col.name] = pa.array([p[1] for p in points], pa.float64())
        elif col.type == "number":
            cols[col.name] = pa.array([50.0] * n, pa.float64())
        else:
            cols[col.name] = pa.array(["x"] * n, pa.string())
    cols["millesime"] = pa.array([2024] * n, pa.int32())
    cols["_line"] = pa.array(range(2, n + 2), pa.int64())
    cols["_secret"] = pa.array([""] * n, pa.string())
    return pa.table(cols)


@pytest.mark.parametrize("fault", ["swapped", "lambert93"])
def test_coordinates_swapped_or_reprojected_refuse_on_the_match_rate(tmp_path, fault):
    square = shapely.box(5.36, 43.30, 5.40, 43.34)  # a QPV of Marseille, roughly
    contours = _write(tmp_path, "contours", pa.table({"code_qpv": ["QN01304I"],
                                                      "geometry_wkb": [shapely.to_wkb(square)]}))
    inside = [(5.361 + 0.001 * i, 43.301 + 0.001 * i) for i in range(30)]
    elsewhere = [(5.5 + 0.0005 * i, 43.5) for i in range(130)]  # as in real data: most points are in no QPV
    base = _write(tmp_path, "base", _dpe_table(inside + elsewhere))
    if fault == "swapped":
        moved = [(lat, lon) for lon, lat in inside + elsewhere]
    else:  # metres (Lambert-93) where degrees were expected
        moved = [(892_000.0 + i, 6_247_000.0 + i) for i in range(160)]
    new = _write(tmp_path, "new", _dpe_table(moved))
    checks = compare_loads(new, Baseline(base, 2024, "b" * 64), DPE, perimeter_qpv=["QN01304I"],
                           tolerances=Tolerances(), contours=contours)
    match = next(c for c in checks if "falling in a QPV" in c["check"])
    assert match["status"] == "failed"
    assert "before 18.8% (30/160), after 0.0% (0/160)" in match["observed"]
    same = compare_loads(base, Baseline(base, 2024, "b" * 64), DPE, perimeter_qpv=["QN01304I"],
                         tolerances=Tolerances(), contours=contours)
    assert next(c for c in same if "falling in a QPV" in c["check"])["status"] == "passed"


def test_a_geolocated_file_with_its_own_qpv_code_is_not_matched_again(tmp_path):
    """BPE and RNIC carry the QPV the publisher assigned: no point-in-polygon at the gate for them."""
    bpe = get_parser("insee_bpe").spec
    assert bpe.qpv_column and {"longitude", "latitude"} <= {c.name for c in bpe.columns}
    contours = _write(tmp_path, "contours", pa.table({"code_qpv": ["QN01304I"],
                                                      "geometry_wkb": [shapely.to_wkb(shapely.box(5, 43, 6, 44))]}))
    empty = _write(tmp_path, "bpe", pa.table({c.name: pa.array([], pa.float64() if c.type == "number" else
                                                                pa.int64() if c.type == "integer" else pa.string())
                                              for c in bpe.columns}))
    checks = compare_loads(empty, Baseline(empty, 2024, "c" * 64), bpe, perimeter_qpv=["QN01304I"],
                           tolerances=Tolerances(), contours=contours)
    assert not [c for c in checks if "falling in a QPV" in c["check"]]


def test_a_column_the_observatory_does_not_publish_only_warns(tmp_path):
    """RPLS dwellings put in service double from year to year: a warning, never a refusal of the file."""
    rpls = get_parser("rpls_qpv").spec
    col = next(c for c in rpls.columns if c.name == "logements_mis_en_service")
    assert col.indicateur is None
    codes = PERIMETER

    def table(factor):
        cols = {}
        for c in rpls.columns:
            if c.name == "code_qpv":
                cols[c.name] = pa.array(codes, pa.string())
            elif c.name == "logements_mis_en_service":
                cols[c.name] = pa.array([float(3 + i) * factor for i in range(len(codes))], pa.float64())
            elif c.type == "number":
                cols[c.name] = pa.array([100.0 + i for i in range(len(codes))], pa.float64())
            elif c.type == "integer":
                cols[c.name] = pa.array([0] * len(codes), pa.int64())
            else:
                cols[c.name] = pa.array(["x"] * len(codes), pa.string())
        cols["millesime"] = pa.array([2025] * len(codes), pa.int32())
        cols["_line"] = pa.array(range(2, len(codes) + 2), pa.int64())
        cols["_secret"] = pa.array([""] * len(codes), pa.string())
        return pa.table(cols)

    checks = compare_loads(_write(tmp_path, "new", table(3)), Baseline(_write(tmp_path, "base", table(1)), 2024,
                                                                      "d" * 64), rpls, perimeter_qpv=codes,
                           tolerances=Tolerances())
    moved = [c for c in checks if c["column"] == "logements_mis_en_service" and c["status"] != "passed"]
    assert moved and all(c["status"] == "warning" for c in moved)
