"""Two hand-made communities in Wuchang (Wuhan) for the compliance map and report tests.

Communities A (west) and B (east) are 1 km squares side by side (UTM 50N, starting at
``mapcase.origin()``), one sub-district S1 holds both. Each community has four demand
points at its quarter points (A: 2,000 persons each, B: 1,000). Households and staff are
given on the polygons. The norms: Taizhou 2023-2025 (``taizhou-2023``) with the GB
50180-2018 life-circle levels added; distances are straight lines. By hand:

* floor area, 30 m² per 100 households: A (3,000 households) needs 900 m², its station
  has 660 m²: 240 m² short (fail); B (2,200) needs 660 m², its station's floor area is
  unknown (unknown);
* staff, 18 per 10,000 residents: A ⌈8,000 × 18 / 10,000⌉ = 15 required, 20 given
  (pass); B ⌈7.2⌉ = 8 required, 5 given: 3 short (fail);
* volunteer station per community: A none (fail), B one (pass); community size
  2,000-3,000 households: both pass. A fails 2 of 4 rules, B 1 of 4 (and 1 unknown);
* S1: a 650 m² centre (pass), no elderly-care centre, no child-protection station;
* life circles: the kindergarten 250 m west of A's centre is within 300 m (5 minutes) of
  A's two western points: 50% of A, 0% of B, 4,000 / 12,000 = 33.3% of all; the centre
  100 m east of A's centre is within 1,000 m (15 minutes) of every point of A and of B's
  two western points (696 m; the eastern ones are 1,177 m away): 100% of A, 50% of B,
  10,000 / 12,000 = 83.3% of all. No basket is complete.

``xss=True`` names B and a facility with HTML that sets ``window.__xss`` if it ever runs.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import geopandas as gpd
import mapcase
import numpy as np
import shapely

import siting as st
from siting import standards

XSS_UNIT = '<img src=x onerror="window.__xss=(window.__xss||0)+1000">社区'
QUARTERS = ((250, 250), (750, 250), (250, 750), (750, 750))
STATION = "community_service_station"


def preset() -> standards.Preset:
    """Taizhou 2023-2025's rules with GB 50180-2018's life-circle levels."""
    rules = standards.load_preset("taizhou-2023")
    return dataclasses.replace(rules, levels=standards.load_preset("gb50180-2018").levels)


def units(xss: bool = False) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(communities, sub-districts) in UTM 50N."""
    x0, y0 = mapcase.origin()
    boxes = [shapely.box(x0 + i * 1000, y0, x0 + (i + 1) * 1000, y0 + 1000) for i in range(2)]
    comm = gpd.GeoDataFrame(
        {"name": ["A", XSS_UNIT if xss else "B"], "households": [3000, 2200], "staff": [20, 5]},
        geometry=boxes,
        crs=mapcase.UTM50,
    )
    subs = gpd.GeoDataFrame(
        {"name": ["S1"]}, geometry=[shapely.union_all(boxes)], crs=mapcase.UTM50
    )
    return comm, subs


def demand() -> gpd.GeoDataFrame:
    x0, y0 = mapcase.origin()
    xy = [(x0 + i * 1000 + dx, y0 + dy) for i in range(2) for dx, dy in QUARTERS]
    return mapcase.points(xy, population=np.repeat([2000.0, 1000.0], 4))


def facilities(xss: bool = False) -> gpd.GeoDataFrame:
    """(type, floor area, x, y from the origin): see the module docstring."""
    x0, y0 = mapcase.origin()
    rows = [
        (STATION, 660.0, 500, 500),
        (STATION, np.nan, 1500, 500),
        ("community_service_centre", 650.0, 600, 500),
        ("kindergarten", np.nan, 250, 500),
        ("volunteer_station", np.nan, 1600, 500),
    ]
    fac = mapcase.points(
        [(x0 + x, y0 + y) for *_, x, y in rows],
        type=[r[0] for r in rows],
        floor_area_m2=[r[1] for r in rows],
    )
    fac["name"] = [f"{r[0]} {k}" for k, r in enumerate(rows)]
    if xss:
        fac.loc[0, "name"] = mapcase.XSS_SITE
    return fac


@cache
def case(xss: bool = False) -> st.Audit:
    """The audit of the two communities (see the module docstring)."""
    comm, subs = units(xss)
    return st.audit(
        None,
        demand(),
        facilities(xss),
        preset=preset(),
        communities=comm,
        subdistricts=subs,
    )
