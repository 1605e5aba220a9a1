"""Snapping points to the nearest edge, access walks, links and same-edge walks, by hand.

The network (metres, no simplification, so edge indices are the segment order)::

                C (100,100)
                ^
                | e1: B -> C one-way, 100 m
                |
    A (0,0) --- B (100,0) ====== D (300,0)
          e0 two-way   e2 two-way, factor 2 (stairs), 200 m
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import shapely

from siting.errors import ParameterError
from siting.network._edgeindex import _point_segment
from siting.network.graph import Network, grid_network
from siting.network.snap import (
    MAX_SNAP_M,
    Snapped,
    edge_index,
    links,
    same_edge_pairs,
    snap_points,
    snap_points_strtree,
)

UTM = "EPSG:32650"
A, B, C, D = 0, 1, 2, 3


@pytest.fixture(scope="module")
def net() -> Network:
    return Network.from_segments(
        [A, B, B],
        [B, C, D],
        [0.0, 100, 100, 300],
        [0.0, 0, 100, 0],
        UTM,
        factor=[1.0, 1.0, 2.0],
        forward=[True, True, True],
        backward=[True, False, True],
        simplify=False,
    )


def pairs(lk, i):
    """{node: metres} of point i's links."""
    sl = slice(lk.ptr[i], lk.ptr[i + 1])
    return dict(zip(lk.node[sl].tolist(), lk.metres[sl].tolist(), strict=True))


def test_network_as_drawn(net):
    np.testing.assert_array_equal(net.edge_length, [100, 100, 200])
    np.testing.assert_array_equal(net.edge_u, [A, B, B])


def test_snap_offsets_and_access(net, caplog):
    x = [30.0, 103.0, 50.0, -30.0, 250.0, 100.0]
    y = [5.0, 40.0, -700.0, 40.0, 0.0, 0.0]
    with caplog.at_level(logging.WARNING, logger="siting.network.snap"):
        s = snap_points(net, x, y)
    assert len(s) == 6
    np.testing.assert_array_equal(s.snapped, [True, True, False, True, True, True])
    assert s.n_unsnapped == 1
    assert s.max_snap_m == MAX_SNAP_M == 500.0
    assert "1 of 6 points are farther than 500 m" in caplog.text
    # p0 above e0; p1 beside the one-way e1; p2 700 m south of e0 (> 500 m)
    assert s.edge[0] == 0 and s.offset_m[0] == pytest.approx(30) and s.access_m[0] == 5
    assert s.edge[1] == 1 and s.offset_m[1] == pytest.approx(40) and s.access_m[1] == 3
    assert s.edge[2] == -1 and np.isinf(s.access_m[2])
    # p3 beyond the end of e0: joins at A (offset 0), access sqrt(30² + 40²) = 50
    assert s.edge[3] == 0 and s.offset_m[3] == 0 and s.access_m[3] == pytest.approx(50)
    # p4 on e2 itself, 150 m from B
    assert s.edge[4] == 2 and s.offset_m[4] == pytest.approx(150) and s.access_m[4] == 0
    # p5 exactly at node B: some edge at B, at B's end of it
    e = s.edge[5]
    assert s.access_m[5] == 0
    assert s.offset_m[5] == pytest.approx(0 if net.edge_u[e] == B else net.edge_length[e])


def test_max_snap_is_inclusive_and_checked(net):
    s = snap_points(net, [50.0, 50.0], [20.0, 20.001], max_snap_m=20.0)
    np.testing.assert_array_equal(s.snapped, [True, False])
    assert s.access_m[0] == pytest.approx(20.0)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ParameterError, match="max_snap_m"):
            snap_points(net, [0.0], [0.0], max_snap_m=bad)


def test_snap_no_points(net):
    s = snap_points(net, [], [])
    assert len(s) == 0 and s.n_unsnapped == 0


def test_offset_scaled_to_edge_length():
    # a 100 m drawn segment with a 150 m (e.g. geodesic or hilly) length: offsets in metres
    # of the edge's own length
    net = Network.from_segments([0], [1], [0.0, 100], [0.0, 0], UTM, length=[150.0])
    s = snap_points(net, [40.0], [1.0])
    assert s.offset_m[0] == pytest.approx(60.0)


def test_links_two_way_and_factor(net):
    s = snap_points(net, [30.0, 250.0], [5.0, 0.0])
    for as_source in (True, False):
        lk = links(net, s, as_source=as_source)
        # p0 on e0 at 30 m, access 5: 35 m to/from A, 75 m to/from B
        assert pairs(lk, 0) == pytest.approx({A: 35.0, B: 75.0})
        # p1 on e2 (factor 2) at 150 m from B: 300 m of level walking to B, 100 m to D
        assert pairs(lk, 1) == pytest.approx({B: 300.0, D: 100.0})


def test_links_one_way(net):
    s = snap_points(net, [103.0], [40.0])  # on e1 (B -> C) 40 m from B, access 3
    # leaving the point: only towards C (60 m + 3)
    assert pairs(links(net, s, as_source=True), 0) == pytest.approx({C: 63.0})
    # reaching the point: only from B (40 m + 3)
    assert pairs(links(net, s, as_source=False), 0) == pytest.approx({B: 43.0})


