"""The optional PostgreSQL publish target, against a real PostgreSQL server (never mocked).

The server: ``OBSERVATOIRE_TEST_PG_DSN`` (a libpq string reaching a maintenance database as a role allowed to
create databases and roles), default ``host=127.0.0.1 port=5432 user=postgres dbname=postgres``. Each test
creates its own database ``obs_test_<random>`` and drops it after. On CI (``CI`` set) a server that cannot be
reached fails the tests; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

psycopg = pytest.importorskip("psycopg")

SERVER = os.environ.get("OBSERVATOIRE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def _admin():
    return psycopg.connect(SERVER, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        with _admin() as con:
            con.execute("SELECT 1")
    except psycopg.Error as err:
        why = f"PostgreSQL not reachable at {SERVER!r} (set OBSERVATOIRE_TEST_PG_DSN): {err}"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return SERVER


@pytest.fixture
def pg_db(pg_server) -> str:
    """A fresh database; its DSN. Dropped after the test."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"obs_test_{secrets.token_hex(4)}"
    with _admin() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(pg_server)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)
    finally:
        with _admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dsn_as(dsn: str, user: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    params["user"] = user
    params.pop("password", None)
    return make_conninfo(**params)


def _duck_counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for schema, table in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name IN ('main', 'meta')").fetchall():
            name = table if schema == "main" else f"meta_{table}"
            out[name] = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
        return out
    finally:
        con.close()


def _pg_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as con:
        views = [r[0] for r in con.execute(
            "SELECT viewname FROM pg_views WHERE schemaname = 'observatoire' ORDER BY 1").fetchall()]
        return {v: con.execute(f'SELECT count(*) FROM observatoire."{v}"').fetchone()[0] for v in views}


def _served(dsn: str) -> str | None:
    from observatoire.postgres import current_version

    return current_version(dsn)


def test_a_publication_appears_in_observatoire_with_counts_keys_and_comments(demo_copy, pg_db, monkeypatch):
    from observatoire.config import load_settings
    from observatoire.postgres import schema_for
    from observatoire.run import run
    from observatoire.status import render_status

    monkeypatch.setenv("OBSERVATOIRE_PG_DSN", pg_db)
    result = run(force=True)  # an empty database: the pipeline creates what it needs
    assert result.status == "published"
    pg = result.published["postgres"]
    assert pg["version"] == result.run_id and _served(pg_db) == result.run_id
    db = load_settings().published_db
    duck = _duck_counts(db)
    assert duck["fct_indicateur_qpv"] > 1000
    assert _pg_counts(pg_db) == duck == pg["tables"]
    schema = schema_for(result.run_id)
    assert schema == "observatoire_" + result.run_id.lower().replace("-", "_")
    con = duckdb.connect(str(db), read_only=True)
    table_comment = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'fct_indicateur_qpv' "
                                "AND schema_name = 'main'").fetchone()[0]
    column_comment = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'fct_indicateur_qpv' "
                                 "AND schema_name = 'main' AND column_name = 'code_qpv'").fetchone()[0]
    con.close()
    assert table_comment and column_comment
    with psycopg.connect(pg_db) as pgc:
        version = pgc.execute("SELECT version, mode FROM observatoire.meta_publication").fetchone()
        assert version == (result.run_id, "demo")
        for rel in (f"{schema}.fct_indicateur_qpv", "observatoire.fct_indicateur_qpv"):
            found = pgc.execute(
                "SELECT obj_description(c.oid, 'pg_class'), col_description(c.oid, a.attnum) FROM pg_class c "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'code_qpv' WHERE c.oid = %s::regclass",
                (rel,)).fetchone()
            assert found == (table_comment, column_comment), rel
        assert pgc.execute("SELECT count(*) FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
                           (schema,)).fetchone()[0] > 100
        pkey = pgc.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'p' "
                           "AND conrelid = %s::regclass", (f"{schema}.fct_indicateur_qpv",)).fetchone()[0]
        assert pkey == "PRIMARY KEY (code_qpv, indicateur, millesime)"
        types = dict(pgc.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                 "table_schema = %s AND table_name = 'fct_indicateur_qpv'", (schema,)).fetchall())
        assert types["valeur"] == "double precision" and types["millesime"] == "integer"
        assert types["rupture_serie"] == "boolean" and types["date_publication"] == "date"
        assert types["date_chargement"].startswith("timestamp")
        contour = dict(pgc.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                   "table_schema = %s AND table_name = 'dim_qpv_contour'", (schema,)).fetchall())
        assert "bytea" in contour.values()
    text = render_status(load_settings())
    assert f"PostgreSQL publication: {result.run_id}" in text and "DIVERGES" not in text


