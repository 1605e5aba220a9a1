"""Bounded multi-source distances (siting.network.paths) against independent references.

* hand-built graphs whose distances are known exactly (dyadic weights: every sum exact);
* a plain heapq Dijkstra written here (same float additions in the same order, so the
  comparison is bit for bit) and scipy's Floyd–Warshall (a different algorithm, compared
  with a tolerance and a limit chosen away from every distance) on many small random
  graphs, directed and undirected, with multi-entry sources, offsets and zero weights;
* scipy.sparse.csgraph.dijkstra(limit=...) on the 224 × 224 grid and on Helsinki:
  identical reachable sets and identical float64 distances.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra, shortest_path

from siting.errors import ParameterError
from siting.network import paths
from siting.network.graph import grid_network
from siting.network.paths import Links, bounded_distances, merge_min, within_limit


# ---------------------------------------------------------------------- helpers
def csr_from_edges(n, u, v, w):
    """CSR adjacency (explicit zero weights kept), one entry per (u, v)."""
    u, v, w = (np.asarray(a) for a in (u, v, w))
    order = np.lexsort((v, u))
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return indptr, v[order].astype(np.int32), w[order].astype(np.float64)


def as_dict(M: sp.csr_matrix) -> dict[tuple[int, int], float]:
    """{(row, col): metres} from the sparsity structure (zeros included)."""
    out = {}
    for r in range(M.shape[0]):
        lo, hi = M.indptr[r], M.indptr[r + 1]
        cols = M.indices[lo:hi].tolist()
        assert len(set(cols)) == len(cols), f"row {r} repeats a column"
        out.update({(r, c): d for c, d in zip(cols, M.data[lo:hi].tolist(), strict=True)})
    return out


def heap_reference(indptr, indices, weights, sources, targets, limit):
    """Plain Dijkstra per source with Python floats: the same sums in the same order."""
    n = len(indptr) - 1
    adj = [
        list(
            zip(
                indices[indptr[a] : indptr[a + 1]].tolist(),
                weights[indptr[a] : indptr[a + 1]].tolist(),
                strict=True,
            )
        )
        for a in range(n)
    ]
    at_node = defaultdict(list)
    for t in range(targets.n_points):
        for k in range(targets.ptr[t], targets.ptr[t + 1]):
            at_node[int(targets.node[k])].append((t, float(targets.metres[k])))
    out = {}
    for s in range(sources.n_points):
        dist: dict[int, float] = {}
        heap = []
        for k in range(sources.ptr[s], sources.ptr[s + 1]):
            a, d0 = int(sources.node[k]), float(sources.metres[k])
            if d0 <= limit and d0 < dist.get(a, math.inf):
                dist[a] = d0
                heapq.heappush(heap, (d0, a))
        while heap:
            d, a = heapq.heappop(heap)
            if d > dist[a]:
                continue
            for b, w in adj[a]:
                c = d + w
                if c <= limit and c < dist.get(b, math.inf):
                    dist[b] = c
                    heapq.heappush(heap, (c, b))
        for a, d in dist.items():
            for t, off in at_node[a]:
                c = d + off
                if c <= limit and c < out.get((s, t), math.inf):
                    out[(s, t)] = c
    return out


def random_graph(rng, directed: bool):
    n = int(rng.integers(2, 40))
    m = int(rng.integers(0, 4 * n))
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    w = rng.uniform(0.0, 10.0, m)
    w[rng.random(m) < 0.1] = 0.0  # zero-length edges
    w[rng.random(m) < 0.1] *= 1e-3  # very short ones (many re-scans within a bucket)
    if not directed:
        u, v, w = np.r_[u, v], np.r_[v, u], np.r_[w, w]
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    key = u * n + v  # one edge per (u, v): the cheapest
    order = np.lexsort((w, key))
    first = np.ones(len(order), bool)
    first[1:] = key[order][1:] != key[order][:-1]
    sel = order[first]
    return n, csr_from_edges(n, u[sel], v[sel], w[sel])


def random_links(rng, n, n_points, max_entries=3, offsets=True):
    counts = rng.integers(0, max_entries + 1, n_points)
    ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    node = rng.integers(0, n, ptr[-1]).astype(np.int32)
    metres = rng.uniform(0.0, 5.0, ptr[-1]) if offsets else np.zeros(ptr[-1])
    if offsets:
        metres[rng.random(ptr[-1]) < 0.2] = 0.0
    return Links(ptr, node, metres)


# ---------------------------------------------------------------------- hand-built cases
#   0 -> 1 (2), 1 -> 2 (3), 2 -> 0 (1): a one-way triangle
#   1 <-> 3 (4) two-way; 3 -> 4 (0.5) one-way; 5 <-> 6 (1): a separate part
HAND = csr_from_edges(
    7,
    [0, 1, 2, 1, 3, 3, 5, 6],
    [1, 2, 0, 3, 1, 4, 6, 5],
    [2.0, 3.0, 1.0, 4.0, 4.0, 0.5, 1.0, 1.0],
)
HAND_ALL = {  # every pair's distance, by hand
    0: {0: 0.0, 1: 2.0, 2: 5.0, 3: 6.0, 4: 6.5},
    1: {1: 0.0, 2: 3.0, 0: 4.0, 3: 4.0, 4: 4.5},
    2: {2: 0.0, 0: 1.0, 1: 3.0, 3: 7.0, 4: 7.5},
    3: {3: 0.0, 4: 0.5, 1: 4.0, 2: 7.0, 0: 8.0},
    4: {4: 0.0},
    5: {5: 0.0, 6: 1.0},
    6: {6: 0.0, 5: 1.0},
}


@pytest.mark.parametrize("limit", [0.25, 0.5, 4.0, 5.0, 6.5, 7.4, 100.0])
def test_hand_built_graph(limit):
    M = bounded_distances(*HAND, Links.at_nodes(np.arange(7)), Links.at_nodes(np.arange(7)), limit)
    want = {(s, t): d for s, row in HAND_ALL.items() for t, d in row.items() if d <= limit}
    assert as_dict(M) == want
    assert M.shape == (7, 7)
    assert M.dtype == np.float64


def test_one_way_edges_are_one_way():
    M = bounded_distances(*HAND, Links.at_nodes([4, 2]), Links.at_nodes(np.arange(7)), 50.0)
    assert as_dict(M) == {(0, 4): 0.0, **{(1, t): d for t, d in HAND_ALL[2].items()}}


def test_disconnected_part_is_not_reached():
    M = bounded_distances(*HAND, Links.at_nodes([5, 0]), Links.at_nodes(np.arange(7)), 1e9)
    assert sorted(M[0].indices) == [5, 6]
    assert sorted(M[1].indices) == [0, 1, 2, 3, 4]


def test_sources_with_several_entries_and_offsets():
    # site 0 enters at node 0 after 1.5 m or at node 3 after 0.25 m; site 1 has no entry
    sources = Links(np.array([0, 2, 2]), np.array([0, 3], np.int32), np.array([1.5, 0.25]))
    M = bounded_distances(*HAND, sources, Links.at_nodes(np.arange(7)), 5.0)
    assert as_dict(M) == {(0, 0): 1.5, (0, 1): 3.5, (0, 3): 0.25, (0, 4): 0.75}
    assert M[1].nnz == 0


def test_targets_with_several_entries_and_offsets():
    # demand 0 is 1 m beyond node 2 or 0.5 m beyond node 4; demand 1 sits at node 6 (+2 m)
    targets = Links(np.array([0, 2, 3]), np.array([2, 4, 6], np.int32), np.array([1.0, 0.5, 2.0]))
    M = bounded_distances(*HAND, Links.at_nodes([0, 1, 5]), targets, 6.0)
    # from 0: via node 2: 5 + 1 = 6; via node 4: 6.5 + 0.5 = 7 -> 6
    # from 1: via 2: 3 + 1 = 4; via 4: 4.5 + 0.5 = 5 -> 4; from 5: node 6 at 1 + 2 = 3
    assert as_dict(M) == {(0, 0): 6.0, (1, 0): 4.0, (2, 1): 3.0}


def test_distance_exactly_at_the_limit_is_included_like_scipy():
    indptr, indices, weights = HAND
    G = sp.csr_matrix((weights, indices, indptr), shape=(7, 7))
    # scipy's own semantic first: a node at exactly `limit` is reached
    assert dijkstra(G, indices=0, limit=5.0)[2] == 5.0
    assert np.isinf(dijkstra(G, indices=0, limit=np.nextafter(5.0, 0))[2])
    ours = bounded_distances(*HAND, Links.at_nodes([0]), Links.at_nodes(np.arange(7)), 5.0)
    assert as_dict(ours)[(0, 2)] == 5.0
    below = np.nextafter(5.0, 0)
    ours = bounded_distances(*HAND, Links.at_nodes([0]), Links.at_nodes(np.arange(7)), below)
    assert (0, 2) not in as_dict(ours)
    # and for offsets: 0.1 + 0.2 = 0.30000000000000004 > 0.3
    src = Links(np.array([0, 1]), np.array([0], np.int32), np.array([0.1]))
    tgt = Links(np.array([0, 1]), np.array([0], np.int32), np.array([0.2]))
    assert bounded_distances(*HAND, src, tgt, 0.3).nnz == 0
    assert as_dict(bounded_distances(*HAND, src, tgt, 0.1 + 0.2)) == {(0, 0): 0.1 + 0.2}


def test_zero_distance_is_stored_explicitly():
    M = bounded_distances(*HAND, Links.at_nodes([4]), Links.at_nodes(np.arange(7)), 1.0)
    assert M.nnz == 1 and M.indices[0] == 4 and M.data[0] == 0.0
    assert M.count_nonzero() == 0  # why reachable sets come from the structure


def test_empty_inputs():
    empty = Links(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0))
    M = bounded_distances(*HAND, empty, Links.at_nodes(np.arange(7)), 5.0)
    assert M.shape == (0, 7) and M.nnz == 0
    M = bounded_distances(*HAND, Links.at_nodes([0]), empty, 5.0)
    assert M.shape == (1, 0) and M.nnz == 0


# ---------------------------------------------------------------------- random graphs
@pytest.mark.parametrize("directed", [True, False])
def test_random_graphs_match_heap_dijkstra_bit_for_bit(directed):
    rng = np.random.default_rng(7 if directed else 8)
    for _ in range(60):
        n, G = random_graph(rng, directed)
        sources = random_links(rng, n, int(rng.integers(1, 12)))
        targets = random_links(rng, n, int(rng.integers(1, 15)))
        limit = float(rng.uniform(0.5, 25.0))
        ref = heap_reference(*G, sources, targets, limit)
        for threads in (1, 2):
            got = bounded_distances(*G, sources, targets, limit, threads=threads, block=3)
            assert as_dict(got) == ref


@pytest.mark.parametrize("directed", [True, False])
def test_random_graphs_match_floyd_warshall(directed):
    """All-pairs Floyd–Warshall (sums grouped differently: compare within 1e-12)."""
    rng = np.random.default_rng(17 if directed else 18)
    compared = 0
    for _ in range(40):
        n, G = random_graph(rng, directed)
        indptr, indices, weights = G
        A = sp.csr_matrix((weights, indices, indptr), shape=(n, n))
        FW = shortest_path(A, method="FW", directed=True)
        sources = random_links(rng, n, int(rng.integers(1, 10)))
        targets = random_links(rng, n, int(rng.integers(1, 10)))
        # exact best over entry pairs: off_s + FW[a, b] + off_t
        full = np.full((sources.n_points, targets.n_points), np.inf)
        for s in range(sources.n_points):
            for k in range(sources.ptr[s], sources.ptr[s + 1]):
                for t in range(targets.n_points):
                    for q in range(targets.ptr[t], targets.ptr[t + 1]):
                        d = sources.metres[k] + FW[sources.node[k], targets.node[q]]
                        full[s, t] = min(full[s, t], d + targets.metres[q])
        finite = np.unique(full[np.isfinite(full)])
        if len(finite) < 2:
            continue
        # a limit half-way between two distinct distances: no pair is near the boundary
        i = int(rng.integers(0, len(finite) - 1))
        limit = float(finite[i] + finite[i + 1]) / 2
        if finite[i + 1] - finite[i] < 1e-6:
            continue
        got = bounded_distances(*G, sources, targets, limit)
        D = got.toarray()
        reached = np.zeros(D.shape, bool)
        rows = np.repeat(np.arange(D.shape[0]), np.diff(got.indptr))
        reached[rows, got.indices] = True
        np.testing.assert_array_equal(reached, full <= limit)
        np.testing.assert_allclose(D[reached], full[reached], rtol=1e-12, atol=1e-12)
        compared += 1
    assert compared >= 25  # most graphs have two distinct distances to put a limit between


def test_every_node_as_target_equals_generic_targets():
    """The identity fast path and the generic (demand links) path agree."""
    rng = np.random.default_rng(3)
    n, G = random_graph(rng, directed=True)
    while n < 20:
        n, G = random_graph(rng, directed=True)
    sources = random_links(rng, n, 15)
    fast = bounded_distances(*G, sources, Links.at_nodes(np.arange(n)), 12.0)
    # same targets, expressed with two links per node (the second never better)
    nodes = np.repeat(np.arange(n), 2).astype(np.int32)
    generic = Links(np.arange(0, 2 * n + 1, 2), nodes, np.tile([0.0, 1.0], n))
    slow = bounded_distances(*G, sources, generic, 12.0)
    assert as_dict(fast) == as_dict(slow)


def test_small_buffers_grow(monkeypatch):
    """Bucket-entry pool and output buffers that start too small give the same result."""
    rng = np.random.default_rng(5)
    n, G = random_graph(rng, directed=False)
    while n < 30:
        n, G = random_graph(rng, directed=False)
    sources = random_links(rng, n, 20)
    targets = random_links(rng, n, 25)
    want = as_dict(bounded_distances(*G, sources, targets, 20.0))
    ident = as_dict(bounded_distances(*G, sources, Links.at_nodes(np.arange(n)), 20.0))
    monkeypatch.setattr(paths, "POOL_START", 1)
    monkeypatch.setattr(paths, "OUT_START", 1)
    for threads in (1, 2):
        assert as_dict(bounded_distances(*G, sources, targets, 20.0, threads=threads)) == want
        got = bounded_distances(*G, sources, Links.at_nodes(np.arange(n)), 20.0, threads=threads)
        assert as_dict(got) == ident


def test_tiny_and_huge_limits_are_exact():
    rng = np.random.default_rng(11)
    n, G = random_graph(rng, directed=True)
    while n < 20:
        n, G = random_graph(rng, directed=True)
    sources = random_links(rng, n, 8)
    targets = random_links(rng, n, 8)
    for limit in (5e-324, 1e-300, 1e-3, 1e300):
        assert as_dict(bounded_distances(*G, sources, targets, limit)) == heap_reference(
            *G, sources, targets, limit
        )


# ---------------------------------------------------------------------- real networks vs scipy
def assert_same_as_scipy(indptr, indices, weights, sites, limit):
    n = len(indptr) - 1
    G = sp.csr_matrix((weights, indices, indptr), shape=(n, n))
    ours = bounded_distances(
        indptr, indices, weights, Links.at_nodes(sites), Links.at_nodes(np.arange(n)), limit
    )
    ref = dijkstra(G, directed=True, indices=sites, limit=limit)
    reached = np.isfinite(ref)
    assert ours.nnz == int(reached.sum())
    rows = np.repeat(np.arange(len(sites)), np.diff(ours.indptr))
    got = np.zeros(ref.shape, bool)
    got[rows, ours.indices] = True
    np.testing.assert_array_equal(got, reached)  # identical reachable sets
    np.testing.assert_array_equal(ours.data, ref[rows, ours.indices])  # bit-identical metres
    return ours


def test_grid_matches_scipy():
    """The peer benchmark's 224 × 224 grid (80 m edges, 10 % dropped), 400 sites."""
    net = grid_network(224, 80.0, drop=0.1, seed=0)
    sites = np.random.default_rng(0).choice(net.n_nodes, 400, replace=False)
    M = assert_same_as_scipy(net.indptr, net.indices, net.weights, sites, 1125.0)
    # the same with irregular float lengths on the same lattice (60-100 m, one-way costs)
    w = np.random.default_rng(1).uniform(60.0, 100.0, len(net.weights))
    assert_same_as_scipy(net.indptr, net.indices, w, sites, 1125.0)
    # threads do not change a single bit
    one = bounded_distances(
        net.indptr,
        net.indices,
        net.weights,
        Links.at_nodes(sites),
        Links.at_nodes(np.arange(net.n_nodes)),
        1125.0,
        threads=1,
    )
    for M2 in (M, one):
        np.testing.assert_array_equal(M2.indptr, M.indptr)
        np.testing.assert_array_equal(M2.indices, M.indices)
        np.testing.assert_array_equal(M2.data, M.data)


