"""GTFS: served stops in a reference week, share of the population within 300 m (extract/calcules/gtfs.py)."""

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from extract.calcules.carroyage import Carreaux, population_par_qpv
from extract.calcules.gtfs import (
    carreaux_desservis,
    part_population_arret,
    read_feed,
    served_stops,
    services_actifs,
    zip_members,
)
from extract.errors import FormatError

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "calcules" / "gtfs_mini"
WEEK = date(2025, 3, 10)  # Monday 10 → Sunday 16 March 2025
X0, Y0 = 3_944_400, 2_254_600


def members(**changes: str | None) -> dict[str, str]:
    out = {p.name: p.read_bytes().decode("utf-8") for p in sorted(MINI.glob("*.txt"))}
    for name, text in changes.items():
        key = f"{name}.txt"
        if text is None:
            out.pop(key, None)
        else:
            out[key] = text
    return out


def feed_zip(tmp_path: Path, name: str = "gtfs_rtm", **changes) -> Path:
    p = tmp_path / f"{name}.zip"
    p.write_bytes(zip_members(members(**changes)))
    return p


def test_served_stops_in_the_reference_week(tmp_path):
    feed = read_feed(feed_zip(tmp_path))
    assert feed.stops.num_rows == 8 and feed.routes.num_rows == 2
    assert services_actifs(feed, WEEK) == {"SEM", "EXTRA"}
    served = served_stops(feed, WEEK)
    # JOL: its service ended in 2023; CAST: its only Sunday is removed by calendar_dates (type 2);
    # ROSE: no trip at all; TIM: added by calendar_dates (type 1); the station S_VP is resolved to its platforms
    assert sorted(served.column("stop_id").to_pylist()) == ["NOAI", "P_VP1", "P_VP2", "TIM"]
    assert set(served.column("feed").to_pylist()) == {"gtfs_rtm"}
    # another week: the Sunday service runs, the added Wednesday does not
    other = served_stops(feed, date(2025, 3, 17))
    assert sorted(other.column("stop_id").to_pylist()) == ["CAST", "NOAI", "P_VP1", "P_VP2"]


def test_calendar_dates_removal_of_every_day_and_feed_with_calendar_dates_only(tmp_path):
    removed = "service_id,date,exception_type\n" + "".join(f"SEM,202503{d},2\n" for d in range(10, 17))
    feed = read_feed(feed_zip(tmp_path, calendar_dates=removed))
    assert "SEM" not in services_actifs(feed, WEEK)
    # (this calendar_dates.txt no longer removes the Sunday service DIM: Castellane is served)
    assert served_stops(feed, WEEK).column("stop_id").to_pylist() == ["CAST"]
    only_dates = read_feed(feed_zip(tmp_path, "cd_only", calendar=None,
                                    calendar_dates="service_id,date,exception_type\nSEM,20250311,1\n"))
    assert sorted(served_stops(only_dates, WEEK).column("stop_id").to_pylist()) == ["NOAI", "P_VP1", "P_VP2"]


def test_several_feeds_are_merged(tmp_path):
    a = read_feed(feed_zip(tmp_path, "rtm"))
    b = read_feed(feed_zip(tmp_path, "zou", stops="stop_id,stop_name,stop_lat,stop_lon\nP_VP1,Gare,43.3030,5.3800\n",
                           stop_times="trip_id,stop_id\nT1,P_VP1\n"))
    served = served_stops([a, b], WEEK)
    assert served.num_rows == 5
    assert sorted(served.filter(served.column("feed").to_numpy(zero_copy_only=False) == "zou")
                  .column("stop_id").to_pylist()) == ["P_VP1"]


def test_feed_without_stops_is_refused_naming_zip_and_member(tmp_path):
    with pytest.raises(FormatError) as exc:
        read_feed(feed_zip(tmp_path, stops=None))
    msg = str(exc.value)
    assert "without stops.txt" in msg and "gtfs_rtm.zip" in msg


def test_feed_without_any_calendar_is_refused(tmp_path):
    with pytest.raises(FormatError, match="calendar"):
        read_feed(feed_zip(tmp_path, calendar=None, calendar_dates=None))


def test_stops_outside_france_are_refused_naming_stop_and_line(tmp_path):
    swapped = "stop_id,stop_name,stop_lat,stop_lon\nA,ok,43.2951,5.3744\nB,swapped,5.3744,43.2951\n"
    with pytest.raises(FormatError, match="outside France") as exc:
        read_feed(feed_zip(tmp_path, stops=swapped))
    msg = str(exc.value)
    assert "'B'" in msg and "line 3" in msg and "stops.txt" in msg
    zero = "stop_id,stop_name,stop_lat,stop_lon\nZ,null island,0,0\n"
    with pytest.raises(FormatError, match="outside France"):
        read_feed(feed_zip(tmp_path, stops=zero))
    # overseas is France
    reunion = "stop_id,stop_name,stop_lat,stop_lon\nR,Saint-Denis,-20.8789,55.4481\n"
    assert read_feed(feed_zip(tmp_path, stops=reunion)).stops.num_rows == 1


