"""Chinese datum conversion: GCJ-02 / BD-09 <-> WGS-84."""

from __future__ import annotations

import math
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from siting.errors import CRSError
from siting.io.datum import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert_datum,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# ---------------------------------------------------------------- reference formulas
# A plain scalar transcription of the standard published algorithm, written
# independently of siting.io.datum (math module, no NumPy).
A = 6378245.0
EE = 0.00669342162296594323
X_PI = math.pi * 3000.0 / 180.0


def _ref_out_of_china(lng: float, lat: float) -> bool:
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _ref_transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _ref_transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def ref_wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    if _ref_out_of_china(lng, lat):
        return lng, lat
    dlat = _ref_transform_lat(lng - 105.0, lat - 35.0)
    dlng = _ref_transform_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - EE * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (A / sqrtmagic * math.cos(radlat) * math.pi)
    return lng + dlng, lat + dlat


def ref_gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Haversine distance in metres."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2)
    )
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371008.8 * np.arcsin(np.sqrt(h))


def china_points(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(75.0, 134.0, n), rng.uniform(18.0, 53.0, n)


# Published test vectors (WGS-84 -> GCJ-02) of the eviltransform library
# (github.com/googollee/eviltransform): Shanghai, Shenzhen, Beijing (near Tiananmen).
PUBLISHED = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
]


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_wgs84_to_gcj02_published_pairs(wgs, gcj):
    lon, lat = wgs84_to_gcj02(*wgs)
    assert isinstance(lon, float)
    assert lon == pytest.approx(gcj[0], abs=1e-9)
    assert lat == pytest.approx(gcj[1], abs=1e-9)
    assert ref_wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


def test_wgs84_to_gcj02_matches_scalar_reference():
    lon, lat = china_points()
    gx, gy = wgs84_to_gcj02(lon, lat)
    ref = np.array([ref_wgs84_to_gcj02(a, b) for a, b in zip(lon, lat, strict=True)])
    np.testing.assert_allclose(gx, ref[:, 0], rtol=0, atol=1e-11)
    np.testing.assert_allclose(gy, ref[:, 1], rtol=0, atol=1e-11)


def test_gcj02_to_bd09_matches_scalar_reference():
    lon, lat = china_points(seed=1)
    bx, by = gcj02_to_bd09(lon, lat)
    ref = np.array([ref_gcj02_to_bd09(a, b) for a, b in zip(lon, lat, strict=True)])
    np.testing.assert_allclose(bx, ref[:, 0], rtol=0, atol=1e-11)
    np.testing.assert_allclose(by, ref[:, 1], rtol=0, atol=1e-11)


def test_wgs_gcj_round_trip_below_1cm():
    lon, lat = china_points(2000, seed=2)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back).max() < 0.01
    # and the other way round: GCJ -> WGS -> GCJ
    again = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert metres(lon, lat, *again).max() < 0.01


def test_bd09_round_trips_below_1cm():
    lon, lat = china_points(2000, seed=3)
    assert metres(lon, lat, *bd09_to_gcj02(*gcj02_to_bd09(lon, lat))).max() < 0.01
    assert metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))).max() < 0.01


def test_bd09_is_gcj02_plus_baidu_offset():
    lon, lat = 114.3055, 30.5928  # Wuhan
    assert wgs84_to_bd09(lon, lat) == pytest.approx(
        ref_gcj02_to_bd09(*ref_wgs84_to_gcj02(lon, lat)), abs=1e-11
    )


CITIES = {
    "Beijing": (116.40, 39.90),
    "Shanghai": (121.47, 31.23),
    "Wuhan": (114.30, 30.59),
    "Guangzhou": (113.26, 23.13),
    "Chengdu": (104.07, 30.67),
    "Urumqi": (87.62, 43.82),
    "Harbin": (126.63, 45.75),
    "Lhasa": (91.11, 29.65),
    "Kunming": (102.83, 24.88),
    "Haikou": (110.35, 20.02),
}


