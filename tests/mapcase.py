"""A small hand-made city in Wuchang (Wuhan) for the map, report and browser tests.

A 2.0 × 1.5 km street grid (100 m blocks) in UTM 50N, 300 demand points (block centres)
in two districts split at the middle, one existing facility in the south-west and 20
candidate sites. Names can carry script payloads (``xss=True``): a facility, a candidate
and a district are then named with HTML that would set ``window.__xss`` if it ever ran.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
import pyproj
import shapely

import siting as st
from siting.network import Network

UTM50 = "EPSG:32650"
#: south-west corner of the grid: a point in Wuchang, Wuhan (WGS-84 degrees)
LON0, LAT0 = 114.3055, 30.5428
#: names that run code if a page ever reads them as HTML
XSS_SITE = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
XSS_SCRIPT = "</script><script>window.__xss=(window.__xss||0)+100</script>"
XSS_DISTRICT = '<svg onload="window.__xss=(window.__xss||0)+10"></svg>区'
NX, NY, BLOCK_M = 20, 15, 100.0


def origin() -> tuple[float, float]:
    """The grid's south-west corner in UTM 50N metres."""
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM50, always_xy=True)
    return to_utm.transform(LON0, LAT0)


def street_grid() -> Network:
    """Streets every 100 m, both ways."""
    x0, y0 = origin()
    ii, jj = np.meshgrid(np.arange(NX + 1), np.arange(NY + 1), indexing="ij")
    node = ii * (NY + 1) + jj
    u = np.r_[node[:-1, :].ravel(), node[:, :-1].ravel()]
    v = np.r_[node[1:, :].ravel(), node[:, 1:].ravel()]
    return Network.from_segments(
        u, v, x0 + BLOCK_M * ii.ravel(), y0 + BLOCK_M * jj.ravel(), UTM50, simplify=False
    )


def points(xy, **cols) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, float)
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM50)


def demand() -> gpd.GeoDataFrame:
    x0, y0 = origin()
    i, j = np.meshgrid(np.arange(NX), np.arange(NY), indexing="ij")
    i, j = i.ravel(), j.ravel()
    xy = np.column_stack([x0 + BLOCK_M * (i + 0.5), y0 + BLOCK_M * (j + 0.5)])
    return points(xy, population=1.0 + (7 * i + 3 * j) % 20)


def districts(xss: bool = False) -> gpd.GeoDataFrame:
    """West and east halves, in WGS-84, with a ``name``."""
    x0, y0 = origin()
    half = x0 + BLOCK_M * NX / 2
    west = shapely.box(x0 - 50, y0 - 50, half, y0 + BLOCK_M * NY + 50)
    east = shapely.box(half, y0 - 50, x0 + BLOCK_M * NX + 50, y0 + BLOCK_M * NY + 50)
    names = ["江汉区", XSS_DISTRICT if xss else "武昌区"]
    return gpd.GeoDataFrame({"name": names}, geometry=[west, east], crs=UTM50).to_crs(4326)


def sites(xss: bool = False) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    x0, y0 = origin()
    existing = points(
        [(x0 + 300, y0 + 300)],
        name=[XSS_SITE if xss else "Library"],
        amenity=["library"],
    )
    gx, gy = np.meshgrid([200.0, 600.0, 1000.0, 1400.0, 1800.0], [200.0, 550.0, 950.0, 1300.0])
    cands = points(np.column_stack([x0 + gx.ravel(), y0 + gy.ravel()]))
    cands["name"] = [f"candidate {k}" for k in range(len(cands))]
    if xss:
        cands.loc[5, "name"] = XSS_SCRIPT
    return existing, cands


@cache
def case(xss: bool = False, mode: str = "network", with_district_column: bool = True):
    """``(plan, districts, circle)``: an 80% target plan at 5 minutes (375 m) of walk
    (or a 375 m straight line for ``mode="circle"``) and the 500 m circle coverage."""
    d = demand()
    polys = districts(xss)
    if with_district_column:
        x0, _ = origin()
        west = d.geometry.x.to_numpy() < x0 + BLOCK_M * NX / 2
        d["district"] = np.where(west, polys["name"].iloc[0], polys["name"].iloc[1])
    existing, cands = sites(xss)
    if mode == "network":
        cov = st.coverage(street_grid(), d, existing, cands, minutes=(5, 10))
        plan = st.solve(cov, model="target", target=0.8, minutes=5)
    else:
        cov = st.coverage(None, d, existing, cands, mode="circle", threshold_m=375.0)
        plan = st.solve(cov, model="target", target=0.8)
    circle = st.coverage(None, d, existing, cands, mode="circle", threshold_m=500.0)
    return plan, polys, circle
