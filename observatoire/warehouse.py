"""The two warehouse files: ``build.duckdb`` (private, written by the pipeline) and ``observatoire.duckdb``
(published, read by analysts).

* :func:`load_raw` (re)builds the ``raw`` schema of the build warehouse from the accepted landed files
  (their parsed Parquet), with provenance columns, in one transaction.
* :func:`publish` writes a **new** file holding the marts and the run history, readable by DuckDB 1.4+
  clients (``STORAGE_VERSION 'v1.4.0'``), then ``os.replace`` s it onto ``observatoire.duckdb``; a reader
  holding the old file keeps reading the old inode, a new reader opens the new one, and a crash leaves
  either the old or the new file, never a mix. Parquet exports of every mart go to a new versioned directory
  under ``warehouse/parquet/`` and the ``current`` link is switched atomically. The static site
  (``observatoire.site``) is built from the new file before it replaces the published one, into
  ``warehouse/site/<version>/``, and its ``current`` link is switched with the Parquet one: a site that cannot
  be built stops the publication (nothing switched). The pipeline never opens the published file for writing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from extract.landing import file_sha256
from observatoire.config import Settings

PUBLISHED_SCHEMAS = ("marts",)
STORAGE_VERSION = "v1.4.0"
KEEP_PARQUET_VERSIONS = 3
KEEP_SITE_VERSIONS = 3


def site_dir(settings: Settings) -> Path:
    """``warehouse/site/``: one static site per published version, ``current`` → the published one."""
    return settings.warehouse_dir / "site"


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list:
    """Execute and consume the result (DuckDB 2 refuses new work while a result is pending)."""
    return con.execute(sql, params or []).fetchall()


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def load_raw(
    settings: Settings,
    landings_by_source: dict[str, list[dict]],
    empty_schemas: dict[str, pa.Schema],
    extra_tables: dict[str, tuple[list[Path], pa.Schema] | pa.Table] | None = None,
) -> dict[str, int]:
    """Rebuild ``raw.<source>`` for every source: the union of its current accepted landings (one per
    millésime), or an empty table with the parser's schema when nothing was accepted yet; and the tables the
    pipeline derives (``extra_tables``: an Arrow table, or Parquet files with the schema used when there are
    none). Returns the row count per table. All or nothing (one transaction)."""
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(settings.build_db))
    try:
        _run(con, "BEGIN TRANSACTION")
        _run(con, "CREATE SCHEMA IF NOT EXISTS raw")
        for source_id, schema in empty_schemas.items():
            landings = landings_by_source.get(source_id) or []
            table = f"raw.{_q(source_id)}"
            if landings:
                selects = [
                    f"SELECT p.*, {_lit(source_id)} AS _source_id, {_lit(land['sha256'])} AS _sha256, "
                    f"{_lit(land['url'])} AS _url, CAST({_lit(land['fetched_at'])} AS TIMESTAMPTZ) AS _fetched_at "
                    f"FROM read_parquet({_lit(land['parsed_path'])}) AS p"
                    for land in landings
                ]
                _run(con, f"CREATE OR REPLACE TABLE {table} AS " + " UNION ALL BY NAME ".join(selects))
            else:
                empty = schema.empty_table()
                con.register("_empty_raw", empty)
                _run(
                    con,
                    f"CREATE OR REPLACE TABLE {table} AS SELECT *, CAST(NULL AS VARCHAR) AS _source_id, "
                    "CAST(NULL AS VARCHAR) AS _sha256, CAST(NULL AS VARCHAR) AS _url, "
                    "CAST(NULL AS TIMESTAMPTZ) AS _fetched_at FROM _empty_raw",
                )
                con.unregister("_empty_raw")
            counts[source_id] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for name, content in (extra_tables or {}).items():
            table = f"raw.{_q(name)}"
            if isinstance(content, pa.Table):
                con.register("_extra_raw", content)
                _run(con, f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _extra_raw")
                con.unregister("_extra_raw")
            else:
                paths, schema = content
                if paths:
                    files = ", ".join(_lit(str(p)) for p in paths)
                    _run(con, f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet([{files}])")
                else:
                    con.register("_extra_raw", schema.empty_table())
                    _run(con, f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _extra_raw")
                    con.unregister("_extra_raw")
            counts[name] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        _run(con, "COMMIT")
    except BaseException:
        try:
            _run(con, "ROLLBACK")
        except duckdb.Error:
            pass
        raise
    finally:
        con.close()
    return counts


def list_tables(con: duckdb.DuckDBPyConnection, schema: str, catalog: str | None = None) -> list[str]:
    sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = ?"
    params: list = [schema]
    if catalog:
        sql += " AND table_catalog = ?"
        params.append(catalog)
    return [r[0] for r in con.execute(sql + " ORDER BY table_name", params).fetchall()]


def read_tables(settings: Settings, tables: list[tuple[str, str]]) -> list:
    """Tables ``(schema, table)`` of the build warehouse as pandas DataFrames, in order, through one
    read-only connection (for the mart gate; opening build.duckdb costs more than reading a mart)."""
    con = duckdb.connect(str(settings.build_db), read_only=True)
    try:
        return [con.execute(f"SELECT * FROM {_q(schema)}.{_q(table)}").df() for schema, table in tables]
    finally:
        con.close()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(
    settings: Settings,
    *,
    version: str,
    publication: dict,
    meta_tables: dict[str, list[dict]],
    before_replace: Callable[[Path], None] | None = None,
) -> dict:
    """Publish the marts of the build warehouse. Returns what was published."""
    wh = settings.warehouse_dir
    tmp = wh / f".observatoire.{version}.duckdb.tmp"
    tmp.unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    parquet_tmp = settings.parquet_dir / f".{version}.tmp"
    parquet_final = settings.parquet_dir / version
    shutil.rmtree(parquet_tmp, ignore_errors=True)
    parquet_tmp.mkdir(parents=True)
    tables: dict[str, int] = {}
    con = duckdb.connect(str(settings.build_db))
    try:
        _run(con, f"ATTACH {_lit(str(tmp))} AS pub (STORAGE_VERSION {_lit(STORAGE_VERSION)})")
        _run(con, "CREATE SCHEMA IF NOT EXISTS pub.meta")
        for schema in PUBLISHED_SCHEMAS:
            for table in list_tables(con, schema, catalog="build"):
                _run(
                    con, f"CREATE TABLE pub.main.{_q(table)} AS SELECT * FROM build.{_q(schema)}.{_q(table)}"
                )
                _run(
                    con,
                    f"COPY (SELECT * FROM pub.main.{_q(table)}) TO "
                    f"{_lit(str(parquet_tmp / (table + '.parquet')))} (FORMAT parquet, COMPRESSION zstd)",
                )
                tables[table] = con.execute(f"SELECT count(*) FROM pub.main.{_q(table)}").fetchall()[0][0]
                copy_comments(con, ("build", schema, table), ("pub", "main", table))
        for name, rows in meta_tables.items():
            _write_rows(con, f"pub.meta.{_q(name)}", rows)
        pub_row = {
            **publication,
            "version": version,
            "tables": json.dumps(tables),
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _write_rows(con, "pub.meta.publication", [pub_row])
        _run(con, "DETACH pub")
    finally:
        con.close()
    (parquet_tmp / "_publication.json").write_text(json.dumps(pub_row, indent=2, ensure_ascii=False), "utf-8")
    _fsync_path(tmp)
    # the site is built from the new file before anything is switched: a failure leaves the publication as it was
    site_final = site_dir(settings) / version
    try:
        site = _build_site(tmp, site_final)
    except BaseException as err:
        shutil.rmtree(parquet_tmp, ignore_errors=True)
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        if isinstance(err, Exception):  # a stage failure like the gates': the run fails, recorded, one line
            from observatoire.errors import PipelineError

            raise PipelineError("publish", f"the static site could not be built from the new publication, "
                                           f"nothing was published: {err}") from err
        raise
    # the Parquet version directory is complete before anything points at it
    os.replace(parquet_tmp, parquet_final)
    if before_replace is not None:
        before_replace(tmp)
    sha256 = file_sha256(tmp)
    # recorded before the switch, with the file it replaces: a crash in between leaves either one, both sound
    previous = _read_published_record(settings)
    _write_published_record(settings, {"version": version, "sha256": sha256, "bytes": tmp.stat().st_size,
                                       "previous": {k: previous.get(k) for k in ("version", "sha256")}
                                       if previous else None})
    os.replace(tmp, settings.published_db)
    _fsync_path(wh)
    _switch_current(settings.parquet_dir, version)
    _prune_parquet(settings.parquet_dir, keep=KEEP_PARQUET_VERSIONS)
    _switch_current(site_dir(settings), version)
    _prune_parquet(site_dir(settings), keep=KEEP_SITE_VERSIONS)
    return {
        "version": version,
        "tables": tables,
        "path": str(settings.published_db),
        "parquet": str(parquet_final),
        "site": str(site_final),
        "site_seconds": site["seconds"],
        "sha256": sha256,
    }


def _build_site(db: Path, dest: Path) -> dict:
    """The static site of the publication ``db`` into ``dest`` (written beside it and renamed into place)."""
    from observatoire.site import build_site

    dest.parent.mkdir(parents=True, exist_ok=True)
    return build_site(db, dest)


def copy_comments(con: duckdb.DuckDBPyConnection, source: tuple[str, str, str], target: tuple[str, str, str]) -> int:
    """Copy the comments (dbt ``persist_docs``: the French descriptions) of a table and its columns from
    ``(catalog, schema, table)`` to another; ``CREATE TABLE … AS`` keeps none. Returns how many were copied."""
    cat, schema, table = source
    target_sql = ".".join(_q(p) for p in target)
    n = 0
    for (comment,) in con.execute(
            "SELECT comment FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [cat, schema, table]).fetchall():
        if comment:
            _run(con, f"COMMENT ON TABLE {target_sql} IS {_lit(comment)}")
            n += 1
    for column, comment in con.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
            "AND table_name = ? ORDER BY column_index", [cat, schema, table]).fetchall():
        if comment:
            _run(con, f"COMMENT ON COLUMN {target_sql}.{_q(column)} IS {_lit(comment)}")
            n += 1
    return n


def published_record_path(settings: Settings) -> Path:
    """``meta/published.json``: the version and sha256 of the published file, written just after each switch."""
    return settings.meta_dir / "published.json"


def _read_published_record(settings: Settings) -> dict:
    try:
        record = json.loads(published_record_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_published_record(settings: Settings, record: dict) -> None:
    dest = published_record_path(settings)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(tmp, dest)


def published_state(settings: Settings, history=None) -> tuple[str, str]:
    """Whether the published file is usable: ``("ok", …)``, ``("missing", …)`` (nothing published yet),
    ``("damaged", why)`` — it does not open, has no publication record, or its bytes differ from the sha256
    recorded when it was published (truncated, overwritten) — or ``("locked", why)``: another process holds
    it open read-write (it is intact on disk, but no writer can read it now)."""
    db = settings.published_db
    if not db.exists():
        return "missing", f"{db} does not exist (nothing published yet)"
    record = _read_published_record(settings) or None
    if record and record.get("sha256"):
        found = file_sha256(db)
        previous = record.get("previous") or {}
        if found != record["sha256"] and found == previous.get("sha256"):
            record = previous  # the switch recorded, not done (a crash in between): the previous file, sound
        elif found != record["sha256"]:
            return "damaged", (f"{db}: its bytes differ from the publication of {record.get('version')} (sha256 "
                               f"{record['sha256'][:12]}… recorded, {found[:12]}… found)")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as err:
        if "lock" in str(err).lower():
            return "locked", f"{db}: {str(err).splitlines()[0]}"
        return "damaged", f"{db} does not open: {str(err).splitlines()[0]}"
    try:
        version = con.execute("SELECT version FROM meta.publication").fetchall()[0][0]
    except (duckdb.Error, IndexError) as err:
        return "damaged", f"{db} has no readable publication record: {str(err).splitlines()[0][:200]}"
    finally:
        con.close()
    if record and record.get("version") and record["version"] != version:
        return "damaged", f"{db} holds version {version}, the last publication was {record['version']}"
    return "ok", f"{db}: version {version}"


def _write_rows(con: duckdb.DuckDBPyConnection, target: str, rows: list[dict]) -> None:
    if not rows:
        _run(con, f"CREATE TABLE {target} (empty BOOLEAN)")
        return
    columns = list(rows[0].keys())
    for row in rows[1:]:
        for k in row:
            if k not in columns:
                columns.append(k)
    data = {
        c: [
            None if r.get(c) is None else str(r.get(c)) if isinstance(r.get(c), (dict, list)) else r.get(c)
            for r in rows
        ]
        for c in columns
    }
    table = pa.table({c: pa.array(v) for c, v in data.items()})
    con.register("_meta_rows", table)
    try:
        _run(con, f"CREATE TABLE {target} AS SELECT * FROM _meta_rows")
    finally:
        con.unregister("_meta_rows")


def _switch_current(parquet_dir: Path, version: str) -> None:
    link = parquet_dir / "current"
    tmp_link = parquet_dir / f".current.{os.getpid()}.tmp"
    tmp_link.unlink(missing_ok=True)
    os.symlink(version, tmp_link)
    os.replace(tmp_link, link)
    _fsync_path(parquet_dir)


def _prune_parquet(parquet_dir: Path, keep: int) -> None:
    """Keep the ``keep`` latest version directories (and the current one) of ``warehouse/parquet/`` or
    ``warehouse/site/``; remove stale temporary entries."""
    current = os.readlink(parquet_dir / "current") if (parquet_dir / "current").is_symlink() else None
    versions = sorted(
        p for p in parquet_dir.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )
    for old in versions[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)
    for stale in parquet_dir.glob(".*.tmp"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)


def published_version(settings: Settings) -> str | None:
    """The version recorded in the published file (read-only open), or None."""
    if not settings.published_db.exists():
        return None
    con = duckdb.connect(str(settings.published_db), read_only=True)
    try:
        return con.execute("SELECT version FROM meta.publication").fetchall()[0][0]
    except duckdb.Error:
        return None
    finally:
        con.close()


RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")  # observatoire.history.new_run_id


def _published_run_ids(settings: Settings) -> set[str]:
    from observatoire.history import History

    if not settings.history_db.exists():
        return set()
    return {r["run_id"] for r in History(settings.history_db).query("SELECT run_id FROM runs WHERE published = 1")}


def recover(settings: Settings) -> list[str]:
    """After a crash: drop temporary files and make the Parquet ``current`` link agree with the published
    file. Called under the writer lock at the start of every writing command."""
    actions = []
    if settings.tmp_dir.exists():  # partial downloads of a killed run; an Airflow extract task may be
        import time  # downloading right now without the lock: only files older than a download's deadline

        older = max(float(settings.http_deadline or 0), 3600.0) + 60
        for partial in settings.tmp_dir.iterdir():
            if partial.is_file() and time.time() - partial.stat().st_mtime > older:
                partial.unlink(missing_ok=True)
                actions.append(f"removed partial download {partial.name}")
    wh = settings.warehouse_dir
    state, why = published_state(settings)
    if state in ("damaged", "locked"):
        actions.append(f"published warehouse {state}: {why}" + ("; this run rebuilds and publishes it again"
                                                                  if state == "damaged" else ""))
    if wh.exists():
        for stale in list(wh.glob(".observatoire.*.tmp")) + list(wh.glob(".observatoire.*.tmp.wal")):
            stale.unlink(missing_ok=True)
            actions.append(f"removed unfinished publication {stale.name}")
    version = published_version(settings) if state == "ok" else None
    for versions_dir in (settings.parquet_dir, site_dir(settings)):
        if versions_dir.exists() and state != "locked":
            actions += _recover_versions(settings, versions_dir, version)
    return actions


def _recover_versions(settings: Settings, versions_dir: Path, version: str | None) -> list[str]:
    """Make ``<versions_dir>/current`` (Parquet exports, static site) agree with the published ``version`` and
    remove the versions of runs that never published."""
    actions = []
    name = versions_dir.name
    link = versions_dir / "current"
    current = os.readlink(link) if link.is_symlink() else None
    if version and current != version and (versions_dir / version).is_dir():
        _switch_current(versions_dir, version)
        actions.append(f"{name}/current switched to {version} to match the published file")
    # a run killed between writing its version and replacing the published file: that version (a folder
    # named by its run id, later than the published one) was never published; a run id the history records as
    # published stays (an Airflow run's id is taken before the lock: a later id may publish first)
    unfinished = [f for f in versions_dir.iterdir() if version and f.is_dir() and not f.is_symlink()
                  and RUN_ID.fullmatch(f.name) and f.name > version]
    if unfinished:
        published = _published_run_ids(settings)
        for folder in unfinished:
            if folder.name not in published:
                shutil.rmtree(folder, ignore_errors=True)
                actions.append(f"removed unfinished publication {name}/{folder.name}")
    for stale in versions_dir.glob(".*.tmp"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    return actions
