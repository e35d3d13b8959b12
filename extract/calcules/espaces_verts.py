"""Green space within 5 minutes on foot (``m2_espaces_verts_5min_par_hab``): OSM polygons → m² per inhabitant.

Two pure steps, described in French in ``docs/methodes.md`` (« Espaces verts »):

1. :func:`parse_overpass` reads an Overpass API answer (``[out:json]`` … ``out geom;``) and returns the green
   spaces open to the public as polygons in EPSG:3035 (metres, equal-area), with the reason each other element
   was set aside. An answer that is an error (an HTML or XML page, a JSON ``remark`` saying « runtime error »,
   « timed out », « out of memory », even next to partial ``elements``), a non-JSON body or a JSON without an
   ``elements`` list is refused with a :class:`~extract.errors.FormatError`: a truncated answer must never be
   read as « few parks ».
2. :func:`m2_espaces_verts` measures, for each populated 200 m square, the green area (union of all kept
   polygons: overlapping tags, e.g. a playground inside a park, are counted once) within reach of the square's
   centroid, then averages it over the inhabitants of each zone (QPV, commune, Métropole), each square weighted
   by its population share in the zone.

**Method label.** Only the crow-fly method is implemented here: reach = a disc of 400 m (5 minutes at
4.8 km/h) around the centroid, and the part of each green polygon inside the disc is counted (exactly, up to
the disc's polygon approximation: 256 segments, < 0.05 m of radial error). Every result carries
``methode = "tampon_400m_vol_oiseau"`` (:data:`METHODE_TAMPON`), so the catalogue and the published value say
which method made it. A walking-network isochrone (OSM footways) is the target method; it is not implemented.

**Tags kept** (:data:`TAGS`, decided here and documented in ``docs/methodes.md``):

* ``leisure=park``, ``leisure=playground``, ``landuse=recreation_ground``, ``landuse=forest``: kept;
* ``leisure=garden``: kept unless private (``access`` below, or ``garden:type=residential|private``);
* ``landuse=grass``: kept only from :data:`SURFACE_MIN_GRASS_M2` (1 000 m²) of its own, so that road verges
  and median strips do not count (grass inside a park counts anyway, through the park);
* any element with ``access=private|no|customers`` is set aside.

Ways must be closed (first point = last point) to be areas; multipolygon relations are assembled from their
members' geometry (outer and inner rings, even-odd rule). Nodes (a playground mapped as a point) have no area
and are set aside (counted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import shapely
from pyproj import Transformer

from extract.errors import FormatError
from extract.formats import SNIFF_BYTES, decode, describe_kind, sniff_kind

SOURCE_ID = "osm_espaces_verts"
METHODE_TAMPON = "tampon_400m_vol_oiseau"
RAYON_M = 400.0  # 5 minutes at 4.8 km/h
SURFACE_MIN_GRASS_M2 = 1_000.0
ACCES_EXCLUS = frozenset({"private", "no", "customers"})
GARDEN_TYPES_PRIVES = frozenset({"residential", "private"})
#: (key, value) → category name kept in the table
TAGS = {
    ("leisure", "park"): "parc",
    ("leisure", "garden"): "jardin",
    ("leisure", "playground"): "aire_de_jeux",
    ("landuse", "recreation_ground"): "espace_de_loisirs",
    ("landuse", "grass"): "pelouse",
    ("landuse", "forest"): "foret",
}
_QUAD_SEGS = 64  # disc = 256-gon
_TILE_M = 500.0  # the union is cut into 500 m tiles so a huge forest is not intersected whole, square by square
_ERROR_REMARK = re.compile(r"runtime error|timed out|out of memory|too many|error", re.IGNORECASE)
_HTML_ERROR = re.compile(r"<strong[^>]*>\s*Error\s*</strong>\s*:?\s*(.*?)</p>", re.IGNORECASE | re.DOTALL)
_XML_REMARK = re.compile(r"<remark>(.*?)</remark>", re.IGNORECASE | re.DOTALL)
_TAGS_RE = re.compile(r"<[^>]+>")

_TO_3035 = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True)


@dataclass
class ReponseOverpass:
    """The green spaces of one Overpass answer.

    ``table``: one row per kept OSM element — ``osm_type``, ``osm_id``, ``categorie``, ``nom``, ``surface_m2``,
    ``geometry_wkb`` (EPSG:3035). ``ecartes``: elements set aside, by reason. ``timestamp_osm_base``: the date of
    the OSM data the server answered from (the data date to record).
    """

    table: pa.Table
    ecartes: dict[str, int] = field(default_factory=dict)
    timestamp_osm_base: str | None = None

    @property
    def geometries(self) -> np.ndarray:
        return shapely.from_wkb(np.asarray(self.table.column("geometry_wkb").to_pylist(), dtype=object))


def _snippet(text: str, n: int = 200) -> str:
    text = " ".join(_TAGS_RE.sub(" ", text).split())
    return text[:n] + ("…" if len(text) > n else "")


def parse_overpass(data: bytes, *, source_id: str = SOURCE_ID, file: str = "overpass.json",
                   url: str | None = None, surface_min_grass_m2: float = SURFACE_MIN_GRASS_M2) -> ReponseOverpass:
    """Green spaces open to the public from an Overpass ``out geom`` JSON answer (see the module doc)."""
    kind = sniff_kind(data[:SNIFF_BYTES])
    if kind in ("html", "xml"):
        text, _ = decode(data)
        m = _HTML_ERROR.search(text) or _XML_REMARK.search(text)
        found = describe_kind(kind) + (f" saying « {_snippet(m.group(1))} »" if m else f": « {_snippet(text)} »")
        raise FormatError(source_id, "the Overpass server answered with an error page, not data", url=url,
                          file=file, expected="an Overpass JSON answer ([out:json] … out geom)", found=found)
    if kind not in ("json", "geojson"):
        raise FormatError(source_id, "the Overpass answer is not JSON", url=url, file=file,
                          expected="an Overpass JSON answer ([out:json] … out geom)", found=describe_kind(kind))
    text, _ = decode(data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(source_id, f"invalid JSON: {exc.msg}", url=url, file=file, line=exc.lineno,
                          expected="an Overpass JSON answer", found=f"a syntax error at column {exc.colno}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("elements"), list):
        found = ("a JSON object with keys " + ", ".join(sorted(doc)) if isinstance(doc, dict)
                 else f"a JSON {type(doc).__name__}")
        raise FormatError(source_id, "the Overpass answer has no 'elements' list", url=url, file=file,
                          expected="a JSON object with an 'elements' list", found=found)
    remark = doc.get("remark")
    if isinstance(remark, str) and _ERROR_REMARK.search(remark):
        raise FormatError(
            source_id, "the Overpass query failed on the server (its answer is partial or empty: refused)",
            url=url, file=file, expected="an answer without an error remark",
            found=f"remark « {_snippet(remark, 300)} » with {len(doc['elements'])} element(s)")
    timestamp = (doc.get("osm3s") or {}).get("timestamp_osm_base") if isinstance(doc.get("osm3s"), dict) else None

    rows: dict[str, list] = {k: [] for k in ("osm_type", "osm_id", "categorie", "nom", "surface_m2", "geometry_wkb")}
    ecartes: dict[str, int] = {}

    def drop(reason: str) -> None:
        ecartes[reason] = ecartes.get(reason, 0) + 1

    for pos, el in enumerate(doc["elements"]):
        if not isinstance(el, dict):
            raise FormatError(source_id, "an element of the Overpass answer is not an object", url=url, file=file,
                              column=f"elements[{pos}]", expected="a JSON object", found=repr(el)[:80])
        tags = el.get("tags") or {}
        cat = _categorie(tags)
        if cat is None:
            drop("etiquette_hors_liste")
            continue
        if str(tags.get("access", "")).strip().lower() in ACCES_EXCLUS:
            drop("acces_prive")
            continue
        if cat == "jardin" and str(tags.get("garden:type", "")).strip().lower() in GARDEN_TYPES_PRIVES:
            drop("jardin_prive")
            continue
        etype = el.get("type")
        if etype == "node":
            drop("noeud_sans_surface")
            continue
        where = f"elements[{pos}] ({etype} {el.get('id')})"
        if etype == "way":
            if "geometry" not in el:
                raise _no_geometry(source_id, url, file, where)
            geom = _way_polygon(el["geometry"])
        elif etype == "relation":
            members = el.get("members")
            if not isinstance(members, list) or (members and not any("geometry" in m for m in members)):
                raise _no_geometry(source_id, url, file, where)
            geom = _relation_polygon(members)
        else:
            drop("type_inconnu")
            continue
        if geom is None:
            drop("geometrie_incomplete_ou_ouverte")
            continue
        geom = shapely.transform(geom, _to_3035)
        if not shapely.is_valid(geom):
            geom = _polygonal(shapely.make_valid(geom))
        area = float(shapely.area(geom)) if geom is not None else 0.0
        if geom is None or area <= 0:
            drop("surface_nulle")
            continue
        if cat == "pelouse" and area < surface_min_grass_m2:
            drop("pelouse_trop_petite")
            continue
        rows["osm_type"].append(etype)
        rows["osm_id"].append(int(el.get("id", 0)))
        rows["categorie"].append(cat)
        rows["nom"].append(tags.get("name"))
        rows["surface_m2"].append(area)
        rows["geometry_wkb"].append(shapely.to_wkb(geom))
    schema = pa.schema([("osm_type", pa.string()), ("osm_id", pa.int64()), ("categorie", pa.string()),
                        ("nom", pa.string()), ("surface_m2", pa.float64()), ("geometry_wkb", pa.binary())])
    return ReponseOverpass(pa.table(rows, schema=schema), ecartes, timestamp)


def _no_geometry(source_id: str, url: str | None, file: str, where: str) -> FormatError:
    return FormatError(source_id, "an area of the Overpass answer has no coordinates (query not ended by "
                       "'out geom'?)", url=url, file=file, column=where,
                       expected="'geometry' lists of lat/lon (out geom)", found="no 'geometry'")


def _categorie(tags: dict) -> str | None:
    for key in ("leisure", "landuse"):
        cat = TAGS.get((key, str(tags.get(key, "")).strip().lower()))
        if cat:
            return cat
    return None


def _to_3035(xy: np.ndarray) -> np.ndarray:
    x, y = _TO_3035.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def _coords(points) -> np.ndarray | None:
    """(lon, lat) array from Overpass ``[{"lat":…, "lon":…}, …]``; None when a point is missing (clipped)."""
    if not isinstance(points, list):
        return None
    try:
        return np.array([(float(p["lon"]), float(p["lat"])) for p in points], dtype=np.float64)
    except (TypeError, KeyError, ValueError):
        return None


def _polygonal(geom) -> shapely.Geometry | None:
    polys = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3 and not p.is_empty]
    for p in shapely.get_parts(geom):
        if shapely.get_type_id(p) == 6:
            polys.extend(shapely.get_parts(p))
    return shapely.multipolygons(polys) if polys else None


def _way_polygon(points) -> shapely.Geometry | None:
    xy = _coords(points)
    if xy is None or len(xy) < 4 or not np.array_equal(xy[0], xy[-1]):
        return None
    return shapely.polygons(xy)


def _relation_polygon(members: list) -> shapely.Geometry | None:
    """Multipolygon from member ways (outer and inner), by the even-odd rule over the closed rings: a ring
    split across several ways is merged first; any member line left open makes the relation incomplete."""
    lines = []
    for m in members:
        if not isinstance(m, dict) or m.get("type") != "way" or m.get("role", "") not in ("outer", "inner", ""):
            continue
        xy = _coords(m.get("geometry"))
        if xy is None or len(xy) < 2:
            return None
        lines.append(shapely.linestrings(xy))
    if not lines:
        return None
    merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines)))
    if not len(merged) or not all(shapely.is_closed(merged)):
        return None
    rings = [shapely.polygons(shapely.get_coordinates(g)) for g in merged if len(shapely.get_coordinates(g)) >= 4]
    if not rings:
        return None
    geom = rings[0]
    for r in rings[1:]:
        geom = shapely.symmetric_difference(geom, r)
    return _polygonal(geom)


# -- measure ---------------------------------------------------------------------------------------------------


def union_espaces_verts(polygons: Sequence[shapely.Geometry], *, tile_m: float = _TILE_M) -> np.ndarray:
    """The union of the green polygons (EPSG:3035), cut into ``tile_m`` tiles: disjoint pieces whose areas add
    up to the union's area (no double count of overlapping tags)."""
    polys = np.asarray(polygons, dtype=object)
    polys = polys[~shapely.is_empty(polys)] if len(polys) else polys
    if not len(polys):
        return np.empty(0, dtype=object)
    union = shapely.union_all(polys)
    parts = shapely.get_parts(union)
    # only the tiles each part's bounds cover (a national set's bounding box would be millions of empty tiles)
    b = shapely.bounds(parts)
    i0, j0 = np.floor(b[:, 0] / tile_m).astype(np.int64), np.floor(b[:, 1] / tile_m).astype(np.int64)
    i1, j1 = np.floor(b[:, 2] / tile_m).astype(np.int64), np.floor(b[:, 3] / tile_m).astype(np.int64)
    ni, nj = i1 - i0 + 1, j1 - j0 + 1
    count = ni * nj
    part_of = np.repeat(np.arange(len(parts)), count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    ti = i0[part_of] + k // nj[part_of]
    tj = j0[part_of] + k % nj[part_of]
    tiles = shapely.box(ti * tile_m, tj * tile_m, (ti + 1) * tile_m, (tj + 1) * tile_m)
    pieces = shapely.get_parts(shapely.intersection(parts[part_of], tiles))
    return pieces[shapely.area(pieces) > 0]


def aire_atteignable(points: np.ndarray, pieces: np.ndarray, *, rayon_m: float = RAYON_M,
                     chunk: int = 20_000) -> np.ndarray:
    """Green area (m²) within ``rayon_m`` (crow-fly) of each point (EPSG:3035 x, y array of shape (n, 2)),
    from the disjoint pieces of :func:`union_espaces_verts`. Vectorised, in chunks of points."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = np.zeros(len(points))
    if not len(pieces) or not len(points):
        return out
    tree = shapely.STRtree(pieces)
    piece_area = shapely.area(pieces)
    for lo in range(0, len(points), chunk):
        pts = shapely.points(points[lo:lo + chunk])
        # only the points with a piece within reach get a disc (most of a national grid has none nearby)
        near = np.unique(tree.query(pts, predicate="dwithin", distance=rayon_m)[0])
        if not len(near):
            continue
        discs = shapely.buffer(pts[near], rayon_m, quad_segs=_QUAD_SEGS)
        d_idx, p_idx = tree.query(discs, predicate="intersects")
        if not len(d_idx):
            continue
        inside = shapely.contains_properly(discs[d_idx], pieces[p_idx])
        areas = np.where(inside, piece_area[p_idx], 0.0)
        cut = ~inside
        areas[cut] = shapely.area(shapely.intersection(discs[d_idx[cut]], pieces[p_idx[cut]]))
        out[lo + near] = np.bincount(d_idx, weights=areas, minlength=len(near))
    return out


@dataclass
class ResultatEspacesVerts:
    """``m2_par_carreau``: green area within reach of each square's centroid. ``zones``: one row per zone
    (``niveau``: ``qpv``, ``commune``, ``metropole``…; ``code``; ``population`` apportioned; ``valeur`` in m² per
    inhabitant, NULL with ``motif`` when the zone has no population; ``methode``)."""

    methode: str
    rayon_m: float
    m2_par_carreau: np.ndarray
    zones: pa.Table


Poids = tuple[Sequence[int], Sequence[str], Sequence[float]]  # square index, zone code, share of the square


def m2_espaces_verts(squares: Sequence[shapely.Geometry], population, green: Sequence[shapely.Geometry], *,
                     weights: Poids | None = None, comparateurs: dict[str, Poids] | None = None,
                     zones: pa.Table | None = None, rayon_m: float = RAYON_M) -> ResultatEspacesVerts:
    """m² of green space within 5 minutes on foot per inhabitant, crow-fly method (:data:`METHODE_TAMPON`).

    ``squares``: the populated squares (shapely polygons, EPSG:3035); ``population``: inhabitants per square;
    ``green``: green polygons (EPSG:3035, e.g. :attr:`ReponseOverpass.geometries`). ``weights``: the square ×
    QPV split (arrays of square index, code_qpv, share of the square's population in that QPV);
    ``comparateurs``: other levels the same way, e.g. ``{"commune": (idx, codes, shares), "metropole": …}``.
    ``zones``: instead of (or with) those, the long table of :meth:`extract.calcules.carroyage.Repartition.zones`
    (``carreau``, ``niveau``, ``code``, ``population`` already apportioned to the zone).

    Per zone z: ``Σ_i A_i · s_iz · P_i / Σ_i s_iz · P_i`` — the mean, over the zone's inhabitants, of the green
    area within reach of where they live (A_i: area within ``rayon_m`` of square i's centroid).
    """
    squares = np.asarray(squares, dtype=object)
    population = np.asarray(population, dtype=np.float64)
    if population.shape != (len(squares),):
        raise ValueError(f"population has shape {population.shape}; expected ({len(squares)},)")
    centroids = shapely.get_coordinates(shapely.centroid(squares)) if len(squares) else np.empty((0, 2))
    per_square = aire_atteignable(centroids, union_espaces_verts(green), rayon_m=rayon_m)
    levels: dict[str, Poids] = {}
    if weights is not None:
        levels["qpv"] = weights
    levels.update(comparateurs or {})
    agreges = [(niveau, *moyenne_ponderee(per_square, population, idx, codes, shares))
               for niveau, (idx, codes, shares) in levels.items()]
    if zones is not None:
        niv = np.asarray(zones.column("niveau").to_pylist(), dtype=object)
        idx_z = np.asarray(zones.column("carreau").to_numpy(zero_copy_only=False), dtype=np.int64)
        pop_z = np.asarray(zones.column("population").to_numpy(zero_copy_only=False), dtype=np.float64)
        code_z = np.asarray(zones.column("code").to_pylist(), dtype=object)
        for niveau in dict.fromkeys(niv.tolist()):
            m = niv == niveau
            agreges.append((niveau, *_agrege(per_square, idx_z[m], code_z[m], pop_z[m])))
    cols: dict[str, list] = {k: [] for k in ("niveau", "code", "population", "valeur", "motif", "methode")}
    for niveau, codes_u, pop, val in agreges:
        for c, p, v in zip(codes_u, pop, val, strict=True):
            cols["niveau"].append(niveau)
            cols["code"].append(c)
            cols["population"].append(float(p))
            ok = p > 0
            cols["valeur"].append(float(v) if ok else None)
            cols["motif"].append(None if ok else "aucun habitant dans les carreaux de la zone")
            cols["methode"].append(METHODE_TAMPON)
    schema = pa.schema([("niveau", pa.string()), ("code", pa.string()), ("population", pa.float64()),
                        ("valeur", pa.float64()), ("motif", pa.string()), ("methode", pa.string())])
    return ResultatEspacesVerts(METHODE_TAMPON, float(rayon_m), per_square, pa.table(cols, schema=schema))


def moyenne_ponderee(per_square: np.ndarray, population: np.ndarray, idx, codes, shares
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Population-weighted mean of a per-square value by zone: (zone codes sorted, population, mean)."""
    idx = np.asarray(idx, dtype=np.int64)
    shares = np.asarray(shares, dtype=np.float64)
    if not (len(idx) == len(codes) == len(shares)):
        raise ValueError("weights: square index, zone code and share arrays differ in length")
    return _agrege(per_square, idx, codes, shares * population[idx])


def _agrege(per_square: np.ndarray, idx: np.ndarray, codes, w: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of ``per_square[idx]`` weighted by ``w`` (population apportioned to the zone), by zone code."""
    codes = np.asarray(codes, dtype=object)
    if not len(codes):
        return np.empty(0, dtype=str), np.empty(0), np.empty(0)
    codes_u, inv = np.unique(codes.astype(str), return_inverse=True)
    pop = np.bincount(inv, weights=w, minlength=len(codes_u))
    num = np.bincount(inv, weights=w * per_square[idx], minlength=len(codes_u))
    with np.errstate(invalid="ignore", divide="ignore"):
        val = np.where(pop > 0, num / np.where(pop > 0, pop, 1), np.nan)
    return codes_u, pop, val
