"""The walking Network: chain simplification, components, directions, validation, I/O.

Distances are checked against scipy.sparse.csgraph on a reference adjacency built here
from the raw segments (not from Network's own CSR), so simplification and the CSR build
are both under test.
"""

from __future__ import annotations

import contextlib
import itertools

import networkx as nx
import numpy as np
import pyproj
import pytest
import shapely
from scipy.sparse.csgraph import connected_components, csgraph_from_dense, dijkstra

from siting.errors import CRSError, DataError, NetworkError, OutputExistsError, ParameterError
from siting.network.graph import Network, grid_network

UTM = "EPSG:32635"


# ---------------------------------------------------------------------- helpers
def reference_distances(n, u, v, length, factor, fw, bw) -> np.ndarray:
    """All-pairs walking cost from the raw segments: cheapest parallel edge, no loops."""
    W = np.full((n, n), np.inf)
    for a, b, ln, f, F, B in zip(u, v, length, factor, fw, bw, strict=True):
        if a == b:
            continue
        c = ln * f
        if F:
            W[a, b] = min(W[a, b], c)
        if B:
            W[b, a] = min(W[b, a], c)
    return dijkstra(csgraph_from_dense(W, null_value=np.inf))


def random_city(seed: int):
    """Hubs joined by chains of interstitial nodes, with every awkward case mixed in.

    Chains (0-4 interstitial nodes), lollipop loops from a hub back to itself, parallel
    chains between the same hubs, self-loops, duplicated segments, one-way chains in
    either segment orientation, per-segment one-way flips, per-chain and per-segment
    factors, and a separate pure ring.
    """
    rng = np.random.default_rng(seed)
    hubs = int(rng.integers(3, 7))
    xs = list(rng.uniform(0, 1000, hubs))
    ys = list(rng.uniform(0, 1000, hubs))
    U, V, F, FW, BW = [], [], [], [], []

    def node(x, y):
        xs.append(x)
        ys.append(y)
        return len(xs) - 1

    def seg(a, b, f=1.0, fw=True, bw=True):
        if rng.random() < 0.3:  # store some segments reversed (v -> u)
            a, b, fw, bw = b, a, bw, fw
        U.append(a)
        V.append(b)
        F.append(f)
        FW.append(fw)
        BW.append(bw)

    for _ in range(int(rng.integers(hubs, 3 * hubs))):
        a, b = (int(h) for h in rng.integers(0, hubs, 2))
        k = int(rng.integers(0, 5))
        if a == b:
            k = max(k, 2)  # a loop back to the same hub needs two interstitial nodes
        path = [a]
        for j in range(1, k + 1):
            t = j / (k + 1)
            path.append(
                node(
                    xs[a] + t * (xs[b] - xs[a]) + rng.normal(0, 30),
                    ys[a] + t * (ys[b] - ys[a]) + rng.normal(0, 30),
                )
            )
        path.append(b)
        mode = rng.choice(["two", "two", "oneway", "mixed"])
        chain_f = float(rng.choice([1.0, 1.0, 2.0]))
        for p, q in itertools.pairwise(path):
            f = chain_f if rng.random() < 0.85 else 1.5
            if mode == "two":
                seg(p, q, f)
            elif mode == "oneway":
                seg(p, q, f, True, False)
            else:
                fw = bool(rng.random() < 0.7)
                seg(p, q, f, fw, (not fw) or bool(rng.random() < 0.5))
    for _ in range(int(rng.integers(0, 3))):  # self-loops on hubs
        h = int(rng.integers(0, hubs))
        seg(h, h, 1.0)
    dups = []
    for _ in range(int(rng.integers(0, 3))):  # duplicate a random segment (other length)
        i = int(rng.integers(0, len(U)))
        dups.append(len(U))
        U.append(U[i])
        V.append(V[i])
        F.append(F[i])
        FW.append(FW[i])
        BW.append(BW[i])
    ring = [node(2000 + 50 * np.cos(t), 50 * np.sin(t)) for t in np.linspace(0, 6, 6)]
    for p, q in itertools.pairwise([*ring, ring[0]]):
        seg(p, q)
    n = len(xs)
    u, v = np.array(U), np.array(V)
    x, y = np.array(xs), np.array(ys)
    length = np.hypot(x[u] - x[v], y[u] - y[v]) * rng.uniform(1.0, 1.3, len(u))
    length[u == v] = rng.uniform(20, 60, (u == v).sum())
    length[dups] *= 1.5  # duplicates are longer parallel edges
    return n, u, v, x, y, length, np.array(F), np.array(FW), np.array(BW)


