"""INSEE Filosofi 200 m grid (« données carroyées »): where people live, split between QPV, communes, Métropole.

The grid is the denominator of the three spatial baromètres (transport, green space, everyday services).

**Square id.** ``CRS3035RES200mN2029800E4252400``: resolution 200 m, south-west corner at northing 2 029 800,
easting 4 252 400 in EPSG:3035 (ETRS89-LAEA). The square is ``box(E, N, E + 200, N + 200)`` — rebuilt from the
id, never from the file's own geometry (the GeoPackages are reprojected). :func:`square_from_id`.

**File.** One row per inhabited square, national (≈ 2.3 million rows in métropole). Column names by edition
(matched case-insensitively, see ``docs/recherche/barometres-calcules-sources.md``): the id is ``IdINSPIRE``
(2015), ``Idcar_200m`` (2017), ``idcar_200m`` (2019, 2021) or ``id_inspire`` (Géoplateforme WFS); the number of
individuals ``Ind`` / ``ind`` (fractional on squares imputed for secrecy: keep floats); the commune(s)
``Depcom`` (2015, one code) or ``lcog_geo`` (2017+, the codes of every commune the square touches,
concatenated 5 characters each). :func:`iter_grid` streams it with Arrow (only those columns are converted;
``bbox`` drops squares outside the perimeter block by block), so memory is bounded by the perimeter, not the
country. Refused with :class:`~extract.errors.FormatError` (naming file, line and column): a file without the
id or ``ind`` column, an id not in the ``CRS3035RES<r>mN<y>E<x>`` format (e.g. a grid in Lambert-93), a
resolution other than the one expected, a square whose EPSG:3035 corner is not in metropolitan France (a grid
in another projection labelled 3035), an ``ind`` that is blank, not a number or negative.

**Split by area** (:func:`population_par_qpv`). Each square's population is split between QPV in proportion to
the share of the square's AREA inside each QPV polygon (computed in EPSG:3035, an equal-area projection; the
WGS84 contours are transformed with pyproj), the rest staying outside any QPV. Why not the centroid: many QPV
are narrow (a street of towers, a 100-150 m wide strip): a 200 m square can straddle the QPV border or two
QPV, and its centroid can miss a small QPV entirely (no denominator at all) or give it a whole square of
neighbours. The area split assumes people are spread evenly within a square — the only assumption the grid
allows. Where simplified contours overlap, a square's shares are scaled down so they never exceed 1.
The split conserves the total exactly: Σ QPV + outside == grid total (checked, a violation is a bug).

**Communes and Métropole.** A square is assigned to the commune(s) of its ``Depcom``/``lcog_geo`` (a square
on a commune border listing k communes gives 1/k of its population to each — the file gives no areas);
Marseille, Lyon and Paris arrondissement codes are mapped to the commune. The Métropole is every square
given. :meth:`Repartition.zones` returns the long table (square, level, code, population) every baromètre
aggregates with :func:`moyenne_ponderee`.

**Check against the census** (:func:`controle_recensement`): a QPV's grid total is compared with its
population municipale (pop_QPV24); beyond the tolerance, the QPV is listed with a French motif (the caller
withholds its spatial baromètres), nothing is raised.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely import STRtree

from extract.arrow_csv import blocks, open_text_columns
from extract.errors import FormatError
from extract.formats import SNIFF_BYTES, describe_kind, open_zip, sniff_path, sniff_separator
from extract.tables import Column, TableSpec, map_header

SQUARE_ID_RE = re.compile(r"^CRS3035RES(\d+)mN(\d+)E(\d+)$")
_SQUARE_ID_ARROW = r"^CRS3035RES(?P<res>\d+)mN(?P<n>\d+)E(?P<e>\d+)$"
#: plausible EPSG:3035 extent of metropolitan France and Corsica (xmin, ymin, xmax, ymax), with a margin; a
#: Lambert-93 grid (x ≈ 0.1–1.2 M, y ≈ 6.0–7.1 M) or a WGS84 one falls outside
METROPOLE_3035 = (3_150_000.0, 1_950_000.0, 4_350_000.0, 3_150_000.0)
#: the Métropole d'Aix-Marseille-Provence (SIREN), default code of the ``metropole`` level
CODE_METROPOLE_AMP = "200054807"
BLOCK_BYTES = 4 << 20
DEFAULT_CHUNK = 50_000

#: arrondissement → commune (Marseille 13201-13216, Lyon 69381-69389, Paris 75101-75120)
ARRONDISSEMENTS = {
    **{f"132{i:02d}": "13055" for i in range(1, 17)},
    **{f"6938{i}": "69123" for i in range(1, 10)},
    **{f"751{i:02d}": "75056" for i in range(1, 21)},
}

GRID_SPEC = TableSpec(
    name="insee_filosofi_carreaux",
    columns=(
        Column("idcar_200m", ("IdINSPIRE", "Idcar_200m", "id_inspire", "idcar200m")),
        Column("ind", ("Ind",), type="number"),
        Column("code_commune", ("Depcom", "lcog_geo"), required=False),
        Column("impute", ("I_est_cr", "I_est_200", "i_car_est"), required=False),
    ),
    key=(),
    qpv_column=None,
    qpv_required=False,
    covers_all_qpv=False,
    geography="carreau_200m",
)
GRID_MEMBER = r"(carr|filosofi).*\.csv$"


# -- square ids ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Carreau:
    """One square: resolution and south-west corner in EPSG:3035 (metres)."""

    res: int
    x0: int
    y0: int

    @property
    def polygon(self) -> shapely.Polygon:
        return shapely.box(self.x0, self.y0, self.x0 + self.res, self.y0 + self.res)


def parse_square_id(square_id: str) -> Carreau:
    """``CRS3035RES200mN2029800E4252400`` → ``Carreau(res=200, x0=4252400, y0=2029800)``. ValueError otherwise."""
    m = SQUARE_ID_RE.match(square_id.strip())
    if not m:
        raise ValueError(f"not a CRS3035 square id: {square_id!r} (expected CRS3035RES<r>mN<northing>E<easting>)")
    res, n, e = (int(g) for g in m.groups())
    return Carreau(res=res, x0=e, y0=n)


def square_from_id(square_id: str) -> shapely.Polygon:
    """The EPSG:3035 square of an INSEE/INSPIRE id: south-west corner (E, N), side = the id's resolution."""
    return parse_square_id(square_id).polygon


