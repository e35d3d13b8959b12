"""What `observatoire run` shows while it works (issue 19): the reporter (observatoire/progress.py), the download
callback of extract/http.py, the gates' progress hooks, and dbt's progress read from its structured log."""

from __future__ import annotations

import io
import json
import re
import sys
import threading
import time
import types

import pytest

from observatoire import progress
from observatoire.dbt_runner import DbtProgress, log_line
from tests.conftest import apply_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but \t and \n

# real lines of dbt's structured log (--log-format json), from `dbt build` runs of this project: a successful one
# (118 nodes) and one where a staging model failed (147 nodes, its children skipped)
DBT_BUILD_OK = [
    '{"data": {"log_version": 3, "version": "=1.11.16"}, "info": {"category": "", "code": "A001", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "Running with dbt=1.11.16", "name": "MainReportVersion", "pid": 16341, "thread": "MainThread", "ts": "2026-12-07T06:55:53.644540Z"}}',
    '{"data": {"adapter_name": "duckdb", "adapter_version": "=1.11.1"}, "info": {"category": "", "code": "E034", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "Registered adapter: duckdb=1.11.1", "name": "AdapterRegistered", "pid": 16341, "thread": "MainThread", "ts": "2026-12-07T06:55:53.889512Z"}}',
    '{"data": {"stat_line": "59 models, 9 seeds, 50 data tests, 17 sources, 524 macros, 10 unit tests"}, "info": {"category": "", "code": "W006", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "Found 59 models, 9 seeds, 50 data tests, 17 sources, 524 macros, 10 unit tests", "name": "FoundStats", "pid": 16341, "thread": "MainThread", "ts": "2026-12-07T06:55:54.647342Z"}}',
    '{"data": {"msg": ""}, "info": {"category": "", "code": "Z017", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "", "name": "Formatting", "pid": 16341, "thread": "MainThread", "ts": "2026-12-07T06:55:54.658861Z"}}',
    '{"data": {"node_count": 118, "num_threads": 4, "target_name": "build"}, "info": {"category": "", "code": "Q027", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "Concurrency: 4 threads (target=\'build\')", "name": "ConcurrencyLine", "pid": 16341, "thread": "MainThread", "ts": "2026-12-07T06:55:54.659371Z"}}',
    '{"data": {"msg": ""}, "info": {"category": "", "code": "Z017", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "", "name": "Formatting", "pid": 16341, "thread": "MainThread", "ts": "2026-12-07T06:55:54.659647Z"}}',
    '{"data": {"description": "sql view model staging.stg_ademe__dpe", "index": 1, "node_info": {"materialized": "view", "meta": {}, "node_checksum": "0a9fbdf5fab4ce1c6ff787e5544cf12dd65e007f67b7e0177098ea42c45d0d08", "node_finished_at": "", "node_name": "stg_ademe__dpe", "node_path": "staging/logement/stg_ademe__dpe.sql", "node_relation": {"alias": "stg_ademe__dpe", "database": "build", "relation_name": "\\"build\\".\\"staging\\".\\"stg_ademe__dpe\\"", "schema": "staging"}, "node_started_at": "2026-12-07T06:55:55.101452", "node_status": "started", "resource_type": "model", "unique_id": "model.observatoire.stg_ademe__dpe"}, "total": 118}, "info": {"category": "", "code": "Q011", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "1 of 118 START sql view model staging.stg_ademe__dpe ........................... [RUN]", "name": "LogStartLine", "pid": 16341, "thread": "Thread-1 (worker)", "ts": "2026-12-07T06:55:55.102602Z"}}',
    '{"data": {"description": "sql view model staging.stg_ademe__dpe_qpv", "execution_time": 0.1779356, "index": 2, "node_info": {"materialized": "view", "meta": {}, "node_checksum": "e307bdcf1126ddbff25963386ddbe59000a15720eb85ff45454aa15f0c51896e", "node_finished_at": "2026-12-07T06:55:55.291485", "node_name": "stg_ademe__dpe_qpv", "node_path": "staging/logement/stg_ademe__dpe_qpv.sql", "node_relation": {"alias": "stg_ademe__dpe_qpv", "database": "build", "relation_name": "\\"build\\".\\"staging\\".\\"stg_ademe__dpe_qpv\\"", "schema": "staging"}, "node_started_at": "2026-12-07T06:55:55.102941", "node_status": "success", "resource_type": "model", "unique_id": "model.observatoire.stg_ademe__dpe_qpv"}, "status": "OK", "total": 118}, "info": {"category": "", "code": "Q012", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "2 of 118 OK created sql view model staging.stg_ademe__dpe_qpv .................. [\\u001b[32mOK\\u001b[0m in 0.18s]", "name": "LogModelResult", "pid": 16341, "thread": "Thread-2 (worker)", "ts": "2026-12-07T06:55:55.292959Z"}}',
    '{"data": {"execution_time": 0.17842221, "index": 17, "node_info": {"materialized": "seed", "meta": {}, "node_checksum": "3cdad1892af9b3099ae72cb889dac33020f9ccfd4e8c956f74f8f9ef0ed045b8", "node_finished_at": "2026-12-07T06:55:55.858140", "node_name": "ref_chiffre_cle", "node_path": "referentiel/ref_chiffre_cle.csv", "node_relation": {"alias": "ref_chiffre_cle", "database": "build", "relation_name": "\\"build\\".\\"referentiel\\".\\"ref_chiffre_cle\\"", "schema": "referentiel"}, "node_started_at": "2026-12-07T06:55:55.659879", "node_status": "success", "resource_type": "seed", "unique_id": "seed.observatoire.ref_chiffre_cle"}, "relation": "ref_chiffre_cle", "result_message": "INSERT 10", "schema": "referentiel", "status": "success", "total": 118}, "info": {"category": "", "code": "Q016", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "17 of 118 OK loaded seed file referentiel.ref_chiffre_cle ...................... [\\u001b[32mINSERT 10\\u001b[0m in 0.18s]", "name": "LogSeedResult", "pid": 16341, "thread": "Thread-2 (worker)", "ts": "2026-12-07T06:55:55.858408Z"}}',
    '{"data": {"attached_node": "model.observatoire.stg_anct__qpv_contours", "execution_time": 0.12023187, "index": 26, "name": "not_null_stg_anct__qpv_contours_code_qpv", "node_info": {"materialized": "test", "meta": {}, "node_checksum": "", "node_finished_at": "2026-12-07T06:55:56.052436", "node_name": "not_null_stg_anct__qpv_contours_code_qpv", "node_path": "not_null_stg_anct__qpv_contours_code_qpv.sql", "node_relation": {"alias": "not_null_stg_anct__qpv_contours_code_qpv", "database": "build", "relation_name": "", "schema": "dbt_test__audit"}, "node_started_at": "2026-12-07T06:55:55.930462", "node_status": "pass", "resource_type": "test", "unique_id": "test.observatoire.not_null_stg_anct__qpv_contours_code_qpv.6568cedf1e"}, "num_failures": 0, "num_models": 118, "status": "pass"}, "info": {"category": "", "code": "Q007", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "26 of 118 PASS not_null_stg_anct__qpv_contours_code_qpv ........................ [\\u001b[32mPASS\\u001b[0m in 0.12s]", "name": "LogTestResult", "pid": 16341, "thread": "Thread-2 (worker)", "ts": "2026-12-07T06:55:56.054712Z"}}',
    '{"data": {"stats": {"error": 0, "noop": 0, "pass": 118, "skip": 0, "total": 118, "warn": 0}}, "info": {"category": "", "code": "Z023", "extra": {}, "invocation_id": "5721daf5-f766-4c36-b374-eca02b12d295", "level": "info", "msg": "Done. PASS=118 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=118", "name": "StatsLine", "pid": 16341, "thread": "MainThread", "ts": "2026-12-07T06:56:02.113902Z"}}',
]

