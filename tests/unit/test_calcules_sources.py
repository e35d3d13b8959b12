"""The registry parsers of the computed baromètres' inputs (extract/calcules_sources.py) on the recordings."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from extract.calcules.gtfs import read_feed, zip_members
from extract.calcules_sources import ARRETS, CARREAUX, parse_carreaux, parse_gtfs, semaine_reference
from extract.errors import FormatError
from extract.parsers import ParseContext, get_parser
from tests.conftest import RECORDINGS

GTFS = RECORDINGS / "gtfs_amp" / "2025" / "gtfs_rtm.zip"
GRID = RECORDINGS / "insee_filosofi_carreaux" / "2019" / "Filosofi2019_carreaux_200m_csv.zip"


def ctx(source, year, path):
    return ParseContext(source_id=source, millesime=year, url=None, file=path.name)


def test_registered():
    assert get_parser("gtfs").spec is ARRETS and get_parser("insee_filosofi_carreaux").spec is CARREAUX


def test_gtfs_recording_served_and_unserved_stops():
    t = pa.Table.from_batches(list(parse_gtfs(GTFS, ctx("gtfs_amp", 2025, GTFS))))
    assert t.schema == ARRETS.arrow_schema()
    rows = {r["stop_id"]: r for r in t.to_pylist()}
    assert rows["SDEPOT"]["desservi"] == 0  # a stop with no trip is not a stop
    assert sum(r["desservi"] for r in rows.values()) == len(rows) - 1
    assert {r["semaine_reference"] for r in rows.values()} == {"2025-01-06"}
    assert set(t.column("millesime").to_pylist()) == {2025}


def test_reference_week_is_the_first_monday_of_the_feed(tmp_path):
    members = {
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nA,a,43.3,5.4\n",
        "trips.txt": "route_id,service_id,trip_id\nR,S,T\n",
        "stop_times.txt": "trip_id,stop_id\nT,A\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                        "S,1,1,1,1,1,0,0,20250903,20251231\n",
    }
    path = tmp_path / "f.zip"
    path.write_bytes(zip_members(members))
    assert semaine_reference(read_feed(path)) == date(2025, 9, 8)
    members.pop("stops.txt")
    path.write_bytes(zip_members(members))
    with pytest.raises(FormatError, match="GTFS feed without stops.txt"):
        list(parse_gtfs(path, ctx("gtfs_amp", 2025, path)))


def test_grid_recording_parsed_with_its_corners():
    t = pa.Table.from_batches(list(parse_carreaux(GRID, ctx("insee_filosofi_carreaux", 2019, GRID))))
    assert t.schema == CARREAUX.arrow_schema()
    r = t.slice(0, 1).to_pylist()[0]
    assert r["idcar_200m"] == f"CRS3035RES200mN{r['y_3035']}E{r['x_3035']}" and r["res_m"] == 200
    assert t.column("ind").to_pylist() and min(t.column("ind").to_pylist()) > 0
    assert len(set(t.column("idcar_200m").to_pylist())) == t.num_rows


# -- green spaces, results by bureau de vote, bureaux contours ----------------------------------------------------

OVERPASS = RECORDINGS / "osm_espaces_verts" / "2025" / "overpass_espaces_verts_amp.json"
LEGI = RECORDINGS / "mi_resultats_bv_legi_t1" / "2024" / "resultats-definitifs-par-bureau-de-vote-tour1.csv"
PRES = RECORDINGS / "mi_resultats_bv_pres_t1" / "2022" / "resultats-par-niveau-burvot-t1-france-entiere.txt"
BUREAUX = RECORDINGS / "reu_contours_bureaux_vote" / "2022" / "contours-france-entiere-latest-v2.geojson"
FIXTURES = RECORDINGS.parents[1] / "tests" / "fixtures" / "calcules"


def _parse(parser: str, source: str, year: int, path) -> pa.Table:
    p = get_parser(parser)
    return pa.Table.from_batches(list(p.parse(path, ctx(source, year, path))), schema=p.spec.arrow_schema())


def test_overpass_recording_keeps_public_green_spaces_with_the_osm_date():
    t = _parse("osm_espaces_verts", "osm_espaces_verts", 2025, OVERPASS)
    cats = set(t.column("categorie").to_pylist())
    assert {"parc", "foret"} <= cats and "jardin" not in cats  # the recorded gardens are all residential
    assert set(t.column("timestamp_osm_base").to_pylist()) == {"2025-11-03T09:14:02Z"}
    assert min(t.column("surface_m2").to_pylist()) >= 0 and t.column("_line").to_pylist()[0] == 1
    # every lawn kept is at least 1,000 m² (the small ones are set aside)
    lawns = [r["surface_m2"] for r in t.to_pylist() if r["categorie"] == "pelouse"]
    assert lawns and min(lawns) >= 1000


@pytest.mark.parametrize("fixture,words", [("osm_overpass_erreur.html", ["error page", "rate_limited"]),
                                           ("osm_overpass_timeout.json", ["timed out", "partial"])])
def test_overpass_errors_refused_naming_the_source(fixture, words):
    with pytest.raises(FormatError) as err:
        _parse("osm_espaces_verts", "osm_espaces_verts", 2025, FIXTURES / fixture)
    assert "osm_espaces_verts" in str(err.value) and all(w in str(err.value) for w in words), str(err.value)


def test_the_election_is_told_by_the_source_and_the_millesime():
    from extract.calcules_sources import id_election_de_source

    assert id_election_de_source("mi_resultats_bv_legi_t1", 2024) == "2024_legi_t1"
    assert id_election_de_source("mi_resultats_bv_euro_t1", 2024) == "2024_euro_t1"
    assert id_election_de_source("resultats_muni_t2", 2026) == "2026_muni_t2"
    with pytest.raises(ValueError, match="must end with"):
        id_election_de_source("mi_resultats_bv_legislatives", 2024)


def test_results_recordings_both_layouts():
    legi = _parse("mi_resultats_bureaux_vote", "mi_resultats_bv_legi_t1", 2024, LEGI)
    pres = _parse("mi_resultats_bureaux_vote", "mi_resultats_bv_pres_t1", 2022, PRES)
    assert set(legi.column("id_election").to_pylist()) == {"2024_legi_t1"}
    assert set(pres.column("id_election").to_pylist()) == {"2022_pres_t1"}
    for t in (legi, pres):
        d = t.to_pydict()
        assert all(a + v == i for i, a, v in zip(d["inscrits"], d["abstentions"], d["votants"], strict=True))
        assert "13055_0101" in d["id_bv"] and "75056_0101" in d["id_bv"]
    # the 2022 file's Français de l'étranger (ZZ) have no commune: skipped
    assert not any(c.startswith("ZZ") for c in pres.column("code_commune").to_pylist())


def test_bureaux_contours_keys_join_the_results():
    bv = _parse("contours_bureaux_vote", "reu_contours_bureaux_vote", 2022, BUREAUX)
    legi = _parse("mi_resultats_bureaux_vote", "mi_resultats_bv_legi_t1", 2024, LEGI)
    ids = set(bv.column("id_bv").to_pylist())
    found = ids & set(legi.column("id_bv").to_pylist())
    assert len(found) >= 0.95 * len(ids)  # a few bureaux redrawn since the 2022 contours are missing in 2024


def _contours(tmp_path, features):
    import json

    path = tmp_path / "contours.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def _feature(props, ring=((5.40, 43.30), (5.41, 43.30), (5.41, 43.31), (5.40, 43.30))):
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def test_bureaux_contours_bring_arrondissements_back_and_pad_codes(tmp_path):
    path = _contours(tmp_path, [_feature({"codeCommune": "13201", "codeBureauVote": "0101"}),
                                _feature({"codeCommune": "13117", "codeBureauVote": "1"})])
    t = _parse("contours_bureaux_vote", "reu_contours_bureaux_vote", 2022, path)
    assert t.column("id_bv").to_pylist() == ["13055_0101", "13117_0001"]
    assert t.column("code_commune").to_pylist() == ["13055", "13117"]


@pytest.mark.parametrize("features,words", [
    ([_feature({"codeCommune": "13055"})], ["codeBureauVote", "feature 1"]),
    ([_feature({"codeCommune": "13055", "codeBureauVote": "0101"}),
      _feature({"codeCommune": "13055", "codeBureauVote": "101"})], ["13055_0101 appears twice", "feature 2"]),
    ([_feature({"codeCommune": "13055", "codeBureauVote": "0101"},
               ring=((890000, 6250000), (891000, 6250000), (891000, 6251000), (890000, 6250000)))],
     ["not WGS84", "Lambert-93"]),
])
def test_bad_bureaux_contours_refused(tmp_path, features, words):
    with pytest.raises(FormatError) as err:
        _parse("contours_bureaux_vote", "reu_contours_bureaux_vote", 2022, _contours(tmp_path, features))
    assert all(w in str(err.value) for w in words), str(err.value)
