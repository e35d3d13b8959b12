"""Recordings of the référentiel and copropriétés sources (real formats, synthetic values where values are
measured):

* ``anct_qpv_contours/2024/QP2024_France_Hexagonale_Outre_Mer.zip`` — the ANCT archive layout
  (``GEOJSON/…_WGS84.geojson`` + ``SHP/`` shapefiles in WGS84 and Lambert-93), built from the **real**
  simplified polygons of ``_base/qpv_contours.geojson`` (the 122 recorded QPV). The DROM shapefiles of the
  real archive (Guadeloupe, Guyane, La Réunion) are left out: no recorded QPV is there.
* ``anah_rnic/2025/rnc-data-gouv-with-qpv.csv`` (quarterly layout: quoted French labels, ``dd/mm/YYYY``,
  CRLF) and ``anah_rnic/2026/rnc-data-gouv-with-qpv.csv`` (daily layout: snake_case, ISO dates, UTF-8 BOM;
  ``code_officiel_commune`` holds the **postal** code, as in the real daily file) — a few thousand
  synthetic copropriétés located in the recorded QPV (inside their real contours, ``code_qp_2024`` set) and
  around them (outside every contour, ``code_qp_2024`` blank), with a few duplicated immatriculations
  (a syndic change).

Deterministic: seeded with :func:`tests.recordings.generate.rng`; ZIP members carry a fixed date.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from tests.recordings import generate

CONTOURS_ZIP = "QP2024_France_Hexagonale_Outre_Mer.zip"
GEOJSON_MEMBER = "GEOJSON/QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson"
SHP_WGS84 = "SHP/QP2024_France_Hexagonale_Outre_Mer_WGS84"
SHP_LB93 = "SHP/QP2024_France_hexagonale_LB93"
ZIP_DATE = (2024, 6, 27, 0, 0, 0)
RNIC_FILE = "rnc-data-gouv-with-qpv.csv"

PRJ_WGS84 = ('GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
             'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]')
PRJ_LB93 = ('PROJCS["RGF_1993_Lambert_93",GEOGCS["GCS_RGF_1993",DATUM["D_RGF_1993",'
            'SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],'
            'UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],'
            'PARAMETER["False_Easting",700000.0],PARAMETER["False_Northing",6600000.0],'
            'PARAMETER["Central_Meridian",3.0],PARAMETER["Standard_Parallel_1",49.0],'
            'PARAMETER["Standard_Parallel_2",44.0],PARAMETER["Latitude_Of_Origin",46.5],UNIT["Meter",1.0]]')


def base_contours() -> dict:
    with open(generate.BASE / "qpv_contours.geojson", encoding="utf-8") as fh:
        return json.load(fh)


# -- ANCT contours ZIP ---------------------------------------------------------------------------------

def geojson_bytes(doc: dict) -> bytes:
    """A FeatureCollection written the way GDAL writes it (one feature per line)."""
    out = ["{", '"type": "FeatureCollection",', f'"name": {json.dumps(doc.get("name"), ensure_ascii=False)},']
    if doc.get("crs"):
        out.append(f'"crs": {json.dumps(doc["crs"], ensure_ascii=False, separators=(", ", ": "))},')
    out.append('"features": [')
    feats = [json.dumps(f, ensure_ascii=False, separators=(", ", ": ")) for f in doc["features"]]
    out.append(",\n".join(feats))
    out += ["]", "}", ""]
    return "\n".join(out).encode("utf-8")


def lambert93(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84/RGF93 longitude, latitude (degrees) → Lambert-93 (EPSG:2154) x, y in metres (LCC 2SP, GRS80)."""
    a, f = 6378137.0, 1 / 298.257222101
    e = np.sqrt(2 * f - f * f)
    lon0, lat0, lat1, lat2 = np.radians([3.0, 46.5, 44.0, 49.0])

    def m(phi):
        return np.cos(phi) / np.sqrt(1 - (e * np.sin(phi)) ** 2)

    def t(phi):
        return np.tan(np.pi / 4 - phi / 2) / ((1 - e * np.sin(phi)) / (1 + e * np.sin(phi))) ** (e / 2)

    n = (np.log(m(lat1)) - np.log(m(lat2))) / (np.log(t(lat1)) - np.log(t(lat2)))
    big_f = m(lat1) / (n * t(lat1) ** n)
    rho0 = a * big_f * t(lat0) ** n
    rho = a * big_f * t(np.radians(lat)) ** n
    theta = n * (np.radians(lon) - lon0)
    # rounded to the micrometre: numpy's vectorised sin/cos/pow may differ in the last bit between CPUs (SIMD
    # dispatch), and the recording must be the same bytes on every machine
    return (np.round(700000.0 + rho * np.sin(theta), 6), np.round(6600000.0 + rho0 - rho * np.cos(theta), 6))


