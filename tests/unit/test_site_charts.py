"""The site's chart and map colours against WCAG 2.1 (1.4.11 non-text contrast: 3:1 for graphical objects;
1.4.3: 4.5:1 for text), with the relative luminance formula of WCAG; and one class attribute per chart."""

from __future__ import annotations

import re

import pytest

from observatoire.site import charts, maps


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of ``#rrggbb``."""
    rgb = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_known_answers():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the classic 4.5:1 grey


def test_chart_marks_stand_out_from_the_background_and_the_bars():
    palette = charts.palette()
    background, bar = palette.pop("background"), palette.pop("Quartier")
    assert contrast(bar, background) >= 3.0, f"bars {bar}: {contrast(bar, background):.2f}:1 on white"
    for serie, colour in palette.items():  # points and rules are drawn over the bars and over the background
        assert contrast(colour, background) >= 3.0, f"{serie} {colour} on white"
        assert contrast(colour, bar) >= 3.0, f"{serie} {colour}: {contrast(colour, bar):.2f}:1 on the bars"


def test_chart_comparators_differ_by_shape_or_dash_not_colour_alone():
    spec = charts.barometre_spec(
        [{"code_qpv": "Q1", "valeur": 10.0, "valeur_commune": 8.0, "valeur_commune_hors_qpv": 7.0,
          "valeur_perimetre": 9.0, "valeur_france": 12.0}],
        {"Q1": "Quartier 1 (Commune)"}, unite="pourcentage", decimales=1, perimetre_label="Métropole",
        with_comparators=True, description="test")
    legend = spec["usermeta"]["legend"]
    marks = [(item["shape"], item["dash"]) for item in legend if item["kind"] != "bar"]
    assert len(marks) == 4 and len(set(marks)) == 4 and all(shape or dash for shape, dash in marks)
    layers = spec["layer"]
    halo = [layer for layer in layers if layer["mark"]["type"] == "rule" and layer["mark"].get("color")]
    assert halo and halo[0]["mark"]["color"] == charts.BACKGROUND  # the rules have a white halo
    points = next(layer for layer in layers if layer["mark"]["type"] == "point")
    assert points["mark"]["stroke"] == charts.BACKGROUND  # the points a white outline


def test_map_classes_are_outlined_in_a_dark_colour():
    """The lightest class (#eff3ff) is 1.1:1 on white: each QPV is outlined in a dark grey, ≥ 3:1 on white and
    on every class that is not itself ≥ 3:1 on white, so that its shape shows whatever its class (the values
    are in the table under the map)."""
    assert contrast(maps.OUTLINE, "#ffffff") >= 3.0
    for colours in maps.PALETTES.values():
        for colour in colours:
            assert contrast(colour, "#ffffff") >= 3.0 or contrast(maps.OUTLINE, colour) >= 3.0, colour
    assert contrast(maps.OUTLINE, maps.NO_DATA_FILL) >= 3.0


def test_inline_svg_has_one_class_attribute():
    svg = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" class="marks" width="400" height="300" '
           'viewBox="0 0 400 300"><g id="a"></g></svg>')
    out = charts.inline_svg(svg, "g-x", "Titre", "Description")
    root = re.match(r"<svg\b[^>]*>", out).group(0)
    assert len(re.findall(r'\sclass="', root)) == 1
    assert re.search(r'\sclass="chart marks"', root)
    assert 'role="img"' in root and "width=" not in root.replace("max-width", "")


def test_a_chart_of_every_qpv_of_france_renders_in_value_order():
    """1,609 bars (the France perimeter): an explicit sort list of every label overflowed vega's call stack in
    vl-convert and refused the national publication; the order is a rank field."""
    n = 1_700
    rows = [{"code_qpv": f"QN{i:06d}", "valeur": float((i * 7919) % n)} for i in range(n)]
    labels = {r["code_qpv"]: f"Quartier {i}" for i, r in enumerate(rows)}
    spec = charts.barometre_spec(rows, labels, unite="pourcentage", decimales=1, perimetre_label="France",
                                 with_comparators=False, description="test")
    svg = charts.render_svg(spec)
    # bars from the largest value down: their y positions follow the ranks
    bars = re.findall(r'<path aria-label="[^"]*qpv: Quartier (\d+); serie: Quartier"[^>]*d="M[\d.]+,([\d.]+)', svg)
    assert len(bars) == n, len(bars)
    by_y = [rows[int(i)]["valeur"] for i, _y in sorted(bars, key=lambda b: float(b[1]))]
    assert by_y == sorted(by_y, reverse=True)
    assert spec["usermeta"]["band_labels"][0] == labels[max(rows, key=lambda r: r["valeur"])["code_qpv"]]
