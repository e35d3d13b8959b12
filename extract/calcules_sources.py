"""Registry parsers of the inputs of the computed baromètres (issue 20): the INSEE Filosofi 200 m grid, the
GTFS feeds of the perimeter's networks, the OpenStreetMap green spaces (Overpass API), the results by bureau de
vote (Ministère de l'Intérieur) and the bureaux de vote contours (Etalab, REU). They wrap the pure methods of :mod:`extract.calcules` (which check the
formats: a grid in another projection, a GTFS without ``stops.txt`` or with stops outside France are refused
with a :class:`~extract.errors.FormatError`, so the file never passes its gate) and write the landed tables
the pipeline's computation step (:mod:`observatoire.calculs`) reads.

* ``insee_filosofi_carreaux``: one row per inhabited square (id, ``ind``, commune list, EPSG:3035 corner).
* ``gtfs``: one row per stop or station of the feed (location types 0 and 1) with ``desservi`` = 1 when at
  least one trip calls at it during the **reference week** (:func:`semaine_reference`), 0 otherwise (a stop
  with no trip is kept, visible, but is not a stop for the baromètre). Any number of feeds: one registry source
  per feed, every source whose parser is ``gtfs`` is merged by the computation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from extract.anct_contours import geometry_to_wkb, iter_features
from extract.calcules.carroyage import iter_grid
from extract.calcules.elections import commune_de_rattachement, id_bv, parse_resultats
from extract.calcules.espaces_verts import parse_overpass
from extract.calcules.gtfs import read_feed, served_stops
from extract.errors import FormatError
from extract.formats import decode, describe_kind, sniff_path
from extract.parsers import ParseContext, Parser
from extract.tables import Column, TableSpec

#: the inputs of the computed baromètres are not per-QPV tables: no QPV column, no QPV list to cover
_HORS_QPV = {"qpv_column": None, "qpv_required": False, "covers_all_qpv": False}

CARREAUX = TableSpec(
    name="insee_filosofi_carreaux",
    columns=(
        Column("idcar_200m", ("IdINSPIRE", "Idcar_200m", "id_inspire", "idcar200m")),
        Column("ind", ("Ind",), type="number", secret_allowed=False),
        Column("code_commune", ("Depcom", "lcog_geo"), required=False),
        Column("impute", ("I_est_cr", "I_est_200", "i_car_est"), required=False),
        Column("x_3035", type="integer", secret_allowed=False),
        Column("y_3035", type="integer", secret_allowed=False),
        Column("res_m", type="integer", secret_allowed=False),
    ),
    key=("idcar_200m",),
    **_HORS_QPV,
    geography="carreau_200m",
)

ARRETS = TableSpec(
    name="gtfs",
    columns=(
        Column("stop_id"),
        Column("stop_name", required=False),
        Column("stop_lon", type="number", secret_allowed=False),
        Column("stop_lat", type="number", secret_allowed=False),
        Column("location_type", type="integer", secret_allowed=False),
        Column("desservi", type="integer", secret_allowed=False),
        Column("semaine_reference"),
    ),
    key=("stop_id",),
    **_HORS_QPV,
    geography="arret",
)


def parse_carreaux(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    schema = CARREAUX.arrow_schema()
    for b in iter_grid(path, source_id=ctx.source_id, file=ctx.file, url=ctx.url):
        n = b.num_rows
        yield pa.RecordBatch.from_arrays(
            [b.column("idcar_200m"), b.column("ind"), b.column("code_commune"), b.column("impute"),
             b.column("x_3035"), b.column("y_3035"), b.column("res_m").cast(pa.int64()),
             pa.array(np.full(n, ctx.millesime, dtype=np.int32)), b.column("_line"),
             pa.nulls(n, pa.list_(pa.string()))], schema=schema)


def semaine_reference(feed) -> date:
    """The reference week of a feed: the first Monday on or after the start of its validity (the earliest
    ``start_date`` of ``calendar.txt``, else the earliest date of ``calendar_dates.txt``). A published feed
    starts with the timetable in force: its first full week is an ordinary week of that timetable."""
    starts = []
    if feed.calendar is not None and feed.calendar.num_rows:
        starts.append(min(feed.calendar.column("start_date").to_pylist()))
    if feed.calendar_dates is not None and feed.calendar_dates.num_rows:
        starts.append(min(feed.calendar_dates.column("date").to_pylist()))
    start = min(starts) if starts else date.today()
    return start + timedelta(days=(7 - start.weekday()) % 7)


def parse_gtfs(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    feed = read_feed(path, name=ctx.source_id, source_id=ctx.source_id, file=ctx.file, url=ctx.url)
    week = semaine_reference(feed)
    served = set(served_stops(feed, week).column("stop_id").to_pylist())
    st = feed.stops.filter(pa.array(feed.stops.column("location_type").to_numpy() <= 1))
    n = st.num_rows
    ids = st.column("stop_id").to_pylist()
    table = pa.Table.from_arrays(
        [st.column("stop_id"), st.column("stop_name"), st.column("stop_lon"), st.column("stop_lat"),
         st.column("location_type").cast(pa.int64()),
         pa.array([1 if i in served else 0 for i in ids], pa.int64()),
         pa.array([week.isoformat()] * n, pa.string()),
         pa.array(np.full(n, ctx.millesime, dtype=np.int32)), st.column("_line"),
         pa.nulls(n, pa.list_(pa.string()))], schema=ARRETS.arrow_schema())
    yield from table.combine_chunks().to_batches()


ESPACES_VERTS = TableSpec(
    name="osm_espaces_verts",
    columns=(
        Column("osm_type"),
        Column("osm_id", type="integer", secret_allowed=False),
        Column("categorie"),
        Column("nom", required=False),
        Column("surface_m2", type="number", secret_allowed=False),
        Column("geometry_wkb", type="binary"),
        Column("timestamp_osm_base", required=False),
    ),
    key=("osm_type", "osm_id"),
    **_HORS_QPV,
    geography="polygone_osm",
)


def parse_espaces_verts(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    rep = parse_overpass(path.read_bytes(), source_id=ctx.source_id, file=ctx.file, url=ctx.url)
    t = rep.table
    n = t.num_rows
    table = pa.Table.from_arrays(
        [t.column("osm_type"), t.column("osm_id"), t.column("categorie"), t.column("nom"), t.column("surface_m2"),
         t.column("geometry_wkb"), pa.array([rep.timestamp_osm_base] * n, pa.string()),
         pa.array(np.full(n, ctx.millesime, dtype=np.int32)), pa.array(np.arange(1, n + 1, dtype=np.int64)),
         pa.nulls(n, pa.list_(pa.string()))], schema=ESPACES_VERTS.arrow_schema())
    yield from table.combine_chunks().to_batches()


RESULTATS_BV = TableSpec(
    name="mi_resultats_bureaux_vote",
    columns=(
        Column("id_election"),
        Column("code_commune"),
        Column("code_bv"),
        Column("id_bv"),
        Column("inscrits", type="integer", kind="count", secret_allowed=False),
        Column("abstentions", type="integer", kind="count", secret_allowed=False),
        Column("votants", type="integer", kind="count", secret_allowed=False),
    ),
    key=("id_bv",),
    **_HORS_QPV,
    geography="bureau_de_vote",
)
#: the election of a results source: its id ends with ``_<type>_t<tour>`` (``mi_resultats_bv_legi_t1``)
_SOURCE_ELECTION_RE = re.compile(r"_(pres|legi|euro|muni|regi|dpmt|cant|refe)_t([12])$")


def id_election_de_source(source_id: str, millesime: int) -> str:
    """``mi_resultats_bv_legi_t1`` + 2024 → ``2024_legi_t1``."""
    m = _SOURCE_ELECTION_RE.search(source_id)
    if not m:
        raise ValueError(f"source {source_id}: the id of a source of results by bureau de vote must end with "
                         "_<pres|legi|euro|muni|regi|dpmt|cant|refe>_t<1|2> (e.g. mi_resultats_bv_legi_t1)")
    return f"{millesime}_{m.group(1)}_t{m.group(2)}"


def parse_resultats_bv(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    t = parse_resultats(path.read_bytes(), id_election=id_election_de_source(ctx.source_id, ctx.millesime),
                        source_id=ctx.source_id, file=ctx.file, url=ctx.url)
    n = t.num_rows
    table = pa.Table.from_arrays(
        [t.column("id_election"), t.column("code_commune"), t.column("code_bv"), t.column("id_bv"),
         t.column("inscrits"), t.column("abstentions"), t.column("votants"), t.column("millesime"),
         t.column("_line"), pa.nulls(n, pa.list_(pa.string()))], schema=RESULTATS_BV.arrow_schema())
    yield from table.combine_chunks().to_batches()


CONTOURS_BV = TableSpec(
    name="contours_bureaux_vote",
    columns=(
        Column("id_bv"),
        Column("code_commune"),
        Column("code_bv"),
        Column("geometry_wkb", type="binary"),
    ),
    key=("id_bv",),
    **_HORS_QPV,
    geography="bureau_de_vote",
)
_PROP_COMMUNE = ("codeCommune", "code_commune", "codecommune", "code_commune_ref")
_PROP_BUREAU = ("codeBureauVote", "code_bv", "codebureauvote", "numeroBureauVote", "code")


def _prop(props: dict, names: tuple[str, ...]) -> tuple[str | None, object]:
    low = {k.lower(): k for k in props}
    for n in names:
        if n.lower() in low:
            return low[n.lower()], props[low[n.lower()]]
    return None, None


def parse_contours_bv(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    """The bureaux de vote contours (Etalab ``contours-france-entiere-latest-v2.geojson``): properties
    ``codeCommune`` and ``codeBureauVote`` (``id_bv`` when present is not trusted for the key: it is rebuilt the
    same way as the results' key, :func:`extract.calcules.elections.id_bv`), WGS84 polygons."""
    kind = sniff_path(path)
    if kind not in ("geojson", "json"):
        raise FormatError(ctx.source_id, "unexpected file type", url=ctx.url, file=ctx.file,
                          expected="a GeoJSON FeatureCollection of bureaux de vote contours",
                          found=describe_kind(kind))
    text, _ = decode(path.read_bytes())
    schema = CONTOURS_BV.arrow_schema()
    cols: dict[str, list] = {n: [] for n in ("id_bv", "code_commune", "code_bv", "geometry_wkb", "_line")}
    seen: dict[str, int] = {}
    for number, line, feature in iter_features(text.lstrip("\ufeff"), source_id=ctx.source_id, file=ctx.file,
                                               url=ctx.url):
        where = {"source_id": ctx.source_id, "url": ctx.url, "file": f"{ctx.file} (feature {number})", "line": line}
        props = (feature.get("properties") if isinstance(feature, dict) else None) or {}
        k_com, com = _prop(props, _PROP_COMMUNE)
        k_bv, bv = _prop(props, _PROP_BUREAU)
        if k_com is None or k_bv is None:
            raise FormatError(**where, problem="missing commune or bureau property",
                              expected="properties codeCommune and codeBureauVote",
                              found="properties " + ", ".join(repr(k) for k in props))
        com = str(com or "").strip()
        if not re.fullmatch(r"(\d{2}|2A|2B)\d{3}", com):
            raise FormatError(**where, column=k_com, problem="not a commune code",
                              expected="an INSEE commune code (5 characters, e.g. 13055)", found=repr(com))
        bv = str(bv or "").strip()
        if not bv:
            raise FormatError(**where, column=k_bv, problem="empty bureau code", expected="a bureau code",
                              found="''")
        key = id_bv(com, bv)
        if key in seen:
            raise FormatError(**where, problem=f"bureau {key} appears twice", expected="one contour per bureau",
                              found=f"also feature {seen[key]}")
        seen[key] = number
        cols["id_bv"].append(key)
        cols["code_commune"].append(commune_de_rattachement(com))
        cols["code_bv"].append(bv)
        cols["geometry_wkb"].append(geometry_to_wkb(feature.get("geometry"), where=where))
        cols["_line"].append(line)
    n = len(cols["id_bv"])
    yield pa.RecordBatch.from_arrays(
        [pa.array(cols["id_bv"], pa.string()), pa.array(cols["code_commune"], pa.string()),
         pa.array(cols["code_bv"], pa.string()), pa.array(cols["geometry_wkb"], pa.binary()),
         pa.array(np.full(n, ctx.millesime, dtype=np.int32)), pa.array(cols["_line"], pa.int64()),
         pa.nulls(n, pa.list_(pa.string()))], schema=schema)


PARSERS = [
    Parser("insee_filosofi_carreaux", CARREAUX, parse_carreaux),
    Parser("gtfs", ARRETS, parse_gtfs),
    Parser("osm_espaces_verts", ESPACES_VERTS, parse_espaces_verts),
    Parser("mi_resultats_bureaux_vote", RESULTATS_BV, parse_resultats_bv),
    Parser("contours_bureaux_vote", CONTOURS_BV, parse_contours_bv),
]
