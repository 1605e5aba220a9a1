"""Coverage: walking distances by hand, thresholds, statistics, circle vs network, inputs.

The hand-built network (metres, EPSG:32635 offset to central Helsinki)::

                 D (100,100)
                 |
                 | e2
                 |
    A (0,0) ---- B (100,0) ---- C (200,0)
            e0             e1

Site S (existing) at (40, 10): on e0, 40 m from A, access 10.
Site K (candidate) at (300, 0): joins e1 at C (100 m from B), access 100.
Demand (population, district):
    d0 (160, -5)   100 north   e1 @60, access 5
    d1 (95, 70)     50 north   e2 @70, access 5
    d2 (10, 3)      30 south   e0 @10, access 3   (same edge as S: direct walk)
    d3 (250, 0)     20 south   e1 @100 (at C), access 50
    d4 (5000, 5000) 10 south   beyond the 500 m access limit: unsnapped
Walks S -> d: 10+60+60+5 = 135; 10+60+70+5 = 145; 10+30+3 = 43; 10+60+100+50 = 220.
Walks K -> d: 100+40+5 = 145; 100+100+70+5 = 275; 100+100+90+3 = 293; 100+0+50 = 150.
At 6 km/h one minute is 100 m: 1.5 min = 150 m, 3 min = 300 m.
"""

from __future__ import annotations

import itertools
import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from siting.errors import CRSError, DataError, MissingColumnError, NetworkError, ParameterError
from siting.measure import candidate_sites, coverage, walk_metres
from siting.network.graph import Network, grid_network

UTM = "EPSG:32635"
X0, Y0 = 385_000.0, 6_672_000.0  # central Helsinki in UTM 35N
ORIGIN = np.array([X0, Y0])
INF = np.inf

S_WALK = [135.0, 145.0, 43.0, 220.0, INF]
K_WALK = [145.0, 275.0, 293.0, 150.0, INF]


def pts(xy, crs=UTM, **cols) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, float)
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


def t_network(oneway_e1: bool = False) -> Network:
    return Network.from_segments(
        [0, 1, 1],
        [1, 2, 3],
        X0 + np.array([0.0, 100, 200, 100]),
        Y0 + np.array([0.0, 0, 0, 100]),
        UTM,
        backward=[True, not oneway_e1, True],
        simplify=False,
    )


DEMAND_XY = np.array([(160, -5), (95, 70), (10, 3), (250, 0), (5000, 5000)], float)
POP = [100.0, 50.0, 30.0, 20.0, 10.0]
DISTRICT = ["north", "north", "south", "south", "south"]


def demand(crs=UTM, **override):
    cols = {"population": POP, "district": DISTRICT} | override
    return pts(DEMAND_XY + ORIGIN, crs, **cols)


def existing():
    return pts([(X0 + 40, Y0 + 10)], name=["S"])


def candidates():
    return pts([(X0 + 300, Y0)])


def dense(cov) -> np.ndarray:
    """Sites × demand metres, inf where nothing is stored."""
    out = np.full(cov.distance.shape, np.inf)
    coo = cov.distance.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


@pytest.fixture(scope="module")
def cov():
    return coverage(
        t_network(), demand(), existing(), candidates(), minutes=(1.5, 3), speed_kmh=6.0
    )


# ---------------------------------------------------------------------- distances
def test_walks_by_hand(cov):
    assert cov.limit_m == pytest.approx(300.0)
    assert cov.minutes == (1.5, 3)
    np.testing.assert_allclose(dense(cov), [S_WALK, [145, 275, 293, 150, INF]], rtol=1e-12)
    np.testing.assert_array_equal(cov.existing, [True, False])
    np.testing.assert_array_equal(cov.sites["cost"], [0.0, 1.0])
    np.testing.assert_array_equal(cov.demand["snapped"], [True] * 4 + [False])
    np.testing.assert_allclose(cov.demand["access_m"], [5, 5, 3, 50, INF])
    np.testing.assert_allclose(cov.sites["access_m"], [10, 100])


