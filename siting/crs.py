"""Coordinate reference systems: pick a metric CRS and refuse to measure degrees.

Every distance in siting is in metres in a projected CRS. Unless the user names one,
that CRS is the UTM zone of the data's centroid (UPS near the poles), as osmnx and
r5py do.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pyproj

from .errors import CRSError
from .validation import reject_rows

log = logging.getLogger(__name__)

WGS84 = pyproj.CRS.from_epsg(4326)


def utm_crs_for(lon: float, lat: float) -> pyproj.CRS:
    """The WGS84 UTM zone (or UPS beyond 84°N / 80°S) containing a point in degrees."""
    if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
        msg = f"Cannot choose a UTM zone for lon={lon}, lat={lat}: not valid WGS84 degrees."
        raise CRSError(msg)
    if lat > 84:
        return pyproj.CRS.from_epsg(32661)
    if lat < -80:
        return pyproj.CRS.from_epsg(32761)
    # the regular 6° zones by formula: deterministic on zone borders (0° E is zone 31, the
    # equator is north), unlike the first match of a database area query, and ~1000x faster
    zone = min(int((lon + 180) // 6) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def metric_crs(*frames: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """A metric CRS for the data: the first frame's CRS if projected in metres, else UTM.

    Parameters
    ----------
    frames
        GeoDataFrames / GeoSeries with a CRS set. Their joint centroid chooses the zone.
    """
    frames = tuple(f for f in frames if f is not None and len(f))
    if not frames:
        msg = "Cannot choose a metric CRS: no data with geometry was given."
        raise CRSError(msg)
    for f in frames:
        require_crs(f)
    first = pyproj.CRS.from_user_input(frames[0].crs)
    if is_metric(first):
        return first
    lon_lat = []
    for f in frames:
        b = f.to_crs(WGS84).total_bounds
        lon_lat.append(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2))
    lon, lat = np.mean(lon_lat, axis=0)
    crs = utm_crs_for(float(lon), float(lat))
    log.info("Using metric CRS %s (%s)", crs.to_string(), crs.name)
    return crs


def is_metric(crs: pyproj.CRS | str | int | None) -> bool:
    """True if ``crs`` is projected with metre axes in which distances are true metres.

    Normal-aspect Mercator CRSs (Web Mercator EPSG:3857, World Mercator EPSG:3395) have
    metre axes but stretch every distance by 1/cos(latitude) (×1.16 in Wuhan, ×2 in
    Helsinki), so they are refused like degrees: data in them is reprojected to UTM.
    Transverse and oblique Mercator (UTM, national grids) are fine.
    """
    if crs is None:
        return False
    crs = pyproj.CRS.from_user_input(crs)
    if not crs.is_projected:
        return False
    units = {ax.unit_name.lower() for ax in crs.axis_info}
    if not units <= {"metre", "meter", "m"}:
        return False
    op = crs.coordinate_operation
    method = (op.method_name if op is not None else "").lower()
    return not (method.startswith("mercator") or "pseudo mercator" in method)


def require_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries, what: str = "data") -> None:
    """Raise :class:`CRSError` if ``gdf`` has no CRS."""
    if gdf.crs is None:
        msg = (
            f"The {what} has no coordinate reference system. Set one with "
            "`gdf.set_crs('EPSG:4326')` (longitude/latitude in degrees) or the projected "
            "CRS the coordinates are in."
        )
        raise CRSError(msg)


def to_metric(
    gdf: gpd.GeoDataFrame | gpd.GeoSeries,
    crs: pyproj.CRS | str | int | None = None,
    what: str = "data",
) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """Reproject ``gdf`` to ``crs`` (or its automatic metric CRS); never returns degrees."""
    require_crs(gdf, what)
    target = pyproj.CRS.from_user_input(crs) if crs is not None else metric_crs(gdf)
    if not is_metric(target):
        msg = (
            f"The CRS {target.to_string()} chosen for the {what} is not projected in true "
            "metres (degrees, feet, or a Web/World Mercator that stretches distances by "
            "1/cos(latitude)); distances would be wrong. Pass a projected CRS (e.g. a UTM "
            "zone) or leave it unset to choose one automatically."
        )
        raise CRSError(msg)
    source = pyproj.CRS.from_user_input(gdf.crs)
    if source.is_geographic and len(gdf):
        _check_degrees(gdf, source, what)
    if source == target:
        return gdf
    return gdf.to_crs(target)


def _check_degrees(gdf: gpd.GeoDataFrame | gpd.GeoSeries, crs: pyproj.CRS, what: str) -> None:
    """Raise if coordinates labelled with a geographic CRS are not degrees."""
    xmin, ymin, xmax, ymax = gdf.total_bounds
    if not (xmin >= -180 and xmax <= 180 and ymin >= -90 and ymax <= 90):
        msg = (
            f"The {what} is labelled {crs.to_string()} (longitude/latitude degrees), but its "
            f"coordinates (x {xmin:.6g}..{xmax:.6g}, y {ymin:.6g}..{ymax:.6g}) are not "
            "degrees: they look like metres. Label it with the CRS the numbers are in, e.g. "
            "gdf.set_crs('EPSG:32650', allow_override=True)."
        )
        raise CRSError(msg)


def check_lonlat_range(x: np.ndarray, y: np.ndarray, where: str) -> None:
    """Raise if coordinates said to be degrees fall outside [-180, 180] x [-90, 90]."""
    reject_rows(
        ~((np.abs(x) <= 180) & (np.abs(y) <= 90)),
        CRSError,
        lambda i: (
            f"{where}: row {i} has x={x[i]}, y={y[i]}, which are not longitude/latitude "
            "degrees. If the coordinates are projected, pass their CRS (e.g. crs='EPSG:32650')."
        ),
    )
