"""Run history, landing manifest and validation results, under ``$OBSERVATOIRE_DATA_DIR/meta/``.

Kept in a small SQLite database (``meta/history.sqlite``, WAL mode) rather than in the warehouse: it must
survive a failed run that is not allowed to touch the published file, and ``observatoire status`` must be
able to read it while a run writes. Each publish copies it into the published file (``meta`` schema).

Tables
------
``runs``         one row per run: id, start, end, status, mode, params, fingerprint, summary, error
``steps``        one row per step of a run (extract, validate, dbt, publish…) with its outcome
``manifest``     one row per landed file: (source, millésime, sha256) unique; URL (redacted), bytes, HTTP
                 validators, fetched_at, rows parsed, where it lies, and its validation status
                 (``landed`` → ``accepted`` | ``quarantined``); ``url_key`` identifies the full URL (:func:`url_key`)
``validations``  one row per suite evaluated in a run, with its summary and the path of the full result
``http_validators``  ETag / Last-Modified per exact URL (keyed by :func:`url_key`, the URL itself stored
                 redacted), recorded only for successfully loaded files
``partenaires_fichiers``  one row per partner file loaded (observatoire/partenaires): sha256, indicateur,
                 millésime, partenaire, the name it was sent under, received_at, rows; ``current`` (one per
                 indicateur and millésime) or ``replaced`` (the row stays, with when and by which file)

Untrusted text stays out: a URL may carry credentials (an ``OBSERVATOIRE_URL_<ID>`` override with ``?apikey=…`` or
``user:password@``), and this database is copied into the published file. Every URL is stored redacted
(:func:`extract.http.redact`) and every message, error and summary with the URLs it quotes redacted
(:func:`extract.http.redact_text`); what must still match the full URL (the HTTP validators of the next fetch)
is keyed by its sha256. A database written before is migrated when opened (``PRAGMA user_version`` 1): its stored
URLs and texts are rewritten redacted, once, and the file is vacuumed so the old bytes are gone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from extract.http import MASK, redact, redact_data, redact_text

log = logging.getLogger(__name__)

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
    url_key TEXT,
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
    url_key TEXT PRIMARY KEY,
    url TEXT,
    etag TEXT,
    last_modified TEXT,
    sha256 TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ruptures (
    source_id TEXT NOT NULL,
    millesime INTEGER NOT NULL,
    reason TEXT NOT NULL,
    sha256 TEXT,
    run_id TEXT,
    accepted_at TEXT NOT NULL,
    PRIMARY KEY (source_id, millesime)
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
    replaced_by TEXT,
    rupture TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS partenaires_fichiers_current
    ON partenaires_fichiers (indicateur, millesime) WHERE status = 'current';
"""


#: the columns of a manifest row, in order (:meth:`History.restore_landing`)
MANIFEST_COLUMNS = ("source_id", "millesime", "sha256", "url", "url_origin", "bytes", "etag", "last_modified",
                    "content_type", "fetched_at", "last_seen_at", "rows_parsed", "raw_path", "parsed_path", "status",
                    "validation", "first_run_id", "last_run_id", "url_key")

#: text columns that may quote a URL (messages, errors; JSON summaries: ``True``), rewritten by the migration
_TEXT_COLUMNS = (("runs", "error", False), ("runs", "summary", True), ("runs", "params", True),
                 ("steps", "message", False), ("manifest", "validation", True), ("validations", "summary", True))


def path_of(con: sqlite3.Connection) -> str:
    return next((r[2] for r in con.execute("PRAGMA database_list") if r[1] == "main"), "?")


