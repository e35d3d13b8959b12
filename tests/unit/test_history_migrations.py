"""The run history (``meta/history.sqlite``) of a long-lived data directory gains the columns of later releases:
a schema version (``PRAGMA user_version``) and forward migrations, applied in order, all or none, when the
history is opened. The oldest layout in use is frozen here as it was written, never derived from today's."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from observatoire import history as history_module
from observatoire.history import MIGRATIONS, SCHEMA_VERSION, History, HistoryVersionError

# the layout of the first releases (2026-11): no url_key (the HTTP validators keyed by the full URL), no
# ruptures table, no partner files; user_version 0
OLDEST = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL,
    mode TEXT NOT NULL, perimetre TEXT, trigger TEXT, params TEXT, fingerprint TEXT,
    published INTEGER NOT NULL DEFAULT 0, summary TEXT, error TEXT, details_path TEXT);
CREATE TABLE steps (run_id TEXT NOT NULL, step TEXT NOT NULL, target TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
    started_at TEXT NOT NULL, ended_at TEXT, message TEXT, PRIMARY KEY (run_id, step, target));
CREATE TABLE manifest (source_id TEXT NOT NULL, millesime INTEGER NOT NULL, sha256 TEXT NOT NULL, url TEXT NOT NULL,
    url_origin TEXT, bytes INTEGER NOT NULL, etag TEXT, last_modified TEXT, content_type TEXT,
    fetched_at TEXT NOT NULL, last_seen_at TEXT NOT NULL, rows_parsed INTEGER, raw_path TEXT NOT NULL,
    parsed_path TEXT, status TEXT NOT NULL, validation TEXT, first_run_id TEXT, last_run_id TEXT,
    PRIMARY KEY (source_id, millesime, sha256));
CREATE TABLE validations (run_id TEXT NOT NULL, suite TEXT NOT NULL, target TEXT NOT NULL, success INTEGER NOT NULL,
    evaluated INTEGER, failed INTEGER, errors INTEGER, summary TEXT, details_path TEXT, created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, suite));
CREATE TABLE http_validators (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, sha256 TEXT,
    updated_at TEXT NOT NULL);
"""
# version 1 (2026-12-07, before the partner files' breaks): every table, partenaires_fichiers without rupture
PARTNERS_V1 = """
CREATE TABLE partenaires_fichiers (id INTEGER PRIMARY KEY AUTOINCREMENT, sha256 TEXT NOT NULL,
    indicateur TEXT NOT NULL, millesime INTEGER NOT NULL, partenaire TEXT NOT NULL, nom_fichier TEXT NOT NULL,
    format TEXT NOT NULL, bytes INTEGER NOT NULL, received_at TEXT NOT NULL, rows INTEGER NOT NULL,
    valeurs INTEGER NOT NULL, stored_path TEXT NOT NULL, values_path TEXT NOT NULL, status TEXT NOT NULL,
    replaced_at TEXT, replaced_by TEXT);
"""