def _shp_header(file_words: int, bbox: tuple[float, float, float, float]) -> bytes:
    return (struct.pack(">7i", 9994, 0, 0, 0, 0, 0, file_words) + struct.pack("<2i", 1000, 5)
            + struct.pack("<4d", *bbox) + struct.pack("<4d", 0.0, 0.0, 0.0, 0.0))


def shapefile(geoms: list, records: list[dict], fields: list[tuple[str, str, int]], prj: str) -> dict[str, bytes]:
    """The .shp/.shx/.dbf/.prj/.cpg of polygons (ESRI shapefile, shape type 5, outer rings clockwise)."""
    shp_records, shx_records = [], []
    offset = 50  # 16-bit words after the 100-byte header
    for i, g in enumerate(shapely.orient_polygons(np.array(geoms, dtype=object), exterior_cw=True), start=1):
        rings = []
        for poly in shapely.get_parts(g):
            rings.append(np.asarray(poly.exterior.coords))
            rings += [np.asarray(r.coords) for r in poly.interiors]
        parts, start = [], 0
        for r in rings:
            parts.append(start)
            start += len(r)
        pts = np.concatenate(rings)
        content = (struct.pack("<i4d2i", 5, *g.bounds, len(rings), len(pts)) + struct.pack(f"<{len(parts)}i", *parts)
                   + pts.astype("<f8").tobytes())
        words = len(content) // 2
        shp_records.append(struct.pack(">2i", i, words) + content)
        shx_records.append(struct.pack(">2i", offset, words))
        offset += 4 + words
    xs = [g.bounds for g in geoms]
    bbox = (min(b[0] for b in xs), min(b[1] for b in xs), max(b[2] for b in xs), max(b[3] for b in xs))
    shp = _shp_header(offset, bbox) + b"".join(shp_records)
    shx = _shp_header(50 + 4 * len(geoms), bbox) + b"".join(shx_records)
    # dBASE III table, UTF-8 (declared in the .cpg)
    rec_len = 1 + sum(w for _, _, w in fields)
    header_len = 32 + 32 * len(fields) + 1
    dbf = bytearray(struct.pack("<B3BIHH20x", 3, 124, 6, 27, len(records), header_len, rec_len))
    for name, kind, width in fields:
        dbf += struct.pack("<11sc4xBB14x", name.encode("ascii"), kind.encode("ascii"), width, 0)
    dbf += b"\r"
    for rec in records:
        dbf += b" "
        for name, kind, width in fields:
            raw = str(rec[name]).encode("utf-8")[:width]
            dbf += raw.rjust(width) if kind == "N" else raw.ljust(width)
    dbf += b"\x1a"
    return {".cpg": b"UTF-8", ".dbf": bytes(dbf), ".prj": prj.encode("ascii"), ".shp": shp, ".shx": shx}


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes | None) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.create_system = 3
    if data is None:  # a directory entry
        info.external_attr = (0o40755 << 16) | 0x10
        zf.writestr(info, b"")
    else:
        info.external_attr = 0o100644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data, compresslevel=6)