def test_a_failure_between_load_and_swap_keeps_the_previous_version(demo_copy, pg_db, monkeypatch):
    from observatoire import postgres
    from observatoire.config import load_settings
    from observatoire.errors import PipelineError
    from observatoire.run import run
    from observatoire.status import render_status
    from observatoire.warehouse import published_version

    monkeypatch.setenv("OBSERVATOIRE_PG_DSN", pg_db)
    first = run(force=True)
    assert _served(pg_db) == first.run_id
    before = _pg_counts(pg_db)

    original_swap = postgres.swap

    def broken_swap(*args, **kwargs):
        raise RuntimeError("injected failure between load and swap")

    monkeypatch.setattr(postgres, "swap", broken_swap)
    with pytest.raises(PipelineError) as err:
        run(force=True)
    assert err.value.stage == "publish_postgres"
    assert "injected failure between load and swap" in str(err.value)
    assert "PostgreSQL still serves its previous version" in str(err.value)
    settings = load_settings()
    second = err.value.run_id
    assert published_version(settings) == second != first.run_id  # the DuckDB publication stands
    assert _served(pg_db) == first.run_id and _pg_counts(pg_db) == before
    with psycopg.connect(pg_db) as con:  # the new version's schema is gone
        assert con.execute("SELECT to_regnamespace(%s)", (postgres.schema_for(second),)).fetchone()[0] is None
        assert con.execute("SELECT version FROM observatoire.meta_publication").fetchone()[0] == first.run_id
    text = render_status(settings)
    assert f"PostgreSQL publication: {first.run_id}" in text and "DIVERGES" in text and second in text
    assert "stage: publish_postgres" in text
    # repaired: the next run (inputs unchanged, nothing to rebuild) loads the DuckDB publication again
    monkeypatch.setattr(postgres, "swap", original_swap)
    again = run()
    assert again.status == "unchanged" and _served(pg_db) == second
    assert "DIVERGES" not in render_status(load_settings())


def test_the_command_line_run_exits_1_when_postgres_is_unreachable(demo_copy):
    bad = "host=127.0.0.1 port=1 user=postgres dbname=nowhere connect_timeout=2"
    proc = run_cli("run", "--force", "--plain", env={"OBSERVATOIRE_PG_DSN": bad})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "RUN FAILED at stage publish_postgres" in out and "the DuckDB warehouse was published" in out
    assert "Traceback" not in out
    status = run_cli("status", env={"OBSERVATOIRE_PG_DSN": bad})
    assert status.returncode == 0 and "PostgreSQL publication: UNREACHABLE" in status.stdout, status.stdout


def _second_file(published: Path, dest: Path, version: str, *, one_row_less: bool = True) -> Path:
    """A copy of a publication with another version and one fact row less (to tell them apart)."""
    shutil.copy(published, dest)
    con = duckdb.connect(str(dest))
    con.execute("UPDATE meta.publication SET version = ?", [version])
    if one_row_less:
        con.execute("DELETE FROM main.fct_indicateur_qpv WHERE rowid = "
                    "(SELECT min(rowid) FROM main.fct_indicateur_qpv)")
    con.close()
    return dest


def test_a_reader_in_repeatable_read_keeps_the_old_version_until_it_commits(published_demo, pg_db, tmp_path):
    from observatoire.postgres import publish_file

    db = _second_file(published_demo / "warehouse" / "observatoire.duckdb", tmp_path / "v1.duckdb",
                      "20260101T000000Z-aaaaaa", one_row_less=False)
    v1 = publish_file(pg_db, db, "20260101T000000Z-aaaaaa", retention=3, swap_timeout=60)["version"]
    newer = _second_file(db, tmp_path / "v2.duckdb", "20260102T000000Z-bbbbbb")
    with psycopg.connect(pg_db) as reader:
        reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with reader.transaction():
            assert reader.execute("SELECT version FROM observatoire.meta_publication").fetchone()[0] == v1
            old_count = reader.execute("SELECT count(*) FROM observatoire.fct_indicateur_qpv").fetchone()[0]
            outcome: dict = {}
            worker = threading.Thread(target=lambda: outcome.update(publish_file(
                pg_db, newer, "20260102T000000Z-bbbbbb", retention=3, swap_timeout=120)))
            worker.start()
            with psycopg.connect(pg_db, autocommit=True) as watcher:  # the new version loaded, its swap waiting
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not watcher.execute(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted "
                        "AND a.application_name = 'observatoire'").fetchone()[0]:
                    time.sleep(0.1)
            time.sleep(0.5)
            assert worker.is_alive()
            assert reader.execute("SELECT version FROM observatoire.meta_publication").fetchone()[0] == v1
            assert reader.execute("SELECT count(*) FROM observatoire.fct_indicateur_qpv").fetchone()[0] == old_count
        worker.join(60)
        assert not worker.is_alive() and outcome["version"] == "20260102T000000Z-bbbbbb"
        assert reader.execute("SELECT version FROM observatoire.meta_publication").fetchone()[0] == outcome["version"]
        assert reader.execute("SELECT count(*) FROM observatoire.fct_indicateur_qpv").fetchone()[0] == old_count - 1
        reader.rollback()