def test_helsinki_matches_scipy(helsinki_network):
    net = helsinki_network
    sites = np.random.default_rng(0).choice(net.n_nodes, 500, replace=False)
    M = assert_same_as_scipy(net.indptr, net.indices, net.weights, sites, 1125.0)
    # several thresholds from one pass equal fresh searches
    for limit in (375.0, 750.0):
        fresh = bounded_distances(
            net.indptr,
            net.indices,
            net.weights,
            Links.at_nodes(sites),
            Links.at_nodes(np.arange(net.n_nodes)),
            limit,
        )
        cut = within_limit(M, limit)
        assert as_dict(cut) == as_dict(fresh)


def test_threads_give_identical_output(helsinki_network):
    net = helsinki_network
    rng = np.random.default_rng(2)
    sources = random_links(rng, net.n_nodes, 300, offsets=True)
    targets = random_links(rng, net.n_nodes, 1000, offsets=True)
    runs = [
        bounded_distances(
            net.indptr, net.indices, net.weights, sources, targets, 900.0, threads=t, block=b
        )
        for t, b in ((1, 64), (2, 64), (2, 7), (3, 1))
    ]
    for M in runs[1:]:
        np.testing.assert_array_equal(M.indptr, runs[0].indptr)
        np.testing.assert_array_equal(M.indices, runs[0].indices)
        np.testing.assert_array_equal(M.data, runs[0].data)


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize("limit", [0.0, -1.0, -0.0, math.nan, math.inf, -math.inf])
def test_bad_limit(limit):
    nodes = Links.at_nodes(np.arange(7))
    with pytest.raises(ParameterError, match="limit_m"):
        bounded_distances(*HAND, nodes, nodes, limit)
    with pytest.raises(ParameterError, match="limit_m"):
        within_limit(sp.csr_matrix((1, 1)), limit)