def contours_zip_bytes(doc: dict | None = None) -> bytes:
    """The ANCT archive: the WGS84 GeoJSON and the shapefiles (WGS84, Lambert-93) of the recorded QPV."""
    doc = doc or base_contours()
    props_order = ["fid", "code_qp", "lib_qp", "insee_reg", "lib_reg", "insee_dep", "lib_dep", "insee_com",
                   "lib_com", "siren_epci"]
    records = []
    for f in doc["features"]:
        p = dict(f["properties"])
        p["fid"] = int(p["fid"])
        records.append(p)
    fields = [("fid", "N", 10)] + [
        (k, "C", max(1, max(len(str(r[k]).encode("utf-8")) for r in records))) for k in props_order[1:]
    ]
    geoms = [shape(f["geometry"]) for f in doc["features"]]
    lb93 = [shapely.transform(g, lambda xy: np.column_stack(lambert93(xy[:, 0], xy[:, 1]))) for g in geoms]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _zip_write(zf, "GEOJSON/", None)
        _zip_write(zf, GEOJSON_MEMBER, geojson_bytes(doc))
        _zip_write(zf, "SHP/", None)
        for stem, gs, prj in ((SHP_LB93, lb93, PRJ_LB93), (SHP_WGS84, geoms, PRJ_WGS84)):
            for ext, data in shapefile(gs, records, fields, prj).items():
                _zip_write(zf, stem + ext, data)
    return buf.getvalue()


def write_contours() -> Path:
    dest = generate.HERE / "anct_qpv_contours" / "2024" / CONTOURS_ZIP
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(contours_zip_bytes())
    return dest


# -- RNIC copropriétés -----------------------------------------------------------------------------------

#: real postal codes of the recorded communes (Marseille: 130xx by arrondissement)
POSTAL = {
    "13001": "13100", "13004": "13200", "13005": "13400", "13014": "13130", "13027": "13160", "13047": "13800",
    "13054": "13700", "13056": "13500", "13063": "13140", "13067": "13660", "13070": "13821", "13077": "13110",
    "13078": "13230", "13103": "13300", "13106": "13240", "13108": "13150", "13117": "13127", "2A004": "20000",
    "2A247": "20137", "2B033": "20200", "83023": "83170", "83050": "83300", "83061": "83600", "83062": "83130",
    "83069": "83400", "83073": "83340", "83086": "83490", "83126": "83500", "83137": "83000", "84003": "84400",
    "84007": "84000", "84019": "84500", "84031": "84200", "84035": "84300", "84054": "84800", "84080": "84170",
    "84087": "84100", "84089": "84120", "84092": "84130", "84129": "84700", "84138": "84600",
}
EPCI_NAMES = {"200054807": "Métropole d'Aix-Marseille-Provence", "248300543": "Métropole Toulon-Provence-Méditerranée"}
REGIONS = {"93": "Provence-Alpes-Côte d'Azur", "94": "Corse"}
PERIODES = ["AVANT 1949", "DE 1949 A 1960", "DE 1961 A 1974", "DE 1975 A 1993", "DE 1994 A 2000",
            "DE 2001 A 2010", "A COMPTER DE 2011", "NON CONNUE"]
SYNDICS = ["professionnel", "bénévole", "coopératif", "non connu"]
MANDAT_EN_COURS = "Mandat en cours"
MANDATS = [MANDAT_EN_COURS, "Pas de mandat en cours", "Mandat expiré sans successeur déclaré"]
MANDAT_SUCCESSEUR = "Mandat expiré avec successeur déclaré"
STREETS = ["RUE DES LILAS", "AVENUE DE LA REPUBLIQUE", "BOULEVARD DES PINS", "CHEMIN DU MOULIN", "RUE DE LA PAIX",
           "AVENUE JEAN JAURES", "RUE DU MARCHE", "TRAVERSE DES ECOLES", "IMPASSE DES OLIVIERS", "PLACE DE L EGLISE"]
EXTRACTION = {2025: date(2025, 9, 30), 2026: date(2026, 3, 31)}
#: the « territoires à enjeux » (communes that left the priority geography in 2024): copropriétés of their 2015
#: quartiers carry a code_qp_2015 and no 2024 code. Centres are approximate; the 2015 codes are synthetic
#: placeholders (the recording's 2015 codes are all synthetic), the live file carries the real ones.
TERRITOIRES_ENJEUX = [
    ("13041", "Gardanne", "13120", (5.4690, 43.4550), ("QP013046",)),
    ("13028", "La Ciotat", "13600", (5.6050, 43.1750), ("QP013047", "QP013048")),
]


