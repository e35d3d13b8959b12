"""Run dbt on the build warehouse, in a subprocess.

A subprocess rather than dbt's in-process runner: dbt-duckdb keeps its own connection to build.duckdb
for the life of the process (DuckDB refuses a second connection with another configuration in the same
process), a killed dbt leaves nothing behind in the caller, and the same call works from the CLI and from
an Airflow task. dbt's target and logs go under ``meta/dbt/`` of the data directory, never into the repo;
only dbt's parse cache is also kept in ``dbt_project/target/`` (git-ignored) for the next new data directory.

dbt writes its structured log (``--log-format json``) to our pipe: each event is read as it comes, written to
the run's log as dbt's usual text lines (``HH:MM:SS  1 of 118 OK created sql view model …``) and counted in a
:class:`DbtProgress` (nodes and models done), which ``observatoire run`` shows while dbt builds. dbt's own
``dbt.log`` under ``meta/dbt/logs/`` keeps its debug format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from observatoire.config import DBT_PROJECT_DIR, Settings


class DbtError(RuntimeError):
    def __init__(self, message: str, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path


#: dbt's events that close one node (its ``index`` of ``total``): a result, a skip, a no-op
_NODE_DONE = {"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult", "LogFreshnessResult",
              "LogNodeResult", "LogNodeNoOpResult", "LogFunctionResult", "SkippingDetails", "LogSkipBecauseError"}
_KIND_OF_EVENT = {"LogTestResult": "test", "LogSeedResult": "seed", "LogSnapshotResult": "snapshot",
                  "LogFreshnessResult": "source", "LogFunctionResult": "function"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class DbtProgress:
    """Where a dbt command is, from its structured log: nodes done of the run's ``total`` (dbt's node count:
    models, tests, seeds…), models done of the project's ``models_total`` (dbt's « Found 59 models »), the last
    node finished, and what failed."""

    done: int = 0
    total: int = 0
    models_done: int = 0
    models_total: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # nodes done, by resource type
    failed: int = 0
    skipped: int = 0
    last: str | None = None
    _seen: set = field(default_factory=set, repr=False)

    def feed(self, event: dict) -> bool:
        """Take one event of dbt's JSON log; True when the count moved (a node finished, a total learnt)."""
        info, data = event.get("info") or {}, event.get("data") or {}
        name = info.get("name")
        if name == "FoundStats":
            found = re.search(r"(\d+) models?\b", data.get("stat_line") or info.get("msg") or "")
            self.models_total = int(found.group(1)) if found else self.models_total
            return bool(found)
        if name == "ConcurrencyLine" and data.get("node_count") is not None:
            self.total = int(data["node_count"])
            return True
        if name not in _NODE_DONE or data.get("index") is None:
            return False
        node = data.get("node_info") or {}
        key = node.get("unique_id") or (name, data.get("index"))
        if key in self._seen:
            return False
        self._seen.add(key)
        kind = node.get("resource_type") or data.get("resource_type") or _KIND_OF_EVENT.get(name) or "model"
        self.done += 1
        self.total = max(self.total, int(data.get("total") or data.get("num_models") or 0), self.done)
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        if kind == "model":
            self.models_done += 1
            self.models_total = max(self.models_total, self.models_done)
        status = str(data.get("status") or node.get("node_status") or "").lower()
        if status in ("error", "fail", "runtime error") or name == "LogSkipBecauseError":
            self.failed += 1
        elif name == "SkippingDetails" or status == "skipped":
            self.skipped += 1
        self.last = node.get("node_name") or data.get("name") or data.get("node_name") or data.get("relation")
        return True

    def describe(self) -> str:
        """``models 30/59 · stg_insee__pop_qpv``: what the progress bar says beside the node count."""
        parts = []
        if self.models_total:
            parts.append(f"models {self.models_done}/{self.models_total}")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.last:
            parts.append(self.last if len(self.last) <= 40 else self.last[:39] + "…")
        return " · ".join(parts)

    def summary(self) -> str:
        """``118 nodes — 59 models, 50 tests, 9 seeds``"""
        kinds = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in
                          sorted(self.by_kind.items(), key=lambda kv: (kv[0] != "model", -kv[1], kv[0])))
        text = f"{self.done} node{'s' if self.done != 1 else ''}" + (f" — {kinds}" if kinds else "")
        return text + (f", {self.failed} failed" if self.failed else "") + (
            f", {self.skipped} skipped" if self.skipped else "")


