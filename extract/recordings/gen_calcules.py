"""Recordings of the inputs of the computed baromètres (real formats, synthetic values):

* ``insee_filosofi_carreaux/2019/Filosofi2019_carreaux_200m_csv.zip`` — the Filosofi 2019 grid layout
  (``idcar_200m``, ``idcar_1km``, ``idcar_nat``, ``i_est_200``, ``i_est_1km``, ``lcog_geo``, ``ind``, …, comma
  separated): the 200 m squares (EPSG:3035 ids) covering the real simplified contours of the 122 recorded QPV,
  populated evenly so that each QPV's area-split population is its census population (pop_QPV24 of the latest
  millésime), plus a ring of inhabited squares around each QPV (its commune outside the QPV).
* ``gtfs_amp/2025/gtfs_rtm.zip`` — a GTFS Schedule feed (agency, routes, stops, trips, stop_times, calendar,
  calendar_dates): one served stop at a point inside two QPV out of three of the Métropole (seeded), one stop
  far from every QPV, and one stop with no trip (not a stop for the baromètre).

Deterministic (seeded, fixed ZIP dates).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from extract.recordings import generate
from extract.recordings.gen_referentiel import base_contours

ZIP_DATE = (2023, 7, 1, 0, 0, 0)
GRID_ZIP = "Filosofi2019_carreaux_200m_csv.zip"
GRID_MEMBER = "carreaux_200m_met.csv"
GRID_HEADER = ["idcar_200m", "idcar_1km", "idcar_nat", "i_est_200", "i_est_1km", "lcog_geo", "ind", "men",
               "men_pauv", "ind_snv"]
GTFS_ZIP = "gtfs_rtm.zip"
RING_M = 400.0


def _zip(dest: Path, members: dict[str, str]) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), text)
    dest.write_bytes(buf.getvalue())
    return dest


def _contours_3035():
    from extract.calcules.carroyage import to_3035

    doc = base_contours()
    codes = [f["properties"]["code_qp"] for f in doc["features"]]
    geoms = shapely.make_valid(to_3035(np.array([shape(f["geometry"]) for f in doc["features"]], dtype=object)))
    return codes, geoms, doc


def _commune(code: str) -> str:
    for t in generate.territoires():
        if t["code_qp"] == code:
            return t["insee_com"].split(",")[0].strip()
    raise KeyError(code)


def write_grid() -> Path:
    codes, geoms, _ = _contours_3035()
    pops = {c: float(generate.population(c, max(2020, generate.REAL_POPULATION_MILLESIME))) for c in codes}
    squares: dict[tuple[int, int], dict] = {}
    for code, g in zip(codes, geoms, strict=True):
        xmin, ymin, xmax, ymax = g.buffer(RING_M).bounds
        xs = np.arange(np.floor(xmin / 200) * 200, xmax, 200)
        ys = np.arange(np.floor(ymin / 200) * 200, ymax, 200)
        gx, gy = np.meshgrid(xs, ys)
        boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + 200, gy.ravel() + 200)
        inside = shapely.area(shapely.intersection(boxes, g)) / 40_000.0
        near = shapely.intersects(boxes, g.buffer(RING_M))
        density = pops[code] / max(float(inside.sum()), 1e-9)  # inhabitants per full square
        r = generate.rng("carreaux", code)
        for b, share, ok in zip(boxes, inside, near, strict=True):
            if not ok:
                continue
            x0, y0 = shapely.bounds(b)[:2]
            key = (int(round(x0)), int(round(y0)))
            sq = squares.setdefault(key, {"ind": 0.0, "commune": _commune(code), "ring": True})
            if share > 0:
                sq["ind"] += density
                sq["ring"] = False
            elif sq["ring"] and sq["ind"] == 0.0:
                sq["ind"] = round(r.uniform(5, 60), 1)
    rows = []
    for (x0, y0), sq in sorted(squares.items()):
        if sq["ind"] <= 0:
            continue
        x1k, y1k = x0 // 1000 * 1000, y0 // 1000 * 1000
        ind = round(sq["ind"], 1)
        rows.append([f"CRS3035RES200mN{y0}E{x0}", f"CRS3035RES1000mN{y1k}E{x1k}", f"CRS3035RES200mN{y0}E{x0}",
                     "0", "0", sq["commune"], f"{ind:.1f}", f"{ind / 2.3:.1f}", f"{ind / 2.3 * 0.3:.1f}",
                     f"{ind * 21000:.1f}"])
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(GRID_HEADER)
    w.writerows(rows)
    return _zip(generate.HERE / "insee_filosofi_carreaux" / "2019" / GRID_ZIP, {GRID_MEMBER: out.getvalue()})


def write_gtfs() -> Path:
    doc = base_contours()
    stops = []
    for f in doc["features"]:
        p = f["properties"]
        if p.get("siren_epci") != "200054807":
            continue
        code = p["code_qp"]
        if generate.rng("gtfs", code).random() < 0.67:
            pt = shape(f["geometry"]).representative_point()
            stops.append((f"S{code}", f"Arrêt {p.get('lib_qp', code)}", round(pt.x, 6), round(pt.y, 6)))
    stops.append(("SCALANQUES", "Calanques", 5.430000, 43.210000))
    served = [s[0] for s in stops]
    stops.append(("SDEPOT", "Dépôt (sans desserte)", 5.400000, 43.300000))
    members = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
                      "RTM,Régie des transports métropolitains,https://www.rtm.fr,Europe/Paris,fr\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
                      "L1,RTM,1,Ligne 1,3\nL2,RTM,2,Ligne 2,3\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n" + "".join(
            f'{sid},"{name}",{lat:.6f},{lon:.6f},0,\n' for sid, name, lon, lat in stops),
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                        "SEM,1,1,1,1,1,0,0,20250106,20251231\nDIM,0,0,0,0,0,0,1,20250106,20251231\n",
        "calendar_dates.txt": "service_id,date,exception_type\nSEM,20250501,2\n",
    }
    trips = ["route_id,service_id,trip_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    half = len(served) // 2
    for t, (route, service, part) in enumerate([("L1", "SEM", served[:half]), ("L2", "SEM", served[half:]),
                                                 ("L1", "DIM", served[:half])]):
        trip = f"T{t + 1}"
        trips.append(f"{route},{service},{trip}")
        for seq, sid in enumerate(part, 1):
            minute = 6 * 60 + seq * 2
            hhmm = f"{minute // 60:02d}:{minute % 60:02d}:00"
            times.append(f"{trip},{hhmm},{hhmm},{sid},{seq}")
    members["trips.txt"] = "\n".join(trips) + "\n"
    members["stop_times.txt"] = "\n".join(times) + "\n"
    return _zip(generate.HERE / "gtfs_amp" / "2025" / GTFS_ZIP, members)


def write_all() -> list[Path]:
    return [write_grid(), write_gtfs()]


if __name__ == "__main__":
    for p in write_all():
        print(p)
