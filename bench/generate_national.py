"""National-scale inputs for the benchmark, in the real formats the project's parsers read (synthetic values).

    .venv/bin/python bench/generate_national.py --contours QPV2024.geojson [--seed S] [--scale 0.1]
                                                [--cache-dir DIR] [--force]

Writes, under ``<cache>/<seed>-x<scale>/`` (cache: ``--cache-dir``, else ``$OBSERVATOIRE_BENCH_CACHE``, else
``bench/.cache/``), one file per (source, millésime) of the registry, named like the registry's ``recording``
(so a source's file is ``files/<recording path>``), and ``manifest.json``: for each source and millésime the
``file://`` URL to give the pipeline as ``OBSERVATOIRE_URL_<ID>``, the rows and bytes. Generation is
deterministic (seeded) and skipped when the manifest of the same seed, scale and generator version exists.

What is generated (only the columns the pipeline selects, the rest of the published layouts as the
recordings write them):

* the QPV: the 1,609 features of the ANCT contours given with ``--contours`` (the real national file; its
  path is never written in the code: ``--contours`` or ``$OBSERVATOIRE_BENCH_CONTOURS``). The contours file is
  itself the input of ``anct_qpv_contours``;
* the per-QPV INSEE files (pop, Filosofi, estimations, DEFM, CAF, RPLS; every millésime of the registry) and
  the communal comparators (DARES DEFM, CAF communes) by the recordings' own writers
  (``tests/recordings/gen_*.py``), pointed at the national QPV list and communes instead of the recorded
  south-east;
* the Melodi comparators (population, Filosofi: every QPV commune, every EPCI and département, France) and the
  DPE as *page archives* (the layout :func:`extract.apis.fetch_paged` lands: ``page-NNNN.json`` +
  ``requests.json``), which a ``file://`` override of an API source accepts as a mirror;
* the DPE (``dpe03existant`` ``/lines`` pages of 10,000 results): 14 M geocoded rows at scale 1 (half per
  millésime), 45 % drawn around the QPV (inside their bounding box), 30 % around their cities, 25 % uniform
  over metropolitan France; real field names and value domains;
* the BPE: 2.7 M equipments per millésime at scale 1 (``BPE24.csv`` ``;`` upper-case, ``BPE25.zip`` ``,``
  lower-case with a BOM), the eight columns the parser keeps, ``QP2024`` filled for equipments drawn in a QPV.

* the computed baromètres' sources (issue 20), in the recordings' layouts (``tests/recordings/gen_calcules.py``)
  at national size: the Filosofi 2019 200 m grid (2.3 M squares: the squares touching every metropolitan QPV
  and a 400 m ring, populated so that each QPV's area-split population is its census population, then squares
  in the towns around and over the country; ``lcog_geo`` the commune, some squares listing two), one GTFS ZIP
  (200 k stops, 92 % served in the reference week, 5.2 M stop times), an Overpass answer (75 k green ways near
  the QPV and in the towns, plus elements the parser sets aside), 69 k bureaux de vote (Voronoi cells tiling
  metropolitan France and the surroundings of the overseas QPV) and the 2022 présidentielle, 2024 européennes
  and 2024 législatives results for those bureaux.

``--scale`` multiplies the rows of the large files (DPE, BPE, grid squares, GTFS stops, green ways, bureaux); the
per-QPV and communal files keep their national size (1,609 QPV, their communes): the QPV are the grain of the
observatory. The grid never has fewer squares than those around the QPV (about 100 k).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: bump when the generated files change (the cache is keyed by it)
GENERATOR_VERSION = "2"
DPE_ROWS = 14_000_000
BPE_ROWS = 2_700_000
DPE_PAGE = 10_000  # data-fair's maximum ``size``
GRID_ROWS = 2_300_000  # inhabited 200 m squares of metropolitan France (Filosofi)
GTFS_STOPS = 200_000
OSM_WAYS = 75_000
BUREAUX_ROWS = 69_000
METROPOLE = (-5.2, 41.3, 9.6, 51.1)
ZIP_DATE = (2000, 1, 1, 0, 0, 0)
CONTOURS_ENV = "OBSERVATOIRE_BENCH_CONTOURS"
CACHE_ENV = "OBSERVATOIRE_BENCH_CACHE"


def default_cache() -> Path:
    return Path(os.environ.get(CACHE_ENV) or ROOT / "bench" / ".cache")


def set_dir(cache: Path, seed: int, scale: float) -> Path:
    return cache / f"{seed}-x{scale:g}"


# -- the national QPV list and communes, from the contours ---------------------------------------------------

def load_territoires(contours: Path) -> tuple[list[dict], dict]:
    """Rows shaped like ``extract/recordings/_base/qpv_territoires.csv`` for every feature of the contours,
    and per QPV its bounding box and a representative point (for the point generators)."""
    import shapely
    from shapely.geometry import shape

    doc = json.loads(Path(contours).read_text(encoding="utf-8"))
    keys = ("code_qp", "lib_qp", "insee_com", "lib_com", "insee_dep", "lib_dep", "insee_reg", "lib_reg", "siren_epci")
    rows, geo = [], {}
    for feat in doc["features"]:
        p = feat["properties"]
        row = {k: str(p.get(k) or "") for k in keys}
        rows.append(row)
        g = shape(feat["geometry"])
        pt = shapely.point_on_surface(g)
        geo[row["code_qp"]] = (g.bounds, (pt.x, pt.y))
    rows.sort(key=lambda r: r["code_qp"])
    return rows, geo


def communes_of(territoires: list[dict]) -> list[tuple[str, str, int]]:
    """(code, name, base population) of every commune holding a QPV, like ``gen_apis.COMMUNES_AMP``."""
    from tests.recordings import generate

    seen: dict[str, str] = {}
    for t in territoires:
        codes = [c.strip() for c in t["insee_com"].split(",") if c.strip()]
        names = [n.strip() for n in t["lib_com"].split(",")]
        for i, c in enumerate(codes):
            seen.setdefault(c, names[i] if i < len(names) and names[i] else c)
    out = []
    for code, name in sorted(seen.items()):
        base = int(min(max(generate.rng("bench-commune", code).lognormvariate(10.2, 0.9), 3000), 900_000))
        out.append((code, name, base))
    return out


@contextlib.contextmanager
def national_populations(territoires: list[dict]):
    """``generate.population`` for every QPV of the contours: the recordings carry INSEE's real population of
    their 122 QPV only (``pop_qpv24_reelle.csv``); the others get a seeded one (lognormal, 1,050–21,000
    inhabitants, the recordings' formula before the real values), with the recordings' yearly drift."""
    from tests.recordings import generate

    real = generate.real_populations()
    pops = dict(real)
    for t in territoires:
        code = t["code_qp"]
        if code not in pops:
            pops[code] = int(round(min(max(generate.rng("population", code).lognormvariate(8.41, 0.45), 1050.0),
                                       21000.0)))
    original = generate.real_populations
    generate.real_populations = lambda: pops
    try:
        yield
    finally:
        generate.real_populations = original


@contextlib.contextmanager
def recordings_pointed_at(out: Path, territoires: list[dict], communes: list[tuple[str, str, int]]):
    """The recordings' writers (``tests/recordings/gen_*.py``), writing under ``out`` for the national QPV list
    and communes instead of the recorded south-east (module globals swapped for the duration)."""
    from tests.recordings import gen_apis, gen_insee_qpv, generate

    deps = {t["insee_dep"]: t["lib_dep"] for t in territoires}
    deps.update({c[:2]: deps.get(c[:2], f"Département {c[:2]}") for c, _, _ in communes})
    amp = {c for c, _, _ in gen_apis.COMMUNES_AMP} | {c for c, _, _ in gen_apis.ARRONDISSEMENTS_MARSEILLE}
    dares = sorted(communes + [c for c in gen_apis.ARRONDISSEMENTS_MARSEILLE if c[0] not in {x for x, _, _ in communes}])
    patches = [
        (generate, "HERE", out),
        (generate, "territoires", lambda: territoires),
        (gen_insee_qpv, "territoires", lambda: territoires),
        (gen_apis, "DEPARTEMENTS", deps),
        (gen_apis, "dares_communes", lambda: dares),
    ]
    saved = [(m, name, getattr(m, name)) for m, name, _ in patches]
    try:
        for m, name, value in patches:
            setattr(m, name, value)
        yield amp
    finally:
        for m, name, value in saved:
            setattr(m, name, value)


# -- page archives (the layout extract.apis.fetch_paged lands) ----------------------------------------------

def write_page_archive(dest: Path, pages, *, compresslevel: int = 1) -> tuple[int, int]:
    """A ZIP of ``page-NNNN.json`` + ``requests.json`` from ``(url, body)`` pages; returns (pages, bytes)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    log = []
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for i, (url, body) in enumerate(pages, start=1):
            name = f"page-{i:04d}.json"
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, body, compresslevel=compresslevel)
            log.append({"page": i, "url": url, "file": name, "content_type": "application/json", "bytes": len(body)})
        info = zipfile.ZipInfo("requests.json", date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, json.dumps(log, indent=1, sort_keys=True))
    os.replace(tmp, dest)
    return len(log), dest.stat().st_size


