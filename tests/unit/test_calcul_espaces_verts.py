"""Green space within 5 minutes (crow-fly 400 m): Overpass parsing and the per-QPV measure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from extract.calcules.espaces_verts import (
    METHODE_TAMPON,
    aire_atteignable,
    m2_espaces_verts,
    parse_overpass,
    union_espaces_verts,
)
from extract.errors import FormatError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "calcules"
T = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True)


def _area_3035(lonlat: list[tuple[float, float]]) -> float:
    x, y = T.transform([p[0] for p in lonlat], [p[1] for p in lonlat])
    return shapely.area(shapely.polygons(np.column_stack([x, y])))


# -- parsing ---------------------------------------------------------------------------------------------------


def test_parse_keeps_public_green_spaces_and_says_why_others_are_set_aside():
    rep = parse_overpass((FIX / "osm_overpass_parcs.json").read_bytes())
    t = rep.table.to_pydict()
    kept = dict(zip(t["osm_id"], t["categorie"], strict=True))
    assert kept == {1001: "parc", 1002: "aire_de_jeux", 2001: "foret", 1005: "jardin", 1007: "pelouse"}
    assert rep.ecartes == {"acces_prive": 2, "jardin_prive": 1, "pelouse_trop_petite": 1,
                           "geometrie_incomplete_ou_ouverte": 1, "noeud_sans_surface": 1}
    assert rep.timestamp_osm_base == "2026-11-30T08:12:03Z"
    # the relation: an outer ring split across two ways, minus its inner ring
    outer = [(5.41, 43.34), (5.414, 43.34), (5.414, 43.343), (5.41, 43.343), (5.41, 43.34)]
    inner = [(5.411, 43.341), (5.412, 43.341), (5.412, 43.342), (5.411, 43.342), (5.411, 43.341)]
    forest = t["surface_m2"][t["osm_id"].index(2001)]
    assert forest == pytest.approx(_area_3035(outer) - _area_3035(inner), rel=1e-9)
    assert t["nom"][t["osm_id"].index(1001)] == "Parc de test"
    assert all(shapely.is_valid(g) for g in rep.geometries)


def test_overlapping_tags_are_not_double_counted():
    rep = parse_overpass((FIX / "osm_overpass_parcs.json").read_bytes())
    t = rep.table.to_pydict()
    geoms = rep.geometries
    park = [g for g, i in zip(geoms, t["osm_id"], strict=True) if i in (1001, 1002)]
    pieces = union_espaces_verts(park)
    # the playground lies inside the park: the union is the park alone
    assert shapely.area(pieces).sum() == pytest.approx(t["surface_m2"][t["osm_id"].index(1001)], rel=1e-9)
    # and a square whose 400 m disc holds the whole park sees the park's area once
    c = shapely.get_coordinates(shapely.centroid(park[0]))
    assert aire_atteignable(c, pieces)[0] == pytest.approx(shapely.area(park[0]), rel=1e-9)


def test_timeout_remark_with_partial_elements_is_refused():
    with pytest.raises(FormatError) as exc:
        parse_overpass((FIX / "osm_overpass_timeout.json").read_bytes(), file="overpass.json")
    msg = str(exc.value)
    assert "runtime error: Query timed out" in msg and "1 element(s)" in msg and "overpass.json" in msg


def test_html_error_page_is_refused_with_the_servers_message():
    with pytest.raises(FormatError) as exc:
        parse_overpass((FIX / "osm_overpass_erreur.html").read_bytes(), file="overpass.json")
    msg = str(exc.value)
    assert "error page" in msg and "rate_limited" in msg


@pytest.mark.parametrize("body, words", [
    (b"<?xml version='1.0'?><osm><remark>runtime error: Query ran out of memory</remark></osm>", "out of memory"),
    (b"Too Many Requests", "not JSON"),
    (b'{"version": 0.6, "generator": "Overpass API"}', "no 'elements' list"),
    (b'{"elements": [', "invalid JSON"),
    (b'{"elements": [], "remark": "runtime error: Query ran out of memory in \\"query\\""}', "out of memory"),
    (b'{"elements": [{"type": "way", "id": 1, "center": {"lat": 43.3, "lon": 5.4}, "tags": {"leisure": "park"}}]}',
     "out geom"),
])
def test_bad_answers_are_refused(body, words):
    with pytest.raises(FormatError) as exc:
        parse_overpass(body)
    assert words in str(exc.value)


def test_empty_answer_without_remark_is_an_empty_table():
    rep = parse_overpass(json.dumps({"version": 0.6, "elements": []}).encode())
    assert rep.table.num_rows == 0


# -- measure (EPSG:3035 metres, hand-made geometries) ------------------------------------------------------------


def _square(cx: float, cy: float, side: float = 200.0):
    h = side / 2
    return shapely.box(cx - h, cy - h, cx + h, cy + h)


def test_park_fully_inside_counts_whole_fully_outside_counts_nothing():
    inside = shapely.box(300, -10, 390, 10)  # farthest corner at √(390²+10²) = 390.1 m
    outside = shapely.box(401, -10, 500, 10)
    area = aire_atteignable(np.array([[0.0, 0.0]]), union_espaces_verts([inside, outside]))
    assert area[0] == pytest.approx(90 * 20, rel=1e-9)


def test_park_starting_at_399_m_counts_only_its_part_inside_the_disc():
    park = shapely.box(399, -5, 409, 5)
    got = aire_atteignable(np.array([[0.0, 0.0]]), union_espaces_verts([park]))[0]
    # closed form: ∫_{-5}^{5} (√(400² − y²) − 399) dy
    def prim(y):
        return 0.5 * (y * math.sqrt(400**2 - y**2) + 400**2 * math.asin(y / 400))
    exact = prim(5) - prim(-5) - 399 * 10
    assert exact == pytest.approx(9.896, abs=1e-3)
    assert got == pytest.approx(exact, abs=0.35)  # the disc is a 256-gon: < 0.03 m of radial error
    assert aire_atteignable(np.array([[0.0, 0.0]]), union_espaces_verts([shapely.box(401, -5, 411, 5)]))[0] == 0


def test_long_strip_crossing_the_boundary_counts_its_chord():
    strip = shapely.box(-2000, -1, 2000, 1)
    got = aire_atteignable(np.array([[0.0, 0.0]]), union_espaces_verts([strip]))[0]
    def prim(y):
        return 0.5 * (y * math.sqrt(400**2 - y**2) + 400**2 * math.asin(y / 400))
    exact = 2 * (prim(1) - prim(-1))  # ≈ 2 × 800
    assert got == pytest.approx(exact, abs=0.1)


def test_per_qpv_mean_weighted_by_population_share_and_comparators():
    # square A at the origin sees a 100 × 100 park; square B 2 km away sees nothing
    squares = [_square(0, 0), _square(2000, 0), _square(4000, 0)]
    population = np.array([100.0, 300.0, 0.0])
    park = shapely.box(-50, 150, 50, 250)
    weights = ([0, 1, 1, 2], ["QN01", "QN01", "QN02", "QN03"], [0.5, 0.5, 0.5, 1.0])
    res = m2_espaces_verts(squares, population, [park, park], weights=weights,
                           comparateurs={"metropole": ([0, 1, 2], ["200054807"] * 3, [1.0, 1.0, 1.0])})
    assert res.methode == METHODE_TAMPON and res.rayon_m == 400
    assert res.m2_par_carreau.tolist() == pytest.approx([10_000, 0, 0])
    rows = {(r["niveau"], r["code"]): r for r in res.zones.to_pylist()}
    # QN01: 50 people see 10 000 m², 150 see none → 2 500 m² per inhabitant
    assert rows[("qpv", "QN01")]["population"] == 200
    assert rows[("qpv", "QN01")]["valeur"] == pytest.approx(2_500)
    assert rows[("qpv", "QN02")]["valeur"] == 0
    assert rows[("qpv", "QN03")]["valeur"] is None and "aucun habitant" in rows[("qpv", "QN03")]["motif"]
    assert rows[("metropole", "200054807")]["valeur"] == pytest.approx(10_000 * 100 / 400)
    assert {r["methode"] for r in res.zones.to_pylist()} == {METHODE_TAMPON}
    # the population denominators are the apportioned populations; the Métropole's is the grid's total
    qpv_pop = sum(r["population"] for r in res.zones.to_pylist() if r["niveau"] == "qpv")
    assert qpv_pop == 0.5 * 100 + 0.5 * 300 + 0.5 * 300
    assert rows[("metropole", "200054807")]["population"] == population.sum()


def test_zones_table_of_the_grid_split_gives_the_same_values():
    import pyarrow as pa

    squares = [_square(0, 0), _square(2000, 0)]
    population = np.array([100.0, 300.0])
    park = shapely.box(-50, 150, 50, 250)
    zones = pa.table({"carreau": [0, 1, 1, 0, 1], "niveau": ["qpv", "qpv", "qpv", "metropole", "metropole"],
                      "code": ["QN01", "QN01", "QN02", "M", "M"], "population": [50.0, 150.0, 150.0, 100.0, 300.0]})
    via_zones = m2_espaces_verts(squares, population, [park], zones=zones).zones.to_pylist()
    via_weights = m2_espaces_verts(squares, population, [park], weights=([0, 1, 1], ["QN01", "QN01", "QN02"],
                                                                         [0.5, 0.5, 0.5]),
                                   comparateurs={"metropole": ([0, 1], ["M", "M"], [1.0, 1.0])}).zones.to_pylist()
    assert via_zones == via_weights
    assert via_zones[0]["valeur"] == pytest.approx(2_500)


def test_from_parsed_overpass_to_a_value():
    rep = parse_overpass((FIX / "osm_overpass_parcs.json").read_bytes())
    x, y = T.transform(5.4015, 43.3310)  # centre of the test park
    res = m2_espaces_verts([_square(x, y)], np.array([50.0]), rep.geometries,
                           weights=([0], ["QN01306M"], [1.0]))
    park_area = rep.table.to_pydict()["surface_m2"][0]
    assert res.zones.to_pylist()[0]["valeur"] == pytest.approx(park_area, rel=1e-6)