def test_missing_columns_and_bad_values_are_refused(tmp_path):
    with pytest.raises(FormatError, match="missing column.*stop_lon") as exc:
        read_feed(feed_zip(tmp_path, stops="stop_id,stop_name,stop_lat\nA,x,43.3\n"))
    assert "line 1" in str(exc.value)
    with pytest.raises(FormatError, match="missing column.*service_id"):
        read_feed(feed_zip(tmp_path, trips="route_id,trip_id\nM1,T1\n"))
    with pytest.raises(FormatError, match="not a number"):
        read_feed(feed_zip(tmp_path, stops="stop_id,stop_lat,stop_lon\nA,43°17',5.37\n"))
    with pytest.raises(FormatError, match="YYYYMMDD"):
        read_feed(feed_zip(tmp_path, calendar_dates="service_id,date,exception_type\nSEM,2025-03-11,1\n"))
    with pytest.raises(FormatError, match="exception_type"):
        read_feed(feed_zip(tmp_path, calendar_dates="service_id,date,exception_type\nSEM,20250311,3\n"))
    not_zip = tmp_path / "stops.txt"
    not_zip.write_text("stop_id\n")
    with pytest.raises(FormatError, match="ZIP"):
        read_feed(not_zip)


# -- 300 m -------------------------------------------------------------------------------------------------

def one_square() -> Carreaux:
    return Carreaux.from_ids([f"CRS3035RES200mN{Y0}E{X0}"], [100.0])


def test_a_stop_299_m_away_serves_the_square_301_m_does_not():
    sq = one_square()
    cx, cy = X0 + 100, Y0 + 100
    assert carreaux_desservis(sq, np.array([cx + 299.0]), np.array([cy]))[0] == 1.0
    assert carreaux_desservis(sq, np.array([cx + 301.0]), np.array([cy]))[0] == 0.0
    # exactly 300 m (a 180-240-300 right triangle): within
    assert carreaux_desservis(sq, np.array([cx + 180.0]), np.array([cy + 240.0]))[0] == 1.0
    assert carreaux_desservis(sq, np.array([]), np.array([]))[0] == 0.0


def test_part_population_arret_per_qpv_commune_and_metropole_from_wgs84_stops():
    # two squares side by side, a QPV covering the west half of the first and the whole second
    squares = Carreaux.from_ids([f"CRS3035RES200mN{Y0}E{X0}", f"CRS3035RES200mN{Y0}E{X0 + 200}",
                                 f"CRS3035RES200mN{Y0}E{X0 + 2000}"], [100.0, 60.0, 40.0],
                                communes=["13201", "13201", "13215"])
    qpv = {"QN01301M": shapely.box(X0 - 500, Y0 - 500, X0 + 100, Y0 + 500),
           "QN01302M": shapely.box(X0 + 200, Y0 - 500, X0 + 400, Y0 + 500)}
    rep = population_par_qpv(squares, None, qpv, crs="EPSG:3035")
    to4326 = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    # a stop 299 m east of the first square's centroid (so 101 m from the second's, 1 501 m from the third's)
    lon, lat = to4326.transform(X0 + 100 + 299.0, Y0 + 100)
    import pyarrow as pa

    stops = pa.table({"stop_lon": [lon], "stop_lat": [lat]})
    t = part_population_arret(rep, squares, stops)
    got = {(n, c): (p, s) for n, c, p, s in zip(*(t.column(k).to_pylist()
                                                   for k in ("niveau", "code", "population", "part_pop_arret")),
                                                strict=True)}
    assert got[("qpv", "QN01301M")] == (pytest.approx(50.0), pytest.approx(1.0))
    assert got[("qpv", "QN01302M")] == (pytest.approx(60.0), pytest.approx(1.0))
    assert got[("commune", "13055")] == (pytest.approx(200.0), pytest.approx(160 / 200))
    assert got[("metropole", "200054807")][1] == pytest.approx(0.8)
    # the same stop 301 m away from the first centroid: the first square is no longer served
    t2 = part_population_arret(rep, squares, (np.array([X0 + 100 + 301.0]), np.array([Y0 + 100.0])),
                               crs="EPSG:3035")
    parts = dict(zip(t2.column("code").to_pylist(), t2.column("part_pop_arret").to_pylist(), strict=True))
    assert parts["QN01301M"] == 0.0 and parts["QN01302M"] == 1.0
