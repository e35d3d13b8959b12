"""Maps drawn from the ANCT contours (WGS84 longitude/latitude) as inline SVG, with no tile server.

The projection is a local equirectangular one: around a reference latitude φ0 (the middle of what is drawn),
a point is placed at ``x = (λ − λ0)·cos φ0·R·π/180`` and ``y = (φ − φ0)·R·π/180`` metres (R = 6 371 008.8 m,
the mean Earth radius), then scaled to pixels with y pointing down. Over a Métropole (< 150 km) distances are
off by well under 1 %, which is all a locator map needs, and a scale bar can be drawn in metres.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
import shapely

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180  # 111 195.08 m along a meridian


@dataclass
class Projection:
    """Fit ``bounds`` = (lon_min, lat_min, lon_max, lat_max) into a ``width`` × ``height`` pixel box (height
    follows the shape when None), ``padding`` pixels on every side, centred."""

    bounds: tuple[float, float, float, float]
    width: float
    height: float | None = None
    padding: float = 8.0
    min_extent_m: float = 200.0

    def __post_init__(self) -> None:
        lon_min, lat_min, lon_max, lat_max = self.bounds
        self.lon0 = (lon_min + lon_max) / 2
        self.lat0 = (lat_min + lat_max) / 2
        self.k = math.cos(math.radians(self.lat0))
        x0, y0 = self.metres(lon_min, lat_min)
        x1, y1 = self.metres(lon_max, lat_max)
        w_m = max(x1 - x0, self.min_extent_m)
        h_m = max(y1 - y0, self.min_extent_m)
        inner_w = self.width - 2 * self.padding
        if self.height is None:
            self.scale = inner_w / w_m
            self.height = h_m * self.scale + 2 * self.padding
        else:
            self.scale = min(inner_w / w_m, (self.height - 2 * self.padding) / h_m)
        # centre the drawing: the point (lon0, lat0) at the middle of the box
        self.cx = self.width / 2
        self.cy = self.height / 2

    def metres(self, lon: float, lat: float) -> tuple[float, float]:
        """Metres east and north of the reference point (lon0, lat0)."""
        return ((lon - self.lon0) * self.k * METRES_PER_DEGREE, (lat - self.lat0) * METRES_PER_DEGREE)

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        """Pixel position (x right, y down)."""
        x, y = self.metres(lon, lat)
        return (self.cx + x * self.scale, self.cy - y * self.scale)

    def project_array(self, coords: np.ndarray) -> np.ndarray:
        """``coords`` (n × 2, lon/lat) → pixels (n × 2)."""
        out = np.empty_like(coords, dtype=float)
        out[:, 0] = self.cx + (coords[:, 0] - self.lon0) * self.k * METRES_PER_DEGREE * self.scale
        out[:, 1] = self.cy - (coords[:, 1] - self.lat0) * METRES_PER_DEGREE * self.scale
        return out

    @property
    def metres_per_pixel(self) -> float:
        return 1.0 / self.scale

    def project(self, geom):
        """A shapely geometry in lon/lat → the same geometry in pixels."""
        return shapely.transform(geom, self.project_array)


def path_d(geom, *, tolerance: float = 0.0, digits: int = 1) -> str:
    """SVG path data of a (projected) Polygon or MultiPolygon: one sub-path per ring, closed (draw it with
    ``fill-rule="evenodd"`` for holes). ``tolerance``: pixels of simplification (topology kept)."""
    if geom is None or geom.is_empty:
        return ""
    if tolerance > 0:
        geom = shapely.simplify(geom, tolerance, preserve_topology=True)
    parts = []
    polygons = getattr(geom, "geoms", [geom])
    for poly in polygons:
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        for ring in (poly.exterior, *poly.interiors):
            coords = np.asarray(ring.coords)[:-1]
            if len(coords) < 3:
                continue
            pts = " ".join(f"{x:.{digits}f} {y:.{digits}f}" for x, y in coords)
            parts.append(f"M{pts}Z")
    return "".join(parts)


def nice_distance(metres: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres not above ``metres`` (a scale bar's length)."""
    if metres <= 0:
        return 0.0
    exp = math.floor(math.log10(metres))
    for step in (5, 2, 1):
        d = step * 10 ** exp
        if d <= metres:
            return float(d)
    return float(10 ** exp)


def fmt_distance(metres: float) -> str:
    if metres >= 1000:
        km = metres / 1000
        return (f"{km:.0f}" if km == int(km) else f"{km:.1f}".replace(".", ",")) + "\u00a0km"
    return f"{metres:.0f}\u00a0m"


def quantile_breaks(values: list[float], classes: int = 5, decimals: int = 1) -> list[float]:
    """Class boundaries for a choropleth: the minimum, the quantiles k/classes (linear interpolation) and the
    maximum, rounded to ``decimals`` (the minimum down, the maximum up) and without repeats (fewer classes
    when values repeat). Class i holds the values from breaks[i] up to breaks[i+1] excluded, the last class
    its upper bound too (see :func:`class_of`)."""
    vals = sorted(float(v) for v in values if v is not None and not math.isnan(float(v)))
    if not vals:
        return []
    qs = [float(np.quantile(vals, k / classes)) for k in range(classes + 1)]
    factor = 10 ** decimals
    rounded = [math.floor(qs[0] * factor) / factor]
    rounded += [round(q, decimals) for q in qs[1:-1]]
    rounded.append(math.ceil(qs[-1] * factor) / factor)
    breaks: list[float] = []
    for b in rounded:
        if not breaks or b > breaks[-1]:
            breaks.append(b)
    if len(breaks) == 1:  # every value the same: one class
        breaks.append(breaks[0])
    return breaks


def class_of(value: float, breaks: list[float]) -> int:
    """The class (0-based) of ``value``: the last boundary at or below it, the top one closed."""
    n = len(breaks) - 1
    return min(max(bisect_right(breaks, value) - 1, 0), max(n - 1, 0))
