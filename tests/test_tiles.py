"""Tiled coverage on Dask equals the single-process matrix: the same pairs, the same metres.

Every test runs the same question twice, once with :func:`siting.coverage` and once
tile by tile on a 2-worker ``LocalCluster``, and compares the sparse matrices entry by
entry (bit-identical metres).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import local_client

import siting as st
from siting.errors import ParameterError
from siting.network.graph import Network, grid_network
from siting.network.snap import links, snap_points
from siting.tiles import cost_ratio, site_tiles, tiled_coverage, tiled_distances

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with local_client(processes=True) as c:
        yield c


def points(net, n, seed, pad=300.0, population=True):
    rng = np.random.default_rng(seed)
    x = rng.uniform(net.node_x.min() - pad, net.node_x.max() + pad, n)
    y = rng.uniform(net.node_y.min() - pad, net.node_y.max() + pad, n)
    data = {"population": rng.integers(1, 50, n).astype(float)} if population else {}
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(x, y), crs=net.crs)


def assert_same_matrix(a, b):
    A, B = a.distance.tocsr().copy(), b.distance.tocsr().copy()
    A.sort_indices()
    B.sort_indices()
    assert A.shape == B.shape
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    np.testing.assert_array_equal(A.data, B.data)  # bit for bit
    assert A.nnz > 0


def both(net, demand, cands, client, **kw):
    minutes = kw.pop("minutes", 15.0)
    one = st.coverage(net, demand, None, cands, cache=False, minutes=minutes)
    tiled = tiled_coverage(
        net, demand, None, cands, cache=False, client=client, minutes=minutes, **kw
    )
    return one, tiled


# fast: test_tiled_equals_single_process_on_liechtenstein (the issue-22 case)
@pytest.mark.slow
def test_tiled_equals_single_process_on_a_grid(client):
    net = grid_network(90, 80.0, drop=0.1, seed=2)  # 7 km square, 1.1 km walks
    demand, cands = points(net, 8000, 1), points(net, 400, 2, population=False)
    stats: dict = {}
    one, tiled = both(net, demand, cands, client, tile_m=1500.0)
    assert_same_matrix(one, tiled)
    every = np.ones(one.n_sites, bool)
    assert tiled.stats(sites=every).equals(one.stats(sites=every))
    # many tiles, each much smaller than the network
    xy = cands.geometry.x.to_numpy(), cands.geometry.y.to_numpy()
    ss = snap_points(net, *xy)
    ds = snap_points(net, demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy())
    tiled_distances(
        net,
        links(net, ss, as_source=True),
        links(net, ds, as_source=False),
        one.limit_m,
        tiles=1500.0,
        site_x=xy[0],
        site_y=xy[1],
        client=client,
        stats=stats,
    )
    assert stats["jobs"] >= 16
    assert stats["max_cut_nodes"] < 0.6 * net.n_nodes


def test_tiles_by_district_polygons(client):
    net = grid_network(70, 80.0, drop=0.1, seed=3)
    demand, cands = points(net, 5000, 4), points(net, 300, 5, population=False)
    # four irregular districts that leave a strip of sites in none (a tile of their own)
    side = 70 * 80.0
    districts = gpd.GeoDataFrame(
        geometry=[
            shapely.box(0, 0, side / 2, side / 3),
            shapely.box(side / 2, 0, side, side / 2),
            shapely.Polygon([(0, side / 3), (side / 2, side / 2), (0, side)]),
            shapely.box(side / 2, side / 2, side, side),
        ],
        crs=net.crs,
    )
    one = st.coverage(net, demand, None, cands, cache=False)
    tiled = tiled_coverage(
        net, demand, None, cands, districts=districts, client=client, cache=False
    )
    assert_same_matrix(one, tiled)
    labels = site_tiles(cands.geometry.x.to_numpy(), cands.geometry.y.to_numpy(), districts)
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4}  # 4: the sites in no district


def test_halo_follows_edges_cheaper_than_the_straight_line(client):
    # lengths at half the drawn distance (κ = 0.5): a walk of 1125 m reaches 2250 m away
    # in a straight line, so a halo of only the walking limit would cut paths
    base = grid_network(80, 80.0, drop=0.05, seed=6)
    net = Network(
        crs=base.crs,
        node_x=base.node_x,
        node_y=base.node_y,
        node_id=base.node_id,
        edge_u=base.edge_u,
        edge_v=base.edge_v,
        edge_length=base.edge_length / 2,
        edge_factor=base.edge_factor,
        edge_forward=base.edge_forward,
        edge_backward=base.edge_backward,
        edge_geometry=base.edge_geometry,
    )
    assert cost_ratio(net) == pytest.approx(0.5)
    demand, cands = points(net, 6000, 7), points(net, 300, 8, population=False)
    one, tiled = both(net, demand, cands, client, tile_m=1000.0)
    assert_same_matrix(one, tiled)


def test_tiled_equals_single_process_on_liechtenstein(liechtenstein_network, client):
    net = liechtenstein_network
    demand, cands = points(net, 20_000, 9, pad=0.0), points(net, 1000, 10, population=False)
    one, tiled = both(net, demand, cands, client, tile_m=3000.0, minutes=(5, 10, 15))
    assert_same_matrix(one, tiled)


@pytest.mark.slow
def test_tiled_equals_single_process_on_a_200k_node_grid(client):
    net = grid_network(472, 80.0, drop=0.1, seed=0)
    assert net.n_nodes > 200_000
    demand, cands = points(net, 100_000, 11, pad=0.0), points(net, 3000, 12, population=False)
    one, tiled = both(net, demand, cands, client, tile_m=8000.0)
    assert_same_matrix(one, tiled)


def test_tile_arguments_checked():
    for bad in (0.0, -5.0, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="tile side"):
            site_tiles(np.zeros(3), np.zeros(3), bad)


# starts a second cluster; fast: the equality tests above, on a given LocalCluster
@pytest.mark.slow
def test_default_local_cluster_is_started_and_closed(monkeypatch):
    from siting import tiles

    started = []

    def spy():
        client, cluster = real()
        started.append((client, cluster))
        return client, cluster

    real = tiles._default_client
    monkeypatch.setattr(tiles, "_default_client", spy)
    net = grid_network(40, 80.0, drop=0.1, seed=9)
    demand, cands = points(net, 1500, 13), points(net, 80, 14, population=False)
    one = st.coverage(net, demand, None, cands, cache=False)
    tiled = tiled_coverage(net, demand, None, cands, tile_m=1200.0, cache=False)  # no client
    assert_same_matrix(one, tiled)
    ((client, cluster),) = started  # one LocalCluster, started and closed by the call
    assert client.status == "closed"
    assert cluster.status == distributed.core.Status.closed
