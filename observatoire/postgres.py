"""The optional PostgreSQL publish target (``OBSERVATOIRE_PG_DSN``, a libpq connection string).

Each publication of the DuckDB file is also loaded into PostgreSQL with the same write-audit-publish promise:

* **write**: every table of the published file (schema ``main``: marts and référentiel; schema ``meta``,
  loaded as ``meta_<table>``) is copied into a fresh schema ``observatoire_<version>`` with ``COPY`` (psycopg 3,
  never row-by-row inserts), types mapped (VARCHAR→text, DOUBLE→double precision, INTEGER/BIGINT,
  BOOLEAN, DATE, TIMESTAMP, BLOB→bytea…), the French table and column comments copied (``COMMENT ON``), a
  primary key on (``code_qpv``, ``indicateur``, ``millesime``) — those of them the table has — when unique,
  an index otherwise;
* **audit**: per table, the row count and a checksum computed identically from DuckDB and from PostgreSQL
  (:func:`_profile_sql`: per column the non-null count, the sum of numbers (within 1e-9 of the sum of their absolute values:
  doubles are summed in another order on each side) and of their absolute values, the total bytes of texts and
  binaries, the count of true booleans, the min and max of dates and timestamps) must be equal;
* **publish**: in ONE transaction, the views ``observatoire.<table>`` are recreated on the new version's
  tables. Views (not a schema rename): PostgreSQL resolves names with the latest catalog, so after a rename a
  reader's REPEATABLE READ transaction would see the new, empty-for-its-snapshot tables; a view it has read is
  locked until its transaction ends, so the swap waits (retrying with a short ``lock_timeout`` up to
  ``OBSERVATOIRE_PG_SWAP_TIMEOUT`` seconds, never queueing the other readers behind it) and the reader keeps
  reading the old version, then sees the new one. The views are owned by the pipeline's role: an analyst
  granted ``observatoire_lecture`` reads them with no privilege on the versions' schemas.

The mapping version → schema, and which one is served, is in ``observatoire_admin.versions`` (pipeline
only). Versions beyond ``OBSERVATOIRE_RETENTION`` are dropped after the swap.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

STABLE = "observatoire"
ADMIN = "observatoire_admin"
ROLE = "observatoire_lecture"
KEY_COLUMNS = ("code_qpv", "indicateur", "millesime")
DSN_VAR = "OBSERVATOIRE_PG_DSN"


class PostgresError(RuntimeError):
    """The PostgreSQL publication failed; the previous version is still served."""


def pg_dsn() -> str | None:
    """The settings' ``OBSERVATOIRE_PG_DSN`` (None: PostgreSQL is not a publish target)."""
    from observatoire.config import current_settings

    return current_settings().pg_dsn