def test_bad_inputs():
    nodes = Links.at_nodes(np.arange(7))
    indptr, indices, weights = HAND
    with pytest.raises(ParameterError, match="weights"):
        bounded_distances(indptr, indices, -weights, nodes, nodes, 5.0)
    with pytest.raises(ParameterError, match="weights"):
        bounded_distances(indptr, indices, np.full_like(weights, np.nan), nodes, nodes, 5.0)
    with pytest.raises(ParameterError, match="node indices"):
        bounded_distances(indptr, indices, weights, Links.at_nodes([7]), nodes, 5.0)
    with pytest.raises(ParameterError, match="metres"):
        bounded_distances(indptr, indices, weights, Links.at_nodes([0], [-1.0]), nodes, 5.0)
    with pytest.raises(ParameterError, match="CSR"):
        bounded_distances(indptr, indices, weights[:-1], nodes, nodes, 5.0)


def test_merge_min_keeps_the_least_per_pair_and_adds_new_ones():
    # dense reference: stored entries (0.0 included) as a dict, then the extras
    rng = np.random.default_rng(11)
    for trial in range(60):
        nr, nc = int(rng.integers(1, 30)), int(rng.integers(1, 40))
        mask = rng.random((nr, nc)) < rng.uniform(0, 0.6)
        dense = np.where(mask, rng.choice([0.0, 5.0, 12.5, 40.0], (nr, nc)), 0.0)
        rows, cols = np.nonzero(mask)
        D = sp.csr_matrix((dense[mask], (rows, cols)), shape=(nr, nc))
        k = int(rng.integers(0, 40))
        r, c = rng.integers(0, nr, k), rng.integers(0, nc, k)
        v = rng.choice([0.0, 3.0, 12.5, 50.0], k)
        want = {(int(a), int(b)): float(dense[a, b]) for a, b in zip(rows, cols, strict=True)}
        for a, b, x in zip(r.tolist(), c.tolist(), v.tolist(), strict=True):
            want[(a, b)] = min(want.get((a, b), np.inf), x)
        M = merge_min(D, r, c, v)
        rr = np.repeat(np.arange(nr), np.diff(M.indptr))
        got = {(int(a), int(b)): float(x) for a, b, x in zip(rr, M.indices, M.data, strict=True)}
        assert got == want and len(got) == M.nnz, trial
