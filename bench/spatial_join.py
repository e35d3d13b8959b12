"""Benchmark of the point-in-polygon join (extract/spatial.py): N seeded random points → code_qpv.

    .venv/bin/python bench/spatial_join.py [CONTOURS] [-n POINTS] [--seed S] [--chunk ROWS] [--check K]

CONTOURS is the ANCT contours file (ZIP or GeoJSON, or the parsed Parquet); default: the project's recording
(the 122 recorded QPV). For the national figure use the simplified national contours (1,609 polygons)::

    .venv/bin/python bench/spatial_join.py "$OBSERVATOIRE_BENCH_CONTOURS"   # the national qpv2024_france_simplified.geojson

Half the points are uniform over metropolitan France (lon -5.2..9.6, lat 41.3..51.1: almost all outside any
QPV), half uniform in the bounding box of a QPV drawn at random (about half of those fall inside). Prints
points/s, wall and CPU seconds of the join (index build reported apart), peak RSS (getrusage), and with
``--check K`` compares K points with the plain STRtree path.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extract.spatial import DEFAULT_CELL_SIZE, DEFAULT_CHUNK, QpvIndex  # noqa: E402

DEFAULT_CONTOURS = ROOT / "extract" / "recordings" / "anct_qpv_contours" / "2024" / "QP2024_France_Hexagonale_Outre_Mer.zip"
METROPOLE = (-5.2, 41.3, 9.6, 51.1)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def points(index: QpvIndex, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    half = n // 2
    lon = rng.uniform(METROPOLE[0], METROPOLE[2], half)
    lat = rng.uniform(METROPOLE[1], METROPOLE[3], half)
    b = shapely.bounds(index.geometries)
    k = rng.integers(0, len(b), n - half)
    return (np.concatenate([lon, rng.uniform(b[k, 0], b[k, 2])]),
            np.concatenate([lat, rng.uniform(b[k, 1], b[k, 3])]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("contours", nargs="?", default=str(DEFAULT_CONTOURS),
                    help="ANCT contours: ZIP, GeoJSON or parsed Parquet (default: the project's recording)")
    ap.add_argument("-n", "--points", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=20240627)
    ap.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="points per chunk (bounded memory)")
    ap.add_argument("--cell-size", type=float, default=DEFAULT_CELL_SIZE, help="grid cell, degrees")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the join; the best is reported")
    ap.add_argument("--check", type=int, default=200_000, help="points compared with the STRtree path (0: none)")
    args = ap.parse_args(argv)

    t0, c0 = time.perf_counter(), cpu()
    index = QpvIndex.from_file(args.contours, cell_size=args.cell_size)
    build_wall, build_cpu = time.perf_counter() - t0, cpu() - c0
    lon, lat = points(index, args.points, args.seed)

    best = None
    for _ in range(max(1, args.repeat)):
        t0, c0 = time.perf_counter(), cpu()
        idx = index.lookup_indices(lon, lat, chunk_size=args.chunk)
        wall, used = time.perf_counter() - t0, cpu() - c0
        if best is None or wall < best[0]:
            best = (wall, used)
    wall, used = best
    inside = int((idx >= 0).sum())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

    print(f"contours          {args.contours}")
    print(f"polygons          {index.stats['polygons']}  (grid: {index.stats['cells']} cells of "
          f"{index.cell_size}°, {index.stats['full_cells']} full)")
    print(f"index build       {build_wall:.2f} s wall, {build_cpu:.2f} s CPU (parse + make_valid + grid)")
    print(f"points            {args.points:,}  (seed {args.seed}, chunks of {args.chunk:,}); "
          f"{inside:,} inside a QPV")
    print(f"join              {wall:.3f} s wall, {used:.3f} s CPU  (best of {max(1, args.repeat)})")
    print(f"throughput        {args.points / wall:,.0f} points/s (wall), {args.points / used:,.0f} points per CPU second")
    print(f"peak RSS          {rss_mb:,.0f} MB")
    if args.check:
        k = min(args.check, args.points)
        t0 = time.perf_counter()
        ref = index.lookup_strtree(lon[:k], lat[:k])
        ref_wall = time.perf_counter() - t0
        got = index.lookup(lon[:k], lat[:k])
        same = bool((ref == got).all())
        print(f"check             {k:,} points vs STRtree.query(points, predicate='intersects'): "
              f"{'identical' if same else 'DIFFERENT'} (STRtree path {k / ref_wall:,.0f} points/s)")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
