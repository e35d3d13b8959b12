"""Charts of the défi pages: Vega-Lite specs rendered to SVG at build time by vl-convert (no browser, no
network: ``allowed_base_urls=[]`` forbids any data URL), then made fit to sit inline in a page — ids
prefixed (several charts share a page), ``role="img"`` with a ``<title>`` and a ``<desc>``, scalable."""

from __future__ import annotations

import html
import re

from observatoire.site import fmt

#: The chart palette (WCAG 2.1 SC 1.4.11, non-text contrast: 3:1 for graphical objects). The bars are
#: ≥ 3:1 against the white background; every comparator (points and rules) is ≥ 3:1 against the white
#: background *and* against the bars, since it is drawn over them; the comparators also differ by their shape
#: (round, diamond) or their dash (dashed, dotted), not by colour alone, and are outlined in white (a halo
#: under the rules). tests/unit/test_site_charts.py computes every ratio.
BACKGROUND = "#ffffff"
QPV_COLOR = "#5b8ec4"  # 3.4:1 on white
SERIES = [
    # (serie, colour, kind) — tick: a point per QPV (its commune's value, outlined in white so that it shows
    # on a bar as on the background); rule: one value for the whole chart
    ("Quartier", QPV_COLOR, "bar"),
    ("Commune", "#1a1a1a", "tick"),           # 5.1:1 on the bars
    ("Commune hors QPV", "#662200", "tick"),  # 3.4:1 on the bars
    ("{perimetre}", "#00441b", "rule"),       # 3.3:1 on the bars
    ("France", "#3b0764", "rule"),            # 4.4:1 on the bars
]
SHAPES = {"Commune": "circle", "Commune hors QPV": "diamond"}
#: the dash of the rules, by position among them (perimeter, France)
DASHES = [[6, 3], [2, 3]]
STEP = 17  # pixels per QPV row
LABEL_CHAR_PX = 7.0  # average width of a character of the 12 px labels (to leave them room)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def comparator_series(perimetre_label: str) -> list[tuple[str, str, str, str]]:
    """(label, colour, kind, column of mart_derniere_valeur) of the chart's series."""
    columns = ["valeur", "valeur_commune", "valeur_commune_hors_qpv", "valeur_perimetre", "valeur_france"]
    return [(label.format(perimetre=perimetre_label), color, kind, col)
            for (label, color, kind), col in zip(SERIES, columns, strict=True)]


def labels_for(qpv: list[dict], limit: int = 42) -> dict[str, str]:
    """The chart label of each QPV: its name and commune, cut with « … » beyond ``limit`` characters."""
    out = {}
    for q in qpv:
        text = f"{q['libelle_qpv']} ({q['libelle_commune']})"
        out[q["code_qpv"]] = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    seen: dict[str, int] = {}
    for label in out.values():
        seen[label] = seen.get(label, 0) + 1
    return {code: label if seen[label] == 1 else f"{label} [{code}]" for code, label in out.items()}