DBT_BUILD_FAILED = [
    '{"data": {"stat_line": "62 models, 9 seeds, 76 data tests, 17 sources, 529 macros, 12 unit tests"}, "info": {"category": "", "code": "W006", "extra": {}, "invocation_id": "f48dc066-eea8-4fa6-9fe8-4049f7283c73", "level": "info", "msg": "Found 62 models, 9 seeds, 76 data tests, 17 sources, 529 macros, 12 unit tests", "name": "FoundStats", "pid": 27143, "thread": "MainThread", "ts": "2026-12-07T07:04:44.669866Z"}}',
    '{"data": {"node_count": 147, "num_threads": 4, "target_name": "build"}, "info": {"category": "", "code": "Q027", "extra": {}, "invocation_id": "f48dc066-eea8-4fa6-9fe8-4049f7283c73", "level": "info", "msg": "Concurrency: 4 threads (target=\'build\')", "name": "ConcurrencyLine", "pid": 27143, "thread": "MainThread", "ts": "2026-12-07T07:04:44.693231Z"}}',
    '{"data": {"description": "sql view model staging.stg_insee__pop_qpv", "execution_time": 0.09755778, "index": 13, "node_info": {"materialized": "view", "meta": {}, "node_checksum": "d4b923548bb8a5bbcc0bf5210d81b9871d66ac1a9a33fc66a64060e01449c2a8", "node_finished_at": "2026-12-07T07:04:46.263435", "node_name": "stg_insee__pop_qpv", "node_path": "staging/insee/stg_insee__pop_qpv.sql", "node_relation": {"alias": "stg_insee__pop_qpv", "database": "build", "relation_name": "\\"build\\".\\"staging\\".\\"stg_insee__pop_qpv\\"", "schema": "staging"}, "node_started_at": "2026-12-07T07:04:46.163363", "node_status": "error", "resource_type": "model", "unique_id": "model.observatoire.stg_insee__pop_qpv"}, "status": "error", "total": 147}, "info": {"category": "", "code": "Q012", "extra": {}, "invocation_id": "f48dc066-eea8-4fa6-9fe8-4049f7283c73", "level": "error", "msg": "13 of 147 ERROR creating sql view model staging.stg_insee__pop_qpv ............. [\\u001b[31mERROR\\u001b[0m in 0.10s]", "name": "LogModelResult", "pid": 27143, "thread": "Thread-2 (worker)", "ts": "2026-12-07T07:04:46.264148Z"}}',
    '{"data": {"index": 36, "node_info": {"materialized": "test", "meta": {}, "node_checksum": "", "node_finished_at": "", "node_name": "not_null_stg_insee__pop_qpv_code_qpv", "node_path": "not_null_stg_insee__pop_qpv_code_qpv.sql", "node_relation": {"alias": "not_null_stg_insee__pop_qpv_code_qpv", "database": "build", "relation_name": "", "schema": "dbt_test__audit"}, "node_started_at": "2026-12-07T07:04:47.833764", "node_status": "skipped", "resource_type": "test", "unique_id": "test.observatoire.not_null_stg_insee__pop_qpv_code_qpv.704a66d3a2"}, "node_name": "not_null_stg_insee__pop_qpv_code_qpv", "resource_type": "test", "schema": "dbt_test__audit", "total": 147}, "info": {"category": "", "code": "Q034", "extra": {}, "invocation_id": "f48dc066-eea8-4fa6-9fe8-4049f7283c73", "level": "info", "msg": "36 of 147 SKIP test not_null_stg_insee__pop_qpv_code_qpv ....................... [\\u001b[33mSKIP\\u001b[0m]", "name": "SkippingDetails", "pid": 27143, "thread": "Thread-4 (worker)", "ts": "2026-12-07T07:04:47.834252Z"}}',
    '{"data": {"stats": {"error": 1, "noop": 0, "pass": 83, "skip": 63, "total": 147, "warn": 0}}, "info": {"category": "", "code": "Z023", "extra": {}, "invocation_id": "f48dc066-eea8-4fa6-9fe8-4049f7283c73", "level": "info", "msg": "Done. PASS=83 WARN=0 ERROR=1 SKIP=63 NO-OP=0 TOTAL=147", "name": "StatsLine", "pid": 27143, "thread": "MainThread", "ts": "2026-12-07T07:04:53.521817Z"}}',
]