def _marseille_arr(n: int) -> tuple[str, str]:
    return f"132{n:02d}", f"Marseille {n}{'er' if n == 1 else 'e'} Arrondissement"


@cache
def _index():
    from extract.spatial import QpvIndex

    doc = base_contours()
    return QpvIndex([f["properties"]["code_qp"] for f in doc["features"]],
                    [shape(f["geometry"]) for f in doc["features"]]), doc


def _sample_point(r, geom, index, want: str | None, margin: float) -> tuple[float, float]:
    """A point (6 decimals) in ``geom`` (``want`` = its code) or, ``want`` None, near it and outside every QPV."""
    xmin, ymin, xmax, ymax = geom.bounds
    if want is None:
        xmin, ymin, xmax, ymax = xmin - margin, ymin - margin, xmax + margin, ymax + margin
    for _ in range(10_000):
        x, y = round(r.uniform(xmin, xmax), 6), round(r.uniform(ymin, ymax), 6)
        if index.lookup(np.array([x]), np.array([y]))[0] == want:
            return x, y
    raise RuntimeError(f"no point found for {want}")  # pragma: no cover


def _code_2015(code: str, r) -> str:
    dep = code[2:5]
    return f"QP{dep}{r.randint(1, 60):03d}"


@cache
def copros(millesime: int) -> tuple[dict, ...]:
    """The synthetic copropriétés of an extraction (one dict per published row, duplicates included),
    in file order. Stable attributes are seeded by immatriculation, the others also by millésime."""
    index, doc = _index()
    geoms = {f["properties"]["code_qp"]: shape(f["geometry"]) for f in doc["features"]}
    terr = {t["code_qp"]: t for t in generate.territoires()}
    rows: list[dict] = []
    serial = 0
    for code in sorted(terr):
        t = terr[code]
        amp = t["siren_epci"] == "200054807"
        r = generate.rng("rnic_qpv", code)
        n_in = r.randint(5, 14) if amp else r.randint(3, 7)
        n_out = r.randint(4, 10) if amp else r.randint(3, 5)
        n_new = r.randint(0, 2)  # registered between the two extractions
        coms = [c.strip() for c in t["insee_com"].split(",")]
        libs = [c.strip() for c in t["lib_com"].split(",")]
        arr_qpv = r.randint(1, 16)
        for k in range(n_in + n_out + n_new):
            serial += 1
            if k >= n_in + n_out and millesime < 2026:
                continue  # not registered yet in the 2025 extraction
            numero = f"A{'ABCDEFGH'[serial % 8]}{1_000_000 + serial * 37:07d}"
            cr = generate.rng("rnic", numero)
            inside = k < n_in or (k >= n_in + n_out and cr.random() < 0.5)
            ci = 0 if len(coms) == 1 or cr.random() < 0.8 else 1
            insee, lib = coms[ci], libs[ci]
            x, y = _sample_point(cr, geoms[code], index, code if inside else None, 0.012)
            arr_code, arr_name = (insee, lib)
            postal = POSTAL.get(insee, "")
            if insee == "13055":
                n_arr = arr_qpv if inside or cr.random() < 0.6 else cr.randint(1, 16)
                arr_code, arr_name = _marseille_arr(n_arr)
                postal = f"130{n_arr:02d}"
            total = max(2, int(cr.lognormvariate(3.0, 1.0)))
            periode = cr.choices(PERIODES, weights=[8, 14, 30, 22, 8, 8, 7, 3] if inside else
                                 [14, 10, 16, 22, 10, 12, 13, 3])[0]
            in_2015 = (inside and code[-1] in "MI" and cr.random() < 0.85) or (not inside and cr.random() < 0.04)
            c2015 = _code_2015(code, cr) if in_2015 else ""
            immat = date(2017, 1, 1) + timedelta(days=cr.randint(0, 2900))
            acv = generate.rng("rnic_acv", insee).random() < 0.25
            pvd = not acv and generate.rng("rnic_pvd", insee).random() < 0.15
            row = {
                "numero": numero, "code_qp_2024": code if inside else "", "nom_qp_2024": t["lib_qp"] if inside else "",
                "code_qp_2015": c2015, "nom_qp_2015": (f"Quartier 2015 {c2015[-3:]}" if c2015 else ""),
                "insee": insee, "lib_com": lib, "arr_code": arr_code, "arr_name": arr_name, "postal": postal,
                "dep": t["insee_dep"], "lib_dep": t["lib_dep"], "reg": t["insee_reg"],
                "lib_reg": REGIONS.get(t["insee_reg"], t["lib_reg"]), "epci": t["siren_epci"],
                "lib_epci": EPCI_NAMES.get(t["siren_epci"], f"EPCI {t['siren_epci']}"),
                "lon": x, "lat": y, "total": total,
                "habitation": max(1, int(total * cr.uniform(0.45, 0.9))),
                "stationnement": int(total * cr.uniform(0.0, 0.4)), "periode": periode,
                "date_immatriculation": immat, "street": cr.choice(STREETS), "num_voie": cr.randint(1, 180),
                "nom": f"RESIDENCE {cr.choice(['LES', 'LE', 'LA'])} {numero[-4:]}", "acv": acv, "pvd": pvd,
                "parcelle": f"{cr.choice('ABCDEHKM')}{cr.choice('ABCDEHKM')}{cr.randint(1, 400):04d}",
            }
            mr = generate.rng("rnic", numero, millesime)
            row["aidee"] = mr.random() < (0.12 if inside else 0.03)
            row["syndic"] = mr.choices(SYNDICS, weights=[74, 20, 1, 5])[0]
            row["mandat"] = mr.choices(MANDATS, weights=[86, 8, 6])[0]
            row["date_maj"] = EXTRACTION[millesime] - timedelta(days=mr.randint(1, 700))
            row["siret"] = f"{mr.randint(300_000_000, 899_999_999)}{mr.randint(10_000, 99_999)}" \
                if row["syndic"] == "professionnel" else ""
            row["rep"] = f"CABINET SYNTHESE {mr.randint(1, 90)}" if row["syndic"] == "professionnel" else \
                ("SYNDIC BENEVOLE" if row["syndic"] != "non connu" else "")
            # a syndic change: the registry still publishes the old mandate beside the new one
            dup = mr.random()
            if dup < 0.02:
                old = dict(row, syndic="professionnel", mandat=MANDAT_SUCCESSEUR,
                           rep=f"ANCIEN CABINET {mr.randint(1, 90)}", siret=f"{mr.randint(300_000_000, 899_999_999)}00017",
                           aidee=False)
                old["date_maj"] = row["date_maj"] - timedelta(days=mr.randint(0, 1) * mr.randint(20, 400))
                old["stale"] = True
                rows.extend([old, row] if mr.random() < 0.5 else [row, old])
            else:
                rows.append(row)
    rows.extend(_copros_territoires(millesime, serial))
    return tuple(rows)