def test_offsets_in_china_are_100_to_700_m():
    lon = np.array([v[0] for v in CITIES.values()])
    lat = np.array([v[1] for v in CITIES.values()])
    d = metres(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert ((d > 100) & (d < 700)).all(), dict(zip(CITIES, d.round(), strict=True))


@pytest.mark.parametrize(
    "func",
    [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, bd09_to_wgs84, wgs84_to_bd09],
)
def test_identity_outside_china(func):
    lon = np.array([2.3522, -74.006, 151.2093, 139.6917, 0.0, np.nan])  # Paris NY Sydney Tokyo
    lat = np.array([48.8566, 40.7128, -33.8688, 35.6895, 0.0, 30.0])
    x, y = func(lon, lat)
    np.testing.assert_array_equal(x, lon)
    np.testing.assert_array_equal(y, lat)
    assert func(2.3522, 48.8566) == (2.3522, 48.8566)


def test_inputs_are_not_modified():
    lon, lat = china_points(10)
    lon0, lat0 = lon.copy(), lat.copy()
    gcj02_to_wgs84(lon, lat)
    np.testing.assert_array_equal(lon, lon0)
    np.testing.assert_array_equal(lat, lat0)


# ----------------------------------------------------------------------- convert_datum
def _geometries_in_gcj02() -> tuple[list, list]:
    """The same shapes in WGS-84 and, vertex by vertex, in GCJ-02."""
    ring = [(114.30, 30.55), (114.32, 30.55), (114.32, 30.57), (114.30, 30.57)]
    hole = [(114.305, 30.555), (114.31, 30.555), (114.31, 30.56)]
    wgs = [
        shapely.Point(114.3, 30.6),
        shapely.Point(114.3, 30.6, 25.0),
        shapely.LineString([(114.1, 30.5), (114.2, 30.6), (114.3, 30.4)]),
        shapely.Polygon(ring, [hole]),
        shapely.MultiPolygon([shapely.Polygon(ring), shapely.box(114.4, 30.4, 114.5, 30.5)]),
        shapely.GeometryCollection([shapely.Point(114.0, 30.0), shapely.LineString(ring)]),
        None,
    ]

    def to_gcj(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        for row in out:
            row[0], row[1] = ref_wgs84_to_gcj02(row[0], row[1])
        return out

    gcj = [None if g is None else shapely.transform(g, to_gcj, include_z=None) for g in wgs]
    return wgs, gcj


def test_convert_datum_every_geometry_type():
    wgs, gcj = _geometries_in_gcj02()
    gdf = gpd.GeoDataFrame({"k": range(len(gcj))}, geometry=gcj, crs="EPSG:4326")
    out = convert_datum(gdf, "gcj02")
    assert out.crs == "EPSG:4326"
    assert out.attrs["datum"] == "gcj02"
    assert list(out["k"]) == list(range(len(gcj)))
    assert out.geometry.iloc[-1] is None
    assert out.geometry.iloc[1].has_z and out.geometry.iloc[1].z == 25.0
    for got, want in zip(out.geometry.iloc[:-1], wgs[:-1], strict=True):
        assert got.geom_type == want.geom_type
        a, b = shapely.get_coordinates(got), shapely.get_coordinates(want)
        assert metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 0.01
    # the input is untouched
    assert gdf.geometry.iloc[0].equals(gcj[0])


def test_convert_datum_bd09_and_geoseries():
    pts = shapely.points([114.30, 116.40], [30.59, 39.90])
    bd = shapely.points(np.column_stack(wgs84_to_bd09([114.30, 116.40], [30.59, 39.90])))
    out = convert_datum(gpd.GeoSeries(bd), "BD-09")
    assert isinstance(out, gpd.GeoSeries)
    assert out.crs == "EPSG:4326"
    d = metres(out.x, out.y, shapely.get_x(pts), shapely.get_y(pts))
    assert d.max() < 0.01


def test_convert_datum_cgcs2000_relabels():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(114.3, 30.6)], crs="EPSG:4490")
    out = convert_datum(gdf, "cgcs2000")
    assert out.crs == "EPSG:4326"
    assert out.geometry.iloc[0].equals(shapely.Point(114.3, 30.6))


def test_convert_datum_wgs84_reprojects():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 3384000)], crs="EPSG:32650")
    out = convert_datum(gdf, "wgs84")
    assert out.crs == "EPSG:4326"
    assert out.geometry.iloc[0].x == pytest.approx(117.0, abs=1e-6)


def test_convert_datum_unknown_datum():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(114.3, 30.6)], crs="EPSG:4326")
    with pytest.raises(CRSError, match=r"Unknown datum 'gcj2000'.*'wgs84', 'gcj02', 'bd09'"):
        convert_datum(gdf, "gcj2000")


def test_convert_datum_refuses_projected_gcj02():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 3384000)], crs="EPSG:32650")
    with pytest.raises(CRSError, match="GCJ-02 offsets apply to longitude/latitude"):
        convert_datum(gdf, "gcj02")


def test_convert_datum_refuses_non_degree_numbers():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 3384000)])
    with pytest.raises(CRSError, match="not longitude/latitude"):
        convert_datum(gdf, "gcj02")


# ------------------------------------------------------------------------ Wuhan data
def shared_data() -> Path:
    env = os.environ.get("SITING_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared reference data not found at {path}")
    return path


def test_wuhan_districts_gcj02_file_matches_wgs84_file():
    wuhan = shared_data() / "wuhan"
    gcj = gpd.read_file(wuhan / "wuhan_districts_gcj02.geojson", engine="pyogrio")
    wgs = gpd.read_file(wuhan / "wuhan_districts_wgs84.geojson", engine="pyogrio")
    out = convert_datum(gcj, "gcj02")
    a = shapely.get_coordinates(np.asarray(out.geometry.values))
    b = shapely.get_coordinates(np.asarray(wgs.geometry.values))
    assert a.shape == b.shape
    assert metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 1.0
    # and the raw GCJ-02 numbers are hundreds of metres away
    r = shapely.get_coordinates(np.asarray(gcj.geometry.values))
    assert metres(r[:, 0], r[:, 1], b[:, 0], b[:, 1]).min() > 100
