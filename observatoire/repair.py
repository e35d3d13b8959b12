"""A lost or emptied run history: seen by ``observatoire status`` and every run, rebuilt by ``observatoire repair``.

The run history (``meta/history.sqlite``) is authoritative for what is loaded: the warehouse is built from the
accepted landings of its manifest and the current partner files of ``partenaires_fichiers``. Deleted, or replaced
by an empty database, while the landed files (``raw/<source>/<millésime>/<sha256>.<ext>``) and the partner files
(``partenaires/fichiers/``, ``partenaires/valeurs/``) are still on disk, it would make the next run publish without
them (every partner value « attendu ») while ``status`` looked normal. So:

* :func:`lost_history` tells a lost history: missing, not a readable SQLite database, or holding no run while the
  files on disk are not in it (no manifest row while files are landed, or no partner file while partner files
  are kept), or holding only a repair that stopped before the end. A history where a run was recorded is not
  lost (a first run killed during its first parse leaves a landed file and a run);
* :func:`check_history` refuses a run on it (:class:`HistoryLostError`, a usage error: exit 2, nothing recorded,
  nothing published), naming ``observatoire repair``; ``observatoire status`` says it first;
* :func:`repair` rebuilds the history from disk, under the writer lock:

  - **source files**: when the published file is intact, its copy of the history (``meta.manifest``) gives each
    landed file's row as it was: URL (redacted), origin, status (accepted, quarantined, set aside, purged),
    validation, when it was fetched and last seen. Each file it lists is checked against its sha256 (a file missing
    or altered on disk is left out, with both hashes). Files it does not list (landed after the last publication,
    or every file when the published file is missing or damaged) are rebuilt from the disk: source and millésime
    from the path, sha256 from the name (verified against the bytes), the URL unknown
    (:data:`UNKNOWN_URL`, origin ``repair``), parsed again if needed, and **validated again by the raw gate**: accepted
    or quarantined as a run would. Of several accepted files of one source and millésime, the one loaded is the one
    seen last: for a rebuilt file, its modification time on disk;
  - **partner files**: the published copy's rows (``meta.partenaires_fichiers``: the name each file was sent under,
    when it was received, current or replaced) for the originals still on disk with their sha256; every other
    original of ``partenaires/fichiers/`` is validated again (indicator, millésime, partner, values) and, per
    indicator and millésime, the most recently received (the file's modification time) is current, the others
    replaced. Values kept without their original are left out (they cannot be validated again);
  - the data directory's mode stays what ``meta/mode.json`` says; without that file, the published file's mode, or
    ``--mode``; a mode other than ``OBSERVATOIRE_MODE`` is refused, as a run would be;
  - an unreadable history is moved aside (``history.sqlite.damaged-<date>``) and a new one written; files imported
    or landed since the loss keep their rows;
  - past runs, their reports and the HTTP validators are not rebuilt (the next fetch of each source is a full
    download, found unchanged by its sha256). The repair is recorded as a run (trigger ``repair``, status
    ``repaired``) with one step per part and per file left out.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from observatoire.config import MODES, Settings
from observatoire.errors import RunRequestError

#: the URL of a source file rebuilt from the disk: it is not kept anywhere but in the history
UNKNOWN_URL = "unknown (rebuilt by observatoire repair)"
#: ``url_origin`` of a manifest row rebuilt from the disk
REPAIR_ORIGIN = "repair"
#: ``trigger`` of the run that records a repair
REPAIR_TRIGGER = "repair"
#: a landed source file, ``<sha256>.<ext>`` (its parsed cache and derived tables have a second suffix)
LANDED_NAME = re.compile(r"^([0-9a-f]{64})\.([a-z0-9]+)$")
#: an original partner file, ``<sha256>.<ext>``, and its values, ``<sha256>.parquet``
PARTNER_NAME = re.compile(r"^([0-9a-f]{64})\.([a-z0-9]+)$")
COMMAND = "observatoire repair"
RUNBOOK = "docs/runbook.md, « Lost or damaged history »"


class HistoryLostError(RunRequestError):
    """A run on a lost history: refused before it starts (nothing recorded, nothing published)."""


class RepairError(RunRequestError):
    """``observatoire repair`` cannot go on as asked (the data's mode unknown or contradicted): exit 2, the history
    untouched."""


# -- what is on disk ----------------------------------------------------------------------------------

def landed_files(settings: Settings) -> dict[tuple[str, int, str], Path]:
    """Every landed source file on disk, by (source, millésime, sha256 its name gives)."""
    out: dict[tuple[str, int, str], Path] = {}
    raw = settings.raw_dir
    if not raw.is_dir():
        return out
    for source in sorted(p for p in raw.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for year in sorted(p for p in source.iterdir() if p.is_dir() and p.name.isdigit()):
            for path in sorted(year.iterdir()):
                m = LANDED_NAME.match(path.name)
                if m and path.is_file():
                    out[(source.name, int(year.name), m.group(1))] = path
    return out


def partner_files_on_disk(settings: Settings) -> tuple[dict[str, Path], dict[str, Path]]:
    """The partner originals (``partenaires/fichiers/<sha256>.<ext>``) and values
    (``partenaires/valeurs/<sha256>.parquet``) on disk, by sha256."""
    from observatoire.partenaires.store import files_dir, values_dir

    found: list[dict[str, Path]] = []
    for folder in (files_dir(settings), values_dir(settings)):
        items: dict[str, Path] = {}
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                m = PARTNER_NAME.match(path.name)
                if m and path.is_file():
                    items[m.group(1)] = path
        found.append(items)
    return found[0], found[1]


# -- a lost history ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryLoss:
    """Why the history at ``db`` is lost: ``state`` missing, unreadable, empty (no run, files it does not know) or
    unfinished (only a repair that stopped before the end); ``detail`` what it holds."""

    state: str
    db: Path
    data_dir: Path
    detail: str
    landed: int
    partner_files: int

    @property
    def message(self) -> str:
        held = []
        if self.landed:
            held.append(f"{self.landed} landed source file(s) under raw/")
        if self.partner_files:
            held.append(f"{self.partner_files} partner file(s) under partenaires/")
        if held:
            partners = " (every partner value « attendu »)" if self.partner_files else ""
            what = (f", but the data directory {self.data_dir} holds {' and '.join(held)}. The history says what is "
                    f"loaded: a run now would publish without these files{partners}, so `observatoire run` refuses to "
                    "start. Rebuild the history from the files on disk")
        else:
            what = ": `observatoire run` cannot use it and refuses to start. Set it aside and start a new one"
        return f"RUN HISTORY LOST: {self.db} {self.detail}{what}: `{COMMAND}` (see {RUNBOOK})."


def _history_counts(db: Path) -> dict[str, int]:
    """Runs (a repair that did not finish does not count), manifest rows and partner files in the history; a table
    that does not exist counts as empty. Only read, through an ordinary connection (see
    :func:`observatoire.datamode._history_counts`). Raises :class:`sqlite3.DatabaseError` for a file that is not a
    readable SQLite database."""
    queries = {
        "runs": f"SELECT count(*) FROM runs WHERE NOT (trigger = '{REPAIR_TRIGGER}' AND status <> 'repaired')",
        "unfinished": f"SELECT count(*) FROM runs WHERE trigger = '{REPAIR_TRIGGER}' AND status <> 'repaired'",
        "repairing": f"SELECT count(*) FROM runs WHERE trigger = '{REPAIR_TRIGGER}' AND status = 'running'",
        "manifest": "SELECT count(*) FROM manifest",
        "partners": "SELECT count(*) FROM partenaires_fichiers",
    }
    out = {}
    con = sqlite3.connect(db, timeout=60)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()  # not a database: DatabaseError here
        for key, sql in queries.items():
            try:
                out[key] = con.execute(sql).fetchone()[0]
            except sqlite3.OperationalError as err:
                if "no such table" not in str(err) and "no such column" not in str(err):
                    raise
                out[key] = 0
    finally:
        con.close()
    return out


def lost_history(settings: Settings) -> HistoryLoss | None:
    """The data directory's history, if it is lost (see the module's text); None when it is usable."""
    db = settings.history_db
    landed = landed_files(settings)
    originals, values = partner_files_on_disk(settings)
    partners = len(set(originals) | set(values))

    def loss(state: str, detail: str) -> HistoryLoss:
        return HistoryLoss(state, db, settings.data_dir, detail, len(landed), partners)

    if not db.is_file():
        return loss("missing", "does not exist") if landed or partners else None
    try:
        counts = _history_counts(db)
    except sqlite3.OperationalError:
        raise  # busy, or an I/O error: not a verdict on the history
    except sqlite3.DatabaseError as err:
        return loss("unreadable", f"is not a readable SQLite database ({err})")
    if counts["runs"]:
        return None
    if counts["unfinished"]:  # what it rebuilt may be partial: still lost until a repair ends
        from observatoire.locking import lock_is_free

        if counts["repairing"] and not lock_is_free(settings.lock_path):
            return loss("unfinished", f"is being rebuilt by `{COMMAND}` right now (it holds the writer lock): wait "
                                      "for it to end")
        return loss("unfinished", f"holds only an `{COMMAND}` that stopped before the end (see `observatoire "
                                  "status`): what it rebuilt may be partial")
    unknown = []
    if landed and not counts["manifest"]:
        unknown.append("no landed file")
    if partners and not counts["partners"]:
        unknown.append("no partner file")
    if not unknown:
        return None
    said = ["no run", *unknown]
    return loss("empty", f"records {', '.join(said[:-1])} and {said[-1]}")


def check_history(settings: Settings) -> None:
    """Refuse a run on a lost history (:class:`HistoryLostError`, before anything is written or recorded)."""
    lost = lost_history(settings)
    if lost is not None:
        raise HistoryLostError(lost.message + " Nothing was run.")


# -- repair --------------------------------------------------------------------------------------------

@dataclass
class RepairReport:
    status: str  # repaired | intact
    message: str
    run_id: str | None = None
    mode: str | None = None
    mode_basis: str | None = None
    published_copy: str | None = None  # the publication the rows were rebuilt from, or why none was used
    landings: dict[str, Counter] = field(default_factory=dict)  # source → status → files
    from_copy: int = 0
    from_disk: int = 0
    partner_files: list[dict] = field(default_factory=list)
    left_out: list[dict] = field(default_factory=list)  # {"path", "reason"}
    set_aside: list[str] = field(default_factory=list)  # an unreadable history moved aside

    def lines(self) -> list[str]:
        if self.status == "intact":
            return [self.message]
        out = [self.message, f"mode: {self.mode} (from {self.mode_basis})", f"published copy: {self.published_copy}"]
        out += [f"unreadable history moved aside: {p}" for p in self.set_aside]
        total = sum(sum(c.values()) for c in self.landings.values())
        out.append(f"source files: {total} rebuilt ({self.from_copy} from the published copy, {self.from_disk} from "
                   "the disk: validated again by the raw gate)")
        for source_id, counts in sorted(self.landings.items()):
            out.append(f"  {source_id:<28} " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        out.append(f"partner files: {len(self.partner_files)} rebuilt")
        for r in self.partner_files:
            out.append(f"  {r['indicateur']} {r['millesime']}: {r['status']} — « {r['nom_fichier']} » from "
                       f"{r['partenaire']}, {r['rows']} QPV, sha256 {r['sha256'][:16]}…")
        if self.left_out:
            out.append(f"LEFT OUT ({len(self.left_out)}):")
            out += [f"  - {x['path']}: {x['reason']}" for x in self.left_out]
        out.append("not rebuilt: past runs and their reports; the HTTP validators (the next fetch of each source is a "
                   f"full download); the URL of files the published copy does not list (« {UNKNOWN_URL} »)")
        out.append("next: `observatoire run` publishes from the rebuilt history")
        return out


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _published_copy(settings: Settings) -> tuple[dict | None, str]:
    """The history copied into the published file (``meta`` schema) when that file is intact: its manifest,
    partner files, runs and publication; or None and why it is not used."""
    import duckdb

    from observatoire.warehouse import published_state

    state, why = published_state(settings)
    if state != "ok":
        return None, f"not used: {why}"
    con = duckdb.connect(str(settings.published_db), read_only=True)
    try:
        def rows(table: str, needed: str) -> list[dict]:
            try:
                cur = con.execute(f"SELECT * FROM meta.{table} ORDER BY rowid")
            except duckdb.Error:
                return []
            columns = [d[0] for d in cur.description]
            found = cur.fetchall()
            return [dict(zip(columns, r, strict=True)) for r in found] if needed in columns else []

        pub = rows("publication", "version")
        copy = {"manifest": rows("manifest", "sha256"), "partenaires_fichiers": rows("partenaires_fichiers", "sha256"),
                "runs": rows("runs", "run_id"), "publication": pub[0] if pub else {}}
    finally:
        con.close()
    return copy, f"{settings.published_db}, version {copy['publication'].get('version')}"


def _data_mode(settings: Settings, asked: str | None, copy: dict | None) -> tuple[str, str, bool]:
    """The mode of the data the directory holds, where it comes from, and whether ``meta/mode.json`` is there."""
    from observatoire.datamode import DataModeError, mode_file, read_mode_file

    try:
        record = read_mode_file(settings)
    except DataModeError as err:
        raise RepairError(str(err)) from None
    published = (copy or {}).get("publication", {}).get("mode")
    if record is not None:
        known, basis = record["mode"], str(mode_file(settings))
        if published and published != known:
            raise RepairError(f"{mode_file(settings)} says {known} data, but the published file "
                              f"{settings.published_db} holds a {published} publication: the data directory mixes "
                              "demo and live data; move it aside and start a clean one (see README.md, « Demo and "
                              "live data directories »)")
    elif published in MODES:
        known, basis = published, f"the published file {settings.published_db} (meta.publication.mode)"
    elif asked:
        known, basis = asked, f"--mode {asked}"
    else:
        raise RepairError(
            f"cannot tell whether {settings.data_dir} holds demo or live data: {mode_file(settings)} is missing and "
            "there is no intact published file to read its mode from. Say it: `observatoire repair --mode demo` "
            "(the project's recordings) or `observatoire repair --mode live` (the publishers' files). Nothing was "
            "rebuilt")
    if asked and asked != known:
        raise RepairError(f"--mode {asked}, but the data directory {settings.data_dir} holds {known} data "
                          f"(according to {basis}); nothing was rebuilt")
    if settings.mode != known:
        raise RepairError(
            f"OBSERVATOIRE_MODE={settings.mode}, but the data directory {settings.data_dir} holds {known} data "
            f"(according to {basis}): demo and live data never share a data directory. Repair it in its mode: "
            f"`OBSERVATOIRE_MODE={known} observatoire repair`. Nothing was rebuilt")
    return known, basis, record is not None


def _set_aside_history(settings: Settings) -> list[str]:
    """Move an unreadable history (and its WAL files) aside, under a dated name, so a new one can be written."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(settings.history_db) + suffix)
        if path.exists():
            dest = path.with_name(f"{path.name}.damaged-{stamp}")
            path.rename(dest)
            moved.append(str(dest))
    return moved