def net_distances(net: Network) -> np.ndarray:
    return dijkstra(net.csr())


def line(n_nodes, step=10.0, **kw) -> Network:
    """A straight path 0-1-...-(n-1) along the x axis."""
    k = np.arange(n_nodes - 1)
    return Network.from_segments(k, k + 1, np.arange(n_nodes) * step, np.zeros(n_nodes), UTM, **kw)


# ---------------------------------------------------------------------- simplification
@pytest.mark.parametrize("seed", range(25))
def test_simplify_preserves_distances_between_kept_nodes(seed):
    n, u, v, x, y, length, f, fw, bw = random_city(seed)
    ref = reference_distances(n, u, v, length, f, fw, bw)
    raw = Network.from_segments(
        u,
        v,
        x,
        y,
        UTM,
        length=length,
        factor=f,
        forward=fw,
        backward=bw,
        simplify=False,
        keep="all",
    )
    simp = Network.from_segments(
        u, v, x, y, UTM, length=length, factor=f, forward=fw, backward=bw, simplify=True, keep="all"
    )
    # unsimplified: same nodes, same distances as the reference
    used = np.unique(np.r_[u, v])
    np.testing.assert_array_equal(raw.node_id, used)
    np.testing.assert_allclose(net_distances(raw), ref[np.ix_(used, used)], rtol=1e-12)
    # simplified: fewer nodes, and the kept ones are at the same distances
    kept = simp.node_id
    assert simp.n_nodes < raw.n_nodes
    assert simp.info["simplified_from_nodes"] == len(used)
    np.testing.assert_allclose(net_distances(simp), ref[np.ix_(kept, kept)], rtol=1e-9)
    # nothing lost: every segment's metres are in exactly one merged edge
    assert simp.edge_length.sum() == pytest.approx(length.sum(), rel=1e-12)
    assert (simp.edge_length * simp.edge_factor).sum() == pytest.approx(
        (length * f).sum(), rel=1e-12
    )
    # merged geometries start at u, end at v and visit only input nodes
    gx, gy = simp.node_x, simp.node_y
    for k, g in enumerate(simp.edge_geometry):
        c = shapely.get_coordinates(g)
        assert tuple(c[0]) == (gx[simp.edge_u[k]], gy[simp.edge_u[k]])
        assert tuple(c[-1]) == (gx[simp.edge_v[k]], gy[simp.edge_v[k]])
    # every interstitial node removed was a plain degree-2 node of the input
    deg = np.bincount(np.r_[u, v], minlength=n)
    removed = np.setdiff1d(used, kept)
    assert (deg[removed] == 2).all()


@pytest.mark.parametrize("seed", range(5))
def test_simplify_with_largest_component(seed):
    n, u, v, x, y, length, f, fw, bw = random_city(seed)
    ref = reference_distances(n, u, v, length, f, fw, bw)
    simp = Network.from_segments(u, v, x, y, UTM, length=length, factor=f, forward=fw, backward=bw)
    kept = simp.node_id
    np.testing.assert_allclose(net_distances(simp), ref[np.ix_(kept, kept)], rtol=1e-9)
    _, label = connected_components(simp.csr(), directed=True, connection="weak")
    assert label.max() == 0  # one component


def test_chain_collapses_to_one_edge_with_full_geometry():
    # a bent street 0-1-2-3-4; lengths 10, 10, 10, 5 (straight default)
    x = np.array([0.0, 10, 10, 20, 25])
    y = np.array([0.0, 0, 10, 10, 10])
    net = Network.from_segments([0, 1, 2, 3], [1, 2, 3, 4], x, y, UTM)
    assert (net.n_nodes, net.n_edges) == (2, 1)
    assert net.edge_length[0] == pytest.approx(35.0)
    coords = shapely.get_coordinates(net.edge_geometry[0])
    np.testing.assert_array_equal(coords, np.column_stack([x, y]))
    assert shapely.length(net.edge_geometry[0]) == pytest.approx(net.edge_length[0])
    assert set(net.node_id) == {0, 4}
    # the interstitial nodes lie on the geometry
    assert shapely.distance(net.edge_geometry[0], shapely.points(x[1:4], y[1:4])).max() == 0


