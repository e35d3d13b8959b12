"""Large files are validated in bounded memory: row-level checks on chunks, table-level checks on a DuckDB
profile; the verdicts are the same as validating the whole table at once."""

import pyarrow as pa
import pyarrow.parquet as pq

from expectations.runner import run_suite_on_parquet
from expectations.suites import raw_suite
from extract.tables import Column, TableSpec

SPEC = TableSpec(
    name="t",
    columns=(Column("code_qpv", ()), Column("population", (), type="number", kind="count")),
)


def make(tmp_path, rows):
    table = pa.table({
        "code_qpv": [r[0] for r in rows],
        "population": [float(r[1]) for r in rows],
        "millesime": pa.array([2021] * len(rows), pa.int32()),
        "_line": pa.array(range(2, len(rows) + 2), pa.int64()),
        "_secret": pa.array([[] for _ in rows], pa.list_(pa.string())),
    })
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    return path


def verdicts(summary):
    return {(c["expectation"], c.get("column"), c["status"]) for c in summary["checks"]}


def test_chunked_and_whole_agree(tmp_path):
    rows = [(f"QN013{i:02d}M", 1000 + i) for i in range(1, 40)]
    rows[5] = ("QP013042", 1200)  # a 2015 code
    rows[20] = (rows[21][0], 1300)  # a duplicate
    rows[30] = (rows[30][0], -4)  # a negative count
    path = make(tmp_path, rows)
    suite = raw_suite("t", SPEC, millesime=2021, perimeter_qpv=["QN01301M", "QN01399M"], catalogue={},
                      previous_rows=100)
    whole = run_suite_on_parquet(suite, path, max_rows=1_000)
    chunked = run_suite_on_parquet(suite, path, max_rows=10)
    assert "validated_as" in chunked and "validated_as" not in whole
    assert verdicts(whole) == verdicts(chunked)
    failed = {c["check"]: c for c in chunked["checks"] if c["status"] == "failed"}
    assert not chunked["success"] and chunked["errors"] == 0
    regex = next(c for k, c in failed.items() if "2015" in k)
    assert regex["unexpected_count"] == 1 and regex["sample"][0]["code_qpv"] == "QP013042"
    dup = next(c for k, c in failed.items() if "duplicate" in k)
    assert dup["sample"][0]["code_qpv"] == rows[21][0]
    assert any("QN01399M" in c.get("missing", []) for c in failed.values())
    assert any("volume guard" in k for k in failed)