class Clocked(io.StringIO):
    """A log file: what was written, and when each line was."""

    def __init__(self) -> None:
        super().__init__()
        self.when: list[float] = []

    def write(self, s: str) -> int:
        self.when += [time.monotonic()] * s.count("\n")
        return super().write(s)

    def isatty(self) -> bool:
        return False


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def result(source_id: str, millesime: int, status: str = "new", rows: int | None = 122, **kw) -> dict:
    return {"source_id": source_id, "millesime": millesime, "status": status, "rows": rows, **kw}


SOURCES = [("anct_qpv_contours", 2024), ("insee_pop_qpv", 2020), ("insee_pop_qpv", 2021)]


# -- plain lines ---------------------------------------------------------------------------------------------

def test_plain_mode_prints_one_line_per_source_as_each_completes(monkeypatch):
    out = Clocked()
    with progress.reporting(progress.PlainReporter(out)):
        rep = progress.current()
        rep.step_started("extract", total=len(SOURCES))
        for i, (sid, year) in enumerate(SOURCES):
            rep.source_started(sid, year)
            rep.download(sid, year, 5_000, 10_000)  # no line for a download in flight
            time.sleep(0.1)
            rep.source_done(result(sid, year, bytes=10_000))
            # written when the source completes, not at the end of the run
            assert len(out.getvalue().splitlines()) == i + 1
        rep.step_finished("extract", None)  # the source lines say it all
        rep.step_started("raw_gate", total=3)
        rep.step_progress("raw_gate", completed=1, detail="insee_pop_qpv 2020: passed")
        rep.step_finished("raw_gate", "3 files validated, 3 passed")
        rep.step_started("dbt")
        rep.step_finished("dbt", "118 nodes — 59 models, 50 tests, 9 seeds")
    text = out.getvalue()
    lines = text.splitlines()
    assert [(ln.split()[0], int(ln.split()[1])) for ln in lines[:3]] == SOURCES  # in the order they completed
    assert re.fullmatch(r"  insee_pop_qpv                2020  new        122 rows      10\.0 kB  \d\.\d s", lines[1])
    assert re.fullmatch(r"raw gate: 3 files validated, 3 passed \(\d+\.\d s\)", lines[3])
    assert re.fullmatch(r"dbt build: 118 nodes — 59 models, 50 tests, 9 seeds \(\d+\.\d s\)", lines[4])
    assert len(lines) == 5
    assert out.when[1] - out.when[0] >= 0.09 and out.when[2] - out.when[1] >= 0.09  # one by one, as they came
    assert not ANSI.search(text) and not CONTROL.search(text)