def test_chain_geometry_when_segments_are_stored_reversed():
    x = np.array([0.0, 10, 10, 20])
    y = np.array([0.0, 0, 10, 10])
    net = Network.from_segments([1, 1, 3], [0, 2, 2], x, y, UTM)  # 1-0, 1-2, 3-2
    (g,) = net.edge_geometry
    c = shapely.get_coordinates(g)
    start = (net.node_x[net.edge_u[0]], net.node_y[net.edge_u[0]])
    want = np.column_stack([x, y]) if start == (0.0, 0.0) else np.column_stack([x, y])[::-1]
    np.testing.assert_array_equal(c, want)
    assert net.edge_length[0] == pytest.approx(30.0)


def test_pure_ring_becomes_one_loop_edge():
    t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    x, y = 100 * np.cos(t), 100 * np.sin(t)
    k = np.arange(8)
    net = Network.from_segments(k, (k + 1) % 8, x, y, UTM)
    assert (net.n_nodes, net.n_edges) == (1, 1)
    assert net.edge_u[0] == net.edge_v[0]
    side = np.hypot(x[1] - x[0], y[1] - y[0])
    assert net.edge_length[0] == pytest.approx(8 * side)
    ring = net.edge_geometry[0]
    assert ring.is_closed
    assert shapely.get_num_coordinates(ring) == 9
    assert shapely.distance(ring, shapely.points(x, y)).max() == pytest.approx(0, abs=1e-9)


def test_oneway_chain_stays_oneway():
    # 0 -> 1 -> 2 -> 3 one way; segment 1-2 stored as (2, 1) with backward only
    x = np.array([0.0, 10, 20, 30])
    net = Network.from_segments(
        [0, 2, 2],
        [1, 1, 3],
        x,
        np.zeros(4),
        UTM,
        forward=[True, False, True],
        backward=[False, True, False],
    )
    assert net.n_edges == 1
    d = net_distances(net)
    a, b = (int(np.flatnonzero(net.node_id == i)[0]) for i in (0, 3))
    assert d[a, b] == pytest.approx(30.0)
    assert np.isinf(d[b, a])


def test_direction_change_keeps_the_node():
    # 0 -> 1 one-way, then 1 - 2 two-way: node 1 must stay
    net = line(3, forward=[True, True], backward=[False, True])
    assert sorted(net.node_id) == [0, 1, 2]
    d = net_distances(net)
    assert d[0, 2] == pytest.approx(20.0)
    assert d[2, 1] == pytest.approx(10.0)
    assert np.isinf(d[2, 0])


def test_factor_change_keeps_the_node_and_costs_scale():
    net = line(4, factor=[1.0, 2.0, 2.0])
    assert sorted(net.node_id) == [0, 1, 3]
    d = net_distances(net)
    assert d[0, 2] == pytest.approx(10 + 2 * 20)
    assert net.total_length_km == pytest.approx(0.03)


def test_parallel_edges_and_self_loops():
    # 0 = 1 (two parallel streets, 10 m and 25 m), self-loop at 1, then 1 - 2
    x = np.array([0.0, 10, 20])
    net = Network.from_segments(
        [0, 0, 1, 1], [1, 1, 1, 2], x, np.zeros(3), UTM, length=[10.0, 25.0, 40.0, 10.0]
    )
    assert net.n_edges == 4  # nothing merged: parallel edges and the loop are kept
    assert net.total_length_km == pytest.approx(0.085)
    d = net_distances(net)
    assert d[0, 2] == pytest.approx(20.0)
    assert len(net.weights) == 4  # cheapest of the parallel pair, no self-loop, both ways


def test_parallel_oneway_shortcut_is_one_way_only():
    x = np.array([0.0, 100.0])
    net = Network.from_segments(
        [0, 0],
        [1, 1],
        x,
        np.zeros(2),
        UTM,
        length=[100.0, 50.0],
        forward=[True, True],
        backward=[True, False],
    )
    d = net_distances(net)
    assert d[0, 1] == pytest.approx(50.0)
    assert d[1, 0] == pytest.approx(100.0)


