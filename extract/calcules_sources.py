"""Registry parsers of the inputs of the computed baromètres (issue 20): the INSEE Filosofi 200 m grid and the
GTFS feeds of the perimeter's networks. They wrap the pure methods of :mod:`extract.calcules` (which check the
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

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from extract.calcules.carroyage import iter_grid
from extract.calcules.gtfs import read_feed, served_stops
from extract.parsers import ParseContext, Parser
from extract.tables import Column, TableSpec

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
    qpv_column=None,
    qpv_required=False,
    covers_all_qpv=False,
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
    qpv_column=None,
    qpv_required=False,
    covers_all_qpv=False,
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


PARSERS = [
    Parser("insee_filosofi_carreaux", CARREAUX, parse_carreaux),
    Parser("gtfs", ARRETS, parse_gtfs),
]