def repair(settings: Settings, *, mode: str | None = None) -> RepairReport:
    """Rebuild a lost history from the published copy and the files on disk (see the module's text), under the
    writer lock. A usable history is left as it is (``status`` intact). Raises :class:`RepairError` (history
    untouched) when the data's mode is unknown or not the settings' mode."""
    from observatoire.locking import writer_lock

    settings.ensure_dirs()
    with writer_lock(settings.lock_path, COMMAND):
        lost = lost_history(settings)
        if lost is None:
            return RepairReport("intact", _intact_message(settings))
        copy, copy_why = _published_copy(settings)
        known, basis, has_mode_file = _data_mode(settings, mode, copy)
        report = RepairReport("repaired", "", mode=known, mode_basis=basis, published_copy=copy_why)
        if lost.state in ("unreadable", "missing"):  # and a WAL left by a deleted database: never replayed
            report.set_aside = _set_aside_history(settings)
        if not has_mode_file:
            from observatoire.datamode import record_mode

            record_mode(settings, basis=f"{COMMAND} rebuilt the run history; mode from {basis}",
                        trigger=REPAIR_TRIGGER)
        return _rebuild(settings, report, copy, lost)


def _intact_message(settings: Settings) -> str:
    from observatoire.history import History

    h = History(settings.history_db) if settings.history_db.is_file() else None
    if h is None:
        return (f"nothing to repair: {settings.data_dir} holds no landed file and no partner file, and no run "
                "history (a first `observatoire run` starts one)")
    counts = h.query("SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM manifest WHERE status <> "
                     "'purged') AS landed, (SELECT count(*) FROM partenaires_fichiers) AS partners")[0]
    return (f"nothing to repair: the run history {settings.history_db} is in use ({counts['runs']} run(s), "
            f"{counts['landed']} landed file(s), {counts['partners']} partner file(s) recorded); it was left as it is")


