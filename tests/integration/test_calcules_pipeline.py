"""The computed baromètres wired end to end (issue 20): the demo publishes transport access, everyday services,
green space (with their commune and perimeter comparators) and the abstention gap (one election per millésime,
every election in mart_abstention_elections); a bad grid, GTFS, Overpass answer or election file is refused by
its gate with a clear message, nothing published."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import duckdb
import pytest

from observatoire.config import load_settings
from observatoire.errors import PipelineError
from observatoire.run import run
from tests.conftest import RECORDINGS, apply_env, sha256_of

pytestmark = pytest.mark.slow

GTFS = RECORDINGS / "gtfs_amp" / "2025" / "gtfs_rtm.zip"
GRID = RECORDINGS / "insee_filosofi_carreaux" / "2019" / "Filosofi2019_carreaux_200m_csv.zip"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "calcules"
LEGI_2024 = RECORDINGS / "mi_resultats_bv_legi_t1" / "2024" / "resultats-definitifs-par-bureau-de-vote-tour1.csv"


def test_demo_publishes_transport_access_with_comparators(published_demo):
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    n, with_comparators = con.execute(
        "select count(*), count(*) filter (where valeur_commune is not null and valeur_perimetre is not null) "
        "from fct_indicateur_qpv where indicateur = 'part_pop_arret_tc_300m' and statut = 'disponible' "
        "and valeur between 0 and 100").fetchone()
    assert n >= 33 and with_comparators >= 33, (n, with_comparators)
    # withheld QPV (grid population too far from the census) carry the French motif, never an empty one
    motifs = con.execute("select motif from fct_indicateur_qpv where indicateur = 'part_pop_arret_tc_300m' "
                         "and statut <> 'disponible'").fetchall()
    assert all(m and "population carroyée" in m for (m,) in motifs), motifs
    mart = con.execute("select count(part_pop_arret_tc_300m), count(part_pop_arret_tc_300m_valeur_commune) "
                       "from mart_defi_transition_ecologique").fetchone()
    assert mart[0] >= 33 and mart[1] >= 33, mart
    # the everyday-services distance from the BPE's coordinates, same denominators and comparators
    n, with_comparators = con.execute(
        "select count(*), count(*) filter (where valeur_commune is not null and valeur_perimetre is not null) "
        "from fct_indicateur_qpv where indicateur = 'distance_equipements_gamme_proximite' "
        "and statut = 'disponible' and valeur > 0").fetchone()
    assert n >= 33 and with_comparators >= 33, (n, with_comparators)
    assert con.execute("select count(distance_equipements_gamme_proximite) from mart_defi_proximite").fetchone()[0] >= 33
    # and, from the same distances, the share of the gamme's types within 1 km (a percentage, its comparators)
    n, with_comparators, low, high = con.execute(
        "select count(*), count(*) filter (where valeur_commune is not null and valeur_perimetre is not null), "
        "min(valeur), max(valeur) from fct_indicateur_qpv where indicateur = 'part_types_gamme_proximite_1km' "
        "and statut = 'disponible'").fetchone()
    assert n >= 33 and with_comparators >= 33 and 0 <= low <= high <= 100, (n, with_comparators, low, high)
    perimetre = con.execute("select max(valeur_perimetre) from fct_indicateur_qpv "
                            "where indicateur = 'part_types_gamme_proximite_1km'").fetchone()[0]
    assert 1 < perimetre <= 100  # a percentage, like the QPV's (the comparator's factor)
    assert con.execute("select count(part_types_gamme_proximite_1km), "
                       "count(part_types_gamme_proximite_1km_valeur_commune) from mart_defi_proximite"
                       ).fetchone() >= (33, 33)
    con.close()


def test_demo_publishes_green_space_with_its_method(published_demo):
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    n, with_comparators, top = con.execute(
        "select count(*), count(*) filter (where valeur_commune is not null and valeur_perimetre is not null), "
        "max(valeur) from fct_indicateur_qpv where indicateur = 'm2_espaces_verts_5min_par_hab' "
        "and statut = 'disponible'").fetchone()
    assert n >= 33 and with_comparators >= 33, (n, with_comparators)
    assert 0 < top <= 3.1416 * 400 ** 2  # never more than the whole 400 m disc
    assert con.execute("select count(m2_espaces_verts_5min_par_hab), count(m2_espaces_verts_5min_par_hab_valeur_commune) "
                       "from mart_defi_transition_ecologique").fetchone() >= (33, 33)
    # the catalogue names the method of this version (crow-fly buffer, not yet the walking isochrone)
    definition = con.execute("select definition from dim_indicateur "
                             "where indicateur = 'm2_espaces_verts_5min_par_hab'").fetchone()[0]
    assert "tampon_400m_vol_oiseau" in definition and "vol d'oiseau" in definition
    con.close()


def test_demo_publishes_the_abstention_gap_per_election(published_demo):
    con = duckdb.connect(str(published_demo / "warehouse" / "observatoire.duckdb"), read_only=True)
    by_year = dict(con.execute(
        "select millesime, count(*) from fct_indicateur_qpv where indicateur = 'ecart_taux_abstention' "
        "and statut = 'disponible' group by millesime").fetchall())
    assert all(by_year.get(year, 0) >= 33 for year in (2022, 2024, 2026)), by_year
    assert con.execute("select count(ecart_taux_abstention) from mart_defi_participation_citoyenne "
                       "where millesime = 2024").fetchone()[0] >= 33
    # two elections in 2024 told apart by id_election; the baromètre keeps one per millésime (législatives)
    elections = con.execute("select id_election, bool_or(retenue_barometre) from mart_abstention_elections "
                            "group by 1 order by 1").fetchall()
    assert elections == [("2022_pres_t1", True), ("2024_euro_t1", False), ("2024_legi_t1", True),
                         ("2026_muni_t1", True)], elections
    # the baromètre is the retained election's gap, and the gap is the QPV's rate minus the reference's
    rows = con.execute(
        "select f.valeur, m.ecart_points, m.taux_abstention_qpv - m.taux_abstention_hors_qpv, f.source "
        "from fct_indicateur_qpv f join mart_abstention_elections m on m.code_qpv = f.code_qpv "
        "and m.millesime = f.millesime and m.retenue_barometre "
        "where f.indicateur = 'ecart_taux_abstention' and f.statut = 'disponible'").fetchall()
    assert len(rows) >= 66
    for valeur, ecart, diff, source in rows:
        assert valeur == pytest.approx(ecart) == pytest.approx(diff)
        assert "election:" in source
    # withheld QPV (bureaux redrawn since the contours: coverage) carry the French motif
    motifs = con.execute("select distinct motif from fct_indicateur_qpv where indicateur = 'ecart_taux_abstention' "
                         "and millesime in (2024, 2026) and statut <> 'disponible'").fetchall()
    assert all(m and "couverture insuffisante" in m for (m,) in motifs), motifs
    # no commune comparator: the gap is its own comparison
    assert con.execute("select count(valeur_commune) + count(valeur_perimetre) from fct_indicateur_qpv "
                       "where indicateur = 'ecart_taux_abstention'").fetchone()[0] == 0
    con.close()


def _zip_without(src: Path, dest: Path, member: str) -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != member:
                zout.writestr(info, zin.read(info.filename))
    dest.write_bytes(out.getvalue())
    return dest


def _grid_lambert93(dest: Path) -> Path:
    """The recorded grid with Lambert-93 style ids (another projection: easting ≈ 0.9 M, northing ≈ 6.2 M)."""
    out = io.BytesIO()
    with zipfile.ZipFile(GRID) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            text = zin.read(info.filename).decode("utf-8")
            lines = text.splitlines(keepends=True)
            for i in range(1, len(lines)):
                fields = lines[i].split(",")
                fields[0] = f"CRS3035RES200mN62{i:05d}E8{i:05d}"
                lines[i] = ",".join(fields)
            zout.writestr(info, "".join(lines))
    dest.write_bytes(out.getvalue())
    return dest


def _legi_renamed(dest: Path) -> Path:
    text = LEGI_2024.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    dest.write_text(header.replace(";Abstentions;", ";Nb abstentions;") + "\n" + rest, encoding="utf-8")
    return dest


@pytest.mark.parametrize("case", ["gtfs without stops.txt", "grid in another projection", "overpass error page",
                                  "overpass timeout remark", "election column renamed"])
def test_bad_inputs_are_refused_and_nothing_is_published(case, demo_copy, tmp_path, monkeypatch):
    pub = demo_copy / "warehouse" / "observatoire.duckdb"
    before = sha256_of(pub)
    if case == "gtfs without stops.txt":
        source, env = "gtfs_amp", "OBSERVATOIRE_URL_GTFS_AMP"
        bad = _zip_without(GTFS, tmp_path / GTFS.name, "stops.txt")
        expected = ["GTFS feed without stops.txt", "gtfs_amp"]
    elif case == "grid in another projection":
        source, env = "insee_filosofi_carreaux", "OBSERVATOIRE_URL_INSEE_FILOSOFI_CARREAUX"
        bad = _grid_lambert93(tmp_path / GRID.name)
        expected = ["square outside metropolitan France in EPSG:3035", "insee_filosofi_carreaux"]
    elif case == "overpass error page":
        source, env = "osm_espaces_verts", "OBSERVATOIRE_URL_OSM_ESPACES_VERTS"
        bad = tmp_path / "interpreter"
        bad.write_bytes((FIXTURES / "osm_overpass_erreur.html").read_bytes())
        expected = ["osm_espaces_verts", "error page", "rate_limited"]
    elif case == "overpass timeout remark":
        source, env = "osm_espaces_verts", "OBSERVATOIRE_URL_OSM_ESPACES_VERTS"
        bad = tmp_path / "interpreter.json"
        bad.write_bytes((FIXTURES / "osm_overpass_timeout.json").read_bytes())
        expected = ["osm_espaces_verts", "timed out", "partial"]
    else:
        source, env = "mi_resultats_bv_legi_t1", "OBSERVATOIRE_URL_MI_RESULTATS_BV_LEGI_T1"
        bad = _legi_renamed(tmp_path / LEGI_2024.name)
        expected = ["mi_resultats_bv_legi_t1", "'Abstentions'", "Nb abstentions", "line 1"]
    monkeypatch.setenv(env, bad.as_uri())
    with pytest.raises(PipelineError) as err:
        run(load_settings(), sources=[source])
    message = str(err.value)
    for text in expected:
        assert text in message, (text, message)
    assert sha256_of(pub) == before


def test_the_grid_batches_give_the_same_values_on_one_or_several_processes(demo_copy, monkeypatch):
    """The grid's batches run on forked workers (``OBSERVATOIRE_CALCUL_WORKERS``); their sums are added in the
    grid's order whatever the number of workers, so the table is the same to the last bit."""
    import pyarrow.parquet as pq

    from observatoire import calculs
    from observatoire.history import History

    by_source: dict[str, list[dict]] = {}
    for landing in History(demo_copy / "meta" / "history.sqlite").current_landings():
        by_source.setdefault(landing["source_id"], []).append(
            {**landing, "parsed_path": str(demo_copy / landing["parsed_path"])})

    def latest(source_id):
        return max(by_source[source_id], key=lambda r: r["millesime"])

    grid = latest(calculs.GRID_SOURCE)
    squares = pq.ParquetFile(grid["parsed_path"]).metadata.num_rows
    monkeypatch.setattr(calculs, "GRID_BATCH", max(1, squares // 7))  # the demo's grid in 7–8 batches
    args = (grid, latest(calculs.CONTOURS_SOURCE), latest(calculs.CENSUS_SOURCE), [latest("gtfs_amp")],
            latest(calculs.BPE_SOURCE), latest(calculs.OSM_SOURCE))
    monkeypatch.setenv("OBSERVATOIRE_CALCUL_WORKERS", "1")
    apply_env()
    assert calculs.calcul_workers() == 1
    one = calculs.compute(*args)
    monkeypatch.setenv("OBSERVATOIRE_CALCUL_WORKERS", "3")
    apply_env()
    assert calculs.calcul_workers() == 3
    three = calculs.compute(*args)
    assert one.num_rows > 200 and one.equals(three)
    assert set(one.column("indicateur").to_pylist()) == {
        calculs.INDICATEUR_TC, calculs.INDICATEUR_EQUIP, calculs.INDICATEUR_EQUIP_1KM, calculs.INDICATEUR_EV}
    monkeypatch.setenv("OBSERVATOIRE_CALCUL_WORKERS", "two")
    with pytest.raises(ValueError, match="OBSERVATOIRE_CALCUL_WORKERS must be a whole number of processes"):
        apply_env()