def barometre_spec(rows: list[dict], labels: dict[str, str], *, unite: str | None, decimales: int | None,
                   perimetre_label: str, with_comparators: bool, description: str) -> dict:
    """A horizontal bar per QPV with a value (sorted, largest first), its commune's values as ticks and the
    perimeter's and France's as vertical rules."""
    decimals = fmt.decimals_for(unite, decimales)
    series = comparator_series(perimetre_label)
    values = []
    rules: dict[str, float] = {}
    present = ["Quartier"]
    for r in rows:
        if r.get("valeur") is None:
            continue
        label = labels[r["code_qpv"]]
        values.append({"qpv": label, "serie": "Quartier", "valeur": r["valeur"]})
        if not with_comparators:
            continue
        for name, _color, kind, col in series[1:]:
            v = r.get(col)
            if v is None:
                continue
            if kind == "tick":
                values.append({"qpv": label, "serie": name, "valeur": v})
            else:
                rules.setdefault(name, v)
            if name not in present:
                present.append(name)
    order = [v["qpv"] for v in sorted((v for v in values if v["serie"] == "Quartier"),
                                      key=lambda v: (-v["valeur"], v["qpv"]))]
    # the bars' order as a field (an explicit `sort` list of 1,609 labels overflows vega's stack in vl-convert)
    rank = {q: i for i, q in enumerate(order)}
    for v in values:
        v["rang"] = rank.get(v["qpv"], len(rank))
    domain = [s[0] for s in series if s[0] in present]
    # no vega legend (its text is measured, slow): the page writes it in HTML (legend_of)
    color = {"field": "serie", "type": "nominal", "title": None, "legend": None,
             "scale": {"domain": domain, "range": [s[1] for s in series if s[0] in present]}}
    number_format = f",.{decimals}f"
    x = {"field": "valeur", "type": "quantitative", "title": fmt.unit_title(unite),
         "axis": {"format": number_format, "grid": True, "gridColor": "#e3e3e3", "tickCount": 6},
         "scale": {"zero": True, "nice": True}}
    # the QPV names are written by add_band_labels, not by vega: measuring 66 labels is 90 % of a chart's time
    y = {"field": "qpv", "type": "nominal", "sort": {"field": "rang", "op": "min", "order": "ascending"},
         "title": None,
         "axis": {"labels": False, "ticks": False, "domain": False}}
    layers = [{
        "transform": [{"filter": "datum.serie === 'Quartier'"}],
        "mark": {"type": "bar", "height": {"band": 0.72}},
        "encoding": {"x": x, "y": y, "color": color},
    }]
    if any(v["serie"] != "Quartier" for v in values):
        layers.append({
            "transform": [{"filter": "datum.serie !== 'Quartier'"}],
            "mark": {"type": "point", "filled": True, "size": 70, "opacity": 1, "stroke": "#ffffff",
                     "strokeWidth": 1.2},
            "encoding": {"x": x, "y": y, "color": color,
                         "shape": {"field": "serie", "type": "nominal", "legend": None,
                                   "scale": {"domain": list(SHAPES), "range": list(SHAPES.values())}}},
        })
    if rules:
        rule_names = [name for name, _c, kind, _col in series if kind == "rule"]
        dash = {"field": "serie", "type": "nominal", "legend": None,
                "scale": {"domain": rule_names, "range": DASHES[:len(rule_names)]}}
        rule_data = {"values": [{"serie": k, "valeur": v} for k, v in rules.items()]}
        layers.append({  # a white halo: the rule shows on the bars as on the background
            "data": rule_data,
            "mark": {"type": "rule", "strokeWidth": 4.5, "color": BACKGROUND, "opacity": 1},
            "encoding": {"x": x},
        })
        layers.append({
            "data": rule_data,
            "mark": {"type": "rule", "strokeWidth": 2},
            "encoding": {"x": x, "color": color, "strokeDash": dash},
        })
    label_width = round(max((len(q) for q in order), default=10) * LABEL_CHAR_PX) + 12
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": description,
        "usermeta": {"band_labels": order, "step": STEP,
                     "legend": [{"label": name, "color": c, "kind": kind, "shape": SHAPES.get(name),
                                 "dash": _dash_of(name, series)}
                                for name, c, kind, _col in series if name in present]},
        "data": {"values": values},
        "width": 520,
        "height": {"step": STEP},
        "padding": {"left": label_width, "top": 5, "right": 10, "bottom": 5},
        "layer": layers,
        "config": {
            "font": FONT,
            "background": BACKGROUND,
            "view": {"stroke": None},
            "axis": {"labelFontSize": 12, "titleFontSize": 12, "labelColor": "#1a1a1a", "titleColor": "#1a1a1a",
                     "titleFontWeight": "normal"},
            "legend": {"labelFontSize": 12, "labelColor": "#1a1a1a", "symbolOpacity": 1},
        },
    }


