"""ANCT QPV 2024 référentiel: the contours (and attributes) of every quartier prioritaire.

Source: « Quartiers prioritaires de la politique de la ville (QPV) » by the ANCT (SIG Ville) on data.gouv.fr,
stable resource ``https://www.data.gouv.fr/api/1/datasets/r/942d4ee8-8142-4556-8ea1-335537ce1119``
(Licence Ouverte 2.0). The same resource id has been served as a **ZIP** (``GEOJSON/QP2024_France_Hexagonale_
Outre_Mer_WGS84.geojson`` next to ``SHP/…`` shapefiles in Lambert-93 and WGS84, sometimes a GeoPackage) and,
in older copies, as a **plain GeoJSON**: the bytes decide, never the name.

Feature properties as published: ``fid, code_qp, lib_qp, insee_reg, lib_reg, insee_dep, lib_dep, insee_com,
lib_com, siren_epci``. A QPV over several communes lists them in one string (``"13055, 13070"``): kept as
published in ``insee_com``/``lib_com`` (the QPV × commune bridge is a separate référentiel).

The parsed table has one row per QPV: the attributes (text, codes never numbers) and ``geometry_wkb``, the
polygon as published in WKB (little-endian, 2D, WGS84 longitude/latitude). ``_line`` is the physical line of
the file where the feature starts (GDAL writes one feature per line). :mod:`extract.spatial` builds the
point-in-polygon index from this table.

Memory: the GeoJSON text is held once (the national file is tens of MB); features are decoded one at a
time (``json.JSONDecoder.raw_decode``) and emitted in batches, never as one big Python object tree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import shapely
from shapely.geometry import shape

from extract.errors import FormatError
from extract.formats import decode, describe_kind, open_zip, sniff_kind, sniff_path
from extract.parsers import ParseContext, Parser
from extract.tables import Column, TableSpec

QPV_2024_RE = re.compile(r"^QN(\d{3}|02A|02B)\d{2}[NMIC]$")
QPV_2015_RE = re.compile(r"^QP(\d{3}|02A|02B)\d{3}$")
BATCH_FEATURES = 500

CONTOURS = TableSpec(
    name="anct_qpv_contours",
    columns=(
        Column("code_qpv", ("code_qp", "code_qp_2024", "code_quartier")),
        Column("libelle_qpv", ("lib_qp", "nom_qp", "libelle_qp")),
        Column("insee_com", ("code_insee_com", "insee_commune")),
        Column("lib_com", ("nom_com", "libelle_com")),
        Column("insee_dep", ("code_dep",)),
        Column("lib_dep", ("nom_dep",)),
        Column("insee_reg", ("code_reg",)),
        Column("lib_reg", ("nom_reg",)),
        Column("siren_epci", ("code_epci",)),
        Column("geometry_wkb", type="binary"),
    ),
    key=("code_qpv",),
    geography="qpv2024",
    qpv_column="code_qpv",
    qpv_required=True,
    covers_all_qpv=True,
)

#: property columns (all but the geometry), in spec order
_PROPERTY_COLUMNS = [c for c in CONTOURS.columns if c.type != "binary"]
#: codes published as JSON numbers lose their leading zeros: restored to the code's width
_CODE_WIDTH = {"insee_com": 5, "insee_dep": 2, "insee_reg": 2, "siren_epci": 9}
_WGS84_CRS = ("crs84", "4326")
_WS = re.compile(r"[ \t\n\r]*")


def _geojson_member(path: Path, ctx: ParseContext) -> tuple[bytes, str]:
    """The bytes of the WGS84 GeoJSON inside the ANCT ZIP (and the member name)."""
    with open_zip(path, source_id=ctx.source_id, url=ctx.url, file=ctx.file) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")]
        geojson = [n for n in names if re.search(r"\.(geo)?json$", n, re.IGNORECASE)]
        if len(geojson) > 1:
            wgs = [n for n in geojson if "wgs84" in n.lower() or "4326" in n]
            geojson = wgs or geojson
        if len(geojson) != 1:
            problem = ("no GeoJSON member in the ZIP archive (shapefiles and GeoPackages are not read: the "
                       "ANCT archive has always carried the WGS84 GeoJSON)" if not geojson
                       else "several GeoJSON members in the ZIP archive, none singled out as WGS84")
            raise FormatError(
                ctx.source_id,
                problem,
                url=ctx.url,
                file=ctx.file,
                expected="exactly one member *.geojson, e.g. GEOJSON/QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson",
                found=", ".join(names[:12]) + (f" … ({len(names)} members)" if len(names) > 12 else "")
                if names else "an empty archive",
            )
        return zf.read(geojson[0]), geojson[0]


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def iter_features(text: str, *, source_id: str, file: str, url: str | None) -> Iterator[tuple[int, int, dict]]:
    """``(feature_number, line, feature)`` for every feature of a GeoJSON FeatureCollection, decoding one
    feature at a time. Raises :class:`FormatError` on anything that is not a FeatureCollection."""
    dec = json.JSONDecoder()

    def fail(problem: str, pos: int, expected: str, found: str):
        raise FormatError(source_id, problem, url=url, file=file, line=_line_of(text, pos), expected=expected,
                          found=found)

    def value_at(pos: int):
        try:
            return dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            fail(f"invalid JSON: {exc.msg}", exc.pos, "valid GeoJSON", repr(text[exc.pos:exc.pos + 40]))

    pos = _WS.match(text, 0).end()
    if text[pos:pos + 1] != "{":
        fail("not a GeoJSON object", pos, "a GeoJSON FeatureCollection ({\"type\": \"FeatureCollection\", …})",
             repr(text[pos:pos + 40]))
    pos += 1
    keys: list[str] = []
    top_type = None
    number = 0
    line, counted_to = 1, 0
    while True:
        pos = _WS.match(text, pos).end()
        if text[pos:pos + 1] == "}":
            break
        key, pos = value_at(pos)
        if not isinstance(key, str):
            fail("invalid JSON object key", pos, "a string key", repr(key))
        keys.append(key)
        pos = _WS.match(text, pos).end()
        if text[pos:pos + 1] != ":":
            fail("invalid JSON", pos, "':'", repr(text[pos:pos + 20]))
        pos = _WS.match(text, pos + 1).end()
        if key == "features":
            if text[pos:pos + 1] != "[":
                fail("'features' is not an array", pos, "an array of Feature objects", repr(text[pos:pos + 40]))
            pos = _WS.match(text, pos + 1).end()
            if text[pos:pos + 1] == "]":
                pos += 1
            else:
                while True:
                    start = pos
                    feature, pos = value_at(pos)
                    line += text.count("\n", counted_to, start)
                    counted_to = start
                    number += 1
                    yield number, line, feature
                    pos = _WS.match(text, pos).end()
                    if text[pos:pos + 1] == ",":
                        pos = _WS.match(text, pos + 1).end()
                        continue
                    if text[pos:pos + 1] == "]":
                        pos += 1
                        break
                    fail("invalid JSON in 'features'", pos, "',' or ']'", repr(text[pos:pos + 20]))
        else:
            val, pos = value_at(pos)
            if key == "type":
                top_type = val
            elif key == "crs":
                _check_crs(val, source_id=source_id, file=file, url=url)
        pos = _WS.match(text, pos).end()
        if text[pos:pos + 1] == ",":
            pos += 1
        elif text[pos:pos + 1] != "}":
            fail("invalid JSON", pos, "',' or '}'", repr(text[pos:pos + 20]))
    if top_type != "FeatureCollection" or "features" not in keys:
        raise FormatError(source_id, "not a GeoJSON FeatureCollection", url=url, file=file,
                          expected="an object with \"type\": \"FeatureCollection\" and \"features\"",
                          found=f"an object of type {top_type!r} with keys {', '.join(keys[:10]) or 'none'}")


def _check_crs(crs: object, *, source_id: str, file: str, url: str | None) -> None:
    name = ""
    if isinstance(crs, dict):
        name = str((crs.get("properties") or {}).get("name", ""))
    low = name.lower()
    if name and not any(tag in low for tag in _WGS84_CRS):
        raise FormatError(source_id, "the GeoJSON is not in WGS84 longitude/latitude", url=url, file=file,
                          expected="crs urn:ogc:def:crs:OGC:1.3:CRS84 or EPSG:4326 (the *_WGS84.geojson file)",
                          found=f"crs {name!r} (Lambert-93 is EPSG:2154: take the WGS84 file)")


def _text_value(col: Column, value: object, *, where: dict) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(**where, column=col.name, problem="property is not text",
                          expected="a string", found=repr(value))
    if col.name == "code_qpv":
        raise FormatError(**where, column=col.name, problem="QPV code published as a number",
                          expected="a QPV 2024 code as text (QNxxxyyZ)", found=repr(value))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    width = _CODE_WIDTH.get(col.name)
    if width and isinstance(value, int):
        text = text.zfill(width)  # a code typed as a number by some tool: its leading zeros come back
    return text


def _map_properties(props: dict, *, where: dict) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for col in _PROPERTY_COLUMNS:
        hits = [k for k in props if col.matches(k)]
        if len(hits) > 1:
            raise FormatError(**where, problem=f"ambiguous properties: several map to {col.name!r}",
                              expected=f"one of {', '.join((col.name,) + col.aliases)}", found=", ".join(hits))
        if hits:
            mapping[col.name] = hits[0]
    missing = [c for c in _PROPERTY_COLUMNS if c.required and c.name not in mapping]
    if missing:
        published = {"code_qpv": "code_qp", "libelle_qpv": "lib_qp"}
        raise FormatError(
            **where,
            problem=f"missing feature propert{'y' if len(missing) == 1 else 'ies'}: "
                    + ", ".join(published.get(c.name, c.name) for c in missing),
            expected="properties fid, code_qp, lib_qp, insee_reg, lib_reg, insee_dep, lib_dep, insee_com, "
                     "lib_com, siren_epci",
            found="properties " + ", ".join(repr(k) for k in props),
        )
    return mapping


def geometry_to_wkb(geom: object, *, where: dict) -> bytes:
    if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
        found = "no geometry" if geom is None else repr(geom.get("type") if isinstance(geom, dict) else geom)
        raise FormatError(**where, column="geometry", problem="the feature has no polygon",
                          expected="a Polygon or MultiPolygon", found=found)
    try:
        g = shape(geom)
    except Exception as exc:  # noqa: BLE001 - any malformed coordinate array
        raise FormatError(**where, column="geometry", problem=f"malformed geometry: {exc}",
                          expected="a GeoJSON Polygon or MultiPolygon", found=repr(geom.get("type"))) from None
    if g.is_empty:
        raise FormatError(**where, column="geometry", problem="empty geometry", expected="a non-empty polygon",
                          found="an empty " + str(geom.get("type")))
    xmin, ymin, xmax, ymax = g.bounds
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise FormatError(**where, column="geometry",
                          problem="coordinates are not WGS84 longitude/latitude",
                          expected="longitudes in [-180, 180] and latitudes in [-90, 90] (the *_WGS84 file)",
                          found=f"bounds ({xmin:.1f}, {ymin:.1f}, {xmax:.1f}, {ymax:.1f}): projected "
                                "coordinates (Lambert-93, EPSG:2154?)")
    return shapely.to_wkb(g, output_dimension=2, byte_order=1)


def parse_geojson_text(text: str, *, source_id: str, millesime: int, file: str, url: str | None,
                       batch_features: int = BATCH_FEATURES) -> Iterator[pa.RecordBatch]:
    """Arrow batches (``CONTOURS.arrow_schema()``) for every feature of an ANCT QPV GeoJSON."""
    schema = CONTOURS.arrow_schema()
    names = [c.name for c in CONTOURS.columns]
    cached: tuple[tuple[str, ...], dict[str, str]] | None = None
    buf: dict[str, list] = {n: [] for n in names}
    lines: list[int] = []
    for number, line, feature in iter_features(text, source_id=source_id, file=file, url=url):
        where = {"source_id": source_id, "url": url, "file": f"{file} (feature {number})", "line": line}
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise FormatError(**where, problem="not a GeoJSON Feature", expected='{"type": "Feature", …}',
                              found=repr(feature)[:80])
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise FormatError(**where, problem="properties is not an object", expected="an object",
                              found=repr(props)[:80])
        keys = tuple(props)
        if cached is None or cached[0] != keys:
            cached = (keys, _map_properties(props, where=where))
        mapping = cached[1]
        for col in _PROPERTY_COLUMNS:
            key = mapping.get(col.name)
            buf[col.name].append(_text_value(col, props.get(key) if key else None, where=where))
        code = buf["code_qpv"][-1]
        if code is None or not QPV_2024_RE.match(code):
            problem = ("a QPV 2015 code (this is the 2015 référentiel, not QP2024)"
                       if code and QPV_2015_RE.match(code) else "not a QPV 2024 code")
            raise FormatError(**where, column="code_qp", problem=problem,
                              expected="QN + département (3 characters) + 2 digits + N/M/I/C, e.g. QN01306M",
                              found=repr(code))
        buf["geometry_wkb"].append(geometry_to_wkb(feature.get("geometry"), where=where))
        lines.append(line)
        if len(lines) >= batch_features:
            yield _batch(schema, names, buf, lines, millesime)
            buf = {n: [] for n in names}
            lines = []
    if lines:
        yield _batch(schema, names, buf, lines, millesime)


def _batch(schema: pa.Schema, names: list[str], buf: dict[str, list], lines: list[int], millesime: int):
    arrays = [pa.array(buf[n], type=schema.field(n).type) for n in names]
    arrays.append(pa.array([millesime] * len(lines), type=pa.int32()))
    arrays.append(pa.array(lines, type=pa.int64()))
    arrays.append(pa.array([[] for _ in lines], type=pa.list_(pa.string())))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def parse_contours(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    """The ANCT QPV contours, from the ZIP (its WGS84 GeoJSON member) or from a plain GeoJSON."""
    kind = sniff_path(path)
    if kind == "zip":
        data, member = _geojson_member(path, ctx)
        shown = f"{ctx.file}!{member}"
        kind = sniff_kind(data[:65536])
    elif kind in ("geojson", "json"):
        data, shown = path.read_bytes(), ctx.file
    else:
        raise FormatError(ctx.source_id, "unexpected file type", url=ctx.url, file=ctx.file,
                          expected="a ZIP holding GEOJSON/QP2024_*_WGS84.geojson, or a GeoJSON FeatureCollection",
                          found=describe_kind(kind))
    if kind not in ("geojson", "json"):
        raise FormatError(ctx.source_id, "the GeoJSON member is not JSON", url=ctx.url, file=shown,
                          expected="a GeoJSON FeatureCollection", found=describe_kind(kind))
    text, _ = decode(data)
    del data
    yield from parse_geojson_text(text.lstrip("\ufeff"), source_id=ctx.source_id, millesime=ctx.millesime,
                                  file=shown, url=ctx.url)


def read_contours(path: Path, *, source_id: str = "anct_qpv_contours", millesime: int = 2024) -> pa.Table:
    """The parsed contours of a file (ZIP or GeoJSON) as one Arrow table (for :mod:`extract.spatial`)."""
    path = Path(path)
    ctx = ParseContext(source_id, millesime, None, path.name)
    return pa.Table.from_batches(list(parse_contours(path, ctx)), schema=CONTOURS.arrow_schema())


PARSERS = [
    Parser("anct_qpv_contours", CONTOURS, parse_contours),
]
