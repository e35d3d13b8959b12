"""The published warehouse describes itself (demo run, read with plain duckdb as an analyst would): tables and
columns carry their French descriptions as comments, the catalogue says what each indicator is, every wide-mart
value has its statut and, when empty, its motif, mart_derniere_valeur answers « where are we now » for every QPV
× indicator, and dim_qpv_contour holds the map polygons."""

from __future__ import annotations

import duckdb
import pytest

N_QPV = 66


@pytest.fixture(scope="module")
def con(published_demo):
    c = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    yield c
    c.close()


def rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def mart_tables(con) -> list[str]:
    return [r[0] for r in rows(con, "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                                    "AND schema_name = 'main' ORDER BY table_name")]


def test_table_and_column_comments_are_french_descriptions(con):
    (comment,), = rows(con, "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = 'main' AND table_name = 'fct_indicateur_qpv'")
    assert comment and "une ligne par QPV" in comment
    (col,), = rows(con, "SELECT comment FROM duckdb_columns() WHERE database_name = current_database() "
                        "AND schema_name = 'main' AND table_name = 'fct_indicateur_qpv' AND column_name = 'statut'")
    assert col and "secret_statistique" in col


def test_no_mart_or_mart_column_without_a_comment(con):
    tables = mart_tables(con)
    assert {"mart_derniere_valeur", "dim_qpv_contour", "fct_indicateur_qpv", "mart_qpv_fiche"} <= set(tables)
    uncommented = rows(con, "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = 'main' AND coalesce(trim(comment), '') = ''")
    assert uncommented == []
    # the published file's own columns (DuckDB's system views, also in a schema « main », are not marts)
    uncommented = rows(con, "SELECT table_name, column_name FROM duckdb_columns() "
                            "WHERE database_name = current_database() AND schema_name = 'main' "
                            "AND coalesce(trim(comment), '') = ''")
    assert uncommented == []


def test_catalogue_says_what_each_indicator_is(con):
    n, = rows(con, "SELECT count(*) FROM dim_indicateur")[0]
    assert n >= 41
    missing = rows(con, "SELECT indicateur FROM dim_indicateur WHERE coalesce(trim(definition), '') = '' "
                        "OR coalesce(trim(date_reference), '') = '' OR decimales IS NULL "
                        "OR (type_source <> 'partner' AND coalesce(url_source, '') NOT LIKE 'https://%')")
    assert missing == []
    assert rows(con, "SELECT decimales FROM dim_indicateur WHERE indicateur = 'taux_pauvrete'") == [(1,)]
    types = dict(rows(con, "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
                           "current_database() AND table_name = 'dim_indicateur'"))
    assert types["decimales"] == "INTEGER" and types["definition"] == types["url_source"] == "VARCHAR"


def test_derniere_valeur_every_pair_with_a_statut_and_a_motif(con):
    n_ind, = rows(con, "SELECT count(*) FROM dim_indicateur")[0]
    assert rows(con, "SELECT count(*), count(DISTINCT (code_qpv, indicateur)) FROM mart_derniere_valeur") == [
        (N_QPV * n_ind, N_QPV * n_ind)]
    assert rows(con, "SELECT count(*) FROM mart_derniere_valeur WHERE statut IS NULL") == [(0,)]
    assert rows(con, "SELECT count(*) FROM mart_derniere_valeur WHERE valeur IS NULL "
                     "AND coalesce(trim(motif), '') = ''") == [(0,)]
    assert rows(con, "SELECT count(*) FROM mart_derniere_valeur WHERE (statut = 'disponible') <> "
                     "(valeur IS NOT NULL)") == [(0,)]


def test_derniere_valeur_is_the_fact_at_its_latest_available_millesime(con):
    # a pair with values over several millésimes, the latest of which is available
    code, ind = rows(con, """
        SELECT code_qpv, indicateur FROM fct_indicateur_qpv WHERE statut = 'disponible'
        GROUP BY code_qpv, indicateur HAVING count(*) >= 2
        ORDER BY indicateur = 'taux_pauvrete' DESC, code_qpv, indicateur LIMIT 1
    """)[0]
    latest, = rows(con, "SELECT max(millesime) FROM fct_indicateur_qpv WHERE code_qpv = ? AND indicateur = ? "
                        "AND statut = 'disponible'", [code, ind])[0]
    got = rows(con, "SELECT millesime, valeur, statut, millesime_reference, valeur_reference, evolution_reference, "
                    "valeur_commune, ecart_commune FROM mart_derniere_valeur WHERE code_qpv = ? AND indicateur = ?",
               [code, ind])
    fact = rows(con, "SELECT f.millesime, f.valeur, f.statut, f.millesime_reference, r.valeur, f.evolution_reference, "
                     "f.valeur_commune, f.ecart_commune FROM fct_indicateur_qpv AS f "
                     "LEFT JOIN fct_indicateur_qpv AS r ON r.code_qpv = f.code_qpv AND r.indicateur = f.indicateur "
                     "AND r.millesime = f.millesime_reference "
                     "WHERE f.code_qpv = ? AND f.indicateur = ? AND f.millesime = ?", [code, ind, latest])
    assert got == fact and got[0][2] == "disponible" and got[0][1] is not None
    # a later millésime whose value is withheld never hides the latest available one
    hidden = rows(con, """
        SELECT d.code_qpv, d.indicateur FROM mart_derniere_valeur AS d
        JOIN fct_indicateur_qpv AS f USING (code_qpv, indicateur)
        WHERE f.statut = 'disponible' AND (d.millesime IS NULL OR f.millesime > d.millesime OR d.valeur IS NULL)
    """)
    assert hidden == []


def test_every_wide_mart_value_has_its_statut_and_motif(con):
    wide = [t for t in mart_tables(con) if t.startswith("mart_defi_") or t == "mart_qpv_fiche"]
    assert len(wide) == 11
    checked = 0
    for table in wide:
        statuts = [r[0] for r in rows(con, "SELECT column_name FROM duckdb_columns() WHERE database_name = "
                                           "current_database() AND table_name = ? AND column_name LIKE '%\\_statut' "
                                           "ESCAPE '\\'", [table])]
        assert statuts, table
        for statut in statuts:
            ind = statut.removesuffix("_statut")
            bad = rows(con, f'SELECT count(*) FILTER (WHERE "{statut}" IS NULL), '
                            f'count(*) FILTER (WHERE "{ind}" IS NULL AND coalesce(trim("{ind}_motif"), \'\') = \'\'), '
                            f'count(*) FILTER (WHERE ("{statut}" = \'disponible\') <> ("{ind}" IS NOT NULL)), '
                            f'count(*) FROM "{table}"')
            assert bad[0][:3] == (0, 0, 0), (table, ind, bad)
            checked += bad[0][3]
    assert checked > 10_000


def test_contours_for_the_maps(con):
    shapely = pytest.importorskip("shapely")
    got = rows(con, "SELECT code_qpv, geometrie_wkb FROM dim_qpv_contour ORDER BY code_qpv")
    assert [r[0] for r in got] == [r[0] for r in rows(con, "SELECT code_qpv FROM dim_qpv ORDER BY code_qpv")]
    assert len(got) == N_QPV
    for code, wkb in got:
        geom = shapely.from_wkb(bytes(wkb))
        assert geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_empty, code
        xmin, ymin, xmax, ymax = geom.bounds  # WGS84 longitude / latitude: Provence
        assert 4.0 < xmin <= xmax < 6.5 and 43.0 < ymin <= ymax < 44.5, (code, geom.bounds)