def _rebuild(settings: Settings, report: RepairReport, copy: dict | None, lost: HistoryLoss) -> RepairReport:
    from extract.registry import load_registry
    from observatoire.history import History
    from observatoire.run.context import Context

    history = History(settings.history_db)
    history.abandon_stale_runs()  # an earlier repair that did not finish (we hold the writer lock)
    ctx = Context(settings=settings, history=history, registry=load_registry())
    run_id = history.start_run(mode=report.mode, perimetre=settings.perimetre, trigger=REPAIR_TRIGGER,
                               params={"command": COMMAND, "history": lost.state, "mode": report.mode,
                                       "published_copy": report.published_copy})
    report.run_id = run_id
    try:
        _rebuild_landings(ctx, run_id, copy, report)
        history.step(run_id, "repair", "manifest", "done",
                     f"{report.from_copy} file(s) from the published copy, {report.from_disk} from the disk")
        _rebuild_partner_files(ctx, copy, report)
        history.step(run_id, "repair", "partenaires", "done", f"{len(report.partner_files)} partner file(s)")
        for x in report.left_out:
            history.step(run_id, "repair", x["path"], "left_out", x["reason"])
        report.message = (f"run history rebuilt: {settings.history_db} (run {run_id}, "
                          f"{lost.state} before)")
        history.finish_run(run_id, "repaired", summary={
            "repair": {"landings": {s: dict(c) for s, c in report.landings.items()}, "from_copy": report.from_copy,
                       "from_disk": report.from_disk, "partner_files": len(report.partner_files),
                       "left_out": report.left_out, "mode": report.mode, "published_copy": report.published_copy}})
    except BaseException as err:
        history.finish_run(run_id, "failed", error=f"{COMMAND} stopped: {err.__class__.__name__}: {err}")
        raise
    return report


