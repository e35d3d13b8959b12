"""Point-in-polygon: which QPV 2024 (if any) contains each point, for millions of points.

Built from the parsed ANCT contours (:mod:`extract.anct_contours`: ``code_qpv`` + ``geometry_wkb``, WGS84),
with shapely 2, fully vectorised (no Python loop per point)::

    index = QpvIndex.from_file("QP2024_….zip")          # or .from_table(parsed_table) / .from_wkb(codes, wkb)
    codes = index.lookup(lon, lat)                      # numpy object array: "QN01306M" or None
    arr = assign_qpv(index, table, lon_column="longitude", lat_column="latitude")   # pyarrow string array

**Rule for points on a border** (and for the slivers where two simplified contours overlap): a point belongs
to the QPV whose polygon *covers* it (interior or boundary); when several do, the **smallest code_qpv** in
code order wins. So a point exactly on the border shared by two QPV lands in exactly one of them, always
the same, and a point on the outer border of a QPV belongs to it. Points with a NaN or infinite coordinate,
and points outside every polygon, get None (NULL). Coordinates are WGS84 longitude, latitude (x, y).

**How** (measured by ``bench/spatial_join.py``; an ``STRtree.query(points, predicate="intersects")`` on
point geometries is exact but creating a shapely point costs ~0.5 µs, which alone halves the throughput):

1. At build time, the polygons (made valid, sorted by code) go into an ``STRtree``. The plane is cut into
   square cells (``cell_size`` degrees, default 0.005° ≈ 500 m); the tree gives, for every cell touched by a
   polygon, the polygons intersecting the cell (the cell grown by a tiny epsilon, so the candidate lists are
   conservative), in code order. A cell covered by exactly one polygon, and touched by no other, is *full*.
2. At query time, each point's cell is computed with numpy; a dense bitmap of 16 × 16-cell blocks drops the
   points far from every QPV, the others' cells are found by binary search among the occupied cells
   (``np.searchsorted``). A point in no occupied cell is outside every QPV; a point in a full cell is in
   that QPV; the others are tested exactly against their cell's candidates only, with
   ``shapely.intersects_xy`` on *prepared* polygons (no point geometry created), and the first hit in code
   order wins.
3. Points are processed in chunks (``chunk_size``), so memory stays bounded whatever the input size.

``lookup_strtree`` is the plain STRtree path (``tree.query(points, predicate="intersects")``) with the same
rule; tests check both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely import STRtree

DEFAULT_CELL_SIZE = 0.005  # degrees; QPV are 0.5–3 km wide
_COARSE_SHIFT = 4  # a coarse cell is 16 × 16 grid cells: a dense bitmap drops most far-away points early
DEFAULT_CHUNK = 262_144
_EPS = 1e-9  # degrees (~0.1 mm): grows each cell before asking which polygons touch it
_KEY_SPAN = 1 << 31  # cell key = ix * _KEY_SPAN + iy (ix, iy fit in 31 bits for any lon/lat)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """A valid version of a polygon (simplified contours may self-intersect), polygonal parts only."""
    if shapely.is_valid(geom):
        return geom
    fixed = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6)]
    polys = []
    for p in parts:
        polys.extend(shapely.get_parts(p) if shapely.get_type_id(p) == 6 else [p])
    return shapely.multipolygons(polys) if polys else geom


class QpvIndex:
    """Point → QPV 2024 code. Build it once (≈ 0.2 s for the 1,609 national contours), query many times."""

    def __init__(self, codes: Sequence[str], geometries: Sequence[shapely.Geometry], *,
                 cell_size: float = DEFAULT_CELL_SIZE) -> None:
        if len(codes) != len(geometries):
            raise ValueError("codes and geometries differ in length")
        if len(set(codes)) != len(codes):
            raise ValueError("duplicate QPV codes in the contours")
        order = sorted(range(len(codes)), key=lambda i: codes[i])
        self.codes = np.array([codes[i] for i in order], dtype=object)
        geoms = np.array([_polygonal(geometries[i]) for i in order], dtype=object)
        shapely.prepare(geoms)
        self.geometries = geoms
        self.tree = STRtree(geoms)
        self.cell_size = float(cell_size)
        self._codes_arrow = pa.array(list(self.codes), type=pa.string())
        self._build_grid()

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_wkb(cls, codes: Sequence[str], wkb: Sequence[bytes], **kw) -> QpvIndex:
        return cls(list(codes), list(shapely.from_wkb(np.asarray(wkb, dtype=object))), **kw)

    @classmethod
    def from_table(cls, table: pa.Table, *, code_column: str = "code_qpv",
                   geometry_column: str = "geometry_wkb", **kw) -> QpvIndex:
        """From the parsed contours (``anct_qpv_contours``: a table, or its Parquet read back)."""
        return cls.from_wkb(table.column(code_column).to_pylist(), table.column(geometry_column).to_pylist(), **kw)

    @classmethod
    def from_file(cls, path: str | Path, **kw) -> QpvIndex:
        """From a contours file: the ANCT ZIP or GeoJSON (parsed with the project's parser) or its parsed
        Parquet."""
        path = Path(path)
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return cls.from_table(pq.read_table(path, columns=["code_qpv", "geometry_wkb"]), **kw)
        from extract.anct_contours import read_contours

        return cls.from_table(read_contours(path), **kw)

    def _cells_of(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid cell (ix, iy) of each point (floor: a point on a cell edge belongs to the upper cell; the
        candidate lists are conservative, so either cell would do)."""
        return np.floor(lon / self.cell_size).astype(np.int64), np.floor(lat / self.cell_size).astype(np.int64)

    @staticmethod
    def _key(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        return (ix + _KEY_SPAN // 2) * _KEY_SPAN + (iy + _KEY_SPAN // 2)

    def _build_grid(self) -> None:
        s = self.cell_size
        bounds = shapely.bounds(self.geometries)
        ix0 = np.floor(bounds[:, 0] / s).astype(np.int64)
        ix1 = np.floor(bounds[:, 2] / s).astype(np.int64)
        iy0 = np.floor(bounds[:, 1] / s).astype(np.int64)
        iy1 = np.floor(bounds[:, 3] / s).astype(np.int64)
        cells = set()
        for a, b, c, d in zip(ix0, ix1, iy0, iy1, strict=True):  # one iteration per polygon, not per point
            xs, ys = np.meshgrid(np.arange(a, b + 1), np.arange(c, d + 1))
            cells.update(zip(xs.ravel().tolist(), ys.ravel().tolist(), strict=True))
        cx, cy = (np.array(v, dtype=np.int64) for v in zip(*sorted(cells), strict=True)) if cells else (
            np.empty(0, np.int64), np.empty(0, np.int64))
        boxes = shapely.box(cx * s - _EPS, cy * s - _EPS, (cx + 1) * s + _EPS, (cy + 1) * s + _EPS)
        cell_idx, geom_idx = self.tree.query(boxes, predicate="intersects")
        # candidate lists in (cell, code) order; cells touched by no polygon are dropped
        order = np.lexsort((geom_idx, cell_idx))
        cell_idx, geom_idx = cell_idx[order], geom_idx[order]
        occupied, start, counts = np.unique(cell_idx, return_index=True, return_counts=True)
        self._keys = self._key(cx[occupied], cy[occupied])  # sorted: cells were sorted by (ix, iy)
        # coarse bitmap over the occupied extent: is any occupied cell in this block of 16 × 16 cells?
        bx, by = cx[occupied] >> _COARSE_SHIFT, cy[occupied] >> _COARSE_SHIFT
        if len(bx):
            self._bx0, self._by0 = int(bx.min()), int(by.min())
            self._bw, self._bh = int(bx.max()) - self._bx0 + 1, int(by.max()) - self._by0 + 1
        else:
            self._bx0 = self._by0 = 0
            self._bw = self._bh = 1
        self._bitmap = np.zeros(self._bw * self._bh, dtype=bool)
        self._bitmap[(bx - self._bx0) * self._bh + (by - self._by0)] = True
        self._ptr = np.append(start, len(geom_idx)).astype(np.int64)
        self._cands = geom_idx.astype(np.int64)
        # full cells: exactly one candidate, which covers the (grown) cell
        full = np.full(len(occupied), -1, dtype=np.int64)
        single = np.flatnonzero(counts == 1)
        if len(single):
            g = self._cands[start[single]]
            covered = shapely.covers(self.geometries[g], boxes[occupied[single]])
            full[single[covered]] = g[covered]
        self._full = full

    # -- queries --------------------------------------------------------------------------------------

    def lookup_indices(self, lon, lat, *, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
        """Index (into ``self.codes``) of the QPV of each point, -1 when none."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        if lon.shape != lat.shape or lon.ndim != 1:
            raise ValueError("lon and lat must be 1-D arrays of the same length")
        out = np.full(len(lon), -1, dtype=np.int64)
        for lo in range(0, len(lon), chunk_size):
            hi = min(lo + chunk_size, len(lon))
            out[lo:hi] = self._lookup_chunk(lon[lo:hi], lat[lo:hi])
        return out

    def _lookup_chunk(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        res = np.full(len(x), -1, dtype=np.int64)
        if not len(self._keys):
            return res
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
        ix, iy = self._cells_of(x[ok], y[ok])
        bx, by = (ix >> _COARSE_SHIFT) - self._bx0, (iy >> _COARSE_SHIFT) - self._by0
        near = (bx >= 0) & (bx < self._bw) & (by >= 0) & (by < self._bh)
        near[near] = self._bitmap[bx[near] * self._bh + by[near]]
        ok, ix, iy = ok[near], ix[near], iy[near]
        keys = self._key(ix, iy)
        pos = np.searchsorted(self._keys, keys)
        pos[pos == len(self._keys)] = 0
        hit = self._keys[pos] == keys
        ok, pos = ok[hit], pos[hit]
        full = self._full[pos]
        is_full = full >= 0
        res[ok[is_full]] = full[is_full]
        ok, pos = ok[~is_full], pos[~is_full]
        if not len(ok):
            return res
        # expand (point, candidate) pairs, candidates in code order within each point
        counts = self._ptr[pos + 1] - self._ptr[pos]
        pts = np.repeat(ok, counts)
        first = np.repeat(self._ptr[pos], counts)
        within = np.arange(len(pts)) - np.repeat(np.cumsum(counts) - counts, counts)
        geom = self._cands[first + within]
        inside = shapely.intersects_xy(self.geometries[geom], x[pts], y[pts])
        pts, geom = pts[inside], geom[inside]
        # pts is non-decreasing and candidates ascend within a point: the first hit is the smallest code
        uniq, first_hit = np.unique(pts, return_index=True)
        res[uniq] = geom[first_hit]
        return res

    def lookup(self, lon, lat, *, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
        """The code_qpv of the QPV containing each point (numpy object array), None outside / NaN."""
        idx = self.lookup_indices(lon, lat, chunk_size=chunk_size)
        out = np.full(len(idx), None, dtype=object)
        inside = idx >= 0
        out[inside] = self.codes[idx[inside]]
        return out

    def lookup_strtree(self, lon, lat) -> np.ndarray:
        """Reference implementation, same rule: ``STRtree.query(points, predicate="intersects")`` on point
        geometries (slower: it creates one shapely point per input point)."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        res = np.full(len(lon), -1, dtype=np.int64)
        ok = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
        pidx, gidx = self.tree.query(shapely.points(lon[ok], lat[ok]), predicate="intersects")
        order = np.lexsort((gidx, pidx))
        pidx, gidx = pidx[order], gidx[order]
        uniq, first = np.unique(pidx, return_index=True)
        res[ok[uniq]] = gidx[first]
        out = np.full(len(lon), None, dtype=object)
        out[res >= 0] = self.codes[res[res >= 0]]
        return out

    def to_arrow(self, idx: np.ndarray) -> pa.Array:
        """Indices from :meth:`lookup_indices` as an Arrow string array (NULL for -1)."""
        return pc.take(self._codes_arrow, pa.array(idx, mask=idx < 0, type=pa.int64()))

    @property
    def stats(self) -> dict:
        return {"polygons": len(self.codes), "cells": len(self._keys), "full_cells": int((self._full >= 0).sum()),
                "candidates": len(self._cands), "cell_size": self.cell_size}


def _coordinates(batch: pa.RecordBatch | pa.Table, column: str) -> np.ndarray:
    """A lon/lat column as float64 (NULL → NaN). Text columns (as in CSV sources) are cast; blanks are NULL."""
    try:
        arr = batch.column(column)
    except KeyError:
        raise KeyError(f"no column {column!r}; columns: {', '.join(batch.schema.names)}") from None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(arr)
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
        try:
            arr = pc.cast(arr, pa.float64())
        except pa.ArrowInvalid as exc:
            raise ValueError(f"column {column!r} holds a value that is not a number: {exc}") from None
    elif not pa.types.is_floating(arr.type):
        arr = pc.cast(arr, pa.float64())
    elif arr.type != pa.float64():
        arr = pc.cast(arr, pa.float64())
    return arr.to_numpy(zero_copy_only=False)


def _iter_batches(data, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    if isinstance(data, pa.Table):
        yield from data.to_batches(max_chunksize=chunk_rows)
    elif isinstance(data, pa.RecordBatch):
        for lo in range(0, data.num_rows, chunk_rows):
            yield data.slice(lo, chunk_rows)
    else:
        for batch in data:
            yield from _iter_batches(batch, chunk_rows)


def iter_assign_qpv(index: QpvIndex, data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch], *,
                    lon_column: str = "longitude", lat_column: str = "latitude",
                    chunk_rows: int = DEFAULT_CHUNK) -> Iterator[pa.Array]:
    """One Arrow string array (code_qpv or NULL) per chunk of at most ``chunk_rows`` rows, in input order:
    memory bounded by the chunk, whatever the size of ``data`` (a table, a batch, or a stream of batches)."""
    for batch in _iter_batches(data, chunk_rows):
        if batch.num_rows == 0:
            continue
        x = _coordinates(batch, lon_column)
        y = _coordinates(batch, lat_column)
        yield index.to_arrow(index.lookup_indices(x, y, chunk_size=chunk_rows))


def assign_qpv(index: QpvIndex, data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch], *,
               lon_column: str = "longitude", lat_column: str = "latitude",
               chunk_rows: int = DEFAULT_CHUNK) -> pa.Array:
    """The code_qpv of every row of ``data`` as one Arrow string array (NULL outside any QPV), computed
    chunk by chunk (see :func:`iter_assign_qpv` to stream the result too)."""
    parts = list(iter_assign_qpv(index, data, lon_column=lon_column, lat_column=lat_column, chunk_rows=chunk_rows))
    return pa.concat_arrays(parts) if parts else pa.array([], type=pa.string())
