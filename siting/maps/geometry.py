"""Geometry as the page draws it: longitude/latitude in the basemap's datum, compact.

Every overlay goes through one :class:`Display`: reprojected to WGS-84, shifted to
GCJ-02 when the basemap is Amap (:func:`siting.io.datum.wgs84_to_gcj02`), rounded to
1e-5 degrees (about 1 m) so that the HTML stays small and its bytes repeat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from ..crs import WGS84
from ..io.datum import wgs84_to_gcj02

#: coordinates are written as integers of this many per degree (1e-5 degrees ≈ 1.1 m)
COORD_SCALE = 100_000
#: tolerance (metres) polygons are simplified by before they are drawn
SIMPLIFY_M = 5.0


def _shift_gcj02(coords: np.ndarray) -> np.ndarray:
    out = np.array(coords, dtype=np.float64, copy=True)
    if len(out):
        out[:, 0], out[:, 1] = wgs84_to_gcj02(out[:, 0], out[:, 1])
    return out


@dataclass(frozen=True)
class Display:
    """Turns geometries in any CRS into what the page draws (see the module docstring)."""

    datum: str = "wgs84"  # "wgs84" or "gcj02"

    def geoms(self, gdf: gpd.GeoDataFrame | gpd.GeoSeries, simplify_m: float = 0.0) -> np.ndarray:
        """Geometries in display lon/lat (simplified by ``simplify_m`` metres first)."""
        geo = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
        if simplify_m > 0:
            metric = geo if geo.crs.is_projected else geo.to_crs(geo.estimate_utm_crs())
            geo = metric.simplify(simplify_m)
        values = np.asarray(geo.to_crs(WGS84).values)
        if self.datum == "gcj02":
            values = shapely.transform(values, _shift_gcj02)
        return shapely.set_precision(values, 1.0 / COORD_SCALE)

    def lonlat(self, gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude (display datum, degrees) of points."""
        geo = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
        geo = geo.to_crs(WGS84)
        lon, lat = geo.x.to_numpy(float), geo.y.to_numpy(float)
        if self.datum == "gcj02":
            lon, lat = wgs84_to_gcj02(lon, lat)
        return np.asarray(lon, float), np.asarray(lat, float)


def quantize(values: np.ndarray) -> np.ndarray:
    """Degrees as integers of 1e-5 degrees."""
    return np.round(np.asarray(values, float) * COORD_SCALE).astype(np.int64)


def geojson(geoms: np.ndarray) -> list[dict]:
    """GeoJSON geometry dicts (``None`` for empty geometries)."""
    return [None if g is None or g.is_empty else json.loads(shapely.to_geojson(g)) for g in geoms]


def bounds(lon: np.ndarray, lat: np.ndarray) -> list[list[float]]:
    """``[[south, west], [north, east]]`` of the points, rounded to 1e-5 degrees."""
    if len(lon) == 0:
        return [[-60.0, -180.0], [75.0, 180.0]]
    r = 1.0 / COORD_SCALE
    return [
        [round(float(np.min(lat)) - r, 5), round(float(np.min(lon)) - r, 5)],
        [round(float(np.max(lat)) + r, 5), round(float(np.max(lon)) + r, 5)],
    ]
