"""Large files are validated in bounded memory: row-level checks on chunks, table-level checks on a DuckDB
profile; the verdicts are the same as validating the whole table at once."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expectations.runner import run_suite_on_parquet
from expectations.suites import raw_suite
from extract.tables import Column, TableSpec
from tests.conftest import apply_env

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


def _recording_pid(fn, path):
    def wrapped(*args, **kwargs):
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        return fn(*args, **kwargs)
    return wrapped


def test_several_suites_at_once_give_what_one_by_one_gives(tmp_path, monkeypatch):
    """`run_suites_on_parquet` validates small files on several processes and large ones in chunks: the
    summaries (in order), the details files and the results kept for the Data Docs are those of one by one."""
    import json

    from expectations import runner
    from expectations.runner import run_suites_on_parquet

    paths, jobs = [], []
    for k in range(5):
        rows = [(f"QN013{i:02d}M", 1000 + i) for i in range(1, 13 if k < 3 else 60)]  # 3 × 12 rows: one batch
        if k % 2:
            rows[3] = ("QP013042", 1200)  # a failure in every other file
        d = tmp_path / f"f{k}"
        d.mkdir()
        paths.append(make(d, rows))
        suite = raw_suite(f"t{k}", SPEC, millesime=2021, perimeter_qpv=["QN01301M"], catalogue={})
        jobs.append((suite, paths[-1], tmp_path / "details" / f"raw_t{k}.json"))
    root = tmp_path / "gx"
    runner._PENDING_DOCS.pop(str(root), None)
    monkeypatch.setenv("OBSERVATOIRE_GX_WORKERS", "2")  # two processes, whatever this machine has
    apply_env()
    # the first three files are read together and validated on two processes; the last two are "large" (above
    # max_rows): in chunks, both at once (chunks of half max_rows)
    parent = os.getpid()
    monkeypatch.setattr(runner, "run_suite", _recording_pid(runner.run_suite, tmp_path / "pids"))
    monkeypatch.setattr(runner, "run_suite_on_parquet", _recording_pid(runner.run_suite_on_parquet, tmp_path / "pids"))
    together = run_suites_on_parquet(jobs, gx_root=root, max_rows=40)
    monkeypatch.undo()
    pids = (tmp_path / "pids").read_text().split()
    assert len(set(pids)) >= 2 and str(parent) not in pids  # every suite ran in a worker, two at a time
    pending = runner._PENDING_DOCS.pop(str(root))
    one_by_one = [run_suite_on_parquet(s, p, max_rows=40) for s, p, _d in jobs]
    assert [s["suite"] for s in together] == ["raw_t0", "raw_t1", "raw_t2", "raw_t3", "raw_t4"]
    assert [verdicts(s) for s in together] == [verdicts(s) for s in one_by_one]
    assert [s["success"] for s in together] == [True, False, True, False, True]
    failed = next(c for c in together[1]["checks"] if c["status"] == "failed")
    assert failed["sample"][0]["code_qpv"] == "QP013042" and failed["unexpected_count"] == 1
    for _s, _p, details in jobs:
        assert json.loads(details.read_text())["summary"]["suite"] == details.stem
    assert "validated_as" not in together[2]
    assert "chunks of 20 rows" in together[3]["validated_as"] and "chunks of 20 rows" in together[4]["validated_as"]
    large_failure = next(c for c in together[3]["checks"] if c["status"] == "failed")
    assert large_failure["sample"][0]["code_qpv"] == "QP013042" and large_failure["unexpected_count"] == 1
    # from the workers, for the Data Docs (the large files too: their merged verdicts)
    assert sorted(p[0].name for p in pending) == ["raw_t0", "raw_t1", "raw_t2", "raw_t3", "raw_t4"]


def test_workers_from_the_environment(monkeypatch):
    from expectations.runner import gx_workers

    monkeypatch.setenv("OBSERVATOIRE_GX_WORKERS", "1")
    apply_env()
    assert gx_workers() == 1
    monkeypatch.setenv("OBSERVATOIRE_GX_WORKERS", "two")
    with pytest.raises(ValueError, match="OBSERVATOIRE_GX_WORKERS must be a whole number.*'two'"):
        apply_env()
    monkeypatch.delenv("OBSERVATOIRE_GX_WORKERS")
    apply_env()
    assert 1 <= gx_workers() <= 4


def test_a_worker_that_dies_fails_the_gate_instead_of_hanging(tmp_path, monkeypatch):
    import os
    from concurrent.futures.process import BrokenProcessPool

    import pandas as pd
    import pytest

    from expectations import runner
    from expectations.suites import Suite

    def killed(*_args, **_kwargs):  # what the kernel's OOM killer does to a worker
        os._exit(137)

    monkeypatch.setattr(runner, "run_suite", killed)
    jobs = [(Suite(name=f"s{i}", target="raw:s"), pd.DataFrame({"a": [1]}), None) for i in range(3)]
    with pytest.raises(BrokenProcessPool):
        runner.run_suites(jobs, workers=2)
    assert runner._JOBS == []


def test_small_files_are_read_a_batch_of_at_most_max_rows_at_a_time(tmp_path, monkeypatch):
    """Files under the chunking threshold are read whole, but never all at once: a batch holds at most
    ``max_rows`` rows in all (many files just under the threshold would otherwise all be in memory together),
    and the summaries are the same, in order."""
    from expectations import runner
    from expectations.runner import run_suites_on_parquet

    jobs = []
    for k, n in enumerate((29, 29, 29, 59, 12, 40)):
        d = tmp_path / f"f{k}"
        d.mkdir()
        rows = [(f"QN013{i:02d}M", 1000 + i) for i in range(1, n + 1)]
        if k == 3:
            rows[7] = ("QP013042", 1200)
        suite = raw_suite(f"t{k}", SPEC, millesime=2021, perimeter_qpv=["QN01301M"], catalogue={})
        jobs.append((suite, make(d, rows), None))
    batches = []
    real = runner.run_suites

    def spy(frames, **kwargs):
        batches.append([len(df) for _s, df, _d in frames])
        return real(frames, **kwargs)

    monkeypatch.setattr(runner, "run_suites", spy)
    monkeypatch.setenv("OBSERVATOIRE_GX_WORKERS", "2")
    apply_env()
    summaries = run_suites_on_parquet(jobs, max_rows=60)
    assert batches == [[29, 29], [29], [59], [12, 40]]
    assert [s["suite"] for s in summaries] == [f"raw_t{k}" for k in range(6)]
    assert [s["success"] for s in summaries] == [True, True, True, False, True, True]
    assert not any("validated_as" in s for s in summaries)  # all read whole, none in chunks
    runner._PENDING_DOCS.clear()


def test_a_validated_dataframe_is_not_kept_by_gx(tmp_path):
    """GX's in-memory context lives as long as the process and its engine caches every batch it is given:
    the runner releases each one, so a validated file (or chunk) does not stay in memory."""
    import gc
    import weakref

    import pandas as pd

    from expectations.runner import run_suite

    suite = raw_suite("t", SPEC, millesime=2021, perimeter_qpv=["QN01301M"], catalogue={})
    df = pd.DataFrame({"code_qpv": ["QN01301M", "QP013042"], "population": [1000.0, 1200.0],
                       "millesime": [2021, 2021], "_line": [2, 3], "_secret": [[], []]})
    ref = weakref.ref(df)
    summary = run_suite(suite, df)  # one check fails: validated twice (BASIC, then COMPLETE)
    assert not summary["success"]
    del df
    gc.collect()
    assert ref() is None


def test_the_results_kept_for_the_data_docs_hold_a_bounded_sample_of_rows(tmp_path):
    """A check failing on every row keeps its count, but only DOCS_ROWS offending rows in the result waiting
    for the Data Docs (GX's COMPLETE format lists them all)."""
    from expectations import runner

    rows = [(f"QP0130{i:02d}", 1000 + i) for i in range(1, 100)] * 3  # 297 rows, all 2015 codes
    suite = raw_suite("t", SPEC, millesime=2021, perimeter_qpv=[], catalogue={})
    root = tmp_path / "gx"
    summary = runner.run_suite(suite, runner._read_frame(make(tmp_path, rows)), gx_root=root)
    failed = next(c for c in summary["checks"] if c["status"] == "failed" and "2015" in c["check"])
    assert failed["unexpected_count"] == 297 and len(failed["sample"]) == runner.SAMPLE
    [(_suite, result, _batch, _time)] = runner._PENDING_DOCS.pop(str(root))
    lists = [r.result.get("unexpected_index_list") for r in result.results if not r.success]
    assert lists and all(lst is None or len(lst) <= runner.DOCS_ROWS for lst in lists)
    assert any(lst and len(lst) == runner.DOCS_ROWS for lst in lists)


WORKER_HOLDS_LOCK = """
import sys, time
from pathlib import Path
from expectations import runner
from expectations.suites import Suite
from observatoire.locking import writer_lock
import pandas as pd

def stuck(suite, df, **kwargs):
    Path(sys.argv[2], suite.name).write_text("started")
    time.sleep(120)

runner.run_suite = stuck
with writer_lock(Path(sys.argv[1]), "test"):
    runner.run_suites([(Suite(name=f"s{i}", target="raw:s"), pd.DataFrame({"a": [1]}), None) for i in range(2)],
                      workers=2)
"""


def test_gate_workers_die_with_their_run_and_release_the_writer_lock(tmp_path):
    """A run killed (SIGKILL, OOM) during a gate takes its workers with it: they inherited its open files, the
    data directory's writer lock among them, and would otherwise hold it while they wait for work."""
    import fcntl
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    lock = tmp_path / "writer.lock"
    proc = subprocess.Popen([sys.executable, "-c", WORKER_HOLDS_LOCK, str(lock), str(tmp_path)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not ((tmp_path / "s0").exists() and (tmp_path / "s1").exists()):
        assert proc.poll() is None and time.monotonic() < deadline, "the workers never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    fd = os.open(lock, os.O_RDWR)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "a worker outlived its run and still holds the writer lock"
                time.sleep(0.1)
    finally:
        os.close(fd)


def test_a_duplicate_in_two_chunks_is_found(tmp_path):
    """Uniqueness compares rows with each other: on a file validated in chunks it is checked on the whole
    file (DuckDB profile), not chunk by chunk, which would miss a key repeated in two chunks."""
    rows = [(f"QN013{i:02d}M", 1000 + i) for i in range(1, 40)]
    rows[35] = (rows[2][0], 1300)  # rows 3 and 36: chunks 1 and 4 of 10 rows
    path = make(tmp_path, rows)
    suite = raw_suite("t", SPEC, millesime=2021, perimeter_qpv=["QN01301M"], catalogue={})
    whole = run_suite_on_parquet(suite, path, max_rows=1_000)
    chunked = run_suite_on_parquet(suite, path, max_rows=10)
    assert verdicts(whole) == verdicts(chunked)
    dup = next(c for c in chunked["checks"] if "duplicate" in c["check"])
    assert dup["status"] == "failed" and dup["validated_on"] == "DuckDB profile"
    assert dup["sample"][0]["code_qpv"] == rows[2][0]


def test_a_file_validated_in_chunks_is_in_the_data_docs(tmp_path):
    """Its merged verdicts are written as one validation: counts over the whole file, offending values."""
    import html
    import re

    from expectations import runner

    rows = [(f"QN013{i:02d}M", 1000 + i) for i in range(1, 40)]
    rows[5] = ("QP013042", 1200)
    rows[30] = (rows[30][0], -4)
    suite = raw_suite("t", SPEC, millesime=2021, perimeter_qpv=["QN01301M"], catalogue={})
    root = tmp_path / "gx"
    summary = runner.run_suite_on_parquet(suite, make(tmp_path, rows), gx_root=root, max_rows=10)
    assert "validated_as" in summary and not summary["success"]
    index = runner.build_docs(root)
    [page] = list((index.parent / "validations").rglob("*.html"))
    assert page.parts[-4] == "raw_t"
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", re.sub(
        r"(?s)<style.*?</style>|<script.*?</script>", "", page.read_text(encoding="utf-8")))).split())
    assert "Status: Failed" in text
    assert f"Evaluated Expectations {len(suite.checks)}" in text
    assert "1 unexpected values found. ≈2.564% of 39 total rows. Sampled Unexpected Values QP013042" in text
    assert "Sampled Unexpected Values -4.0" in text


def _suites_in_a_daemonic_process(queue) -> None:  # runs in the daemonic child
    import pandas as pd

    from expectations import runner
    from expectations.suites import Suite

    try:
        jobs = [(Suite(name=f"s{i}", target="raw:s"), pd.DataFrame({"a": [1]}), None) for i in range(3)]
        queue.put(("ok", [(s["suite"], s["success"]) for s in runner.run_suites(jobs, workers=2)]))
    except BaseException as err:  # noqa: BLE001 - reported to the test
        queue.put(("error", f"{type(err).__name__}: {err}"))


def test_suites_run_in_a_daemonic_process_such_as_a_celery_worker_task():
    """Airflow's task process under the CeleryExecutor is forked from a Celery prefork worker process, which is
    daemonic: multiprocessing refuses it children ("daemonic processes are not allowed to have children"), so a
    gate with several workers validates its suites in that process instead of failing the task."""
    from tests.conftest import in_daemonic_process

    status, out = in_daemonic_process(_suites_in_a_daemonic_process)
    assert status == "ok", out
    assert out == [("s0", True), ("s1", True), ("s2", True)]
