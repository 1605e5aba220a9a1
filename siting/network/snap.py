"""Snap points (homes, facilities) to the nearest walkable edge.

A point joins the network at the nearest point of the nearest edge. The nearest edge
comes from a compiled grid of edge segments (:mod:`._edgeindex`, built once per network
and kept on it: about 1 s and 120 MB for 1.8 million edges, then ≈ 0.3-0.6 µs a point);
the answer is exactly that of a shapely STRtree nearest search, which is kept for the
points equally near two edges (its tie-break) and as the reference in the tests. The
straight-line access walk from the point to the edge is added to every
path that starts or ends there. Points farther than ``max_snap_m`` (default 500 m) from
any walkable edge are *not* snapped (no silent jumps across a river or a motorway): they
are flagged ``snapped=False`` and reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely

from ..errors import ParameterError
from ._edgeindex import EdgeIndex
from .graph import Network
from .paths import Links

log = logging.getLogger(__name__)

#: default largest straight-line walk from a point to the network, metres
MAX_SNAP_M = 500.0


@dataclass(frozen=True)
class Snapped:
    """Where each point joins the network (arrays over points).

    ``edge`` is the edge index (-1 when not snapped), ``offset_m`` the metres along the
    edge from its ``u`` end, ``access_m`` the straight-line walk from the point to the
    edge (metres), ``snapped`` False for points beyond ``max_snap_m`` of every edge.
    """

    edge: np.ndarray
    offset_m: np.ndarray
    access_m: np.ndarray
    snapped: np.ndarray
    max_snap_m: float

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def n_unsnapped(self) -> int:
        """Points farther than ``max_snap_m`` from every walkable edge."""
        return int((~self.snapped).sum())


def _tree(net: Network) -> shapely.STRtree:
    tree = getattr(net, "_strtree", None)
    if tree is None:
        tree = shapely.STRtree(net.edge_geometry)
        object.__setattr__(net, "_strtree", tree)
    return tree


def edge_index(net: Network) -> EdgeIndex:
    """The network's :class:`EdgeIndex`, built on first use and kept on ``net``."""
    index = getattr(net, "_edge_index", None)
    if index is None:
        index = EdgeIndex.build(net.edge_geometry)
        object.__setattr__(net, "_edge_index", index)
    return index


def snap_points(
    net: Network,
    x: np.ndarray,
    y: np.ndarray,
    max_snap_m: float = MAX_SNAP_M,
    *,
    threads: int | None = None,
) -> Snapped:
    """Snap points given in the network's CRS (metres) to their nearest edges.

    The nearest edge comes from a compiled grid search (:mod:`._edgeindex`, built once
    per network); points equally near two edges go to the shapely STRtree, which breaks
    such ties as it always has. Results are identical to an STRtree nearest search.

    Parameters
    ----------
    net
        The walking network.
    x, y
        Point coordinates in ``net.crs`` (metres).
    max_snap_m
        Largest straight-line access walk (metres); farther points stay unsnapped.
    threads
        Threads for the search (default: every core available).
    """
    if not (max_snap_m > 0) or not np.isfinite(max_snap_m):
        msg = (
            f"max_snap_m={max_snap_m!r}: the largest access walk must be a positive number "
            "of metres."
        )
        raise ParameterError(msg)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    n = len(x)
    if n == 0:
        empty = np.zeros(0)
        return Snapped(np.zeros(0, np.int64), empty, empty, np.zeros(0, bool), float(max_snap_m))
    from .paths import _threads

    edge, access, along, glen, tied = edge_index(net).nearest(
        x, y, float(max_snap_m), threads=_threads(threads)
    )
    if tied.any():
        _break_ties(net, x, y, float(max_snap_m), np.flatnonzero(tied), edge, access, along, glen)
    snapped = edge >= 0
    offset = np.zeros(n)
    e = edge[snapped]
    length = net.edge_length[e]
    g = glen[snapped]
    scale = np.divide(length, g, out=np.ones(len(e)), where=g > 0)
    offset[snapped] = np.clip(along[snapped] * scale, 0.0, length)
    if not snapped.all():
        log.warning(
            "%d of %d points are farther than %.0f m from any walkable edge and were not "
            "snapped (they count as unreachable).",
            int((~snapped).sum()),
            n,
            max_snap_m,
        )
    return Snapped(edge, offset, access, snapped, float(max_snap_m))


