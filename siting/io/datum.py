"""Chinese map datums: WGS-84, GCJ-02 (Amap/Gaode, Tencent) and BD-09 (Baidu).

GCJ-02 is WGS-84 plus a deliberate, position-dependent offset of 100-700 m; BD-09 adds
a second offset on top of GCJ-02. Data exported from Chinese web maps therefore lands
in the wrong place when read as WGS-84. The functions here convert between the three,
vectorised over NumPy arrays (degrees in, degrees out).

Conventions
-----------
* The GCJ-02 offset is the standard published formula on the Krasovsky 1940 ellipsoid
  (``a = 6378245.0`` m, ``ee = 0.00669342162296594323``); BD-09 is the standard Baidu
  rotation/scaling of GCJ-02.
* Points outside China are returned unchanged by every function (the usual
  ``out_of_china`` rule: a point is "in China" when 73.66 < lon < 135.05 and
  3.86 < lat < 53.55, a rectangle that also covers some neighbouring countries).
  The rule is applied to the *input* coordinates; NaN coordinates count as outside
  and pass through unchanged.
* The inverse conversions (:func:`gcj02_to_wgs84`, :func:`bd09_to_gcj02`) are exact
  inverses of the forward formulas, found by fixed-point iteration until the forward
  conversion reproduces the input to within 1e-10 degrees (about 0.01 mm; always
  well under the documented 0.01 m). The popular one-step inverses are off by up to
  a few metres.
* CGCS2000 (EPSG:4490) differs from WGS-84 by a few centimetres, far below map
  accuracy, so :func:`convert_datum` only relabels it as EPSG:4326.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from ..crs import WGS84, check_lonlat_range
from ..errors import CRSError

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
Converter = Callable[[ArrayLike, ArrayLike], tuple[FloatArray, FloatArray]]

#: Semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02, metres.
KRASOVSKY_A = 6378245.0
#: First eccentricity squared of the Krasovsky 1940 ellipsoid.
KRASOVSKY_EE = 0.00669342162296594323
#: The BD-09 constant pi * 3000 / 180.
BD_X_PI = np.pi * 3000.0 / 180.0

#: Datums accepted by :func:`convert_datum` (and by every ``datum=`` argument in siting.io).
DATUMS = ("wgs84", "gcj02", "bd09", "cgcs2000")
DATUM_LABELS = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09", "cgcs2000": "CGCS2000"}

_TOL_DEG = 1e-10  # fixed-point stopping tolerance, degrees (~0.01 mm)
_MAX_ITER = 30


#: the numpydoc Parameters and Returns of every (lon, lat) conversion below
_LONLAT_DOC = """
    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees ({src}), scalars or arrays that broadcast.

    Returns
    -------
    lon : float or numpy.ndarray
        Longitude in degrees ({dst}): a float for scalar input, else a float64 array.
    lat : float or numpy.ndarray
        Latitude in degrees ({dst}).
    """


def _lonlat_doc(src: str, dst: str) -> Callable[[Converter], Converter]:
    """Append the shared Parameters and Returns of a datum conversion to its docstring."""

    def add(func: Converter) -> Converter:
        func.__doc__ = (func.__doc__ or "") + _LONLAT_DOC.format(src=src, dst=dst)
        return func

    return add


def _pair(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x.copy(), y.copy()


def _ret(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return Python floats for scalar input, arrays otherwise."""
    if x.ndim == 0:
        return float(x), float(y)  # type: ignore[return-value]
    return x, y


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point (degrees) lies outside the GCJ-02 rectangle of China."""
    x, y = _pair(lon, lat)
    return ~((x > 73.66) & (x < 135.05) & (y > 3.86) & (y < 53.55))


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point, degrees (no out-of-China masking)."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _bd_forward(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 -> BD-09 without masking, degrees."""
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_inverse_approx(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The usual one-step BD-09 -> GCJ-02 formula (error up to ~1e-6 degrees)."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    tx: FloatArray,
    ty: FloatArray,
    x: FloatArray,
    y: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration from ``(x, y)``.

    The offsets vary slowly (derivative ~1e-3), so each step gains about three
    decimal digits; 3-4 steps reach the 1e-10 degree tolerance.
    """
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - tx, fy - ty
        x = x - ex
        y = y - ey
        err = np.max(np.maximum(np.abs(ex), np.abs(ey)), initial=0.0)
        if err < _TOL_DEG:
            break
    return x, y


@_lonlat_doc("WGS-84", "GCJ-02")
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 longitude/latitude (degrees) to GCJ-02 (degrees).

    Points outside China are returned unchanged.
    """
    x, y = _pair(lon, lat)
    inside = ~out_of_china(x, y)
    dlon, dlat = _gcj_offset(x[inside], y[inside])
    x[inside] += dlon
    y[inside] += dlat
    return _ret(x, y)


@_lonlat_doc("GCJ-02", "WGS-84")
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitude/latitude (degrees) to WGS-84 (degrees), exactly.

    The exact inverse of :func:`wgs84_to_gcj02`: starting from the one-step
    approximation it iterates ``w <- w - (gcj(w) - g)`` until the forward conversion
    of the result matches the input within 1e-10 degrees, so a WGS -> GCJ -> WGS round
    trip is off by far less than 0.01 m. Points outside China are returned unchanged.
    """
    gx, gy = _pair(lon, lat)
    inside = ~out_of_china(gx, gy)
    tx, ty = gx[inside], gy[inside]

    def forward(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        dx, dy = _gcj_offset(x, y)
        return x + dx, y + dy

    dlon, dlat = _gcj_offset(tx, ty)
    wx, wy = _invert(forward, tx, ty, tx - dlon, ty - dlat)
    gx[inside] = wx
    gy[inside] = wy
    return _ret(gx, gy)


@_lonlat_doc("GCJ-02", "BD-09")
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitude/latitude (degrees) to BD-09 (degrees).

    Points outside China are returned unchanged.
    """
    x, y = _pair(lon, lat)
    inside = ~out_of_china(x, y)
    x[inside], y[inside] = _bd_forward(x[inside], y[inside])
    return _ret(x, y)


@_lonlat_doc("BD-09", "GCJ-02")
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitude/latitude (degrees) to GCJ-02 (degrees), exactly.

    Starts from the usual one-step formula and refines it by fixed-point iteration
    until :func:`gcj02_to_bd09` reproduces the input within 1e-10 degrees. Points
    outside China are returned unchanged.
    """
    bx, by = _pair(lon, lat)
    inside = ~out_of_china(bx, by)
    tx, ty = bx[inside], by[inside]
    x0, y0 = _bd_inverse_approx(tx, ty)
    bx[inside], by[inside] = _invert(_bd_forward, tx, ty, x0, y0)
    return _ret(bx, by)


@_lonlat_doc("BD-09", "WGS-84")
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitude/latitude (degrees) to WGS-84 (degrees).

    Points outside China are returned unchanged.
    """
    x, y = bd09_to_gcj02(lon, lat)
    return gcj02_to_wgs84(x, y)


@_lonlat_doc("WGS-84", "BD-09")
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 longitude/latitude (degrees) to BD-09 (degrees).

    Points outside China are returned unchanged.
    """
    x, y = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(x, y)


_TO_WGS84: dict[str, Callable[[ArrayLike, ArrayLike], tuple[FloatArray, FloatArray]]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def normalize_datum(datum: str | None) -> str:
    """Lower-case a datum name and check it is one of :data:`DATUMS`.

    Accepts common spellings ("WGS-84", "GCJ-02", "bd-09", "EPSG:4490", ...).
    """
    key = str(datum if datum is not None else "wgs84").lower().replace("-", "").replace("_", "")
    key = key.replace(" ", "")
    aliases = {
        "epsg4326": "wgs84",
        "epsg:4326": "wgs84",
        "epsg:4490": "cgcs2000",
        "epsg4490": "cgcs2000",
        "amap": "gcj02",
        "gaode": "gcj02",
        "baidu": "bd09",
    }
    key = aliases.get(key, key)
    if key not in DATUMS:
        msg = (
            f"Unknown datum {datum!r}. Use one of {', '.join(repr(d) for d in DATUMS)}: "
            "'gcj02' for Amap/Gaode/Tencent data, 'bd09' for Baidu, 'cgcs2000' for national "
            "survey data (EPSG:4490), 'wgs84' for GPS/OpenStreetMap data."
        )
        raise CRSError(msg)
    return key


def _transform_coords(
    func: Callable[[ArrayLike, ArrayLike], tuple[FloatArray, FloatArray]],
) -> Callable[[FloatArray], FloatArray]:
    """Wrap a (lon, lat) converter as a shapely.transform function on (N, 2|3) arrays."""

    def apply(coords: FloatArray) -> FloatArray:
        out = np.array(coords, dtype=np.float64, copy=True)
        if len(out):
            out[:, 0], out[:, 1] = func(out[:, 0], out[:, 1])
        return out

    return apply


def convert_datum(
    gdf: gpd.GeoDataFrame | gpd.GeoSeries, datum: str
) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """Convert every vertex of ``gdf`` from ``datum`` to WGS-84 (EPSG:4326).

    Parameters
    ----------
    gdf
        Geometries of any type. For ``"gcj02"`` and ``"bd09"`` the coordinates must be
        longitude/latitude degrees (CRS EPSG:4326, another geographic CRS, or none).
    datum
        The datum the numbers are really in: ``"wgs84"`` (only reprojected to
        EPSG:4326 if needed), ``"gcj02"``, ``"bd09"`` or ``"cgcs2000"`` (EPSG:4490,
        within centimetres of WGS-84: relabelled EPSG:4326, coordinates unchanged).

    Returns
    -------
    geopandas.GeoDataFrame or geopandas.GeoSeries
        A copy in EPSG:4326 with ``attrs["datum"]`` set to the source datum. Points
        outside China are left unchanged.

    Raises
    ------
    CRSError
        Unknown datum, or GCJ-02/BD-09 coordinates in a projected CRS or outside
        longitude/latitude ranges.
    """
    key = normalize_datum(datum)
    out = gdf.copy()
    crs = pyproj.CRS.from_user_input(out.crs) if out.crs is not None else None
    if key == "wgs84":
        out = out.set_crs(WGS84) if crs is None else out.to_crs(WGS84)
    elif key == "cgcs2000":
        if crs is not None and crs.is_projected:
            out = out.to_crs("EPSG:4490")
        out = out.set_crs(WGS84, allow_override=True)
    else:
        if crs is not None and not crs.is_geographic:
            msg = (
                f"{DATUM_LABELS[key]} offsets apply to longitude/latitude degrees, but the "
                f"data has the projected CRS {crs.to_string()}. Pass the unprojected "
                f"{DATUM_LABELS[key]} longitude/latitude data (as exported from the web map)."
            )
            raise CRSError(msg)
        if len(out):
            xy = shapely.get_coordinates(np.asarray(out.geometry.values))
            check_lonlat_range(xy[:, 0], xy[:, 1], f"{DATUM_LABELS[key]} coordinates")
        geoms = shapely.transform(
            np.asarray(out.geometry.values), _transform_coords(_TO_WGS84[key]), include_z=None
        )
        if isinstance(out, gpd.GeoDataFrame):
            out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=WGS84))
        else:
            out = gpd.GeoSeries(geoms, index=out.index, crs=WGS84, name=out.name)
        log.info(
            "Converted %d geometries from %s to WGS-84 (EPSG:4326).", len(out), DATUM_LABELS[key]
        )
    out.attrs["datum"] = key
    return out


__all__ = [
    "DATUMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert_datum",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "normalize_datum",
    "out_of_china",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