@dataclass
class Carreaux:
    """Squares of a grid (arrays of the same length). ``communes``: the raw ``Depcom``/``lcog_geo`` text."""

    ids: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    res: np.ndarray
    ind: np.ndarray
    communes: np.ndarray | None = None
    lines: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_ids(cls, ids: Sequence[str], ind: Sequence[float], communes: Sequence[str | None] | None = None
                 ) -> Carreaux:
        parsed = [parse_square_id(i) for i in ids]
        return cls(ids=np.array(list(ids), dtype=object),
                   x0=np.array([p.x0 for p in parsed], dtype=np.float64),
                   y0=np.array([p.y0 for p in parsed], dtype=np.float64),
                   res=np.array([p.res for p in parsed], dtype=np.float64),
                   ind=np.asarray(ind, dtype=np.float64),
                   communes=None if communes is None else np.array(list(communes), dtype=object))

    @classmethod
    def from_table(cls, table: pa.Table | pa.RecordBatch) -> Carreaux:
        """From the batches of :func:`iter_grid` (concatenated)."""
        def col(name):
            return table.column(name).to_numpy(zero_copy_only=False)
        communes = col("code_commune") if "code_commune" in table.schema.names else None
        return cls(ids=col("idcar_200m").astype(object), x0=col("x_3035").astype(np.float64),
                   y0=col("y_3035").astype(np.float64), res=col("res_m").astype(np.float64),
                   ind=col("ind").astype(np.float64), communes=communes,
                   lines=col("_line") if "_line" in table.schema.names else None)

    def boxes(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        hi = len(self) if hi is None else hi
        x, y, r = self.x0[lo:hi], self.y0[lo:hi], self.res[lo:hi]
        return shapely.box(x, y, x + r, y + r)

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x0 + self.res / 2, self.y0 + self.res / 2

    @property
    def total(self) -> float:
        return float(self.ind.sum())


# -- the grid file ------------------------------------------------------------------------------------------

GRID_SCHEMA = pa.schema([
    pa.field("idcar_200m", pa.string()),
    pa.field("ind", pa.float64()),
    pa.field("code_commune", pa.string()),
    pa.field("impute", pa.string()),
    pa.field("x_3035", pa.int64()),
    pa.field("y_3035", pa.int64()),
    pa.field("res_m", pa.int32()),
    pa.field("_line", pa.int64()),
])


def _open_grid(path: Path, source_id: str, file: str, url: str | None, stack: ExitStack):
    kind = sniff_path(path)
    if kind == "zip":
        zf = stack.enter_context(open_zip(path, source_id=source_id, url=url, file=file))
        names = [n for n in zf.namelist() if not n.endswith("/")]
        rx = re.compile(GRID_MEMBER, re.IGNORECASE)
        hits = [n for n in names if rx.search(n.rsplit("/", 1)[-1]) and "meta" not in n.lower()]
        if len(hits) != 1:
            nested = [n for n in names if n.lower().endswith((".7z", ".zip"))]
            problem = ("the ZIP archive holds another archive (INSEE ships the 2019 grid as zip → 7z → csv): "
                       "extract it first, nested archives are not opened") if nested and not hits else \
                "cannot find the grid CSV inside the ZIP archive"
            raise FormatError(source_id, problem, url=url, file=file,
                              expected=f"exactly one member matching {GRID_MEMBER!r}",
                              found=", ".join(names[:10]) or "no member")
        member = hits[0]
        return (lambda: zf.open(member)), f"{file}!{member}"
    if kind == "text":
        return (lambda: open(path, "rb")), file
    raise FormatError(source_id, "unexpected file type", url=url, file=file,
                      expected="the Filosofi grid CSV, or a ZIP holding it", found=describe_kind(kind))


def _header(head: bytes, source_id: str, shown: str, url: str | None) -> tuple[list[str], str, str]:
    encoding = "utf8"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:
            text = head[:exc.start].decode("utf-8")
        else:
            encoding, text = "cp1252", head.decode("cp1252", errors="replace")
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.strip():
        raise FormatError(source_id, "empty file", url=url, file=shown, expected="a header line")
    sep = sniff_separator(first)
    header = [h.strip().strip('"').lstrip("\ufeff") for h in next(csv.reader([first], delimiter=sep))]
    return header, sep, encoding


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def iter_grid(path: str | Path, *, source_id: str = "insee_filosofi_carreaux", file: str | None = None,
              url: str | None = None, resolution: int = 200, bbox: tuple[float, float, float, float] | None = None,
              block_bytes: int = BLOCK_BYTES) -> Iterator[pa.RecordBatch]:
    """The grid CSV (or a ZIP holding it), streamed: batches of :data:`GRID_SCHEMA` (one row per square,
    ``x_3035``/``y_3035`` its south-west corner). ``bbox`` (EPSG:3035 xmin, ymin, xmax, ymax): only squares
    intersecting it are kept. Every row is checked before it is dropped by ``bbox`` (see the module's text)."""
    path = Path(path)
    shown = file or path.name
    with ExitStack() as stack:
        opener, shown = _open_grid(path, source_id, shown, url, stack)
        with opener() as fh:
            head = fh.read(SNIFF_BYTES)
        header, sep, encoding = _header(head, source_id, shown, url)
        mapping = map_header(header, GRID_SPEC, source_id=source_id, file=shown, url=url)
        reader, names = open_text_columns(stack.enter_context(opener()), columns=len(header),
                                          keep=mapping.values(), sep=sep, encoding=encoding, block_bytes=block_bytes)

        def malformed(exc: BaseException, line: int) -> FormatError:
            return FormatError(source_id, "malformed CSV", url=url, file=shown, line=line,
                               expected=f"{len(header)} fields separated by {sep!r} (the line given is the first of "
                               "the block that failed)", found=str(exc).splitlines()[0][:300])

        for start, block in blocks(reader, malformed):
            batch = _check_block(block, names, mapping, header, start, resolution, source_id, shown, url)
            if bbox is not None:
                x, y = batch.column("x_3035").to_numpy(), batch.column("y_3035").to_numpy()
                r = batch.column("res_m").to_numpy()
                keep = (x + r >= bbox[0]) & (x <= bbox[2]) & (y + r >= bbox[1]) & (y <= bbox[3])
                batch = batch.filter(pa.array(keep))
            if batch.num_rows:
                yield batch


def _check_block(block, names, mapping, header, start, resolution, source_id, shown, url) -> pa.RecordBatch:
    n = block.num_rows
    id_col = header[mapping["idcar_200m"]]
    ids = pc.utf8_trim_whitespace(block.column(names[mapping["idcar_200m"]]))
    ids = pc.utf8_trim(ids, characters='"')
    parts = pc.extract_regex(ids, _SQUARE_ID_ARROW)
    bad = ~parts.is_valid().to_numpy(zero_copy_only=False)
    if bad.any():
        i = _first_bad(bad)
        raise FormatError(source_id, "square id not in the INSPIRE EPSG:3035 format (a grid in another "
                          "projection?)", url=url, file=shown, line=start + i, column=id_col,
                          expected="CRS3035RES<resolution>mN<northing>E<easting> (EPSG:3035 south-west corner)",
                          found=repr(ids[i].as_py()))
    res = pc.cast(parts.field("res"), pa.int32()).to_numpy()
    y0 = pc.cast(parts.field("n"), pa.int64()).to_numpy()
    x0 = pc.cast(parts.field("e"), pa.int64()).to_numpy()
    bad = res != resolution
    if bad.any():
        i = _first_bad(bad)
        raise FormatError(source_id, "square of another resolution", url=url, file=shown, line=start + i,
                          column=id_col, expected=f"{resolution} m squares (RES{resolution}m)",
                          found=repr(ids[i].as_py()))
    xmin, ymin, xmax, ymax = METROPOLE_3035
    bad = (x0 < xmin) | (x0 > xmax) | (y0 < ymin) | (y0 > ymax)
    if bad.any():
        i = _first_bad(bad)
        raise FormatError(source_id, "square outside metropolitan France in EPSG:3035 (coordinates of another "
                          "projection under a CRS3035 label?)", url=url, file=shown, line=start + i, column=id_col,
                          expected=f"easting in [{xmin:.0f}, {xmax:.0f}] and northing in [{ymin:.0f}, {ymax:.0f}]",
                          found=f"{ids[i].as_py()!r} (E {x0[i]}, N {y0[i]})")
    ind_col = header[mapping["ind"]]
    raw = block.column(names[mapping["ind"]])
    s = pc.replace_substring_regex(raw, pattern="[\\s\u00a0\u202f\"]", replacement="")
    s = pc.replace_substring(s, pattern=",", replacement=".")
    ok = pc.match_substring_regex(s, r"^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$").to_numpy(zero_copy_only=False)
    if not ok.all():
        i = _first_bad(~ok)
        raise FormatError(source_id, "number of individuals is not a non-negative number", url=url, file=shown,
                          line=start + i, column=ind_col, expected="a number ≥ 0 (fractional on imputed squares)",
                          found=repr(raw[i].as_py()))
    ind = pc.cast(s, pa.float64())

    def text(name):
        if name not in mapping:
            return pa.nulls(n, pa.string())
        t = pc.utf8_trim(pc.utf8_trim_whitespace(block.column(names[mapping[name]])), characters='"')
        return pc.if_else(pc.equal(t, ""), pa.scalar(None, pa.string()), t)

    return pa.RecordBatch.from_arrays(
        [ids, ind, text("code_commune"), text("impute"), pa.array(x0), pa.array(y0), pa.array(res),
         pa.array(np.arange(start, start + n, dtype=np.int64))], schema=GRID_SCHEMA)


def read_grid(path: str | Path, **kw) -> Carreaux:
    """:func:`iter_grid` collected into :class:`Carreaux` (pass ``bbox`` for a national file)."""
    batches = list(iter_grid(path, **kw))
    return Carreaux.from_table(pa.Table.from_batches(batches, schema=GRID_SCHEMA))


# -- QPV polygons in EPSG:3035 ---------------------------------------------------------------------------------

def to_3035(geoms: np.ndarray, crs: str = "EPSG:4326") -> np.ndarray:
    """Geometries transformed to EPSG:3035 (pyproj, x = longitude/easting first)."""
    geoms = np.asarray(geoms, dtype=object)
    if crs.upper() in ("EPSG:3035", "3035"):
        return geoms
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, "EPSG:3035", always_xy=True)

    def f(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, f)