def _copros_territoires(millesime: int, serial: int) -> list[dict]:
    """Copropriétés of the 2015 quartiers of Gardanne and La Ciotat (outside every QPV 2024)."""
    index, _doc = _index()
    rows = []
    for insee, lib, postal, (lon0, lat0), codes in TERRITOIRES_ENJEUX:
        r = generate.rng("rnic_territoire", insee)
        for _ in range(r.randint(15, 25)):
            serial += 1
            numero = f"A{'ABCDEFGH'[serial % 8]}{1_000_000 + serial * 37:07d}"
            cr = generate.rng("rnic", numero)
            while True:
                x, y = round(lon0 + cr.uniform(-0.012, 0.012), 6), round(lat0 + cr.uniform(-0.008, 0.008), 6)
                if index.lookup(np.array([x]), np.array([y]))[0] is None:
                    break
            c2015 = cr.choice(codes)
            total = max(2, int(cr.lognormvariate(3.2, 0.9)))
            mr = generate.rng("rnic", numero, millesime)
            syndic = mr.choices(SYNDICS, weights=[74, 20, 1, 5])[0]
            rows.append({
                "numero": numero, "code_qp_2024": "", "nom_qp_2024": "",
                "code_qp_2015": c2015, "nom_qp_2015": f"Quartier 2015 {c2015[-3:]}",
                "insee": insee, "lib_com": lib, "arr_code": insee, "arr_name": lib, "postal": postal,
                "dep": "13", "lib_dep": "Bouches-du-Rhône", "reg": "93", "lib_reg": REGIONS["93"], "epci": "200054807",
                "lib_epci": EPCI_NAMES["200054807"], "lon": x, "lat": y, "total": total,
                "habitation": max(1, int(total * cr.uniform(0.5, 0.9))), "stationnement": int(total * cr.uniform(0, 0.3)),
                "periode": cr.choices(PERIODES, weights=[8, 14, 30, 22, 8, 8, 7, 3])[0],
                "date_immatriculation": date(2017, 1, 1) + timedelta(days=cr.randint(0, 2900)),
                "street": cr.choice(STREETS), "num_voie": cr.randint(1, 180),
                "nom": f"RESIDENCE {cr.choice(['LES', 'LE', 'LA'])} {numero[-4:]}", "acv": False, "pvd": False,
                "parcelle": f"{cr.choice('ABCDEHKM')}{cr.choice('ABCDEHKM')}{cr.randint(1, 400):04d}",
                "aidee": mr.random() < 0.15, "syndic": syndic, "mandat": mr.choices(MANDATS, weights=[86, 8, 6])[0],
                "date_maj": EXTRACTION[millesime] - timedelta(days=mr.randint(1, 700)),
                "siret": f"{mr.randint(300_000_000, 899_999_999)}{mr.randint(10_000, 99_999)}"
                if syndic == "professionnel" else "",
                "rep": f"CABINET SYNTHESE {mr.randint(1, 90)}" if syndic == "professionnel" else
                ("SYNDIC BENEVOLE" if syndic != "non connu" else ""),
            })
    return rows


