"""What a run shows a person while it works (issue 19): a reporter the pipeline tells what it is doing.

The pipeline's functions call the reporter installed by :func:`reporting` through :func:`current`:
``source_started`` / ``download`` / ``source_done`` for each (source, millésime) fetched, ``step_started`` /
``step_progress`` / ``step_finished`` for the long steps (raw gate, load, dbt build, mart gate, publish) and
``line`` for a line of text. The default reporter does nothing, so the library and the Airflow tasks (which
call the pipeline's functions, never the command line) stay silent; ``observatoire run`` installs one of:

* :class:`RichReporter` on a terminal: each source's line as soon as it is fetched, progress bars for the
  download in flight (bytes received / announced size), the gates (files, suites, rows of a file validated in
  chunks), dbt's build (nodes and models done, from dbt's structured log) and the publication, one line per
  finished step; the bars are erased when the run ends, the lines stay;
* :class:`PlainReporter` elsewhere (a pipe, a file, a log, cron, ``--plain``, ``TERM=dumb``): the same lines,
  one per completed source and step, no control character, and on a long step one line every
  :data:`HEARTBEAT` seconds saying where it is;
* :class:`PlainReporter` with ``quiet``: nothing but what the command prints itself (``--quiet``).

A reporter's failure never fails a run: every hook is guarded (:class:`_Guarded`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import IO, Any

log = logging.getLogger(__name__)

#: plain mode: a long step or download says where it is at most this often (seconds)
HEARTBEAT = 30.0

#: how the steps are named on screen
STEP_LABELS = {
    "lock": "writer lock",
    "extract": "extract",
    "raw_gate": "raw gate",
    "load": "load",
    "dbt": "dbt build",
    "mart_gate": "mart gate",
    "publish": "publish",
}

STATUS_STYLES = {"new": "green", "unchanged": "dim", "restored": "yellow", "set_aside": "yellow",
                 "failed": "bold red", "quarantined": "bold red"}


class Reporter:
    """The hooks the pipeline calls. This one does nothing: library and Airflow use stay silent."""

    def source_started(self, source_id: str, millesime: int) -> None:
        """Fetching one (source, millésime) starts."""

    def source_stage(self, source_id: str, millesime: int, what: str) -> None:
        """What the fetch of a source does now (``parsing``, ``parsing: 120,000 rows``…)."""

    def download(self, source_id: str, millesime: int, received: int, total: int | None = None,
                 page: int | None = None) -> None:
        """Bytes received so far, of ``total`` announced (Content-Length; None when unknown); ``page`` of a
        paged API."""

    def source_done(self, result: dict) -> None:
        """A source's result (``source_id``, ``millesime``, ``status``, ``rows``, ``bytes``, ``error``); again
        with ``quarantined`` when its file then fails its raw gate."""

    def step_started(self, step: str, total: int | None = None, detail: str | None = None) -> None:
        """A step starts (:data:`STEP_LABELS`), with its number of items when known."""

    def step_progress(self, step: str, completed: int | None = None, total: int | None = None,
                      detail: str | None = None) -> None:
        """Items done (and the total when it is learnt on the way), what is being done."""

    def step_finished(self, step: str, line: str | None = None, ok: bool = True) -> None:
        """A step ended; ``line`` is what it did, shown with its duration (None: nothing shown)."""

    def line(self, text: str, style: str | None = None) -> None:
        """One line of text for the person running the command."""

    def close(self) -> None:
        """The run is over: stop any live display (the lines printed stay)."""


class _Guarded:
    """A reporter whose hooks never raise: progress is for the eyes, a bug in it must not fail a run."""

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._warned = False

    def __getattr__(self, name: str):
        hook = getattr(self._reporter, name)
        if not callable(hook):
            return hook

        def guarded(*args, **kwargs):
            try:
                return hook(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - a display problem is logged once, the run goes on
                if not self._warned:
                    self._warned = True
                    log.debug("progress display failed in %s: %s", name, err, exc_info=True)
                return None

        return guarded

    @property
    def reporter(self) -> Reporter:
        return self._reporter


_silent = Reporter()
_current: Reporter = _silent


def current() -> Reporter:
    """The reporter in force (guarded): the command line's, else one that does nothing."""
    return _Guarded(_current)  # type: ignore[return-value]


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Install ``reporter`` for the pipeline's hooks while the block runs; it is closed on the way out (the
    previous one is put back)."""
    global _current
    previous, _current = _current, reporter
    try:
        yield reporter
    finally:
        _current = previous
        _Guarded(reporter).close()


def download_hook(source_id: str, millesime: int) -> Callable[..., None]:
    """The callback :func:`extract.http.fetch` and :func:`extract.apis.fetch_paged` call as bytes arrive."""

    def hook(received: int, total: int | None = None, page: int | None = None) -> None:
        current().download(source_id, millesime, received, total, page)

    return hook


# -- texts: the same in both modes -----------------------------------------------------------------

def human_size(n: int | float | None) -> str:
    """1234567 → ``1.2 MB`` (decimal units, like rich's download column)."""
    if n is None:
        return ""
    n = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""  # pragma: no cover


def human_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def source_line(result: dict, seconds: float | None = None) -> str:
    """``  insee_pop_qpv                2021  new        122 rows      18.4 kB  0.2 s``: status, rows, size, time;
    a failure: its problem; unchanged: why."""
    line = f"  {result['source_id']:<28} {result['millesime']}  {result['status']:<10}"
    if result.get("rows") is not None:
        line += f" {str(result['rows']) + ' rows':<12}"
    if result.get("status") in ("new", "quarantined") and result.get("bytes"):
        line += f"{human_size(result['bytes']):>9}"
    if result.get("status") == "failed" and result.get("error"):
        from extract.http import redact_text

        problem = result["error"].get("problem") or result["error"].get("message") or ""
        problem = (redact_text(str(problem)) or "").splitlines()[0] if problem else ""
        line += f" {problem[:100]}" + ("…" if len(problem) > 100 else "")
    if result.get("status") == "quarantined" and result.get("validation"):
        v = result["validation"]
        line += f"  raw gate: {v.get('failed', 0)} failed check(s), {v.get('errors', 0)} error(s)"
    if result.get("status") == "unchanged" and result.get("reason"):
        line += f"  {result['reason']}"
    if seconds is not None and seconds >= 0.05 and result.get("status") != "quarantined":
        line += f"  {human_duration(seconds)}"
    return line.rstrip()


def step_line(step: str, text: str, seconds: float | None) -> str:
    """``raw gate: 27 files validated, 27 passed (5.2 s)``"""
    label = STEP_LABELS.get(step, step)
    return f"{label}: {text}" + (f" ({human_duration(seconds)})" if seconds is not None else "")


def summary_line(results: list[dict], seconds: float | None = None) -> str:
    """``sources: 27 new, 1 unchanged, 0 failed (28 files) in 45.1 s``: every status met, new, unchanged and
    failed always."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    order = ["new", "unchanged", "failed"] + sorted(set(counts) - {"new", "unchanged", "failed"})
    parts = ", ".join(f"{counts.get(s, 0)} {s.replace('_', ' ')}" for s in order)
    files = len(results)
    text = f"sources: {parts} ({files} file{'s' if files != 1 else ''})"
    return text + (f" in {human_duration(seconds)}" if seconds is not None else "")


# -- the plain reporter ------------------------------------------------------------------------------------

class _State:
    """What both reporters keep: sources met, steps under way, when they started."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.results: dict[tuple[str, int], dict] = {}
        self.source_started_at: dict[tuple[str, int], float] = {}
        self.step_started_at: dict[str, float] = {}
        self.lock = threading.RLock()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class PlainReporter(Reporter):
    """One line per completed source and step, written as they complete, no control character; on a long step
    or download, a line every :data:`HEARTBEAT` seconds. ``quiet``: nothing at all from the hooks."""

    def __init__(self, stream: IO[str] | None = None, *, quiet: bool = False, heartbeat: float = HEARTBEAT) -> None:
        self.stream = stream
        self.quiet = quiet
        self.heartbeat = heartbeat
        self.state = _State()
        self._last_said: dict[str, float] = {}
        self._steps: dict[str, dict] = {}

    @property
    def results(self) -> list[dict]:
        return list(self.state.results.values())

    def elapsed(self) -> float:
        return self.state.elapsed()

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr
        with self.state.lock:
            stream.write(text + "\n")
            stream.flush()

    def _beat(self, key: str, text: str) -> None:
        """A line about work under way, at most every ``heartbeat`` seconds per key (never at once)."""
        if self.quiet or not self.heartbeat:
            return
        now = time.monotonic()
        last = self._last_said.setdefault(key, now)
        if now - last >= self.heartbeat:
            self._last_said[key] = now
            self._write(text)

    def line(self, text: str, style: str | None = None) -> None:
        self._write(text)

    def source_started(self, source_id: str, millesime: int) -> None:
        self.state.source_started_at[(source_id, millesime)] = time.monotonic()
        self._last_said[f"source:{source_id}/{millesime}"] = time.monotonic()

    def download(self, source_id, millesime, received, total=None, page=None) -> None:
        size = human_size(received) + (f" of {human_size(total)}" if total else "")
        where = f", page {page}" if page else ""
        self._beat(f"source:{source_id}/{millesime}", f"  {source_id} {millesime}: downloading, {size}{where}")

    def source_stage(self, source_id, millesime, what) -> None:
        self._beat(f"source:{source_id}/{millesime}", f"  {source_id} {millesime}: {what}")

    def source_done(self, result: dict) -> None:
        key = (result["source_id"], result["millesime"])
        started = self.state.source_started_at.get(key)
        self.state.results[key] = dict(result)
        if not self.quiet:
            self._write(source_line(result, time.monotonic() - started if started else None))

    def step_started(self, step, total=None, detail=None) -> None:
        self.state.step_started_at[step] = time.monotonic()
        self._steps[step] = {"completed": 0, "total": total, "detail": detail}
        self._last_said[f"step:{step}"] = time.monotonic()

    def step_progress(self, step, completed=None, total=None, detail=None) -> None:
        st = self._steps.setdefault(step, {"completed": 0, "total": None, "detail": None})
        for k, v in (("completed", completed), ("total", total), ("detail", detail)):
            if v is not None:
                st[k] = v
        count = f" {st['completed']}/{st['total']}" if st["total"] else ""
        started = self.state.step_started_at.get(step)
        since = f" ({human_duration(time.monotonic() - started)} so far)" if started else ""
        self._beat(f"step:{step}", f"{STEP_LABELS.get(step, step)}:{count}"
                                   + (f" {st['detail']}" if st["detail"] else "") + since)

    def step_finished(self, step, line=None, ok=True) -> None:
        started = self.state.step_started_at.pop(step, None)
        self._steps.pop(step, None)
        if line and not self.quiet:
            self._write(step_line(step, line, time.monotonic() - started if started else None))


# -- the terminal reporter ----------------------------------------------------------------------------------

class RichReporter(PlainReporter):
    """On a terminal: the same lines (styled), with live progress bars for what is under way (erased at the end)."""

    def __init__(self, console=None) -> None:
        from rich.console import Console

        super().__init__(None, heartbeat=0)
        self.console = console or Console(stderr=True, highlight=False)
        self._progress = None
        self._tasks: dict[str, Any] = {}

    # the live display, started at the first progress to show
    def _bars(self):
        if self._progress is None:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.table import Column

            amount, speed = _columns()
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False, table_column=Column(no_wrap=True, min_width=12)),
                BarColumn(bar_width=32), amount(), speed(),
                TextColumn("{task.fields[detail]}", markup=False,
                           table_column=Column(no_wrap=True, overflow="ellipsis", max_width=56)),
                TimeElapsedColumn(), console=self.console, transient=True, refresh_per_second=8)
            self._progress.start()
        return self._progress

    def _task(self, key: str, description: str, *, kind: str, total: int | None = None, detail: str = ""):
        bars = self._bars()
        if key not in self._tasks:
            self._tasks[key] = bars.add_task(description, total=total, kind=kind, detail=detail)
        return self._tasks[key]

    def _drop(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and self._progress is not None:
            self._progress.remove_task(task)

    def _write(self, text: str, style: str | None = None) -> None:
        from rich.text import Text

        with self.state.lock:
            self.console.print(Text(text, style=style or ""), soft_wrap=True)

    def line(self, text: str, style: str | None = None) -> None:
        self._write(text, style)

    def source_started(self, source_id, millesime) -> None:
        super().source_started(source_id, millesime)
        with self.state.lock:
            self._task(f"source:{source_id}/{millesime}", f"  {source_id} {millesime}", kind="bytes",
                       detail="connecting")

    def download(self, source_id, millesime, received, total=None, page=None) -> None:
        with self.state.lock:
            task = self._task(f"source:{source_id}/{millesime}", f"  {source_id} {millesime}", kind="bytes")
            self._bars().update(task, completed=received, total=total,
                                detail=f"page {page}" if page else "downloading")

    def source_stage(self, source_id, millesime, what) -> None:
        with self.state.lock:
            task = self._task(f"source:{source_id}/{millesime}", f"  {source_id} {millesime}", kind="bytes")
            self._bars().update(task, detail=what)

    def source_done(self, result: dict) -> None:
        key = (result["source_id"], result["millesime"])
        started = self.state.source_started_at.get(key)
        again = key in self.state.results
        self.state.results[key] = dict(result)
        with self.state.lock:
            self._drop(f"source:{result['source_id']}/{result['millesime']}")
            if not again and "extract" in self._tasks:
                self._bars().advance(self._tasks["extract"])
            text = source_line(result, time.monotonic() - started if started else None)
            self._write(text, STATUS_STYLES.get(result.get("status")) if result.get("status") != "new" else None)

    def step_started(self, step, total=None, detail=None) -> None:
        self.state.step_started_at[step] = time.monotonic()
        with self.state.lock:
            self._drop(f"step:{step}")
            self._tasks[f"step:{step}"] = self._bars().add_task(STEP_LABELS.get(step, step), total=total,
                                                                kind="count", detail=detail or "")
            if step == "extract":
                self._tasks["extract"] = self._tasks[f"step:{step}"]

    def step_progress(self, step, completed=None, total=None, detail=None) -> None:
        with self.state.lock:
            task = self._tasks.get(f"step:{step}")
            if task is None:
                return
            fields: dict[str, Any] = {}
            if completed is not None:
                fields["completed"] = completed
            if total is not None:
                fields["total"] = total
            if detail is not None:
                fields["detail"] = detail
            self._bars().update(task, **fields)

    def step_finished(self, step, line=None, ok=True) -> None:
        started = self.state.step_started_at.pop(step, None)
        with self.state.lock:
            self._drop(f"step:{step}")
            if step == "extract":
                self._tasks.pop("extract", None)
            if line:
                self._write(step_line(step, line, time.monotonic() - started if started else None),
                            None if ok else "bold red")

    def close(self) -> None:
        with self.state.lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
            self._tasks.clear()


@cache
def _columns() -> tuple[type, type]:
    """rich's columns for the amounts, built on first use (rich is imported only when a terminal is there)."""
    from rich.progress import DownloadColumn, ProgressColumn, TransferSpeedColumn
    from rich.text import Text

    class AmountColumn(ProgressColumn):
        """``1.2/4.5 MB`` for a download (``1.2 MB`` with no announced size), ``12/48`` for a step."""

        def __init__(self) -> None:
            super().__init__()
            self._bytes = DownloadColumn()

        def render(self, task) -> Text:
            if task.fields.get("kind") == "bytes":
                if not task.completed and task.total is None:
                    return Text("")
                if task.total is None:
                    return Text(human_size(task.completed), style="progress.download")
                return self._bytes.render(task)
            if task.total is None:
                return Text(f"{int(task.completed)}" if task.completed else "", style="progress.download")
            return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")

    class SpeedColumn(ProgressColumn):
        """The transfer speed, for a download only."""

        def __init__(self) -> None:
            super().__init__()
            self._speed = TransferSpeedColumn()

        def render(self, task) -> Text:
            if task.fields.get("kind") != "bytes" or not task.completed or task.speed is None:
                return Text("")
            return self._speed.render(task)

    return AmountColumn, SpeedColumn


# -- which reporter ---------------------------------------------------------------------------------------

def is_terminal(stream: IO[str] | None, environ: dict[str, str] | None = None) -> bool:
    """A person's terminal: a TTY, and not ``TERM=dumb`` (or ``unknown``)."""
    env = os.environ if environ is None else environ
    if env.get("TERM", "").lower() in ("dumb", "unknown"):
        return False
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, AttributeError):  # a closed or odd stream
        return False


def for_command_line(*, quiet: bool = False, plain: bool = False, environ: dict[str, str] | None = None,
                     stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> PlainReporter:
    """The reporter of ``observatoire run``: live bars only when both its output streams are a terminal (its
    lines go to standard error, the result line to standard output) and neither ``--plain`` nor ``--quiet``
    is given; plain lines otherwise."""
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    if quiet:
        return PlainReporter(stderr, quiet=True)
    if not plain and is_terminal(stderr, environ) and is_terminal(stdout, environ):
        from rich.console import Console

        return RichReporter(Console(file=stderr, highlight=False))
    return PlainReporter(stderr)


# -- dbt --------------------------------------------------------------------------------------------------

def dbt_hook(step: str = "dbt") -> Callable[[Any], None]:
    """The callback :func:`observatoire.dbt_runner.run_dbt` calls with its :class:`~observatoire.dbt_runner.
    DbtProgress` after each node."""

    def hook(p) -> None:
        current().step_progress(step, completed=p.done, total=p.total or None, detail=p.describe())

    return hook