def points_3035(x: np.ndarray, y: np.ndarray, crs: str = "EPSG:4326") -> tuple[np.ndarray, np.ndarray]:
    """Coordinates transformed to EPSG:3035 (``crs`` axis order: longitude/easting first)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if crs.upper() in ("EPSG:3035", "3035"):
        return x, y
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, "EPSG:3035", always_xy=True)
    ox, oy = tr.transform(x, y)
    return np.asarray(ox, dtype=np.float64), np.asarray(oy, dtype=np.float64)


def qpv_polygones_3035(qpv, *, crs: str = "EPSG:4326") -> tuple[np.ndarray, np.ndarray]:
    """``(codes, polygons in EPSG:3035)`` sorted by code, from a :class:`extract.spatial.QpvIndex` (WGS84
    contours), a mapping code → geometry, or a pair (codes, geometries); ``crs`` is the CRS of the last two."""
    from extract.spatial import QpvIndex, _polygonal

    if isinstance(qpv, QpvIndex):
        codes, geoms, crs = list(qpv.codes), list(qpv.geometries), "EPSG:4326"
    elif isinstance(qpv, Mapping):
        codes, geoms = list(qpv.keys()), list(qpv.values())
    else:
        codes, geoms = (list(v) for v in qpv)
    if len(set(codes)) != len(codes):
        raise ValueError("duplicate QPV codes")
    order = sorted(range(len(codes)), key=lambda i: codes[i])
    codes_arr = np.array([codes[i] for i in order], dtype=object)
    geoms_arr = np.array([_polygonal(geoms[i]) for i in order], dtype=object)
    return codes_arr, to_3035(geoms_arr, crs)


# -- the split ----------------------------------------------------------------------------------------------

def communes_of(raw: str | None, mapping: Mapping[str, str] = ARRONDISSEMENTS) -> list[str]:
    """The commune codes of a ``Depcom`` / ``lcog_geo`` value (5 characters each, concatenated), with
    arrondissements mapped to their commune, deduplicated in order."""
    if raw is None:
        return []
    s = str(raw).strip()
    if not s:
        return []
    out: list[str] = []
    for i in range(0, len(s), 5):
        c = s[i:i + 5]
        c = mapping.get(c, c)
        if c not in out:
            out.append(c)
    return out


@dataclass
class Repartition:
    """The population of the grid split between QPV (by area), and by commune.

    ``qpv``: one row per (square, QPV) with a share > 0: ``carreau`` (index into the :class:`Carreaux`),
    ``idcar_200m``, ``code_qpv``, ``part_surface`` (share of the square's area in the QPV), ``population``.
    ``hors_qpv``: per square, the population outside every QPV. ``communes``: one row per (square, commune):
    ``carreau``, ``code_commune``, ``population`` (the square's population / number of its communes) and
    ``population_hors_qpv`` (the same share of its outside-QPV population); None when the grid has no commune.
    """

    qpv: pa.Table
    hors_qpv: np.ndarray
    communes: pa.Table | None
    total: float
    codes_qpv: tuple[str, ...]
    n_carreaux: int

    @property
    def par_qpv(self) -> dict[str, float]:
        """Population of each QPV given (0.0 when no square overlaps it)."""
        out = dict.fromkeys(self.codes_qpv, 0.0)
        codes = self.qpv.column("code_qpv").to_pylist()
        pops = self.qpv.column("population").to_numpy()
        for c, p in zip(codes, pops, strict=True):
            out[c] += float(p)
        return out

    @property
    def population_hors_qpv(self) -> float:
        return float(self.hors_qpv.sum())

    @property
    def hors_qpv_par_commune(self) -> dict[str, float]:
        """Population outside every QPV, by commune (empty when the grid has no commune)."""
        out: dict[str, float] = {}
        if self.communes is None:
            return out
        for c, p in zip(self.communes.column("code_commune").to_pylist(),
                        self.communes.column("population_hors_qpv").to_numpy(), strict=True):
            out[c] = out.get(c, 0.0) + float(p)
        return out

    @property
    def par_commune(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.communes is None:
            return out
        for c, p in zip(self.communes.column("code_commune").to_pylist(),
                        self.communes.column("population").to_numpy(), strict=True):
            out[c] = out.get(c, 0.0) + float(p)
        return out

    @property
    def ecart_conservation(self) -> float:
        """Grid total − (Σ QPV + outside): 0 up to floating-point rounding."""
        return self.total - (float(self.qpv.column("population").to_numpy().sum()) + self.population_hors_qpv)

    def zones(self, *, metropole: str | None = CODE_METROPOLE_AMP) -> pa.Table:
        """Long table ``carreau, niveau, code, population``: ``qpv`` rows (area split), ``commune`` rows
        (when the grid has communes), ``metropole`` rows (every square, whole population) when ``metropole``."""
        parts = [pa.table({"carreau": self.qpv.column("carreau"),
                           "niveau": pa.array(["qpv"] * self.qpv.num_rows, pa.string()),
                           "code": self.qpv.column("code_qpv"),
                           "population": self.qpv.column("population")})]
        if self.communes is not None:
            parts.append(pa.table({"carreau": self.communes.column("carreau"),
                                   "niveau": pa.array(["commune"] * self.communes.num_rows, pa.string()),
                                   "code": self.communes.column("code_commune"),
                                   "population": self.communes.column("population")}))
        if metropole is not None:
            total = self.hors_qpv.copy()
            np.add.at(total, self.qpv.column("carreau").to_numpy(), self.qpv.column("population").to_numpy())
            parts.append(pa.table({"carreau": pa.array(np.arange(self.n_carreaux, dtype=np.int64)),
                                   "niveau": pa.array(["metropole"] * self.n_carreaux, pa.string()),
                                   "code": pa.array([metropole] * self.n_carreaux, pa.string()),
                                   "population": pa.array(total)}))
        return pa.concat_tables(parts)


def population_par_qpv(squares: Carreaux | Sequence[str], ind: Sequence[float] | None = None, qpv=None, *,
                       crs: str = "EPSG:4326", communes: Sequence[str | None] | None = None,
                       commune_map: Mapping[str, str] = ARRONDISSEMENTS,
                       chunk_size: int = DEFAULT_CHUNK) -> Repartition:
    """Split each square's population between QPV by the share of its AREA inside each QPV polygon.

    ``squares``: :class:`Carreaux` (then ``ind`` may be None: ``squares.ind``) or square ids with ``ind``.
    ``qpv``: a :class:`~extract.spatial.QpvIndex`, a mapping code → polygon or (codes, polygons); ``crs`` is the
    CRS of the polygons when not a QpvIndex (WGS84 by default; ``"EPSG:3035"`` for polygons already in metres).
    Squares are processed ``chunk_size`` at a time (an STRtree of the QPV, ``query(boxes, "intersects")``, exact
    intersection areas), so memory is bounded by the chunk and the QPV count."""
    if qpv is None:
        raise TypeError("population_par_qpv needs the QPV polygons (qpv=...)")
    if not isinstance(squares, Carreaux):
        if ind is None:
            raise TypeError("square ids need their populations (ind=...)")
        squares = Carreaux.from_ids(list(squares), ind, communes)
    elif ind is not None:
        squares = Carreaux(squares.ids, squares.x0, squares.y0, squares.res, np.asarray(ind, np.float64),
                           squares.communes, squares.lines)
    if communes is not None and squares.communes is None:
        squares.communes = np.array(list(communes), dtype=object)
    pop = squares.ind
    if len(pop) != len(squares):
        raise ValueError("ind and squares differ in length")
    if not np.all(np.isfinite(pop)) or (pop < 0).any():
        raise ValueError("ind must be finite and non-negative")
    codes, polys = qpv_polygones_3035(qpv, crs=crs)
    tree = STRtree(polys)
    rows_c, rows_q, rows_share = [], [], []
    for lo in range(0, len(squares), chunk_size):
        hi = min(lo + chunk_size, len(squares))
        boxes = squares.boxes(lo, hi)
        si, qi = tree.query(boxes, predicate="intersects")
        if not len(si):
            continue
        area = shapely.area(shapely.intersection(boxes[si], polys[qi]))
        share = area / (squares.res[lo + si] ** 2)
        keep = share > 0
        si, qi, share = si[keep], qi[keep], share[keep]
        # overlapping contours: a square's shares never sum above 1
        sums = np.bincount(si, weights=share, minlength=hi - lo)
        over = sums > 1.0
        if over.any():
            share = np.where(over[si], share / sums[si], share)
        rows_c.append(si + lo)
        rows_q.append(qi)
        rows_share.append(share)
    carreau = np.concatenate(rows_c) if rows_c else np.empty(0, np.int64)
    qidx = np.concatenate(rows_q) if rows_q else np.empty(0, np.int64)
    share = np.concatenate(rows_share) if rows_share else np.empty(0, np.float64)
    share = np.minimum(share, 1.0)
    qpop = pop[carreau] * share
    inside = np.bincount(carreau, weights=qpop, minlength=len(squares))
    hors = np.maximum(pop - inside, 0.0)
    qtable = pa.table({
        "carreau": pa.array(carreau.astype(np.int64)),
        "idcar_200m": pa.array(squares.ids[carreau].tolist(), pa.string()),
        "code_qpv": pa.array(codes[qidx].tolist(), pa.string()),
        "part_surface": pa.array(share),
        "population": pa.array(qpop),
    })
    ctable = None
    if squares.communes is not None:
        cc, ccode, cw = [], [], []
        cache: dict = {}
        for i, raw in enumerate(squares.communes):
            lst = cache.get(raw)
            if lst is None:
                lst = cache[raw] = communes_of(raw, commune_map)
            for c in lst:
                cc.append(i)
                ccode.append(c)
                cw.append(1.0 / len(lst))
        cc_arr = np.array(cc, dtype=np.int64)
        w = np.array(cw, dtype=np.float64)
        ctable = pa.table({"carreau": pa.array(cc_arr), "code_commune": pa.array(ccode, pa.string()),
                           "population": pa.array(pop[cc_arr] * w if len(cc_arr) else w),
                           "population_hors_qpv": pa.array(hors[cc_arr] * w if len(cc_arr) else w)})
    result = Repartition(qpv=qtable, hors_qpv=hors, communes=ctable, total=float(pop.sum()),
                         codes_qpv=tuple(codes.tolist()), n_carreaux=len(squares))
    if abs(result.ecart_conservation) > 1e-6 * max(1.0, result.total):
        raise RuntimeError(f"the split does not conserve the grid total: gap {result.ecart_conservation}")
    return result


# -- weighted means by zone -----------------------------------------------------------------------------------

def moyenne_ponderee(zones: pa.Table, valeurs: Mapping[str, np.ndarray]) -> pa.Table:
    """Population-weighted mean of per-square values, by zone.

    ``zones``: :meth:`Repartition.zones`; ``valeurs``: name → one float per square (NaN: no value, the square's
    population is then left out of that mean and counted in ``population_sans_<name>``). Returns ``niveau,
    code, population`` and, per value, its mean and ``population_sans_<name>``; sorted by level and code."""
    carreau = zones.column("carreau").to_numpy()
    pop = zones.column("population").to_numpy().astype(np.float64)
    niveau = np.asarray(zones.column("niveau").to_pylist(), dtype=object)
    code = np.asarray(zones.column("code").to_pylist(), dtype=object)
    keys = np.array([f"{a}\x1f{b}" for a, b in zip(niveau, code, strict=True)], dtype=object)
    uniq, inv = np.unique(keys, return_inverse=True) if len(keys) else (np.empty(0, object), np.empty(0, int))
    k = len(uniq)
    cols: dict[str, pa.Array] = {
        "niveau": pa.array([u.split("\x1f", 1)[0] for u in uniq], pa.string()),
        "code": pa.array([u.split("\x1f", 1)[1] for u in uniq], pa.string()),
        "population": pa.array(np.bincount(inv, weights=pop, minlength=k)),
    }
    for name, v in valeurs.items():
        vv = np.asarray(v, dtype=np.float64)[carreau]
        ok = np.isfinite(vv)
        num = np.bincount(inv[ok], weights=pop[ok] * vv[ok], minlength=k)
        den = np.bincount(inv[ok], weights=pop[ok], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
        cols[name] = pa.array(mean)
        cols[f"population_sans_{name}"] = pa.array(np.bincount(inv[~ok], weights=pop[~ok], minlength=k))
    return pa.table(cols)


# -- check against the census ------------------------------------------------------------------------------------

#: relative gap allowed between a QPV's grid population and its census population (see docs/methodes.md)
TOLERANCE_RECENSEMENT = 0.20
#: ... and an absolute gap below which a small QPV is never flagged (persons)
ECART_MINIMUM = 150.0


@dataclass
class Ecart:
    code_qpv: str
    population_carroyee: float
    population_recensement: float | None
    ecart_relatif: float | None
    motif: str
    extra: dict = field(default_factory=dict)


def controle_recensement(par_qpv: Mapping[str, float], recensement: Mapping[str, float | None], *,
                         tolerance: float = TOLERANCE_RECENSEMENT, ecart_minimum: float = ECART_MINIMUM
                         ) -> list[Ecart]:
    """The QPV whose grid total differs from the census population (pop_QPV24) beyond the tolerance: relative
    gap > ``tolerance`` AND absolute gap > ``ecart_minimum``; also a QPV with no grid population or no census
    population. Each with a French motif; never raises. Sorted by code."""
    out: list[Ecart] = []
    for code in sorted(set(par_qpv) | set(recensement)):
        g = float(par_qpv.get(code, 0.0) or 0.0)
        c = recensement.get(code)
        if c is None or not np.isfinite(c) or c <= 0:
            out.append(Ecart(code, g, None, None, "population du recensement absente pour ce QPV : la population "
                             "carroyée ne peut pas être contrôlée"))
            continue
        if g <= 0:
            out.append(Ecart(code, g, float(c), -1.0, "aucun carreau habité de la grille Filosofi ne recouvre ce "
                             "QPV : pas de dénominateur pour les baromètres spatiaux"))
            continue
        rel = (g - c) / c
        if abs(rel) > tolerance and abs(g - c) > ecart_minimum:
            out.append(Ecart(code, g, float(c), rel,
                             f"population carroyée ({g:.0f} hab.) trop éloignée de la population municipale du "
                             f"recensement ({c:.0f} hab.) : écart {rel:+.0%}, au-delà de la tolérance de "
                             f"±{tolerance:.0%} ; baromètres spatiaux retenus"))
    return out