def log_line(raw: str) -> tuple[str, dict | None]:
    """One line of dbt's output: the text line for the run's log (dbt's usual ``HH:MM:SS  message``, colours
    removed) and the event it carries (None: a line that is not dbt's JSON, kept as is)."""
    raw = raw.rstrip("\n")
    if not raw.startswith("{"):
        return raw, None
    try:
        event = json.loads(raw)
        info = event["info"]
    except (ValueError, KeyError, TypeError):
        return raw, None
    msg = _ANSI.sub("", str(info.get("msg") or ""))
    try:
        when = datetime.fromisoformat(str(info.get("ts")).replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
    except ValueError:
        when = "        "
    return f"{when}  {msg}", event


@dataclass
class DbtResult:
    command: list[str]
    returncode: int
    log_path: Path
    results: list[dict]
    progress: DbtProgress = field(default_factory=DbtProgress)


# Linux: dbt is started through this launcher, which has the kernel kill dbt when the pipeline process dies
# (even on SIGKILL; PR_SET_PDEATHSIG survives exec) and then becomes dbt, so an interrupted run never leaves a
# dbt process holding the build warehouse's lock. (Not a ``preexec_fn``: that runs Python between fork and
# exec, which is unsafe while another thread runs, and the run renders its Data Docs on one while dbt builds.)
_LAUNCHER = """
import os, signal, sys
try:
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("the pipeline process that started dbt is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


def _launch(cmd: list[str]) -> list[str]:
    if not sys.platform.startswith("linux"):
        return cmd
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *cmd]


def dbt_executable() -> str:
    local = Path(sys.executable).parent / "dbt"
    if local.exists():
        return str(local)
    found = shutil.which("dbt")
    if not found:
        raise DbtError("dbt is not installed in this environment (expected next to the Python interpreter)")
    return found


def dbt_env(settings: Settings) -> dict[str, str]:
    """dbt's environment. The build warehouse is named relative to dbt's working directory (its directory,
    see :func:`run_dbt`): the profile, which dbt hashes to decide whether its parse cache is still valid,
    is then the same for every data directory."""
    env = dict(os.environ)
    env.update(
        OBSERVATOIRE_BUILD_DB=settings.build_db.name,
        DBT_PROFILES_DIR=str(DBT_PROJECT_DIR),
        DBT_TARGET_PATH=str(settings.meta_dir / "dbt" / "target"),
        DBT_LOG_PATH=str(settings.meta_dir / "dbt" / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        DO_NOT_TRACK="1",
    )
    return env


def run_dbt(settings: Settings, args: list[str], *, log_path: Path, vars: dict | None = None,
            on_progress: Callable[[DbtProgress], None] | None = None) -> DbtResult:
    """Run ``dbt <args>`` on the project; raises :class:`DbtError` with the failing nodes on failure.
    ``on_progress`` is called with the :class:`DbtProgress` each time a node finishes (on this thread)."""
    # structured events on our pipe (read as they come); dbt's own dbt.log keeps its debug format
    cmd = [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--log-format", "json",
           "--log-format-file", "debug"]
    if vars:
        cmd += ["--vars", json.dumps(vars, sort_keys=True)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    target = settings.meta_dir / "dbt" / "target"
    (target / "run_results.json").unlink(missing_ok=True)
    shared = shared_parse_cache(vars)
    _seed_parse_cache(target, shared)
    settings.build_db.parent.mkdir(parents=True, exist_ok=True)
    progress = DbtProgress()
    with open(log_path, "w", encoding="utf-8") as log:
        returncode = _stream(_launch(cmd), settings, log, progress, on_progress)
    _save_parse_cache(target, shared)
    results = _read_results(settings)
    if returncode != 0:
        failing = [r for r in results if r.get("status") in ("error", "fail", "runtime error")]
        lines = [f"dbt {' '.join(args)} failed (exit {returncode}); log: {log_path}"]
        for r in failing[:15]:
            msg = (r.get("message") or "").strip().splitlines()
            lines.append(f"  - {r.get('unique_id')}: {r.get('status')}: {msg[0] if msg else ''}")
            if r.get("status") == "fail":  # a data test: the rows it found
                lines += [f"      {row}" for row in failing_rows(settings, r.get("compiled_code"))]
        if not failing:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
            lines += ["  " + t for t in tail]
        raise DbtError("\n".join(lines), log_path)
    return DbtResult(command=cmd, returncode=returncode, log_path=log_path, results=results, progress=progress)


def _stream(cmd: list[str], settings: Settings, log, progress: DbtProgress,
            on_progress: Callable[[DbtProgress], None] | None) -> int:
    """Run dbt, each line of its output written to ``log`` as text and counted as it comes; its exit status.
    Interrupted (Ctrl-C, an error here), dbt is killed before this returns."""
    proc = subprocess.Popen(cmd, cwd=settings.build_db.parent, env=dbt_env(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace", bufsize=1)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            text, event = log_line(raw)
            log.write(text + "\n")
            if event is not None and progress.feed(event) and on_progress is not None:
                on_progress(progress)
        log.flush()
        return proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


# dbt's parse cache, shared by the data directories of this checkout (git-ignored, like dbt's own target/),
# one per set of --vars (dbt parses again in full when the vars change: the perimeter is one)
SHARED_PARSE_CACHE = DBT_PROJECT_DIR / "target" / "parse_cache"
PARSE_CACHE = "partial_parse.msgpack"


def shared_parse_cache(vars: dict | None) -> Path:
    key = hashlib.sha256(json.dumps(vars or {}, sort_keys=True).encode()).hexdigest()[:16]
    return SHARED_PARSE_CACHE / f"{key}.msgpack"


def _seed_parse_cache(target: Path, shared: Path) -> None:
    """A new data directory starts from the checkout's last parse of the project instead of a full parse
    (~5 s). dbt checks the cache itself (its version, the project's files, the profile, the vars) and parses
    again whatever changed, so a stale copy costs a full parse, never a wrong manifest."""
    if (target / PARSE_CACHE).exists() or not shared.exists():
        return
    try:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared, target / PARSE_CACHE)
    except OSError:  # best effort: a read-only checkout only loses the cache
        pass


def _save_parse_cache(target: Path, shared: Path) -> None:
    """Keep this run's parse for the next new data directory (atomic: runs of other data directories may
    read it at the same time)."""
    produced = target / PARSE_CACHE
    if not produced.exists():
        return
    try:
        shared.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=shared.parent, prefix=f".{shared.name}.", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(produced, tmp)
            os.replace(tmp, shared)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:
        pass


def _read_results(settings: Settings) -> list[dict]:
    path = settings.meta_dir / "dbt" / "target" / "run_results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        {"unique_id": r.get("unique_id"), "status": r.get("status"), "message": r.get("message"),
         "failures": r.get("failures"), "execution_time": r.get("execution_time"),
         "compiled_code": r.get("compiled_code")}
        for r in data.get("results", [])
    ]


def failing_rows(settings: Settings, compiled_sql: str | None, limit: int = 5) -> list[str]:
    """The first rows a failed dbt data test found (its compiled query run again on the build warehouse,
    read-only, dbt having exited), one ``column=value, …`` line each."""
    if not compiled_sql or not settings.build_db.exists():
        return []
    import duckdb

    query = compiled_sql.strip().rstrip(";")
    try:
        con = duckdb.connect(str(settings.build_db), read_only=True)
        try:
            cur = con.execute(f"SELECT * FROM (\n{query}\n) AS failing LIMIT {int(limit)}")
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
        finally:
            con.close()
    except duckdb.Error as err:
        return [f"(the failing rows could not be read again: {str(err).splitlines()[0]})"]
    return [_clip(", ".join(f"{c}={_clip(repr(v), 80)}" for c, v in zip(columns, row, strict=True)), 400)
            for row in rows]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def generate_docs(settings: Settings) -> Path:
    """dbt's documentation of the project (models and columns described in French, lineage, the columns of
    the last build) as one HTML file read from disk; under the writer lock (dbt opens the build warehouse)."""
    from observatoire.locking import writer_lock

    if not settings.build_db.exists():
        raise DbtError(f"no build warehouse in {settings.data_dir}: run `observatoire run` (or make demo) first")
    with writer_lock(settings.lock_path, "observatoire docs --dbt"):
        logs = settings.meta_dir / "dbt" / "logs"
        run_dbt(settings, ["docs", "generate", "--static"], log_path=logs / "docs_generate.log",
                vars={"perimetre": settings.perimetre})
    return settings.meta_dir / "dbt" / "target" / "static_index.html"