def describe_dsn(dsn: str) -> str:
    """The DSN without any password (for messages)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - a malformed DSN: say nothing of it
        return "(unparsable DSN)"
    return " ".join(f"{k}={v}" for k, v in parts.items() if k not in ("password",))


def schema_for(version: str) -> str:
    """``observatoire_<version>`` as a safe lowercase identifier: ``20261207T065102Z-ad119d`` →
    ``observatoire_20261207t065102z_ad119d`` (at most 63 characters)."""
    safe = re.sub(r"[^a-z0-9]+", "_", version.lower()).strip("_")
    if not safe:
        raise ValueError(f"version {version!r} gives no identifier")
    return f"{STABLE}_{safe}"[:63]


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def pg_type(duck_type: str) -> str | None:
    """The PostgreSQL type of a DuckDB column type; None: loaded as text (DuckDB casts it to VARCHAR)."""
    t = duck_type.upper()
    simple = {"VARCHAR": "text", "DOUBLE": "double precision", "FLOAT": "real", "INTEGER": "integer",
              "BIGINT": "bigint", "SMALLINT": "smallint", "TINYINT": "smallint", "UTINYINT": "smallint",
              "USMALLINT": "integer", "UINTEGER": "bigint", "UBIGINT": "numeric", "HUGEINT": "numeric",
              "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp", "TIMESTAMP_NS": "timestamp",
              "TIMESTAMP WITH TIME ZONE": "timestamptz", "BLOB": "bytea", "UUID": "uuid", "TIME": "time",
              "INTERVAL": "interval", "JSON": "jsonb"}
    if t in simple:
        return simple[t]
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if m:
        return f"numeric({m.group(1)},{m.group(2)})"
    return None


def _kind(pg: str) -> str:
    if pg in ("double precision", "real", "integer", "bigint", "smallint") or pg.startswith("numeric"):
        return "number"
    if pg in ("text", "bytea"):
        return "bytes"
    if pg == "boolean":
        return "bool"
    if pg in ("date", "timestamp", "timestamptz"):
        return "minmax"
    return "count"


def _profile_sql(table_sql: str, columns: list[tuple[str, str]], engine: str) -> tuple[str, list[str]]:
    """One row: count(*) then, per column, the aggregates of its kind (the same on both engines); and the kind
    of each term: ``exact``, ``sum`` (of doubles: summed in another order on each side, so compared within
    1e-9 of the sum of absolute values, the next term ``sumabs``) or ``sumabs``."""
    parts, kinds = ["count(*)"], ["exact"]
    for name, pg in columns:
        c = _q(name)
        kind = _kind(pg)
        parts.append(f"count({c})")
        kinds.append("exact")
        if kind == "number":
            double = "DOUBLE PRECISION" if engine == "pg" else "DOUBLE"
            parts += [f"sum(CAST({c} AS {double}))", f"sum(abs(CAST({c} AS {double})))"]
            kinds += ["sum", "sumabs"]
        elif kind == "bytes":
            if pg == "bytea" or engine == "pg":
                parts.append(f"sum(octet_length({c}))")
            else:
                parts.append(f"sum(strlen({c}))")
            kinds.append("exact")
        elif kind == "bool":
            parts.append(f"sum(CASE WHEN {c} THEN 1 ELSE 0 END)")
            kinds.append("exact")
        elif kind == "minmax":
            parts += [f"min({c})", f"max({c})"]
            kinds += ["exact", "exact"]
    return f"SELECT {', '.join(parts)} FROM {table_sql}", kinds


def _same(a, b, tolerance: float = 0.0) -> bool:
    if isinstance(a, (float, Decimal)) or isinstance(b, (float, Decimal)):
        if a is None or b is None:
            return a is b
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=max(tolerance, 1e-9))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None) if (a.tzinfo is None) != (b.tzinfo is None) \
            else a == b
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)):
        return int(a) == int(b)
    if isinstance(a, date) and isinstance(b, date):
        return a == b
    return a == b


def _differing_terms(expected, found, kinds: list[str]) -> list[int]:
    """The positions where the two profiles differ (a sum within 1e-9 of its sum of absolute values)."""
    if len(expected) != len(found):
        return [-1]
    out = []
    for i, (a, b) in enumerate(zip(expected, found, strict=True)):
        tolerance = 0.0
        if kinds[i] == "sum" and expected[i + 1] is not None and not math.isnan(float(expected[i + 1])):
            tolerance = 1e-9 * abs(float(expected[i + 1]))
        if not _same(a, b, tolerance):
            out.append(i)
    return out


def read_source_tables(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The tables of the published file to load: ``main.*`` under their name, ``meta.*`` as ``meta_<name>``."""
    db = con.execute("SELECT current_database()").fetchone()[0]
    out = []
    for schema, table, comment in con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = ? "
            "AND schema_name IN ('main', 'meta') ORDER BY schema_name, table_name", [db]).fetchall():
        cols = []
        for name, dtype, ccomment in con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE database_name = ? "
                "AND schema_name = ? AND table_name = ? ORDER BY column_index", [db, schema, table]).fetchall():
            pg = pg_type(dtype)
            cols.append({"name": name, "duck": dtype, "pg": pg or "text", "cast": pg is None, "comment": ccomment})
        out.append({"source": f"{_q(schema)}.{_q(table)}", "name": table if schema == "main" else f"meta_{table}",
                    "comment": comment, "columns": cols})
    return out


