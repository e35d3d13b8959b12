"""The site's map projection and classes (observatoire.site.geo), and its SVG post-processing, with known
answers."""

from __future__ import annotations

import math

import pytest
import shapely

from observatoire.site import charts
from observatoire.site.geo import (
    METRES_PER_DEGREE,
    Projection,
    class_of,
    fmt_distance,
    nice_distance,
    path_d,
    quantile_breaks,
)


def _haversine(a, b, radius=6_371_008.8):
    (lon1, lat1), (lon2, lat2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(h))


def test_equirectangular_known_answers():
    p = Projection((5.0, 43.0, 6.0, 44.0), 1000, padding=0)
    assert p.lat0 == 43.5 and p.lon0 == 5.5
    assert METRES_PER_DEGREE == pytest.approx(111_195.08, abs=0.01)  # one degree of latitude
    # half a degree of longitude at 43.5° N: 0.5 × cos 43.5° × 111 195.08 m
    x, y = p.metres(6.0, 43.5)
    assert x == pytest.approx(40_329.03, abs=0.05) and y == 0
    assert p.metres(5.5, 44.0) == pytest.approx((0, 55_597.54), abs=0.05)
    # the box keeps the shape: 1 000 px wide, 1 / cos 43.5° as tall
    assert p.height == pytest.approx(1378.60, abs=0.01)
    assert p(5.5, 43.5) == pytest.approx((500, 689.30), abs=0.01)   # centre in the middle
    assert p(5.0, 44.0) == pytest.approx((0, 0), abs=1e-6)           # north-west corner top left (y down)
    assert p(6.0, 43.0) == pytest.approx((1000, 1378.60), abs=0.01)


def test_projection_keeps_distances_over_a_metropole():
    """Vieux-Port (Marseille) to the Rotonde (Aix-en-Provence): the great-circle distance within 0.1 %."""
    a, b = (5.3698, 43.2965), (5.4474, 43.5297)
    p = Projection((a[0], a[1], b[0], b[1]), 800)
    (xa, ya), (xb, yb) = p.metres(*a), p.metres(*b)
    assert math.hypot(xb - xa, yb - ya) == pytest.approx(_haversine(a, b), rel=1e-3)
    assert p.metres_per_pixel == pytest.approx(1 / p.scale)


def test_projection_of_a_fixed_box_and_a_point():
    p = Projection((0.0, -0.5, 1.0, 0.5), 500, 300, padding=10)  # at the equator a degree is square
    assert p.scale == pytest.approx(280 / METRES_PER_DEGREE)      # the tighter side (height) decides
    assert p(0.5, 0.0) == pytest.approx((250, 150))
    # a single point still gets a box (min_extent_m), no division by zero
    q = Projection((5.4, 43.3, 5.4, 43.3), 200, 200)
    assert q(5.4, 43.3) == pytest.approx((100, 100))


def test_path_data_of_polygons_with_holes():
    square = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(2, 2), (4, 2), (4, 4), (2, 4)]])
    assert path_d(square) == "M0.0 0.0 10.0 0.0 10.0 10.0 0.0 10.0ZM2.0 2.0 4.0 2.0 4.0 4.0 2.0 4.0Z"
    multi = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6)])
    assert path_d(multi, digits=0).count("M") == 2
    assert path_d(shapely.Polygon()) == ""
    p = Projection((5.0, 43.0, 6.0, 44.0), 1000, padding=0)
    projected = p.project(shapely.box(5.0, 43.0, 6.0, 44.0))
    assert projected.bounds == pytest.approx((0, 0, 1000, 1378.60), abs=0.01)


def test_scale_bar_lengths():
    assert nice_distance(1234) == 1000
    assert nice_distance(4999) == 2000
    assert nice_distance(5000) == 5000
    assert nice_distance(0.7) == 0.5
    assert fmt_distance(2000) == "2\u00a0km"
    assert fmt_distance(1500) == "1,5\u00a0km"
    assert fmt_distance(500) == "500\u00a0m"


def test_quantile_classes():
    breaks = quantile_breaks(list(range(1, 11)), 5, 0)
    assert breaks == [1, 3, 5, 6, 8, 10]
    assert [class_of(v, breaks) for v in range(1, 11)] == [0, 0, 1, 1, 2, 3, 3, 4, 4, 4]
    # bounds rounded outwards: every value falls in a class
    b = quantile_breaks([12.34, 15.0, 18.77], 5, 1)
    assert b[0] == 12.3 and b[-1] == 18.8
    assert quantile_breaks([7, 7, 7], 5, 0) == [7, 7] and class_of(7, [7, 7]) == 0
    assert quantile_breaks([], 5, 1) == []


def test_inline_svg_prefixes_ids_and_labels_the_image():
    svg = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="320" height="100" role="x">'
           '<defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"></g></svg>')
    out = charts.inline_svg(svg, "g-a", "Mon titre", "Ma description")
    assert out.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="g-a-title g-a-desc"')
    assert '<title id="g-a-title">Mon titre</title><desc id="g-a-desc">Ma description</desc>' in out
    assert 'id="g-a-clip1"' in out and "url(#g-a-clip1)" in out and 'id="clip1"' not in out
    assert 'width="320"' not in out and "max-width:20.00rem" in out


def test_band_labels_at_the_band_centres():
    svg = ('<svg><g fill="none" stroke-miterlimit="10" transform="translate(300,40)"><g></g></g></svg>')
    out = charts.add_band_labels(svg, ["Quartier A", "B & C"], 17)
    assert '<text x="294.0" y="48.5" dy="0.35em">Quartier A</text>' in out
    assert '<text x="294.0" y="65.5" dy="0.35em">B &amp; C</text>' in out
    labels = charts.labels_for([{"code_qpv": "Q1", "libelle_qpv": "Centre ville", "libelle_commune": "Marignane"},
                                {"code_qpv": "Q2", "libelle_qpv": "X" * 60, "libelle_commune": "Marseille"}])
    assert labels["Q1"] == "Centre ville (Marignane)" and labels["Q2"].endswith("…") and len(labels["Q2"]) == 42