def _rebuild_landings(ctx, run_id: str, copy: dict | None, report: RepairReport) -> None:
    from expectations.runner import build_docs, discard_pending
    from extract.errors import ExtractError
    from extract.http import MASK
    from extract.landing import file_sha256, parsed_path_for
    from extract.parsers import code_fingerprint
    from observatoire.history import url_key
    from observatoire.perimetre import CONTOURS_SOURCE
    from observatoire.run.extraction import _parse_to_parquet
    from observatoire.run.raw_validation import gx_root, validate_landings

    settings, history = ctx.settings, ctx.history
    data = settings.data_dir
    on_disk = landed_files(settings)
    code = code_fingerprint()
    perimeter_of = {r["run_id"]: r.get("perimetre") for r in (copy or {}).get("runs", [])}
    seen_at: dict[tuple, str] = {}  # the last_seen_at each rebuilt row must end with
    rebuilt: list[tuple] = []

    def leave_out(path: str, reason: str) -> None:
        report.left_out.append({"path": path, "reason": reason})

    def current_cache(raw: Path) -> Path | None:
        parsed = parsed_path_for(raw, code)
        return parsed if parsed.exists() else None

    listed = set()
    for row in (copy or {}).get("manifest", []):
        key = (row["source_id"], int(row["millesime"]), row["sha256"])
        listed.add(key)
        row = {**row, "millesime": key[1]}
        if row["status"] != "purged":  # a purged row's file is gone: the row stays as history
            raw = data / row["raw_path"]
            if not raw.is_file():
                leave_out(row["raw_path"], f"listed in the published copy ({row['status']}) but missing on disk; the "
                                           "next run fetches it again")
                continue
            found = file_sha256(raw)
            if found != row["sha256"]:
                leave_out(row["raw_path"], f"altered on disk: named by sha256 {row['sha256']}, its bytes hash to "
                                           f"{found}; the next run fetches it again")
                continue
            cache = current_cache(raw)
            if cache is not None:
                row["parsed_path"] = str(cache.relative_to(data))
        url = row.get("url") or UNKNOWN_URL
        # the run a row was last seen by is not rebuilt: this one stands for it when it had this perimeter (the
        # gate compares a source whose request depends on the perimeter with loads of the same perimeter only)
        if perimeter_of.get(row.get("last_run_id")) == settings.perimetre:
            row["last_run_id"] = run_id
        row.update(url=url, url_key=None if MASK in url else url_key(url))
        history.restore_landing(row)  # False: restored by a repair that stopped before the end
        seen_at[key] = row["last_seen_at"]
        rebuilt.append(key)
        report.from_copy += 1

    # files the published copy does not list: rebuilt from the disk, validated again by the raw gate, oldest first
    pending: list[dict] = []
    for key, raw in sorted(on_disk.items(), key=lambda kv: (kv[1].stat().st_mtime, kv[0])):
        if key in listed:
            continue
        source_id, millesime, sha = key
        existing = history.find_landing(*key)
        if existing and existing["url_origin"] == REPAIR_ORIGIN:  # rebuilt by a repair that stopped before the end
            seen_at[key] = _iso(raw.stat().st_mtime)
            rebuilt.append(key)
            report.from_disk += 1
            if existing["status"] == "landed" and existing.get("parsed_path"):  # not gated yet: gated now
                pending.append({"source_id": source_id, "millesime": millesime, "sha256": sha, "url": UNKNOWN_URL,
                                "parsed_path": str(data / existing["parsed_path"]), "rows": existing["rows_parsed"]})
            continue
        if existing:  # in the history already (imported since the loss): kept as it is
            continue
        rel = str(raw.relative_to(data))
        found = file_sha256(raw)
        if found != sha:
            leave_out(rel, f"altered on disk: named by sha256 {sha}, its bytes hash to {found}; the next run fetches "
                           "it again")
            continue
        src = ctx.registry.get(source_id)
        if src is None or not src.parser:
            leave_out(rel, f"source {source_id} is not in the registry (extract/sources.yml) with a parser: it "
                           "cannot be validated")
            continue
        mtime = _iso(raw.stat().st_mtime)
        row = {"source_id": source_id, "millesime": millesime, "sha256": sha, "url": UNKNOWN_URL,
               "url_origin": REPAIR_ORIGIN, "bytes": raw.stat().st_size, "fetched_at": mtime, "last_seen_at": mtime,
               "raw_path": rel, "status": "landed", "first_run_id": run_id, "last_run_id": run_id}
        cache = current_cache(raw)
        try:
            if cache is None:
                cache, rows = _parse_to_parquet(src, raw, millesime, UNKNOWN_URL, raw.name)
            else:
                import pyarrow.parquet as pq

                rows = pq.ParquetFile(cache).metadata.num_rows
        except ExtractError as err:  # as a run would: kept, quarantined with why
            history.restore_landing({**row, "status": "quarantined", "validation": {"parse_error": err.as_dict()}})
            seen_at[key] = mtime
            rebuilt.append(key)
            report.from_disk += 1
            continue
        except Exception as err:  # noqa: BLE001 - one file's fault: reported, the others go on
            leave_out(rel, f"could not be parsed: {err.__class__.__name__}: {err}")
            continue
        history.restore_landing({**row, "rows_parsed": rows, "parsed_path": str(cache.relative_to(data))})
        seen_at[key] = mtime
        rebuilt.append(key)
        report.from_disk += 1
        pending.append({"source_id": source_id, "millesime": millesime, "sha256": sha, "parsed_path": str(cache),
                        "url": UNKNOWN_URL, "rows": rows})
    if pending:
        discard_pending(gx_root(settings))
        # the référentiel first: the perimeter's QPV come from the accepted contours (as in a run)
        first = [r for r in pending if r["source_id"] == CONTOURS_SOURCE]
        rest = [r for r in pending if r["source_id"] != CONTOURS_SOURCE]
        try:
            for batch in (first, rest):
                if batch:
                    validate_landings(ctx, run_id, batch)
        finally:
            build_docs(gx_root(settings))
    for key in rebuilt:  # what the gate and the re-parsing touched: back to when each file was last seen
        history.set_last_seen(*key, seen_at[key])
        row = history.find_landing(*key)
        report.landings.setdefault(key[0], Counter())[row["status"]] += 1