def connect(dsn: str, **kw):
    import psycopg

    params = {"connect_timeout": 10, "application_name": "observatoire"}
    params.update(kw)
    return psycopg.connect(dsn, **params)


def _ensure_admin(cur) -> None:
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {ADMIN}")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {ADMIN}.versions (version text PRIMARY KEY, schema_name text NOT NULL, "
                "loaded_at timestamptz NOT NULL DEFAULT now(), published_at timestamptz, tables jsonb, "
                "current boolean NOT NULL DEFAULT false)")


def current_version(dsn: str) -> str | None:
    """The version served behind ``observatoire`` (None: nothing published there yet)."""
    with connect(dsn) as con, con.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f"{ADMIN}.versions",))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT version FROM {ADMIN}.versions WHERE current")
        row = cur.fetchone()
        return row[0] if row else None


def publish_file(dsn: str, db_path: Path, version: str, *, retention: int | None = None,
                 swap_timeout: float | None = None) -> dict:
    """Load the DuckDB file ``db_path`` (a publication) into ``observatoire_<version>``, check it, swap the
    views of ``observatoire`` onto it in one transaction, drop versions beyond the retention. Raises
    :class:`PostgresError` (the previous version still served) on any failure."""
    from observatoire.config import current_settings

    retention = retention or current_settings().retention
    swap_timeout = current_settings().pg_swap_timeout if swap_timeout is None else swap_timeout
    schema = schema_for(version)
    started = time.monotonic()
    try:
        con = connect(dsn)
    except Exception as err:  # noqa: BLE001
        raise PostgresError(f"cannot connect to PostgreSQL ({describe_dsn(dsn)}): {str(err).strip()}") from err
    try:
        tables = _load(con, db_path, version, schema)
        loaded = time.monotonic() - started
        swap(con, version, schema, tables, swap_timeout)
        dropped = _prune(con, retention)
    except PostgresError:
        _drop_unserved(con, schema)
        raise
    except Exception as err:  # noqa: BLE001 - any failure: the previous version stays, the new one goes
        _drop_unserved(con, schema)
        raise PostgresError(f"loading version {version} into PostgreSQL failed, the previous version is still "
                            f"served: {err.__class__.__name__}: {str(err).strip()}") from err
    finally:
        con.close()
    return {"version": version, "schema": schema, "tables": tables, "load_seconds": round(loaded, 2),
            "seconds": round(time.monotonic() - started, 2), "dropped": dropped, "dsn": describe_dsn(dsn)}


def _comment(cur, what: str, text: str) -> None:
    """``COMMENT ON <what> IS '<text>'`` (COMMENT takes no bind parameter: a quoted literal)."""
    from psycopg import sql

    cur.execute(sql.SQL("COMMENT ON {} IS {}").format(sql.SQL(what), sql.Literal(text)))