def expected_rnic(millesime: int) -> dict[str, dict]:
    """What the parser must keep for each immatriculation (the dedup rule: latest date_derniere_maj, then a
    mandate in progress, then the last line)."""
    kept: dict[str, tuple] = {}
    counts: dict[str, int] = {}
    for pos, row in enumerate(copros(millesime)):
        rank = (row["date_maj"], row["mandat"] == MANDAT_EN_COURS, pos)
        counts[row["numero"]] = counts.get(row["numero"], 0) + 1
        if row["numero"] not in kept or rank > kept[row["numero"]][0]:
            kept[row["numero"]] = (rank, row)
    return {n: dict(v[1], nb_lignes=counts[n]) for n, v in kept.items()}


OLD_HEADER = [
    "EPCI", "Commune", "Numéro d'immatriculation", "Date d'immatriculation", "Date de la dernière MAJ",
    "Type de syndic : bénévole / professionnel / non connu",
    "Identification du représentant légal  (raison sociale et le numéro SIRET du syndic professionnel ou "
    "Civilité/prénom/ nom du syndic bénévole ou coopératif)",
    "SIRET du représentant légal", "Code APE", "Commune du représentant légal", "Mandat en cours dans la copropriété",
    "Date de fin du dernier mandat", "Nom d’usage de la copropriété", "Adresse de référence",
    "Numéro et Voie (adresse de référence)", "Code postal (adresse de référence)", "Commune (adresse de référence)",
    "Adresse complémentaire 1", "Adresse complémentaire 2", "Adresse complémentaire 3",
    "Nombre d'adresses complémentaires", "long", "lat", "Date du règlement de copropriété", "Résidence service",
    "Syndicat coopératif", "Syndicat principal ou syndicat secondaire",
    "Si secondaire, n° d’immatriculation du principal",
    "Nombre d’ASL auxquelles est rattaché le syndicat de copropriétaires",
    "Nombre d’AFUL auxquelles est rattaché le syndicat de copropriétaires",
    "Nombre d’Unions de syndicats auxquelles est rattaché le syndicat de copropriétaires", "Nombre total de lots",
    "Nombre total de lots à usage d’habitation, de bureaux ou de commerces", "Nombre de lots à usage d’habitation",
    "Nombre de lots de stationnement", "Nombre d'arrêtés relevant du code de la santé publique en cours",
    "Nombre d'arrêtés de péril sur les parties communes en cours",
    "Nombre d'arrêtés sur les équipements communs en cours", "Période de construction", "Référence Cadastrale 1",
    "Code INSEE commune 1", "Préfixe 1", "Section 1", "Numéro parcelle 1", "Référence Cadastrale 2",
    "Code INSEE commune 2", "Préfixe 2", "Section 2", "Numéro parcelle 2", "Référence Cadastrale 3",
    "Code INSEE commune 3", "Préfixe 3", "Section 3", "Numéro parcelle 3", "Nombre de parcelles cadastrales",
    "nom_qp_2015", "code_qp_2015", "nom_qp_2024", "code_qp_2024", "Copro dans ACV", "Copro dans PVD", "Copro aidée",
    "Code Officiel Commune", "Nom Officiel Commune", "Code Officiel Arrondissement Commune",
    "Nom Officiel Arrondissement Commune", "Code Officiel EPCI", "Nom Officiel EPCI", "Code Officiel Département",
    "Nom Officiel Département", "Code Officiel Région", "Nom Officiel Région",
]

