"""CRS handling: UTM zone choice, what counts as metric, reprojection, degree ranges.

Decision on EPSG:3857 (Web Mercator): it has metre axes, but its "metres" are stretched
by 1/cos(latitude) (×1.16 in Wuhan, ×2 in Helsinki), so a 1125 m walk would be measured
as 1305 m or 2250 m. siting counts a CRS as metric only if it is projected with metre
axes *and* is not a normal-aspect Mercator (EPSG:3857, ESRI:102100, World Mercator
EPSG:3395): data in those is reprojected to UTM, and a network in them is refused.
Transverse / oblique Mercator (UTM, TM35FIN, Swiss LV95) and other national grids pass.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from siting.crs import check_lonlat_range, is_metric, metric_crs, to_metric, utm_crs_for
from siting.errors import CRSError


def utm_zone_by_hand(lon: float, lat: float) -> int:
    """EPSG code of the regular 6° UTM zone (no Norway/Svalbard exceptions)."""
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (24.94, 60.17, 32635),  # Helsinki
        (9.52, 47.14, 32632),  # Vaduz, Liechtenstein
        (114.3, 30.6, 32650),  # Wuhan
        (116.4, 39.9, 32650),  # Beijing
        (121.47, 31.23, 32651),  # Shanghai
        (151.21, -33.87, 32756),  # Sydney: southern hemisphere
        (-70.65, -33.45, 32719),  # Santiago de Chile: west and south
        (-0.13, 51.51, 32630),  # London: just west of Greenwich
        (174.78, -41.29, 32760),  # Wellington: zone 60
        (-179.9, 10.0, 32601),  # zone 1
        (0.0, 85.0, 32661),  # beyond 84 N: UPS North
        (45.0, -85.0, 32761),  # beyond 80 S: UPS South (Antarctica)
        (0.0, 90.0, 32661),
    ],
)
def test_utm_zone_for_known_places(lon, lat, epsg):
    crs = utm_crs_for(lon, lat)
    assert crs == pyproj.CRS.from_epsg(epsg)
    assert is_metric(crs)
    if abs(lat) <= 80:
        assert epsg == utm_zone_by_hand(lon, lat)


def test_utm_zone_contains_the_point():
    # the zone's own area of use (pyproj database) contains the point, and its central
    # meridian is within 3° of it
    rng = np.random.default_rng(0)
    for lon, lat in zip(rng.uniform(-180, 180, 8), rng.uniform(-80, 84, 8), strict=True):
        crs = utm_crs_for(lon, lat)
        w, s, e, n = crs.area_of_use.bounds
        assert w <= lon <= e and s <= lat <= n, (lon, lat, crs)
        cm = crs.coordinate_operation.params[1].value
        assert abs(lon - cm) <= 3 + 1e-9


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (0.0, 45.0, 32631),  # a zone border belongs to the zone east of it
        (6.0, 45.0, 32632),
        (180.0, 10.0, 32660),  # the antimeridian stays in zone 60
        (-180.0, 10.0, 32601),
        (114.3, 0.0, 32650),  # the equator is north
        (114.3, -0.0001, 32750),
        (0.0, 84.0, 32631),  # UTM up to 84 N, down to 80 S
        (0.0, -80.0, 32731),
    ],
)
def test_utm_zone_borders(lon, lat, epsg):
    assert utm_crs_for(lon, lat).to_epsg() == epsg


@pytest.mark.parametrize(
    ("lon", "lat"), [(200.0, 10.0), (10.0, 95.0), (np.nan, 10.0), (10.0, np.inf)]
)
def test_utm_zone_refuses_non_degrees(lon, lat):
    with pytest.raises(CRSError, match="not valid WGS84 degrees"):
        utm_crs_for(lon, lat)


@pytest.mark.parametrize(
    ("crs", "metric"),
    [
        ("EPSG:4326", False),  # degrees
        ("EPSG:4490", False),  # CGCS2000 geographic
        ("EPSG:4978", False),  # geocentric
        ("EPSG:3857", False),  # Web Mercator: metre axes, not true metres (see module doc)
        ("ESRI:102100", False),  # the same under its ESRI code
        ("EPSG:3395", False),  # World Mercator
        ("EPSG:2263", False),  # New York State Plane, US survey feet
        ("EPSG:32650", True),  # UTM 50N
        ("EPSG:32735", True),  # UTM 35S
        ("EPSG:3067", True),  # Finland TM35FIN
        ("EPSG:2056", True),  # Swiss LV95 (oblique Mercator)
        ("EPSG:4547", True),  # CGCS2000 / 3-degree Gauss-Kruger CM 114E
        ("EPSG:5070", True),  # US Albers equal area
        (None, False),
    ],
)
def test_is_metric(crs, metric):
    assert is_metric(crs) is metric


def test_is_metric_accepts_crs_objects_and_codes():
    assert is_metric(32650)
    assert is_metric(pyproj.CRS.from_epsg(32650))
    assert not is_metric(4326)


def gdf(xy, crs):
    xy = np.asarray(xy, float)
    return gpd.GeoDataFrame(
        {"k": np.arange(len(xy))}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs
    )


def test_to_metric_refuses_data_without_crs():
    frame = gdf([(114.3, 30.6)], None)
    with pytest.raises(
        CRSError,
        match=r"The demand has no coordinate reference system.*"
        r"set_crs\('EPSG:4326'\)",
    ):
        to_metric(frame, what="demand")
    with pytest.raises(CRSError, match="no coordinate reference system"):
        metric_crs(frame)


def test_to_metric_lonlat_to_utm_in_true_metres():
    # two points 0.01° of longitude apart on the equator-ish latitude of Wuhan
    frame = gdf([(114.30, 30.6), (114.31, 30.6)], "EPSG:4326")
    out = to_metric(frame)
    assert out.crs == pyproj.CRS.from_epsg(32650)
    d = shapely.distance(out.geometry.iloc[0], out.geometry.iloc[1])
    geod = pyproj.Geod(ellps="WGS84").inv(114.30, 30.6, 114.31, 30.6)[2]
    assert geod == pytest.approx(958.5, abs=1)  # 111.32 km × cos(30.6°) / 100
    assert d == pytest.approx(geod, rel=1e-3)
    assert frame.crs == "EPSG:4326"  # input untouched


def test_to_metric_web_mercator_goes_to_utm():
    # Helsinki in Web Mercator: 1 km on the ground is ~2 km of "EPSG:3857 metres"
    ll = gdf([(24.94, 60.17), (24.96, 60.17)], "EPSG:4326")
    merc = ll.to_crs("EPSG:3857")
    merc_d = shapely.distance(merc.geometry.iloc[0], merc.geometry.iloc[1])
    out = to_metric(merc)
    assert out.crs == pyproj.CRS.from_epsg(32635)
    true_d = pyproj.Geod(ellps="WGS84").inv(24.94, 60.17, 24.96, 60.17)[2]
    assert shapely.distance(out.geometry.iloc[0], out.geometry.iloc[1]) == pytest.approx(
        true_d, rel=1e-3
    )
    assert merc_d / true_d == pytest.approx(1 / np.cos(np.radians(60.17)), rel=1e-2)
    with pytest.raises(CRSError, match="Web/World Mercator"):
        to_metric(ll, "EPSG:3857")


def test_to_metric_named_crs_and_identity():
    utm = gdf([(500000.0, 3386000.0)], "EPSG:32650")
    assert to_metric(utm) is utm  # already metric: returned as is
    out = to_metric(utm, "EPSG:4547")
    assert out.crs == pyproj.CRS.from_epsg(4547)
    with pytest.raises(CRSError, match="not projected in true metres"):
        to_metric(utm, "EPSG:4326")


def test_metric_crs_joint_centre():
    a = gdf([(114.0, 30.0)], "EPSG:4326")
    b = gdf([(116.2, 31.0)], "EPSG:4326")  # centre 115.1 E: zone 50
    assert metric_crs(a, b) == pyproj.CRS.from_epsg(32650)
    assert metric_crs(gdf([(0.0, 0.0)], "EPSG:3067"), a) == pyproj.CRS.from_epsg(3067)
    with pytest.raises(CRSError, match="no data"):
        metric_crs()
    with pytest.raises(CRSError, match="no data"):
        metric_crs(a.iloc[:0])


def test_check_lonlat_range():
    check_lonlat_range(np.array([-180.0, 180.0, 114.3]), np.array([-90.0, 90.0, 30.6]), "x")
    with pytest.raises(
        CRSError,
        match=r"sites.csv: row 1 has x=500000.0, y=3386000.0.*"
        r"crs='EPSG:32650'",
    ):
        check_lonlat_range(np.array([114.3, 500000.0]), np.array([30.6, 3386000.0]), "sites.csv")
    with pytest.raises(CRSError, match="row 0"):
        check_lonlat_range(np.array([114.3]), np.array([-90.5]), "f")
    with pytest.raises(CRSError, match="row 0"):
        check_lonlat_range(np.array([np.nan]), np.array([0.0]), "f")