# ---------------------------------------------------------------------- components
def test_largest_component_kept_and_drop_reported():
    # big: 0-1-2-3 (plus branch 1-4), 10 m each; small: 5-6-7 (5 m each); 8 isolated
    x = np.array([0.0, 10, 20, 30, 10, 500, 505, 510, 900])
    y = np.array([0.0, 0, 0, 0, 10, 0, 0, 0, 0])
    net = Network.from_segments([0, 1, 2, 1, 5, 6], [1, 2, 3, 4, 6, 7], x, y, UTM, simplify=False)
    assert sorted(net.node_id) == [0, 1, 2, 3, 4]
    assert net.info["components"] == 2
    assert net.info["dropped_components"] == 1
    assert net.info["dropped_nodes"] == 3
    assert net.info["dropped_length_km"] == pytest.approx(0.010)
    assert net.total_length_km == pytest.approx(0.040)
    every = Network.from_segments(
        [0, 1, 2, 1, 5, 6], [1, 2, 3, 4, 6, 7], x, y, UTM, simplify=False, keep="all"
    )
    assert every.n_nodes == 8  # the isolated node is in no segment
    with pytest.raises(ParameterError, match="keep="):
        Network.from_segments([0], [1], x[:2], y[:2], UTM, keep="biggest")


def test_largest_component_is_weak_for_oneway_streets():
    # 0 -> 1 -> 2 one-way: weakly connected, must not be split
    net = line(3, forward=[True, True], backward=[False, False], simplify=False)
    assert net.n_nodes == 3
    assert net.info["dropped_nodes"] == 0


# ---------------------------------------------------------------------- validation
def test_empty_network():
    with pytest.raises(NetworkError, match="empty"):
        Network.from_segments([], [], [0.0], [0.0], UTM)


@pytest.mark.parametrize("bad", [-5.0, np.nan, np.inf])
def test_bad_length(bad):
    with pytest.raises(DataError, match="Segment 1 has length"):
        line(4, length=[10.0, bad, 10.0], simplify=False)
    with pytest.raises(DataError, match="Segment 1 has length"):
        line(4, length=[10.0, bad, 10.0])


def test_negative_length_is_not_hidden_by_merging_or_dropping():
    # -5 + 10 + 10 would merge into a plausible 15 m edge
    with pytest.raises(DataError, match="-5"):
        line(4, length=[10.0, -5.0, 10.0])
    # a bad value in a dropped component is still bad data
    x = np.array([0.0, 10, 20, 500, 510])
    with pytest.raises(DataError, match="Segment 2"):
        Network.from_segments([0, 1, 3], [1, 2, 4], x, np.zeros(5), UTM, length=[10.0, 10.0, -1.0])


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_bad_factor(bad):
    with pytest.raises(ParameterError, match="factor"):
        line(4, factor=[1.0, bad, 1.0])


def test_bad_node_index():
    with pytest.raises(DataError, match="node indices"):
        Network.from_segments([0, 1], [1, 3], [0.0, 1, 2], [0.0, 0, 0], UTM)
    with pytest.raises(DataError, match="node indices"):
        Network.from_segments([0, -1], [1, 2], [0.0, 1, 2], [0.0, 0, 0], UTM)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857", "EPSG:2263"])
def test_crs_not_in_metres(crs):
    # degrees; Web Mercator (x2 too long in Helsinki); US survey feet
    with pytest.raises(CRSError, match="not projected in true metres"):
        Network.from_segments([0], [1], [24.9, 24.95], [60.1, 60.1], crs)


def test_direct_constructor_validates_too():
    kw = {
        "crs": UTM,
        "node_x": [0.0, 1],
        "node_y": [0.0, 0],
        "node_id": [0, 1],
        "edge_u": [0],
        "edge_v": [1],
        "edge_factor": [1.0],
        "edge_forward": [True],
        "edge_backward": [True],
        "edge_geometry": None,
    }
    with pytest.raises(DataError, match="Edge 0 has length inf"):
        Network(edge_length=[np.inf], **kw)
    with pytest.raises(DataError, match="Edge 0 has length -1"):
        Network(edge_length=[-1.0], **kw)
    kw["edge_factor"] = [np.inf]
    with pytest.raises(ParameterError, match="Edge 0 has speed factor inf"):
        Network(edge_length=[1.0], **kw)


