"""GTFS feeds → stops served in a reference week → share of the population within 300 m of a served stop.

**Reading a feed** (:func:`read_feed`): a GTFS Schedule ZIP (gtfs.org reference). Members, found by base name
(some publishers put them in a folder): ``stops.txt``, ``trips.txt``, ``stop_times.txt`` and at least one of
``calendar.txt`` / ``calendar_dates.txt`` are required; ``routes.txt`` is optional (kept if present). UTF-8
with or without BOM, quoted fields, CRLF, extra columns and free column order are accepted. ``stop_times.txt``
(the large one: 10 MB zipped for RTM, 100 MB+ for national feeds) is streamed by Arrow with only ``trip_id``
and ``stop_id`` converted, and reduced block by block to the distinct (service, stop) pairs, so memory is bounded
by the number of services × stops, never by the number of stop times.

Refused with :class:`~extract.errors.FormatError` (naming the ZIP, the member, the line and column): a feed
without ``stops.txt`` (or another required member), a required column missing, a coordinate that is not a
number, a stop (location types 0 stop/platform, 1 station, 2 entrance; types 3-4 may have no coordinates) with
no coordinates or **outside France**: the stop must fall in one of the boxes of :data:`FRANCE_BOXES`
(metropolitan France and Corsica, the five overseas départements, Saint-Pierre-et-Miquelon, Saint-Martin /
Saint-Barthélemy) — ``0,0``, swapped latitude/longitude and foreign feeds are caught; a stop just across a land
border (Monaco, Ventimiglia) is inside the metropolitan box and accepted. A date not in ``YYYYMMDD`` format.

**Served stops** (:func:`served_stops`): a stop is served in the reference week (7 days from ``week_start``) if
at least one trip calls at it on one of those days: the trip's ``service_id`` is active on a day when
``calendar.txt`` has the weekday set and the day in ``[start_date, end_date]``, unless ``calendar_dates.txt``
removes it that day (``exception_type`` 2); ``exception_type`` 1 adds a day. A stop with no trip in the week is
not a stop. A station (``location_type`` 1) is never counted itself when it has platforms: trips call at
platforms; a trip calling at a station id is resolved to the station's platforms (``parent_station``), or to
the station itself if it has none. Any number of feeds are merged: the result is the union of the points;
duplicates across feeds (a station in two networks) do not matter for a « within 300 m of any stop » rule.

**Share of the population within 300 m** (:func:`part_population_arret`): a square counts as served when its
CENTROID is within ``radius_m`` (crow-fly, EPSG:3035 metres) of a served stop — the whole square, with every
share of it a QPV or commune holds. Why the centroid: the grid is the finest the population is known at;
an area rule (share of the square inside the 300 m discs) would assume residents spread evenly over the
square, a finer claim than the data support, for a result that is the same on average (a square whose centroid
is at 299 m counts fully though part of it is farther; one at 301 m counts nothing though part is nearer:
the errors compensate over a neighbourhood). It is also exact to test (299 m in, 301 m out) and cheap
(``STRtree.query(..., predicate="dwithin")``). See ``docs/methodes.md``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely import STRtree

from extract.arrow_csv import blocks, open_text_columns
from extract.calcules.carroyage import Carreaux, Repartition, moyenne_ponderee, points_3035
from extract.errors import FormatError
from extract.formats import describe_kind, open_zip, sniff_path

SOURCE_ID = "gtfs"
BLOCK_BYTES = 4 << 20
DEFAULT_CHUNK = 100_000

#: (lon_min, lat_min, lon_max, lat_max), WGS84, with a small margin
FRANCE_BOXES = {
    "France métropolitaine et Corse": (-5.8, 41.2, 10.0, 51.5),
    "Guadeloupe": (-61.95, 15.8, -60.95, 16.55),
    "Martinique": (-61.3, 14.35, -60.75, 14.9),
    "Guyane": (-54.65, 2.05, -51.5, 5.85),
    "La Réunion": (55.15, -21.45, 55.9, -20.8),
    "Mayotte": (44.95, -13.05, 45.35, -12.6),
    "Saint-Pierre-et-Miquelon": (-56.45, 46.7, -56.1, 47.2),
    "Saint-Martin et Saint-Barthélemy": (-63.2, 17.85, -62.75, 18.15),
}

REQUIRED = {
    "stops.txt": ("stop_id", "stop_lat", "stop_lon"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "stop_id"),
    "calendar.txt": ("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                     "start_date", "end_date"),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "routes.txt": ("route_id", "route_type"),
}
OPTIONAL = {
    "stops.txt": ("stop_name", "location_type", "parent_station"),
    "routes.txt": ("route_short_name", "route_long_name", "agency_id"),
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Feed:
    """What the methods need from one GTFS feed (small tables; stop_times reduced to service × stop)."""

    name: str
    stops: pa.Table  # stop_id, stop_name, stop_lon, stop_lat, location_type (int), parent_station, _line
    service_stops: pa.Table  # service_id, stop_id (distinct pairs)
    calendar: pa.Table | None
    calendar_dates: pa.Table | None
    routes: pa.Table | None = None


class _Zip:
    def __init__(self, zf, shown: str, source_id: str, url: str | None):
        self.zf, self.shown, self.source_id, self.url = zf, shown, source_id, url
        self.members: dict[str, str] = {}
        for n in zf.namelist():
            if n.endswith("/"):
                continue
            base = n.rsplit("/", 1)[-1].lower()
            self.members.setdefault(base, n)

    def has(self, name: str) -> bool:
        return name in self.members

    def where(self, name: str) -> str:
        return f"{self.shown}!{self.members.get(name, name)}"

    def header(self, name: str) -> list[str]:
        with self.zf.open(self.members[name]) as fh:
            first = fh.readline(1 << 20)
        text = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
        if not text.strip():
            raise FormatError(self.source_id, f"{name} is empty", url=self.url, file=self.where(name), line=1,
                              expected="a header line")
        return [h.strip().strip('"').lstrip("\ufeff") for h in next(csv.reader([text]))]

    def mapping(self, name: str) -> tuple[list[str], dict[str, int]]:
        header = self.header(name)
        low = [h.lower() for h in header]
        missing = [c for c in REQUIRED[name] if c not in low]
        if missing:
            raise FormatError(self.source_id, f"missing column(s) in {name}: {', '.join(missing)}", url=self.url,
                              file=self.where(name), line=1, expected=", ".join(REQUIRED[name]),
                              found="header " + ", ".join(repr(h) for h in header))
        wanted = REQUIRED[name] + OPTIONAL.get(name, ())
        return header, {c: low.index(c) for c in wanted if c in low}

    def reader(self, name: str, header: list[str], used: Iterable[int], stack: ExitStack):
        return open_text_columns(stack.enter_context(self.zf.open(self.members[name])), columns=len(header),
                                 keep=used, sep=",", encoding="utf8", block_bytes=BLOCK_BYTES)

    def table(self, name: str) -> pa.Table:
        """The member's wanted columns as strings (canonical names) plus ``_line``."""
        header, mapping = self.mapping(name)
        with ExitStack() as stack:
            try:
                reader, names = self.reader(name, header, mapping.values(), stack)
                t = reader.read_all()
            except pa.ArrowInvalid as exc:
                raise FormatError(self.source_id, f"malformed CSV in {name}", url=self.url, file=self.where(name),
                                  expected=f"{len(header)} comma-separated fields",
                                  found=str(exc).splitlines()[0][:300]) from None
        cols = {c: pc.utf8_trim_whitespace(t.column(names[i])) for c, i in mapping.items()}
        cols["_line"] = pa.array(np.arange(2, 2 + t.num_rows, dtype=np.int64))
        return pa.table(cols)


