"""Everyday services: distance from where people live to the nearest equipment of each « gamme de proximité » type.

**Equipments** (:func:`read_equipements`): the BPE (INSEE, Base permanente des équipements, one row per
equipment), CSV or a ZIP holding it, streamed by Arrow (only the needed columns converted, rows of other types
dropped block by block: memory bounded by the kept equipments). Coordinates: ``LONGITUDE``/``LATITUDE`` (WGS84,
BPE 2023+ layout) when filled, else ``LAMBERT_X``/``LAMBERT_Y`` in the row's ``EPSG`` (older « ensemble des
équipements géolocalisés » files have no EPSG column: Lambert-93, EPSG:2154, in métropole). Rows without
coordinates (« non géolocalisé ») are left out and counted per type. Refused with
:class:`~extract.errors.FormatError` naming file, line and column: no ``TYPEQU`` column, no coordinate columns
at all, a coordinate that is not a number, WGS84 coordinates outside France, Lambert-93 coordinates outside
metropolitan France (x 0–1.3 M, y 6.0–7.2 M: a file in another projection).

**Types** of the « gamme de proximité »: a parameter — a list of TYPEQU codes (each its own type) or a mapping
type → codes (a regroupement, e.g. « école maternelle » = maternelle + maternelle en RPI: the nearest of any).
The authoritative list is INSEE's « Les gammes d'équipements issues de la BPE <année> »
(``BPE_gammes_equipements_<année>.xlsx``, https://www.insee.fr/fr/statistiques/8217535): :func:`lire_gammes`
reads it. :data:`GAMME_PROXIMITE_DEFAUT` is a fallback for the BPE 2023+ nomenclature, **to be checked against
INSEE's file** (codes changed in the 2023 nomenclature; see its comment for what was seen where).

**Distance** (:func:`distance_moyenne`): for each square of the grid, the crow-fly distance (EPSG:3035 metres)
from its centroid to the nearest equipment of each type (``shapely.STRtree.query_nearest``, no KD-tree); the
square's value is the mean over the types, and the share of the types with an equipment within 1 km. Both are
averaged over a zone's squares weighted by the population the zone holds in each (area split,
:mod:`extract.calcules.carroyage`). A type with no equipment at all in the input is left out of the means and
reported (``types_absents``): give the BPE of the perimeter plus a margin (neighbouring communes, ≥ 5 km), or a
QPV on the edge of the Métropole gets a distance to the nearest equipment inside it only.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely import STRtree

from extract.arrow_csv import blocks, open_text_columns
from extract.calcules.carroyage import Carreaux, Repartition, moyenne_ponderee, points_3035
from extract.calcules.gtfs import in_france
from extract.errors import FormatError
from extract.formats import SNIFF_BYTES, describe_kind, open_zip, sniff_path, sniff_separator

SOURCE_ID = "insee_bpe"
BLOCK_BYTES = 4 << 20
SEUIL_M = 1000.0
BPE_MEMBER = r"^bpe[-_]?\d{2}.*\.csv$"
#: plausible Lambert-93 (EPSG:2154) extent of metropolitan France and Corsica
LAMBERT93 = (0.0, 6_000_000.0, 1_300_000.0, 7_200_000.0)

#: Fallback « gamme de proximité » for the BPE 2023+ nomenclature: type → TYPEQU codes (a regroupement counts as
#: one type). TO BE CHECKED against INSEE's BPE_gammes_equipements_<année>.xlsx (page 8217535), which lists 26
#: types or regroupements in 2025 (boulangerie, supérette/épicerie, école, médecin généraliste, pharmacie,
#: infirmier, masseur-kinésithérapeute, coiffure, restaurant, poste, bibliothèque, tennis, boulodrome, terrain
#: de grands jeux, salle multisports, agence immobilière, institut de beauté, borne de recharge, taxi-VTC, accueil
#: de loisirs, artisans du bâtiment, réparation automobile — docs/recherche/barometres-calcules-sources.md §4).
#: Codes seen: B207 boulangerie in a real BPE 2024 row (research note, index id 61307751125); C107/C109 écoles
#: maternelle/élémentaire and D307 pharmacie of the 2023+ nomenclature as used by the project's BPE recording
#: (tests/recordings/gen_insee_qpv.py); A206/A207/A208 poste, A501 coiffure, A504 restaurant, A505 agence
#: immobilière, A507 institut de beauté, F102 boulodrome, F103 tennis, F113 terrain de grands jeux, F121 salle
#: multisports, F307 bibliothèque are the BPE ≤ 2022 codes, believed unchanged [à vérifier]; C108/C110 (RPI) and
#: D265 médecin généraliste [à vérifier]. Types whose 2023+ code is unknown here (supérette/épicerie, infirmier,
#: masseur-kinésithérapeute, IRVE, taxi-VTC, accueil de loisirs, artisans, réparation automobile) are not in the
#: fallback: the baromètre computed with it is labelled « liste par défaut » until the xlsx is loaded.
GAMME_PROXIMITE_DEFAUT: dict[str, tuple[str, ...]] = {
    "boulangerie": ("B207",),
    "ecole_maternelle": ("C107", "C108"),
    "ecole_elementaire": ("C109", "C110"),
    "medecin_generaliste": ("D265",),
    "pharmacie": ("D307",),
    "poste": ("A206", "A207", "A208"),
    "coiffure": ("A501",),
    "restaurant": ("A504",),
    "agence_immobiliere": ("A505",),
    "institut_beaute": ("A507",),
    "boulodrome": ("F102",),
    "tennis": ("F103",),
    "terrain_grands_jeux": ("F113",),
    "salle_multisports": ("F121",),
    "bibliotheque": ("F307",),
}

EQUIP_SCHEMA = pa.schema([pa.field("typequ", pa.string()), pa.field("code_commune", pa.string()),
                          pa.field("x_3035", pa.float64()), pa.field("y_3035", pa.float64()),
                          pa.field("_line", pa.int64())])


def types_of(types: Sequence[str] | Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """A list of codes (each its own type) or a mapping type → codes, as a mapping."""
    if isinstance(types, Mapping):
        return {str(k): tuple(str(c).strip().upper() for c in v) for k, v in types.items()}
    return {str(c).strip().upper(): (str(c).strip().upper(),) for c in types}


# -- the gamme file -------------------------------------------------------------------------------------------

def lire_gammes(path: str | Path, *, gamme: str = "proximit", source_id: str = "insee_bpe_gammes",
                file: str | None = None, url: str | None = None) -> tuple[str, ...]:
    """The TYPEQU codes of one gamme in INSEE's ``BPE_gammes_equipements_<année>.xlsx``: every row of the
    workbook holding a cell ``^[A-G]\\d{3}$`` and a cell containing « gamme de <gamme> » (default: proximité).
    Sorted, deduplicated; FormatError when none is found."""
    import openpyxl

    path = Path(path)
    shown = file or path.name
    if sniff_path(path) != "xlsx":
        raise FormatError(source_id, "not an Excel workbook", url=url, file=shown, expected="XLSX",
                          found=describe_kind(sniff_path(path)))
    code_re = re.compile(r"^[A-G]\d{3}$")
    found: set[str] = set()
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                cells = [str(c).strip() for c in row if c is not None]
                codes = [c for c in cells if code_re.match(c)]
                if codes and any("gamme" in c.lower() and gamme in c.lower() for c in cells):
                    found.add(codes[0])
    finally:
        wb.close()
    if not found:
        raise FormatError(source_id, f"no equipment type of the gamme « {gamme} » in the workbook", url=url,
                          file=shown, expected="rows with a TYPEQU code (e.g. B207) and « Gamme de proximité »",
                          found="none")
    return tuple(sorted(found))


# -- the BPE --------------------------------------------------------------------------------------------------

@dataclass
class Equipements:
    table: pa.Table  # EQUIP_SCHEMA
    non_geolocalises: dict[str, int] = field(default_factory=dict)


def _open(path: Path, source_id: str, file: str, url: str | None, stack: ExitStack):
    kind = sniff_path(path)
    if kind == "zip":
        zf = stack.enter_context(open_zip(path, source_id=source_id, url=url, file=file))
        names = [n for n in zf.namelist() if not n.endswith("/")]
        hits = [n for n in names if re.search(BPE_MEMBER, n.rsplit("/", 1)[-1], re.IGNORECASE)]
        if len(hits) != 1:
            raise FormatError(source_id, "cannot find the BPE CSV inside the ZIP archive", url=url, file=file,
                              expected=f"exactly one member matching {BPE_MEMBER!r}",
                              found=", ".join(names[:10]) or "no member")
        return (lambda: zf.open(hits[0])), f"{file}!{hits[0]}"
    if kind == "text":
        return (lambda: open(path, "rb")), file
    raise FormatError(source_id, "unexpected file type", url=url, file=file, expected="the BPE CSV, or a ZIP",
                      found=describe_kind(kind))


def _num(raw: pa.Array, start: int, column: str, source_id: str, shown: str, url: str | None) -> np.ndarray:
    s = pc.replace_substring_regex(raw, pattern="[\\s\u00a0\u202f]", replacement="")
    s = pc.replace_substring(s, pattern=",", replacement=".")
    ok = pc.match_substring_regex(s, r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^$").to_numpy(zero_copy_only=False)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise FormatError(source_id, "coordinate is not a number", url=url, file=shown, line=start + i,
                          column=column, expected="a number (or blank: not geolocated)", found=repr(raw[i].as_py()))
    s = pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)
    return pc.cast(s, pa.float64()).to_numpy(zero_copy_only=False)


def read_equipements(path: str | Path, *, types: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
                     source_id: str = SOURCE_ID, file: str | None = None, url: str | None = None,
                     block_bytes: int = BLOCK_BYTES) -> Equipements:
    """The geolocated equipments of the BPE (of the ``types`` codes only, when given), in EPSG:3035."""
    path = Path(path)
    wanted = None
    if types is not None:
        wanted = pa.array(sorted({c for codes in types_of(types).values() for c in codes}), pa.string())
    with ExitStack() as stack:
        opener, shown = _open(path, source_id, file or path.name, url, stack)
        with opener() as fh:
            head = fh.read(SNIFF_BYTES)
        try:
            text, encoding = head.decode("utf-8"), "utf8"
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 3:
                text, encoding = head[:exc.start].decode("utf-8"), "utf8"
            else:
                text, encoding = head.decode("cp1252", errors="replace"), "cp1252"
        first = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
        if not first.strip():
            raise FormatError(source_id, "empty file", url=url, file=shown, expected="a header line")
        sep = sniff_separator(first)
        header = [h.strip().strip('"') for h in next(csv.reader([first], delimiter=sep))]
        low = {h.upper(): i for i, h in enumerate(header)}
        if "TYPEQU" not in low:
            raise FormatError(source_id, "missing column: TYPEQU", url=url, file=shown, line=1,
                              expected="TYPEQU (the equipment type)", found="header " + ", ".join(header[:20]))
        has_wgs = "LONGITUDE" in low and "LATITUDE" in low
        has_l93 = "LAMBERT_X" in low and "LAMBERT_Y" in low
        if not (has_wgs or has_l93):
            raise FormatError(source_id, "no coordinate columns", url=url, file=shown, line=1,
                              expected="LONGITUDE and LATITUDE (BPE 2023+) or LAMBERT_X and LAMBERT_Y",
                              found="header " + ", ".join(header[:20]))
        cols = ["TYPEQU"] + [c for c in ("DEPCOM", "LONGITUDE", "LATITUDE", "LAMBERT_X", "LAMBERT_Y", "EPSG")
                             if c in low]
        reader, names = open_text_columns(stack.enter_context(opener()), columns=len(header),
                                          keep=[low[c] for c in cols], sep=sep, encoding=encoding,
                                          block_bytes=block_bytes)

        def malformed(exc: BaseException, line: int) -> FormatError:
            return FormatError(source_id, "malformed CSV", url=url, file=shown, line=line,
                               expected=f"{len(header)} fields separated by {sep!r}",
                               found=str(exc).splitlines()[0][:300])

        parts, missing = [], {}
        for start, block in blocks(reader, malformed):
            n = block.num_rows
            lines = np.arange(start, start + n, dtype=np.int64)
            typ = pc.utf8_upper(pc.utf8_trim_whitespace(block.column(names[low["TYPEQU"]])))
            if wanted is not None:
                keep = pc.is_in(typ, value_set=wanted)
                block, typ, lines = block.filter(keep), typ.filter(keep), lines[keep.to_numpy(zero_copy_only=False)]
            start_of = lines  # the physical line of each kept row
            if block.num_rows == 0:
                continue

            def col(c, block=block):
                return block.column(names[low[c]])

            x = np.full(block.num_rows, np.nan)
            y = np.full(block.num_rows, np.nan)
            if has_wgs:
                lon = _num_lines(col("LONGITUDE"), start_of, header[low["LONGITUDE"]], source_id, shown, url)
                lat = _num_lines(col("LATITUDE"), start_of, header[low["LATITUDE"]], source_id, shown, url)
                ok = np.isfinite(lon) & np.isfinite(lat)
                bad = ok & ~in_france(np.nan_to_num(lon), np.nan_to_num(lat))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise FormatError(source_id, "equipment outside France", url=url, file=shown,
                                      line=int(start_of[i]), column=header[low["LATITUDE"]],
                                      expected="WGS84 longitude/latitude in France", found=f"{lon[i]}, {lat[i]}")
                if ok.any():
                    x[ok], y[ok] = points_3035(lon[ok], lat[ok], "EPSG:4326")
            if has_l93:
                todo = ~np.isfinite(x)
                lx = _num_lines(col("LAMBERT_X"), start_of, header[low["LAMBERT_X"]], source_id, shown, url)
                ly = _num_lines(col("LAMBERT_Y"), start_of, header[low["LAMBERT_Y"]], source_id, shown, url)
                epsg = (np.asarray(pc.utf8_trim_whitespace(col("EPSG")).to_pylist(), dtype=object)
                        if "EPSG" in low else np.full(block.num_rows, "2154", dtype=object))
                epsg = np.where(epsg == "", "2154", epsg)
                ok = todo & np.isfinite(lx) & np.isfinite(ly)
                l93 = ok & (epsg == "2154")
                xmin, ymin, xmax, ymax = LAMBERT93
                bad = l93 & ((lx < xmin) | (lx > xmax) | (ly < ymin) | (ly > ymax))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise FormatError(source_id, "Lambert-93 coordinates outside metropolitan France (another "
                                      "projection?)", url=url, file=shown, line=int(start_of[i]),
                                      column=header[low["LAMBERT_X"]],
                                      expected=f"x in [{xmin:.0f}, {xmax:.0f}], y in [{ymin:.0f}, {ymax:.0f}]",
                                      found=f"{lx[i]}, {ly[i]}")
                for code in sorted(set(epsg[ok].tolist())):
                    m = ok & (epsg == code)
                    x[m], y[m] = points_3035(lx[m], ly[m], f"EPSG:{code}")
            geo = np.isfinite(x) & np.isfinite(y)
            for t in np.asarray(typ.to_pylist(), dtype=object)[~geo]:
                missing[t] = missing.get(t, 0) + 1
            commune = (pc.utf8_trim_whitespace(col("DEPCOM")) if "DEPCOM" in low
                       else pa.nulls(block.num_rows, pa.string()))
            mask = pa.array(geo)
            parts.append(pa.table({"typequ": typ.filter(mask), "code_commune": commune.filter(mask),
                                   "x_3035": pa.array(x[geo]), "y_3035": pa.array(y[geo]),
                                   "_line": pa.array(start_of[geo])}, schema=EQUIP_SCHEMA))
    table = pa.concat_tables(parts) if parts else EQUIP_SCHEMA.empty_table()
    return Equipements(table=table, non_geolocalises=missing)


def _num_lines(raw: pa.Array, lines: np.ndarray, column: str, source_id: str, shown: str,
               url: str | None) -> np.ndarray:
    try:
        return _num(raw, 0, column, source_id, shown, url)
    except FormatError as err:  # rename the row index to the physical line
        raise FormatError(source_id, err.problem, url=url, file=shown, line=int(lines[err.line]), column=column,
                          expected=err.expected, found=err.found) from None


# -- the baromètre ---------------------------------------------------------------------------------------------

@dataclass
class Distances:
    """Per square (rows) and type (columns): distance in metres to the nearest equipment (NaN: type absent)."""

    types: tuple[str, ...]
    distances: np.ndarray
    types_absents: tuple[str, ...]


ArbresEquipements = dict  # type name → STRtree of its equipments (EPSG:3035), None when the BPE has none


def arbres_equipements(equipements: pa.Table | Equipements,
                       types: Sequence[str] | Mapping[str, Sequence[str]] = GAMME_PROXIMITE_DEFAUT
                       ) -> ArbresEquipements:
    """One index per type of the gamme (its codes' equipments, EPSG:3035): build once, pass to every batch of
    squares (:func:`distances_plus_proches`, :func:`distance_moyenne`)."""
    table = equipements.table if isinstance(equipements, Equipements) else equipements
    typ = np.asarray(table.column("typequ").to_pylist(), dtype=object)
    ex = table.column("x_3035").to_numpy(zero_copy_only=False)
    ey = table.column("y_3035").to_numpy(zero_copy_only=False)
    trees: ArbresEquipements = {}
    for name, codes in types_of(types).items():
        m = np.isin(typ, list(codes))
        trees[name] = STRtree(shapely.points(ex[m], ey[m])) if m.any() else None
    return trees


def distances_plus_proches(squares: Carreaux, equipements: pa.Table | Equipements | ArbresEquipements,
                           types: Sequence[str] | Mapping[str, Sequence[str]]) -> Distances:
    """For each square centroid and each type, the distance to the nearest equipment of the type's codes
    (``STRtree.query_nearest``, EPSG:3035 metres). ``equipements`` may be the indexes of
    :func:`arbres_equipements`, built once for many batches."""
    groups = types_of(types)
    trees = equipements if isinstance(equipements, dict) else arbres_equipements(equipements, groups)
    cx, cy = squares.centroids()
    centroids = shapely.points(cx, cy)
    out = np.full((len(squares), len(groups)), np.nan)
    absent = []
    for j, name in enumerate(groups):
        tree = trees.get(name)
        if tree is None:
            absent.append(name)
            continue
        (inp, _), dist = tree.query_nearest(centroids, return_distance=True, all_matches=False)
        out[inp, j] = dist
    return Distances(types=tuple(groups), distances=out, types_absents=tuple(absent))


def distance_moyenne(weights: Repartition | pa.Table, squares: Carreaux,
                     equipments: pa.Table | Equipements | ArbresEquipements,
                     types: Sequence[str] | Mapping[str, Sequence[str]] = GAMME_PROXIMITE_DEFAUT, *,
                     seuil_m: float = SEUIL_M, detail: bool = False) -> pa.Table:
    """Population-weighted mean distance (metres) from a zone's squares to the nearest equipment of each type,
    averaged over the types present, and the share of those types within ``seuil_m`` (1 km), per QPV, commune
    and Métropole. Columns ``niveau, code, population, distance_moyenne_m, part_types_1km`` (+ ``distance_<type>``
    per type with ``detail``); the table's schema metadata ``types_absents`` lists the types left out."""
    zones = weights.zones() if isinstance(weights, Repartition) else weights
    d = distances_plus_proches(squares, equipments, types)
    present = [j for j, t in enumerate(d.types) if t not in d.types_absents]
    if present:
        sub = d.distances[:, present]
        mean = sub.mean(axis=1)
        within = (sub <= seuil_m).mean(axis=1)
    else:
        mean = within = np.full(len(squares), np.nan)
    values = {"distance_moyenne_m": mean, "part_types_1km": within}
    if detail:
        for j in present:
            values[f"distance_{d.types[j]}"] = d.distances[:, j]
    t = moyenne_ponderee(zones, values)
    keep = ["niveau", "code", "population"] + list(values)
    t = t.select(keep)
    return t.replace_schema_metadata({"types_absents": ",".join(d.types_absents),
                                      "types": ",".join(d.types[j] for j in present)})