def test_plain_lines_say_why_a_source_failed_was_quarantined_or_is_unchanged():
    out = io.StringIO()
    rep = progress.PlainReporter(out)
    rep.source_done(result("insee_bpe", 2025, "failed", rows=None, error={
        "problem": "HTTP 404 Not Found", "message": "[insee_bpe] HTTP 404 Not Found (https://x.invalid/a?token=s)"}))
    rep.source_done(result("insee_pop_qpv", 2021, "unchanged", reason="HTTP 304 Not Modified"))
    rep.source_done(result("insee_pop_qpv", 2020, bytes=9_900))
    rep.source_done(result("insee_pop_qpv", 2020, "quarantined", bytes=9_900,
                           validation={"success": False, "failed": 2, "errors": 0, "warnings": 0}))
    lines = out.getvalue().splitlines()
    assert lines[0] == "  insee_bpe                    2025  failed     HTTP 404 Not Found"
    assert lines[1] == "  insee_pop_qpv                2021  unchanged  122 rows      HTTP 304 Not Modified"
    assert lines[3].endswith("quarantined 122 rows       9.9 kB  raw gate: 2 failed check(s), 0 error(s)")
    summary = progress.summary_line(rep.results, 61.0)
    assert summary == "sources: 0 new, 1 unchanged, 1 failed, 1 quarantined (3 files) in 1 min 01 s"