def _numbers(t: pa.Table, column: str, z: _Zip, member: str) -> np.ndarray:
    raw = t.column(column)
    ok = pc.match_substring_regex(raw, r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^$").to_numpy(
        zero_copy_only=False)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise FormatError(z.source_id, "value is not a number", url=z.url, file=z.where(member),
                          line=int(t.column("_line")[i].as_py()), column=column, expected="a decimal number",
                          found=repr(raw[i].as_py()))
    s = pc.if_else(pc.equal(raw, ""), pa.scalar(None, pa.string()), raw)
    return pc.cast(s, pa.float64()).to_numpy(zero_copy_only=False)


def _dates(t: pa.Table, column: str, z: _Zip, member: str) -> pa.Array:
    raw = t.column(column)
    ok = pc.match_substring_regex(raw, r"^\d{8}$").to_numpy(zero_copy_only=False)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise FormatError(z.source_id, "date not in the GTFS format", url=z.url, file=z.where(member),
                          line=int(t.column("_line")[i].as_py()), column=column, expected="YYYYMMDD",
                          found=repr(raw[i].as_py()))
    try:
        return pc.strptime(raw, format="%Y%m%d", unit="s").cast(pa.date32())
    except pa.ArrowInvalid:
        bad = [i for i, v in enumerate(raw.to_pylist()) if not _valid_date(v)][0]
        raise FormatError(z.source_id, "date not in the GTFS format", url=z.url, file=z.where(member),
                          line=int(t.column("_line")[bad].as_py()), column=column, expected="a real YYYYMMDD date",
                          found=repr(raw[bad].as_py())) from None