NEW_HEADER = [
    "epci", "commune", "numero_immatriculation", "date_immatriculation", "date_derniere_maj", "type_syndic",
    "identification_representant_legal", "raison_sociale_representant_legal", "siret_representant_legal",
    "code_ape", "commune_representant_legal", "mandat_en_cours", "date_fin_dernier_mandat", "nom_usage_copropriete",
    "adresse_reference", "numero_voie_adresse", "code_postal_adresse", "commune_adresse", "adresse_complementaire_1",
    "adresse_complementaire_2", "adresse_complementaire_3", "nombre_adresses_complementaires", "longitude",
    "latitude", "date_reglement_copropriete", "residence_service", "syndicat_cooperatif",
    "syndicat_principal_ou_secondaire", "numero_immatriculation_principal", "nombre_asl", "nombre_aful",
    "nombre_unions_syndicats", "nombre_total_lots", "nombre_lots_habitation_bureaux_commerces",
    "nombre_lots_habitation", "nombre_lots_stationnement", "periode_construction", "reference_cadastrale_1",
    "code_insee_commune_1", "prefixe_1", "section_1", "numero_parcelle_1", "reference_cadastrale_2",
    "code_insee_commune_2", "prefixe_2", "section_2", "numero_parcelle_2", "reference_cadastrale_3",
    "code_insee_commune_3", "prefixe_3", "section_3", "numero_parcelle_3", "nombre_parcelles_cadastrales",
    "nom_qp_2015", "code_qp_2015", "nom_qp_2024", "code_qp_2024", "copro_dans_acv", "copro_dans_pvd", "code_pdp",
    "copro_dans_pdp", "copro_aidee", "code_officiel_commune", "nom_officiel_commune",
    "code_officiel_arrondissement_commune", "nom_officiel_arrondissement_commune", "code_officiel_epci",
    "nom_officiel_epci", "code_officiel_departement", "nom_officiel_departement", "code_officiel_region",
    "nom_officiel_region",
]