def _break_ties(net, x, y, max_snap_m, points, edge, access, along, glen) -> None:
    """Points equally near several edges: the edge the STRtree picks (in place)."""
    pts = shapely.points(x[points], y[points])
    (pi, ei), d = _tree(net).query_nearest(
        pts, max_distance=max_snap_m, return_distance=True, all_matches=False
    )
    p = points[pi]
    edge[p] = ei
    access[p] = d
    geoms = net.edge_geometry[ei]
    along[p] = shapely.line_locate_point(geoms, pts[pi])
    glen[p] = shapely.length(geoms)


def snap_points_strtree(
    net: Network, x: np.ndarray, y: np.ndarray, max_snap_m: float = MAX_SNAP_M
) -> Snapped:
    """The reference search: shapely's STRtree for every point (slow; for checks)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(x)
    edge = np.full(n, -1, np.int64)
    offset = np.zeros(n)
    access = np.full(n, np.inf)
    if n == 0:
        return Snapped(edge, offset, access, np.zeros(0, bool), float(max_snap_m))
    pts = shapely.points(x, y)
    (pi, ei), d = _tree(net).query_nearest(
        pts, max_distance=max_snap_m, return_distance=True, all_matches=False
    )
    edge[pi] = ei
    access[pi] = d
    geoms = net.edge_geometry[ei]
    along = shapely.line_locate_point(geoms, pts[pi])
    glen = shapely.length(geoms)
    scale = np.divide(net.edge_length[ei], glen, out=np.ones(len(ei)), where=glen > 0)
    offset[pi] = np.clip(along * scale, 0.0, net.edge_length[ei])
    return Snapped(edge, offset, access, edge >= 0, float(max_snap_m))


def _pairs(net: Network, s: Snapped, as_source: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, node, metres) triples linking snapped points to the edge ends."""
    ok = np.flatnonzero(s.snapped)
    e = s.edge[ok]
    f = net.edge_factor[e]
    t = s.offset_m[ok] * f
    rest = (net.edge_length[e] - s.offset_m[ok]) * f
    a = s.access_m[ok]
    fw, bw = net.edge_forward[e], net.edge_backward[e]
    u, v = net.edge_u[e], net.edge_v[e]
    if as_source:  # walking away from the point: to v needs u->v, to u needs v->u
        to_v, to_u = fw, bw
    else:  # walking to the point: from u needs u->v, from v needs v->u
        to_v, to_u = bw, fw
    # a point snapped onto an end node is at that node, whatever the edge's direction
    # (ties between edges at a node are broken arbitrarily, often onto a one-way edge)
    to_u = to_u | (t == 0)
    to_v = to_v | (rest == 0)
    point = np.r_[ok[to_u], ok[to_v]]
    node = np.r_[u[to_u], v[to_v]]
    metres = np.r_[t[to_u] + a[to_u], rest[to_v] + a[to_v]]
    return point, node, metres


def links(net: Network, s: Snapped, *, as_source: bool) -> Links:
    """:class:`Links` for sources (sites) or targets (demand) from a :class:`Snapped`."""
    point, node, metres = _pairs(net, s, as_source)
    order = np.lexsort((metres, point))
    point, node, metres = point[order], node[order], metres[order]
    counts = np.bincount(point, minlength=len(s))
    ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    return Links(ptr, node.astype(np.int32), metres.astype(np.float64))


def same_edge_pairs(
    net: Network, sites: Snapped, demand: Snapped, limit_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct walks between a site and demand on the same edge, not through its ends.

    Returns (site, demand, metres) triples within ``limit_m``.
    """
    s_ok = np.flatnonzero(sites.snapped)
    d_ok = np.flatnonzero(demand.snapped)
    if len(s_ok) == 0 or len(d_ok) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    # group demand by edge, then expand each site over the demand on its edge
    d_edge = demand.edge[d_ok]
    order = np.argsort(d_edge, kind="stable")
    d_sorted = d_ok[order]
    e_sorted = d_edge[order]
    s_edge = sites.edge[s_ok]
    lo = np.searchsorted(e_sorted, s_edge, side="left")
    hi = np.searchsorted(e_sorted, s_edge, side="right")
    cnt = hi - lo
    if cnt.sum() == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    si = np.repeat(s_ok, cnt)
    start = np.repeat(lo - np.r_[0, np.cumsum(cnt)[:-1]], cnt)
    di = d_sorted[np.arange(cnt.sum()) + start]
    e = sites.edge[si]
    ts, td = sites.offset_m[si], demand.offset_m[di]
    ahead = td >= ts
    allowed = np.where(ahead, net.edge_forward[e], net.edge_backward[e]) | (td == ts)
    metres = np.abs(td - ts) * net.edge_factor[e] + sites.access_m[si] + demand.access_m[di]
    keep = allowed & (metres <= limit_m)
    return si[keep], di[keep], metres[keep]