def _dash_of(name: str, series: list[tuple[str, str, str, str]]) -> str | None:
    """« dashed » or « dotted » for a rule (the legend draws the same dash as the chart), else None."""
    rules = [s[0] for s in series if s[2] == "rule"]
    if name not in rules:
        return None
    return "dotted" if DASHES[rules.index(name)][0] <= 2 else "dashed"


def palette() -> dict[str, str]:
    """The colours of the charts, by role (what tests/unit/test_site_charts.py checks)."""
    return {"background": BACKGROUND, **{label.format(perimetre="perimetre"): color
                                         for label, color, _kind in SERIES}}


def render_svg(spec: dict) -> str:
    """The SVG of a Vega-Lite spec (French number format; no URL may be read), with the band labels of
    ``usermeta.band_labels`` written in."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec, format_locale="fr-FR", allowed_base_urls=[])
    meta = spec.get("usermeta") or {}
    if meta.get("band_labels"):
        svg = add_band_labels(svg, meta["band_labels"], meta.get("step", STEP))
    return svg


_ORIGIN = re.compile(r'<g fill="none" stroke-miterlimit="10" transform="translate\(([-\d.]+),([-\d.]+)\)">')


def add_band_labels(svg: str, labels: list[str], step: float) -> str:
    """Write the label of each band of a y band scale at its centre, right-aligned against the plot. A
    Vega-Lite band scale with an explicit step puts band i's centre at (i + ½)·step from the plot's top (outer
    padding = half the inner one), and the plot's origin is the root group's translation."""
    m = _ORIGIN.search(svg)
    if not m:
        raise ValueError("the chart's plot origin was not found in vega's SVG")
    x0, y0 = float(m.group(1)), float(m.group(2))
    texts = [f'<text x="{x0 - 6:.1f}" y="{y0 + (i + 0.5) * step:.1f}" dy="0.35em">{html.escape(label)}</text>'
             for i, label in enumerate(labels)]
    group = (f'<g class="etiquettes" text-anchor="end" font-size="12" fill="#1a1a1a" '
             f'font-family="{html.escape(FONT, quote=True)}">' + "".join(texts) + "</g>")
    end = svg.rindex("</svg>")
    return svg[:end] + group + svg[end:]


_ID = re.compile(r'\bid="([^"]+)"')


def inline_svg(svg: str, prefix: str, title: str, desc: str) -> str:
    """An SVG document ready to sit in a page: the XML prolog dropped, every id prefixed (and the references
    to them), ``role="img"`` labelled by a ``<title>`` and a ``<desc>``, width/height left to the CSS."""
    svg = re.sub(r"^\s*<\?xml[^>]*>\s*", "", svg)
    ids = set(_ID.findall(svg))
    for old in sorted(ids, key=len, reverse=True):
        new = f"{prefix}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"').replace(f"url(#{old})", f"url(#{new})") \
            .replace(f'href="#{old}"', f'href="#{new}"')
    m = re.match(r"<svg\b([^>]*)>", svg)
    if not m:
        raise ValueError("not an SVG document")
    attrs = m.group(1)
    width = re.search(r'\bwidth="([\d.]+)"', attrs)
    # one class attribute (vega's root already has class="marks"; a second attribute would be ignored)
    found = [c for value in re.findall(r'\sclass="([^"]*)"', attrs) for c in value.split()]
    classes = " ".join(dict.fromkeys(["chart", *found]))
    attrs = re.sub(r'\s(?:width|height|role|class|aria-[a-z]+)="[^"]*"', "", attrs)
    style = f' style="max-width:{float(width.group(1)) / 16:.2f}rem"' if width else ""
    t_id, d_id = f"{prefix}-title", f"{prefix}-desc"
    head = (f'<svg{attrs} role="img" aria-labelledby="{t_id} {d_id}" class="{html.escape(classes, quote=True)}"'
            f'{style} focusable="false">'
            f'<title id="{t_id}">{html.escape(title)}</title><desc id="{d_id}">{html.escape(desc)}</desc>')
    return head + svg[m.end():]
