"""Bad input through the public API: a clear message with counts, rows and a fix.

Facilities that miss the network (and why), empty or mostly dropped demand, points
outside the districts, duplicate facilities and semicolon CSVs with decimal commas.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pyproj
import pytest

import siting as st
from siting.errors import NetworkError
from siting.io.datum import wgs84_to_gcj02
from siting.network.graph import Network

VADUZ = (9.52, 47.14)
WUHAN = (114.30, 30.60)


def city(lon: float, lat: float, side: int = 11, step_m: float = 100.0) -> Network:
    """A ``side`` x ``side`` street grid centred on lon/lat, in its UTM zone."""
    crs = st.crs.utm_crs_for(lon, lat)
    x0, y0 = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    k = np.arange(side * side)
    idx = k.reshape(side, side)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    half = (side - 1) * step_m / 2
    x = x0 - half + (k % side) * step_m
    y = y0 - half + (k // side) * step_m
    return Network.from_segments(u, v, x, y, crs, length=np.full(len(u), step_m), simplify=False)


def street(lon: float, lat: float, n: int = 11, step_m: float = 100.0) -> Network:
    """One north-south street of ``n`` nodes starting at lon/lat."""
    crs = st.crs.utm_crs_for(lon, lat)
    x0, y0 = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    k = np.arange(n)
    return Network.from_segments(
        k[:-1],
        k[1:],
        np.full(n, x0),
        y0 + k * step_m,
        crs,
        length=np.full(n - 1, step_m),
        simplify=False,
    )


def lonlat_points(net: Network, xy: np.ndarray, **cols) -> gpd.GeoDataFrame:
    """Points at network coordinates ``xy`` (metres), returned in EPSG:4326."""
    g = gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=net.crs)
    return g.to_crs(4326)


def nodes(net: Network, which) -> np.ndarray:
    return np.column_stack([net.node_x[which], net.node_y[which]])


@pytest.fixture
def vaduz():
    net = city(*VADUZ)
    demand = lonlat_points(net, nodes(net, slice(None)), population=np.full(net.n_nodes, 10.0))
    return net, demand


# ------------------------------------------------------------ facilities off the network
def test_swapped_lat_lon_is_detected_and_named(vaduz, tmp_path):
    net, demand = vaduz
    good = lonlat_points(net, nodes(net, [0, 60, 120]), name=["Library", "Clinic", "School"])
    csv = tmp_path / "facilities.csv"
    rows = [f"{n},{p.y:.7f},{p.x:.7f}" for n, p in zip(good["name"], good.geometry, strict=True)]
    csv.write_text("name,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")  # swapped
    existing = st.read_facilities(csv)
    with pytest.raises(NetworkError) as err:
        st.coverage(net, demand, existing, minutes=5)
    text = str(err.value)
    assert "3 of the 3 existing facilities lie more than 500 m from the walking network" in text
    assert "'Library' (row 0) at" in text and "km" in text
    assert "longitude and latitude are swapped" in text
    assert "not computed" in text


def test_gcj02_read_as_wgs84_is_detected():
    net = street(*WUHAN)
    ll = lonlat_points(net, nodes(net, [2, 5, 8]), name=["A", "B", "C"])
    lon, lat = wgs84_to_gcj02(ll.geometry.x.to_numpy(), ll.geometry.y.to_numpy())
    existing = gpd.GeoDataFrame(
        {"name": ll["name"]}, geometry=gpd.points_from_xy(lon, lat), crs=4326
    )
    demand = lonlat_points(net, nodes(net, slice(None)), population=np.ones(net.n_nodes))
    with pytest.raises(NetworkError, match=r"GCJ-02 .* Pass datum='gcj02'"):
        st.coverage(net, demand, existing, minutes=5, max_snap_m=200)


def test_degrees_labelled_as_metres_is_a_crs_mixup(vaduz):
    net, demand = vaduz
    degrees = nodes(net, [0, 1])  # numbers in metres ...
    ll = lonlat_points(net, degrees)
    wrong = gpd.GeoDataFrame(  # ... but degrees written into the network's projected CRS
        geometry=gpd.points_from_xy(ll.geometry.x, ll.geometry.y), crs=net.crs
    )
    with pytest.raises(NetworkError, match="CRS mix-up"):
        st.coverage(net, demand, wrong, minutes=5)


def test_facilities_of_another_area(vaduz):
    net, demand = vaduz
    far = nodes(net, [0, 1, 2]) + np.array([30_000.0, 0.0])
    with pytest.raises(NetworkError, match=r"row 0 at 29 km.*outside the area of the network"):
        st.coverage(net, demand, lonlat_points(net, far), minutes=5)


def test_a_few_facilities_off_the_network_warn_by_name(vaduz, caplog):
    net, demand = vaduz
    xy = nodes(net, np.arange(10) * 12)
    xy[3] += [0.0, 2_000.0]  # one of ten, 2 km north of the grid
    names = [f"centre {i}" for i in range(10)]
    existing = lonlat_points(net, xy, name=names)
    with caplog.at_level(logging.WARNING):
        cov = st.coverage(net, demand, existing, minutes=5)
    assert "1 of the 10 existing facilities lie more than 500 m" in caplog.text
    assert "'centre 3' (row 3) at 1,300 m" in caplog.text
    assert "covering nobody today" in caplog.text
    assert cov.summary()["covered_share"] > 0


def test_candidates_off_the_network_warn(vaduz, caplog):
    net, demand = vaduz
    existing = lonlat_points(net, nodes(net, [60]))
    cand = lonlat_points(net, nodes(net, [0, 10]) + np.array([[0, -900.0], [0, 0]]))
    with caplog.at_level(logging.WARNING):
        st.coverage(net, demand, existing, cand, minutes=5)
    assert "1 of the 2 candidate sites lie more than 500 m" in caplog.text
    assert "row 0 at 900 m" in caplog.text and "cannot be chosen" in caplog.text


def test_demand_off_the_network_names_the_cause(vaduz):
    net, demand = vaduz
    swapped = gpd.GeoDataFrame(
        {"population": demand["population"]},
        geometry=gpd.points_from_xy(demand.geometry.y, demand.geometry.x),
        crs=4326,
    )
    with pytest.raises(NetworkError, match=r"do not overlap.*longitude and latitude are swapped"):
        st.coverage(net, swapped, demand.iloc[:1], minutes=5)