def _drop_unserved(con, schema: str) -> None:
    """Remove a version's schema unless it is the one served (a failed load or swap)."""
    try:
        con.rollback()
        with con.transaction(), con.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (f"{ADMIN}.versions",))
            if cur.fetchone()[0] is not None:
                cur.execute(f"SELECT 1 FROM {ADMIN}.versions WHERE schema_name = %s AND current", (schema,))
                if cur.fetchone():
                    return
                cur.execute(f"DELETE FROM {ADMIN}.versions WHERE schema_name = %s", (schema,))
            cur.execute(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")
    except Exception as err:  # noqa: BLE001 - a broken connection: the next run drops it (retention)
        log.warning("could not drop the unfinished PostgreSQL schema %s: %s", schema, err)


def _load(con, db_path: Path, version: str, schema: str) -> dict[str, int]:
    duck = duckdb.connect(str(db_path), read_only=True)
    counts: dict[str, int] = {}
    try:
        sources = read_source_tables(duck)
        with con.transaction(), con.cursor() as cur:
            _ensure_admin(cur)
            cur.execute(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")  # a leftover of an interrupted load
            cur.execute(f"DELETE FROM {ADMIN}.versions WHERE version = %s AND NOT current", (version,))
            cur.execute(f"CREATE SCHEMA {_q(schema)}")
            _comment(cur, f"SCHEMA {_q(schema)}", f"observatoire: publication {version}")
            for t in sources:
                target = f"{_q(schema)}.{_q(t['name'])}"
                cols = t["columns"]
                cur.execute(f"CREATE TABLE {target} ("
                            + ", ".join(f"{_q(c['name'])} {c['pg']}" for c in cols) + ")")
                select = ", ".join(f"CAST({_q(c['name'])} AS VARCHAR)" if c["cast"] else _q(c["name"])
                                   for c in cols)
                result = duck.execute(f"SELECT {select} FROM {t['source']}")
                n = 0
                with cur.copy(f"COPY {target} ({', '.join(_q(c['name']) for c in cols)}) FROM STDIN") as copy:
                    while True:
                        batch = result.fetchmany(10_000)
                        if not batch:
                            break
                        for row in batch:
                            copy.write_row(row)
                        n += len(batch)
                counts[t["name"]] = n
                _check(duck, cur, t, target)
                _keys(cur, schema, t)
                cur.execute(f"ANALYZE {target}")  # planner statistics of the new table
                if t["comment"]:
                    _comment(cur, f"TABLE {target}", t["comment"])
                for c in cols:
                    if c["comment"]:
                        _comment(cur, f"COLUMN {target}.{_q(c['name'])}", c["comment"])
    finally:
        duck.close()
    return counts


def _check(duck, cur, t: dict, target: str) -> None:
    """Row count and checksum of the loaded table equal to the DuckDB table's (``_profile_sql``)."""
    columns = [(c["name"], c["pg"]) for c in t["columns"]]
    sql, kinds = _profile_sql(t["source"], columns, "duckdb")
    expected = duck.execute(sql).fetchone()
    cur.execute(_profile_sql(target, columns, "pg")[0])
    found = cur.fetchone()
    diff = _differing_terms(expected, found, kinds)
    if diff:
        raise PostgresError(f"table {t['name']}: loaded rows differ from the DuckDB publication (rows "
                            f"{found[0]} loaded, {expected[0]} expected; checksum terms {diff[:5]} differ)")


def _keys(cur, schema: str, t: dict) -> None:
    names = [c["name"] for c in t["columns"]]
    key = [k for k in KEY_COLUMNS if k in names]
    if not key:
        return
    target = f"{_q(schema)}.{_q(t['name'])}"
    cols = ", ".join(_q(k) for k in key)
    nulls = " OR ".join(f"{_q(k)} IS NULL" for k in key)
    cur.execute(f"SELECT count(*) = count(DISTINCT ({cols})) AND NOT bool_or({nulls}) FROM {target}")
    unique = cur.fetchone()[0]
    if unique or unique is None:  # None: an empty table
        cur.execute(f"ALTER TABLE {target} ADD PRIMARY KEY ({cols})")
    else:
        cur.execute(f"CREATE INDEX ON {target} ({cols})")


def swap(con, version: str, schema: str, tables: dict[str, int], timeout: float) -> None:
    """In ONE transaction: the views ``observatoire.<table>`` on the new version's tables (those of a table the
    new version lacks dropped), the version marked current, SELECT re-granted to ``observatoire_lecture``.
    A reader's open transaction on a view makes the swap wait: it retries with a short ``lock_timeout`` so the
    other readers are never queued behind it, up to ``timeout`` seconds."""
    import json

    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with con.transaction(), con.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '2s'")
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {STABLE}")
                cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = %s AND c.relkind = 'v'", (STABLE,))
                for (old,) in cur.fetchall():
                    cur.execute(f"DROP VIEW {_q(STABLE)}.{_q(old)}")
                for name in tables:
                    view = f"{_q(STABLE)}.{_q(name)}"
                    cur.execute(f"CREATE VIEW {view} AS SELECT * FROM {_q(schema)}.{_q(name)}")
                    cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (f"{schema}.{name}",))
                    comment = cur.fetchone()[0]
                    if comment:
                        _comment(cur, f"VIEW {view}", comment)
                    cur.execute("SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
                                "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
                                (f"{schema}.{name}",))
                    for col, ccomment in cur.fetchall():
                        if ccomment:
                            _comment(cur, f"COLUMN {view}.{_q(col)}", ccomment)
                cur.execute(f"UPDATE {ADMIN}.versions SET current = false WHERE current")
                cur.execute(f"INSERT INTO {ADMIN}.versions (version, schema_name, published_at, tables, current) "
                            "VALUES (%s, %s, now(), %s, true) ON CONFLICT (version) DO UPDATE SET "
                            "schema_name = EXCLUDED.schema_name, published_at = now(), tables = EXCLUDED.tables, "
                            "current = true", (version, schema, json.dumps(tables)))
                _grant(cur)
            return
        except psycopg.errors.LockNotAvailable:
            if time.monotonic() > deadline:
                raise PostgresError(f"the swap to version {version} waited {timeout:.0f} s for readers' open "
                                    "transactions on the views of schema observatoire "
                                    "(OBSERVATOIRE_PG_SWAP_TIMEOUT); the previous version is still served") from None
            time.sleep(0.2)


def _grant(cur) -> None:
    """SELECT on the stable schema's views to ``observatoire_lecture``, if the role exists (``postgres init``)."""
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
    if cur.fetchone():
        cur.execute(f"GRANT USAGE ON SCHEMA {_q(STABLE)} TO {_q(ROLE)}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {_q(STABLE)} TO {_q(ROLE)}")


def _prune(con, retention: int) -> list[str]:
    """Drop the versions beyond the ``retention`` latest (never the served one). A version a reader still
    holds is kept for the next run (short lock timeout)."""
    dropped = []
    with con.cursor() as cur:
        cur.execute(f"SELECT version, schema_name FROM {ADMIN}.versions WHERE NOT current "
                    "ORDER BY published_at DESC NULLS LAST, version DESC")
        old = cur.fetchall()[max(retention - 1, 0):]
    con.commit()
    for version, schema in old:
        try:
            with con.transaction(), con.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '2s'")
                cur.execute(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")
                cur.execute(f"DELETE FROM {ADMIN}.versions WHERE version = %s", (version,))
            dropped.append(version)
        except Exception as err:  # noqa: BLE001 - kept for the next run
            log.warning("old PostgreSQL version %s not dropped yet: %s", schema, err)
    return dropped


def init(dsn: str) -> list[str]:
    """``observatoire postgres init``: idempotent. The NOLOGIN role ``observatoire_lecture``, the schema
    ``observatoire``, USAGE + SELECT on it (and on the views created later: default privileges for the role
    running this, re-granted at each swap otherwise). Never grants anything on the versions' schemas."""
    done = []
    with connect(dsn) as con, con.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
        if not cur.fetchone():
            cur.execute(f"DO $$ BEGIN CREATE ROLE {_q(ROLE)} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; "
                        "END $$")
            done.append(f"role {ROLE} created (NOLOGIN)")
        else:
            done.append(f"role {ROLE} exists")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(STABLE)}")
        cur.execute(f"REVOKE ALL ON SCHEMA {_q(STABLE)} FROM PUBLIC")
        cur.execute(f"GRANT USAGE ON SCHEMA {_q(STABLE)} TO {_q(ROLE)}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {_q(STABLE)} TO {_q(ROLE)}")
        cur.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {_q(STABLE)} GRANT SELECT ON TABLES TO {_q(ROLE)}")
        done.append(f"schema {STABLE}: USAGE and SELECT granted to {ROLE} (and on the views of later publications)")
        cur.execute("SELECT current_database()")
        dbname = cur.fetchone()[0]
        cur.execute(f"REVOKE CREATE ON SCHEMA public FROM {_q(ROLE)}")
        done.append(f"grant it to an analyst: CREATE ROLE alice LOGIN PASSWORD '…' IN ROLE {ROLE}; "
                    f"GRANT CONNECT ON DATABASE {_q(dbname)} TO alice")
    return done
