"""Population rasters (persons per cell): read in row strips, keep only valid cells.

A country-wide grid is mostly "no data". It is read one strip of block rows at a time
in its own data type, and only the cells holding persons are kept, so memory follows the
populated cells, not the grid (a 20,000 x 20,000 grid that is mostly empty reads in well
under 1 GB; ``benchmarks/bench_raster.py``).

Cells are dropped when they hold no persons: the declared nodata value(s), NaN, zero,
negative values (never valid persons; -9999 or -3.4e38 are common fills) and the largest
value of the data type (65535 in uint16, 3.4e38 in float32, infinity: the fills of
rasters written without a nodata value). Undeclared fills are counted in a logged
warning. A cell denser than :data:`MAX_PERSONS_PER_HECTARE` (true cell area, also in
degrees) or a total above :data:`MAX_TOTAL_PERSONS` is refused with a :class:`DataError`
naming the cell and how to pass ``nodata=``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
from rasterio.enums import MaskFlags
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ..crs import WGS84
from ..errors import CRSError, DataError

log = logging.getLogger(__name__)

#: Densest plausible cell, persons per hectare (the densest city blocks on record hold
#: a few thousand); a denser cell is a fill value or a wrong unit.
MAX_PERSONS_PER_HECTARE = 100_000.0
#: Largest plausible total, persons (the world holds about 8.2e9).
MAX_TOTAL_PERSONS = 1.0e10
#: Bytes of raster data read at a time (one strip of whole block rows).
STRIP_BYTES = 32 << 20
#: GDAL settings while reading: a small block cache (each block is read once, and the
#: default cache of 5% of RAM only inflates the peak memory) and threaded decompression.
GDAL_OPTIONS = {"GDAL_CACHEMAX": 64, "GDAL_NUM_THREADS": "ALL_CPUS"}


@dataclass
class _Dropped:
    """Cells dropped while scanning, by reason (undeclared fills only)."""

    fills: Counter = field(default_factory=Counter)  # value -> cells
    negative: int = 0
    nan: int = 0

    @property
    def total(self) -> int:
        return sum(self.fills.values()) + self.negative + self.nan


@dataclass(frozen=True)
class _Band:
    """How to read band 1: declared nodata values, dtype fills, scale/offset, mask."""

    declared: tuple[float, ...]
    fills: tuple[float, ...]
    scale: float
    offset: float
    use_mask: bool
    is_float: bool


def read_raster(
    path: Path,
    dist: gpd.GeoDataFrame | None,
    crs: Any,
    pad: float,
    nodata: float | None = None,
) -> gpd.GeoDataFrame:
    """Cell-centre points (in the raster's CRS) of the cells of band 1 holding persons.

    Parameters
    ----------
    path
        The raster file.
    dist
        Districts (WGS84) whose bounds (plus ``pad`` degrees) limit the window read.
    crs
        Overrides the raster's CRS.
    nodata
        Another value marking cells without data, besides the file's own.
    """
    source = str(path)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        msg = f"{source}: cannot read as a raster ({err}). Use a GeoTIFF of persons per cell."
        raise DataError(msg) from err
    with rasterio.Env(**GDAL_OPTIONS), src:
        rcrs = _raster_crs(src, crs, source)
        window = _window(src, rcrs, dist, pad, source) if dist is not None else None
        window = window or Window(0, 0, src.width, src.height)
        if src.count > 1:
            log.info("%s: %d bands; using band 1 as persons per cell", source, src.count)
        band = _band(src, nodata)
        rows, cols, persons, dropped = _scan(src, window, band)
        t, dtype = src.transform, src.dtypes[0]
    _warn_dropped(source, dropped, band, dtype)
    cc, rc = cols + 0.5, rows + 0.5  # cell centres, full-raster indices
    xs = t.c + cc * t.a + rc * t.b
    ys = t.f + cc * t.d + rc * t.e
    _check_density(source, rows, cols, persons, ys, t, rcrs, band)
    log.info("%s: %d populated cells read (window %s)", source, rows.size, window)
    return gpd.GeoDataFrame({"population": persons}, geometry=gpd.points_from_xy(xs, ys), crs=rcrs)


def _raster_crs(src: rasterio.io.DatasetReader, crs: Any, source: str) -> pyproj.CRS:
    """The raster's CRS (``crs`` overrides); none -> EPSG:4326 if bounds are degrees."""
    b = src.bounds
    lo, hi = min(b.bottom, b.top), max(b.bottom, b.top)
    degrees = -180 <= b.left <= b.right <= 180 and -90 <= lo <= hi <= 90
    bounds = f"({b.left:.6g}, {b.bottom:.6g}, {b.right:.6g}, {b.top:.6g})"
    if crs is not None or src.crs is not None:
        rcrs = pyproj.CRS.from_user_input(crs if crs is not None else src.crs.to_wkt())
        rcrs = WGS84 if rcrs == WGS84 else rcrs  # the same object: no identity reprojection
        if rcrs.is_geographic and not degrees:
            given = "crs=" if crs is not None else "the file"
            msg = (
                f"{source}: {given} says {rcrs.to_string()} (longitude/latitude degrees), but "
                f"the raster's bounds {bounds} are not degrees: they look like metres. Pass "
                "crs= with the projected CRS of the grid (e.g. crs='EPSG:32650')."
            )
            raise CRSError(msg)
        return rcrs
    if degrees:
        log.warning(
            "%s: raster has no CRS; its bounds fit longitude/latitude, so EPSG:4326 "
            "is assumed. Pass crs= to state it.",
            source,
        )
        return WGS84
    msg = (
        f"{source}: the raster has no CRS and its bounds {bounds} are not degrees. "
        "Pass crs= (e.g. crs='EPSG:32650')."
    )
    raise CRSError(msg)


def _window(
    src: rasterio.io.DatasetReader,
    rcrs: pyproj.CRS,
    dist: gpd.GeoDataFrame,
    pad: float,
    source: str,
) -> Window:
    """The raster window (whole cells) covering the districts' bounds."""
    xmin, ymin, xmax, ymax = dist.total_bounds + np.array([-pad, -pad, pad, pad])
    bx0, by0, bx1, by1 = transform_bounds(WGS84, rcrs, xmin, ymin, xmax, ymax, densify_pts=21)
    inv = ~src.transform
    bx, by = np.array([bx0, bx0, bx1, bx1]), np.array([by0, by1, by0, by1])
    corners = np.column_stack((inv.a * bx + inv.b * by + inv.c, inv.d * bx + inv.e * by + inv.f))
    c0, r0 = (int(v) for v in np.floor(corners.min(axis=0)))
    c1, r1 = (int(v) for v in np.ceil(corners.max(axis=0)))
    c0, r0 = max(c0, 0), max(r0, 0)
    c1, r1 = min(c1, src.width), min(r1, src.height)
    if c1 <= c0 or r1 <= r0:
        b = src.bounds
        msg = (
            f"{source}: the districts (lon {xmin:.4f}..{xmax:.4f}, lat {ymin:.4f}..{ymax:.4f}) "
            f"do not overlap the raster (bounds {b.left:.6g}, {b.bottom:.6g}, {b.right:.6g}, "
            f"{b.top:.6g} in {rcrs.to_string()}). Use the raster of the study area."
        )
        raise DataError(msg)
    return Window(c0, r0, c1 - c0, r1 - r0)


def dtype_fills(dtype: str) -> tuple[float, ...]:
    """Values of ``dtype`` that are fills, never persons: its largest value (and, for
    floats, float32's largest and infinity). Negative fills are dropped as negative."""
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        return (float(np.iinfo(dt).max),)
    if np.issubdtype(dt, np.floating):
        return tuple(sorted({float(np.finfo(dt).max), float(np.finfo(np.float32).max), np.inf}))
    return ()


def _in_dtype(value: float, dtype: np.dtype) -> float | None:
    """A nodata value as the band stores it (GDAL's rule); None if no cell can hold it."""
    value = float(value)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        ok = np.isfinite(value) and value == round(value) and info.min <= value <= info.max
        return value if ok else None
    with np.errstate(over="ignore"):
        return float(np.asarray(value).astype(dtype))


def _band(src: rasterio.io.DatasetReader, nodata: float | None) -> _Band:
    dtype = np.dtype(src.dtypes[0])
    declared = [_in_dtype(v, dtype) for v in (src.nodata, nodata) if v is not None]
    flags = src.mask_flag_enums[0]
    return _Band(
        declared=tuple(v for v in declared if v is not None),
        fills=dtype_fills(src.dtypes[0]),
        scale=float(src.scales[0]),
        offset=float(src.offsets[0]),
        use_mask=MaskFlags.per_dataset in flags or MaskFlags.alpha in flags,
        is_float=np.issubdtype(np.dtype(src.dtypes[0]), np.floating),
    )


def _strips(src: rasterio.io.DatasetReader, window: Window) -> list[Window]:
    """Row strips of ``window``: whole block rows, about :data:`STRIP_BYTES` each."""
    block_rows = max(int(src.block_shapes[0][0]), 1)
    row_bytes = max(int(window.width), 1) * np.dtype(src.dtypes[0]).itemsize
    rows = max(block_rows, STRIP_BYTES // row_bytes // block_rows * block_rows)
    r0, r1 = int(window.row_off), int(window.row_off + window.height)
    # the first strip ends on a block boundary, so that no block is decoded twice
    edges = [r0, *range((r0 // block_rows + 1) * block_rows, r1, rows), r1]
    edges = sorted(set(edges))
    c0, width = int(window.col_off), int(window.width)
    return [Window(c0, a, width, b - a) for a, b in pairwise(edges)]


def _scan(
    src: rasterio.io.DatasetReader, window: Window, band: _Band
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Dropped]:
    """Full-raster rows, cols and persons (float64) of the cells holding persons."""
    dropped = _Dropped()
    rows, cols, persons = [], [], []
    for w in _strips(src, window):
        raw = src.read(1, window=w)
        if band.scale != 1.0 or band.offset != 0.0:
            values = raw.astype(np.float64) * band.scale + band.offset
        else:
            values = raw
        n_masked = 0
        if band.use_mask:
            valid = src.read_masks(1, window=w) > 0
            n_masked = valid.size - int(np.count_nonzero(valid))
            values = np.where(valid, values, 0)
        idx = np.flatnonzero(values > 0)
        _count_undeclared(values, raw, idx.size, n_masked, band, dropped)
        raw_kept = raw.ravel()[idx]
        drop = np.isin(raw_kept, band.declared) | np.isin(raw_kept, band.fills)
        fill_values, fill_counts = np.unique(
            raw_kept[drop & ~np.isin(raw_kept, band.declared)], return_counts=True
        )
        dropped.fills.update(dict(zip(fill_values.tolist(), fill_counts.tolist(), strict=True)))
        idx = idx[~drop]
        rows.append(idx // int(w.width) + int(w.row_off))
        cols.append(idx % int(w.width) + int(w.col_off))
        persons.append(values.ravel()[idx].astype(np.float64))
    return (
        np.concatenate(rows) if rows else np.zeros(0, np.int64),
        np.concatenate(cols) if cols else np.zeros(0, np.int64),
        np.concatenate(persons) if persons else np.zeros(0),
        dropped,
    )


def _count_undeclared(
    values: np.ndarray,
    raw: np.ndarray,
    n_positive: int,
    n_masked: int,
    band: _Band,
    dropped: _Dropped,
) -> None:
    """Count the negative and NaN cells of one strip that are not declared nodata.

    Two passes when every cell is positive or declared nodata (the usual case).
    """
    hits = {
        v: int(np.count_nonzero(np.isnan(raw) if np.isnan(v) else raw == v))
        for v in band.declared
        if not v > 0
    }
    rest = values.size - n_positive - n_masked - sum(hits.values())
    if rest <= 0:
        return
    negative = int(np.count_nonzero(values < 0)) - sum(h for v, h in hits.items() if v < 0)
    zero = int(np.count_nonzero(values == 0)) - n_masked  # masked cells were set to 0
    zero -= sum(h for v, h in hits.items() if v == 0)
    dropped.negative += max(negative, 0)
    dropped.nan += max(rest - max(negative, 0) - max(zero, 0), 0)


def _describe_fill(value: float, dtype: str) -> str:
    if np.isinf(value):
        return "infinity"
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer) and value == np.iinfo(dt).max:
        return f"{value:.0f}, the largest {dtype} value"
    kind = "float32" if value == float(np.finfo(np.float32).max) else dtype
    return f"{value:.8g}, the largest {kind} value"


def _warn_dropped(source: str, dropped: _Dropped, band: _Band, dtype: str) -> None:
    """One warning naming the undeclared fill cells dropped, by reason."""
    if not dropped.total:
        return
    parts = [
        f"{n:,} cells equal to {_describe_fill(v, dtype)} (a fill for 'no data')"
        for v, n in sorted(dropped.fills.items())
    ]
    if dropped.negative:
        parts.append(
            f"{dropped.negative:,} cells with negative values (never valid persons; "
            "-9999 or -3.4e38 are common fills)"
        )
    if dropped.nan:
        parts.append(f"{dropped.nan:,} NaN cells")
    declared = ", ".join(f"{v:g}" for v in band.declared) or "none"
    log.warning(
        "%s: %s were dropped as cells without data (declared nodata: %s). If another "
        "value marks cells without data, pass nodata=<value>.",
        source,
        "; ".join(parts),
        declared,
    )


def cell_area_m2(transform: Any, crs: pyproj.CRS, ys: np.ndarray) -> np.ndarray:
    """True area (m²) of the cells whose centres have y coordinates ``ys``.

    Projected grids: the cell's area in the CRS units, converted to metres. Geographic
    grids: the ellipsoid's metres per degree at each cell's latitude.
    """
    det = abs(transform.a * transform.e - transform.b * transform.d)
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    if not crs.is_geographic:
        return np.full(len(ys), det * unit * unit)
    ell = crs.ellipsoid
    a = ell.semi_major_metre
    e2 = 1.0 - (ell.semi_minor_metre / a) ** 2
    phi = np.asarray(ys, np.float64) * unit  # radians
    w = 1.0 - e2 * np.sin(phi) ** 2
    meridian = a * (1.0 - e2) / w**1.5  # metres per radian of latitude
    parallel = a / np.sqrt(w) * np.cos(phi)  # metres per radian of longitude
    return det * unit * unit * meridian * parallel


def _check_density(
    source: str,
    rows: np.ndarray,
    cols: np.ndarray,
    persons: np.ndarray,
    ys: np.ndarray,
    transform: Any,
    crs: pyproj.CRS,
    band: _Band,
) -> None:
    """Refuse absurd cells (> :data:`MAX_PERSONS_PER_HECTARE`) and absurd totals."""
    if persons.size == 0:
        return
    hectares = cell_area_m2(transform, crs, ys) / 10_000.0
    density = np.divide(persons, hectares, out=np.full(persons.size, np.inf), where=hectares > 0)
    worst = int(np.argmax(density))
    how = (
        "If that value marks cells without data, pass it as nodata= (read_population(..., "
        f"nodata={persons[worst]:.8g}), or 'nodata: {persons[worst]:.8g}' under population: "
        "in a scenario); if the grid is not persons per cell, convert it first."
    )
    if density[worst] > MAX_PERSONS_PER_HECTARE:
        n_bad = int(np.count_nonzero(density > MAX_PERSONS_PER_HECTARE))
        msg = (
            f"{source}: the cell at row {rows[worst]}, col {cols[worst]} holds "
            f"{persons[worst]:,.6g} persons in {hectares[worst]:,.3g} ha "
            f"({density[worst]:,.3g} persons per hectare; {n_bad:,} cells exceed "
            f"{MAX_PERSONS_PER_HECTARE:,.0f}). No place is that dense: the value is a fill "
            f"for 'no data' or the grid is in another unit. {how}"
        )
        raise DataError(msg)
    total = float(persons.sum())
    if total > MAX_TOTAL_PERSONS:
        msg = (
            f"{source}: the cells add up to {total:,.4g} persons, more than the world's "
            f"population; the grid is not persons per cell, or holds fill values. The "
            f"largest cell is row {rows[worst]}, col {cols[worst]} ({persons[worst]:,.6g}). "
            f"{how}"
        )
        raise DataError(msg)