def test_the_analyst_role_reads_the_stable_schema_only_and_init_is_idempotent(published_demo, pg_db, tmp_path):
    """The pipeline runs as its own role (not a superuser): it owns the versions and the views; an analyst granted
    observatoire_lecture reads the views (with the view owner's rights) and nothing else."""
    from observatoire.postgres import current_version, publish_file, schema_for

    pipeline_role = f"obs_pipeline_{secrets.token_hex(4)}"
    analyst = f"obs_analyst_{secrets.token_hex(4)}"
    with psycopg.connect(pg_db, autocommit=True) as con:
        dbname = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f'CREATE ROLE "{pipeline_role}" LOGIN CREATEROLE')
        con.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO "{pipeline_role}"')
    dsn = _dsn_as(pg_db, pipeline_role)
    try:
        env = {"OBSERVATOIRE_PG_DSN": dsn}
        first = run_cli("postgres", "init", env=env)  # before any publication
        assert first.returncode == 0 and "observatoire_lecture" in first.stdout, first.stdout + first.stderr
        db = _second_file(published_demo / "warehouse" / "observatoire.duckdb", tmp_path / "v1.duckdb",
                          "20260101T000000Z-aaaaaa", one_row_less=False)
        publish_file(dsn, db, "20260101T000000Z-aaaaaa", retention=1, swap_timeout=60)
        again = run_cli("postgres", "init", env=env)  # after one, twice: idempotent
        assert again.returncode == 0, again.stdout + again.stderr
        publish_file(dsn, _second_file(db, tmp_path / "v2.duckdb", "20260102T000000Z-bbbbbb"),
                     "20260102T000000Z-bbbbbb", retention=1, swap_timeout=60)
        assert current_version(dsn) == "20260102T000000Z-bbbbbb"
        with psycopg.connect(pg_db, autocommit=True) as con:
            # retention 1: only the served version is kept; the pipeline's role owns the views
            assert con.execute("SELECT to_regnamespace(%s)",
                               (schema_for("20260101T000000Z-aaaaaa"),)).fetchone()[0] is None
            assert {r[0] for r in con.execute("SELECT viewowner FROM pg_views WHERE schemaname = 'observatoire'")
                    } == {pipeline_role}
            con.execute(f'CREATE ROLE "{analyst}" LOGIN IN ROLE observatoire_lecture')
        with psycopg.connect(_dsn_as(pg_db, analyst), autocommit=True) as con:
            assert con.execute("SELECT count(*) FROM observatoire.fct_indicateur_qpv").fetchone()[0] > 1000
            assert con.execute("SELECT version FROM observatoire.meta_publication").fetchone()[0] == \
                "20260102T000000Z-bbbbbb"
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute("INSERT INTO observatoire.dim_defi SELECT * FROM observatoire.dim_defi LIMIT 1")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute("DELETE FROM observatoire.dim_defi")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(f'SELECT count(*) FROM "{schema_for("20260102T000000Z-bbbbbb")}".fct_indicateur_qpv')
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute("SELECT * FROM observatoire_admin.versions")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute("CREATE TABLE observatoire.intrus (x int)")
    finally:
        with _admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            con.execute(f'DROP ROLE IF EXISTS "{analyst}"')
            con.execute(f'DROP ROLE IF EXISTS "{pipeline_role}"')


def test_the_checksum_tells_a_missing_row_from_a_different_summation_order():
    from observatoire.postgres import _differing_terms, _profile_sql

    sql, kinds = _profile_sql('"t"', [("valeur", "double precision"), ("code_qpv", "text")], "pg")
    assert kinds == ["exact", "exact", "sum", "sumabs", "exact", "exact"]
    assert "sum(abs(CAST(\"valeur\" AS DOUBLE PRECISION)))" in sql and "octet_length(\"code_qpv\")" in sql
    expected = (3, 3, 1e-12, 3e6, 3, 24)
    assert _differing_terms(expected, (3, 3, 2.5e-8, 3e6, 3, 24), kinds) == []  # rounding of a cancelling sum
    assert _differing_terms(expected, (2, 2, -1e6, 2e6, 2, 16), kinds) == [0, 1, 2, 3, 4, 5]
    assert _differing_terms(expected, (3, 3, 1e-12, 3e6, 3, 25), kinds) == [5]  # one byte of text changed