def test_point_at_the_end_of_a_one_way_street_is_at_that_node(net):
    # (100, 130) joins e1 (B -> C) at C, its far end: it is *at* C, so a walk reaching C
    # reaches it, although e1 cannot be walked from C
    s = snap_points(net, [100.0], [130.0])
    assert s.edge[0] == 1 and s.offset_m[0] == 100.0 and s.access_m[0] == pytest.approx(30)
    assert pairs(links(net, s, as_source=False), 0) == pytest.approx({B: 130.0, C: 30.0})
    assert pairs(links(net, s, as_source=True), 0) == pytest.approx({C: 30.0})
    # (100, -20) joins at B, where all three edges tie (e1 is one-way away from B): whichever
    # edge is picked, the point enters and is reached from B after its 20 m access walk
    s = snap_points(net, [100.0], [-20.0])
    assert s.access_m[0] == pytest.approx(20.0)
    for as_source in (True, False):
        assert pairs(links(net, s, as_source=as_source), 0)[B] == pytest.approx(20.0)
    # the same point as if it had been snapped onto e1 (the tie broken the awkward way)
    s1 = Snapped(np.array([1]), np.array([0.0]), np.array([20.0]), np.array([True]), 500.0)
    assert pairs(links(net, s1, as_source=False), 0) == pytest.approx({B: 20.0})
    assert pairs(links(net, s1, as_source=True), 0) == pytest.approx({B: 20.0, C: 120.0})


def test_links_one_way_stored_reversed():
    # the same one-way street stored as C -> B with only the backward direction (B -> C)
    net = Network.from_segments(
        [0, 2],
        [1, 1],
        [0.0, 100, 100],
        [0.0, 0, 100],
        UTM,
        forward=[True, False],
        backward=[True, True],
        simplify=False,
    )
    b, c = 1, 2
    s = snap_points(net, [103.0], [40.0])  # 40 m from B, 60 m from C
    assert s.edge[0] == 1 and s.offset_m[0] == pytest.approx(60.0)
    assert pairs(links(net, s, as_source=True), 0) == pytest.approx({c: 63.0})
    assert pairs(links(net, s, as_source=False), 0) == pytest.approx({b: 43.0})


def test_links_skip_unsnapped(net):
    s = snap_points(net, [30.0, 5000.0, 30.0], [5.0, 0.0, -5.0])
    lk = links(net, s, as_source=True)
    assert lk.n_points == 3
    assert pairs(lk, 1) == {}
    assert pairs(lk, 2) == pytest.approx({A: 35.0, B: 75.0})


def test_same_edge_pairs(net):
    #          site 0 on e0 @20 (2)   site 1 on e1 @30 (1)    site 2 on e2 @50 (0)
    sites = snap_points(net, [20.0, 101.0, 150.0], [2.0, 30.0, 0.0])
    # demand: e0 @70 (1); e1 @60 (1) ahead on the one-way; e1 @10 (2) behind it;
    #         e2 @150 (4); e1 @30 (4) level with site 1; far away (unsnapped)
    demand = snap_points(
        net, [70.0, 99.0, 102.0, 250.0, 104.0, 9000.0], [-1.0, 60.0, 10.0, 4.0, 30.0, 0.0]
    )
    np.testing.assert_array_equal(demand.edge, [0, 1, 1, 2, 1, -1])
    si, di, m = same_edge_pairs(net, sites, demand, limit_m=1e6)
    got = {(int(a), int(b)): float(c) for a, b, c in zip(si, di, m, strict=True)}
    assert got == pytest.approx(
        {
            (0, 0): 50 + 2 + 1,  # two-way, either order
            (1, 1): 30 + 1 + 1,  # one-way, demand ahead
            (1, 4): 0 + 1 + 4,  # same spot on a one-way street
            (2, 3): 2 * 100 + 0 + 4,  # factor 2
        }
    )  # (1, 2) is behind site 1 on the one-way street: not a direct walk
    si, di, m = same_edge_pairs(net, sites, demand, limit_m=50.0)
    assert sorted(zip(si.tolist(), di.tolist(), strict=True)) == [(1, 1), (1, 4)]


def test_same_edge_pairs_reverse_walk_and_empty(net):
    # demand behind the site on a two-way edge is reached walking backwards
    sites = snap_points(net, [80.0], [0.0])
    demand = snap_points(net, [10.0], [0.0])
    si, di, m = same_edge_pairs(net, sites, demand, limit_m=100.0)
    assert (si.tolist(), di.tolist()) == ([0], [0]) and m[0] == pytest.approx(70.0)
    # site on the one-way street, demand behind it: no direct walk
    sites = snap_points(net, [100.0], [80.0])
    demand = snap_points(net, [100.0], [20.0])
    assert len(same_edge_pairs(net, sites, demand, limit_m=1000.0)[0]) == 0
    # nothing on a shared edge / nothing snapped
    far = snap_points(net, [5000.0], [0.0])
    assert len(same_edge_pairs(net, far, demand, 1000.0)[0]) == 0
    assert len(same_edge_pairs(net, sites, far, 1000.0)[0]) == 0