# ---------------------------------------------------------------------- save / load
def same_network(a: Network, b: Network) -> None:
    for name in (
        "node_x",
        "node_y",
        "node_id",
        "edge_u",
        "edge_v",
        "edge_length",
        "edge_factor",
        "edge_forward",
        "edge_backward",
        "indptr",
        "indices",
        "weights",
    ):
        got, want = getattr(a, name), getattr(b, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert shapely.equals_exact(a.edge_geometry, b.edge_geometry, tolerance=0).all()
    assert a.crs == b.crs
    assert a.info == b.info


def test_save_load_round_trip(tmp_path):
    _, u, v, x, y, length, f, fw, bw = random_city(3)
    net = Network.from_segments(u, v, x, y, UTM, length=length, factor=f, forward=fw, backward=bw)
    path = net.save(tmp_path / "sub" / "city")  # suffix added, folder created
    assert path == tmp_path / "sub" / "city.npz"
    same_network(Network.load(path), net)
    assert sorted(p.name for p in path.parent.iterdir()) == ["city.npz"]


def test_save_refuses_to_overwrite(tmp_path):
    a = line(3)
    b = line(5)
    path = a.save(tmp_path / "n.npz")
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="force=True"):
        b.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["n.npz"]
    b.save(path, force=True)
    same_network(Network.load(path), b)
    assert [p.name for p in tmp_path.iterdir()] == ["n.npz"]


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        line(3).save(tmp_path / "n.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match="no such network file"):
        Network.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="not a siting network file"):
        Network.load(junk)


# ---------------------------------------------------------------------- networkx
@pytest.mark.parametrize("seed", range(8))
def test_networkx_round_trip(seed):
    n, u, v, x, y, length, f, fw, bw = random_city(seed)
    ref = reference_distances(n, u, v, length, f, fw, bw)
    net = Network.from_segments(
        u, v, x, y, UTM, length=length, factor=f, forward=fw, backward=bw, keep="all"
    )
    kept = net.node_id
    G = net.to_networkx()
    assert G.graph["crs"] == net.crs
    assert G.number_of_nodes() == net.n_nodes
    # networkx's own Dijkstra on the exported graph (independent of our CSR)
    for s in range(0, net.n_nodes, 3):
        got = nx.single_source_dijkstra_path_length(G, s, weight="length")
        want = ref[kept[s], kept]
        for t in range(net.n_nodes):
            if np.isfinite(want[t]):
                assert got[t] == pytest.approx(want[t], rel=1e-9)
            else:
                assert t not in got
    back = Network.from_networkx(G)
    np.testing.assert_array_equal(back.node_id, kept)
    np.testing.assert_allclose(net_distances(back), ref[np.ix_(kept, kept)], rtol=1e-9)
    # street shapes survive the round trip (each edge's geometry, in either orientation)
    shapes = {shapely.normalize(g).wkb for g in net.edge_geometry}
    assert {shapely.normalize(g).wkb for g in back.edge_geometry} <= shapes
    for k, g in enumerate(back.edge_geometry):
        c = shapely.get_coordinates(g)
        assert tuple(c[0]) == (back.node_x[back.edge_u[k]], back.node_y[back.edge_u[k]])


def test_from_networkx_asymmetric_parallel_edges():
    # a two-way 100 m street plus a 50 m one-way shortcut 0 -> 1
    G = nx.MultiDiGraph(crs=UTM)
    G.add_node(10, x=0.0, y=0.0)
    G.add_node(20, x=100.0, y=0.0)
    G.add_edge(10, 20, length=100.0)
    G.add_edge(20, 10, length=100.0)
    G.add_edge(10, 20, length=50.0)
    d = net_distances(Network.from_networkx(G))
    assert d[0, 1] == pytest.approx(50.0)
    assert d[1, 0] == pytest.approx(100.0)


