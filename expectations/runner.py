"""Evaluate a :class:`~expectations.suites.Suite` on a pandas DataFrame with Great Expectations 1.x.

The DataFrame route is deliberate: GX's SQL route through duckdb-engine accepts a DuckDB connection and then
reports every expectation as failed with an empty result. We read the table with DuckDB and validate the
DataFrame (``add_pandas`` → ``add_dataframe_asset`` → whole-dataframe batch).

Speed: a suite is evaluated by GX's validator in an in-memory context (no Checkpoint, no store round-trip
per suite) in GX's BASIC result format, and only the checks that did not pass are evaluated again in
COMPLETE for their offending rows. The suites and results of a gate phase are written to the file-backed
GX project of the data directory once, by :func:`build_docs`, which renders the Data Docs.

An expectation that raised inside GX is reported as an *error of the check* (status ``error``), never as
passed and never as a data failure. Each failure carries a sample of the offending rows with their
identifying columns (QPV code, line of the published file, indicator…).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from expectations.settings import current
from expectations.suites import Check, Suite

SAMPLE = 10


@cache
def _gx_module():
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    from expectations import gx_patches

    gx_patches.apply()
    return gx


@cache
def _context(root: str | None):
    """A GX context: file-backed under ``root`` (suites, results and Data Docs live in the data directory,
    never in git), or ephemeral with the pandas data source the batches go through when ``root`` is None."""
    gx = _gx_module()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=root)
    else:
        context = gx.get_context(mode="ephemeral")
    try:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    if root:  # stores and Data Docs only: the batches are validated in the ephemeral context
        return context, None
    from expectations import gx_patches

    if gx_patches.applied():  # one of GX's shortcuts (ADR 11): an ephemeral project has nowhere to save its
        # configuration, yet GX serialises it to YAML twice for each new data asset (one per suite name)
        context._save_project_config = lambda: None
    return context, context.data_sources.add_pandas("observatoire")


# validations waiting to be written to a file-backed GX project (per root): (suite, result, batch id, run time)
_PENDING_DOCS: dict[str, list] = {}


def build_docs(root: Path) -> Path | None:
    """Store the suites and results validated since the last call in the file-backed GX project under
    ``root`` and render their Data Docs (and the index), once per gate phase rather than once per suite.
    Returns the index path (None if nothing was validated with this root)."""
    pending = _PENDING_DOCS.pop(str(root), [])
    if not pending:
        return None
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context, _source = _context(str(root))
    ids = []
    for gx_suite, result, batch_id, run_time in pending:
        suite_id = ExpectationSuiteIdentifier(name=gx_suite.name)
        context.expectations_store.set(suite_id, gx_suite)
        run_id = RunIdentifier(run_time=run_time)
        result.meta["run_id"] = run_id
        result.meta["validation_time"] = run_time
        key = ValidationResultIdentifier(expectation_suite_identifier=suite_id, run_id=run_id,
                                         batch_identifier=batch_id)
        context.validation_results_store.store_validation_results(
            suite_validation_result=result, suite_validation_result_identifier=key,
            expectation_suite_identifier=suite_id)
        ids.append(key)
    context.build_data_docs(resource_identifiers=ids)
    return docs_index(root)


def docs_index(root: Path) -> Path:
    """Where the Data Docs of a GX root are written."""
    return root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _class_name(expectation_type: str) -> str:
    return "".join(part.capitalize() for part in expectation_type.split("_"))


# a row condition naming more values than this (the perimeter's QPV: 1,609 for France) is evaluated once per
# validation as a boolean column, and the checks are conditioned on that column: GX hands a membership condition
# to pandas' expression parser for each check and re-serialises it on every access (10.8 s of a 1,609-row file's
# 10 checks at the national perimeter, docs/performance.md), where one ``isin`` per condition costs milliseconds
FLAG_CONDITION_VALUES = 20
FLAG_PREFIX = "_condition_"


def _flag_conditions(checks: list[Check], df) -> tuple[Any, dict[int, tuple]]:
    """``df`` with one boolean column per distinct long membership condition of ``checks`` (a shallow copy;
    the caller's frame is untouched), and the condition each such check is evaluated with instead: the flag
    column equal to True (``in``) or False (``not_in``: rows whose value is NULL are "not in", as before)."""
    flags: dict[tuple, str] = {}
    override: dict[int, tuple] = {}
    columns = {}
    for i, check in enumerate(checks):
        cond = check.row_condition
        if not (cond and len(cond) == 3 and cond[1] in ("in", "not_in") and len(cond[2]) > FLAG_CONDITION_VALUES
                and cond[0] in df.columns):
            continue
        key = (cond[0], frozenset(cond[2]))
        if key not in flags:
            flags[key] = name = f"{FLAG_PREFIX}{len(flags) + 1}"
            columns[name] = df[cond[0]].isin(list(cond[2])).fillna(False).astype(bool)
        override[i] = (flags[key], cond[1] == "in")
    if columns:
        df = df.assign(**columns)
    return df, override


def _build(gx, check: Check, index: int, condition: tuple | None = None, flag_columns: tuple[str, ...] = ()):
    """``condition``: the row condition to evaluate instead of the check's; ``flag_columns``: the columns
    :func:`_flag_conditions` added to the batch, which a check of the table's columns expects too."""
    cls = getattr(gx.expectations, _class_name(check.type))
    kwargs = dict(check.kwargs)
    if flag_columns and check.type == "expect_table_columns_to_match_set":
        kwargs["column_set"] = [*kwargs["column_set"], *flag_columns]
    kwargs["meta"] = {"check_index": index, "check": check.description, "severity": check.severity}
    row_condition = condition or check.row_condition
    if row_condition is not None:
        from great_expectations.expectations.row_conditions import Column as ConditionColumn

        if len(row_condition) == 3 and row_condition[1] == "in":
            col, _op, values = row_condition
            kwargs["row_condition"] = ConditionColumn(col).is_in(list(values))
        elif len(row_condition) == 3 and row_condition[1] == "not_in":
            col, _op, values = row_condition  # rows whose value is NULL are "not in" too
            kwargs["row_condition"] = ConditionColumn(col).is_not_in(list(values))
        else:
            col, value = row_condition
            kwargs["row_condition"] = ConditionColumn(col) == value
    return cls(**kwargs)


def _index(result) -> int | None:
    """The position in the suite of the check behind a GX result."""
    return (result.expectation_config.meta or {}).get("check_index")


def _validate(name: str, gx_suite, df, result_format: dict):
    """One validation of ``gx_suite`` on ``df`` by GX's validator, in an in-memory context (no store
    round-trips; :func:`build_docs` writes what the Data Docs need). Returns the result and the batch id."""
    from great_expectations.validator.v1_validator import Validator

    _context_, source = _context(None)
    try:
        asset = source.get_asset(name)
    except Exception:  # noqa: BLE001 - GX raises its own LookupError subclasses
        asset = source.add_dataframe_asset(name)
    try:
        batch_def = asset.get_batch_definition("all")
    except Exception:  # noqa: BLE001
        batch_def = asset.add_batch_definition_whole_dataframe("all")
    validator = Validator(batch_definition=batch_def, batch_parameters={"dataframe": df},
                          result_format=result_format)
    try:
        return validator.validate_expectation_suite(gx_suite), validator.active_batch_id
    finally:
        # the context lives as long as the process and its engine keeps every batch it was given: release
        # them (this one is the only one left), or each validated DataFrame (a whole file, a chunk) would
        # stay in memory until exit
        manager = source.get_execution_engine().batch_manager
        for batch_id in list(manager.batch_data_cache):
            manager.batch_data_cache.pop(batch_id, None)
            manager.batch_cache.pop(batch_id, None)


# rows of a failing check kept in the results stored for the Data Docs (GX's COMPLETE format lists them all)
DOCS_ROWS = 50


def _trim(result) -> None:
    """Keep the first :data:`DOCS_ROWS` offending rows of a COMPLETE result: a check failing on a million
    rows would otherwise hold a million ids until the Data Docs are written."""
    res = result.result or {}
    for key in ("unexpected_list", "unexpected_index_list"):
        if isinstance(res.get(key), list) and len(res[key]) > DOCS_ROWS:
            res[key] = res[key][:DOCS_ROWS]
            res.pop("unexpected_index_query", None)  # the filter naming every offending row


def _exception(result) -> str | None:
    info = result.exception_info or {}
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for value in info.values():  # keyed by metric id
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message") or "exception while computing a metric"
    return None


def _sample(check: Check, res: dict[str, Any], id_columns: list[str]) -> list[dict]:
    col = check.kwargs.get("column")
    rows = res.get("unexpected_index_list") or []
    out = []
    for item in rows[:SAMPLE]:
        if isinstance(item, dict):
            ordered = {k: _plain(item[k]) for k in id_columns if k in item}
            ordered.update({k: _plain(v) for k, v in item.items() if k not in ordered})
            out.append(ordered)
        else:
            out.append({"index": _plain(item)})
    if not out and res.get("partial_unexpected_list"):
        out = [{col or "value": _plain(v)} for v in res["partial_unexpected_list"][:SAMPLE]]
    return out


def _plain(v):
    if hasattr(v, "item"):
        try:
            return v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and v != v:
        return None
    return v


def run_suite(suite: Suite, df, *, details_path: Path | None = None, gx_root: Path | None = None) -> dict:
    """Evaluate ``suite`` on ``df``; returns a JSON-serialisable summary (and writes the full result).

    The checks are evaluated by GX's validator in an in-memory context: first in GX's BASIC result format,
    then, for the checks that did not pass, again in COMPLETE (offending rows and their ids). With
    ``gx_root``, :func:`build_docs` later stores the suite and its result in the file-backed GX project
    there and renders the Data Docs (``docs_index(gx_root)``)."""
    gx = _gx_module()
    id_columns = [c for c in suite.id_columns if c in df.columns]
    name = re.sub(r"\W", "_", suite.name)
    df, flagged = _flag_conditions(suite.checks, df)
    flag_columns = tuple(sorted({col for col, _ in flagged.values()}))

    checks_out: list[dict] = []
    expectations = []
    for i, check in enumerate(suite.checks):
        entry: dict[str, Any] = {
            "check": check.description,
            "expectation": check.type,
            "column": check.column,
            "severity": check.severity,
            "row_condition": list(check.row_condition) if check.row_condition else None,
        }
        checks_out.append(entry)
        try:
            expectations.append(_build(gx, check, i, flagged.get(i), flag_columns))
        except Exception as err:  # noqa: BLE001 - a check that cannot even be built is an error, not a pass
            entry.update(status="error", success=False, exception=f"{err.__class__.__name__}: {err}")

    gx_suite = gx.ExpectationSuite(name=name, expectations=expectations)
    try:
        run_time = datetime.now(UTC)
        # most checks pass: the first pass computes what success and the Data Docs need (observed values,
        # counts: GX's BASIC format, ~45 % cheaper than COMPLETE); the checks that did not pass are evaluated
        # again with every detail (the offending rows with their identifying columns)
        result, batch_id = _validate(name, gx_suite, df, {"result_format": "BASIC"})
        again = {_index(r): k for k, r in enumerate(result.results) if not r.success}
        if again:
            detailed, _ = _validate(name, gx.ExpectationSuite(name=name, expectations=[
                e for e in expectations if e.meta["check_index"] in again]), df, {
                "result_format": "COMPLETE", "unexpected_index_column_names": id_columns,
                "partial_unexpected_count": SAMPLE})
            for r in detailed.results:
                _trim(r)
                result.results[again[_index(r)]] = r
        results = result.results
        if gx_root:
            _PENDING_DOCS.setdefault(str(gx_root), []).append((gx_suite, result, batch_id, run_time))
        run_error = None
    except Exception as err:  # noqa: BLE001 - the whole validation could not run: every check is an error
        results, run_error = [], f"{err.__class__.__name__}: {err}"

    seen = set()
    for result in results:
        idx = _index(result)
        if idx is None or idx >= len(checks_out):
            continue
        seen.add(idx)
        check, entry = suite.checks[idx], checks_out[idx]
        exc = _exception(result)
        res = result.result or {}
        if exc:
            entry.update(status="error", success=False, exception=exc)
            continue
        ok = bool(result.success)
        entry["success"] = ok
        entry["status"] = "passed" if ok else ("warning" if check.severity == "warning" else "failed")
        if not ok:
            entry["unexpected_count"] = res.get("unexpected_count")
            entry["sample"] = _sample(check, res, id_columns)
            observed = res.get("observed_value")
            if res.get("partial_missing_list"):
                entry["missing"] = sorted(map(str, res["partial_missing_list"]))[:50]
                entry["unexpected_count"] = res.get("missing_count")
            elif check.type == "expect_column_distinct_values_to_equal_set" and observed is not None:
                entry["missing"] = sorted(set(check.kwargs["value_set"]) - set(observed))[:50]
                entry["unexpected"] = sorted(set(observed) - set(check.kwargs["value_set"]))[:50]
            elif observed is not None:
                if isinstance(observed, list):  # a table's columns: without the flags added for the conditions
                    observed = [v for v in observed if v not in flag_columns]
                entry["observed"] = _plain(observed) if not isinstance(observed, list) else observed[:50]
    for entry in checks_out:
        if "status" not in entry:  # never evaluated: an error of the check, never a pass
            entry.update(status="error", success=False,
                         exception=run_error or "the expectation produced no result")

    failed = [c for c in checks_out if c["status"] == "failed"]
    errors = [c for c in checks_out if c["status"] == "error"]
    summary = {
        "suite": suite.name,
        "target": suite.target,
        "rows": int(len(df)),
        "success": not failed and not errors,
        "evaluated": len(checks_out),
        "failed": len(failed),
        "errors": len(errors),
        "warnings": sum(1 for c in checks_out if c["status"] == "warning"),
        "checks": checks_out,
    }
    if details_path is not None:
        details_path.parent.mkdir(parents=True, exist_ok=True)
        details_path.write_text(json.dumps({"suite": suite.as_dict(), "summary": summary},
                                           ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return summary


# -- several suites at once: one process per core ------------------------------------------------------------

_JOBS: list[tuple] = []


def gx_workers() -> int:
    """Processes validating suites at the same time (the settings' ``OBSERVATOIRE_GX_WORKERS``, default: the
    cores this process may use, at most 4). GX evaluates a suite in Python: one process per core is what
    parallelises."""
    workers = current().gx_workers
    if workers:
        return workers
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _worker_init(parent: int) -> None:  # pragma: no cover - runs in the forked worker
    """Linux: the kernel kills a worker when the run that forked it dies (even on SIGKILL). A worker inherits
    the run's open files, the data directory's writer lock among them: an orphan waiting for work would hold
    that lock for ever."""
    import signal

    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort outside Linux
        pass
    if os.getppid() != parent:  # the run died before prctl
        os._exit(1)
    # the parent's streams may be a live progress display's proxies (observatoire run on a terminal): a worker
    # writes straight to the process's own streams instead of drawing that display again
    import sys

    if type(sys.stderr).__module__.startswith("rich") and sys.__stderr__ is not None:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__


def discard_pending(root: Path) -> None:
    """Forget validations not yet written to the GX project under ``root`` (those of an earlier run of this
    process that failed before rendering them)."""
    _PENDING_DOCS.pop(str(root), None)


def _run_job(i: int) -> tuple[dict, dict]:
    """In a worker: the call ``i`` of :data:`_JOBS` (inherited from the parent by fork); returns its summary
    and the results waiting for :func:`build_docs`, which the parent writes."""
    fn, args, kwargs = _JOBS[i]
    _PENDING_DOCS.clear()  # the parent's, inherited by fork: the parent keeps them
    summary = fn(*args, **kwargs)
    return summary, {root: _PENDING_DOCS.pop(root) for root in list(_PENDING_DOCS)}


def _in_workers(calls: list[tuple], workers: int, *, on_done: OnDone | None = None,
                on_rows: OnRows | None = None) -> list[dict]:
    """``fn(*args, **kwargs)`` for each call, in order, on ``workers`` forked processes (they inherit the
    calls' arguments: nothing is copied to them); the results for the Data Docs come back to this process.
    ``on_done(i, summary)`` is called here as each call ends (in the order they end); ``on_rows``: each call
    also gets the keyword ``on_rows`` (rows validated so far, of the file's rows), told here as ``on_rows(i,
    rows, total)``, from the workers too."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from functools import partial

    workers = min(workers, len(calls))
    if workers > 1 and multiprocessing.current_process().daemon:
        # a daemonic process may not start children (multiprocessing refuses): Airflow's task process under the
        # CeleryExecutor is forked from a Celery prefork worker process, which is daemonic; the suites run here
        logging.getLogger(__name__).info("daemonic process (a Celery worker's task): %d suites validated one by "
                                         "one in this process", len(calls))
        workers = 1
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        out = []
        for i, (fn, args, kwargs) in enumerate(calls):
            out.append(fn(*args, **(kwargs | {"on_rows": partial(on_rows, i)} if on_rows else kwargs)))
            if on_done is not None:
                on_done(i, out[-1])
        return out
    global _JOBS
    fork = multiprocessing.get_context("fork")
    pipe = drain = stop = None
    if on_rows is not None:  # the workers' chunks, told to this process through a pipe they inherit
        import threading

        pipe = fork.Pipe(duplex=False)
        calls = [(fn, args, kwargs | {"on_rows": partial(_send_rows, pipe[1], i)})
                 for i, (fn, args, kwargs) in enumerate(calls)]
        stop = threading.Event()
        drain = threading.Thread(target=_drain_rows, args=(pipe[0], on_rows, stop), name="gx-rows", daemon=True)
        drain.start()
    _JOBS = calls
    done: dict[int, tuple[dict, dict]] = {}
    try:
        # a worker that dies (killed, out of memory) raises BrokenProcessPool here instead of hanging the run
        with ProcessPoolExecutor(workers, mp_context=fork, initializer=_worker_init,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(_run_job, i): i for i in range(len(calls))}
            for future in as_completed(futures):
                i = futures[future]
                done[i] = future.result()
                if on_done is not None:
                    on_done(i, done[i][0])
    finally:
        _JOBS = []
        if pipe is not None:
            stop.set()  # the workers are gone: what they sent is read, then the thread ends
            drain.join(timeout=10)
            pipe[0].close()
            pipe[1].close()
    out = [done[i] for i in range(len(calls))]
    summaries = []
    for summary, pending in out:
        for root, items in pending.items():
            _PENDING_DOCS.setdefault(root, []).extend(items)
        summaries.append(summary)
    return summaries


#: ``on_done(i, summary)``: job ``i`` is validated (called in the calling process, as jobs end)
OnDone = Callable[[int, dict], None]
#: ``on_rows(i, rows, total)``: job ``i``, a large file validated in chunks, has ``rows`` of ``total`` validated
OnRows = Callable[[int, int, int], None]


def _send_rows(conn, i: int, rows: int, total: int) -> None:  # in a worker
    """A few bytes on the pipe: one write, never interleaved with another worker's (no lock a killed worker
    could keep)."""
    conn.send((i, rows, total))


def _drain_rows(conn, on_rows: OnRows, stop) -> None:
    """In the calling process: the workers' chunk counts, until ``stop`` is set and the pipe is empty."""
    while True:
        try:
            ready = conn.poll(0.2)
            item = conn.recv() if ready else None
        except (EOFError, OSError):
            return
        if item is not None:
            try:
                on_rows(*item)
            except Exception:  # noqa: BLE001 - a progress display's problem never stops a gate
                logging.getLogger(__name__).debug("on_rows failed", exc_info=True)
        elif stop.is_set():
            return


def run_suites(jobs: list[tuple[Suite, Any, Path | None]], *, gx_root: Path | None = None,
               workers: int | None = None, on_done: OnDone | None = None) -> list[dict]:
    """:func:`run_suite` for each ``(suite, dataframe, details_path)``, in order, on up to ``workers``
    processes (forked: they inherit the DataFrames, nothing is copied to them). The summaries, the details
    files and the results for the Data Docs are the same as one by one; without ``fork`` (or with one
    worker, or one job) the suites run here, one by one. ``on_done(i, summary)`` as each suite ends."""
    calls = [(run_suite, (suite, df), {"details_path": details, "gx_root": gx_root}) for suite, df, details in jobs]
    return _in_workers(calls, workers or gx_workers(), on_done=on_done)


LARGE_FILES_WORKERS = 2  # large files validated at the same time (each holds a chunk of rows in memory)


def run_suites_on_parquet(jobs: list[tuple[Suite, Path, Path | None]], *, gx_root: Path | None = None,
                          max_rows: int | None = None, on_done: OnDone | None = None,
                          on_rows: OnRows | None = None) -> list[dict]:
    """:func:`run_suite_on_parquet` for each ``(suite, parquet, details_path)``, in order. Files up to
    ``max_rows`` rows are read here, a batch of at most ``max_rows`` rows in all at a time, and validated by
    :func:`run_suites` (in parallel). Larger files are validated in chunks, up to two at a time with chunks of
    half ``max_rows`` rows. Either way, at most ``max_rows`` rows are in memory at once. ``on_done(i,
    summary)`` as each file is validated, ``on_rows(i, rows, total)`` as a large file's chunks are."""
    import pyarrow.parquet as pq

    max_rows = max_rows or _max_rows()
    sizes = [pq.ParquetFile(parquet).metadata.num_rows for _s, parquet, _d in jobs]
    out: dict[int, dict] = {}
    for batch in _batches([i for i, n in enumerate(sizes) if n <= max_rows], sizes, max_rows):
        frames = [(jobs[i][0], _read_frame(jobs[i][1]), jobs[i][2]) for i in batch]
        told = (lambda k, summary, batch=batch: on_done(batch[k], summary)) if on_done else None
        for i, summary in zip(batch, run_suites(frames, gx_root=gx_root, on_done=told), strict=True):
            out[i] = summary
        del frames
    large = [i for i in range(len(jobs)) if i not in out]
    workers = min(gx_workers(), LARGE_FILES_WORKERS, len(large))
    chunk = max(1, max_rows // max(workers, 1))
    calls = [(run_suite_on_parquet, (jobs[i][0], jobs[i][1]),
              {"details_path": jobs[i][2], "gx_root": gx_root, "max_rows": chunk}) for i in large]
    for i, summary in zip(large, _in_workers(
            calls, workers, on_done=(lambda k, summary: on_done(large[k], summary)) if on_done else None,
            on_rows=(lambda k, rows, total: on_rows(large[k], rows, total)) if on_rows else None), strict=True):
        out[i] = summary
    return [out[i] for i in range(len(jobs))]


def _batches(indexes: list[int], sizes: list[int], max_rows: int) -> list[list[int]]:
    """``indexes`` (files of at most ``max_rows`` rows) in order, cut into consecutive batches of at most
    ``max_rows`` rows in all."""
    batches: list[list[int]] = []
    total = 0
    for i in indexes:
        if not batches or total + sizes[i] > max_rows:
            batches.append([])
            total = 0
        batches[-1].append(i)
        total += sizes[i]
    return batches


def _read_frame(parquet: Path):
    """A parsed file as a DataFrame; nullable integers stay integers (pandas' Int64)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(parquet).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def describe_condition(cond) -> str:
    """A check's row condition in words; a long set of values is counted, not listed."""
    if len(cond) == 3:
        values = list(cond[2])
        shown = repr(values) if len(values) <= 6 else f"({len(values)} values: {', '.join(map(str, values[:3]))}, …)"
        return f"{cond[0]} {'not in' if cond[1] == 'not_in' else 'in'} {shown}"
    return f"{cond[0]} = {cond[1]!r}"


def format_failures(summary: dict, limit: int = 5, *, statuses: tuple[str, ...] = ("failed", "error")) -> str:
    """A readable account of what failed: which suite, which check, which column, which rows."""
    lines = []
    for c in summary["checks"]:
        if c["status"] not in statuses:
            continue
        head = f"{summary['suite']} ({summary['target']}): {c['status'].upper()} {c['expectation']}"
        if c.get("column"):
            head += f" on column {c['column']!r}"
        if c.get("row_condition"):
            head += f" where {describe_condition(c['row_condition'])}"
        lines.append(head)
        lines.append(f"    check: {c['check']}")
        if c["status"] == "error":
            lines.append(f"    the check could not be evaluated (error of the check, not a pass): {c.get('exception')}")
            continue
        if c.get("unexpected_count") is not None:
            lines.append(f"    offending rows: {c['unexpected_count']}")
        for row in (c.get("sample") or [])[:limit]:
            lines.append("      - " + ", ".join(f"{k}={v!r}" for k, v in row.items()))
        if c.get("missing"):
            lines.append(f"    missing: {', '.join(map(str, c['missing'][:limit * 2]))}")
        if c.get("unexpected"):
            lines.append(f"    unexpected: {', '.join(map(str, c['unexpected'][:limit * 2]))}")
        if "observed" in c:
            lines.append(f"    observed: {c['observed']!r}")
    return "\n".join(lines)


def format_warnings(summary: dict, limit: int = 5) -> str:
    """The checks that only warn (rows outside the perimeter, more rows than last time…), with their rows."""
    return format_failures(summary, limit, statuses=("warning",))


# -- large files: row-level checks in chunks, table-level checks on a DuckDB-computed profile -----------------

ROW_LEVEL_PREFIXES = ("expect_column_values_to_",)
# checks named like row-level ones that compare rows with each other: evaluated on the whole file's profile
WHOLE_FILE_CHECKS = ("expect_column_values_to_be_unique",)


def _row_level(check: Check) -> bool:
    return check.type.startswith(ROW_LEVEL_PREFIXES) and check.type not in WHOLE_FILE_CHECKS


def _max_rows() -> int:
    return current().gx_max_rows


def run_suite_on_parquet(suite: Suite, parquet: Path, *, details_path: Path | None = None,
                         gx_root: Path | None = None, max_rows: int | None = None,
                         on_rows: Callable[[int, int], None] | None = None) -> dict:
    """Validate a parsed Parquet file. Up to ``max_rows`` rows (``OBSERVATOIRE_GX_MAX_ROWS``, default 1 M) the
    whole table is one DataFrame. Above, memory stays bounded: row-level checks (``expect_column_values_…``)
    run on chunks of ``max_rows`` rows and their results are merged; table-level checks (row count, columns,
    uniqueness, QPV of the perimeter present) run on a profile DuckDB computes from the file (row count,
    distinct values, duplicated keys only), still through Great Expectations. ``on_rows(rows, total)`` after each
    chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    max_rows = max_rows or _max_rows()
    pf = pq.ParquetFile(parquet)
    total = pf.metadata.num_rows
    mapper = {pa.int64(): __import__("pandas").Int64Dtype()}.get
    if total <= max_rows:
        return run_suite(suite, _read_frame(parquet), details_path=details_path, gx_root=gx_root)

    row_checks = [c for c in suite.checks if _row_level(c)]
    table_checks = [c for c in suite.checks if not _row_level(c)]
    merged: dict[int, dict] = {}
    chunk_suite = Suite(name=f"{suite.name}_chunks", target=suite.target, checks=row_checks,
                        id_columns=suite.id_columns)
    columns_df = None
    validated = 0
    for batch in pf.iter_batches(batch_size=max_rows):
        df = pa.Table.from_batches([batch]).to_pandas(types_mapper=mapper)
        if columns_df is None:
            columns_df = df.head(0)
        part = run_suite(chunk_suite, df)
        for i, entry in enumerate(part["checks"]):
            acc = merged.setdefault(i, dict(entry, unexpected_count=0, sample=[]))
            if entry["status"] == "error":
                acc.update(status="error", success=False, exception=entry.get("exception"))
            elif entry["status"] in ("failed", "warning") and acc["status"] != "error":
                acc.update(status=entry["status"], success=False)
                acc["unexpected_count"] += entry.get("unexpected_count") or 0
                acc["sample"] = (acc["sample"] + (entry.get("sample") or []))[:SAMPLE]
        del df
        validated += batch.num_rows
        if on_rows is not None:
            on_rows(validated, int(total))
    for entry in merged.values():
        if entry["status"] == "passed":
            entry.pop("sample", None)
            entry.pop("unexpected_count", None)
    table_out = _profile_checks(table_checks, parquet, columns_df, total)
    checks_out = [merged[i] for i in sorted(merged)] + table_out
    if gx_root:
        _pend_chunked_docs(suite, row_checks + table_checks, checks_out, total, columns_df, gx_root)
    failed = [c for c in checks_out if c["status"] == "failed"]
    errors = [c for c in checks_out if c["status"] == "error"]
    summary = {
        "suite": suite.name, "target": suite.target, "rows": int(total),
        "validated_as": f"row-level checks in chunks of {max_rows} rows; table-level checks on a DuckDB profile",
        "success": not failed and not errors, "evaluated": len(checks_out), "failed": len(failed),
        "errors": len(errors), "warnings": sum(1 for c in checks_out if c["status"] == "warning"),
        "checks": checks_out,
    }
    if details_path is not None:
        details_path.parent.mkdir(parents=True, exist_ok=True)
        details_path.write_text(json.dumps({"suite": suite.as_dict(), "summary": summary}, ensure_ascii=False,
                                           indent=2, default=str), encoding="utf-8")
    return summary


def _pend_chunked_docs(suite: Suite, checks: list[Check], entries: list[dict], total: int, columns_df,
                       gx_root: Path) -> None:
    """A file validated in chunks has no single GX validation: its merged verdicts are written as one for the
    Data Docs (counts over the whole file, a sample of offending values, the checks that errored)."""
    gx = _gx_module()
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult

    name = re.sub(r"\W", "_", suite.name)
    expectations, results = [], []
    for i, (check, entry) in enumerate(zip(checks, entries, strict=True)):
        try:
            expectation = _build(gx, check, i)
        except Exception:  # noqa: BLE001 - reported as an error of the check in the run's summary
            continue
        expectations.append(expectation)
        res: dict[str, Any] = {}
        if check.type.startswith(ROW_LEVEL_PREFIXES):  # counts over the whole file (uniqueness: duplicated keys)
            n = entry.get("unexpected_count") or 0
            col = check.kwargs.get("column")
            res.update(element_count=total, unexpected_count=n, unexpected_percent=100.0 * n / total if total else 0.0,
                       partial_unexpected_list=[row.get(col) for row in entry.get("sample") or [] if col in row])
        elif check.type.startswith("expect_table_row_count_to_"):
            res["observed_value"] = total
        elif check.type == "expect_table_columns_to_match_set" and columns_df is not None:
            res["observed_value"] = list(columns_df.columns)
        elif "observed" in entry:
            res["observed_value"] = entry["observed"]
        error = entry["status"] == "error"
        results.append(ExpectationValidationResult(
            success=bool(entry.get("success")), expectation_config=expectation.configuration, result=res,
            exception_info={"raised_exception": error, "exception_message": entry.get("exception") if error else None,
                            "exception_traceback": None}))
    ok = sum(1 for r in results if r.success)
    gx_suite = gx.ExpectationSuite(name=name, expectations=expectations)
    result = ExpectationSuiteValidationResult(
        success=all(r.success for r in results), results=results, suite_name=name,
        statistics={"evaluated_expectations": len(results), "successful_expectations": ok,
                    "unsuccessful_expectations": len(results) - ok,
                    "success_percent": 100.0 * ok / len(results) if results else None},
        meta={"great_expectations_version": gx.__version__,
              "validated_as": f"{total} rows in chunks; table-level checks on a DuckDB profile"})
    _PENDING_DOCS.setdefault(str(gx_root), []).append((gx_suite, result, f"observatoire-{name}",
                                                       datetime.now(UTC)))


def _profile_checks(checks: list[Check], parquet: Path, columns_df, total: int) -> list[dict]:
    """Each table-level check evaluated by GX on a small profile computed by DuckDB."""
    import duckdb
    import pandas as pd

    out = []
    src = "read_parquet('" + str(parquet).replace("'", "''") + "')"
    con = duckdb.connect()
    try:
        for check in checks:
            kw = check.kwargs
            if check.type == "expect_table_columns_to_match_set":
                df, profiled = columns_df, check
            elif check.type.startswith("expect_table_row_count_to_"):
                df = pd.DataFrame({"rows": [total]})
                if check.type.endswith("equal"):
                    profiled = Check("expect_column_values_to_be_between",
                                     {"column": "rows", "min_value": kw["value"], "max_value": kw["value"]},
                                     check.description, check.severity)
                else:
                    profiled = Check("expect_column_values_to_be_between",
                                     {"column": "rows", **{k: v for k, v in kw.items() if k in ("min_value", "max_value")}},
                                     check.description, check.severity)
            elif check.type in ("expect_column_distinct_values_to_contain_set", "expect_column_distinct_values_to_equal_set"):
                col = kw["column"]
                df = con.execute(f'SELECT DISTINCT "{col}" AS "{col}" FROM {src}').df()
                profiled = check
            elif check.type in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
                cols = [kw["column"]] if "column" in kw else list(kw["column_list"])
                keys = ", ".join(f'"{c}"' for c in cols)
                df = con.execute(f"SELECT {keys}, count(*) AS occurrences FROM {src} "
                                 f"WHERE {' AND '.join(f'{chr(34)}{c}{chr(34)} IS NOT NULL' for c in cols)} "
                                 f"GROUP BY {keys} HAVING count(*) > 1 LIMIT 1000").df()
                profiled = Check("expect_column_values_to_be_between", {"column": "occurrences", "max_value": 1},
                                 check.description, check.severity)
            else:
                out.append({"check": check.description, "expectation": check.type, "column": check.column,
                            "severity": check.severity, "status": "error", "success": False,
                            "exception": "no profile defined for this check on a large file"})
                continue
            ids = tuple(c for c in df.columns if c != "occurrences")
            part = run_suite(Suite(name=f"profile_{check.type}", target="profile", checks=[profiled],
                                   id_columns=ids), df)
            entry = part["checks"][0]
            entry.update(check=check.description, expectation=check.type, column=check.column,
                         validated_on="DuckDB profile")
            out.append(entry)
    finally:
        con.close()
    return out