# ---------------------------------------------------------------------- the grid search
# snap_points searches a compiled grid of edge segments; snap_points_strtree is the
# shapely STRtree search it replaces. They must agree on every point: the same edge (GEOS
# breaks exact ties by its tree's visiting order, so tied points go to the same tree), the
# same access metres bit for bit, offsets within 1e-6 m.


def assert_same_snaps(net, x, y, max_snap_m=MAX_SNAP_M):
    new = snap_points(net, x, y, max_snap_m)
    old = snap_points_strtree(net, x, y, max_snap_m)
    np.testing.assert_array_equal(new.snapped, old.snapped)
    np.testing.assert_array_equal(new.edge, old.edge)
    np.testing.assert_array_equal(new.access_m, old.access_m)
    np.testing.assert_allclose(new.offset_m, old.offset_m, rtol=0, atol=1e-6)
    return new


def test_point_segment_distance_is_geos_bit_for_bit():
    rng = np.random.default_rng(3)
    n = 20_000
    a = rng.uniform(-50, 50, (n, 2)) + np.array([385_000.0, 6_672_000.0])
    b = a + rng.normal(0, 30, (n, 2)) * (rng.random((n, 1)) > 0.05)  # 5 % zero-length
    p = a + rng.normal(0, 40, (n, 2))
    ours = np.array(
        [_point_segment(p[i, 0], p[i, 1], a[i, 0], a[i, 1], b[i, 0], b[i, 1]) for i in range(n)]
    )
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    np.testing.assert_array_equal(ours, shapely.distance(shapely.points(p), lines))


def grid_points(net, n, seed):
    """Random points over (and 700 m around) the network, the nodes themselves (ties
    between every edge at the node) and whole-metre points (ties at cell centres)."""
    rng = np.random.default_rng(seed)
    x0, x1, y0, y1 = net.node_x.min(), net.node_x.max(), net.node_y.min(), net.node_y.max()
    x = np.r_[rng.uniform(x0 - 700, x1 + 700, n), net.node_x, np.round(rng.uniform(x0, x1, n))]
    y = np.r_[rng.uniform(y0 - 700, y1 + 700, n), net.node_y, np.round(rng.uniform(y0, y1, n))]
    return x, y


def test_grid_search_equals_strtree_on_a_grid():
    net = grid_network(120, 80.0, drop=0.1, seed=4)  # 14,000 nodes, 80 m cells
    x, y = grid_points(net, 30_000, seed=5)
    # cell centres: four edges at 40 m, an exact tie broken by GEOS's tree
    cx = np.arange(40.0, 80 * 20, 80.0)
    x, y = np.r_[x, np.repeat(cx, len(cx))], np.r_[y, np.tile(cx, len(cx))]
    s = assert_same_snaps(net, x, y)
    assert s.snapped.mean() > 0.8 and (~s.snapped).sum() > 1000
    edge, *_, tied = edge_index(net).nearest(x, y, MAX_SNAP_M)
    assert tied.sum() > 5000  # the ties were there to break
    # and GEOS does not break them by the lowest (or the highest) edge index
    assert (edge[tied] != s.edge[tied]).any()


def test_grid_search_long_slanted_segments_and_polylines():
    # long diagonal edges (filed in many cells), short ones, and polylines with vertices
    rng = np.random.default_rng(6)
    n = 300
    x = rng.uniform(0, 5000, n)
    y = rng.uniform(0, 3000, n)
    u = rng.integers(0, n, 600)
    v = rng.integers(0, n, 600)
    keep = u != v
    net = Network.from_segments(u[keep], v[keep], x, y, UTM, simplify=False, keep="all")
    px, py = rng.uniform(-600, 5600, 8000), rng.uniform(-600, 3600, 8000)
    assert_same_snaps(net, px, py)
    assert_same_snaps(net, px, py, max_snap_m=20.0)
    # a network of long polylines (degree-2 chains merged into one edge each)
    t = np.linspace(0, 6 * np.pi, 2000)
    wx, wy = 3000 * t / t[-1], 400 * np.sin(t)
    chain = Network.from_segments(np.arange(1999), np.arange(1, 2000), wx, wy, UTM, simplify=True)
    assert chain.n_edges == 1
    assert_same_snaps(chain, rng.uniform(-100, 3100, 4000), rng.uniform(-500, 500, 4000))


def test_grid_search_equals_strtree_on_helsinki(helsinki_network):
    x, y = grid_points(helsinki_network, 30_000, seed=7)
    assert_same_snaps(helsinki_network, x, y)


def test_grid_search_equals_strtree_on_liechtenstein(liechtenstein_network):
    x, y = grid_points(liechtenstein_network, 30_000, seed=8)
    assert_same_snaps(liechtenstein_network, x, y)


def test_snap_is_cached_and_ignores_missing_coordinates(net):
    s = snap_points(net, [np.nan, 30.0, np.inf], [0.0, 5.0, 0.0])
    np.testing.assert_array_equal(s.snapped, [False, True, False])
    assert edge_index(net) is edge_index(net)
