"""The registry parsers of the computed baromètres' inputs (extract/calcules_sources.py) on the recordings."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from extract.calcules.gtfs import read_feed, zip_members
from extract.calcules_sources import ARRETS, CARREAUX, parse_carreaux, parse_gtfs, semaine_reference
from extract.errors import FormatError
from extract.parsers import ParseContext, get_parser
from tests.conftest import RECORDINGS

GTFS = RECORDINGS / "gtfs_amp" / "2025" / "gtfs_rtm.zip"
GRID = RECORDINGS / "insee_filosofi_carreaux" / "2019" / "Filosofi2019_carreaux_200m_csv.zip"


def ctx(source, year, path):
    return ParseContext(source_id=source, millesime=year, url=None, file=path.name)


def test_registered():
    assert get_parser("gtfs").spec is ARRETS and get_parser("insee_filosofi_carreaux").spec is CARREAUX


def test_gtfs_recording_served_and_unserved_stops():
    t = pa.Table.from_batches(list(parse_gtfs(GTFS, ctx("gtfs_amp", 2025, GTFS))))
    assert t.schema == ARRETS.arrow_schema()
    rows = {r["stop_id"]: r for r in t.to_pylist()}
    assert rows["SDEPOT"]["desservi"] == 0  # a stop with no trip is not a stop
    assert sum(r["desservi"] for r in rows.values()) == len(rows) - 1
    assert {r["semaine_reference"] for r in rows.values()} == {"2025-01-06"}
    assert set(t.column("millesime").to_pylist()) == {2025}


def test_reference_week_is_the_first_monday_of_the_feed(tmp_path):
    members = {
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nA,a,43.3,5.4\n",
        "trips.txt": "route_id,service_id,trip_id\nR,S,T\n",
        "stop_times.txt": "trip_id,stop_id\nT,A\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                        "S,1,1,1,1,1,0,0,20250903,20251231\n",
    }
    path = tmp_path / "f.zip"
    path.write_bytes(zip_members(members))
    assert semaine_reference(read_feed(path)) == date(2025, 9, 8)
    members.pop("stops.txt")
    path.write_bytes(zip_members(members))
    with pytest.raises(FormatError, match="GTFS feed without stops.txt"):
        list(parse_gtfs(path, ctx("gtfs_amp", 2025, path)))


def test_grid_recording_parsed_with_its_corners():
    t = pa.Table.from_batches(list(parse_carreaux(GRID, ctx("insee_filosofi_carreaux", 2019, GRID))))
    assert t.schema == CARREAUX.arrow_schema()
    r = t.slice(0, 1).to_pylist()[0]
    assert r["idcar_200m"] == f"CRS3035RES200mN{r['y_3035']}E{r['x_3035']}" and r["res_m"] == 200
    assert t.column("ind").to_pylist() and min(t.column("ind").to_pylist()) > 0
    assert len(set(t.column("idcar_200m").to_pylist())) == t.num_rows