def _valid_date(v: str) -> bool:
    try:
        date(int(v[:4]), int(v[4:6]), int(v[6:8]))
        return True
    except ValueError:
        return False


def in_france(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where (lon, lat) is in one of :data:`FRANCE_BOXES`."""
    ok = np.zeros(len(lon), dtype=bool)
    for x0, y0, x1, y1 in FRANCE_BOXES.values():
        ok |= (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    return ok


def _stops(z: _Zip) -> pa.Table:
    t = z.table("stops.txt")
    lat = _numbers(t, "stop_lat", z, "stops.txt")
    lon = _numbers(t, "stop_lon", z, "stops.txt")
    if "location_type" in t.schema.names:
        lt_raw = t.column("location_type")
        ok = pc.match_substring_regex(lt_raw, r"^[0-4]?$").to_numpy(zero_copy_only=False)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise FormatError(z.source_id, "unknown location_type", url=z.url, file=z.where("stops.txt"),
                              line=int(t.column("_line")[i].as_py()), column="location_type",
                              expected="0, 1, 2, 3, 4 or blank", found=repr(lt_raw[i].as_py()))
        lt = np.array([int(v) if v else 0 for v in lt_raw.to_pylist()], dtype=np.int8)
    else:
        lt = np.zeros(t.num_rows, dtype=np.int8)
    ids = t.column("stop_id").to_pylist()
    lines = t.column("_line").to_numpy()
    need = lt <= 2
    missing = need & ~(np.isfinite(lat) & np.isfinite(lon))
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise FormatError(z.source_id, f"stop {ids[i]!r} has no coordinates", url=z.url, file=z.where("stops.txt"),
                          line=int(lines[i]), column="stop_lat", expected="stop_lat and stop_lon (WGS84)",
                          found="blank")
    has = np.isfinite(lat) & np.isfinite(lon)
    outside = has & ~in_france(np.nan_to_num(lon), np.nan_to_num(lat))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise FormatError(z.source_id, f"stop {ids[i]!r} is outside France ({int(outside.sum())} stop(s) in all)",
                          url=z.url, file=z.where("stops.txt"), line=int(lines[i]), column="stop_lat",
                          expected="WGS84 coordinates in metropolitan France or an overseas territory "
                          "(latitude 41.2–51.5 and longitude −5.8–10.0 in métropole)",
                          found=f"stop_lat {lat[i]}, stop_lon {lon[i]}")
    names = t.column("stop_name") if "stop_name" in t.schema.names else pa.nulls(t.num_rows, pa.string())
    parent = t.column("parent_station") if "parent_station" in t.schema.names else pa.nulls(t.num_rows, pa.string())
    parent = pc.if_else(pc.equal(parent, ""), pa.scalar(None, pa.string()), parent)
    return pa.table({"stop_id": t.column("stop_id"), "stop_name": names, "stop_lon": pa.array(lon),
                     "stop_lat": pa.array(lat), "location_type": pa.array(lt), "parent_station": parent,
                     "_line": t.column("_line")})


def _service_stops(z: _Zip) -> pa.Table:
    trips = z.table("trips.txt")
    trip_ids = trips.column("trip_id")
    services = trips.column("service_id")
    header, mapping = z.mapping("stop_times.txt")
    pairs = []
    with ExitStack() as stack:
        reader, names = z.reader("stop_times.txt", header, (mapping["trip_id"], mapping["stop_id"]), stack)

        def malformed(exc: BaseException, line: int) -> FormatError:
            return FormatError(z.source_id, "malformed CSV in stop_times.txt", url=z.url,
                               file=z.where("stop_times.txt"), line=line,
                               expected=f"{len(header)} comma-separated fields (the line given is the first of "
                               "the block that failed)", found=str(exc).splitlines()[0][:300])

        for _start, block in blocks(reader, malformed):
            trip = pc.utf8_trim_whitespace(block.column(names[mapping["trip_id"]]))
            stop = pc.utf8_trim_whitespace(block.column(names[mapping["stop_id"]]))
            idx = pc.index_in(trip, value_set=trip_ids)  # unknown trips (invalid feed) are ignored
            t = pa.table({"service_id": pc.take(services, idx), "stop_id": stop}).filter(idx.is_valid())
            pairs.append(t.group_by(["service_id", "stop_id"]).aggregate([]))
    if not pairs:
        return pa.table({"service_id": pa.array([], pa.string()), "stop_id": pa.array([], pa.string())})
    return pa.concat_tables(pairs).group_by(["service_id", "stop_id"]).aggregate([]).select(
        ["service_id", "stop_id"])


def read_feed(path: str | Path, *, name: str | None = None, source_id: str = SOURCE_ID, file: str | None = None,
              url: str | None = None) -> Feed:
    """One GTFS ZIP (see the module's text for what is checked)."""
    path = Path(path)
    shown = file or path.name
    kind = sniff_path(path)
    if kind != "zip":
        raise FormatError(source_id, "a GTFS feed is a ZIP archive", url=url, file=shown,
                          expected="a ZIP archive holding stops.txt, trips.txt, stop_times.txt, calendar",
                          found=describe_kind(kind))
    with open_zip(path, source_id=source_id, url=url, file=shown) as zf:
        z = _Zip(zf, shown, source_id, url)
        for member in ("stops.txt", "trips.txt", "stop_times.txt"):
            if not z.has(member):
                raise FormatError(source_id, f"GTFS feed without {member}", url=url, file=shown,
                                  expected=f"a member {member} in the ZIP archive",
                                  found=", ".join(sorted(z.members)) or "no member")
        if not (z.has("calendar.txt") or z.has("calendar_dates.txt")):
            raise FormatError(source_id, "GTFS feed without calendar.txt nor calendar_dates.txt", url=url,
                              file=shown, expected="calendar.txt and/or calendar_dates.txt",
                              found=", ".join(sorted(z.members)))
        stops = _stops(z)
        service_stops = _service_stops(z)
        calendar = calendar_dates = routes = None
        if z.has("calendar.txt"):
            c = z.table("calendar.txt")
            cols = {"service_id": c.column("service_id")}
            for d in WEEKDAYS:
                flag = c.column(d)
                ok = pc.is_in(flag, value_set=pa.array(["0", "1"])).to_numpy(zero_copy_only=False)
                if not ok.all():
                    i = int(np.flatnonzero(~ok)[0])
                    raise FormatError(source_id, "weekday flag not 0 or 1", url=url, file=z.where("calendar.txt"),
                                      line=int(c.column("_line")[i].as_py()), column=d, expected="0 or 1",
                                      found=repr(flag[i].as_py()))
                cols[d] = pc.equal(flag, "1")
            cols["start_date"] = _dates(c, "start_date", z, "calendar.txt")
            cols["end_date"] = _dates(c, "end_date", z, "calendar.txt")
            calendar = pa.table(cols)
        if z.has("calendar_dates.txt"):
            c = z.table("calendar_dates.txt")
            et = c.column("exception_type")
            ok = pc.is_in(et, value_set=pa.array(["1", "2"])).to_numpy(zero_copy_only=False)
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                raise FormatError(source_id, "exception_type not 1 or 2", url=url,
                                  file=z.where("calendar_dates.txt"), line=int(c.column("_line")[i].as_py()),
                                  column="exception_type", expected="1 (service added) or 2 (service removed)",
                                  found=repr(et[i].as_py()))
            calendar_dates = pa.table({"service_id": c.column("service_id"),
                                       "date": _dates(c, "date", z, "calendar_dates.txt"),
                                       "exception_type": pc.cast(et, pa.int8())})
        if z.has("routes.txt"):
            routes = z.table("routes.txt")
    return Feed(name=name or path.stem, stops=stops, service_stops=service_stops, calendar=calendar,
                calendar_dates=calendar_dates, routes=routes)


# -- served stops ---------------------------------------------------------------------------------------------

def services_actifs(feed: Feed, week_start: date) -> set[str]:
    """The service_ids active on at least one day of the 7 days from ``week_start``."""
    days = [week_start + timedelta(days=i) for i in range(7)]
    active: dict[str, np.ndarray] = {}
    if feed.calendar is not None and feed.calendar.num_rows:
        cal = feed.calendar
        start = cal.column("start_date").to_pylist()
        end = cal.column("end_date").to_pylist()
        flags = {d: cal.column(d).to_pylist() for d in WEEKDAYS}
        for i, sid in enumerate(cal.column("service_id").to_pylist()):
            row = active.setdefault(sid, np.zeros(7, dtype=bool))
            for j, day in enumerate(days):
                if start[i] <= day <= end[i] and flags[WEEKDAYS[day.weekday()]][i]:
                    row[j] = True
    if feed.calendar_dates is not None and feed.calendar_dates.num_rows:
        cd = feed.calendar_dates
        in_week = pc.and_(pc.greater_equal(cd.column("date"), pa.scalar(days[0], pa.date32())),
                          pc.less_equal(cd.column("date"), pa.scalar(days[-1], pa.date32())))
        cd = cd.filter(in_week)  # only the week's exceptions reach Python
        index = {d: j for j, d in enumerate(days)}
        for sid, d, et in zip(cd.column("service_id").to_pylist(), cd.column("date").to_pylist(),
                              cd.column("exception_type").to_pylist(), strict=True):
            j = index.get(d)
            if j is None:
                continue
            active.setdefault(sid, np.zeros(7, dtype=bool))[j] = et == 1
    return {sid for sid, row in active.items() if row.any()}


SERVED_SCHEMA = pa.schema([pa.field("feed", pa.string()), pa.field("stop_id", pa.string()),
                           pa.field("stop_name", pa.string()), pa.field("stop_lon", pa.float64()),
                           pa.field("stop_lat", pa.float64())])


def served_stops(feeds: Feed | Sequence[Feed], week_start: date) -> pa.Table:
    """The points (platforms, or stations without platforms) where at least one trip calls during the 7 days
    from ``week_start``, over every feed given (column ``feed`` says which)."""
    if isinstance(feeds, Feed):
        feeds = [feeds]
    parts = []
    for feed in feeds:
        active = services_actifs(feed, week_start)
        ss = feed.service_stops
        mask = pc.is_in(ss.column("service_id"), value_set=pa.array(sorted(active), pa.string()))
        called = set(ss.filter(mask).column("stop_id").to_pylist())
        st = feed.stops
        ids = st.column("stop_id").to_pylist()
        lt = st.column("location_type").to_numpy()
        parent = st.column("parent_station").to_pylist()
        children: dict[str, list[int]] = {}
        for i, p in enumerate(parent):
            if p is not None and lt[i] == 0:
                children.setdefault(p, []).append(i)
        keep = np.zeros(len(ids), dtype=bool)
        for i, sid in enumerate(ids):
            if sid not in called:
                continue
            if lt[i] == 1 and children.get(sid):
                keep[children[sid]] = True  # a trip calling at a station: its platforms
            elif lt[i] in (0, 1):
                keep[i] = True
        sel = st.filter(pa.array(keep))
        parts.append(pa.table({"feed": pa.array([feed.name] * sel.num_rows, pa.string()),
                               "stop_id": sel.column("stop_id"), "stop_name": sel.column("stop_name"),
                               "stop_lon": sel.column("stop_lon"), "stop_lat": sel.column("stop_lat")},
                              schema=SERVED_SCHEMA))
    return pa.concat_tables(parts) if parts else SERVED_SCHEMA.empty_table()


# -- the baromètre -----------------------------------------------------------------------------------------------

def arbre_arrets(stops_x: np.ndarray, stops_y: np.ndarray) -> STRtree | None:
    """The stops' index (EPSG:3035), to build once and pass to every batch of squares; None without stops."""
    return STRtree(shapely.points(stops_x, stops_y)) if len(stops_x) else None


def carreaux_desservis(squares: Carreaux, stops_x: np.ndarray | None = None, stops_y: np.ndarray | None = None, *,
                       radius_m: float = 300.0, chunk_size: int = DEFAULT_CHUNK,
                       tree: STRtree | None = None) -> np.ndarray:
    """1.0 for each square whose centroid is within ``radius_m`` (≤, EPSG:3035 metres) of a stop, else 0.0.
    ``tree``: :func:`arbre_arrets` built once (a national feed set has hundreds of thousands of stops) instead of
    the coordinates."""
    out = np.zeros(len(squares), dtype=np.float64)
    if tree is None:
        tree = arbre_arrets(np.asarray(stops_x if stops_x is not None else []),
                            np.asarray(stops_y if stops_y is not None else []))
    if tree is None:
        return out
    cx, cy = squares.centroids()
    for lo in range(0, len(squares), chunk_size):
        hi = min(lo + chunk_size, len(squares))
        idx, _ = tree.query(shapely.points(cx[lo:hi], cy[lo:hi]), predicate="dwithin", distance=radius_m)
        out[lo + np.unique(idx)] = 1.0
    return out


def part_population_arret(weights: Repartition | pa.Table, squares: Carreaux, stops: pa.Table | tuple | STRtree, *,
                          radius_m: float = 300.0, crs: str = "EPSG:4326") -> pa.Table:
    """Share of each zone's population living within ``radius_m`` of a served stop (centroid rule).

    ``weights``: the :class:`~extract.calcules.carroyage.Repartition` of ``squares`` (or its ``zones()``
    table); ``stops``: :func:`served_stops` (WGS84 ``stop_lon``/``stop_lat``), a pair of coordinate arrays in
    ``crs``, or the index of :func:`arbre_arrets`. Returns ``niveau, code, population, part_pop_arret, population_desservie`` (part in [0, 1]) for
    every QPV, commune and the Métropole."""
    zones = weights.zones() if isinstance(weights, Repartition) else weights
    if isinstance(stops, STRtree):  # built once by the caller (arbre_arrets, EPSG:3035)
        served = carreaux_desservis(squares, radius_m=radius_m, tree=stops)
    else:
        if isinstance(stops, pa.Table):
            x, y = points_3035(stops.column("stop_lon").to_numpy(), stops.column("stop_lat").to_numpy(),
                               "EPSG:4326")
        else:
            x, y = points_3035(stops[0], stops[1], crs)
        served = carreaux_desservis(squares, x, y, radius_m=radius_m)
    t = moyenne_ponderee(zones, {"part_pop_arret": served})
    pop = t.column("population").to_numpy()
    part = np.nan_to_num(t.column("part_pop_arret").to_numpy(zero_copy_only=False), nan=0.0)
    return t.select(["niveau", "code", "population", "part_pop_arret"]).append_column(
        "population_desservie", pa.array(pop * part))


def zip_members(members: dict[str, str]) -> bytes:
    """A GTFS ZIP from member texts (tests and recordings)."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, text in members.items():
            zf.writestr(n, text)
    return buf.getvalue()

