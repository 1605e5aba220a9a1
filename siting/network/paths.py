"""Bounded multi-source shortest paths: the compiled core of every coverage question.

One search per site, stopped at the walking limit, with buffers reused across sites so
that the work is proportional to what is reached, not to the size of the network. Output
is sparse: ``(site, demand, metres)`` for every pair within the limit.

How a search runs
-----------------
* **Bucket queue, label-correcting** (Δ-stepping, one thread per search). Tentative
  distances are filed in buckets of width Δ metres (``[bΔ, (b+1)Δ)``, an O(1) push into a
  linked list); buckets are emptied in increasing order. Inside a bucket nodes are taken
  in any order, and a node whose distance drops again after it was scanned is simply
  scanned again. The result is the exact fixed point ``d(v) = min_u d(u) + w(u, v)``,
  i.e. the minimum over paths of the float64 sum taken along the path from the site --
  bit for bit what ``scipy.sparse.csgraph.dijkstra`` returns (float addition is
  monotone, so every correct label-setting or label-correcting method reaches the same
  fixed point). With Δ near the short-edge length, re-scans are rare (≈ 8 % on Helsinki)
  and no heap is needed. Δ is chosen from the edge weights (:func:`_pick_delta`).
* **Sites as nodes**: each site is one more node (``n + s``) whose edges are its entries
  (the nodes a walk from it enters, and the metres to them), so a search starts by
  scanning that node at 0 m and the same relaxation loop serves entries and streets.
* **Reach**: a node or pair is reached when its distance is ``<= limit`` (as in scipy's
  ``limit``). Tentative distances start at the next float above the limit, so one
  comparison both tests "shorter" and "within the limit".
* **Locality**: sites are searched in the order of their entry node (for networks whose
  node numbering follows space, e.g. grids or OSM extracts, consecutive searches then
  touch the same cache lines), and rows are put back in the caller's order at the end.
* **Threads**: each worker thread (the kernel releases the GIL) works through a
  contiguous share of the sorted sites in blocks that shrink towards its end, then helps
  with the ends of the other shares; every thread keeps its own O(n) buffers and an
  output buffer, and one parallel copy puts the rows in place. The output does not
  depend on the number of threads.
* **Measured** (2,020 sites × every node, 1125 m, one core of the 2-vCPU benchmark
  machine): ≈ 30-35 ns per reached pair in the kernel, ≈ 36-42 ns end to end, against
  ≈ 150-950 ns for ``scipy.sparse.csgraph.dijkstra(limit=...)`` on the same CSR (see
  ``benchmarks/bench_coverage.py``). What a search still costs is a handful of dependent
  loads and one hard-to-predict branch per edge.
* **Targets**: when the targets are exactly the nodes (``Links.at_nodes(arange(n))``) a
  node's distance is written out directly; otherwise each reached node offers the demand
  points linked to it (``offset`` metres beyond the node) and the minimum is kept.

Several thresholds (5/10/15 minutes) come from one search at the largest: a pair's
distance does not depend on the limit (a bounded search settles every node within it at
its true distance), so :func:`within_limit` filters the largest matrix down to each
smaller limit with identical results.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba as nb
import numpy as np
import scipy.sparse as sp

from ..errors import ParameterError

#: sites per block handed to one thread; small enough to balance two cores
BLOCK_SITES = 64
#: fewest/most buckets per search (bounds the per-search cost of scanning empty buckets)
MIN_BUCKETS, MAX_BUCKETS = 8, 4096
#: bucket width as a share of the median edge weight (tuned on Helsinki, Liechtenstein, grid)
DELTA_SHARE = 0.4
#: initial size of the bucket-entry pool per thread (it doubles when a search needs more)
POOL_START = 4096
#: most output slots reserved per thread up front (virtual memory; it grows if needed)
OUT_START = 1 << 24

_NONE = np.uint32(0xFFFFFFFF)  # "no entry" / "in no bucket"


@nb.njit(cache=True, nogil=True, inline="always")
def _file(v, b, bk, head, enode, enext, top):
    """Put node ``v`` in bucket ``b`` (a push on the bucket's list); the new pool top."""
    enode[top] = v
    enext[top] = head[b]
    head[b] = top
    bk[v] = b
    return top + 1


@nb.njit(cache=True, nogil=True)
def _reset(nt, sent, dist, bk, touched, head):
    """Back to "nothing reached" after a search that ran out of pool."""
    none = np.uint32(0xFFFFFFFF)
    for q in range(nt):
        v = touched[q]
        dist[v] = sent
        bk[v] = none
    head[:] = none


@nb.njit(cache=True, nogil=True)
def _search(indptr, indices, weights, v, sent, inv, nbk, dist, bk, touched, head, enode, enext):
    """One bounded search from site node ``v``; the number of nodes reached, or -1.

    ``v`` is the site's own node (``n + site`` in the CSR :func:`_with_sites` builds):
    its edges are the site's entries, and nothing leads back to it. It is filed first,
    at 0 m. On return ``dist[touched[:nt]]`` are the final distances (all
    ``<= limit``); ``bk`` and ``head`` are back to "empty". -1 means the entry pool
    (``enode``/``enext``) was too small: all state is reset and the caller retries with
    a larger pool.
    """
    none = np.uint32(0xFFFFFFFF)
    cap = len(enode)
    nt = 0
    dist[v] = 0.0
    top = _file(v, np.uint32(0), bk, head, enode, enext, 0)
    for b in range(nbk):
        while head[b] != none:
            e = head[b]
            head[b] = enext[e]
            v = enode[e]
            if bk[v] != b:  # stale: v moved to a lower bucket and was scanned there
                continue
            bk[v] = none
            lo = indptr[v]
            hi = indptr[v + np.uint32(1)]
            if top + (hi - lo) > cap:
                _reset(nt, sent, dist, bk, touched, head)
                return -1
            du = dist[v]
            for k in range(lo, hi):
                x = indices[k]
                c = du + weights[k]
                old = dist[x]
                if c < old:  # shorter, and <= limit (old starts at `sent`)
                    if old == sent:
                        touched[nt] = x
                        nt += 1
                    dist[x] = c
                    bx = np.uint32(c * inv)
                    if bk[x] != bx:
                        top = _file(x, bx, bk, head, enode, enext, top)
    return nt


@nb.njit(cache=True, nogil=True)
def _offer_demand(nt, touched, dist, link_ptr, link_demand, link_offset, limit, best, dtouched):
    """Each reached node offers its linked demand; the number of demand points reached.

    ``best[dtouched[:m]]`` are their distances (the least over their links).
    """
    m = 0
    for q in range(nt):
        v = touched[q]
        dv = dist[v]
        for k in range(link_ptr[v], link_ptr[v + 1]):
            c = dv + link_offset[k]
            if c <= limit:
                i = link_demand[k]
                b = best[i]
                if b == np.inf:
                    dtouched[m] = i
                    m += 1
                if c < b:
                    best[i] = c
    return m


@nb.njit(cache=True, nogil=True)
def _write_row(identity, nt, m, touched, dist, best, dtouched, full, out_c, out_w, pos):
    """Copy one site's pairs to ``out_*[pos:]`` (unless ``full``); clear ``best``."""
    if identity:
        if not full:
            for q in range(nt):
                v = touched[q]
                out_c[pos + q] = v
                out_w[pos + q] = dist[v]
        return
    for q in range(m):
        i = dtouched[q]
        if not full:
            out_c[pos + q] = i
            out_w[pos + q] = best[i]
        best[i] = np.inf


@nb.njit(cache=True, nogil=True)
def _search_block(
    indptr,
    indices,
    weights,
    order,
    lo,
    hi,
    link_ptr,
    link_demand,
    link_offset,
    identity,
    limit,
    inv,
    nbk,
    pool,
    dist,
    bk,
    touched,
    head,
    best,
    dtouched,
    counts,
    out_c,
    out_w,
    pos,
):
    """Searches for sites ``order[lo:hi]``, appending their pairs to ``out_c``/``out_w``.

    Writes the number of pairs of site ``order[j]`` to ``counts[j - lo]`` and the pairs
    at ``out_*[pos:]``. Returns ``(j, pos, pool, need)``: ``j < hi`` means the output
    buffers are full and site ``order[j]`` needs ``need`` more slots (grow, then call
    again from ``j``). ``dist``, ``bk``, ``touched``, ``head``, ``best``, ``dtouched``
    are the calling thread's buffers (clean on entry and on exit).
    """
    sent = np.nextafter(limit, np.inf)
    enode = np.empty(pool, np.uint32)
    enext = np.empty(pool, np.uint32)
    room = len(out_c)
    graph = (indptr, indices, weights)
    first_site = len(indptr) - 1 - len(order)  # site s is node first_site + s
    for j in range(lo, hi):
        s = np.uint32(first_site + order[j])
        nt = _search(*graph, s, sent, inv, nbk, dist, bk, touched, head, enode, enext)
        while nt < 0:  # the bucket-entry pool was too small: grow and search again
            pool *= 2
            enode = np.empty(pool, np.uint32)
            enext = np.empty(pool, np.uint32)
            nt = _search(*graph, s, sent, inv, nbk, dist, bk, touched, head, enode, enext)
        m = nt
        if not identity:
            m = _offer_demand(
                nt, touched, dist, link_ptr, link_demand, link_offset, limit, best, dtouched
            )
        full = pos + m > room
        _write_row(identity, nt, m, touched, dist, best, dtouched, full, out_c, out_w, pos)
        for q in range(nt):
            dist[touched[q]] = sent
        if full:
            return j, pos, pool, m
        pos += m
        counts[j - lo] = m
    return hi, pos, pool, 0


@nb.njit(cache=True, nogil=True)
def _scatter(order, lo, counts, cols, vals, start, indptr_out, out_cols, out_vals):
    """Copy a block's rows (sites ``order[lo:...]``, from ``cols/vals[start:]``) to their
    places in the final CSR."""
    pos = start
    for j in range(len(counts)):
        dst = indptr_out[order[lo + j]]
        m = counts[j]
        for q in range(m):
            out_cols[dst + q] = cols[pos + q]
            out_vals[dst + q] = vals[pos + q]
        pos += m


@dataclass(frozen=True)
class Links:
    """Where points sit on the network, as (node, metres) pairs per point.

    For sources (sites) the pairs are the nodes a walk from the point enters and the
    metres walked to get there; for targets (demand) they are nodes from which the point
    is reached and the metres still to walk. ``ptr`` is CSR-style over points.

    Parameters
    ----------
    ptr : numpy.ndarray
        int64, length ``n_points + 1``: point i's pairs are ``ptr[i]:ptr[i + 1]``.
    node : numpy.ndarray
        int32 node index of each pair.
    metres : numpy.ndarray
        float64 walk of each pair between the point and the node, metres (>= 0).
    """

    ptr: np.ndarray
    node: np.ndarray
    metres: np.ndarray

    @property
    def n_points(self) -> int:
        """Number of points."""
        return len(self.ptr) - 1

    @classmethod
    def at_nodes(cls, nodes: np.ndarray, metres: np.ndarray | None = None) -> Links:
        """Each point exactly at one node (plus an optional access walk).

        Parameters
        ----------
        nodes : numpy.ndarray
            Node index of each point.
        metres : numpy.ndarray, optional
            Access walk of each point to its node, metres (default 0).

        Returns
        -------
        Links
            One pair per point.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        w = np.zeros(len(nodes)) if metres is None else np.asarray(metres, np.float64)
        return cls(np.arange(len(nodes) + 1, dtype=np.int64), nodes.astype(np.int32), w)

    def by_node(self, n_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Transpose to node -> (point, metres) CSR, the layout the search reads.

        Parameters
        ----------
        n_nodes : int
            Nodes in the network.

        Returns
        -------
        ptr : numpy.ndarray
            int64, length ``n_nodes + 1``: node k's pairs are ``ptr[k]:ptr[k + 1]``.
        point : numpy.ndarray
            int32 point index of each pair.
        metres : numpy.ndarray
            float64 walk of each pair, metres.
        """
        point = np.repeat(np.arange(self.n_points, dtype=np.int32), np.diff(self.ptr))
        order = np.argsort(self.node, kind="stable")
        counts = np.bincount(self.node, minlength=n_nodes)
        ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        return ptr, point[order], self.metres[order].astype(np.float64)

    def is_identity(self, n_nodes: int) -> bool:
        """Whether point i is node i at 0 m, for every node (targets = the nodes).

        Parameters
        ----------
        n_nodes : int
            Nodes in the network, as for :meth:`by_node`.

        Returns
        -------
        bool
            True for the identity layout, which the search reads without a lookup.
        """
        return (
            self.n_points == n_nodes
            and len(self.node) == n_nodes
            and bool(np.array_equal(self.ptr, np.arange(n_nodes + 1)))
            and bool(np.array_equal(self.node, np.arange(n_nodes)))
            and not np.any(self.metres)
        )


def _threads(threads: int | None) -> int:
    if threads is None:
        threads = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    return max(1, int(threads))


def _blocks(n_sites: int, block: int, nthreads: int) -> list[list[tuple[int, int]]]:
    """Per thread, consecutive ``(lo, hi)`` site ranges covering its contiguous share.

    Blocks hold ``block`` sites and shrink towards the end of each share (guided
    scheduling), so a thread that finishes early takes small blocks from another's end.
    """
    out = []
    for t in range(nthreads):
        lo, hi = t * n_sites // nthreads, (t + 1) * n_sites // nthreads
        mine = []
        while lo < hi:
            size = min(block, max(block // 8, 1, -(-(hi - lo) // 4)))
            mine.append((lo, min(lo + size, hi)))
            lo += size
        out.append(mine)
    return out


def _pick_delta(weights: np.ndarray, limit: float) -> float:
    """Bucket width (metres): ``DELTA_SHARE`` × the median edge weight (from a sample).

    Narrow buckets mean fewer re-scans but more empty buckets to step over; the optimum
    sits near the length of the short edges (Helsinki ≈ 4 m, grid/Liechtenstein flat
    from 8 m up). Clamped to ``MIN_BUCKETS..MAX_BUCKETS`` buckets per search.
    """
    step = max(1, len(weights) // 4096)
    sample = weights[::step]
    sample = sample[np.isfinite(sample) & (sample > 0)]
    delta = DELTA_SHARE * float(np.median(sample)) if len(sample) else limit
    return min(max(delta, limit / MAX_BUCKETS), limit / MIN_BUCKETS)


def _check_links(links: Links, n: int, what: str) -> None:
    if (
        len(links.ptr) < 1
        or links.ptr[0] != 0
        or links.ptr[-1] != len(links.node)
        or (len(links.ptr) > 1 and np.any(np.diff(links.ptr) < 0))
    ):
        msg = f"{what}.ptr must run from 0 to len({what}.node) without decreasing."
        raise ParameterError(msg)
    if len(links.metres) != len(links.node):
        msg = f"{what}.metres and {what}.node must have the same length."
        raise ParameterError(msg)
    if len(links.node) and (links.node.min() < 0 or links.node.max() >= n):
        msg = f"{what}.node holds node indices outside 0..{n - 1}."
        raise ParameterError(msg)
    if np.isnan(links.metres).any() or (links.metres < 0).any():
        msg = f"{what}.metres must be >= 0 metres (no NaN)."
        raise ParameterError(msg)


def bounded_distances(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    sources: Links,
    targets: Links,
    limit_m: float,
    *,
    threads: int | None = None,
    block: int = BLOCK_SITES,
) -> sp.csr_matrix:
    """Walking distance (metres) from every source to every target within ``limit_m``.

    Parameters
    ----------
    indptr, indices, weights
        Directed CSR adjacency of the network, weights in metres (>= 0).
    sources
        Where each site enters the network (:class:`Links`).
    targets
        From which nodes each demand point is reached (:class:`Links`).
    limit_m
        Walking limit in metres (> 0); pairs farther than this are not stored.
    threads
        Worker threads (default: every core available). The result does not depend on it.
    block
        Sites per unit of work handed to a thread.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape (n_sources, n_targets), float64 metres; a stored entry means "within the
        limit" (``distance <= limit_m``; a distance of 0.0 is stored explicitly, so read
        reachable sets from the sparsity structure, not ``.nonzero()``). Columns within a
        row are not sorted (``has_sorted_indices`` is False) and never repeated.
        Distances are the float64 sums along the shortest path, identical to
        ``scipy.sparse.csgraph.dijkstra(..., limit=limit_m)``.

    Raises
    ------
    ParameterError
        An adjacency or links that are not consistent (lengths, node indices out of
        range, negative or NaN metres), or ``limit_m`` not > 0.
    """
    limit = _check_graph(indptr, indices, weights, sources, targets, limit_m)
    n = len(indptr) - 1
    weights = np.ascontiguousarray(weights, np.float64)
    ns, nt = sources.n_points, targets.n_points
    identity = targets.is_identity(n)
    if identity:
        lptr, ldem, loff = np.zeros(1, np.int64), np.zeros(1, np.int32), np.zeros(1)
    else:
        lptr, ldem, loff = targets.by_node(n)
    src_ptr = np.asarray(sources.ptr, np.int64)
    src_node = np.asarray(sources.node, np.int64)
    # search sites in the order of their first entry node (cache locality)
    has = np.diff(src_ptr) > 0
    key = np.full(ns, n, np.int64)
    key[has] = src_node[src_ptr[:-1][has]]
    order = np.argsort(key, kind="stable").astype(np.int64)
    inv, nbk = _buckets(weights, limit)
    graph = _with_sites(indptr, indices, weights, sources)
    nthreads = max(1, min(_threads(threads), ns))
    run = _Run(
        common=(*graph, order),
        link_args=(lptr, ldem, loff, identity, limit, inv, nbk),
        n=len(graph[0]) - 1,  # the nodes and one per site
        n_targets=nt if not identity else 0,
        nthreads=nthreads,
        room0=min(ns * max(nt, 1) // nthreads + 1024, OUT_START),
    )
    done, bounds = run.all(_blocks(ns, max(1, int(block)), nthreads))
    return _assemble(done, bounds, order, ns, nt, nthreads)


def _with_sites(indptr, indices, weights, sites: Links) -> tuple[np.ndarray, ...]:
    """The CSR with one node more per site, ``n + s``, whose edges are its entries.

    A search from site ``s`` is then a search from node ``n + s`` (nothing leads back to
    it), so one relaxation loop serves the entries and the streets alike.
    """
    n_edges = int(indptr[-1])
    size = max(n_edges + len(sites.node), len(indptr) + sites.n_points)
    if size >= 2**32 - 1:
        msg = (
            f"{n_edges:,} edges and {len(sites.node):,} site entries exceed what one "
            "search holds (2^32 - 1); search the sites in parts (siting.tiles)."
        )
        raise ParameterError(msg)
    n, m = len(indptr), n_edges + len(sites.node)
    ptr, adj, cost = np.empty(n + sites.n_points, np.uint32), np.empty(m, np.uint32), np.empty(m)
    ptr[:n], adj[:n_edges], cost[:n_edges] = indptr, indices, weights
    ptr[n:] = sites.ptr[1:]
    ptr[n:] += np.uint32(n_edges)
    adj[n_edges:], cost[n_edges:] = sites.node, sites.metres
    return ptr, adj, cost


def _check_graph(indptr, indices, weights, sources: Links, targets: Links, limit_m) -> float:
    """Check the CSR, the links and the limit (clear errors); the limit as a float."""
    if not math.isfinite(limit_m) or not limit_m > 0:
        msg = f"limit_m={limit_m!r}: the walking limit must be a finite number of metres > 0."
        raise ParameterError(msg)
    indptr, indices = np.asarray(indptr), np.asarray(indices)
    n = len(indptr) - 1
    m = len(indices)
    if len(weights) != m or indptr[-1] != m:
        msg = "indptr, indices and weights do not form a CSR adjacency (lengths differ)."
        raise ParameterError(msg)
    if m and not (np.min(weights) >= 0):
        msg = "Edge weights must be >= 0 metres (no NaN)."
        raise ParameterError(msg)
    if m and (indices.min() < 0 or indices.max() >= n):
        msg = f"indices hold node indices outside 0..{n - 1}."
        raise ParameterError(msg)
    _check_links(sources, n, "sources")
    _check_links(targets, n, "targets")
    if n >= 2**32 - 1 or m >= 2**32:
        msg = "Networks with more than 4 billion nodes or edges are not supported."
        raise ParameterError(msg)
    return float(limit_m)


def _buckets(weights: np.ndarray, limit: float) -> tuple[float, int]:
    """(1 / bucket width, number of buckets) of a search up to ``limit`` metres."""
    delta = _pick_delta(weights, limit)
    inv = 1.0 / delta if delta > 0 else math.inf
    if not (math.isfinite(inv) and limit * inv < 2 * MAX_BUCKETS):  # absurdly small limit
        inv = 0.0  # one bucket: plain label-correcting, still exact
    return inv, int(limit * inv) + 1


@dataclass
class _Run:
    """The threads of one :func:`bounded_distances` call and what they share."""

    common: tuple
    link_args: tuple
    n: int
    n_targets: int
    nthreads: int
    room0: int

    def all(self, share: list[list[tuple[int, int]]]) -> tuple[list, list[tuple[int, int]]]:
        """Run every block; per thread ``(out_c, out_w, [(block, start, counts)])``."""
        bounds = [b for mine in share for b in mine]
        # thread t works through its own contiguous share of the sites (neighbouring sites
        # stay in one core's cache), then takes blocks from the end of the largest share
        first = np.cumsum([0] + [len(mine) for mine in share])
        self._share = [list(range(first[t], first[t + 1])) for t in range(self.nthreads)]
        self._bounds = bounds
        self._lock = threading.Lock()
        self._done: list[tuple[np.ndarray, np.ndarray, list]] = []
        if self.nthreads == 1:
            self.worker(0)
        else:
            with ThreadPoolExecutor(self.nthreads) as ex:
                for f in [ex.submit(self.worker, t) for t in range(self.nthreads)]:
                    f.result()
        return self._done, bounds

    def next_block(self, t: int) -> int | None:
        with self._lock:
            if self._share[t]:
                return self._share[t].pop(0)
            rest = max(self._share, key=len)
            return rest.pop() if rest else None

    def worker(self, t: int) -> None:
        """One thread: its own O(n) buffers, blocks until none is left."""
        # numpy buffers: pages are only backed when written, and big ones get huge pages
        nbk = self.link_args[-1]
        limit = self.link_args[4]
        bufs = (
            np.full(self.n, np.nextafter(limit, np.inf)),  # dist
            np.full(self.n, _NONE, np.uint32),  # bk
            np.empty(self.n, np.uint32),  # touched
            np.full(nbk, _NONE, np.uint32),  # head
            np.full(self.n_targets, np.inf),  # best
            np.empty(self.n_targets, np.int32),  # dtouched
        )
        out_c = np.empty(self.room0, np.int32)
        out_w = np.empty(self.room0, np.float64)
        mine: list = []
        pool, pos = POOL_START, 0
        while (b := self.next_block(t)) is not None:
            lo, hi = self._bounds[b]
            counts = np.zeros(hi - lo, np.int64)
            start, j = pos, lo
            while True:
                j, pos, pool, need = _search_block(
                    *self.common, j, hi, *self.link_args, pool, *bufs,
                    counts[j - lo :], out_c, out_w, pos,
                )  # fmt: skip
                if j == hi:
                    break
                room = max(2 * len(out_c), pos + need)
                out_c = np.concatenate([out_c[:pos], np.empty(room - pos, np.int32)])
                out_w = np.concatenate([out_w[:pos], np.empty(room - pos, np.float64)])
            mine.append((b, start, counts))
        with self._lock:
            self._done.append((out_c, out_w, mine))


def _assemble(done, bounds, order, ns: int, nt: int, nthreads: int) -> sp.csr_matrix:
    """Put every block's rows in place: the final CSR (sites in the caller's order)."""
    counts = np.zeros(ns, np.int64)
    for _, _, mine in done:
        for b, _, c in mine:
            counts[order[bounds[b][0] : bounds[b][1]]] = c
    total = int(counts.sum())
    idx_dtype = np.int32 if max(total, nt) < 2**31 else np.int64
    indptr_out = np.zeros(ns + 1, idx_dtype)
    np.cumsum(counts, out=indptr_out[1:])
    cols = np.empty(total, idx_dtype)
    vals = np.empty(total, np.float64)
    jobs = [(buf_c, buf_w, b, start, c) for buf_c, buf_w, mine in done for b, start, c in mine]

    def place(job) -> None:
        buf_c, buf_w, b, start, c = job
        _scatter(order, bounds[b][0], c, buf_c, buf_w, start, indptr_out, cols, vals)

    if nthreads == 1:
        for job in jobs:
            place(job)
    else:
        with ThreadPoolExecutor(nthreads) as ex:
            list(ex.map(place, jobs))
    M = sp.csr_matrix((vals, cols, indptr_out), shape=(ns, nt))
    M.has_sorted_indices = False
    return M


@nb.njit(cache=True, nogil=True)
def _filter_rows(indptr, indices, data, limit, out_ptr, out_idx, out_val):
    """Keep the entries ``<= limit`` of a CSR (two passes: count per row, then copy)."""
    n_rows = len(indptr) - 1
    out_ptr[0] = 0
    for r in range(n_rows):
        c = 0
        for k in range(indptr[r], indptr[r + 1]):
            c += data[k] <= limit
        out_ptr[r + 1] = out_ptr[r] + c
    if out_idx is None:
        return
    q = 0  # branch-free copy: every entry is written, the next one overwrites a rejected one
    for k in range(indptr[n_rows]):
        out_idx[q] = indices[k]
        out_val[q] = data[k]
        q += data[k] <= limit


def within_limit(distances: sp.csr_matrix, limit_m: float) -> sp.csr_matrix:
    """The pairs of a :func:`bounded_distances` result within a smaller ``limit_m``.

    Exact: the same pairs with the same metres as a fresh search at ``limit_m`` (only the
    order of columns within a row may differ), so several thresholds cost one search at
    the largest plus one O(pairs) filter each.
    """
    if not math.isfinite(limit_m) or not limit_m > 0:
        msg = f"limit_m={limit_m!r}: the walking limit must be a finite number of metres > 0."
        raise ParameterError(msg)
    D = distances.tocsr()
    data = np.ascontiguousarray(D.data, np.float64)
    out_ptr = np.empty(D.shape[0] + 1, np.int64)
    _filter_rows(D.indptr, D.indices, data, float(limit_m), out_ptr, None, None)
    total = int(out_ptr[-1])
    idx_dtype = np.int32 if max(total, D.shape[1]) < 2**31 else np.int64
    out_idx = np.empty(total + 1, idx_dtype)  # + 1: the branch-free copy's last write
    out_val = np.empty(total + 1, np.float64)
    _filter_rows(D.indptr, D.indices, data, float(limit_m), out_ptr, out_idx, out_val)
    M = sp.csr_matrix(
        (out_val[:total], out_idx[:total], out_ptr.astype(idx_dtype, copy=False)), shape=D.shape
    )
    M.has_sorted_indices = bool(D.has_sorted_indices)
    return M


@nb.njit(cache=True)
def _merge_rows(indptr, indices, data, rows, cols, vals, out_ptr, out_idx, out_val):
    """Copy the CSR row by row, lowering entries that ``(rows, cols, vals)`` beat and
    appending the pairs it lacks (the extra pairs are sorted by row, no repeats)."""
    k = 0
    q = 0
    out_ptr[0] = 0
    for r in range(len(indptr) - 1):
        lo, hi = indptr[r], indptr[r + 1]
        start = q
        for p in range(lo, hi):
            out_idx[q] = indices[p]
            out_val[q] = data[p]
            q += 1
        while k < len(rows) and rows[k] == r:
            for p in range(start, start + hi - lo):
                if out_idx[p] == cols[k]:
                    out_val[p] = min(out_val[p], vals[k])
                    break
            else:
                out_idx[q] = cols[k]
                out_val[q] = vals[k]
                q += 1
            k += 1
        out_ptr[r + 1] = q
    return q


def merge_min(
    distances: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray
) -> sp.csr_matrix:
    """``distances`` with extra (row, column, metres) pairs, the least kept per pair.

    One pass over the matrix and one copy of it (the extras are few: walks along a shared
    edge), so a matrix of millions of pairs is not sorted or re-keyed. Columns within a
    row stay in their order, the new ones after them.
    """
    D = distances.tocsr()
    rows = np.asarray(rows, np.int64)
    cols = np.asarray(cols, np.int64)
    vals = np.asarray(vals, np.float64)
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.ones(len(rows), bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, vals = rows[first], cols[first], vals[first]  # least per pair
    n_rows, n_cols = D.shape
    total = D.nnz + len(rows)
    idx_dtype = np.int32 if max(total, n_cols) < 2**31 else np.int64
    out_ptr = np.empty(n_rows + 1, idx_dtype)
    out_idx = np.empty(total, idx_dtype)
    out_val = np.empty(total, np.float64)
    used = _merge_rows(D.indptr, D.indices, D.data, rows, cols, vals, out_ptr, out_idx, out_val)
    # (views: when extras only lowered existing pairs, a few slots at the end stay unused)
    M = sp.csr_matrix((out_val[:used], out_idx[:used], out_ptr), shape=D.shape)
    M.has_sorted_indices = False
    return M
