"""Tiled coverage: the walk-distance matrix of a region computed tile by tile on Dask.

The sites are split into tiles (a square grid of ``tile_m`` metres, or district
polygons). Each tile is one Dask task that runs the ordinary bounded searches
(:func:`siting.network.paths.bounded_distances`) from its own sites on a *cut* of the
network: every node within the tile's halo. The pieces are stacked row by row: a site
belongs to exactly one tile, so every (site, demand) pair is computed once, and nothing
is merged or double counted.

Why the cut loses no path
-------------------------
Let ``κ`` be the smallest ratio, over the network's directed edges, of walking cost to
the straight-line distance between the edge's end nodes (1 on a grid; a hair under 1
when lengths are geodesic and coordinates projected). A walk of cost ``c`` then never
ends more than ``c / κ`` metres (straight line) from where it started. A search from a
site enters the network at its entry nodes (the ends of its edge) and stops at the
limit ``L``, so every node it reaches within ``L``, and every node on the shortest path
there, lies within ``L / κ`` of an entry node. The tile's cut keeps every node inside the
bounding box of its sites' entry nodes grown by ``L / κ`` (plus a rounding margin) and
every edge between two kept nodes. Each shortest path of length ≤ ``L`` from a tile site
is therefore whole inside the cut, the search on the cut settles the same nodes at the
same float64 sums, and a demand point linked to a node outside the cut cannot be within
``L`` through that node. The distances are the single-process ones, bit for bit.

Snapping stays global (the same :func:`~siting.network.snap.snap_points` on the whole
network), so every point joins the same edge as in :func:`siting.coverage`, ties
included. Walks between a site and demand on the same edge are added afterwards, as in
:func:`siting.coverage`.

Where it wins: a worker holds one tile's cut (a few MB to a few hundred MB), not the
region's network, and tiles run on as many workers or machines as there are. The
calling process still holds the network and the final matrix.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely

from ._docstrings import shared_doc
from .errors import ParameterError
from .network.graph import Network
from .network.paths import Links, bounded_distances

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TILE_M",
    "TileJob",
    "TileResult",
    "cost_ratio",
    "run_tile",
    "site_tiles",
    "split",
    "tiled_coverage",
    "tiled_distances",
]

#: default tile side, metres (about 9 walking limits of 15 minutes)
DEFAULT_TILE_M = 10_000.0
#: relative and absolute (metres) margins on the halo, for rounding
HALO_REL, HALO_ABS = 1e-9, 1e-3


@dataclass(frozen=True)
class TileJob:
    """One tile's work: the cut of the network and the searches from its sites.

    Made by :func:`split`. Everything but ``sites`` and ``demand`` is local to the cut
    (nodes ``0..len(nodes)-1``).

    Parameters
    ----------
    sites : numpy.ndarray
        Global site rows searched from.
    demand : numpy.ndarray
        Global demand columns of the local targets.
    nodes : numpy.ndarray
        Global node index of each node of the cut.
    indptr, indices, weights : numpy.ndarray
        Directed CSR adjacency of the cut, weights in metres.
    sources, targets : Links
        The sites' and the targets' links on the cut.
    limit_m : float
        Walking limit, metres.
    """

    sites: np.ndarray
    demand: np.ndarray
    nodes: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    sources: Links
    targets: Links
    limit_m: float

    @property
    def nbytes(self) -> int:
        """Bytes of arrays shipped to the worker."""
        arrays = (self.sites, self.demand, self.nodes, self.indptr, self.indices, self.weights)
        links_ = (self.sources, self.targets)
        return sum(a.nbytes for a in arrays) + sum(
            lk.ptr.nbytes + lk.node.nbytes + lk.metres.nbytes for lk in links_
        )


@dataclass(frozen=True)
class TileResult:
    """A tile's rows: for global sites ``sites``, CSR rows over global demand columns.

    Parameters
    ----------
    sites : numpy.ndarray
        Global site rows.
    indptr : numpy.ndarray
        CSR row pointers, one row per site.
    columns : numpy.ndarray
        Global demand column of each entry.
    metres : numpy.ndarray
        Walking metres of each entry (within the limit).
    n_nodes : int
        Nodes in the tile's cut.
    peak_mb : float
        Peak resident memory of the worker process, MB.
    """

    sites: np.ndarray
    indptr: np.ndarray
    columns: np.ndarray
    metres: np.ndarray
    n_nodes: int
    peak_mb: float


def run_tile(job: TileJob, threads: int = 1) -> TileResult:
    """Run one tile's searches (a Dask task; also callable in-process).

    Parameters
    ----------
    job : TileJob
        The tile's cut and sites.
    threads : int
        Threads for the searches.

    Returns
    -------
    TileResult
        The tile's rows of the site × demand matrix.
    """
    D = bounded_distances(
        job.indptr, job.indices, job.weights, job.sources, job.targets, job.limit_m,
        threads=threads,
    )  # fmt: skip
    return TileResult(
        job.sites,
        D.indptr.astype(np.int64),
        job.demand[D.indices],
        D.data,
        len(job.nodes),
        _peak_mb(),
    )


def _peak_mb() -> float:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return float("nan")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------- splitting
def cost_ratio(net: Network) -> float:
    """``κ``: the least walking cost per straight-line metre over the directed edges.

    Parameters
    ----------
    net : Network
        The walking network.

    Returns
    -------
    float
        κ (1 on a grid); ``inf`` when no edge joins two distinct points.
    """
    rows = np.repeat(np.arange(net.n_nodes), np.diff(net.indptr))
    cols = net.indices
    straight = np.hypot(net.node_x[rows] - net.node_x[cols], net.node_y[rows] - net.node_y[cols])
    ok = straight > 0
    if not ok.any():
        return math.inf
    return float(np.min(net.weights[ok] / straight[ok]))


def site_tiles(
    x: np.ndarray, y: np.ndarray, tiles: float | gpd.GeoDataFrame, crs: Any = None
) -> np.ndarray:
    """Tile number of each site: a square grid of ``tiles`` metres, or polygons.

    With polygons (e.g. districts), a site takes the first polygon that covers it; sites
    in none form one more tile.

    Parameters
    ----------
    x, y : numpy.ndarray
        Site coordinates, metres (in ``crs``).
    tiles : float or geopandas.GeoDataFrame
        Tile side, metres; or polygons in any CRS.
    crs : pyproj.CRS or str, optional
        The coordinates' CRS (to reproject polygons into).

    Returns
    -------
    numpy.ndarray
        int64 tile label of each site.

    Raises
    ------
    ParameterError
        A tile side that is not a finite number > 0 metres.
    """
    if isinstance(tiles, gpd.GeoDataFrame | gpd.GeoSeries):
        polys = tiles.to_crs(crs).geometry.to_numpy() if crs is not None else tiles.geometry
        tree = shapely.STRtree(np.asarray(polys))
        pt, poly = tree.query(shapely.points(x, y), predicate="covered_by")
        label = np.full(len(x), len(polys), np.int64)
        first = np.unique(pt, return_index=True)[1]
        label[pt[first]] = poly[first]
        return label
    side = float(tiles)
    if not (side > 0 and math.isfinite(side)):
        msg = f"tiles={tiles!r}: give a tile side in metres (> 0) or district polygons."
        raise ParameterError(msg)
    i = np.floor((x - np.min(x)) / side).astype(np.int64)
    j = np.floor((y - np.min(y)) / side).astype(np.int64)
    return j * (int(i.max()) + 1) + i


class _NodeBuckets:
    """Nodes filed in square buckets, to find the nodes inside a box quickly."""

    def __init__(self, x: np.ndarray, y: np.ndarray, side: float) -> None:
        self.x, self.y, self.side = x, y, side
        self.x0, self.y0 = float(x.min()), float(y.min())
        self.nx = int((x.max() - self.x0) // side) + 1
        self.ny = int((y.max() - self.y0) // side) + 1
        key = ((y - self.y0) // side).astype(np.int64) * self.nx + ((x - self.x0) // side).astype(
            np.int64
        )
        self.order = np.argsort(key, kind="stable").astype(np.int32)
        self.ptr = np.r_[0, np.cumsum(np.bincount(key, minlength=self.nx * self.ny))]

    def inside(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Sorted node indices with ``x0 <= x <= x1`` and ``y0 <= y <= y1``."""
        i0 = max(int((x0 - self.x0) // self.side), 0)
        i1 = min(int((x1 - self.x0) // self.side), self.nx - 1)
        j0 = max(int((y0 - self.y0) // self.side), 0)
        j1 = min(int((y1 - self.y0) // self.side), self.ny - 1)
        if i0 > i1 or j0 > j1:
            return np.zeros(0, np.int64)
        rows = [
            self.order[self.ptr[j * self.nx + i0] : self.ptr[j * self.nx + i1 + 1]]
            for j in range(j0, j1 + 1)
        ]
        cand = np.concatenate(rows).astype(np.int64)
        x, y = self.x[cand], self.y[cand]
        keep = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        return np.sort(cand[keep])


def _gather(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the CSR entries of ``rows`` (in row order) and each entry's row slot."""
    counts = ptr[rows + 1] - ptr[rows]
    slot = np.repeat(np.arange(len(rows)), counts)
    first = np.cumsum(counts) - counts
    pos = np.arange(int(counts.sum())) - np.repeat(first, counts) + np.repeat(ptr[rows], counts)
    return pos, slot


def _cut(net: Network, nodes: np.ndarray, local: np.ndarray):
    """The directed CSR of ``net`` restricted to ``nodes`` (``local`` maps global → local)."""
    pos, slot = _gather(net.indptr, nodes)
    dst = local[net.indices[pos]]
    keep = dst >= 0
    counts = np.bincount(slot[keep], minlength=len(nodes))
    indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    return indptr, dst[keep].astype(np.int32), net.weights[pos[keep]]


def _local_links(lk: Links, points: np.ndarray, local: np.ndarray) -> Links:
    """The links of ``points`` (rows of ``lk``), nodes renumbered by ``local``."""
    pos, slot = _gather(lk.ptr, points)
    counts = np.bincount(slot, minlength=len(points))
    return Links(
        np.r_[0, np.cumsum(counts)].astype(np.int64),
        local[lk.node[pos]].astype(np.int32),
        lk.metres[pos],
    )


def _targets_of(
    by_node: tuple[np.ndarray, np.ndarray, np.ndarray], nodes: np.ndarray
) -> tuple[np.ndarray, Links]:
    """Demand linked to ``nodes``: (global demand ids, their links on the cut)."""
    ptr, point, metres = by_node
    pos, slot = _gather(ptr, nodes)
    demand, local_point = np.unique(point[pos], return_inverse=True)
    order = np.lexsort((slot, local_point))
    counts = np.bincount(local_point, minlength=len(demand))
    lk = Links(
        np.r_[0, np.cumsum(counts)].astype(np.int64),
        slot[order].astype(np.int32),
        metres[pos][order],
    )
    return demand.astype(np.int64), lk


@dataclass
class _Splitter:
    """Builds :class:`TileJob` s from the whole network and the global links."""

    net: Network
    sources: Links
    targets_by_node: tuple[np.ndarray, np.ndarray, np.ndarray]
    limit_m: float
    halo_m: float
    buckets: _NodeBuckets

    def job(self, sites: np.ndarray) -> TileJob:
        net, src = self.net, self.sources
        entry = src.node[_gather(src.ptr, sites)[0]]
        ex, ey = net.node_x[entry], net.node_y[entry]
        h = self.halo_m
        nodes = self.buckets.inside(ex.min() - h, ey.min() - h, ex.max() + h, ey.max() + h)
        local = np.full(net.n_nodes, -1, np.int64)
        local[nodes] = np.arange(len(nodes))
        indptr, indices, weights = _cut(net, nodes, local)
        sources = _local_links(src, sites, local)
        demand, targets = _targets_of(self.targets_by_node, nodes)
        return TileJob(
            sites, demand, nodes, indptr, indices, weights, sources, targets, self.limit_m
        )


@shared_doc
def split(
    net: Network,
    sources: Links,
    targets: Links,
    labels: np.ndarray,
    limit_m: float,
) -> Iterator[TileJob]:
    """The tile jobs, one per label among sites with at least one entry node.

    Parameters
    ----------
    %(tiled_inputs)s
    labels : numpy.ndarray
        Tile label of each site (:func:`site_tiles`).
    limit_m : float
        Walking limit, metres: sets each cut's halo.

    Yields
    ------
    TileJob
        One per tile, with the cut of the network its searches need (the whole network
        when an edge costs nothing over a distance, κ = 0: no smaller halo is safe).
    """
    kappa = cost_ratio(net)
    if kappa <= 0:
        log.warning(
            "The network has an edge of zero walking cost between two distinct nodes; "
            "every tile carries the whole network."
        )
        halo = math.inf
    else:
        halo = limit_m / kappa * (1 + HALO_REL) + HALO_ABS
        if kappa < 0.5:
            log.warning(
                "Some edges cost less than half their straight-line length (κ=%.3f): the "
                "tiles' halos grow to %.0f m.",
                kappa,
                halo,
            )
    span = max(np.ptp(net.node_x), np.ptp(net.node_y), 1.0)
    halo = min(halo, 2 * span)
    buckets = _NodeBuckets(net.node_x, net.node_y, max(min(halo, span), 1.0))
    splitter = _Splitter(net, sources, targets.by_node(net.n_nodes), limit_m, halo, buckets)
    has_entry = np.diff(sources.ptr) > 0
    order = np.argsort(labels, kind="stable")
    order = order[has_entry[order]]
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    for sites in np.split(order, cuts):
        if len(sites):
            yield splitter.job(sites.astype(np.int64))


# ---------------------------------------------------------------------- running
def _default_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=_cores(),
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.CRITICAL,
    )
    return Client(cluster), cluster


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run_jobs(jobs: Iterator[TileJob], client, threads: int, stats: dict) -> list[TileResult]:
    """Submit the jobs to Dask in batches (one scatter per batch; at most two batches in
    flight, so this process never holds every tile at once), gather the results."""
    from distributed import as_completed

    batch_size = 2 * max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    results: list[TileResult] = []
    running = as_completed(loop=client.loop, with_results=True)
    for batch in _batches(jobs, batch_size):
        for job in batch:
            stats["jobs"] += 1
            stats["max_job_mb"] = max(stats["max_job_mb"], job.nbytes / 2**20)
            stats["max_cut_nodes"] = max(stats["max_cut_nodes"], len(job.nodes))
        data = client.scatter(batch)
        for f in client.map(run_tile, data, threads=threads, pure=False):
            running.add(f)
        del batch, data
        while running.count() > batch_size:
            results.append(next(running)[1])
    results.extend(r for _, r in running)
    return results


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _assemble(results: list[TileResult], n_sites: int, n_demand: int) -> sp.csr_matrix:
    counts = np.zeros(n_sites, np.int64)
    for r in results:
        counts[r.sites] = np.diff(r.indptr)
    indptr = np.r_[0, np.cumsum(counts)]
    total = int(indptr[-1])
    idx_dtype = np.int32 if max(total, n_demand) < 2**31 else np.int64
    cols = np.empty(total, idx_dtype)
    vals = np.empty(total)
    for r in results:
        pos, _ = _gather(indptr, r.sites)
        cols[pos] = r.columns
        vals[pos] = r.metres
    M = sp.csr_matrix((vals, cols, indptr.astype(idx_dtype)), shape=(n_sites, n_demand))
    M.has_sorted_indices = False
    return M


@shared_doc
def tiled_distances(
    net: Network,
    sources: Links,
    targets: Links,
    limit_m: float,
    *,
    tiles: float | gpd.GeoDataFrame,
    site_x: np.ndarray,
    site_y: np.ndarray,
    client=None,
    threads: int = 1,
    stats: dict | None = None,
) -> sp.csr_matrix:
    """Site × demand walking metres within ``limit_m``, tile by tile on Dask.

    Equal to the single-process :func:`~siting.network.bounded_distances` on the
    whole network (same pairs, same metres); the same-edge walks are *not* included
    (:func:`siting.coverage` adds them).

    Parameters
    ----------
    %(tiled_inputs)s
    limit_m : float
        Walking limit, metres.
    tiles : float or geopandas.GeoDataFrame
        Tile side, metres; or polygons (e.g. districts).
    site_x, site_y : numpy.ndarray
        The sites' coordinates in ``net.crs`` (metres), which decide their tiles.
    client : distributed.Client, optional
        Default: a ``LocalCluster`` with one single-threaded worker per core, closed
        afterwards.
    threads : int
        Threads per task.
    stats : dict, optional
        Receives ``jobs``, ``max_job_mb``, ``max_cut_nodes`` and ``worker_peak_mb``.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_sites, n_demand)`` walking metres within ``limit_m``, as
        :func:`~siting.network.bounded_distances` gives them.

    Raises
    ------
    ParameterError
        A tile side that is not a finite number > 0 metres.
    """
    labels = site_tiles(site_x, site_y, tiles, net.crs)
    stats = {} if stats is None else stats
    stats.update(jobs=0, max_job_mb=0.0, max_cut_nodes=0)
    jobs = split(net, sources, targets, labels, limit_m)
    own = None
    if client is None:
        client, own = _default_client()
    try:
        results = _run_jobs(jobs, client, threads, stats)
    finally:
        if own is not None:
            client.close()
            own.close()
    stats["worker_peak_mb"] = max((r.peak_mb for r in results), default=0.0)
    return _assemble(results, sources.n_points, targets.n_points)


def tiled_coverage(
    network: Network,
    demand: gpd.GeoDataFrame,
    existing: gpd.GeoDataFrame | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    *,
    tile_m: float | None = DEFAULT_TILE_M,
    districts: gpd.GeoDataFrame | None = None,
    client=None,
    **options: Any,
):
    """:func:`siting.coverage` computed tile by tile on Dask; the same :class:`Coverage`.

    Parameters
    ----------
    network, demand, existing, candidates
        As for :func:`siting.coverage`.
    tile_m
        Side of the square tiles (metres), used unless ``districts`` is given.
    districts
        Polygons (e.g. district boundaries) to use as tiles instead of squares.
    client
        A ``distributed.Client`` (a cluster's scheduler); default a ``LocalCluster`` with
        one single-threaded worker per core, started and closed by this call.
    **options
        Any other :func:`siting.coverage` option (``minutes``, ``speed_kmh``, ...).

    Returns
    -------
    Coverage
        The same as :func:`siting.coverage` without tiles, pair for pair.

    Raises
    ------
    ParameterError, DataError, MissingColumnError, CRSError, NetworkError
        As for :func:`siting.coverage`.
    """
    from .measure import coverage

    tiles = districts if districts is not None else tile_m
    return coverage(network, demand, existing, candidates, tiles=tiles, client=client, **options)
