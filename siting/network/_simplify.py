"""Merge chains of degree-2 nodes into single edges (compiled; O(segments)).

A node is kept when it is an intersection or dead end (degree != 2), or where walking
direction or cost per metre changes along the chain; every other node is interstitial
and disappears into the chain's geometry, as ``osmnx.simplify_graph`` does. Lengths
add up exactly, so walking distances between kept nodes are unchanged.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _other(u, v, seg, node):
    return v[seg] if u[seg] == node else u[seg]


@nb.njit(cache=True)
def _along(u, fw, bw, seg, node):
    """(can walk away from node along seg, can walk back towards node)."""
    if u[seg] == node:
        return fw[seg], bw[seg]
    return bw[seg], fw[seg]


@nb.njit(cache=True)
def _incidence(u, v, n):
    """Node → incident segments CSR: ``(degree, ptr, segments)``."""
    m = len(u)
    deg = np.zeros(n, np.int64)
    for e in range(m):
        deg[u[e]] += 1
        deg[v[e]] += 1
    ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        ptr[i + 1] = ptr[i] + deg[i]
    fill = ptr[:-1].copy()
    inc = np.empty(2 * m, np.int64)
    for e in range(m):
        inc[fill[u[e]]] = e
        fill[u[e]] += 1
        inc[fill[v[e]]] = e
        fill[v[e]] += 1
    return deg, ptr, inc


@nb.njit(cache=True)
def _passes_through(u, v, factor, fw, bw, ptr, inc, i):
    """True when degree-2 node ``i`` is interstitial: walking through it changes nothing."""
    a = inc[ptr[i]]
    b = inc[ptr[i] + 1]
    if a == b or u[a] == v[a] or u[b] == v[b]:
        return False
    na = _other(u, v, a, i)
    if na == _other(u, v, b, i):
        return False  # two parallel edges to the same neighbour: keep the node
    if factor[a] != factor[b]:
        return False
    # walking a -> i -> b must have the same direction rules on both sides
    a_in_fw, a_in_bw = _along(u, fw, bw, a, na)  # na -> i, i -> na
    b_out_fw, b_out_bw = _along(u, fw, bw, b, i)  # i -> nb, nb -> i
    return a_in_fw == b_out_fw and a_in_bw == b_out_bw


@nb.njit(cache=True)
def _follow(u, v, length, factor, ptr, inc, inter, visited, s, e0, path_nodes, p):
    """Walk the chain from node ``s`` along segment ``e0`` to its far kept node.

    Appends the chain's nodes to ``path_nodes[p:]``; returns ``(end, metres, cost, p)``.
    """
    cur = s
    seg = e0
    total = 0.0
    cost = 0.0
    path_nodes[p] = s
    p += 1
    while True:
        visited[seg] = True
        total += length[seg]
        cost += length[seg] * factor[seg]
        nxt = _other(u, v, seg, cur)
        path_nodes[p] = nxt
        p += 1
        if not inter[nxt] or nxt == s:
            return nxt, total, cost, p
        a = inc[ptr[nxt]]
        seg = inc[ptr[nxt] + 1] if a == seg else a
        cur = nxt
        if visited[seg]:
            return nxt, total, cost, p


@nb.njit(cache=True)
def simplify_chains(u, v, length, factor, fw, bw, n):
    """Return merged edges and, per edge, the node path that gives its geometry.

    Returns ``(cu, cv, clength, cfactor, cforward, cbackward, path_ptr, path_nodes)``:
    the path of merged edge k is ``path_nodes[path_ptr[k]:path_ptr[k+1]]`` (from cu to cv).
    """
    m = len(u)
    deg, ptr, inc = _incidence(u, v, n)
    inter = np.zeros(n, np.bool_)
    for i in range(n):
        if deg[i] == 2:
            inter[i] = _passes_through(u, v, factor, fw, bw, ptr, inc, i)

    visited = np.zeros(m, np.bool_)
    cu = np.empty(m, np.int64)
    cv = np.empty(m, np.int64)
    clen = np.empty(m, np.float64)
    cfac = np.empty(m, np.float64)
    cfw = np.empty(m, np.bool_)
    cbw = np.empty(m, np.bool_)
    path_ptr = np.zeros(m + 1, np.int64)
    path_nodes = np.empty(2 * m + 1, np.int64)
    k = 0
    p = 0
    for phase in range(2):  # chains from kept nodes first, then pure cycles
        for s in range(n):
            if phase == 0 and inter[s]:
                continue
            for t in range(ptr[s], ptr[s + 1]):
                e0 = inc[t]
                if visited[e0]:
                    continue
                if phase == 1:
                    inter[s] = False  # a pure cycle: make s its end point
                cfw[k], cbw[k] = _along(u, fw, bw, e0, s)
                nxt, total, cost, p = _follow(
                    u, v, length, factor, ptr, inc, inter, visited, s, e0, path_nodes, p
                )
                cu[k] = s
                cv[k] = nxt
                clen[k] = total
                cfac[k] = cost / total if total > 0 else factor[e0]
                k += 1
                path_ptr[k] = p
    return (cu[:k], cv[:k], clen[:k], cfac[:k], cfw[:k], cbw[:k], path_ptr[: k + 1], path_nodes[:p])