def _rnic_record(row: dict, millesime: int) -> dict[str, str]:
    """One published row, by snake_case column name (the old layout is the same fields, relabelled)."""
    old = millesime < 2026

    def d(v: date) -> str:
        return v.strftime("%d/%m/%Y") if old else v.isoformat()

    def yn(v: bool) -> str:
        return ("Oui" if v else "Non") if old else ("oui" if v else "non")

    cad_com = row["arr_code"]
    fin = row["date_maj"] + timedelta(days=365 * 3)
    return {
        "epci": row["epci"], "commune": row["lib_com"], "numero_immatriculation": row["numero"],
        "date_immatriculation": d(row["date_immatriculation"]), "date_derniere_maj": d(row["date_maj"]),
        "type_syndic": row["syndic"],
        "identification_representant_legal": row["rep"], "siret_representant_legal": row["siret"],
        "mandat_en_cours": row["mandat"], "date_fin_dernier_mandat": d(fin), "nom_usage_copropriete": row["nom"],
        "numero_voie_adresse": f"{row['num_voie']} {row['street']}", "code_postal_adresse": row["postal"],
        "commune_adresse": row["lib_com"].upper(), "nombre_adresses_complementaires": "0",
        "longitude": f"{row['lon']:.6f}", "latitude": f"{row['lat']:.6f}",
        "syndicat_cooperatif": "oui" if row["syndic"] == "coopératif" else "non",
        "nombre_total_lots": str(row["total"]),
        "nombre_lots_habitation_bureaux_commerces": str(row["habitation"]),
        "nombre_lots_habitation": str(row["habitation"]), "nombre_lots_stationnement": str(row["stationnement"]),
        "periode_construction": row["periode"],
        "reference_cadastrale_1": f"{cad_com}000{row['parcelle']}", "code_insee_commune_1": cad_com,
        "nombre_parcelles_cadastrales": "1",
        "nom_qp_2015": row["nom_qp_2015"], "code_qp_2015": row["code_qp_2015"], "nom_qp_2024": row["nom_qp_2024"],
        "code_qp_2024": row["code_qp_2024"], "copro_dans_acv": yn(row["acv"]), "copro_dans_pvd": yn(row["pvd"]),
        "copro_dans_pdp": "non", "copro_aidee": yn(row["aidee"]),
        # the daily file's trap: code_officiel_commune holds the postal code; the INSEE code is in the
        # arrondissement column (the arrondissement for Marseille, the commune elsewhere)
        "code_officiel_commune": row["insee"] if old else row["postal"], "nom_officiel_commune": row["lib_com"],
        "code_officiel_arrondissement_commune": row["arr_code"], "nom_officiel_arrondissement_commune": row["arr_name"],
        "code_officiel_epci": row["epci"], "nom_officiel_epci": row["lib_epci"], "code_officiel_departement": row["dep"],
        "nom_officiel_departement": row["lib_dep"], "code_officiel_region": row["reg"],
        "nom_officiel_region": row["lib_reg"],
    }


def _old_to_new(label: str) -> str | None:
    """The snake_case field of an old French label (same order in both headers, minus the arrêtés and PDP)."""
    skipped = {"Nombre d'arrêtés relevant du code de la santé publique en cours",
               "Nombre d'arrêtés de péril sur les parties communes en cours",
               "Nombre d'arrêtés sur les équipements communs en cours"}
    if label in skipped:
        return None
    old = [h for h in OLD_HEADER if h not in skipped]
    new = [h for h in NEW_HEADER if h not in ("raison_sociale_representant_legal", "code_pdp", "copro_dans_pdp")]
    return dict(zip(old, new, strict=True))[label]


def write_rnic(millesime: int) -> Path:
    dest = generate.HERE / "anah_rnic" / str(millesime) / RNIC_FILE
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = millesime < 2026
    header = OLD_HEADER if old else NEW_HEADER
    fields = [_old_to_new(h) for h in OLD_HEADER] if old else NEW_HEADER
    with open(dest, "w", encoding="utf-8" if old else "utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=",", lineterminator="\r\n" if old else "\n",
                       quoting=csv.QUOTE_ALL if old else csv.QUOTE_MINIMAL)
        w.writerow(header)
        for row in copros(millesime):
            rec = _rnic_record(row, millesime)
            w.writerow([rec.get(f, "") if f else "" for f in fields])
    return dest


def write_all() -> list[Path]:
    """This module's recordings (ANCT contours, RNIC copropriétés)."""
    return [write_contours(), write_rnic(2025), write_rnic(2026)]