def test_from_networkx_keeps_street_geometry():
    bent = shapely.LineString([(0, 0), (50, 40), (100, 0)])
    G = nx.MultiDiGraph(crs=UTM)
    G.add_node(7, x=0.0, y=0.0)
    G.add_node(3, x=100.0, y=0.0)
    G.add_edge(7, 3, length=bent.length, geometry=bent)
    G.add_edge(3, 7, length=bent.length, geometry=bent.reverse())
    net = Network.from_networkx(G)
    assert net.n_edges == 1
    g = net.edge_geometry[0]
    assert g.equals(bent)
    start = (net.node_x[net.edge_u[0]], net.node_y[net.edge_u[0]])
    assert shapely.get_coordinates(g)[0].tolist() == list(start)
    np.testing.assert_array_equal(net.node_id, [7, 3])


def test_from_networkx_errors():
    G = nx.MultiDiGraph(crs="EPSG:4326")
    G.add_node(0, x=24.9, y=60.1)
    G.add_node(1, x=24.91, y=60.1)
    G.add_edge(0, 1, length=500.0)
    with pytest.raises(CRSError, match="project_graph"):
        Network.from_networkx(G)
    G.graph["crs"] = UTM
    G.add_edge(1, 0)
    with pytest.raises(DataError, match="'length'"):
        Network.from_networkx(G)
    H = nx.MultiDiGraph(crs=UTM)
    H.add_node(0, x=0.0, y=0.0)
    with pytest.raises(NetworkError):
        Network.from_networkx(H)


# ---------------------------------------------------------------------- grid
def test_grid_network_layout():
    net = grid_network(4, step_m=50.0)
    assert (net.n_nodes, net.n_edges) == (16, 24)
    assert net.node_x[5] == 50.0 and net.node_y[5] == 50.0
    d = net_distances(net)
    assert d[0, 15] == pytest.approx(300.0)  # Manhattan distance


# ---------------------------------------------------------------------- OSM (Helsinki)
def test_read_network_helsinki(helsinki_network):
    net = helsinki_network
    assert net.crs == pyproj.CRS.from_epsg(32635)  # UTM 35N, chosen from the data
    assert 75.0 < net.total_length_km < 85.0  # ~80.5 km of walkable streets
    assert (net.edge_length > 0).all()
    ncomp, _ = connected_components(net.csr(), directed=True, connection="strong")
    assert ncomp == 1  # walking is two-way: one strongly connected component
    # geodesic lengths agree with the projected geometry (UTM scale error ~0.03 %)
    glen = shapely.length(net.edge_geometry)
    np.testing.assert_allclose(glen, net.edge_length, rtol=2e-3, atol=1e-3)
    info = net.info
    assert info["input_segments"] > net.n_edges
    assert info["dropped_components"] == info["components"] - 1
    assert 0 < info["dropped_length_km"] < 0.1 * net.total_length_km
    # Helsinki is at 60.17 N, 24.94 E: UTM 35N easting ~385 km, northing ~6672 km
    assert 380e3 < np.median(net.node_x) < 390e3
    assert 6665e3 < np.median(net.node_y) < 6680e3


# ---------------------------------------------------------------------- read_network
def test_network_from_osm_frames_by_hand(caplog):
    import pandas as pd

    from siting.io.network import STAIRS_FACTORS, network_from_osm_frames

    # four OSM nodes up a meridian in Wuhan, 0.001° of latitude apart (110.9 m each)
    nodes = pd.DataFrame(
        {"id": [40, 10, 30, 20], "lon": [114.3] * 4, "lat": [30.603, 30.600, 30.602, 30.601]}
    )
    edges = pd.DataFrame(
        {
            "u": [10, 20, 30, 30],
            "v": [20, 30, 40, 99],
            "highway": ["footway", "footway", "steps", "footway"],
        }
    )
    geod = pyproj.Geod(ellps="WGS84")
    lat = [30.600, 30.601, 30.602, 30.603]
    steps = [geod.inv(114.3, a, 114.3, b)[2] for a, b in itertools.pairwise(lat)]
    assert steps == pytest.approx([110.9] * 3, abs=0.1)
    net = network_from_osm_frames(nodes, edges)
    assert "1 edges refer to unknown nodes" in caplog.text
    assert net.crs == pyproj.CRS.from_epsg(32650)
    assert (net.n_nodes, net.n_edges) == (2, 1)  # one street, 10 -> 40
    assert net.edge_length[0] == pytest.approx(sum(steps), rel=1e-12)
    assert sorted(net.node_id) == [10, 40]
    # the last segment is stairs: with factors it costs double and node 30 stays
    net = network_from_osm_frames(nodes, edges, factors=STAIRS_FACTORS, crs="EPSG:4547")
    assert net.crs == pyproj.CRS.from_epsg(4547)
    assert sorted(net.node_id) == [10, 30, 40]
    d = net_distances(net)
    a, b = (int(np.flatnonzero(net.node_id == i)[0]) for i in (10, 40))
    assert d[a, b] == pytest.approx(steps[0] + steps[1] + 2 * steps[2], rel=1e-12)
    with pytest.raises(CRSError, match="not a projected metric CRS"):
        network_from_osm_frames(nodes, edges, crs="EPSG:4326")


