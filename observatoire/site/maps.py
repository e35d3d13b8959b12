"""The site's maps as inline SVG: the perimeter's QPV coloured by an indicator (choropleth), the QPV of a
fiche with its neighbours, and a small locator. Drawn from the contours of ``dim_qpv_contour`` with
:class:`observatoire.site.geo.Projection`; no tile, no font, nothing loaded."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import shapely

from observatoire.site import fmt
from observatoire.site.geo import Projection, fmt_distance, nice_distance, path_d

#: ColorBrewer « Blues » (sequential, colour-blind safe), by number of classes
PALETTES = {
    1: ["#6baed6"],
    2: ["#9ecae1", "#2171b5"],
    3: ["#deebf7", "#9ecae1", "#3182bd"],
    4: ["#eff3ff", "#bdd7e7", "#6baed6", "#2171b5"],
    5: ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"],
}
#: the outline of every QPV of a choropleth: the light classes (#eff3ff is 1.1:1 on white) stand out from
#: the background by it (11:1 on white, ≥ 3:1 on every class lighter than 3:1 on white)
OUTLINE = "#3a3a3a"
NO_DATA_FILL = "#f0f0f0"
NEIGHBOUR_FILL = "#d9d9d9"
FOCUS_FILL = "#2b5c8a"
FOCUS_STROKE = "#0d2b45"
SMALL_PX = 6.0  # a QPV drawn smaller than this gets a dot too, so that it can be seen


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class Frame:
    """QPV contours projected once into a pixel box (their path data cached)."""

    contours: dict[str, object]
    bounds: tuple[float, float, float, float]
    width: float
    height: float | None = None
    padding: float = 10.0
    tolerance: float = 0.35
    only: set[str] | None = None
    #: a spatial index of ``contours`` (``shapely.STRtree`` over ``list(contours.values())``): with many QPV
    #: (the France perimeter), each frame finds what it shows without testing every contour
    index: object | None = None
    proj: Projection = field(init=False)
    paths: dict[str, str] = field(init=False)
    dots: dict[str, tuple[float, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.proj = Projection(self.bounds, self.width, self.height, padding=self.padding)
        self.height = self.proj.height
        self.paths, self.dots, self.centres = {}, {}, {}
        box = shapely.box(*self._lonlat_box())
        codes = list(self.contours)
        if self.index is not None:
            candidates = [codes[i] for i in sorted(self.index.query(box))]
        else:
            candidates = [c for c in codes if shapely.intersects(box, shapely.envelope(self.contours[c]))]
        for code in candidates:
            geom = self.contours[code]
            if self.only is not None and code not in self.only:
                continue
            projected = self.proj.project(geom)
            self.paths[code] = path_d(projected, tolerance=self.tolerance)
            minx, miny, maxx, maxy = projected.bounds
            point = projected.representative_point()
            self.centres[code] = (point.x, point.y)
            if max(maxx - minx, maxy - miny) < SMALL_PX:
                self.dots[code] = (point.x, point.y)

    def _lonlat_box(self) -> tuple[float, float, float, float]:
        """The lon/lat rectangle the pixel box shows (a little more than ``bounds`` when the shapes differ)."""
        p = self.proj
        half_w = (p.width / 2) / p.scale / (p.k * 111_195.08)
        half_h = (p.height / 2) / p.scale / 111_195.08
        return (p.lon0 - half_w, p.lat0 - half_h, p.lon0 + half_w, p.lat0 + half_h)

    def open_svg(self, prefix: str, title: str, desc: str, css_class: str) -> list[str]:
        w, h = self.width, self.height
        return [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" class="{css_class}" '
            f'role="img" aria-labelledby="{prefix}-title {prefix}-desc" focusable="false" '
            f'style="max-width:{w / 16:.2f}rem">',
            f'<title id="{prefix}-title">{_esc(title)}</title><desc id="{prefix}-desc">{_esc(desc)}</desc>',
            f'<defs><pattern id="{prefix}-hachure" patternUnits="userSpaceOnUse" width="6" height="6" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{NO_DATA_FILL}"/>'
            f'<line x1="1" y1="0" x2="1" y2="6" stroke="#6e6e6e" stroke-width="1.6"/></pattern></defs>',
            f'<rect width="{w:.0f}" height="{h:.0f}" fill="#ffffff"/>',
        ]

    def scale_bar(self, x: float | None = None, y: float | None = None) -> str:
        """A scale bar of a round length, about a fifth of the width, bottom left."""
        length_m = nice_distance(self.width / 5 * self.proj.metres_per_pixel)
        px = length_m / self.proj.metres_per_pixel
        size = max(13.0, self.width / 40)  # the map is drawn smaller than its viewBox: text stays readable
        x = 12 if x is None else x
        y = self.height - 12 if y is None else y
        return (f'<g class="echelle" aria-hidden="true"><rect x="{x - 4}" y="{y - size * 1.6:.1f}" '
                f'width="{max(px, size * 3.5) + 8:.1f}" height="{size * 1.6 + 6:.1f}" fill="#ffffff" fill-opacity="0.85"/>'
                f'<path d="M{x} {y - size / 2.5:.1f}V{y}H{x + px:.1f}V{y - size / 2.5:.1f}" fill="none" stroke="#1a1a1a" '
                f'stroke-width="2"/><text x="{x}" y="{y - size * 0.6:.1f}" font-size="{size:.0f}" fill="#1a1a1a" '
                f'font-family="system-ui, sans-serif">{_esc(fmt_distance(length_m))}</text></g>')


#: metropolitan France (lon/lat): a perimeter reaching overseas is mapped on its QPV in there
METROPOLE_BOX = (-5.5, 41.0, 10.0, 51.5)


def perimeter_bounds(contours: dict[str, object], codes=None) -> tuple[float, float, float, float] | None:
    """The lon/lat box of the contours (of ``codes``); when they reach overseas (the France perimeter), the
    box of those in metropolitan France, if most are there."""
    geoms = [g for c, g in contours.items() if codes is None or c in codes]
    if not geoms:
        return None
    b = shapely.total_bounds(geoms)
    if b[2] - b[0] > 20 or b[3] - b[1] > 15:
        inside = [g for g in geoms if shapely.within(shapely.centroid(g), shapely.box(*METROPOLE_BOX))]
        if len(inside) * 2 > len(geoms):
            b = shapely.total_bounds(inside)
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def choropleth_svg(frame: Frame, prefix: str, title: str, desc: str, fills: dict[str, str],
                   labels: dict[str, str], links: dict[str, str]) -> str:
    """Every QPV of ``frame`` filled (``fills``: a colour, or ``None`` for no value: hatched), with its
    label as a tooltip (``<title>``) and a link to its fiche for a pointer (out of the tab order: the table
    beside the map gives the same links to the keyboard)."""
    out = frame.open_svg(prefix, title, desc, "carte")
    out.append(f'<g stroke="{OUTLINE}" stroke-width="0.7" stroke-linejoin="round" fill-rule="evenodd">')
    for code, d in frame.paths.items():
        fill = fills.get(code) or f"url(#{prefix}-hachure)"
        shape = f'<path d="{d}" fill="{fill}" vector-effect="non-scaling-stroke"><title>{_esc(labels.get(code, code))}' \
                f'</title></path>'
        if code in frame.dots:
            x, y = frame.dots[code]
            shape += (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{fill}" stroke="#1a1a1a" '
                      f'vector-effect="non-scaling-stroke"><title>{_esc(labels.get(code, code))}</title></circle>')
        href = links.get(code)
        out.append(f'<a href="{_esc(href)}" tabindex="-1">{shape}</a>' if href else shape)
    out.append("</g>")
    out.append(frame.scale_bar())
    out.append("</svg>")
    return "".join(out)


def qpv_svg(frame: Frame, focus: str, prefix: str, title: str, desc: str, labels: dict[str, str]) -> str:
    """The fiche's map: the QPV filled and outlined, the neighbouring QPV in grey, a scale bar."""
    out = frame.open_svg(prefix, title, desc, "carte carte-qpv")
    out.append(f'<g stroke="#8c8c8c" stroke-width="0.8" fill="{NEIGHBOUR_FILL}" fill-rule="evenodd">')
    for code, d in frame.paths.items():
        if code != focus:
            out.append(f'<path d="{d}" vector-effect="non-scaling-stroke"><title>{_esc(labels.get(code, code))}'
                       f'</title></path>')
    out.append("</g>")
    if focus in frame.paths:
        out.append(f'<path d="{frame.paths[focus]}" fill="{FOCUS_FILL}" fill-opacity="0.45" stroke="{FOCUS_STROKE}" '
                   f'stroke-width="2.5" stroke-linejoin="round" fill-rule="evenodd" '
                   f'vector-effect="non-scaling-stroke"><title>{_esc(labels.get(focus, focus))}</title></path>')
    out.append(frame.scale_bar())
    out.append("</svg>")
    return "".join(out)