def test_threshold_filters(cov):
    A = cov.matrix(1.5).toarray()
    assert A.dtype == bool and A.shape == (5, 2)
    np.testing.assert_array_equal(A, [[1, 1], [1, 0], [1, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(cov.matrix(metres=150.0).toarray(), A)
    np.testing.assert_array_equal(cov.matrix(metres=144.9).toarray()[:, 0], [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(cov.matrix().toarray(), [[1, 1], [1, 1], [1, 1], [1, 1], [0, 0]])
    np.testing.assert_allclose(
        cov.distance_matrix().toarray(), np.where(np.isinf(dense(cov)), 0, dense(cov)).T
    )
    np.testing.assert_allclose(cov.nearest_m(), S_WALK)  # existing sites by default
    np.testing.assert_allclose(cov.nearest_m([1]), [*K_WALK[:3], 150, INF])
    np.testing.assert_allclose(cov.nearest_m([1], minutes=1.5), [145, INF, INF, 150, INF])
    np.testing.assert_allclose(cov.nearest_m(np.array([True, True])), [135, 145, 43, 150, INF])
    np.testing.assert_array_equal(cov.covered(minutes=1.5), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(cov.coverable(minutes=1.5), [1, 1, 1, 1, 0])
    np.testing.assert_array_equal(cov.nearest_m(np.array([False, False])), [INF] * 5)


def test_filtering_leaves_the_distances_alone(cov):
    before = dense(cov)
    cov.matrix(1.5)
    cov.matrix(metres=50.0)
    cov.stats(minutes=1.5)
    np.testing.assert_array_equal(dense(cov), before)
    assert cov.pairs == 8


def test_threshold_beyond_limit(cov):
    for call in (
        lambda: cov.matrix(4),
        lambda: cov.matrix(metres=301.0),
        lambda: cov.nearest_m(minutes=3.5),
        lambda: cov.stats(minutes=[1.5, 4]),
    ):
        with pytest.raises(ParameterError, match="beyond the 300 m computed"):
            call()
    with pytest.raises(ParameterError, match="threshold"):
        cov.matrix(metres=0.0)
    with pytest.raises(ParameterError, match="site mask"):
        cov.nearest_m(np.array([True]))


def test_same_edge_direct_walk_beats_the_detour():
    # S and d2 share e0: direct 30 m (+ access) versus 50 m via A
    c = coverage(t_network(), demand(), existing(), minutes=1, speed_kmh=6.0)
    assert dense(c)[0, 2] == pytest.approx(43.0)


def test_one_way_street():
    # e1 one-way B -> C: K (at C) cannot walk back to d0; d3 is on K's spot of the street
    c = coverage(
        t_network(oneway_e1=True), demand(), existing(), candidates(), minutes=3, speed_kmh=6.0
    )
    np.testing.assert_allclose(dense(c), [S_WALK, [INF, INF, INF, 150, INF]])


def test_ring_street_both_ways_round():
    # a 400 m square block street with no junction: simplified to a single loop edge
    sq = np.array([(0.0, 0.0), (100, 0), (100, 100), (0, 100)]) + ORIGIN
    net = Network.from_segments([0, 1, 2, 3], [1, 2, 3, 0], sq[:, 0], sq[:, 1], UTM)
    assert (net.n_nodes, net.n_edges) == (1, 1)
    d = pts(
        np.array([(-1.0, 50), (101, 60), (50, 101), (60, -1)]) + ORIGIN, population=[1, 1, 1, 1]
    )
    c = coverage(net, d, pts([(X0 + 50, Y0 - 1)]), threshold_m=400.0)
    # site 50 m along the bottom side; walks go whichever way round is shorter
    np.testing.assert_allclose(dense(c)[0], [100 + 2, 110 + 2, 200 + 2, 10 + 2])


def test_minutes_to_metres():
    assert walk_metres(15, 4.5) == pytest.approx(1125.0)
    assert walk_metres(10, 6.0) == pytest.approx(1000.0)
    c = coverage(t_network(), demand(), existing())
    assert c.limit_m == pytest.approx(1125.0)
    assert c.speed_kmh == 4.5
    c = coverage(t_network(), demand(), existing(), threshold_m=140.0)
    assert c.limit_m == 140.0
    np.testing.assert_allclose(dense(c)[0], [135, INF, 43, INF, INF])


# ---------------------------------------------------------------------- statistics
def test_stats_by_district(cov):
    st = cov.stats(by="district", minutes=1.5)
    assert list(st.index) == ["north", "south", "total"]
    assert st.index.name == "district"
    np.testing.assert_allclose(st["minutes"], 1.5)
    np.testing.assert_allclose(st["population"], [150, 60, 210])
    np.testing.assert_allclose(st["covered"], [150, 30, 180])
    np.testing.assert_allclose(st["uncovered"], [0, 30, 30])
    np.testing.assert_allclose(st["covered"] + st["uncovered"], st["population"])
    np.testing.assert_allclose(st["share"], [1.0, 0.5, 180 / 210])
    np.testing.assert_array_equal(st["demand_points"], [2, 3, 5])
    # population-weighted walk to the nearest existing site (within the 300 m computed)
    np.testing.assert_allclose(
        st["mean_walk_m"],
        [
            (100 * 135 + 50 * 145) / 150,
            (30 * 43 + 20 * 220) / 50,
            (100 * 135 + 50 * 145 + 30 * 43 + 20 * 220) / 200,
        ],
    )
    # weighted 90th percentile: first walk whose cumulative population reaches 90 %
    np.testing.assert_allclose(st["p90_walk_m"], [145, 220, 145])
    np.testing.assert_allclose(st["beyond_limit"], [0, 10, 10])
    np.testing.assert_allclose(st["unsnapped"], [0, 10, 10])


def test_stats_several_thresholds_and_sites(cov):
    st = cov.stats(minutes=[1.5, 3])
    assert list(st.index) == ["total", "total"]
    np.testing.assert_allclose(st["covered"], [180, 200])
    np.testing.assert_allclose(st["share"], [180 / 210, 200 / 210])
    st = cov.stats(sites=np.array([True, True]), minutes=1.5)
    np.testing.assert_allclose(st["covered"], [200])  # K covers d3 at 150 m
    np.testing.assert_allclose(st["mean_walk_m"], [(13500 + 7250 + 1290 + 20 * 150) / 200])
    st = cov.stats()  # default: every threshold computed
    np.testing.assert_allclose(st["minutes"], [1.5, 3])
    with pytest.raises(MissingColumnError, match="no 'ward' column"):
        cov.stats(by="ward")


def test_stats_households():
    c = coverage(
        t_network(), demand(households=[40, 20, 10, 8, 4]), existing(), minutes=1.5, speed_kmh=6.0
    )
    st = c.stats()
    assert st["households"].iloc[0] == 82
    assert st["covered_households"].iloc[0] == 70


def test_summary(cov):
    s = cov.summary()
    assert s["population"] == 210
    assert s["covered_population"] == 200  # at the 300 m limit, existing site only
    assert s["covered_share"] == pytest.approx(200 / 210)
    assert s["coverable_share"] == pytest.approx(200 / 210)
    assert (s["existing_sites"], s["candidate_sites"], s["demand_points"]) == (1, 1, 5)
    assert s["pairs"] == 8
    assert s["mode"] == "network"


def test_unsnapped_demand_reported(caplog):
    with caplog.at_level(logging.WARNING, logger="siting.measure"):
        c = coverage(t_network(), demand(), existing(), minutes=3, speed_kmh=6.0)
    assert "1 demand points (10 persons) are more than 500 m" in caplog.text
    assert not c.covered()[4]
    assert c.stats()["unsnapped"].iloc[0] == 10


# ---------------------------------------------------------------------- circle mode
def test_circle_mode(cov):
    circ = coverage(
        t_network(),
        demand(),
        existing(),
        candidates(),
        minutes=(1.5, 3),
        speed_kmh=6.0,
        mode="circle",
    )
    assert circ.mode == "circle"
    sxy = np.array([(40.0, 10.0), (300.0, 0.0)])
    euclid = np.hypot(
        sxy[:, None, 0] - DEMAND_XY[None, :, 0], sxy[:, None, 1] - DEMAND_XY[None, :, 1]
    )
    np.testing.assert_allclose(dense(circ), np.where(euclid <= 300, euclid, INF), rtol=1e-9)
    net = dense(cov)
    finite = np.isfinite(net)
    assert (net[finite] >= euclid[finite] - 1e-9).all()
    for minutes in (1.5, 3):
        for sites in (None, np.array([True, True])):
            n_cov = cov.covered(sites, minutes)
            c_cov = circ.covered(sites, minutes)
            assert (c_cov | ~n_cov).all()  # circle coverage contains network coverage
    # the difference planners want to see: d3 is 210 m from S as the crow flies, 220 walking
    assert circ.covered(minutes=2.15)[3] and not cov.covered(minutes=2.15)[3]


def test_circle_mode_coincident_points_stored():
    c = coverage(
        None,
        pts([(X0, Y0), (X0 + 50, Y0)], population=[1, 1]),
        pts([(X0, Y0)]),
        mode="circle",
        threshold_m=10.0,
    )
    assert c.distance.nnz == 1
    assert c.distance[0, 0] == 0.0
    np.testing.assert_array_equal(c.covered(), [True, False])


def test_circle_mode_lonlat_uses_metres():
    # 0.01° of latitude at 60.17 N is 1114 m (geodesic), not 0.01
    lon, lat = 24.94, 60.17
    d = pts([(lon, lat + 0.01), (lon + 0.02, lat)], "EPSG:4326", population=[1, 1])
    s = pts([(lon, lat)], "EPSG:4326")
    c = coverage(None, d, s, mode="circle", threshold_m=2000.0)
    geod = pyproj.Geod(ellps="WGS84")
    want = [geod.inv(lon, lat, lon, lat + 0.01)[2], geod.inv(lon, lat, lon + 0.02, lat)[2]]
    assert want[0] == pytest.approx(1114.2, abs=0.5)  # meridian arc at 60 N: 111.42 km/°
    np.testing.assert_allclose(dense(c)[0], want, rtol=1e-3)
    assert pyproj.CRS(c.demand.crs) == pyproj.CRS.from_epsg(32635)


# ---------------------------------------------------------------------- inputs
def test_lonlat_demand_is_reprojected_to_the_network():
    to_ll = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True)
    lon, lat = to_ll.transform(DEMAND_XY[:, 0] + X0, DEMAND_XY[:, 1] + Y0)
    d = pts(np.column_stack([lon, lat]), "EPSG:4326", population=POP)
    slon, slat = to_ll.transform([X0 + 40.0], [Y0 + 10.0])
    s = pts(np.column_stack([slon, slat]), "EPSG:4326")
    c = coverage(t_network(), d, s, minutes=3, speed_kmh=6.0)
    np.testing.assert_allclose(dense(c)[0], S_WALK, rtol=1e-9)
    assert pyproj.CRS(c.demand.crs) == pyproj.CRS(UTM)


def test_polygon_demand_uses_a_point_inside():
    square = shapely.box(X0 + 150, Y0 - 10, X0 + 170, Y0 + 0)  # around d0's street spot
    d = gpd.GeoDataFrame({"population": [5]}, geometry=[square], crs=UTM)
    c = coverage(t_network(), d, existing(), minutes=3, speed_kmh=6.0)
    assert c.demand.geometry.iloc[0].within(square)
    assert np.isfinite(c.nearest_m()[0])


def test_demand_outside_the_network():
    far = pts([(X0 + 9000, Y0), (X0 + 9000, Y0 + 100)], population=[1, 2])
    with pytest.raises(NetworkError, match="do not overlap"):
        coverage(t_network(), far, existing())
    with pytest.raises(NetworkError, match="1 of the 1 existing facilities lie more than 500 m"):
        coverage(t_network(), demand(), pts([(X0 + 9000, Y0)]))


def test_population_checks():
    with pytest.raises(MissingColumnError, match="'population'"):
        coverage(t_network(), pts([(X0, Y0)], people=[3]), existing())
    with pytest.raises(DataError, match=r"row 2, field 'population': -30"):
        coverage(t_network(), demand(population=[100, 50, -30, 20, 10]), existing())
    with pytest.raises(DataError, match=r"row 1, field 'population': 'many'"):
        coverage(t_network(), demand(population=[1, "many", 2, 3, 4]), existing())
    with pytest.raises(DataError, match="row 3"):
        coverage(t_network(), demand(population=[1, 2, 3, np.nan, 4]), existing())


def test_row_reported_by_position_not_label():
    d = demand(population=[1, 2, 3, 4, -1])
    d.index = [10, 20, 30, 40, 50]
    with pytest.raises(DataError, match="row 4"):
        coverage(t_network(), d, existing())


def test_crs_required():
    d = demand()
    d = gpd.GeoDataFrame(d.drop(columns="geometry"), geometry=list(d.geometry))
    with pytest.raises(CRSError, match="has no coordinate reference system"):
        coverage(t_network(), d, existing())


@pytest.mark.parametrize(
    "kw",
    [
        {"minutes": 0},
        {"minutes": -5},
        {"minutes": (5, 0)},
        {"minutes": ()},
        {"minutes": np.nan},
        {"speed_kmh": 0},
        {"speed_kmh": -4.5},
        {"speed_kmh": np.inf},
        {"threshold_m": 0},
        {"threshold_m": -100},
        {"mode": "walk"},
        {"max_snap_m": 0},
    ],
)
def test_bad_parameters(kw):
    with pytest.raises(ParameterError):
        coverage(t_network(), demand(), existing(), **kw)


def test_network_required_and_sites_required():
    with pytest.raises(ParameterError, match="needs a walking network"):
        coverage(None, demand(), existing())
    with pytest.raises(ParameterError, match="No sites"):
        coverage(t_network(), demand(), None, None)
    with pytest.raises(DataError, match="negative"):
        coverage(t_network(), demand(), None, pts([(X0, Y0)], cost=[-1.0]))


# ---------------------------------------------------------------------- random check
def reference_walks(net, s_xy, d_xy, max_snap):
    """Brute-force snap (nearest straight edge) + networkx on edges split at the points."""
    segs = shapely.linestrings(
        np.stack(
            [
                np.column_stack([net.node_x[net.edge_u], net.node_y[net.edge_u]]),
                np.column_stack([net.node_x[net.edge_v], net.node_y[net.edge_v]]),
            ],
            axis=1,
        )
    )
    on_edge: dict[int, list] = {}
    access = {}
    for kind, xy in (("s", s_xy), ("d", d_xy)):
        for i, (x, y) in enumerate(xy):
            p = shapely.Point(x, y)
            dist = shapely.distance(segs, p)
            e = int(np.argmin(dist))
            if dist[e] > max_snap:
                continue
            access[kind, i] = dist[e]
            on_edge.setdefault(e, []).append((segs[e].project(p), (kind, i)))
    G = nx.DiGraph()
    G.add_nodes_from(range(net.n_nodes))
    for e in range(net.n_edges):
        chain = [
            (0.0, int(net.edge_u[e])),
            *sorted(on_edge.get(e, [])),
            (net.edge_length[e], int(net.edge_v[e])),
        ]
        f = net.edge_factor[e]
        for (o1, a), (o2, b) in itertools.pairwise(chain):
            if net.edge_forward[e] or o2 == o1:  # same spot: no direction to obey
                G.add_edge(a, b, w=(o2 - o1) * f)
            if net.edge_backward[e] or o2 == o1:
                G.add_edge(b, a, w=(o2 - o1) * f)
    out = np.full((len(s_xy), len(d_xy)), np.inf)
    for j in range(len(s_xy)):
        if ("s", j) not in access:
            continue
        reach = nx.single_source_dijkstra_path_length(G, ("s", j), weight="w")
        for i in range(len(d_xy)):
            if ("d", i) in reach:
                out[j, i] = access["s", j] + reach["d", i] + access["d", i]
    return out


@pytest.mark.parametrize("seed", range(12))  # 7, 8, 11: points at one-way edge ends
def test_random_grid_against_networkx(seed):
    rng = np.random.default_rng(seed)
    side, step = 6, 80.0
    g = grid_network(side, step_m=step, drop=0.15, seed=seed)
    m = g.n_edges
    fw = rng.random(m) < 0.9
    bw = ~fw | (rng.random(m) < 0.8)
    net = Network.from_segments(
        g.edge_u,
        g.edge_v,
        g.node_x + X0,
        g.node_y + Y0,
        UTM,
        factor=rng.choice([1.0, 1.5], m),
        forward=fw,
        backward=bw,
        simplify=False,
        keep="all",
    )
    d_xy = rng.uniform(-60, side * step + 60, (40, 2))
    s_xy = rng.uniform(0, side * step, (6, 2))
    d_xy[0] = (3000, 3000)  # unsnapped
    ref = reference_walks(net, s_xy + ORIGIN, d_xy + ORIGIN, max_snap=500)
    limit = 350.0
    c = coverage(
        net, pts(d_xy + ORIGIN, population=np.ones(40)), None, pts(s_xy + ORIGIN), threshold_m=limit
    )
    assert not (np.abs(ref - limit) < 1e-6).any()  # nothing on the edge of the limit
    want = np.where(ref <= limit, ref, INF)
    np.testing.assert_allclose(dense(c), want, rtol=1e-9, atol=1e-9)
    assert np.isfinite(want).sum() > 20  # the instance is not trivially empty
    # straight line is never longer than the walk; the circle covers at least as much
    circ = coverage(
        net,
        pts(d_xy + ORIGIN, population=np.ones(40)),
        None,
        pts(s_xy + ORIGIN),
        threshold_m=limit,
        mode="circle",
    )
    euclid = np.hypot(s_xy[:, None, 0] - d_xy[None, :, 0], s_xy[:, None, 1] - d_xy[None, :, 1])
    finite = np.isfinite(want)
    assert (want[finite] >= euclid[finite] - 1e-9).all()
    np.testing.assert_allclose(dense(circ), np.where(euclid <= limit, euclid, INF), rtol=1e-9)
    mask = np.ones(6, bool)
    assert (circ.covered(mask) | ~c.covered(mask)).all()


# ---------------------------------------------------------------------- candidates
def test_candidate_sites_spacing():
    net = grid_network(11, step_m=80.0)  # nodes at 0, 80, ..., 800
    cand = candidate_sites(net, spacing_m=200.0)
    # 200 m cells: x (and y) cells {0,80,160} {240,320} {400,480,560} {640,720} {800}
    assert len(cand) == 25
    assert cand.crs == net.crs
    assert not cand["existing"].any() and (cand["cost"] == 1.0).all()
    x, y = cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy()
    np.testing.assert_array_equal(x, net.node_x[cand["node"]])
    np.testing.assert_array_equal(y, net.node_y[cand["node"]])
    cells = pd.Series(list(zip(x // 200, y // 200, strict=True)))
    assert cells.is_unique
    assert set(np.unique(x)) == {0.0, 240.0, 400.0, 640.0, 800.0}
    with pytest.raises(ParameterError, match="spacing_m"):
        candidate_sites(net, spacing_m=0)


def test_candidate_sites_near_demand_only():
    net = grid_network(11, step_m=80.0)
    d = pts([(10.0, 10.0)], crs=net.crs, population=[5])
    cand = candidate_sites(net, spacing_m=200.0, demand=d)
    assert list(zip(cand.geometry.x, cand.geometry.y, strict=True)) == [(0.0, 0.0)]


def test_cache_reuses_identical_work_and_notices_changes(tmp_path):
    from siting.measure import _CACHE
    from siting.network import grid_network

    net = grid_network(12, 50.0)
    rng = np.random.default_rng(3)
    pts = gpd.GeoDataFrame(
        {"population": rng.integers(1, 50, 40).astype(float)},
        geometry=gpd.points_from_xy(rng.uniform(0, 550, 40), rng.uniform(0, 550, 40)),
        crs=net.crs,
    )
    sites = pts.iloc[:5][["geometry"]]
    _CACHE.clear()
    a = coverage(net, pts, sites, minutes=3, cache_dir=tmp_path)
    assert "cache_hit" not in a.timings
    assert len(list(tmp_path.glob("coverage-*.npz"))) == 1
    b = coverage(net, pts, sites, minutes=3, cache_dir=tmp_path)
    assert b.timings.get("cache_hit") == 1.0
    assert (a.distance != b.distance).nnz == 0
    _CACHE.clear()  # from disk
    c = coverage(net, pts, sites, minutes=3, cache_dir=tmp_path)
    assert c.timings.get("cache_hit") == 1.0
    assert np.array_equal(c.distance.toarray(), a.distance.toarray())
    moved = pts.copy()
    moved.geometry = moved.geometry.translate(7.0, 0.0)
    d = coverage(net, moved, sites, minutes=3, cache_dir=tmp_path)
    assert "cache_hit" not in d.timings
    e = coverage(net, pts, sites, minutes=4, cache_dir=tmp_path)
    assert "cache_hit" not in e.timings


def test_stats_total_row_does_not_clash_with_a_district_called_total():
    from siting.network import grid_network

    net = grid_network(6, 50.0)
    pts = gpd.GeoDataFrame(
        {"population": [10.0, 20.0, 30.0], "district": ["total", "b", "b"]},
        geometry=gpd.points_from_xy([0, 100, 240], [0, 0, 240]),
        crs=net.crs,
    )
    cov = coverage(net, pts, pts.iloc[[0]][["geometry"]], minutes=2)
    table = cov.stats(by="district")
    assert list(table.index) == ["b", "total", "(all)"]
    assert table.loc["(all)", "population"] == 60.0
    assert table.loc["total", "population"] == 10.0