def _layout(path) -> dict[str, list[str]]:
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: sorted(r[1] for r in con.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        con.close()


def _version(path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def current_layout(tmp_path):
    fresh = tmp_path / "fresh" / "history.sqlite"
    History(fresh)
    assert _version(fresh) == SCHEMA_VERSION == len(MIGRATIONS)  # created current: nothing to migrate
    return _layout(fresh)


def _oldest(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(OLDEST)
    con.execute("INSERT INTO runs (run_id, started_at, ended_at, status, mode, published, summary) "
                "VALUES ('r1', '2026-11-20T01:00:00+00:00', '2026-11-20T01:05:00+00:00', 'success', 'live', 1, '{}')")
    con.execute("INSERT INTO manifest (source_id, millesime, sha256, url, bytes, fetched_at, last_seen_at, raw_path, "
                "status, first_run_id, last_run_id) VALUES ('insee_pop_qpv', 2021, ?, "
                "'https://www.insee.fr/fr/statistiques/fichier/8210600/pop_QPV24.csv', 10, 't', 't', 'raw/x', "
                "'accepted', 'r1', 'r1')", ("a" * 64,))
    con.execute("INSERT INTO http_validators VALUES ('https://www.insee.fr/fr/statistiques/fichier/8210600/pop_QPV24.csv',"
                " '\"e1\"', NULL, ?, 't')", ("a" * 64,))
    con.commit()
    con.close()


def test_the_oldest_layout_in_use_is_brought_to_the_current_one(tmp_path, current_layout):
    path = tmp_path / "meta" / "history.sqlite"
    _oldest(path)
    assert _version(path) == 0
    history = History(path)
    assert _version(path) == SCHEMA_VERSION
    assert _layout(path) == current_layout  # every table and column of today's layout
    # the rows are kept and read by today's code
    assert history.get_run("r1")["status"] == "success"
    row = history.query("SELECT source_id, millesime, url_key, status FROM manifest")[0]
    assert (row["source_id"], row["millesime"], row["status"]) == ("insee_pop_qpv", 2021, "accepted")
    assert row["url_key"] is None  # learnt at the next fetch
    assert history.http_validators("https://www.insee.fr/fr/statistiques/fichier/8210600/pop_QPV24.csv")["etag"] == '"e1"'
    # opened again: nothing to do
    History(path)
    assert _version(path) == SCHEMA_VERSION and _layout(path) == current_layout


def test_a_version_1_history_gains_only_the_later_columns(tmp_path, current_layout, monkeypatch):
    path = tmp_path / "meta" / "history.sqlite"
    _oldest(path)
    con = sqlite3.connect(path)
    con.executescript(PARTNERS_V1)
    con.execute("INSERT INTO partenaires_fichiers (sha256, indicateur, millesime, partenaire, nom_fichier, format, "
                "bytes, received_at, rows, valeurs, stored_path, values_path, status) VALUES (?, 'nb_mediateurs', "
                "2024, 'Métropole', 'mediateurs.xlsx', 'xlsx', 100, 't', 66, 60, 'p/x', 'p/y', 'current')", ("c" * 64,))
    con.commit()
    con.close()
    History(path)  # version 1 first (as the release of that layout did)
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 1")
    con.execute("ALTER TABLE partenaires_fichiers DROP COLUMN rupture")
    con.commit()
    con.close()
    applied = []
    monkeypatch.setattr(history_module, "MIGRATIONS", tuple(
        (what, (lambda f, w: lambda c: (applied.append(w), f(c))[1])(fn, what)) for what, fn in MIGRATIONS))
    History(path)
    assert applied == [what for what, _fn in MIGRATIONS[1:]]  # only those after its version
    assert _version(path) == SCHEMA_VERSION and _layout(path) == current_layout
    con = sqlite3.connect(path)
    assert con.execute("SELECT indicateur, valeurs, rupture FROM partenaires_fichiers").fetchall() == [
        ("nb_mediateurs", 60, None)]
    con.close()


def test_a_failing_migration_leaves_the_history_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "meta" / "history.sqlite"
    _oldest(path)

    def broken(con):
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(history_module, "MIGRATIONS", (MIGRATIONS[0], ("broken", broken)))
    monkeypatch.setattr(history_module, "SCHEMA_VERSION", 2)
    with pytest.raises(sqlite3.OperationalError, match="simulated"):
        History(path)
    assert _version(path) == 0  # all or none: the first migration is rolled back too
    assert "url_key" not in _layout(path)["manifest"]
    monkeypatch.undo()
    History(path)
    assert _version(path) == SCHEMA_VERSION


def test_a_history_from_a_newer_release_is_refused_in_one_line(tmp_path, monkeypatch):
    data = tmp_path / "data"
    path = data / "meta" / "history.sqlite"
    History(path)
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(HistoryVersionError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        History(path)
    from observatoire.cli import main

    monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(data))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1, result.output
    assert "newer than this observatoire's" in result.output and "upgrade" in result.output
    assert "Traceback" not in result.output
    assert _version(path) == SCHEMA_VERSION + 1  # untouched
