"""Run history, landing manifest and validation results, under ``$OBSERVATOIRE_DATA_DIR/meta/``.

Kept in a small SQLite database (``meta/history.sqlite``, WAL mode) rather than in the warehouse: it must
survive a failed run that is not allowed to touch the published file, and ``observatoire status`` must be
able to read it while a run writes. Each publish copies it into the published file (``meta`` schema).

Tables
------
``runs``         one row per run: id, start, end, status, mode, params, fingerprint, summary, error
``steps``        one row per step of a run (extract, validate, dbt, publish…) with its outcome
``manifest``     one row per landed file: (source, millésime, sha256) unique; URL, bytes, HTTP validators,
                 fetched_at, rows parsed, where it lies, and its validation status
                 (``landed`` → ``accepted`` | ``quarantined``)
``validations``  one row per suite evaluated in a run, with its summary and the path of the full result
``http_validators``  ETag / Last-Modified per exact URL, recorded only for successfully loaded files
``partenaires_fichiers``  one row per partner file loaded (observatoire/partenaires): sha256, indicateur,
                 millésime, partenaire, the name it was sent under, received_at, rows; ``current`` (one per
                 indicateur and millésime) or ``replaced`` (the row stays, with when and by which file)
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    perimetre TEXT,
    trigger TEXT,
    params TEXT,
    fingerprint TEXT,
    published INTEGER NOT NULL DEFAULT 0,
    summary TEXT,
    error TEXT,
    details_path TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    message TEXT,
    PRIMARY KEY (run_id, step, target)
);
CREATE TABLE IF NOT EXISTS manifest (
    source_id TEXT NOT NULL,
    millesime INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    url TEXT NOT NULL,
    url_origin TEXT,
    bytes INTEGER NOT NULL,
    etag TEXT,
    last_modified TEXT,
    content_type TEXT,
    fetched_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    rows_parsed INTEGER,
    raw_path TEXT NOT NULL,
    parsed_path TEXT,
    status TEXT NOT NULL,
    validation TEXT,
    first_run_id TEXT,
    last_run_id TEXT,
    PRIMARY KEY (source_id, millesime, sha256)
);
CREATE TABLE IF NOT EXISTS validations (
    run_id TEXT NOT NULL,
    suite TEXT NOT NULL,
    target TEXT NOT NULL,
    success INTEGER NOT NULL,
    evaluated INTEGER,
    failed INTEGER,
    errors INTEGER,
    summary TEXT,
    details_path TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, suite)
);
CREATE TABLE IF NOT EXISTS http_validators (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    sha256 TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS partenaires_fichiers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL,
    indicateur TEXT NOT NULL,
    millesime INTEGER NOT NULL,
    partenaire TEXT NOT NULL,
    nom_fichier TEXT NOT NULL,
    format TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    rows INTEGER NOT NULL,
    valeurs INTEGER NOT NULL,
    stored_path TEXT NOT NULL,
    values_path TEXT NOT NULL,
    status TEXT NOT NULL,
    replaced_at TEXT,
    replaced_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS partenaires_fichiers_current
    ON partenaires_fichiers (indicateur, millesime) WHERE status = 'current';
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=60)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
        finally:
            con.close()

    @property
    def data_dir(self) -> Path:
        """The data directory this history belongs to (it lives in ``<data dir>/meta/history.sqlite``)."""
        return self.path.parent.parent

    def portable(self, path: str | Path | None) -> str | None:
        """A path under the data directory as stored: relative to it, so the directory can move or be copied
        (a path elsewhere is kept as is)."""
        if path is None:
            return None
        try:
            return str(Path(path).resolve().relative_to(self.data_dir.resolve()))
        except ValueError:
            return str(path)

    def resolve(self, stored: str | None) -> str | None:
        """A stored path, made absolute against the data directory where it is read now."""
        return None if stored is None else str(self.data_dir / stored)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            else:
                con.execute("COMMIT")
        finally:
            con.close()

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(sql, params)]
        finally:
            con.close()

    # -- runs -------------------------------------------------------------------------------------
    def start_run(self, *, mode: str, perimetre: str, trigger: str, params: dict, run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs (run_id, started_at, status, mode, perimetre, trigger, params) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (run_id, now_iso(), mode, perimetre, trigger, json.dumps(params, sort_keys=True)),
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        summary: dict | None = None,
        error: str | None = None,
        fingerprint: str | None = None,
        published: bool = False,
        details_path: str | None = None,
    ) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET ended_at = ?, status = ?, summary = ?, error = ?, "
                "fingerprint = COALESCE(?, fingerprint), published = ?, details_path = COALESCE(?, details_path) "
                "WHERE run_id = ?",
                (now_iso(), status, json.dumps(summary or {}, sort_keys=True, default=str), error,
                 fingerprint, int(published), self.portable(details_path), run_id),
            )

    def set_fingerprint(self, run_id: str, fingerprint: str) -> None:
        with self._connect() as con:
            con.execute("UPDATE runs SET fingerprint = ? WHERE run_id = ?", (fingerprint, run_id))

    def get_run(self, run_id: str) -> dict | None:
        rows = self.query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return rows[0] if rows else None

    def last_runs(self, limit: int = 10) -> list[dict]:
        return self.query("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))

    def last_published_run(self) -> dict | None:
        rows = self.query(
            "SELECT * FROM runs WHERE published = 1 ORDER BY ended_at DESC, rowid DESC LIMIT 1"
        )
        return rows[0] if rows else None

    def abandon_stale_runs(self, live_run_ids: set[str] | None = None) -> int:
        """Mark runs still 'running' (their process died: we hold the writer lock) as 'interrupted'."""
        live = live_run_ids or set()
        with self._connect() as con:
            rows = con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()
            stale = [r["run_id"] for r in rows if r["run_id"] not in live]
            for rid in stale:
                con.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?, "
                    "error = COALESCE(error, 'the process running it stopped before the end') WHERE run_id = ?",
                    (now_iso(), rid),
                )
        return len(stale)

    # -- steps ------------------------------------------------------------------------------------
    def step(self, run_id: str, step: str, target: str, status: str, message: str | None = None) -> None:
        ts = now_iso()
        with self._connect() as con:
            con.execute(
                "INSERT INTO steps (run_id, step, target, status, started_at, ended_at, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, step, target) DO UPDATE SET status = excluded.status, "
                "ended_at = excluded.ended_at, message = excluded.message",
                (run_id, step, target, status, ts, None if status == "running" else ts, message),
            )

    def steps(self, run_id: str) -> list[dict]:
        return self.query("SELECT * FROM steps WHERE run_id = ? ORDER BY rowid", (run_id,))

    # -- manifest ---------------------------------------------------------------------------------
    def find_landing(self, source_id: str, millesime: int, sha256: str) -> dict | None:
        rows = self.query(
            "SELECT * FROM manifest WHERE source_id = ? AND millesime = ? AND sha256 = ?",
            (source_id, millesime, sha256),
        )
        return rows[0] if rows else None

    def record_landing(self, row: dict, run_id: str, *, relanded: bool = False) -> dict:
        """Insert a manifest row, or, for a file already landed, only note it was seen again
        (``relanded``: the file was landed again and awaits its gate: its status goes back to ``landed``)."""
        ts = now_iso()
        with self._connect() as con:
            existing = con.execute(
                "SELECT * FROM manifest WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                (row["source_id"], row["millesime"], row["sha256"]),
            ).fetchone()
            if existing is None:
                con.execute(
                    "INSERT INTO manifest (source_id, millesime, sha256, url, url_origin, bytes, etag, "
                    "last_modified, content_type, fetched_at, last_seen_at, rows_parsed, raw_path, "
                    "parsed_path, status, first_run_id, last_run_id) VALUES "
                    "(:source_id, :millesime, :sha256, :url, :url_origin, :bytes, :etag, :last_modified, "
                    ":content_type, :fetched_at, :fetched_at, :rows_parsed, :raw_path, :parsed_path, "
                    "'landed', :run_id, :run_id)",
                    {**row, "fetched_at": ts, "run_id": run_id},
                )
            else:
                con.execute(
                    "UPDATE manifest SET last_seen_at = ?, last_run_id = ?, parsed_path = ?, "
                    "rows_parsed = ? WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                    (ts, run_id, row.get("parsed_path") or existing["parsed_path"],
                     row.get("rows_parsed") if row.get("rows_parsed") is not None else existing["rows_parsed"],
                     row["source_id"], row["millesime"], row["sha256"]),
                )
                if relanded:
                    con.execute(
                        "UPDATE manifest SET status = 'landed', validation = NULL, raw_path = ? "
                        "WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                        (row["raw_path"], row["source_id"], row["millesime"], row["sha256"]),
                    )
            out = con.execute(
                "SELECT * FROM manifest WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                (row["source_id"], row["millesime"], row["sha256"]),
            ).fetchone()
        return dict(out)

    def touch_landing(self, source_id: str, millesime: int, sha256: str, run_id: str) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE manifest SET last_seen_at = ?, last_run_id = ? "
                "WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                (now_iso(), run_id, source_id, millesime, sha256),
            )

    def set_landing_status(self, source_id: str, millesime: int, sha256: str, status: str,
                           validation: dict | None) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE manifest SET status = ?, validation = ?, last_seen_at = ? "
                "WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                (status, json.dumps(validation, default=str) if validation is not None else None,
                 now_iso(), source_id, millesime, sha256),
            )

    def landings(self, source_id: str, millesime: int) -> list[dict]:
        """Every landing of a source's millésime still on disk, most recently seen first."""
        return self.query(
            "SELECT * FROM manifest WHERE source_id = ? AND millesime = ? AND status <> 'purged' "
            "ORDER BY last_seen_at DESC, rowid DESC",
            (source_id, millesime),
        )

    def current_landings(self) -> list[dict]:
        """For each (source, millésime), the accepted file seen most recently: what the warehouse loads."""
        return self.query(
            "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY source_id, millesime "
            "ORDER BY last_seen_at DESC, rowid DESC) AS rn FROM manifest WHERE status = 'accepted') "
            "WHERE rn = 1 ORDER BY source_id, millesime"
        )

    def current_landing(self, source_id: str, millesime: int) -> dict | None:
        for row in self.current_landings():
            if row["source_id"] == source_id and row["millesime"] == millesime:
                return row
        return None

    def previous_accepted(self, source_id: str, exclude_sha256: str | None = None) -> dict | None:
        """The last successful load of a source (any millésime), for the volume guard."""
        rows = self.query(
            "SELECT * FROM manifest WHERE source_id = ? AND status = 'accepted' AND sha256 IS NOT ? "
            "ORDER BY last_seen_at DESC, rowid DESC LIMIT 1",
            (source_id, exclude_sha256),
        )
        return rows[0] if rows else None

    def landings_of_run(self, run_id: str) -> list[dict]:
        return self.query("SELECT * FROM manifest WHERE last_run_id = ? ORDER BY source_id, millesime", (run_id,))

    # -- validations ------------------------------------------------------------------------------
    def record_validation(self, run_id: str, suite: str, target: str, summary: dict, details_path: str | None) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO validations (run_id, suite, target, success, evaluated, failed, errors, "
                "summary, details_path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, suite, target, int(bool(summary.get("success"))), summary.get("evaluated"),
                 summary.get("failed"), summary.get("errors"), json.dumps(summary, default=str),
                 self.portable(details_path), now_iso()),
            )

    def validations(self, run_id: str) -> list[dict]:
        return self.query("SELECT * FROM validations WHERE run_id = ? ORDER BY rowid", (run_id,))

    # -- HTTP validators --------------------------------------------------------------------------
    def http_validators(self, url: str) -> dict | None:
        rows = self.query("SELECT * FROM http_validators WHERE url = ?", (url,))
        return rows[0] if rows else None

    def save_http_validators(self, url: str, etag: str | None, last_modified: str | None, sha256: str) -> None:
        if not (etag or last_modified):
            return
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO http_validators (url, etag, last_modified, sha256, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (url, etag, last_modified, sha256, now_iso()),
            )

    # -- partner files ----------------------------------------------------------------------------
    def partner_file(self, sha256: str) -> dict | None:
        """The latest load of the partner file ``sha256``, or None."""
        rows = self.query("SELECT * FROM partenaires_fichiers WHERE sha256 = ? ORDER BY id DESC LIMIT 1", (sha256,))
        return rows[0] if rows else None

    def current_partner_file(self, indicateur: str, millesime: int) -> dict | None:
        rows = self.query("SELECT * FROM partenaires_fichiers WHERE indicateur = ? AND millesime = ? "
                          "AND status = 'current'", (indicateur, millesime))
        return rows[0] if rows else None

    def current_partner_files(self) -> list[dict]:
        """The partner file in force for each (indicateur, millésime): what the warehouse loads."""
        return self.query("SELECT * FROM partenaires_fichiers WHERE status = 'current' "
                          "ORDER BY indicateur, millesime")

    def partner_files(self) -> list[dict]:
        """Every partner file load, replaced ones included, oldest first."""
        return self.query("SELECT * FROM partenaires_fichiers ORDER BY id")

    def record_partner_file(self, row: dict) -> dict:
        """Make ``row`` the current file of its (indicateur, millésime), in one transaction: the previous current
        file, if any, is marked ``replaced`` (its row stays, with when and by which file). Returns the new row."""
        ts = now_iso()
        with self._connect() as con:
            con.execute(
                "UPDATE partenaires_fichiers SET status = 'replaced', replaced_at = ?, replaced_by = ? "
                "WHERE indicateur = ? AND millesime = ? AND status = 'current'",
                (ts, row["sha256"], row["indicateur"], row["millesime"]),
            )
            cur = con.execute(
                "INSERT INTO partenaires_fichiers (sha256, indicateur, millesime, partenaire, nom_fichier, format, "
                "bytes, received_at, rows, valeurs, stored_path, values_path, status) VALUES (:sha256, "
                ":indicateur, :millesime, :partenaire, :nom_fichier, :format, :bytes, :received_at, :rows, "
                ":valeurs, :stored_path, :values_path, 'current')",
                row,
            )
            out = con.execute("SELECT * FROM partenaires_fichiers WHERE id = ?", (cur.lastrowid,)).fetchone()
        return dict(out)

    # -- export -----------------------------------------------------------------------------------
    def export_tables(self) -> dict[str, list[dict]]:
        return {t: self.query(f"SELECT * FROM {t} ORDER BY rowid") for t in
                ("runs", "steps", "manifest", "validations", "partenaires_fichiers")}