def test_read_network_dispatch(tmp_path, monkeypatch):
    from siting.io import network as io_network
    from siting.io.network import read_network

    net = line(3)
    path = net.save(tmp_path / "net.npz")
    same_network(read_network(path), net)
    with pytest.raises(DataError, match="no such OSM file"):
        read_network(tmp_path / "city.osm.pbf")
    with pytest.raises(DataError, match="no such file"):
        read_network(tmp_path / "city.geojson")
    other = tmp_path / "streets.csv"
    other.write_text("a,b\n")
    with pytest.raises(DataError, match="unsupported network file"):
        read_network(other)
    # place names (even with a dot) go to osmnx: stubbed, no internet in tests
    asked = []
    monkeypatch.setattr(
        io_network, "_from_osmnx_place", lambda place, crs: asked.append(place) or net
    )
    assert read_network("St. Gallen, Switzerland") is net
    assert read_network("Vaduz, Liechtenstein") is net
    assert asked == ["St. Gallen, Switzerland", "Vaduz, Liechtenstein"]


def test_load_errors_on_broken_files(tmp_path):
    path = line(4).save(tmp_path / "n.npz")
    data = path.read_bytes()
    for name, content in (("half", data[: len(data) // 2]), ("cut", data[:-100]), ("empty", b"")):
        broken = tmp_path / f"{name}.npz"
        broken.write_bytes(content)
        with pytest.raises(DataError, match="not a siting network file"):
            Network.load(broken)
    partial = tmp_path / "partial.npz"
    with np.load(path) as z:
        np.savez(partial, meta=z["meta"])  # no geometry or arrays
    with pytest.raises(DataError, match="truncated"):
        Network.load(partial)


def test_read_network_refuses_options_it_cannot_apply(tmp_path):
    from siting.errors import CRSError, ParameterError
    from siting.io.network import read_network

    path = line(3).save(tmp_path / "net.npz")
    with pytest.raises(ParameterError, match="factors"):
        read_network(path, factors={"steps": 2.0})
    with pytest.raises(ParameterError, match="bbox, keep"):
        read_network(path, bbox=(0, 0, 1, 1), keep="all")
    with pytest.raises(CRSError, match="rebuild"):
        read_network(path, crs="EPSG:3857")
    assert read_network(path, crs=line(3).crs).n_nodes == line(3).n_nodes  # same CRS: fine
    with pytest.raises(DataError, match="no such osmnx graph file"):
        read_network(tmp_path / "missing.graphml")
    bad = tmp_path / "bad.graphml"
    bad.write_text("this is not XML")
    with pytest.raises(DataError, match="not a readable osmnx"):
        read_network(bad)


def test_read_network_bbox_as_polygon(helsinki_pbf):
    from siting.io.network import read_network

    full = read_network(helsinki_pbf)
    box = shapely.box(24.93, 60.165, 24.945, 60.172)
    part = read_network(helsinki_pbf, bbox=box, keep="all")
    assert 0 < part.n_nodes < full.n_nodes


def test_load_of_a_damaged_file_is_a_data_error_or_a_network(tmp_path):
    path = grid_network(12, crs="EPSG:32632").save(tmp_path / "g.npz")
    data = bytearray(path.read_bytes())
    damaged = tmp_path / "damaged.npz"
    for offset in range(0, len(data), max(1, len(data) // 150)):
        copy = bytearray(data)
        copy[offset] ^= 0xFF
        damaged.write_bytes(bytes(copy))
        with contextlib.suppress(DataError):  # other errors fail the test
            Network.load(damaged)  # some bytes (zip comments, padding) do not matter
