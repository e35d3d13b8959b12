"""Point-in-polygon on the QPV contours (extract/spatial.py). Speed is measured by bench/spatial_join.py,
never here."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from extract.anct_contours import read_contours
from extract.spatial import QpvIndex, assign_qpv, iter_assign_qpv
from tests.conftest import RECORDINGS
from tests.recordings import gen_referentiel

ZIP = RECORDINGS / "anct_qpv_contours" / "2024" / gen_referentiel.CONTOURS_ZIP


@pytest.fixture(scope="module")
def contours():
    return read_contours(ZIP)


@pytest.fixture(scope="module")
def index(contours):
    return QpvIndex.from_table(contours)


def test_representative_point_of_each_polygon_maps_back_to_its_code(contours, index):
    codes = contours["code_qpv"].to_pylist()
    pts = shapely.point_on_surface(shapely.from_wkb(contours["geometry_wkb"].to_numpy(zero_copy_only=False)))
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    assert list(index.lookup(x, y)) == codes
    assert list(index.lookup_strtree(x, y)) == codes
    assert index.stats["polygons"] == 122


def test_points_outside_every_qpv_and_nan_are_none(index):
    lon = np.array([2.3522, 5.2, 0.0, 5.3698, math.nan, 5.3, math.inf, 200.0, -np.inf])
    lat = np.array([48.8566, 43.1, 0.0, 43.2951, 43.3, math.nan, 43.3, 43.3, 43.3])
    # Paris, the sea off Marseille, (0, 0), the Vieux-Port (no QPV), NaN / inf / out-of-range coordinates
    assert index.lookup(lon, lat).tolist() == [None] * len(lon)
    assert index.lookup_strtree(lon[:4], lat[:4]).tolist() == [None] * 4
    assert index.lookup(np.array([]), np.array([])).tolist() == []


@pytest.mark.parametrize("cell_size", [0.01, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("order", [("QN01302M", "QN01301M"), ("QN01301M", "QN01302M")])
def test_a_point_on_a_shared_border_lands_in_exactly_one_qpv(cell_size, order):
    # two adjacent squares sharing the edge x = 1; cell_size 0.5 / 1.0 put that edge on cell boundaries too
    squares = {"QN01302M": shapely.box(0, 0, 1, 1), "QN01301M": shapely.box(1, 0, 2, 1)}
    index = QpvIndex(list(order), [squares[c] for c in order], cell_size=cell_size)
    lon = np.array([1.0, 1.0, 1.0, 0.5, 1.5, 0.0, 2.0, 1.0, 2.5, 1.0 - 1e-12, 1.0 + 1e-12])
    lat = np.array([0.5, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.5, 0.5, 0.5, 0.5])
    got = index.lookup(lon, lat).tolist()
    assert got == ["QN01301M", "QN01301M", "QN01301M",  # the shared edge and its ends: the smallest code
                   "QN01302M", "QN01301M",  # interiors
                   "QN01302M", "QN01301M",  # outer edges belong to their only QPV
                   None, None,  # outside
                   "QN01302M", "QN01301M"]  # a hair either side of the edge
    assert index.lookup_strtree(lon, lat).tolist() == got
    # each shared-border point is covered by both squares, yet assigned once
    assert all(len(index.tree.query(shapely.points(1.0, v), predicate="intersects")) == 2 for v in (0.0, 0.5, 1.0))


def test_grid_and_strtree_paths_agree_on_random_points(contours, index):
    rng = np.random.default_rng(20240627)
    b = shapely.bounds(index.geometries)
    k = rng.integers(0, len(b), 50_000)
    lon = np.concatenate([rng.uniform(b[k, 0], b[k, 2]), rng.uniform(4.2, 9.6, 50_000)])
    lat = np.concatenate([rng.uniform(b[k, 1], b[k, 3]), rng.uniform(41.3, 44.5, 50_000)])
    # points on polygon vertices: on borders, where the rule matters
    verts = shapely.get_coordinates(index.geometries)[::7]
    lon, lat = np.concatenate([lon, verts[:, 0]]), np.concatenate([lat, verts[:, 1]])
    got = index.lookup(lon, lat, chunk_size=10_000)
    assert (got == index.lookup_strtree(lon, lat)).all()
    assert 20_000 < sum(g is not None for g in got) < 60_000
    # a coarser grid gives the same answer
    coarse = QpvIndex.from_table(contours, cell_size=0.05)
    assert (coarse.lookup(lon, lat) == got).all()


def test_overlapping_contours_resolve_to_the_smallest_code(index):
    # simplified contours overlap in places: any point covered by several polygons takes the smallest code
    a, b = index.tree.query(index.geometries, predicate="overlaps")
    pairs = [(i, j) for i, j in zip(a, b, strict=True) if i < j]
    assert pairs  # the recorded contours have such slivers
    for i, j in pairs:
        p = shapely.point_on_surface(shapely.intersection(index.geometries[i], index.geometries[j]))
        assert index.lookup([p.x], [p.y])[0] == index.codes[min(i, j)]


def test_arrow_helper_in_several_chunks(index, contours):
    pts = shapely.point_on_surface(shapely.from_wkb(contours["geometry_wkb"].to_numpy(zero_copy_only=False)))
    lon = list(shapely.get_x(pts)) + [None, 2.35, math.nan]
    lat = list(shapely.get_y(pts)) + [43.3, 48.85, 43.3]
    expected = contours["code_qpv"].to_pylist() + [None, None, None]
    table = pa.table({"id": list(range(len(lon))), "lon": pa.array(lon, pa.float64()), "lat": lat})
    out = assign_qpv(index, table, lon_column="lon", lat_column="lat", chunk_rows=7)
    assert out.type == pa.string() and out.to_pylist() == expected
    parts = list(iter_assign_qpv(index, table, lon_column="lon", lat_column="lat", chunk_rows=7))
    assert len(parts) == math.ceil(len(lon) / 7) and all(len(p) <= 7 for p in parts)
    # a stream of record batches, and text coordinates as in a CSV source (blank = NULL)
    text = pa.table({"longitude": [None if v is None else f" {v:.9f}" for v in lon[:-1]] + [""],
                     "latitude": [f"{v:.9f}" for v in lat]})
    out2 = assign_qpv(index, iter(text.to_batches(max_chunksize=50)), chunk_rows=16)
    assert out2.to_pylist() == expected
    with pytest.raises(KeyError, match="no column 'x'"):
        assign_qpv(index, table, lon_column="x", lat_column="lat")
    with pytest.raises(ValueError, match="not a number"):
        assign_qpv(index, pa.table({"longitude": ["5,3"], "latitude": ["43.3"]}))
    assert assign_qpv(index, table.slice(0, 0), lon_column="lon", lat_column="lat").to_pylist() == []


def test_index_from_files(tmp_path, contours, index):
    parquet = tmp_path / "contours.parquet"
    pq.write_table(contours, parquet)
    for src in (parquet, ZIP):
        other = QpvIndex.from_file(src)
        assert list(other.codes) == list(index.codes)
    with pytest.raises(ValueError, match="duplicate QPV codes"):
        QpvIndex(["QN01301M", "QN01301M"], [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
