"""Demo and live never mix: the mode of the data a data directory holds, and the refusal of a run of the other mode.

A data directory holds either **demo** data (the project's recordings: real formats, synthetic values) or
**live** data (the publishers' files), never both: a live publication built on a directory where ``make demo``
ran would publish synthetic values as real ones. So:

* the directory records its mode in ``meta/mode.json`` (the mode, when and by what it was recorded). The first
  run on a directory writes it, at its start (atomically: of two runs starting together, one records its mode
  and the other is checked against it), before it lands anything. The file is authoritative;
* a directory made before that file existed is judged by its run history: demo runs, or files landed from the
  recordings (``url_origin = 'recording'``), make it a demo directory; otherwise live runs make it a live one.
  The next run allowed on it records that mode in ``meta/mode.json``;
* a run of the other mode stops before touching anything (:class:`DataModeError`, a usage error: exit 2), naming
  the directory, what it holds and the ways out. Nothing is recorded, nothing is written or deleted.

``OBSERVATOIRE_URL_<ID>`` does not change a run's mode: in demo mode it tries one real file against the
recordings, and the run, its landings (origin ``override``) and the directory stay demo.

Called by :func:`observatoire.run.steps.start` (the CLI and Airflow).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from observatoire.config import DEMO_DATA_DIR, DEMO_NOTICE, LIVE_DATA_DIR, MODES, Settings
from observatoire.errors import RunRequestError
from observatoire.history import now_iso

MODE_FILE = "mode.json"

_HELD = {"demo": "demo data (the project's recordings: synthetic values)",
         "live": "live data (the publishers' files)"}


class DataModeError(RunRequestError):
    """A run of one mode on a data directory holding the other mode's data, or an unreadable ``meta/mode.json``:
    refused before the run starts (nothing recorded, nothing touched)."""


@dataclass(frozen=True)
class DirectoryMode:
    """What a data directory holds: ``mode`` demo, live, or None (nothing yet); ``basis`` file (``meta/mode.json``),
    history (a directory from before that file) or empty; ``detail`` says where it comes from, for messages."""

    mode: str | None
    basis: str
    detail: str
    record: dict | None = None


def mode_file(settings: Settings) -> Path:
    return settings.meta_dir / MODE_FILE


def read_mode_file(settings: Settings) -> dict | None:
    """The content of ``meta/mode.json``, or None when there is none; DataModeError when it is unreadable."""
    path = mode_file(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise DataModeError(f"cannot read {path}: {err}") from None
    try:
        doc = json.loads(text)
    except ValueError as err:
        doc = {"_error": str(err)}
    if not isinstance(doc, dict) or doc.get("mode") not in MODES:
        raise DataModeError(
            f"{path} does not say which mode of data the directory {settings.data_dir} holds: expected a JSON "
            f"object with \"mode\": one of {', '.join(MODES)}, got {text[:200]!r}. Restore it (\"mode\": \"demo\" "
            "for the project's recordings, \"live\" for the publishers' files), or remove it: the mode is then "
            "judged from the run history")
    return doc


def _history_counts(db: Path) -> dict:
    """Runs by mode, files landed from the recordings, files still on disk, publications: from the run history
    (an absent history, or one from before a table existed, counts as empty). Only read, through an ordinary
    connection: as the last one to close, it removes the WAL files a read-only connection would leave behind."""
    out = {"runs": {}, "recordings": 0, "landed": 0, "published": 0}
    if not db.is_file():
        return out
    con = sqlite3.connect(db, timeout=60)
    try:
        try:
            out["runs"] = dict(con.execute("SELECT mode, count(*) FROM runs GROUP BY mode").fetchall())
            out["published"] = con.execute("SELECT count(*) FROM runs WHERE published = 1").fetchone()[0]
        except sqlite3.OperationalError:
            pass
        try:
            out["recordings"] = con.execute(
                "SELECT count(*) FROM manifest WHERE url_origin = 'recording'").fetchone()[0]
            out["landed"] = con.execute("SELECT count(*) FROM manifest WHERE status <> 'purged'").fetchone()[0]
        except sqlite3.OperationalError:
            pass
    finally:
        con.close()
    return out


def _contents(counts: dict) -> str:
    published = f"{counts['published']} publication(s)" if counts["published"] else "nothing published"
    return f"{counts['landed']} landed source file(s), {published}"


def directory_mode(settings: Settings) -> DirectoryMode:
    """The mode of the data ``settings.data_dir`` holds: ``meta/mode.json`` if present, else its run history."""
    record = read_mode_file(settings)
    counts = _history_counts(settings.history_db)
    if record is not None:
        by = record.get("recorded_by") or "?"
        when = record.get("recorded_at") or "?"
        return DirectoryMode(record["mode"], "file",
                             f"recorded in {mode_file(settings)} on {when} by {by}; it holds {_contents(counts)}",
                             record)
    demo_runs = counts["runs"].get("demo", 0)
    live_runs = counts["runs"].get("live", 0)
    if demo_runs or counts["recordings"]:
        return DirectoryMode("demo", "history", (
            f"its run history {settings.history_db} holds {demo_runs} demo run(s) and {counts['recordings']} file(s) "
            f"landed from the recordings (a directory from before {MODE_FILE} is judged by its history); it holds "
            f"{_contents(counts)}"))
    if live_runs:
        return DirectoryMode("live", "history", (
            f"its run history {settings.history_db} holds {live_runs} live run(s) (a directory from before "
            f"{MODE_FILE} is judged by its history); it holds {_contents(counts)}"))
    return DirectoryMode(None, "empty", "nothing has run on it yet")


def _way_out(settings: Settings, held: str) -> str:
    d = settings.data_dir
    wanted = settings.mode
    conventional = DEMO_DATA_DIR if wanted == "demo" else LIVE_DATA_DIR
    lines = [
        f"  - run {wanted} on its own data directory: OBSERVATOIRE_DATA_DIR={conventional} (the convention: "
        f"{LIVE_DATA_DIR} for live data, {DEMO_DATA_DIR} for demo data; `make demo` uses {DEMO_DATA_DIR});",
        f"  - or run this directory in the mode of its data: OBSERVATOIRE_MODE={held};",
        f"  - or start clean: move {d} elsewhere, or remove it, yourself (nothing is ever deleted for you), then "
        "run again",
    ]
    if held == "demo" and d.name == "data" and not (d.parent / "data-demo").exists():
        lines[-1] += (f"; `mv {d} {d.parent / 'data-demo'}` keeps this demo data as `make demo`'s directory (a data "
                      "directory can be moved)")
    return "\n".join(lines)


def refusal_message(settings: Settings, current: DirectoryMode) -> str:
    return (
        f"OBSERVATOIRE_MODE={settings.mode}, but the data directory {settings.data_dir} holds {_HELD[current.mode]}: "
        f"{current.detail}.\n"
        "Demo and live data never share a data directory (a live publication must never contain the recordings' "
        f"synthetic values). Nothing was changed and no run was started. Either:\n{_way_out(settings, current.mode)}")


def record_mode(settings: Settings, *, basis: str, trigger: str = "cli", run_id: str | None = None) -> bool:
    """Write ``meta/mode.json`` with the run's mode, unless it exists (exclusive create: the file appears whole or
    not at all). Returns False when another process wrote it first."""
    path = mode_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "mode": settings.mode,
        "donnees": DEMO_NOTICE if settings.mode == "demo" else "données des éditeurs",
        "recorded_at": now_iso(),
        "recorded_by": f"observatoire run ({trigger}), pid {os.getpid()} on {socket.gethostname()}",
        "run_id": run_id,
        "basis": basis,
        "note": "Demo and live data never share a data directory: a run of the other mode is refused. "
                "See README.md, « Demo and live data directories ».",
    }
    tmp = path.with_name(f".{MODE_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def check_data_mode(settings: Settings, *, trigger: str = "cli", run_id: str | None = None) -> DirectoryMode:
    """Refuse a run whose mode is not the mode of the data in ``settings.data_dir`` (:class:`DataModeError`,
    before anything is written). Otherwise record the mode in ``meta/mode.json`` if the directory has none yet
    (a first run, or a directory from before that file)."""
    for _ in range(2):
        current = directory_mode(settings)
        if current.mode is not None and current.mode != settings.mode:
            raise DataModeError(refusal_message(settings, current))
        if current.basis == "file":
            return current
        basis = ("first run on this data directory" if current.basis == "empty" else
                 f"judged from the run history of a directory made before {MODE_FILE}")
        if record_mode(settings, basis=basis, trigger=trigger, run_id=run_id):
            return directory_mode(settings)
        # another run recorded its mode meanwhile: check against it
    return directory_mode(settings)
