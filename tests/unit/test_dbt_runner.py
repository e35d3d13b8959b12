"""dbt's parse cache is shared by the data directories of a checkout (a new data directory does not pay a
full parse of the project), and the profile is the same for every data directory."""

from __future__ import annotations

from observatoire import dbt_runner
from observatoire.config import load_settings


def test_a_new_data_directory_starts_from_the_shared_parse_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(dbt_runner, "SHARED_PARSE_CACHE", tmp_path / "checkout" / "target" / "parse_cache")
    shared = dbt_runner.shared_parse_cache({"perimetre": "epci:200054807"})
    # one cache per set of vars: another perimeter keeps its own
    assert dbt_runner.shared_parse_cache({"perimetre": "france"}) != shared
    assert dbt_runner.shared_parse_cache({"perimetre": "epci:200054807"}) == shared
    first, second = tmp_path / "a" / "target", tmp_path / "b" / "target"

    dbt_runner._seed_parse_cache(first, shared)  # nothing shared yet: dbt parses in full
    assert not (first / "partial_parse.msgpack").exists()
    first.mkdir(parents=True)
    (first / "partial_parse.msgpack").write_bytes(b"parse of run a")
    dbt_runner._save_parse_cache(first, shared)
    assert shared.read_bytes() == b"parse of run a"
    assert not list(shared.parent.glob("*.tmp"))

    dbt_runner._seed_parse_cache(second, shared)
    assert (second / "partial_parse.msgpack").read_bytes() == b"parse of run a"
    # a data directory keeps its own parse: the shared copy never overwrites it
    (second / "partial_parse.msgpack").write_bytes(b"parse of run b")
    dbt_runner._seed_parse_cache(second, shared)
    assert (second / "partial_parse.msgpack").read_bytes() == b"parse of run b"


def test_the_profile_does_not_depend_on_the_data_directory(tmp_path, monkeypatch):
    """dbt hashes the profile (the warehouse path included) to decide whether its parse cache is valid."""
    envs = []
    for name in ("one", "two"):
        monkeypatch.setenv("OBSERVATOIRE_DATA_DIR", str(tmp_path / name))
        settings = load_settings()
        envs.append(dbt_runner.dbt_env(settings)["OBSERVATOIRE_BUILD_DB"])
        assert (settings.build_db.parent / envs[-1]) == settings.build_db
    assert envs[0] == envs[1]


def test_a_read_only_checkout_only_loses_the_cache(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    shared = blocked / "target" / "cache.msgpack"
    target = tmp_path / "t"
    target.mkdir()
    (target / "partial_parse.msgpack").write_bytes(b"x")
    dbt_runner._save_parse_cache(target, shared)  # no error
    dbt_runner._seed_parse_cache(tmp_path / "u", shared)
    assert not (tmp_path / "u" / "partial_parse.msgpack").exists()


def test_failing_rows_are_read_again_and_clipped(tmp_path):
    import duckdb

    from observatoire.config import load_settings
    from observatoire.dbt_runner import failing_rows

    settings = load_settings({"OBSERVATOIRE_DATA_DIR": str(tmp_path / "data")})
    settings.build_db.parent.mkdir(parents=True)
    con = duckdb.connect(str(settings.build_db))
    con.execute("CREATE TABLE t AS SELECT 'QN01306M' AS code_qpv, repeat('x', 500) AS geometrie, 1.5::DOUBLE AS valeur "
                "UNION ALL SELECT 'QN01307M', 'court', NULL")
    con.close()
    sql = "-- rows outside the range\nselect * from \"build\".\"main\".\"t\" order by code_qpv -- trailing comment"
    rows = failing_rows(settings, sql, limit=5)
    assert rows[1] == "code_qpv='QN01307M', geometrie='court', valeur=None"
    assert rows[0].startswith("code_qpv='QN01306M', geometrie='xxx") and "…" in rows[0] and len(rows[0]) < 140
    assert failing_rows(settings, None) == []
    assert failing_rows(settings, "select * from nowhere")[0].startswith("(the failing rows could not be read again")