def url_key(url: str) -> str:
    """What identifies a full URL (credentials and all) without storing it: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(url.encode("utf-8")).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f"PRAGMA table_info({table})")}


def _redact_stored_urls(con: sqlite3.Connection) -> int:
    """Version 1: the manifest's ``url_key``, the HTTP validators keyed by :func:`url_key` instead of the full
    URL, every stored URL and text redacted. Returns the rows rewritten (the database is then vacuumed)."""
    changed = 0
    if "url_key" not in _columns(con, "manifest"):
        con.execute("ALTER TABLE manifest ADD COLUMN url_key TEXT")
    for rowid, url, key in con.execute("SELECT rowid, url, url_key FROM manifest").fetchall():
        if url and redact(url) != url:
            con.execute("UPDATE manifest SET url = ?, url_key = ? WHERE rowid = ?",
                        (redact(url), key or url_key(url), rowid))
            changed += 1
    if "url_key" not in _columns(con, "http_validators"):  # keyed by the full URL: rebuilt, keyed by its hash
        old = con.execute("SELECT url, etag, last_modified, sha256, updated_at FROM http_validators "
                          "ORDER BY rowid").fetchall()
        con.execute("DROP TABLE http_validators")
        con.execute("CREATE TABLE http_validators (url_key TEXT PRIMARY KEY, url TEXT, etag TEXT, "
                    "last_modified TEXT, sha256 TEXT, updated_at TEXT NOT NULL)")
        con.executemany("INSERT OR REPLACE INTO http_validators VALUES (?, ?, ?, ?, ?, ?)",
                        [(url_key(u), redact(u), e, lm, sha, ts) for u, e, lm, sha, ts in old])
        changed += len(old)
    for table, column, is_json in _TEXT_COLUMNS:
        rows = con.execute(f"SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL").fetchall()
        for rowid, text in rows:
            clean = redact_text(text)
            if clean != text and is_json:  # redact its values, so that it stays JSON
                try:
                    clean = json.dumps(redact_data(json.loads(text)))
                except ValueError:
                    pass
            if clean != text:
                con.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (clean, rowid))
                changed += 1
    return changed


def _partner_break_column(con: sqlite3.Connection) -> int:
    """Version 2: ``partenaires_fichiers.rupture``, the break a partner file was accepted with on import."""
    if "rupture" not in _columns(con, "partenaires_fichiers"):
        con.execute("ALTER TABLE partenaires_fichiers ADD COLUMN rupture TEXT")
    return 0


#: the forward migrations, in order: ``PRAGMA user_version`` N means the first N were applied. Each brings a
#: database of the previous layout to the next and is idempotent (a half-known layout is tolerated); add one at
#: the end for any change of :data:`SCHEMA` (a new column: ``ALTER TABLE … ADD COLUMN``), never edit an old one.
#: ``tests/unit/test_history_migrations.py`` opens a database of the oldest layout in use.
MIGRATIONS: tuple[tuple[str, Any], ...] = (
    ("stored URLs and texts redacted, HTTP validators keyed by the URL's hash", _redact_stored_urls),
    ("partenaires_fichiers.rupture", _partner_break_column),
)
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryVersionError(RuntimeError):
    """The history database was written by a newer version of the observatoire than this one."""


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=60)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryVersionError(
                    f"{self.path}: run history of schema version {version}, newer than this observatoire's "
                    f"({SCHEMA_VERSION}): it was written by a newer release; upgrade the observatoire (a "
                    "downgrade would not know its columns)")
            new = not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone()
            con.executescript(SCHEMA)
            if new:  # created in the current layout: nothing to migrate
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version < SCHEMA_VERSION:
                self._migrate(con)
        finally:
            con.close()

    @staticmethod
    def _migrate(con: sqlite3.Connection) -> None:
        """Bring a database written before to :data:`SCHEMA_VERSION` by the :data:`MIGRATIONS` it lacks, in one
        transaction (all or none); then vacuum if stored text was rewritten, so that the old bytes are not left
        in free pages. One process does it (the others wait, then see the version)."""
        con.isolation_level = None
        con.execute("PRAGMA secure_delete = ON")
        con.execute("BEGIN IMMEDIATE")
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            changed = 0
            for _what, migrate in MIGRATIONS[version:]:
                changed += migrate(con)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if changed:
            try:
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as err:  # busy: the rows are redacted, free pages may keep old bytes
                log.warning("history %s redacted but not vacuumed (%s): run VACUUM on it when idle", path_of(con),
                            err)

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
                (run_id, now_iso(), mode, perimetre, trigger, json.dumps(redact_data(params), sort_keys=True)),
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
                (now_iso(), status, json.dumps(redact_data(summary or {}), sort_keys=True, default=str),
                 redact_text(error), fingerprint, int(published), self.portable(details_path), run_id),
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
                (run_id, step, target, status, ts, None if status == "running" else ts, redact_text(message)),
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
        (``relanded``: the file was landed again and awaits its gate: its status goes back to ``landed``).
        ``row["url"]`` is the URL fetched: stored redacted, with the :func:`url_key` of the full URL."""
        ts = now_iso()
        row = {**row, "url": redact(row["url"]), "url_key": row.get("url_key") or url_key(row["url"])}
        with self._connect() as con:
            existing = con.execute(
                "SELECT * FROM manifest WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                (row["source_id"], row["millesime"], row["sha256"]),
            ).fetchone()
            if existing is None:
                con.execute(
                    "INSERT INTO manifest (source_id, millesime, sha256, url, url_origin, bytes, etag, "
                    "last_modified, content_type, fetched_at, last_seen_at, rows_parsed, raw_path, "
                    "parsed_path, status, first_run_id, last_run_id, url_key) VALUES "
                    "(:source_id, :millesime, :sha256, :url, :url_origin, :bytes, :etag, :last_modified, "
                    ":content_type, :fetched_at, :fetched_at, :rows_parsed, :raw_path, :parsed_path, "
                    "'landed', :run_id, :run_id, :url_key)",
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
                (status, json.dumps(redact_data(validation), default=str) if validation is not None else None,
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
                 summary.get("failed"), summary.get("errors"), json.dumps(redact_data(summary), default=str),
                 self.portable(details_path), now_iso()),
            )

    def validations(self, run_id: str) -> list[dict]:
        return self.query("SELECT * FROM validations WHERE run_id = ? ORDER BY rowid", (run_id,))

    # -- HTTP validators --------------------------------------------------------------------------
    def _validators_key(self, url: str) -> str:
        """The :func:`url_key` of ``url``, the full URL fetched; or, given the redacted URL of a manifest row
        (it has ``***`` where secrets were), the key of the full URL that row was fetched from."""
        if MASK in url and redact(url) == url:
            rows = self.query("SELECT url_key FROM manifest WHERE url = ? AND url_key IS NOT NULL "
                              "ORDER BY last_seen_at DESC, rowid DESC LIMIT 1", (url,))
            if rows:
                return rows[0]["url_key"]
        return url_key(url)

    def http_validators(self, url: str) -> dict | None:
        """The validators recorded for the exact URL ``url`` (``etag``, ``last_modified``), or None."""
        rows = self.query("SELECT * FROM http_validators WHERE url_key = ?", (self._validators_key(url),))
        return rows[0] if rows else None

    def save_http_validators(self, url: str, etag: str | None, last_modified: str | None, sha256: str) -> None:
        if not (etag or last_modified):
            return
        key = self._validators_key(url)
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO http_validators (url_key, url, etag, last_modified, sha256, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, redact(url), etag, last_modified, sha256, now_iso()),
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
                "bytes, received_at, rows, valeurs, stored_path, values_path, status, rupture) VALUES (:sha256, "
                ":indicateur, :millesime, :partenaire, :nom_fichier, :format, :bytes, :received_at, :rows, "
                ":valeurs, :stored_path, :values_path, 'current', :rupture)",
                {"rupture": None, **row},
            )
            out = con.execute("SELECT * FROM partenaires_fichiers WHERE id = ?", (cur.lastrowid,)).fetchone()
        return dict(out)

    # -- rebuilt rows (observatoire repair) ----------------------------------------------------------
    def restore_landing(self, row: dict) -> bool:
        """Insert a manifest row with every column as given (``observatoire repair`` rebuilds them from the published
        copy of the history or from the landed files); the URL stored redacted, the validation's text too. False
        when the history already has that (source, millésime, sha256): the row it has is kept."""
        values = {c: row.get(c) for c in MANIFEST_COLUMNS}
        values["url"] = redact(values["url"])
        if values["validation"] is not None and not isinstance(values["validation"], str):
            values["validation"] = json.dumps(redact_data(values["validation"]), default=str)
        else:
            values["validation"] = redact_text(values["validation"])
        with self._connect() as con:
            if con.execute("SELECT 1 FROM manifest WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                           (values["source_id"], values["millesime"], values["sha256"])).fetchone():
                return False
            con.execute(f"INSERT INTO manifest ({', '.join(MANIFEST_COLUMNS)}) VALUES "
                        f"({', '.join(':' + c for c in MANIFEST_COLUMNS)})", values)
            return True

    def set_last_seen(self, source_id: str, millesime: int, sha256: str, at: str) -> None:
        """Set when a landing was last seen (``observatoire repair``: its value in the published copy, or the landed
        file's modification time); the loaded file of a millésime is the accepted one seen last."""
        with self._connect() as con:
            con.execute("UPDATE manifest SET last_seen_at = ? WHERE source_id = ? AND millesime = ? AND sha256 = ?",
                        (at, source_id, millesime, sha256))

    def adopt_url(self, source_id: str, millesime: int, sha256: str, url: str, origin: str | None) -> bool:
        """A landing rebuilt from the disk by ``observatoire repair`` (``url_origin`` ``repair``: its URL unknown) was
        fetched again with the same bytes: record the URL it came from (redacted, keyed by :func:`url_key`) and its
        origin, so its HTTP validators are used again. False, and nothing changed, for any other row."""
        with self._connect() as con:
            cur = con.execute(
                "UPDATE manifest SET url = ?, url_key = ?, url_origin = ? WHERE source_id = ? AND millesime = ? "
                "AND sha256 = ? AND url_origin = 'repair'",
                (redact(url), url_key(url), origin, source_id, millesime, sha256))
            return cur.rowcount == 1

    def restore_partner_files(self, rows: list[dict]) -> list[dict]:
        """Insert partner-file rows with their status as given (``current`` or ``replaced``, with when and by which
        file), in order and in one transaction (``observatoire repair``). The caller keeps one current file per
        (indicateur, millésime); the database refuses a second one (unique index). Returns the rows inserted."""
        columns = ("sha256", "indicateur", "millesime", "partenaire", "nom_fichier", "format", "bytes", "received_at",
                   "rows", "valeurs", "stored_path", "values_path", "status", "replaced_at", "replaced_by")
        out = []
        with self._connect() as con:
            for row in rows:
                cur = con.execute(f"INSERT INTO partenaires_fichiers ({', '.join(columns)}) VALUES "
                                  f"({', '.join(':' + c for c in columns)})", {c: row.get(c) for c in columns})
                out.append(dict(con.execute("SELECT * FROM partenaires_fichiers WHERE id = ?",
                                            (cur.lastrowid,)).fetchone()))
        return out

    # -- export -----------------------------------------------------------------------------------
    # -- breaks of series accepted (observatoire run --accept-break) ---------------------------------
    def record_rupture(self, source_id: str, millesime: int, reason: str, sha256: str | None, run_id: str) -> None:
        """A deliberate break of series of ``source_id`` from ``millesime``: kept whatever file of that millésime is
        loaded later (the marts flag ``rupture_serie`` from it), the latest reason wins."""
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO ruptures (source_id, millesime, reason, sha256, run_id, accepted_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (source_id, millesime, redact_text(reason), sha256, run_id,
                                                      now_iso()))

    def ruptures(self) -> dict[tuple[str, int], dict]:
        return {(r["source_id"], r["millesime"]): r for r in self.query("SELECT * FROM ruptures")}

    def export_tables(self) -> dict[str, list[dict]]:
        """The tables copied into the published file (``meta`` schema): URLs and texts as stored (redacted); not
        the HTTP validators nor the manifest's ``url_key`` (a hash of a URL that may hold a weak password)."""
        tables = {t: self.query(f"SELECT * FROM {t} ORDER BY rowid") for t in
                  ("runs", "steps", "manifest", "validations", "partenaires_fichiers", "ruptures")}
        for row in tables["manifest"]:
            row.pop("url_key", None)
        return tables