# -- Melodi (communes, EPCI, départements, France) ------------------------------------------------------------

def melodi_observations(territoires, communes, source_id: str, millesime: int) -> list[dict]:
    from tests.recordings import gen_apis, generate

    vintage = gen_apis.MELODI_GEO_VINTAGE
    pops = {c: gen_apis.commune_population(c, b, millesime) for c, _, b in communes}
    levels: list[tuple[str, str, float]] = [("COM", c, float(p)) for c, p in pops.items()]
    by_epci = {e.strip() for t in territoires for e in t["siren_epci"].split(",") if e.strip()}
    by_dep = {t["insee_dep"] for t in territoires if t["insee_dep"]}
    for epci in sorted(by_epci):
        levels.append(("EPCI", epci, float(gen_apis.commune_population(f"EPCI{epci}", 250_000, millesime))))
    for dep in sorted(by_dep):
        levels.append(("DEP", dep, float(gen_apis.commune_population(f"DEP{dep}", 700_000, millesime))))
    levels.append(("FRANCE", "F", float(gen_apis.commune_population("FRANCE", 66_000_000, millesime))))
    obs: list[dict] = []
    for niveau, code, value in levels:
        geo = f"{vintage}-{niveau}-{code}"
        if source_id == "insee_melodi_population":
            obs.append({"dimensions": {"GEO": geo, "FREQ": "A", "TIME_PERIOD": str(millesime),
                                       "POPREF_MEASURE": "PMUN"},
                        "measures": {"OBS_VALUE_NIVEAU": {"value": value}}})
            continue
        r = generate.rng("bench-filosofi", niveau, code)
        rate = min(max(r.uniform(10.0, 26.0) + generate.rng("bench-filosofi", code, millesime).gauss(0, 0.4), 8.0),
                   40.0)
        median = 29_500 - 420 * rate + r.gauss(0, 600) + 350 * (millesime - 2021)
        small = niveau == "COM" and value < 2000
        for measure, v, unit in (("MED_SL", float(round(median / 10) * 10), "EUR_YR"), ("PR_MD60", round(rate, 1), "PT")):
            v = None if small and measure == "PR_MD60" else v
            obs.append({"attributes": {"OBS_STATUS": "A", "CONF_STATUS": "F" if v is not None else "C"},
                        "dimensions": {"GEO": geo, "FREQ": "A", "TIME_PERIOD": str(millesime),
                                       "FILOSOFI_MEASURE": measure, "UNIT_MEASURE": unit},
                        "measures": {"OBS_VALUE_NIVEAU": {"value": v}}})
    return obs


def write_melodi(dest: Path, territoires, communes, source_id: str, millesime: int) -> dict:
    """Pages as the recordings' ``melodi_pages`` builds them, for the national observations."""
    from tests.recordings import gen_apis

    obs = melodi_observations(territoires, communes, source_id, millesime)
    original = gen_apis.melodi_observations
    gen_apis.melodi_observations = lambda *_a, **_k: obs
    try:
        pages = gen_apis.melodi_pages(source_id, millesime)
    finally:
        gen_apis.melodi_observations = original
    n, size = write_page_archive(dest, pages, compresslevel=6)
    return {"rows": len(obs), "bytes": size, "pages": n}


# -- points: DPE and BPE ------------------------------------------------------------------------------------

def _points(rng: np.random.Generator, n: int, geo: dict, codes: list[str], weights: np.ndarray,
            shares: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, index of the QPV drawn or -1, index of the QPV whose commune is used) for ``n`` points:
    ``shares[0]`` in the QPV's bounding box, ``shares[1]`` around it (its city), the rest uniform."""
    bounds = np.array([geo[c][0] for c in codes])
    centre = np.array([geo[c][1] for c in codes])
    k = rng.choice(len(codes), size=n, p=weights)
    u = rng.random(n)
    lon = np.empty(n)
    lat = np.empty(n)
    inside = u < shares[0]
    around = (u >= shares[0]) & (u < shares[0] + shares[1])
    bg = ~(inside | around)
    b = bounds[k[inside]]
    lon[inside] = rng.uniform(b[:, 0], b[:, 2])
    lat[inside] = rng.uniform(b[:, 1], b[:, 3])
    c = centre[k[around]]
    lon[around] = c[:, 0] + rng.normal(0, 0.04, around.sum())
    lat[around] = c[:, 1] + rng.normal(0, 0.03, around.sum())
    lon[bg] = rng.uniform(METROPOLE[0], METROPOLE[2], bg.sum())
    lat[bg] = rng.uniform(METROPOLE[1], METROPOLE[3], bg.sum())
    drawn = np.where(inside, k, -1)
    return lon, lat, drawn, k


def _weights(codes: list[str], millesime: int) -> np.ndarray:
    from tests.recordings import generate

    w = np.array([generate.population(c, millesime) for c in codes], dtype=float)
    return w / w.sum()


def _first_commune(territoires: list[dict]) -> list[str]:
    return [t["insee_com"].split(",")[0].strip() for t in territoires]


def _fmt(values: np.ndarray, digits: int) -> pa.Array:
    return pc.cast(pc.round(pa.array(values), digits), pa.string())