def test_plain_mode_says_where_a_long_step_is_now_and_then(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    out = io.StringIO()
    rep = progress.PlainReporter(out)  # every HEARTBEAT (30) seconds
    rep.source_started("insee_bpe", 2025)
    for k in range(1, 9):  # a download of 80 s
        clock[0] += 10
        rep.download("insee_bpe", 2025, k * 250_000, 2_000_000)
    rep.step_started("dbt")
    p = DbtProgress()
    for raw in DBT_BUILD_OK:  # a dbt build of 50 s
        if p.feed(log_line(raw)[1]):
            clock[0] += 10
            rep.step_progress("dbt", completed=p.done, total=p.total or None, detail=p.describe())
    assert out.getvalue().splitlines() == [
        "  insee_bpe 2025: downloading, 750.0 kB of 2.0 MB",
        "  insee_bpe 2025: downloading, 1.5 MB of 2.0 MB",
        "dbt build: 1/118 models 1/59 · stg_ademe__dpe_qpv (30.0 s so far)",
    ]
    quiet = io.StringIO()  # a short step: nothing
    rep = progress.PlainReporter(quiet)
    rep.source_started("insee_bpe", 2025)
    clock[0] += 29
    rep.download("insee_bpe", 2025, 10, 20)
    assert quiet.getvalue() == ""


def test_quiet_prints_nothing_from_the_hooks():
    out = io.StringIO()
    rep = progress.PlainReporter(out, quiet=True)
    rep.source_started("insee_bpe", 2025)
    rep.source_done(result("insee_bpe", 2025))
    rep.step_started("publish")
    rep.step_finished("publish", "23 tables")
    assert out.getvalue() == "" and len(rep.results) == 1  # the summary still knows the sources
    rep.line("sources: 1 new")
    assert out.getvalue() == "sources: 1 new\n"


# -- on a terminal ---------------------------------------------------------------------------------------------

def _screen(buf: io.StringIO) -> str:
    return ANSI.sub("", buf.getvalue())


def test_a_terminal_gets_progress_bars_with_the_download_size():
    from rich.console import Console

    buf = io.StringIO()
    reporter = progress.RichReporter(Console(file=buf, force_terminal=True, width=140, color_system="standard"))
    with progress.reporting(reporter):
        rep = progress.current()
        rep.step_started("extract", total=2)
        rep.source_started("insee_bpe", 2025)
        rep.download("insee_bpe", 2025, 1_000_000, 2_000_000)  # Content-Length known: received / total
        reporter._bars().refresh()
        screen = _screen(buf)
        assert re.search(r"insee_bpe 2025 +[━╸╺]+ +1\.0/2\.0 MB", screen), screen
        assert "extract" in screen and "0/2" in screen
        rep.download("insee_bpe", 2025, 2_000_000, 2_000_000)
        reporter._bars().refresh()
        assert "2.0/2.0 MB" in _screen(buf)
        rep.source_done(result("insee_bpe", 2025, rows=2595, bytes=2_000_000))
        rep.source_started("ademe_dpe_existant", 2025)
        rep.download("ademe_dpe_existant", 2025, 661_400, None, page=3)  # a paged API: no total
        reporter._bars().refresh()
        assert re.search(r"ademe_dpe_existant 2025 .*661\.4 kB.*page 3", _screen(buf)), _screen(buf)
        rep.source_done(result("ademe_dpe_existant", 2025, rows=3000, bytes=700_000))
        rep.step_finished("extract", None)
        # dbt's nodes and models, as its log says
        rep.step_started("dbt", detail="parsing the project")
        p, hook = DbtProgress(), progress.dbt_hook()
        for raw in DBT_BUILD_OK:
            if p.feed(log_line(raw)[1]):
                hook(p)
        reporter._bars().refresh()
        assert re.search(r"dbt build +[━╸╺]+ +3/118 +models 1/59 · not_null_stg_anct__qpv_contours_code_qpv",
                         _screen(buf)), _screen(buf)
        rep.step_finished("dbt", p.summary())
    raw = buf.getvalue()
    assert "\x1b[" in raw  # a terminal: colours and cursor moves
    screen = _screen(buf)
    assert "  insee_bpe                    2025  new        2595 rows      2.0 MB" in screen
    assert re.search(r"dbt build: 3 nodes — 1 model, 1 seed, 1 test \(\d+\.\d s\)", screen)


@pytest.mark.parametrize("stdout, stderr, env, kind", [
    (Tty(), Tty(), {"TERM": "xterm-256color"}, progress.RichReporter),
    (io.StringIO(), Tty(), {"TERM": "xterm"}, progress.PlainReporter),  # standard output to a file or a pipe
    (Tty(), io.StringIO(), {"TERM": "xterm"}, progress.PlainReporter),  # the lines to a file or a pipe
    (Tty(), Tty(), {"TERM": "dumb"}, progress.PlainReporter),
    (Tty(), Tty(), {}, progress.RichReporter),
])
def test_bars_only_on_a_terminal(stdout, stderr, env, kind):
    assert type(progress.for_command_line(stdout=stdout, stderr=stderr, environ=env)) is kind
    plain = progress.for_command_line(plain=True, stdout=stdout, stderr=stderr, environ=env)
    assert type(plain) is progress.PlainReporter and not plain.quiet
    assert progress.for_command_line(quiet=True, stdout=stdout, stderr=stderr, environ=env).quiet


# -- silent by default (library, Airflow) ------------------------------------------------------------------------

def test_without_the_command_line_nothing_is_shown_and_a_broken_display_never_fails_a_run(capfd):
    rep = progress.current()
    rep.source_started("insee_bpe", 2025)
    rep.download("insee_bpe", 2025, 10, 20)
    rep.source_done(result("insee_bpe", 2025))
    rep.step_started("dbt")
    rep.step_finished("dbt", "3 nodes")
    rep.line("hello")
    progress.download_hook("insee_bpe", 2025)(10, 20)
    assert capfd.readouterr() == ("", "")

    class Broken(progress.Reporter):
        def source_done(self, result):
            raise RuntimeError("a bug in the display")

    with progress.reporting(Broken()):
        progress.current().source_done(result("insee_bpe", 2025))  # logged at debug level, not raised
    assert type(progress.current()._reporter) is progress.Reporter  # put back


def test_an_airflow_task_prints_nothing(monkeypatch, capfd):
    """The DAG's tasks call the pipeline's functions (observatoire/tasks.py), never the command line: no line,
    no bar, whatever the streams are."""
    from observatoire import tasks

    monkeypatch.setenv("OBSERVATOIRE_MODE", "demo")
    run_id = tasks.start({})
    landed = tasks.extract({"run_id": run_id, "source_id": "insee_pop_qpv", "millesime": 2021, "target": 2021})
    assert landed["status"] == "new" and landed["rows"] > 0
    assert capfd.readouterr() == ("", "")


# -- the hooks: downloads, gates -------------------------------------------------------------------------------

def test_fetch_tells_the_bytes_received_and_the_announced_size(tmp_path, monkeypatch, capfd):
    import http.server

    from extract.http import CHUNK, fetch

    data = b"code_qpv;population\n" + b"QN01301M;1234\n" * (CHUNK // 7)
    local = tmp_path / "pop.csv"
    local.write_bytes(data)
    seen: list[tuple] = []
    fetch(local.as_uri(), tmp_path / "a", source_id="t", progress=lambda *a: seen.append(a))
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert [r for r, _t in seen] == sorted(r for r, _t in seen) and len(seen) >= 3

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for k in range(0, len(data), CHUNK // 2):
                self.wfile.write(data[k:k + CHUNK // 2])
                self.wfile.flush()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    try:
        seen.clear()
        got = fetch(f"http://127.0.0.1:{httpd.server_port}/pop.csv", tmp_path / "b", source_id="t",
                    progress=lambda *a: seen.append(a))
        assert got.bytes == len(data) and seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
        # no callback: nothing drawn anywhere (the library never draws)
        fetch(f"http://127.0.0.1:{httpd.server_port}/pop.csv", tmp_path / "c", source_id="t")
    finally:
        httpd.shutdown()
    assert capfd.readouterr() == ("", "")


def test_a_paged_api_tells_the_bytes_so_far_and_the_page(tmp_path):
    from extract.apis import fetch_paged
    from extract.registry import load_registry, recording_path, resolve_url
    from extract.replay import replay_session

    src = load_registry()["ademe_dpe_existant"]
    url, _origin = resolve_url(src, 2025, "demo", overrides={})
    seen: list[tuple] = []
    r = fetch_paged(url, tmp_path, source_id=src.id, paginator=src.paginator, sleep=lambda s: None,
                    session=replay_session(recording_path(src, 2025)),
                    progress=lambda received, total, page=None: seen.append((received, total, page)))
    pages = sorted({p for _r, _t, p in seen})
    assert pages == list(range(1, r.attempts + 1)) and r.attempts >= 3
    assert all(t is None for _r, t, _p in seen) and [x for x, _t, _p in seen] == sorted(x for x, _t, _p in seen)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_gates_tell_each_file_validated_and_the_chunks_of_a_large_one(tmp_path, monkeypatch, workers):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from expectations.runner import run_suites_on_parquet
    from expectations.suites import raw_suite
    from extract.tables import Column, TableSpec

    spec = TableSpec(name="t", columns=(Column("code_qpv", ()), Column("population", (), type="number",
                                                                         kind="count")))
    jobs = []
    for k, n in enumerate([12, 12, 95]):  # two small files, one above max_rows: validated in chunks
        path = tmp_path / f"f{k}.parquet"
        pq.write_table(pa.table({
            "code_qpv": [f"QN013{i % 99:02d}M" for i in range(n)], "population": [1000.0 + i for i in range(n)],
            "millesime": pa.array([2021] * n, pa.int32()), "_line": pa.array(range(2, n + 2), pa.int64()),
            "_secret": pa.array([[] for _ in range(n)], pa.list_(pa.string()))}), path)
        jobs.append((raw_suite(f"t{k}", spec, millesime=2021, perimeter_qpv=["QN01301M"], catalogue={}), path,
                     None))
    monkeypatch.setenv("OBSERVATOIRE_GX_WORKERS", workers)
    apply_env()
    done: list[tuple[int, str]] = []
    rows: list[tuple[int, int, int]] = []
    summaries = run_suites_on_parquet(jobs, max_rows=40, on_done=lambda i, s: done.append((i, s["suite"])),
                                      on_rows=lambda i, r, t: rows.append((i, r, t)))
    assert sorted(done) == [(0, "raw_t0"), (1, "raw_t1"), (2, "raw_t2")]  # each file once, with its summary
    assert [s["suite"] for s in summaries] == ["raw_t0", "raw_t1", "raw_t2"]
    assert {i for i, _r, _t in rows} == {2} and rows[-1] == (2, 95, 95)  # the large file's chunks, in order
    assert [r for _i, r, _t in rows] == sorted(r for _i, r, _t in rows) and len(rows) >= 3


# -- dbt ---------------------------------------------------------------------------------------------------

def test_dbt_progress_is_read_from_its_structured_log():
    p = DbtProgress()
    texts = []
    moved = []
    for raw in DBT_BUILD_OK:
        text, event = log_line(raw + "\n")
        texts.append(text)
        if p.feed(event):
            moved.append((p.done, p.total, p.models_done, p.models_total))
    # « Found 59 models », « Concurrency … » (118 nodes), then each node that finishes (a START line is not one)
    assert moved == [(0, 0, 0, 59), (0, 118, 0, 59), (1, 118, 1, 59), (2, 118, 1, 59), (3, 118, 1, 59)]
    assert p.by_kind == {"model": 1, "seed": 1, "test": 1} and p.failed == 0
    assert p.describe() == "models 1/59 · not_null_stg_anct__qpv_contours_code_qpv"
    assert p.summary() == "3 nodes — 1 model, 1 seed, 1 test"
    # the run's log keeps dbt's text lines, without colours
    assert re.fullmatch(r"\d\d:\d\d:\d\d  2 of 118 OK created sql view model staging\.stg_ademe__dpe_qpv \.+ "
                        r"\[OK in 0\.18s\]", texts[7]), texts[7]
    assert re.fullmatch(r"\d\d:\d\d:\d\d  Found 59 models, 9 seeds, .*", texts[2])
    assert not any(ANSI.search(t) for t in texts)
    assert p.feed(json.loads(DBT_BUILD_OK[7])) is False  # a node is counted once
    assert log_line("Traceback (most recent call last):\n") == ("Traceback (most recent call last):", None)

    failed = DbtProgress()
    for raw in DBT_BUILD_FAILED:
        failed.feed(log_line(raw)[1])
    assert (failed.done, failed.total, failed.models_done, failed.models_total) == (2, 147, 1, 62)
    assert failed.failed == 1 and failed.skipped == 1
    assert failed.summary() == "2 nodes — 1 model, 1 test, 1 failed, 1 skipped"
    assert failed.describe() == "models 1/62 · 1 failed · 1 skipped · not_null_stg_insee__pop_qpv_code_qpv"


def test_run_dbt_reports_nodes_as_dbt_finishes_them(tmp_path, monkeypatch):
    """dbt's output is read as it comes (not when dbt exits): a stand-in for dbt prints the real lines with a
    pause between them."""
    from observatoire import dbt_runner
    from observatoire.config import load_settings

    fake = tmp_path / "dbt"
    fake.write_text(f"#!{sys.executable}\nimport sys, time\nLINES = {DBT_BUILD_OK!r}\n"
                    "for line in LINES:\n    print(line, flush=True)\n    time.sleep(0.15)\n")
    fake.chmod(0o755)
    monkeypatch.setattr(dbt_runner, "dbt_executable", lambda: str(fake))
    calls: list[tuple[float, int]] = []
    started = time.monotonic()
    result = dbt_runner.run_dbt(load_settings(), ["build"], log_path=tmp_path / "build.log",
                                on_progress=lambda p: calls.append((time.monotonic() - started, p.done)))
    ended = time.monotonic() - started
    assert [d for _t, d in calls] == [0, 0, 1, 2, 3] and result.progress.done == 3
    assert calls[2][0] < ended - 0.3  # the first model was told while dbt still ran
    log = (tmp_path / "build.log").read_text(encoding="utf-8").splitlines()
    assert len(log) == len(DBT_BUILD_OK) and log[-1].endswith("Done. PASS=118 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=118")
    assert not any(line.startswith("{") or "\x1b" in line for line in log)
