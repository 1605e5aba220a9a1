"""Raster benchmark: reading a mostly empty population grid, one piece vs row strips.

The grid is a country-style WorldPop raster: ``SIZE x SIZE`` float32 cells (default
20,000 x 20,000, 3 arc-seconds, EPSG:4326), tiled 256 x 256, deflate-compressed, nodata
-99999, with one populated "city" (a disc of radius ``SIZE * 0.03`` cells, about 1.1
million cells, gamma-distributed persons) and nodata everywhere else. It is written once
into a temporary folder.

Methods, each in its own child process (wall time of the read; peak memory = the child's
``ru_maxrss``, Python and imports included; ``rss after imports`` is shown apart):

* ``one piece (before)``: what ``read_population`` did before issue 21 -- the whole band
  as float64 plus GDAL's mask, then the positive cells' centres as points;
* ``strips (now)``: :func:`siting.read_population` -- one strip of block rows at a time in
  the band's own type, keeping only the cells that hold persons.

Both must return the same points (checked: same count, same persons to the last bit).

Usage: ``python benchmarks/bench_raster.py [--size N] [--skip-old]``; ``--size 4000``
is a quick run.
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

NODATA = -99999.0

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np, rasterio, geopandas as gpd
import siting as st
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def one_piece(path):
    with rasterio.open(path) as src:
        values = src.read(1).astype(np.float64)
        valid = src.read_masks(1) > 0
        valid &= values != src.nodata
        values = values * src.scales[0] + src.offsets[0]
        t = src.transform
    valid &= np.isfinite(values)
    rows, cols = np.nonzero(valid & (values > 0))
    xs = t.c + (cols + 0.5) * t.a + (rows + 0.5) * t.b
    ys = t.f + (cols + 0.5) * t.d + (rows + 0.5) * t.e
    return gpd.GeoDataFrame(
        {{"population": values[rows, cols]}}, geometry=gpd.points_from_xy(xs, ys), crs=src.crs
    )

t0 = time.perf_counter()
pop = one_piece({path!r}) if {method!r} == "old" else st.read_population({path!r})
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_mb": peak, "base_mb": base, "cells": len(pop),
                  "persons": float(pop["population"].sum())}}))
"""


def write_grid(path: Path, size: int) -> None:
    """The sparse benchmark grid (see the module docstring), written in row bands."""
    profile = {
        "driver": "GTiff",
        "height": size,
        "width": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_origin(100.0, 40.0, 1 / 1200, 1 / 1200),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    rng = np.random.default_rng(0)
    centre, radius = size // 2, int(size * 0.03)
    cols = np.arange(size)[None, :]
    with rasterio.open(path, "w", **profile) as dst:
        for row0 in range(0, size, 1024):
            h = min(1024, size - row0)
            band = np.full((h, size), NODATA, np.float32)
            rows = np.arange(row0, row0 + h)[:, None]
            city = (rows - centre) ** 2 + (cols - centre) ** 2 <= radius * radius
            band[city] = rng.gamma(2.0, 10.0, int(city.sum())).astype(np.float32)
            dst.write(band, 1, window=Window(0, row0, size, h))


def measure(path: Path, method: str) -> dict:
    root = str(Path(__file__).resolve().parents[1])
    code = CHILD.format(root=root, path=str(path), method=method)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="cells per side")
    parser.add_argument("--skip-old", action="store_true", help="skip the one-piece read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_raster_") as tmp:
        path = Path(tmp) / f"sparse_{args.size}.tif"
        t0 = time.perf_counter()
        write_grid(path, args.size)
        print(
            f"grid: {args.size:,} x {args.size:,} float32, tiled 256, deflate, "
            f"{path.stat().st_size / 1e6:.1f} MB on disk, written in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        methods = [("strips (now)", "new")]
        if not args.skip_old:
            methods.insert(0, ("one piece (before)", "old"))
        rows = [(label, measure(path, m)) for label, m in methods]
    print(
        f"{'method':<20} {'seconds':>8} {'peak MB':>9} {'rss after imports MB':>21} "
        f"{'cells':>11} {'persons':>14}"
    )
    for label, r in rows:
        print(
            f"{label:<20} {r['seconds']:>8.2f} {r['peak_mb']:>9.0f} {r['base_mb']:>21.0f} "
            f"{r['cells']:>11,} {r['persons']:>14,.1f}"
        )
    if len(rows) == 2:
        a, b = rows[0][1], rows[1][1]
        assert a["cells"] == b["cells"] and a["persons"] == b["persons"], "results differ"
        print("same cells and persons: yes")


if __name__ == "__main__":
    main()