def locator_svg(frame: Frame, focus: str, prefix: str, title: str, desc: str) -> str:
    """Where the QPV lies in the perimeter: every QPV a grey dot, this one a large dark one."""
    out = frame.open_svg(prefix, title, desc, "carte carte-situation")
    out.append('<g fill="#9a9a9a">')
    for code, (x, y) in frame.centres.items():
        if code != focus:
            out.append(f'<circle cx="{x:.0f}" cy="{y:.0f}" r="7"/>')
    out.append("</g>")
    if focus in frame.centres:
        x, y = frame.centres[focus]
        out.append(f'<circle cx="{x:.0f}" cy="{y:.0f}" r="26" fill="none" stroke="#b30000" stroke-width="6"/>'
                   f'<circle cx="{x:.0f}" cy="{y:.0f}" r="11" fill="#b30000"/>')
    out.append("</svg>")
    return "".join(out)


def legend_classes(breaks: list[float], unite: str | None, decimales: int | None) -> list[dict]:
    """The legend's classes: colour and French label (« de 12,3 à 18,0 % »)."""
    n = len(breaks) - 1
    colors = PALETTES.get(n) or PALETTES[5]
    out = []
    for i in range(n):
        lo, hi = breaks[i], breaks[i + 1]
        if lo == hi:
            label = fmt.fmt_value(lo, unite, decimales)
        else:
            label = f"de {fmt.fmt_number(lo, fmt.decimals_for(unite, decimales))} à {fmt.fmt_value(hi, unite, decimales)}"
        out.append({"color": colors[i], "label": label, "index": i})
    return out
