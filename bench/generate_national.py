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
  (``extract/recordings/gen_*.py``), pointed at the national QPV list and communes instead of the recorded
  south-east;
* the Melodi comparators (population, Filosofi: every QPV commune, every EPCI and département, France) and the
  DPE as *page archives* (the layout :func:`extract.apis.fetch_paged` lands: ``page-NNNN.json`` +
  ``requests.json``), which a ``file://`` override of an API source accepts as a mirror;
* the DPE (``dpe03existant`` ``/lines`` pages of 10,000 results): 14 M geocoded rows at scale 1 (half per
  millésime), 45 % drawn around the QPV (inside their bounding box), 30 % around their cities, 25 % uniform
  over metropolitan France; real field names and value domains;
* the BPE: 2.7 M equipments per millésime at scale 1 (``BPE24.csv`` ``;`` upper-case, ``BPE25.zip`` ``,``
  lower-case with a BOM), the eight columns the parser keeps, ``QP2024`` filled for equipments drawn in a QPV.

``--scale`` multiplies the rows of the large files (DPE, BPE); the per-QPV and communal files keep their
national size (1,609 QPV, their communes): the QPV are the grain of the observatory.
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
GENERATOR_VERSION = "1"
DPE_ROWS = 14_000_000
BPE_ROWS = 2_700_000
DPE_PAGE = 10_000  # data-fair's maximum ``size``
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
    from extract.recordings import generate

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
def recordings_pointed_at(out: Path, territoires: list[dict], communes: list[tuple[str, str, int]]):
    """The recordings' writers (``extract/recordings/gen_*.py``), writing under ``out`` for the national QPV list
    and communes instead of the recorded south-east (module globals swapped for the duration)."""
    from extract.recordings import gen_apis, gen_insee_qpv, generate

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
    from extract.recordings import gen_apis, generate

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
    from extract.recordings import gen_apis

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
    from extract.recordings import generate

    w = np.array([generate.population(c, millesime) for c in codes], dtype=float)
    return w / w.sum()


def _first_commune(territoires: list[dict]) -> list[str]:
    return [t["insee_com"].split(",")[0].strip() for t in territoires]


def _fmt(values: np.ndarray, digits: int) -> pa.Array:
    return pc.cast(pc.round(pa.array(values), digits), pa.string())


def dpe_pages(territoires, geo, millesime: int, n: int, seed: int, chunk: int = 200_000):
    """``(url, body)`` of the ``/lines`` pages of ``n`` DPE of a millésime, generated chunk by chunk."""
    import datetime as dt

    from extract.recordings import gen_apis

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
    from extract.recordings import gen_insee_qpv

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
    files = out / "files"
    territoires, geo = load_territoires(contours)
    communes = communes_of(territoires)
    paths = _registry_paths()
    entries: dict[str, dict] = {}

    def add(source_id: str, year: int, path: Path, info: dict | None = None) -> None:
        info = info or {}
        entries[f"{source_id}/{year}"] = {"source_id": source_id, "millesime": year, "url": path.resolve().as_uri(),
                                          "bytes": path.stat().st_size, **info}
        log(f"  {source_id}/{year}: {path.stat().st_size / 1e6:,.1f} MB"
            + (f", {info['rows']:,} rows" if "rows" in info else ""))

    log(f"national inputs: generating into {out} ({len(territoires)} QPV, {len(communes)} communes, scale {scale:g})")
    from extract.recordings import gen_apis, gen_insee_qpv
    from extract.recordings import generate as gen

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
    add("anct_qpv_contours", 2024, contours, {"rows": len(territoires)})
    seconds = time.perf_counter() - t0
    doc = {"key": key, "generation_seconds": round(seconds, 1), "qpv": len(territoires), "communes": len(communes),
           "sources": entries}
    manifest_path.write_text(json.dumps(doc, indent=1, sort_keys=True))
    log(f"national inputs: generated in {seconds:.0f} s")
    return out


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
