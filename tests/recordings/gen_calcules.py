"""Recordings of the inputs of the computed baromètres (real formats, synthetic values):

* ``insee_filosofi_carreaux/2019/Filosofi2019_carreaux_200m_csv.zip`` — the Filosofi 2019 grid layout
  (``idcar_200m``, ``idcar_1km``, ``idcar_nat``, ``i_est_200``, ``i_est_1km``, ``lcog_geo``, ``ind``, …, comma
  separated): the 200 m squares (EPSG:3035 ids) covering the real simplified contours of the 122 recorded QPV,
  populated evenly so that each QPV's area-split population is its census population (pop_QPV24 of the latest
  millésime), plus a ring of inhabited squares around each QPV (its commune outside the QPV).
* ``gtfs_amp/2025/gtfs_rtm.zip`` — a GTFS Schedule feed (agency, routes, stops, trips, stop_times, calendar,
  calendar_dates): one served stop at a point inside two QPV out of three of the Métropole (seeded), one stop
  far from every QPV, and one stop with no trip (not a stop for the baromètre).
* ``osm_espaces_verts/2025/overpass_espaces_verts_amp.json`` — an Overpass API ``[out:json]`` … ``out geom``
  answer (``version``, ``generator``, ``osm3s.timestamp_osm_base``, ``elements`` with ``geometry`` lists):
  parks, gardens, playgrounds and lawns near the Métropole's recorded QPV (seeded), a multipolygon forest with a
  hole, and elements the method sets aside (private garden, residential garden, open way, playground node).
* ``reu_contours_bureaux_vote/2022/contours-france-entiere-latest-v2.geojson`` — the Etalab contours layout
  (``codeDepartement``, ``codeCommune``, ``nomCommune``, ``codeBureauVote``, ``id_bv``, WGS84 polygons): 500 m
  cells around the Métropole's recorded QPV, each cell a bureau of the commune of its nearest QPV (Marseille's
  bureaux numbered by arrondissement, ``0101``…).
* ``mi_resultats_bv_pres_t1/2022`` (≤ 2022 « wide » layout, Windows-1252, CRLF, commune on 3 digits, unnamed
  candidate blocks), ``mi_resultats_bv_euro_t1/2024``, ``mi_resultats_bv_legi_t1/2024`` (2024 layout, UTF-8)
  and ``mi_resultats_bv_muni_t1/2026`` (the same 19 fixed columns, 13 columns per list; the fixed columns'
  names are inferred from the 2024 layout, their positions from public code reading the 2026 file): one row
  per bureau of the contours (a few bureaux redrawn since 2022 are missing in 2024), plus rows
  outside the Métropole (Paris; the Français de l'étranger in 2022). Abstention is higher in bureaux that
  overlap a QPV (seeded).

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

from tests.recordings import generate
from tests.recordings.gen_referentiel import base_contours

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


_TO_4326 = None


def _wgs84(coords: np.ndarray) -> list[list[float]]:
    """EPSG:3035 (x, y) rows → [[lon, lat], …] rounded to 7 decimals."""
    global _TO_4326
    if _TO_4326 is None:
        from pyproj import Transformer

        _TO_4326 = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    lon, lat = _TO_4326.transform(coords[:, 0], coords[:, 1])
    return [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]


def _amp_qpv():
    codes, geoms, doc = _contours_3035()
    epci = {f["properties"]["code_qp"]: f["properties"].get("siren_epci") for f in doc["features"]}
    keep = [i for i, c in enumerate(codes) if epci.get(c) == "200054807"]
    return [codes[i] for i in keep], [geoms[i] for i in keep]


OVERPASS_FILE = "overpass_espaces_verts_amp.json"


def write_osm() -> Path:
    import json

    codes, geoms = _amp_qpv()
    elements: list[dict] = []
    next_id = [100_000]

    def way(poly: shapely.Polygon, tags: dict) -> None:
        next_id[0] += 1
        ring = _wgs84(np.asarray(poly.exterior.coords))
        elements.append({"type": "way", "id": next_id[0], "nodes": list(range(next_id[0] * 10, next_id[0] * 10
                                                                              + len(ring) - 1)) + [next_id[0] * 10],
                         "geometry": [{"lat": lat, "lon": lon} for lon, lat in ring], "tags": tags})

    for code, g in zip(codes, geoms, strict=True):
        r = generate.rng("osm", code)
        c = g.representative_point()
        if r.random() < 0.85:  # a park near most QPV, sometimes with a playground inside
            dx, dy = r.uniform(-250, 250), r.uniform(-250, 250)
            w, h = r.uniform(80, 260), r.uniform(80, 220)
            park = shapely.box(c.x + dx - w / 2, c.y + dy - h / 2, c.x + dx + w / 2, c.y + dy + h / 2)
            way(park, {"leisure": "park", "name": f"Parc {code}"})
            if r.random() < 0.5:
                way(shapely.box(c.x + dx - 15, c.y + dy - 15, c.x + dx + 15, c.y + dy + 15),
                    {"leisure": "playground"})
        if r.random() < 0.4:  # a lawn (kept only from 1,000 m²)
            side = r.choice([20.0, 45.0])
            way(shapely.box(c.x + 300, c.y - 100, c.x + 300 + side, c.y - 100 + side), {"landuse": "grass"})
        if r.random() < 0.3:  # a residential garden: set aside
            way(shapely.box(c.x - 120, c.y + 80, c.x - 60, c.y + 140),
                {"leisure": "garden", "garden:type": "residential"})
        if r.random() < 0.2:  # a private sports ground: set aside
            way(shapely.box(c.x + 120, c.y + 80, c.x + 200, c.y + 160),
                {"landuse": "recreation_ground", "access": "private"})
        if r.random() < 0.3:  # a playground mapped as a point: no area
            next_id[0] += 1
            (lon, lat), = _wgs84(np.array([[c.x + 40, c.y - 40]]))
            elements.append({"type": "node", "id": next_id[0], "lat": lat, "lon": lon,
                             "tags": {"leisure": "playground"}})
    # a forest (multipolygon, outer ring in two member ways, one clearing) next to the first QPV
    c = geoms[0].representative_point()
    outer = np.array([[c.x + 350, c.y - 400], [c.x + 1100, c.y - 400], [c.x + 1100, c.y + 400],
                      [c.x + 350, c.y + 400], [c.x + 350, c.y - 400]])
    inner = np.array([[c.x + 600, c.y - 100], [c.x + 800, c.y - 100], [c.x + 800, c.y + 100],
                      [c.x + 600, c.y + 100], [c.x + 600, c.y - 100]])
    o = _wgs84(outer)
    members = [
        {"type": "way", "ref": 900_001, "role": "outer", "geometry": [{"lat": b, "lon": a} for a, b in o[:3]]},
        {"type": "way", "ref": 900_002, "role": "outer", "geometry": [{"lat": b, "lon": a} for a, b in o[2:]]},
        {"type": "way", "ref": 900_003, "role": "inner",
         "geometry": [{"lat": b, "lon": a} for a, b in _wgs84(inner)]},
    ]
    elements.append({"type": "relation", "id": 800_001, "members": members,
                     "tags": {"type": "multipolygon", "landuse": "forest", "name": "Bois de la colline"}})
    # an open way tagged as a park (not an area)
    ow = _wgs84(np.array([[c.x - 500, c.y - 500], [c.x - 400, c.y - 500], [c.x - 400, c.y - 420]]))
    elements.append({"type": "way", "id": 700_001, "geometry": [{"lat": b, "lon": a} for a, b in ow],
                     "tags": {"leisure": "park"}})
    doc = {"version": 0.6, "generator": "Overpass API 0.7.62.5 1bd436f1",
           "osm3s": {"timestamp_osm_base": "2025-11-03T09:14:02Z",
                     "timestamp_areas_base": "2025-11-03T08:51:40Z",
                     "copyright": "The data included in this document is from www.openstreetmap.org. "
                                  "The data is made available under ODbL."},
           "elements": elements}
    dest = generate.HERE / "osm_espaces_verts" / "2025" / OVERPASS_FILE
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return dest


BV_CELL_M = 500.0
BV_RING_M = 1000.0
BV_FILE = "contours-france-entiere-latest-v2.geojson"
LIBELLES = {"13055": "Marseille", "13001": "Aix-en-Provence", "13117": "Vitrolles", "13056": "Martigues",
            "13005": "Aubagne", "13047": "Istres", "13071": "Les Pennes-Mirabeau", "13039": "Fos-sur-Mer",
            "13063": "Miramas", "13081": "Salon-de-Provence", "13002": "Allauch", "13041": "Gardanne",
            "13097": "Port-de-Bouc", "13022": "La Ciotat", "13054": "Marignane", "13103": "Septèmes-les-Vallons",
            "13026": "Châteauneuf-les-Martigues", "13108": "Tarascon", "13004": "Arles", "84089": "Pertuis"}


def _bureaux() -> list[dict]:
    """The recorded bureaux: 500 m cells (EPSG:3035) around the Métropole's QPV, each one a bureau of the
    commune of its nearest QPV; ``qpv`` = the share of the cell inside a QPV (drives the abstention)."""
    codes, geoms = _amp_qpv()
    zone = shapely.union_all([g.buffer(BV_RING_M) for g in geoms])
    xmin, ymin, xmax, ymax = zone.bounds
    xs = np.arange(np.floor(xmin / BV_CELL_M) * BV_CELL_M, xmax, BV_CELL_M)
    ys = np.arange(np.floor(ymin / BV_CELL_M) * BV_CELL_M, ymax, BV_CELL_M)
    gx, gy = np.meshgrid(xs, ys)
    cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + BV_CELL_M, gy.ravel() + BV_CELL_M)
    cells = cells[shapely.intersects(cells, zone)]
    qpv_union = shapely.union_all(geoms)
    tree = shapely.STRtree(np.asarray(geoms, dtype=object))
    nearest = tree.nearest(shapely.centroid(cells))
    share = shapely.area(shapely.intersection(cells, qpv_union)) / (BV_CELL_M ** 2)
    numbers: dict[str, int] = {}
    out = []
    for cell, q, s in zip(cells, nearest, share, strict=True):
        commune = _commune(codes[q])
        n = numbers.get(commune, 0)
        numbers[commune] = n + 1
        bv = f"{n // 40 + 1:02d}{n % 40 + 1:02d}" if commune == "13055" else f"{n + 1:04d}"
        out.append({"commune": commune, "bv": bv, "cell": cell, "qpv": float(s)})
    return out


def write_contours_bv() -> Path:
    import json

    feats = []
    for b in _bureaux():
        ring = _wgs84(np.asarray(b["cell"].exterior.coords))
        feats.append({"type": "Feature", "properties": {
            "codeDepartement": b["commune"][:2], "codeCommune": b["commune"],
            "nomCommune": LIBELLES.get(b["commune"], b["commune"]), "codeBureauVote": b["bv"],
            "id_bv": f"{b['commune']}_{b['bv']}"}, "geometry": {"type": "Polygon", "coordinates": [ring]}})
    doc = {"type": "FeatureCollection", "features": feats}
    dest = generate.HERE / "reu_contours_bureaux_vote" / "2022" / BV_FILE
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    return dest


#: (source, millésime, file, layout, base abstention rate, share of QPV bureaux missing: redrawn since 2022)
ELECTIONS = [
    ("mi_resultats_bv_pres_t1", 2022, "resultats-par-niveau-burvot-t1-france-entiere.txt", "2022", 0.26, 0.0),
    ("mi_resultats_bv_euro_t1", 2024, "resultats-definitifs-par-bureau-de-vote.csv", "2024euro", 0.50, 0.04),
    ("mi_resultats_bv_legi_t1", 2024, "resultats-definitifs-par-bureau-de-vote-tour1.csv", "2024legi", 0.33,
     0.04),
    ("mi_resultats_bv_muni_t1", 2026, "municipales-2026-resultats-bv-par-communes-2026-03-20.csv", "2026muni",
     0.42, 0.06),
]
HEADER_2022 = ("Code du département;Libellé du département;Code de la circonscription;Libellé de la "
               "circonscription;Code de la commune;Libellé de la commune;Code du b.vote;Inscrits;Abstentions;"
               "% Abs/Ins;Votants;% Vot/Ins;Blancs;% Blancs/Ins;% Blancs/Vot;Nuls;% Nuls/Ins;% Nuls/Vot;Exprimés;"
               "% Exp/Ins;% Exp/Vot;N°Panneau;Sexe;Nom;Prénom;Voix;% Voix/Ins;% Voix/Exp")
HEADER_2024 = ("Code département;Libellé département;{circo}Code commune;Libellé commune;Code BV;Inscrits;Votants;"
               "% Votants;Abstentions;% Abstentions;Exprimés;% Exprimés/inscrits;% Exprimés/votants;Blancs;"
               "% Blancs/inscrits;% Blancs/votants;Nuls;% Nuls/inscrits;% Nuls/votants")
CANDIDATS = [("F", "DURAND", "Claire"), ("M", "MARTIN", "Paul"), ("F", "BERNARD", "Inès")]


def _pct(a: float, b: float, sep: str = ",") -> str:
    return f"{100 * a / b:.2f}".replace(".", sep) if b else "0" + sep + "00"


def _resultats(source: str, layout: str, base: float, missing: float) -> str:
    rows = []
    extra = [{"commune": "75056", "bv": "0101", "qpv": 0.0}, {"commune": "75056", "bv": "0102", "qpv": 0.0}]
    for b in _bureaux() + extra:
        r = generate.rng(source, b["commune"], b["bv"])
        if b["qpv"] > 0 and r.random() < missing:
            continue
        inscrits = r.randint(600, 1400)
        rate = min(0.9, base + (0.10 + 0.12 * b["qpv"] if b["qpv"] > 0 else 0.0) + r.uniform(-0.04, 0.04))
        abst = int(round(inscrits * rate))
        votants = inscrits - abst
        blancs, nuls = int(votants * 0.015), int(votants * 0.008)
        exp = votants - blancs - nuls
        voix = [int(exp * 0.45), int(exp * 0.35)]
        voix.append(exp - sum(voix))
        com, lib = b["commune"], LIBELLES.get(b["commune"], b["commune"])
        dep = com[:2]
        if layout == "2022":
            fixed = [dep, "Bouches-du-Rhône" if dep == "13" else "Paris", "01", "1ère circonscription", com[2:], lib,
                     b["bv"], str(inscrits), str(abst), _pct(abst, inscrits), str(votants), _pct(votants, inscrits),
                     str(blancs), _pct(blancs, inscrits), _pct(blancs, votants), str(nuls), _pct(nuls, inscrits),
                     _pct(nuls, votants), str(exp), _pct(exp, inscrits), _pct(exp, votants)]
            cands = []
            for k, ((sexe, nom, prenom), v) in enumerate(zip(CANDIDATS, voix, strict=True), 1):
                cands += [str(k), sexe, nom, prenom, str(v), _pct(v, inscrits), _pct(v, exp)]
        else:
            circo = ["1301", "1ère circonscription"] if layout == "2024legi" else []
            fixed = [dep, "Bouches-du-Rhône" if dep == "13" else "Paris", *circo, com, lib, b["bv"], str(inscrits),
                     str(votants), _pct(votants, inscrits) + "%", str(abst), _pct(abst, inscrits) + "%", str(exp),
                     _pct(exp, inscrits) + "%", _pct(exp, votants) + "%", str(blancs), _pct(blancs, inscrits) + "%",
                     _pct(blancs, votants) + "%", str(nuls), _pct(nuls, inscrits) + "%", _pct(nuls, votants) + "%"]
            cands = []
            for k, ((sexe, nom, prenom), v) in enumerate(zip(CANDIDATS, voix, strict=True), 1):
                if layout == "2024legi":
                    cands += [str(k), "DIV", nom, prenom, sexe, str(v), _pct(v, inscrits) + "%", _pct(v, exp) + "%",
                              ""]
                elif layout == "2026muni":  # 13 columns per list
                    cands += [str(k), nom, prenom, sexe, "LDIV", f"LISTE {nom}", f"Liste {prenom} {nom}", str(v),
                              _pct(v, inscrits) + "%", _pct(v, exp) + "%", "", "0", "0"]
                else:
                    cands += [str(k), "LDIV", f"LISTE {nom}", f"Liste {prenom} {nom}", str(v),
                              _pct(v, inscrits) + "%", _pct(v, exp) + "%", "0"]
        rows.append(";".join(fixed + cands))
    if layout == "2022":
        rows.append(";".join(["ZZ", "Français établis hors de France", "01", "1ère circonscription", "001",
                              "Amsterdam", "0001", "500", "300", "60,00", "200", "40,00", "2", "0,40", "1,00", "1",
                              "0,20", "0,50", "197", "39,40", "98,50", "1", "F", "DURAND", "Claire", "197", "39,40",
                              "100,00"]))
        header = HEADER_2022
    elif layout == "2024legi":
        header = HEADER_2024.format(circo="Code circonscription législative;Libellé circonscription législative;")
        header += "".join(f";Numéro de panneau {k};Nuance candidat {k};Nom candidat {k};Prénom candidat {k};"
                          f"Sexe candidat {k};Voix {k};% Voix/inscrits {k};% Voix/exprimés {k};Elu {k}"
                          for k in range(1, 4))
    elif layout == "2026muni":
        header = HEADER_2024.format(circo="")
        header += "".join(f";Numéro de panneau {k};Nom candidat {k};Prénom candidat {k};Sexe candidat {k};"
                          f"Nuance liste {k};Libellé abrégé de liste {k};Libellé de liste {k};Voix {k};"
                          f"% Voix/inscrits {k};% Voix/exprimés {k};Elu {k};Sièges au CM {k};Sièges au CC {k}"
                          for k in range(1, 4))
    else:
        header = HEADER_2024.format(circo="")
        header += "".join(f";Numéro de panneau {k};Nuance liste {k};Libellé abrégé de liste {k};Libellé de liste {k};"
                          f"Voix {k};% Voix/inscrits {k};% Voix/exprimés {k};Sièges {k}" for k in range(1, 4))
    return "\n".join([header, *rows]) + "\n"


def write_elections() -> list[Path]:
    out = []
    for source, millesime, name, layout, base, missing in ELECTIONS:
        dest = generate.HERE / source / str(millesime) / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = _resultats(source, layout, base, missing)
        if layout == "2022":  # the ≤ 2022 .txt files: Windows-1252, CRLF
            dest.write_bytes(text.replace("\n", "\r\n").encode("cp1252"))
        else:
            dest.write_text(text, encoding="utf-8")
        out.append(dest)
    return out


def write_all() -> list[Path]:
    return [write_grid(), write_gtfs(), write_osm(), write_contours_bv(), *write_elections()]


if __name__ == "__main__":
    for p in write_all():
        print(p)