def dpe_pages(territoires, geo, millesime: int, n: int, seed: int, chunk: int = 200_000):
    """``(url, body)`` of the ``/lines`` pages of ``n`` DPE of a millésime, generated chunk by chunk."""
    import datetime as dt

    from tests.recordings import gen_apis

    rng = np.random.default_rng([seed, millesime, 1])
    codes = [t["code_qp"] for t in territoires]
    communes = np.array(_first_commune(territoires))
    weights = _weights(codes, 2021)
    url = gen_apis.dpe_url(millesime)
    internal = url.replace("/datasets/dpe03existant/", f"/datasets/{gen_apis.DPE_INTERNAL_ID}/")
    start = dt.date(millesime, 1, 1)
    dates = pa.array([(start + dt.timedelta(days=d)).isoformat() for d in range(365)])
    labels = pa.array(list("ABCDEFG"))
    kinds = pa.array(["appartement", "maison", "immeuble"])
    periodes = pa.array(gen_apis.PERIODES)
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    yy = f"{millesime % 100:02d}"
    current = url
    page_no = 0
    done = 0
    while done < n:
        m = min(chunk, n - done)
        lon, lat, drawn, k = _points(rng, m, geo, codes, weights, (0.45, 0.30))
        in_qpv = drawn >= 0
        lab = np.where(in_qpv, rng.choice(7, m, p=np.array([1, 3, 12, 28, 27, 17, 12]) / 100),
                       rng.choice(7, m, p=np.array([3, 7, 21, 32, 21, 10, 6]) / 100))
        ges = np.clip(lab + rng.choice([-2, -1, -1, 0, 0, 0, 1], m), 0, 6)
        kind = rng.choice(3, m, p=[0.65, 0.3, 0.05])
        surface = np.clip(np.where(kind == 0, rng.lognormal(4.05, 0.35, m),
                                   np.where(kind == 1, rng.lognormal(4.55, 0.3, m), rng.lognormal(7.0, 0.5, m))),
                          12.0, 9000.0)
        idx = np.arange(done, done + m)
        commune = pa.array(communes[k])
        dep = pc.utf8_slice_codeunits(commune, 0, 2)
        serial = pa.array(np.char.zfill((idx % 10**7).astype(str), 7))
        letter = pa.array(np.array(list(letters))[(idx // 10**7) % len(letters)])
        numero = pc.binary_join_element_wise(pa.scalar(yy), dep, pa.scalar("E"), serial, letter, "")
        day = np.sort(rng.integers(0, 365, m))
        js = pc.binary_join_element_wise(
            '{"numero_dpe":"', numero, '","date_etablissement_dpe":"', dates.take(pa.array(day)),
            '","etiquette_dpe":"', labels.take(pa.array(lab)), '","etiquette_ges":"', labels.take(pa.array(ges)),
            '","type_batiment":"', kinds.take(pa.array(kind)), '","periode_construction":"',
            periodes.take(pa.array(rng.integers(0, len(gen_apis.PERIODES), m))),
            '","surface_habitable_logement":', _fmt(surface, 1), ',"code_insee_ban":"', commune,
            '","_geopoint":"', _fmt(lat, 6), ",", _fmt(lon, 6), '"}', "")
        for off in range(0, m, DPE_PAGE):
            rows = js.slice(off, DPE_PAGE)
            page_no += 1
            last = done + off + len(rows) >= n
            head = {"total": n}
            nxt = None
            if len(rows) == DPE_PAGE:  # a full page has a next link, even when nothing follows
                nxt = gen_apis.with_params(internal, after=f"{1_700_000_000_000 + page_no * 86_400_000},{page_no}")
                head["next"] = nxt
            body = (json.dumps(head, separators=(",", ":"))[:-1] + ',"results":['
                    + pc.binary_join(pa.ListArray.from_arrays([0, len(rows)], rows), ",")[0].as_py() + "]}")
            yield current, body.encode("utf-8")
            current = nxt
            if last and nxt is not None:  # data-fair then serves an empty page
                yield current, json.dumps({"total": n, "results": []}).encode("utf-8")
        done += m


def write_dpe(dest: Path, territoires, geo, millesime: int, n: int, seed: int) -> dict:
    pages, size = write_page_archive(dest, dpe_pages(territoires, geo, millesime, n, seed))
    return {"rows": n, "bytes": size, "pages": pages}


def bpe_table(territoires, geo, millesime: int, n: int, seed: int) -> pa.Table:
    from tests.recordings import gen_insee_qpv

    rng = np.random.default_rng([seed, millesime, 2])
    codes = [t["code_qp"] for t in territoires]
    communes = np.array(_first_commune(territoires))
    epcis = np.array([t["siren_epci"].split(",")[0].strip() for t in territoires])
    lon, lat, drawn, k = _points(rng, n, geo, codes, _weights(codes, 2021), (0.25, 0.35))
    geoloc = rng.random(n) >= 0.03
    qp = np.where(drawn >= 0, np.array(codes, dtype=object)[np.maximum(drawn, 0)], "HZ" if millesime == 2024 else "")
    qp = np.where(geoloc, qp, "_U")
    quali = np.where(drawn >= 0, np.where(rng.random(n) < 0.8, "1", "2"), "_Z")
    quali = np.where(geoloc, quali, "_U")
    typequ = np.array(gen_insee_qpv.BPE_TYPEQU)[rng.integers(0, len(gen_insee_qpv.BPE_TYPEQU), n)]
    lon_s = pc.if_else(pa.array(geoloc), _fmt(lon, 6), "")
    lat_s = pc.if_else(pa.array(geoloc), _fmt(lat, 6), "")
    return pa.table({"AN": pa.array(np.full(n, str(millesime))), "DEPCOM": pa.array(communes[k]),
                     "EPCI": pa.array(epcis[k]), "TYPEQU": pa.array(typequ), "QP2024": pa.array(qp.astype(str)),
                     "QUALI_QP2024": pa.array(quali), "LONGITUDE": lon_s, "LATITUDE": lat_s})


def write_bpe(dest: Path, territoires, geo, millesime: int, n: int, seed: int) -> dict:
    table = bpe_table(territoires, geo, millesime, n, seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    if millesime == 2024:  # BPE24.csv: ``;``, upper-case names
        pacsv.write_csv(table, buf, pacsv.WriteOptions(delimiter=";", quoting_style="none"))
        dest.write_bytes(buf.getvalue())
    else:  # BPE25.zip: ``,``, lower-case names, BOM
        table = table.rename_columns([c.lower() for c in table.column_names])
        buf.write("\ufeff".encode())
        pacsv.write_csv(table, buf, pacsv.WriteOptions(delimiter=",", quoting_style="none"))
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(zipfile.ZipInfo(f"BPE{millesime % 100}.csv", date_time=ZIP_DATE), buf.getvalue(),
                        compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return {"rows": n, "bytes": dest.stat().st_size}


# -- the computed baromètres' sources (issue 20) ------------------------------------------------------------
#
# The layouts are the recordings' (tests/recordings/gen_calcules.py), at national size. Everything is drawn
# with numpy from the seed and built with shapely's vectorised functions and Arrow string kernels; the large
# texts (grid CSV, stop_times.txt) are written in chunks straight into their ZIP member.

#: the Filosofi 2019 variables after the recording's ten columns (docs/recherche/barometres-calcules-sources.md)
GRID_EXTRA_COLUMNS = ["men_1ind", "men_5ind", "men_prop", "men_fmp", "men_surf", "men_coll", "men_mais", "log_av45",
                      "log_45_70", "log_70_90", "log_ap90", "log_inc", "log_soc", "ind_0_3", "ind_4_5", "ind_6_10",
                      "ind_11_17", "ind_18_24", "ind_25_39", "ind_40_54", "ind_55_64", "ind_65_79", "ind_80p",
                      "ind_inc"]
#: EPSG:3035 box where the grid's squares away from the QPV are drawn (inside the parser's METROPOLE_3035)
GRID_BOX_3035 = (3_200_000.0, 2_050_000.0, 4_300_000.0, 3_100_000.0)
DOM_2022 = {"971": "ZA", "972": "ZB", "973": "ZC", "974": "ZD", "976": "ZM", "975": "ZS", "977": "ZX", "978": "ZX",
            "986": "ZW", "987": "ZP", "988": "ZN"}


class Shapes:
    """Every QPV of the contours, sorted by code: first commune, département, WGS84 and EPSG:3035 polygons (valid),
    representative point, census population (the latest ``insee_pop_qpv`` millésime), metropolitan or not."""

    def __init__(self, contours: Path, territoires: list[dict]) -> None:
        import shapely
        from shapely.geometry import shape

        from extract.calcules.carroyage import to_3035
        from extract.spatial import _polygonal
        from tests.recordings import generate as gen

        feats = {f["properties"]["code_qp"]: f for f in json.loads(Path(contours).read_text("utf-8"))["features"]}
        self.codes = np.array([t["code_qp"] for t in territoires], dtype=object)
        self.communes = np.array(_first_commune(territoires), dtype=object)
        self.deps = np.array([t["insee_dep"] for t in territoires], dtype=object)
        self.noms = {}
        self.dep_noms = {}
        for t in territoires:
            for c, n in zip(t["insee_com"].split(","), t["lib_com"].split(","), strict=False):
                self.noms.setdefault(c.strip(), n.strip())
            self.dep_noms.setdefault(t["insee_dep"], t["lib_dep"])
        wgs = np.array([_polygonal(shape(feats[c]["geometry"])) for c in self.codes], dtype=object)
        self.g3035 = shapely.make_valid(to_3035(wgs))
        self.metro = np.array([not d.startswith("97") and not d.startswith("98") for d in self.deps])
        rep = shapely.point_on_surface(self.g3035)
        self.cx, self.cy = shapely.get_x(rep), shapely.get_y(rep)
        self.pop = np.array([float(gen.population(c, max(2020, gen.REAL_POPULATION_MILLESIME))) for c in self.codes])


def _to_wgs84(x: np.ndarray, y: np.ndarray, digits: int = 7) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True).transform(x, y)
    return np.round(np.asarray(lon), digits), np.round(np.asarray(lat), digits)


def _s(values) -> pa.Array:
    """Integers (numpy) as strings."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def _pad(values, width: int) -> pa.Array:
    return pc.utf8_lpad(_s(values), width, "0")


def _dec(values: np.ndarray, digits: int = 1) -> pa.Array:
    """Non-negative floats with exactly ``digits`` decimals ("12.0", "0.5")."""
    q = np.round(np.asarray(values, dtype=np.float64) * 10**digits).astype(np.int64)
    return pc.binary_join_element_wise(_s(q // 10**digits), _pad(q % 10**digits, digits), ".")


def _pct(a: np.ndarray, b: np.ndarray, sep: str = ",", suffix: str = "") -> pa.Array:
    q = np.round(10_000 * np.asarray(a, np.float64) / np.maximum(np.asarray(b, np.float64), 1)).astype(np.int64)
    return pc.binary_join_element_wise(_s(q // 100), pa.scalar(sep), _pad(q % 100, 2), pa.scalar(suffix), "")


class _ZipText:
    """One ZIP member written in chunks (Zip64, fixed date)."""

    def __init__(self, dest: Path, member: str, compresslevel: int = 1) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.dest, self.tmp = dest, dest.with_name(dest.name + ".tmp")
        self.zf = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        self.members = {}
        self.open(member)

    def open(self, member: str):
        info = zipfile.ZipInfo(member, date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        self.fh = self.zf.open(info, "w", force_zip64=True)
        return self

    def write(self, data: bytes | str) -> None:
        self.fh.write(data.encode("utf-8") if isinstance(data, str) else data)

    def add(self, member: str, text: str) -> None:
        self.fh.close()
        self.open(member)
        self.write(text)

    def close(self) -> None:
        self.fh.close()
        self.zf.close()
        os.replace(self.tmp, self.dest)


def _lines(arrays: list) -> bytes:
    """Rows joined by ``,`` from columns (arrays or scalars), newline-terminated."""
    joined = pc.binary_join_element_wise(*arrays, ",")
    return ("\n".join(joined.to_pylist()) + "\n").encode("utf-8")


# -- the Filosofi 200 m grid ---------------------------------------------------------------------------------

def grid_squares(shapes: Shapes, n_total: int, seed: int) -> dict[str, np.ndarray]:
    """Squares (EPSG:3035 south-west corners) around every metropolitan QPV — inside: populated so that each
    QPV's area-split population is its census population, as the recording does; a 400 m ring: 5–60 people —
    then squares elsewhere up to ``n_total``: 60 % in towns around the QPV (σ 5 km), 40 % uniform over the
    metropolitan box. Returns x0, y0, ind, commune, imputed."""
    import shapely

    rng = np.random.default_rng([seed, 2019, 3])
    xs_l, ys_l, share_l, q_l = [], [], [], []
    for i in np.flatnonzero(shapes.metro):
        g = shapes.g3035[i]
        xmin, ymin, xmax, ymax = g.bounds
        xs = np.arange(np.floor((xmin - 400) / 200) * 200, xmax + 400, 200)
        ys = np.arange(np.floor((ymin - 400) / 200) * 200, ymax + 400, 200)
        gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
        boxes = shapely.box(gx, gy, gx + 200, gy + 200)
        near = shapely.dwithin(boxes, g, 400.0)
        share = shapely.area(shapely.intersection(boxes[near], g)) / 40_000.0
        xs_l.append(gx[near])
        ys_l.append(gy[near])
        share_l.append(share)
        q_l.append(np.full(int(near.sum()), i))
    x0, y0 = np.concatenate(xs_l).astype(np.int64), np.concatenate(ys_l).astype(np.int64)
    share, q = np.concatenate(share_l), np.concatenate(q_l)
    density = shapes.pop / np.maximum(np.bincount(q, weights=share, minlength=len(shapes.codes)), 1e-9)
    key = (x0 // 200) << 20 | (y0 // 200)
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    ind = np.bincount(inv, weights=np.where(share > 0, density[q], 0.0))  # a full density per square touched
    inside = np.bincount(inv, weights=(share > 0).astype(float)) > 0
    ind = np.where(inside, ind, rng.uniform(5, 60, len(uniq)))
    out_x, out_y = x0[first], y0[first]
    commune = shapes.communes[q[first]]
    # elsewhere: towns around the QPV and the countryside, never on a square already drawn
    need = max(0, n_total - len(uniq))
    metro = np.flatnonzero(shapes.metro)
    w = shapes.pop[metro] / shapes.pop[metro].sum()
    taken = uniq
    ex, ey, eq = [], [], []
    got = 0
    while got < need:
        m = int((need - got) * 1.4) + 1000
        town = rng.random(m) < 0.6
        k = metro[rng.choice(len(metro), m, p=w)]
        x = np.where(town, shapes.cx[k] + rng.normal(0, 5000, m), rng.uniform(GRID_BOX_3035[0], GRID_BOX_3035[2], m))
        y = np.where(town, shapes.cy[k] + rng.normal(0, 5000, m), rng.uniform(GRID_BOX_3035[1], GRID_BOX_3035[3], m))
        x = np.clip(x, GRID_BOX_3035[0], GRID_BOX_3035[2])
        y = np.clip(y, GRID_BOX_3035[1], GRID_BOX_3035[3])
        kx, ky = (np.floor(x / 200) * 200).astype(np.int64), (np.floor(y / 200) * 200).astype(np.int64)
        kk = (kx // 200) << 20 | (ky // 200)
        _, idx = np.unique(kk, return_index=True)
        idx = np.sort(idx)
        idx = idx[~np.isin(kk[idx], taken)][: need - got]
        taken = np.union1d(taken, kk[idx])
        ex.append(kx[idx])
        ey.append(ky[idx])
        eq.append(np.where(town[idx], k[idx], -1))
        got += len(idx)
    if need:
        ex, ey, eq = np.concatenate(ex), np.concatenate(ey), np.concatenate(eq)
        far = eq < 0
        if far.any():  # the commune of the nearest QPV
            tree = shapely.STRtree(shapely.points(shapes.cx[metro], shapes.cy[metro]))
            eq[far] = metro[tree.query_nearest(shapely.points(ex[far] + 100, ey[far] + 100), all_matches=False)[1]]
        e_ind = np.where(far, rng.lognormal(1.8, 0.9, need), rng.lognormal(3.0, 1.0, need))
        e_commune = shapes.communes[eq].copy()
        two = rng.random(need) < 0.03  # a square on a commune border lists two communes
        e_commune[two] = e_commune[two] + shapes.communes[rng.choice(metro, int(two.sum()))]
        out_x, out_y = np.concatenate([out_x, ex]), np.concatenate([out_y, ey])
        ind = np.concatenate([ind, np.maximum(e_ind, 1.0)])
        commune = np.concatenate([commune, e_commune])
    imputed = rng.random(len(ind)) < 0.05
    ind = np.where(imputed, ind + rng.uniform(-0.45, 0.45, len(ind)).clip(-ind + 0.1, None), ind)
    order = np.lexsort((out_x, out_y))
    return {"x0": out_x[order], "y0": out_y[order], "ind": ind[order], "commune": commune[order],
            "imputed": imputed[order]}


def write_grid(dest: Path, shapes: Shapes, n_total: int, seed: int, chunk: int = 250_000) -> dict:
    """``Filosofi2019_carreaux_200m_csv.zip`` holding ``carreaux_200m_met.csv`` (the recording's layout: its ten
    columns, then the other Filosofi 2019 variables), comma separated, one row per inhabited square."""
    from tests.recordings import gen_calcules

    sq = grid_squares(shapes, n_total, seed)
    n = len(sq["ind"])
    rng = np.random.default_rng([seed, 2019, 4])
    out = _ZipText(dest, gen_calcules.GRID_MEMBER)
    out.write(",".join(gen_calcules.GRID_HEADER + GRID_EXTRA_COLUMNS) + "\n")
    fractions = rng.dirichlet(np.ones(10), 1)[0]
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        x0, y0, ind = sq["x0"][lo:hi], sq["y0"][lo:hi], sq["ind"][lo:hi]
        ids = pc.binary_join_element_wise("CRS3035RES200mN", _s(y0), "E", _s(x0), "")
        id1k = pc.binary_join_element_wise("CRS3035RES1000mN", _s(y0 // 1000 * 1000), "E", _s(x0 // 1000 * 1000), "")
        flag = pa.array(np.where(sq["imputed"][lo:hi], "1", "0"))
        men = ind / 2.3
        cols = [ids, id1k, ids, flag, flag, pa.array(sq["commune"][lo:hi].astype(str)), _dec(ind), _dec(men),
                _dec(men * 0.15), _dec(ind * 21_000)]
        cols += [_dec(men * f) for f in (0.35, 0.08, 0.55, 0.1, 70.0, 0.45, 0.55)]
        cols += [_dec(men * f) for f in (0.2, 0.35, 0.25, 0.15, 0.05, 0.1)]
        cols += [_dec(ind * f) for f in fractions]
        cols.append(_dec(ind * 0.0))
        out.write(_lines(cols))
    out.close()
    return {"rows": n, "bytes": dest.stat().st_size}


# -- GTFS ------------------------------------------------------------------------------------------------------

GTFS_TRIPS = {"SEM": 16, "SAM": 8, "DIM": 4}  # trips per route and service; summer-only routes: ETE 10
GTFS_ROUTE_STOPS = 25


def write_gtfs(dest: Path, shapes: Shapes, geo: dict, n_stops: int, seed: int, chunk: int = 1_000_000) -> dict:
    """One national GTFS ZIP (the recording's members): ``n_stops`` platforms and stops (2 % of them in pairs under
    a station), 35 % in a QPV's bounding box, 40 % around its city, 25 % uniform over metropolitan France and
    Corsica; 92 % on routes of 25 stops running in the reference week (weekdays, Saturday, Sunday), 3 % on
    summer-only routes (not served that week), 5 % with no trip."""
    from extract.calcules.gtfs import in_france

    rng = np.random.default_rng([seed, 2025, 4])
    lon_c = np.array([geo[c][1][0] for c in shapes.codes])
    lat_c = np.array([geo[c][1][1] for c in shapes.codes])
    usable = in_france(lon_c, lat_c)  # French Polynesia's QPV are outside the GTFS check's boxes
    codes = [c for c, u in zip(shapes.codes, usable, strict=True) if u]
    w = shapes.pop[usable] / shapes.pop[usable].sum()
    n_stations = max(1, n_stops // 100)
    singles = n_stops - 2 * n_stations
    lon, lat, _, k = _points(rng, singles + n_stations, geo, codes, w, (0.35, 0.40))
    bad = ~in_france(lon, lat)
    lon[bad], lat[bad] = lon_c[usable][k[bad]], lat_c[usable][k[bad]]
    st_lon, st_lat = lon[singles:], lat[singles:]
    p_lon = np.concatenate([st_lon - 0.0002, st_lon + 0.0002])
    p_lat = np.concatenate([st_lat, st_lat])
    s_lon, s_lat = np.concatenate([lon[:singles], p_lon]), np.concatenate([lat[:singles], p_lat])
    parent = np.concatenate([np.full(singles, -1), np.arange(n_stations), np.arange(n_stations)])
    status = rng.choice(3, n_stops, p=[0.92, 0.03, 0.05])  # served, summer only, no trip
    stop_ids = pc.binary_join_element_wise("S", _pad(np.arange(1, n_stops + 1), 7), "")
    station_ids = pc.binary_join_element_wise("ST", _pad(np.arange(1, n_stations + 1), 6), "")
    out = _ZipText(dest, "agency.txt")
    agencies = 40
    out.write("agency_id,agency_name,agency_url,agency_timezone,agency_lang\n" + "".join(
        f"A{a:02d},Réseau {a:02d},https://reseau{a:02d}.example.fr,Europe/Paris,fr\n" for a in range(agencies)))
    # stops.txt: platforms and stops, then stations
    parent_ids = pc.if_else(pa.array(parent >= 0), station_ids.take(pa.array(np.maximum(parent, 0))), "")
    rows = pc.binary_join_element_wise(stop_ids, pc.binary_join_element_wise('"Arrêt ', _s(np.arange(1, n_stops + 1)),
                                                                             '"', ""),
                                       _dec_signed(s_lat, 6), _dec_signed(s_lon, 6), "0", parent_ids, ",")
    srows = pc.binary_join_element_wise(station_ids, pc.binary_join_element_wise(
        '"Gare ', _s(np.arange(1, n_stations + 1)), '"', ""), _dec_signed(st_lat, 6), _dec_signed(st_lon, 6), "1", "", ",")
    out.add("stops.txt", "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
            + "\n".join(rows.to_pylist()) + "\n" + "\n".join(srows.to_pylist()) + "\n")
    # routes: served stops in spatial order (0.05° cells), 25 by 25
    route_stops, route_len, route_summer = [], [], []
    for flag, summer in ((0, False), (1, True)):
        idx = np.flatnonzero(status == flag)
        cell = np.floor(s_lon[idx] / 0.05) * 100_000 + np.floor(s_lat[idx] / 0.05)
        idx = idx[np.lexsort((s_lon[idx], cell))]
        for lo in range(0, len(idx), GTFS_ROUTE_STOPS):
            part = idx[lo:lo + GTFS_ROUTE_STOPS]
            route_stops.append(part)
            route_len.append(len(part))
            route_summer.append(summer)
    n_routes = len(route_stops)
    route_len = np.array(route_len)
    route_start = np.concatenate([[0], np.cumsum(route_len)[:-1]])
    route_stops = np.concatenate(route_stops) if route_stops else np.empty(0, np.int64)
    route_summer = np.array(route_summer)
    rtype = rng.choice([3, 3, 3, 3, 0, 2], n_routes)
    out.add("routes.txt", "route_id,agency_id,route_short_name,route_long_name,route_type\n" + "".join(
        f"R{r:05d},A{r % agencies:02d},{r % 200 + 1},Ligne {r + 1},{rtype[r]}\n" for r in range(n_routes)))
    out.add("calendar.txt",
            "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
            "SEM,1,1,1,1,1,0,0,20250106,20251231\nSAM,0,0,0,0,0,1,0,20250106,20251231\n"
            "DIM,0,0,0,0,0,0,1,20250106,20251231\nETE,1,1,1,1,1,1,1,20250701,20250831\n")
    out.add("calendar_dates.txt", "service_id,date,exception_type\nSEM,20250501,2\nDIM,20250501,1\n"
            "SEM,20250714,2\nDIM,20250714,1\n")
    t_route, t_service, t_start = [], [], []
    for svc, per in (*GTFS_TRIPS.items(), ("ETE", 10)):
        routes = np.flatnonzero(route_summer == (svc == "ETE"))
        for j in range(per):
            t_route.append(routes)
            t_service.append(np.full(len(routes), svc, dtype=object))
            t_start.append(5 * 60 + j * (17 * 60 // per) + (routes % 30))
    t_route, t_service, t_start = np.concatenate(t_route), np.concatenate(t_service), np.concatenate(t_start)
    n_trips = len(t_route)
    trip_ids = pc.binary_join_element_wise("T", _pad(np.arange(1, n_trips + 1), 7), "")
    out.add("trips.txt", "route_id,service_id,trip_id\n" + "\n".join(pc.binary_join_element_wise(
        pc.binary_join_element_wise("R", _pad(t_route, 5), ""), pa.array(t_service.astype(str)), trip_ids,
        ",").to_pylist()) + "\n")
    out.add("stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n")
    lens = route_len[t_route]
    offsets = np.concatenate([[0], np.cumsum(lens)])
    total = int(offsets[-1])
    for lo_t in range(0, n_trips, max(1, chunk // GTFS_ROUTE_STOPS)):
        hi_t = min(n_trips, lo_t + max(1, chunk // GTFS_ROUTE_STOPS))
        trips = np.arange(lo_t, hi_t)
        rows_trip = np.repeat(trips, lens[trips])
        seq = np.arange(len(rows_trip)) - np.repeat(offsets[trips] - offsets[lo_t], lens[trips])
        stop = route_stops[route_start[t_route[rows_trip]] + seq]
        secs = t_start[rows_trip] * 60 + seq * 90
        hhmmss = pc.binary_join_element_wise(_pad(secs // 3600, 2), _pad(secs // 60 % 60, 2), _pad(secs % 60, 2), ":")
        out.write(_lines([trip_ids.take(pa.array(rows_trip)), hhmmss, hhmmss, stop_ids.take(pa.array(stop)),
                          _s(seq + 1)]))
    out.close()
    return {"rows": n_stops, "stations": n_stations, "trips": n_trips, "stop_times": total,
            "served_share": round(float((status == 0).mean()), 3), "bytes": dest.stat().st_size}


def _dec_signed(values: np.ndarray, digits: int) -> pa.Array:
    v = np.asarray(values, dtype=np.float64)
    return pc.binary_join_element_wise(pa.array(np.where(v < 0, "-", "")), _dec(np.abs(v), digits), "")


# -- OpenStreetMap green spaces (Overpass answer) -----------------------------------------------------------

#: category → (tags, share of the ways, median radius m, log-sd)
OSM_KINDS = [
    ({"leisure": "park"}, 0.34, 70.0, 0.5),
    ({"leisure": "garden"}, 0.12, 30.0, 0.5),
    ({"leisure": "garden", "garden:type": "residential"}, 0.03, 20.0, 0.4),
    ({"leisure": "playground"}, 0.15, 15.0, 0.4),
    ({"landuse": "grass"}, 0.22, 22.0, 0.6),
    ({"landuse": "recreation_ground"}, 0.06, 60.0, 0.5),
    ({"landuse": "recreation_ground", "access": "private"}, 0.02, 50.0, 0.4),
    ({"landuse": "forest"}, 0.06, 350.0, 0.6),
]


def write_osm(dest: Path, shapes: Shapes, n_ways: int, seed: int) -> dict:
    """An Overpass ``out geom`` JSON answer (the recording's layout): ``n_ways`` closed ways of 5–14 vertices
    (parks, gardens, playgrounds, lawns, recreation grounds, forests; some private or residential, lawns under
    1,000 m²: set aside by the parser), 70 % within 1.5 km of a metropolitan QPV, 30 % in the towns around
    (σ 8 km); plus playground nodes (2 %), open ways (0.3 %) and multipolygon forests with a clearing (0.3 %)."""
    rng = np.random.default_rng([seed, 2025, 5])
    metro = np.flatnonzero(shapes.metro)
    w = shapes.pop[metro] / shapes.pop[metro].sum()
    k = metro[rng.choice(len(metro), n_ways, p=w)]
    near = rng.random(n_ways) < 0.7
    ang, dist = rng.uniform(0, 2 * np.pi, n_ways), np.where(near, 1500 * np.sqrt(rng.random(n_ways)), 0.0)
    cx = shapes.cx[k] + dist * np.cos(ang) + np.where(near, 0, rng.normal(0, 8000, n_ways))
    cy = shapes.cy[k] + dist * np.sin(ang) + np.where(near, 0, rng.normal(0, 8000, n_ways))
    kind = rng.choice(len(OSM_KINDS), n_ways, p=np.array([s for _, s, _, _ in OSM_KINDS]) / sum(
        s for _, s, _, _ in OSM_KINDS))
    radius = np.array([m for _, _, m, _ in OSM_KINDS])[kind] * np.exp(
        rng.normal(0, 1, n_ways) * np.array([s for _, _, _, s in OSM_KINDS])[kind])
    nv = rng.integers(5, 15, n_ways)
    poly = np.repeat(np.arange(n_ways), nv)
    theta = rng.uniform(0, 2 * np.pi, len(poly))
    order = np.lexsort((theta, poly))
    theta = theta[order]
    r = radius[poly] * rng.uniform(0.7, 1.0, len(poly))
    lon, lat = _to_wgs84(cx[poly] + r * np.cos(theta), cy[poly] + r * np.sin(theta))
    # close each ring: its first vertex again at the end
    starts = np.concatenate([[0], np.cumsum(nv)[:-1]])
    ring_idx = np.concatenate([np.arange(len(poly)), starts])
    ring_poly = np.concatenate([poly, np.arange(n_ways)])
    ring_pos = np.concatenate([np.arange(len(poly)) - np.repeat(starts, nv), nv])
    o = np.lexsort((ring_pos, ring_poly))
    ring_idx = ring_idx[o]
    vlon, vlat = lon[ring_idx], lat[ring_idx]
    pts = pc.binary_join_element_wise('{"lat":', _dec_signed(vlat, 7), ',"lon":', _dec_signed(vlon, 7), "}", "")
    offsets = pa.array(np.concatenate([[0], np.cumsum(nv + 1)]).astype(np.int32))
    geometry = pc.binary_join(pa.ListArray.from_arrays(offsets, pts), ",")
    node_ids = 10_000_000_000 + np.arange(len(ring_idx))
    node_ids[np.cumsum(nv + 1) - 1] = node_ids[np.concatenate([[0], np.cumsum(nv + 1)[:-1]])]  # closed: first id
    nodes = pc.binary_join(pa.ListArray.from_arrays(offsets, _s(node_ids)), ",")
    gmin_lat = np.minimum.reduceat(vlat, offsets.to_numpy()[:-1])
    gmax_lat = np.maximum.reduceat(vlat, offsets.to_numpy()[:-1])
    gmin_lon = np.minimum.reduceat(vlon, offsets.to_numpy()[:-1])
    gmax_lon = np.maximum.reduceat(vlon, offsets.to_numpy()[:-1])
    tags = []
    for i, kd in enumerate(kind):
        t = dict(OSM_KINDS[kd][0])
        if t.get("leisure") == "park" and i % 3 == 0:
            t["name"] = f"Parc {i}"
        tags.append(json.dumps(t, ensure_ascii=False, separators=(",", ":")))
    way_ids = 100_000_000 + np.arange(n_ways)
    bounds = pc.binary_join_element_wise('{"minlat":', _dec_signed(gmin_lat, 7), ',"minlon":', _dec_signed(gmin_lon, 7),
                                         ',"maxlat":', _dec_signed(gmax_lat, 7), ',"maxlon":',
                                         _dec_signed(gmax_lon, 7), "}", "")
    ways = pc.binary_join_element_wise('{"type":"way","id":', _s(way_ids), ',"bounds":', bounds, ',"nodes":[', nodes,
                                       '],"geometry":[', geometry, '],"tags":', pa.array(tags), "}", "")
    elements = ways.to_pylist()
    # elements the parser sets aside or assembles
    extra = max(1, n_ways // 50)
    j = rng.choice(n_ways, extra)
    for m in range(extra):
        elements.append(json.dumps({"type": "node", "id": 20_000_000_000 + m, "lat": float(lat[starts[j[m]]]),
                                    "lon": float(lon[starts[j[m]]]), "tags": {"leisure": "playground"}}))
    for m in range(max(1, n_ways // 300)):
        i = int(j[m % extra])
        ring = [{"lat": float(a), "lon": float(b)} for a, b in zip(vlat[offsets[i].as_py():offsets[i + 1].as_py() - 1],
                                                                  vlon[offsets[i].as_py():offsets[i + 1].as_py() - 1],
                                                                  strict=True)]
        elements.append(json.dumps({"type": "way", "id": 300_000_000 + m, "geometry": ring[:-1],
                                    "tags": {"leisure": "park"}}))
    for m in range(max(1, n_ways // 300)):
        i = int(metro[rng.integers(len(metro))])
        x, y = shapes.cx[i] + rng.uniform(500, 2000), shapes.cy[i] + rng.uniform(-2000, 2000)
        s = rng.uniform(300, 900)
        ox = np.array([x, x + s, x + s, x, x])
        oy = np.array([y, y, y + s, y + s, y])
        ix, iy = x + s / 3 + np.array([0, s / 4, s / 4, 0, 0]), y + s / 3 + np.array([0, 0, s / 4, s / 4, 0])
        olon, olat = _to_wgs84(ox, oy)
        ilon, ilat = _to_wgs84(ix, iy)

        def geom(lons, lats):
            return [{"lat": float(a), "lon": float(b)} for a, b in zip(lats, lons, strict=True)]

        elements.append(json.dumps({"type": "relation", "id": 400_000_000 + m, "members": [
            {"type": "way", "ref": 500_000_000 + 3 * m, "role": "outer", "geometry": geom(olon[:3], olat[:3])},
            {"type": "way", "ref": 500_000_001 + 3 * m, "role": "outer", "geometry": geom(olon[2:], olat[2:])},
            {"type": "way", "ref": 500_000_002 + 3 * m, "role": "inner", "geometry": geom(ilon, ilat)}],
            "tags": {"type": "multipolygon", "landuse": "forest", "name": f"Bois {m}"}}, separators=(",", ":")))
    head = json.dumps({"version": 0.6, "generator": "Overpass API 0.7.62.5 1bd436f1",
                       "osm3s": {"timestamp_osm_base": "2025-11-03T09:14:02Z",
                                 "timestamp_areas_base": "2025-11-03T08:51:40Z",
                                 "copyright": "The data included in this document is from www.openstreetmap.org. "
                                              "The data is made available under ODbL."}}, indent=2)[:-2]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as fh:
        fh.write(head + ',\n  "elements": [\n\n')
        fh.write(",\n".join(elements))
        fh.write("\n\n  ]\n}\n")
    return {"rows": len(elements), "ways": n_ways, "bytes": dest.stat().st_size}


# -- bureaux de vote: contours and results -----------------------------------------------------------------

def bureaux(shapes: Shapes, n_total: int, seed: int) -> dict:
    """``n_total`` bureaux de vote tiling the territory (Voronoi cells, EPSG:3035): 30 % of the seeds in the QPV's
    surroundings (at least two per QPV, the rest by population; every QPV, overseas included, is covered), the
    others in metropolitan France (half in the towns around the QPV, σ 8 km, half uniform); each cell a bureau of
    the commune of its nearest QPV, numbered within its commune (Marseille by arrondissement, ``0101``…).
    Returns the cells (EPSG:3035), commune, bureau code and the share of each cell inside a QPV."""
    import shapely

    rng = np.random.default_rng([seed, 2022, 6])
    nq = len(shapes.codes)
    n_near = max(2 * nq, int(round(0.3 * n_total)))
    per = np.full(nq, 2) + rng.multinomial(n_near - 2 * nq, shapes.pop / shapes.pop.sum())
    q = np.repeat(np.arange(nq), per)
    b = shapely.bounds(shapes.g3035)
    sx = rng.uniform(b[q, 0] - 800, b[q, 2] + 800)
    sy = rng.uniform(b[q, 1] - 800, b[q, 3] + 800)
    metro = np.flatnonzero(shapes.metro)
    n_far = max(0, n_total - len(q))
    k = metro[rng.choice(len(metro), n_far, p=shapes.pop[metro] / shapes.pop[metro].sum())]
    town = rng.random(n_far) < 0.5
    fx = np.where(town, shapes.cx[k] + rng.normal(0, 8000, n_far), rng.uniform(GRID_BOX_3035[0], GRID_BOX_3035[2], n_far))
    fy = np.where(town, shapes.cy[k] + rng.normal(0, 8000, n_far), rng.uniform(GRID_BOX_3035[1], GRID_BOX_3035[3], n_far))
    # one tiling per territory: metropolitan France, each overseas département
    seeds_x = np.concatenate([sx, fx])
    seeds_y = np.concatenate([sy, fy])
    terr = np.concatenate([np.where(shapes.metro[q], "metro", shapes.deps[q]), np.full(n_far, "metro")])
    cells = []
    for t in sorted(set(terr.tolist())):
        m = terr == t
        x, y = seeds_x[m], seeds_y[m]
        if t == "metro":
            mb = shapely.bounds(shapes.g3035[metro])
            region = shapely.box(min(GRID_BOX_3035[0], mb[:, 0].min() - 3000), min(GRID_BOX_3035[1], mb[:, 1].min() - 3000),
                                 max(GRID_BOX_3035[2], mb[:, 2].max() + 3000), max(GRID_BOX_3035[3], mb[:, 3].max() + 3000))
        else:  # the QPV's surroundings only (far from metropolitan France, EPSG:3035 is stretched)
            ob = shapely.bounds(shapes.g3035[shapes.deps == t])
            region = shapely.union_all(shapely.box(ob[:, 0] - 1500, ob[:, 1] - 1500, ob[:, 2] + 1500, ob[:, 3] + 1500))
        x, y = np.clip(x, *shapely.bounds(region)[[0, 2]]), np.clip(y, *shapely.bounds(region)[[1, 3]])
        pts = np.unique(np.round(np.column_stack([x, y]), 1), axis=0)
        vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=shapely.envelope(region)))
        part = shapely.intersection(vor, region)
        cells.append(part[~shapely.is_empty(part) & (shapely.area(part) > 0)])
    cells = np.concatenate(cells)
    tree = shapely.STRtree(shapes.g3035)
    nearest = tree.query_nearest(shapely.point_on_surface(cells), all_matches=False)[1]
    ci, qi = tree.query(cells, predicate="intersects")
    inter = shapely.area(shapely.intersection(cells[ci], shapes.g3035[qi]))
    share = np.minimum(np.bincount(ci, weights=inter, minlength=len(cells)) / shapely.area(cells), 1.0)
    from extract.calcules.elections import commune_de_rattachement

    commune = np.array([commune_de_rattachement(x) for x in shapes.communes[nearest]], dtype=object)
    c = shapely.centroid(cells)
    order = np.lexsort((shapely.get_x(c), -shapely.get_y(c), commune.astype(str)))
    rank = np.empty(len(cells), dtype=np.int64)
    sorted_c = commune[order].astype(str)
    first = np.r_[0, np.flatnonzero(sorted_c[1:] != sorted_c[:-1]) + 1]
    rank[order] = np.arange(len(cells)) - np.repeat(first, np.diff(np.r_[first, len(cells)]))
    bv = np.where(commune == "13055",
                  np.char.add(np.char.zfill((rank // 40 + 1).astype(str), 2), np.char.zfill((rank % 40 + 1).astype(str), 2)),
                  np.char.zfill((rank + 1).astype(str), 4))
    return {"cells": cells, "commune": commune.astype(str), "bv": bv, "qpv": share}


def write_contours_bv(dest: Path, shapes: Shapes, bv: dict) -> dict:
    """The Etalab contours GeoJSON (the recording's properties), WGS84 polygons segmentized to ~50 vertices."""
    import shapely
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)

    def f(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([x, y]), 7)

    cells = bv["cells"]
    seg = shapely.segmentize(cells, np.maximum(shapely.length(cells) / 48, 10.0))
    geoms = shapely.to_geojson(shapely.transform(seg, f))
    com = pa.array(bv["commune"])
    noms = pa.array([json.dumps(shapes.noms.get(c, c), ensure_ascii=False) for c in bv["commune"]])
    dep = pc.utf8_slice_codeunits(com, 0, 2)
    dep = pc.if_else(pc.starts_with(com, "97"), pc.utf8_slice_codeunits(com, 0, 3), dep)
    bvs = pa.array(bv["bv"])
    feats = pc.binary_join_element_wise(
        '{"type":"Feature","properties":{"codeDepartement":"', dep, '","codeCommune":"', com, '","nomCommune":', noms,
        ',"codeBureauVote":"', bvs, '","id_bv":"', com, "_", bvs, '"},"geometry":', pa.array(geoms), "}", "")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        fh.write(",\n".join(feats.to_pylist()))
        fh.write("\n]}\n")
    return {"rows": len(cells), "in_a_qpv": int((bv["qpv"] > 0).sum()), "bytes": dest.stat().st_size}


#: candidates or lists per election file (the real 2022 présidentielle had 12, the 2024 européennes 38 lists; the
#: 2024 législatives file has blocks for up to 19 candidates, most rows fill fewer)
ELECTION_BLOCKS = {"2022": 12, "2024euro": 38, "2024legi": 19}


def write_resultats(dest: Path, shapes: Shapes, bv: dict, source: str, layout: str, base: float, missing: float,
                    seed: int, millesime: int) -> dict:
    """Results by bureau in the recording's layouts (≤ 2022 wide Windows-1252 CRLF text; 2024 named UTF-8), one
    row per bureau of the contours (``missing`` of the QPV bureaux and 1 % of the others redrawn since 2022 are
    absent in 2024), the Français établis hors de France in 2022; abstention higher in bureaux overlapping a QPV."""
    from tests.recordings import gen_calcules as gc

    rng = np.random.default_rng([seed, millesime, 7, len(layout)])
    n = len(bv["bv"])
    q = bv["qpv"]
    keep = rng.random(n) >= np.where(q > 0, missing, missing / 4)
    com, code_bv, q = bv["commune"][keep], bv["bv"][keep], q[keep]
    m = len(com)
    ins = rng.integers(600, 1400, m)
    rate = np.minimum(0.9, base + np.where(q > 0, 0.10 + 0.12 * q, 0.0) + rng.uniform(-0.04, 0.04, m))
    abst = np.round(ins * rate).astype(np.int64)
    vot = ins - abst
    blancs, nuls = (vot * 0.015).astype(np.int64), (vot * 0.008).astype(np.int64)
    exp = vot - blancs - nuls
    k = ELECTION_BLOCKS[layout]
    if layout == "2024legi":
        filled = rng.integers(4, 13, m)
    else:
        filled = np.full(m, k)
    wts = rng.dirichlet(np.linspace(3, 0.3, k), m) * (np.arange(k)[None, :] < filled[:, None])
    wts /= wts.sum(axis=1, keepdims=True)
    voix = np.floor(exp[:, None] * wts).astype(np.int64)
    voix[np.arange(m), filled - 1] += exp - voix.sum(axis=1)
    dep = np.array([c[:3] if c.startswith("97") or c.startswith("98") else c[:2] for c in com], dtype=object)
    dep_lib = pa.array([shapes.dep_noms.get(d, d) for d in dep])
    lib = pa.array([shapes.noms.get(c, c) for c in com])
    s_ins, s_abs, s_vot, s_exp = _s(ins), _s(abst), _s(vot), _s(exp)
    circo = pc.binary_join_element_wise(pa.array(dep.astype(str)), _pad(rng.integers(1, 10, m), 2), "")
    circo_lib = pc.binary_join_element_wise(_s(rng.integers(1, 10, m)), "e circonscription", "")
    if layout == "2022":
        dep22 = pa.array([DOM_2022.get(d, d) for d in dep])
        cols = [dep22, dep_lib, _pad(rng.integers(1, 10, m), 2), circo_lib, pa.array([c[2:] for c in com]), lib, pa.array(code_bv), s_ins, s_abs, _pct(abst, ins), s_vot, _pct(vot, ins),
                _s(blancs), _pct(blancs, ins), _pct(blancs, vot), _s(nuls), _pct(nuls, ins), _pct(nuls, vot), s_exp,
                _pct(exp, ins), _pct(exp, vot)]
        for j in range(k):
            sexe, nom, prenom = gc.CANDIDATS[j % len(gc.CANDIDATS)]
            cols += [str(j + 1), sexe, f"{nom}{j // 3 or ''}", prenom, _s(voix[:, j]), _pct(voix[:, j], ins),
                     _pct(voix[:, j], exp)]
        header = gc.HEADER_2022
    else:
        cols = [pa.array(dep.astype(str)), dep_lib]
        if layout == "2024legi":
            cols += [circo, circo_lib]
        cols += [pa.array(com), lib, pa.array(code_bv), s_ins, s_vot, _pct(vot, ins, suffix="%"), s_abs,
                 _pct(abst, ins, suffix="%"), s_exp, _pct(exp, ins, suffix="%"), _pct(exp, vot, suffix="%"),
                 _s(blancs), _pct(blancs, ins, suffix="%"), _pct(blancs, vot, suffix="%"), _s(nuls),
                 _pct(nuls, ins, suffix="%"), _pct(nuls, vot, suffix="%")]
        for j in range(k):
            sexe, nom, prenom = gc.CANDIDATS[j % len(gc.CANDIDATS)]
            on = pa.array(j < filled)
            if layout == "2024legi":
                block = [str(j + 1), "DIV", f"{nom}{j // 3 or ''}", prenom, sexe, _s(voix[:, j]),
                         _pct(voix[:, j], ins, suffix="%"), _pct(voix[:, j], exp, suffix="%"), ""]
            else:
                block = [str(j + 1), "LDIV", f"LISTE {nom} {j + 1}", f"Liste {prenom} {nom} {j + 1}", _s(voix[:, j]),
                         _pct(voix[:, j], ins, suffix="%"), _pct(voix[:, j], exp, suffix="%"), "0"]
            cols += [pc.if_else(on, v if isinstance(v, pa.Array) else pa.scalar(v), "") for v in block]
        if layout == "2024legi":
            header = gc.HEADER_2024.format(circo="Code circonscription législative;Libellé circonscription législative;")
            header += "".join(f";Numéro de panneau {j};Nuance candidat {j};Nom candidat {j};Prénom candidat {j};"
                              f"Sexe candidat {j};Voix {j};% Voix/inscrits {j};% Voix/exprimés {j};Elu {j}"
                              for j in range(1, k + 1))
        else:
            header = gc.HEADER_2024.format(circo="")
            header += "".join(f";Numéro de panneau {j};Nuance liste {j};Libellé abrégé de liste {j};Libellé de liste "
                              f"{j};Voix {j};% Voix/inscrits {j};% Voix/exprimés {j};Sièges {j}" for j in range(1, k + 1))
    rows = pc.binary_join_element_wise(*cols, ";").to_pylist()
    if layout == "2022":  # the Français établis hors de France: no commune
        for j in range(100):
            rows.append(";".join(["ZZ", "Français établis hors de France", f"{j // 10 + 1:02d}", "circonscription",
                                  f"{j + 1:03d}", f"Poste {j + 1}", "0001", "500", "300", "60,00", "200", "40,00", "2",
                                  "0,40", "1,00", "1", "0,20", "0,50", "197", "39,40", "98,50"]
                                 + ["1", "F", "DURAND", "Claire", "197", "39,40", "100,00"]
                                 + ["", "", "", "", "0", "0,00", "0,00"] * (k - 1)))
    text = "\n".join([header, *rows]) + "\n"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if layout == "2022":
        dest.write_bytes(text.replace("\n", "\r\n").encode("cp1252", errors="replace"))
    else:
        dest.write_text(text, encoding="utf-8")
    return {"rows": len(rows), "bytes": dest.stat().st_size}


# -- everything ---------------------------------------------------------------------------------------------

def _registry_paths() -> dict[tuple[str, int], str]:
    from extract.registry import load_registry

    out = {}
    for src in load_registry().values():
        for year, m in src.millesimes.items():
            if m.recording:
                out[(src.id, year)] = m.recording
    return out


def generate(contours: Path, *, seed: int = 20240627, scale: float = 1.0, cache: Path | None = None,
             force: bool = False, log=print) -> Path:
    """Generate (or reuse) the national set; returns its directory (``manifest.json`` inside)."""
    contours = Path(contours).resolve()
    out = set_dir(Path(cache or default_cache()), seed, scale)
    manifest_path = out / "manifest.json"
    key = {"generator": GENERATOR_VERSION, "seed": seed, "scale": scale,
           "contours_sha256": hashlib.sha256(contours.read_bytes()).hexdigest()}
    if manifest_path.exists() and not force:
        doc = json.loads(manifest_path.read_text())
        if doc.get("key") == key:
            log(f"national inputs: reusing {out} (generated in {doc.get('generation_seconds', 0):.0f} s)")
            return out
    t0 = time.perf_counter()
    territoires, geo = load_territoires(contours)
    with national_populations(territoires):
        entries, communes, timings = _write_all(out, contours, territoires, geo, seed, scale, log)
    seconds = time.perf_counter() - t0
    doc = {"key": key, "generation_seconds": round(seconds, 1), "seconds_by_source": timings,
           "qpv": len(territoires), "communes": len(communes), "sources": entries}
    manifest_path.write_text(json.dumps(doc, indent=1, sort_keys=True))
    log(f"national inputs: generated in {seconds:.0f} s")
    return out


def _write_all(out: Path, contours: Path, territoires: list[dict], geo: dict, seed: int, scale: float, log
               ) -> tuple[dict, list, dict]:
    files = out / "files"
    communes = communes_of(territoires)
    timings: dict[str, float] = {}
    paths = _registry_paths()
    entries: dict[str, dict] = {}

    def add(source_id: str, year: int, path: Path, info: dict | None = None) -> None:
        info = info or {}
        entries[f"{source_id}/{year}"] = {"source_id": source_id, "millesime": year, "url": path.resolve().as_uri(),
                                          "bytes": path.stat().st_size, **info}
        log(f"  {source_id}/{year}: {path.stat().st_size / 1e6:,.1f} MB"
            + (f", {info['rows']:,} rows" if "rows" in info else ""))

    log(f"national inputs: generating into {out} ({len(territoires)} QPV, {len(communes)} communes, scale {scale:g})")
    from tests.recordings import gen_apis, gen_insee_qpv
    from tests.recordings import generate as gen

    with recordings_pointed_at(files, territoires, communes):
        written = gen.write_all()  # insee_pop_qpv
        for fn, kwargs in _insee_qpv_writers(gen_insee_qpv):
            written.append(fn(**kwargs))
        for year in (2023, 2024, 2025):
            written.append(gen_apis.write_dares(year))
        original = gen_apis.caf_communes
        gen_apis.caf_communes = lambda: [c for c in gen_apis.dares_communes() if c[0] != "13055"]
        try:
            for year in (2023, 2024):
                written.append(gen_apis.write_caf(year))
        finally:
            gen_apis.caf_communes = original
    by_path = {str(p.resolve()): p for p in written}
    for (sid, year), rel in sorted(paths.items()):
        p = (files / rel).resolve()
        if str(p) in by_path:
            add(sid, year, p, {"rows": len(territoires)} if sid.endswith("_qpv") else None)
    for sid in ("insee_melodi_population", "insee_melodi_filosofi"):
        for year in sorted(y for s, y in paths if s == sid):
            dest = files / sid / str(year) / "pages.zip"
            add(sid, year, dest, write_melodi(dest, territoires, communes, sid, year))
    dpe_years = sorted(y for s, y in paths if s == "ademe_dpe_existant")
    n_dpe = int(round(DPE_ROWS * scale))
    for i, year in enumerate(dpe_years):
        n = n_dpe // len(dpe_years) + (1 if i < n_dpe % len(dpe_years) else 0)
        dest = files / "ademe_dpe_existant" / str(year) / "pages.zip"
        add("ademe_dpe_existant", year, dest, write_dpe(dest, territoires, geo, year, n, seed))
    for year in sorted(y for s, y in paths if s == "insee_bpe"):
        dest = files / "insee_bpe" / str(year) / ("BPE24.csv" if year == 2024 else f"BPE{year % 100}.zip")
        add("insee_bpe", year, dest, write_bpe(dest, territoires, geo, year, int(round(BPE_ROWS * scale)), seed))
    # the computed baromètres' sources (issue 20), at the recordings' paths
    t1 = time.perf_counter()
    shapes = Shapes(contours, territoires)
    timings["qpv_shapes"] = round(time.perf_counter() - t1, 1)
    bv: dict = {}

    def calc(sid: str, year: int, write) -> None:
        if (sid, year) not in paths:
            return
        t = time.perf_counter()
        dest = files / paths[(sid, year)]
        add(sid, year, dest, write(dest))
        timings[f"{sid}/{year}"] = round(time.perf_counter() - t, 1)

    calc("insee_filosofi_carreaux", 2019,
         lambda d: write_grid(d, shapes, int(round(GRID_ROWS * scale)), seed))
    calc("gtfs_amp", 2025, lambda d: write_gtfs(d, shapes, geo, max(1000, int(round(GTFS_STOPS * scale))), seed))
    calc("osm_espaces_verts", 2025, lambda d: write_osm(d, shapes, max(100, int(round(OSM_WAYS * scale))), seed))
    t1 = time.perf_counter()
    bv.update(bureaux(shapes, int(round(BUREAUX_ROWS * scale)), seed))
    timings["bureaux_tiling"] = round(time.perf_counter() - t1, 1)
    calc("reu_contours_bureaux_vote", 2022, lambda d: write_contours_bv(d, shapes, bv))
    from tests.recordings import gen_calcules

    for sid, year, _name, layout, base, missing in gen_calcules.ELECTIONS:
        if layout not in ELECTION_BLOCKS:  # the 2026 municipales: not generated at national scale yet
            continue
        calc(sid, year, lambda d, sid=sid, year=year, layout=layout, base=base, missing=missing: write_resultats(
            d, shapes, bv, sid, layout, base, missing, seed, year))
    add("anct_qpv_contours", 2024, contours, {"rows": len(territoires)})
    return entries, communes, timings


def _insee_qpv_writers(mod) -> list:
    """The per-QPV writers of ``gen_insee_qpv.write_all`` with their format arguments, BPE excepted (the national
    BPE is written by :func:`write_bpe`, vectorised)."""
    return [(mod.write_filosofi, {"millesime": 2021, "bom": True, "newline": "\r\n", "thousands": mod.NNBSP,
                                  "quote_header": False}),
            (mod.write_filosofi, {"millesime": 2022, "bom": False, "newline": "\n", "thousands": "",
                                  "quote_header": True}),
            (mod.write_estimations, {"millesime": 2022, "bom": False, "newline": "\n", "thousands": mod.NNBSP}),
            (mod.write_estimations, {"millesime": 2023, "bom": True, "newline": "\r\n", "thousands": ""}),
            (mod.write_defm, {"millesime": 2023, "dur_case": "DUR", "bom": True, "newline": "\r\n", "thousands": "",
                              "quote_header": True}),
            (mod.write_defm, {"millesime": 2024, "dur_case": "Dur", "bom": False, "newline": "\n",
                              "thousands": mod.NNBSP, "quote_header": False}),
            (mod.write_defm, {"millesime": 2025, "dur_case": "Dur", "bom": False, "newline": "\n", "thousands": "",
                              "quote_header": False}),
            (mod.write_caf, {"millesime": 2023, "note_col": "NOTE_CNAF", "bom": True, "newline": "\r\n",
                             "thousands": ""}),
            (mod.write_caf, {"millesime": 2024, "note_col": "NOTE", "bom": False, "newline": "\n",
                             "thousands": mod.NNBSP}),
            (mod.write_rpls, {"millesime": 2024, "bom": True, "newline": "\r\n", "thousands": ""}),
            (mod.write_rpls, {"millesime": 2025, "bom": False, "newline": "\n", "thousands": mod.NNBSP})]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contours", default=os.environ.get(CONTOURS_ENV),
                    help=f"the national ANCT QPV 2024 contours (GeoJSON); default ${CONTOURS_ENV}")
    ap.add_argument("--seed", type=int, default=20240627)
    ap.add_argument("--scale", type=float, default=1.0, help="rows of the large files (DPE, BPE) × SCALE")
    ap.add_argument("--cache-dir", type=Path, default=None, help=f"default ${CACHE_ENV} or bench/.cache")
    ap.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = ap.parse_args(argv)
    if not args.contours:
        ap.error(f"give the national contours with --contours or ${CONTOURS_ENV}")
    if not math.isfinite(args.scale) or args.scale <= 0:
        ap.error("--scale must be > 0")
    print(generate(Path(args.contours), seed=args.seed, scale=args.scale, cache=args.cache_dir, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