def _received_name(settings: Settings, sha: str) -> str | None:
    """The name a partner file was dropped under in the inbox, when it went through it (``traites/<stamp>-<sha
    12>-<name>``)."""
    from observatoire.partenaires.store import processed_dir

    folder = processed_dir(settings)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"*-{sha[:12]}-*")):
        parts = path.name.split("-", 2)
        if len(parts) == 3 and not path.name.endswith(".rapport.txt"):
            return parts[2]
    return None


def _rebuild_partner_files(ctx, copy: dict | None, report: RepairReport) -> None:
    from extract.landing import file_sha256
    from observatoire.partenaires.store import _values_parquet, _write_atomic, values_dir
    from observatoire.partenaires.validation import Report, read_file, validate_bytes

    settings, history = ctx.settings, ctx.history
    data = settings.data_dir
    originals, values = partner_files_on_disk(settings)
    existing = history.partner_files()  # files imported since the history was lost: they stay as they are
    known = {r["sha256"] for r in existing}
    current_now = {(r["indicateur"], r["millesime"]): r for r in existing if r["status"] == "current"}
    candidates: list[dict] = []

    def leave_out(path: str, reason: str) -> None:
        report.left_out.append({"path": path, "reason": reason})

    copied = (copy or {}).get("partenaires_fichiers", [])
    for row in copied:
        if row["sha256"] in known:
            continue
        original = data / row["stored_path"]
        if not original.is_file():
            leave_out(row["stored_path"], f"partner file « {row['nom_fichier']} » ({row['indicateur']} "
                                          f"{row['millesime']}) listed in the published copy but missing on disk; "
                                          "import it again (observatoire partenaires importer)")
            continue
        found = file_sha256(original)
        if found != row["sha256"]:
            leave_out(row["stored_path"], f"altered on disk: named by sha256 {row['sha256']}, its bytes hash to "
                                          f"{found}; import the partner's file again")
            continue
        candidates.append({k: v for k, v in row.items() if k != "id"} | {"millesime": int(row["millesime"])})
    copied_shas = {r["sha256"] for r in copied}
    for sha, original in sorted(originals.items(), key=lambda kv: (kv[1].stat().st_mtime, kv[0])):
        if sha in known or sha in copied_shas:
            continue
        rel = str(original.relative_to(data))
        check = Report(file_name=original.name)
        content = read_file(original, check)
        if content is None or check.sha256 != sha:
            leave_out(rel, f"altered or unreadable: named by sha256 {sha}, its bytes hash to {check.sha256}; import "
                           "the partner's file again")
            continue
        validate_bytes(content, check, perimetre=settings.perimetre)
        if not check.ok:
            first = "; ".join(str(p) for p in check.errors[:3])
            leave_out(rel, f"no longer a valid partner file: {first}")
            continue
        values_path = values_dir(settings) / f"{sha}.parquet"
        if not values_path.exists():
            _write_atomic(values_path, _values_parquet(check))
        candidates.append({
            "sha256": sha, "indicateur": check.indicateur, "millesime": check.millesime,
            "partenaire": check.partenaire,
            "nom_fichier": _received_name(settings, sha) or f"{original.name} (name unknown: rebuilt by {COMMAND})",
            "format": check.format, "bytes": check.size, "received_at": _iso(original.stat().st_mtime),
            "rows": len(check.rows), "valeurs": check.values, "stored_path": rel,
            "values_path": str(values_path.relative_to(data)), "status": "current"})
    kept = {r["sha256"] for r in candidates} | known
    for sha, path in values.items():
        if sha not in kept and sha not in originals:
            leave_out(str(path.relative_to(data)), "partner values without their original file "
                                                    "(partenaires/fichiers/): they cannot be validated again; import "
                                                    "the partner's file again")
    # one current file per indicator and millésime: one imported since the loss, else the most recently received
    groups: dict[tuple, list[dict]] = {}
    for row in candidates:
        groups.setdefault((row["indicateur"], row["millesime"]), []).append(row)
    for key, rows in groups.items():
        currents = [r for r in rows if r["status"] == "current"]
        winner = current_now.get(key) or (max(currents, key=lambda r: r["received_at"]) if currents else None)
        for r in currents:
            if r is not winner:
                r.update(status="replaced", replaced_at=winner["received_at"], replaced_by=winner["sha256"])
    report.partner_files = history.restore_partner_files(candidates)
