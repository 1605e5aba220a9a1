"""Regional decomposition bound: LP bounds tightened by exact solves of city regions.

The LP bound of a large covering model is often weak by 0.5-1 % (its integrality gap),
and HiGHS' branch-and-bound cannot solve the whole city. But the gap is local: it comes
from how sites in one neighbourhood can share its demand. This module proves a bound
that keeps the integer constraints inside regions and relaxes only what links them.

Every model here reduces, for a price on sites, to the *prize-collecting* problem

    V = max  gain'z - price'y   s.t.  z_i <= (A y)_i,  y, z in {0, 1}

(``gain`` = persons, ``price`` = what a site costs in persons). Split the demand rows
into regions ``D_k`` and each site's price into shares ``price_j = sum_k s_kj``: with a
private copy of ``y`` per region,

    V <= sum_k V_k,   V_k = max  gain[D_k]'z - s_k'y   s.t.  z_i <= (A y)_i, i in D_k,

whatever the split (a relaxation: copies may disagree). Each ``V_k`` is a small MIP that
HiGHS solves, and its dual bound is valid even when it stops early. The split comes from
LP duals ``lam`` (row multipliers): ``s_kj`` is the share of ``(A' lam)_j`` paid by rows of
``D_k``, rescaled to sum to ``price_j``. With that split the regions' LP relaxations add
up to the Lagrangian bound of ``lam`` (or better), so the regional bound is never weaker
than the LP bound it starts from (but for a safety margin of 1e-7 of what each region
gains and pays, for HiGHS' tolerances), and it is stronger by the regions' integrality
gaps.

Regions are grown on the sites' adjacency graph (two sites are adjacent when they reach
a common demand point): farthest-point seeds, then each site joins its nearest seed (in
hops), and each demand row joins the region most of its sites belong to. No coordinates
are needed. Used by :func:`siting.optimize.target.solve_target` and
:func:`siting.optimize.mclp.solve_mclp` on models too large for HiGHS as a whole (the
50,000-node grid of the benchmark: bound 102.5 -> 103.14 sites, so 104, with 23 regions
solved in 18 s on 2 cores).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from siting.optimize import clock, settings
from siting.optimize.formulations import LinearModel
from siting.optimize.highs import _LNS_HEURISTICS, highs_lp, new_highs

__all__ = [
    "RegionalBound",
    "estimate_seconds",
    "mclp_regional_bound",
    "partition_columns",
    "price_split",
    "psclp_regional_bound",
    "regional_price_bound",
    "reserve_seconds",
]


@dataclass
class RegionalBound:
    """Outcome of :func:`regional_price_bound`.

    Attributes
    ----------
    value : float
        Proven upper bound on the prize-collecting optimum (units of ``gain``).
    lp_value : float
        Sum of the regions' LP optima with the same split (what the bound would be
        without integer solves).
    regions : int
        Number of regions.
    solved : int
        Regions whose MIP HiGHS solved to optimality.
    stopped : int
        Regions stopped by the time limit (their dual bound counts).
    skipped : int
        Regions the time did not reach (their LP bound counts).
    sizes : list of (rows, columns)
    """

    value: float
    lp_value: float
    regions: int
    solved: int
    stopped: int
    skipped: int
    sizes: list[tuple[int, int]] = field(default_factory=list)
    model_bound: float = float("nan")  # in the model's units (set by the model wrappers)
    model_lp_bound: float = float("nan")  # ... the same split without integer solves

    def summary(self) -> dict[str, Any]:
        """Counts and bounds for a solution's history."""
        return {
            "regions": self.regions,
            "solved": self.solved,
            "stopped": self.stopped,
            "skipped": self.skipped,
            "complete": self.complete,
            "largest": list(max(self.sizes, default=(0, 0))),
            "bound": self.model_bound,
            "lp_bound": self.model_lp_bound,
        }

    @property
    def complete(self) -> bool:
        """Every region solved to optimality: the bound is the same on any machine."""
        return self.solved == self.regions


def partition_columns(A: sp.csr_matrix, n_regions: int) -> np.ndarray:
    """Region label (0..n_regions-1) of each column, grown on the sites' adjacency graph.

    Farthest-point seeds (hops on the graph "two sites reach a common row"), every site
    to its nearest seed, then two rounds moving each seed to its region's most central
    site. Deterministic. Sites in no row (or in other components) go to region 0.
    """
    nc = A.shape[1]
    k = int(max(1, min(n_regions, nc)))
    if k == 1 or nc == 0:
        return np.zeros(nc, dtype=np.int64)
    Af = sp.csr_matrix(A, dtype=np.float32)
    G = (Af.T @ Af).tocsr()
    G.setdiag(0)
    G.eliminate_zeros()
    G.data[:] = 1.0
    deg = np.diff(G.indptr)
    if k * G.nnz <= settings.farthest_point_work:
        seeds = [int(np.argmax(deg))]
        dist = csgraph.dijkstra(G, indices=seeds[0], unweighted=True)
        for _ in range(k - 1):
            far = np.where(np.isfinite(dist), dist, -1.0)
            s = int(np.argmax(far))
            if far[s] <= 0:
                break
            seeds.append(s)
            dist = np.minimum(dist, csgraph.dijkstra(G, indices=s, unweighted=True))
    else:  # large cities: one search per seed would take minutes; seeded sample instead
        linked = np.flatnonzero(deg > 0)
        pick = np.random.default_rng(0).choice(linked.size, min(k, linked.size), replace=False)
        seeds = [int(s) for s in np.sort(linked[pick])]
    labels = _nearest_seed(G, seeds)
    for _ in range(2):  # recentre: the site with the smallest total hops to its region
        labels = _nearest_seed(G, _centres(G, labels, seeds))
    return labels


def _centres(G: sp.csr_matrix, labels: np.ndarray, seeds: list[int]) -> list[int]:
    moved = []
    for r, s in enumerate(seeds):
        own = np.flatnonzero(labels == r)
        if own.size < 3:
            moved.append(s)
            continue
        # hops from at most settings.centre_trials sites of the region (evenly spread in index)
        trial = np.unique(
            np.linspace(0, own.size - 1, min(own.size, settings.centre_trials)).astype(int)
        )
        d = csgraph.dijkstra(G[own][:, own], indices=trial, unweighted=True)
        d[~np.isfinite(d)] = own.size
        moved.append(int(own[trial[np.argmin(d.sum(axis=1))]]))
    return moved


def balanced_regions(A: sp.csr_matrix, n_regions: int) -> tuple[np.ndarray, np.ndarray]:
    """``(column labels, row labels)``: :func:`partition_columns`, then regions with more
    than ``settings.split_factor`` x the median nonzeros split in two (MIP time grows faster than
    size, so one big region would set the pace)."""
    labels = partition_columns(A, n_regions)
    k = int(labels.max()) + 1 if labels.size else 1
    whole = np.zeros(k, dtype=bool)  # regions that do not split further
    while True:
        rows_in = row_regions(A, labels, k)
        nnz = np.bincount(rows_in, weights=np.diff(A.indptr), minlength=k)
        big = int(np.argmax(np.where(whole, -1.0, nnz)))
        if whole[big] or nnz[big] <= settings.split_factor * np.median(nnz[nnz > 0]):
            return labels, rows_in
        own = np.flatnonzero(labels == big)
        sub = partition_columns(A[rows_in == big][:, own], 2)
        trial = labels.copy()
        trial[own[sub == 1]] = k
        parts = np.bincount(row_regions(A, trial, k + 1), minlength=k + 1)[[big, k]]
        if parts.min() < 0.25 * parts.sum():  # a sliver: keep the region whole
            whole[big] = True
            continue
        labels, k, whole = trial, k + 1, np.r_[whole, False]


def _nearest_seed(G: sp.csr_matrix, seeds: list[int]) -> np.ndarray:
    _, _, src = csgraph.dijkstra(
        G, indices=seeds, unweighted=True, min_only=True, return_predecessors=True
    )
    pos = {s: r for r, s in enumerate(seeds)}
    lut = np.zeros(G.shape[0] + 1, dtype=np.int64)
    for s, r in pos.items():
        lut[s] = r
    src = np.where(src < 0, seeds[0], src)
    return lut[src]


def row_regions(A: sp.csr_matrix, col_labels: np.ndarray, n_regions: int) -> np.ndarray:
    """Region of each row: the region most of its columns belong to (ties: lowest)."""
    nc = A.shape[1]
    onehot = sp.csr_matrix((np.ones(nc), (np.arange(nc), col_labels)), shape=(nc, n_regions))
    counts = (sp.csr_matrix(A, dtype=float) @ onehot).tocsr()  # sparse: rows x regions
    counts.sort_indices()
    nd = counts.shape[0]
    out = np.zeros(nd, dtype=np.int64)
    has = np.diff(counts.indptr) > 0
    if counts.nnz:
        # per row, the largest count; among equal counts the lowest region (sorted indices)
        row = np.repeat(np.arange(nd), np.diff(counts.indptr))
        order = np.lexsort((counts.indices, -counts.data, row))
        first = counts.indptr[:-1][has]
        out[has] = counts.indices[order[first]]
    return out


def price_split(
    A: sp.csr_matrix, lam: np.ndarray, price: np.ndarray, rows_in: np.ndarray, n_regions: int
) -> sp.csr_matrix:
    """Shares ``S`` (regions x columns) with ``S.sum(axis=0) == price``.

    Column ``j``'s share of region ``k`` is proportional to ``sum of lam_i`` over the rows
    of ``k`` that ``j`` reaches; a column no multiplier supports goes whole to the region
    of its first row (or region 0).
    """
    nd, nc = A.shape
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    price = np.asarray(price, dtype=float)
    Ac = sp.csc_matrix(A, dtype=float)
    # (k, j) -> sum of lam over rows of region k reached by column j
    R = sp.csr_matrix((lam, (rows_in, np.arange(nd))), shape=(n_regions, nd))
    S = (R @ Ac).tocsr()
    tot = np.asarray(S.sum(axis=0)).ravel()
    scale = np.where(tot > 0, price / np.where(tot > 0, tot, 1.0), 0.0)
    S = sp.csr_matrix(S @ sp.diags(scale))
    bare = np.flatnonzero(tot <= 0)
    if bare.size:
        has = np.diff(Ac.indptr)[bare] > 0
        first = Ac.indices[np.minimum(Ac.indptr[bare], max(0, Ac.nnz - 1))] if Ac.nnz else 0
        home = np.where(has, rows_in[first] if nd else 0, 0)
        S = S + sp.csr_matrix((price[bare], (home, bare)), shape=(n_regions, nc))
    S.eliminate_zeros()
    return S.tocsr()


@dataclass
class _Region:
    rows: np.ndarray
    cols: np.ndarray
    c: np.ndarray
    M: sp.csr_matrix
    slack: float  # numerical safety margin added to the region's bound
    lagrangian: float  # the region's share of the Lagrangian bound of ``lam`` (no solve)


def _region_models(
    A: sp.csr_matrix, gain: np.ndarray, lam: np.ndarray, S: sp.csr_matrix, rows_in: np.ndarray
) -> list[_Region]:
    out = []
    Af = sp.csr_matrix(A, dtype=float)
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    order = np.argsort(rows_in, kind="stable")
    cuts = np.searchsorted(rows_in[order], np.arange(S.shape[0] + 1))
    for k in range(S.shape[0]):
        rows = order[cuts[k] : cuts[k + 1]]
        sub = Af[rows]
        cols = np.flatnonzero(np.diff(sub.tocsc().indptr) > 0)
        share = np.asarray(S[k].toarray()).ravel()  # >= 0: columns outside cannot gain
        sub = sub[:, cols]
        c = np.r_[share[cols], -gain[rows]]  # minimise -(gain'z - share'y)
        M = sp.hstack([-sub, sp.identity(rows.size, format="csr")]).tocsr()
        # HiGHS' tolerances (1e-7 relative) on what the region can gain or pay
        slack = 1e-7 * (float(np.abs(gain[rows]).sum()) + float(np.abs(share).sum())) + 1e-9
        # for any lam: V_k <= sum (gain_i - lam_i)^+ + sum_j ((A_k' lam)_j - share_j)^+
        paid = sub.T @ lam[rows]
        lagrangian = float(np.maximum(gain[rows] - lam[rows], 0.0).sum())
        lagrangian += float(np.maximum(paid - share[cols], 0.0).sum())
        out.append(_Region(rows, cols, c, M, slack, lagrangian + slack))
    return out


class _Schedule:
    """Hands out regions (largest first) with a share of the time left, so that time an
    easy region does not use goes to the regions after it."""

    def __init__(self, regions: list[_Region], stop: float, workers: int) -> None:
        self.queue = sorted(range(len(regions)), key=lambda k: -regions[k].M.nnz)
        self.stop = stop  # time.perf_counter() reading
        self.workers = workers
        self.lock = threading.Lock()

    def next(self) -> tuple[int, float] | None:
        """(region, seconds for it), or None when none is left."""
        with self.lock:
            if not self.queue:
                return None
            k = self.queue.pop(0)
            left = self.stop - time.perf_counter()
            fair = left * self.workers / (len(self.queue) + 1)
            return k, min(left, settings.region_spread * fair)


def _solve_region(reg: _Region, seconds: float, stop: float) -> tuple[float, float, str]:
    """(LP bound, proven upper bound, status) of one region (maximisation); no HiGHS run
    ends after ``stop`` (a ``time.perf_counter()`` reading). Whatever goes wrong, the
    region's Lagrangian term stays a valid bound."""
    lag = reg.lagrangian
    n_y, n_z = reg.cols.size, reg.rows.size
    if n_z == 0:
        return 0.0, 0.0, "Optimal"
    if seconds < settings.min_region_s or stop - time.perf_counter() < settings.min_region_s:
        return lag, lag, "skipped"
    try:
        lp = highs_lp(LinearModel(reg.c, reg.M, np.full(n_z, -np.inf), np.zeros(n_z)))
        h = new_highs()
        h.setOptionValue("threads", 1)
        h.setOptionValue("time_limit", max(0.01, stop - time.perf_counter()))
        h.passModel(lp)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return lag, lag, "skipped"
        lp_up = min(lag, -float(h.getInfo().objective_function_value) + reg.slack)
        seconds = min(seconds, stop - time.perf_counter())
        if seconds < settings.min_region_s:
            return lp_up, lp_up, "skipped"
        vt = highspy.HighsVarType
        lp.integrality_ = [vt.kInteger] * n_y + [vt.kContinuous] * n_z
        h = new_highs()
        h.setOptionValue("threads", 1)  # each Python thread has its own HiGHS scheduler
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 0.0)
        for name in _LNS_HEURISTICS:  # the bound is wanted, not a plan
            h.setOptionValue(name, False)
        h.setOptionValue("presolve", "off")  # twice as fast on these models (HiGHS 1.16)
        h.setOptionValue("time_limit", float(seconds))
        h.passModel(lp)
        h.run()
        status = str(h.getModelStatus()).rsplit("k", 1)[-1]
        bound = float(h.getInfo().mip_dual_bound)
    except Exception:
        return lag, lag, "failed"
    if not np.isfinite(bound) or status not in ("Optimal", "TimeLimit"):
        return lp_up, lp_up, status
    return lp_up, min(lp_up, -bound + reg.slack), status


def regional_price_bound(
    A: sp.csr_matrix,
    gain: np.ndarray,
    price: np.ndarray,
    lam: np.ndarray,
    *,
    time_limit: float,
    n_regions: int | None = None,
    workers: int = 2,
) -> RegionalBound:
    """Upper bound on ``max gain'z - price'y  s.t.  z <= A y`` (binary) by regions.

    Parameters
    ----------
    A : csr_matrix (rows x columns), bool
    gain : ndarray
        Value of covering each row (persons), >= 0.
    price : ndarray
        Price of opening each column (same unit), >= 0.
    lam : ndarray
        Row multipliers (LP duals in the unit of ``gain``) that split the prices.
    time_limit : float
        Seconds for all regions together. Regions go largest first, each with a share of
        the time left; a region stopped early still gives its dual bound, one the time
        did not reach its LP bound. When every region is solved (``complete``) the bound
        is the same on any machine, and the work clock is charged an estimate from the
        regions' sizes; otherwise the whole ``time_limit``.
    n_regions : int, optional
        Default: one per ``settings.sites_per_region`` columns, at least
        ``settings.min_regions`` (larger regions give a stronger bound but take longer:
        on the 50,000-node grid, 23 regions gave 103.05 sites in 17 s, 12 regions 103.29 in 55 s).
    workers : int
        Regions solved side by side (HiGHS with one thread each).
    """
    t0 = time.perf_counter()
    A = sp.csr_matrix(A)
    nc = A.shape[1]
    k = (
        n_regions
        if n_regions is not None
        else max(settings.min_regions, round(nc / settings.sites_per_region))
    )
    k = int(max(1, min(k, nc)))
    gain = np.asarray(gain, dtype=float)
    pos = gain[gain > 0]
    unit = float(pos.mean()) if pos.size else 1.0  # HiGHS' tolerances are absolute
    clk = clock.current()
    seconds = float(time_limit)
    if clk is not None:  # end a little before the solver's own safety net
        seconds = min(seconds, clk.wall_left() - settings.region_wall_margin_s)
    stop = t0 + max(0.0, seconds)
    workers = max(1, int(workers))
    out = _one_pass(
        A,
        gain / unit,
        np.asarray(price, float) / unit,
        np.asarray(lam, float) / unit,
        k,
        stop,
        workers,
    )
    out.value *= unit
    out.lp_value *= unit
    clock.charge_sparse(4.0 * A.nnz)  # partition and split
    if out.complete:  # an estimate from the regions' sizes: the same on any machine
        work = sum(r[0] * (r[1] + 1) for r in out.sizes) / settings.region_rate / workers
        clock.charge(min(float(time_limit), work))
    else:  # stopped by real time: the whole allowance
        clock.charge(float(time_limit))
    return out


def _one_pass(
    A: sp.csr_matrix,
    gain: np.ndarray,
    price: np.ndarray,
    lam: np.ndarray,
    k: int,
    stop: float,
    workers: int,
) -> RegionalBound:
    labels, rows_in = balanced_regions(A, k)
    k = int(labels.max()) + 1 if labels.size else 1
    S = price_split(A, lam, price, rows_in, k)
    regions = _region_models(A, gain, lam, S, rows_in)
    sched = _Schedule(regions, stop, workers)
    results: list[tuple[float, float, str] | None] = [None] * len(regions)

    def work() -> None:
        while (task := sched.next()) is not None:
            results[task[0]] = _solve_region(regions[task[0]], task[1], stop)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(work) for _ in range(workers)]:
            f.result()
    status = [r[2] if r is not None else "skipped" for r in results]
    done = [
        r if r is not None else (g.lagrangian, g.lagrangian, "skipped")
        for r, g in zip(results, regions, strict=True)
    ]
    solved = status.count("Optimal")
    stopped = status.count("TimeLimit")
    return RegionalBound(
        value=float(sum(r[1] for r in done)),
        lp_value=float(sum(r[0] for r in done)),
        regions=k,
        solved=solved,
        stopped=stopped,
        skipped=len(status) - solved - stopped,
        sizes=[(r.rows.size, r.cols.size) for r in regions],
    )


def estimate_seconds(A: sp.spmatrix, workers: int = 2) -> float:
    """Work seconds the regional bound of ``A`` (rows x columns) is expected to need with
    every region solved: each row sits in a region of about ``2.2 x SITES_PER_REGION``
    columns (its own sites and the neighbours' at its edge), charged at ``settings.region_rate``
    (grid: 5.5 M estimated, 5.1 M counted)."""
    size = A.shape[0] * min(A.shape[1], 2.2 * settings.sites_per_region)
    return float(size / settings.region_rate / max(1, int(workers)))


def reserve_seconds(
    A: sp.spmatrix, seconds_left: float, *, share: float, minimum: float, workers: int = 2
) -> float:
    """Work seconds a solver keeps for the regional bound out of ``seconds_left``: 1.25 x
    :func:`estimate_seconds` (at least ``minimum``), or 0 when that does not fit in
    ``share`` of what is left."""
    left = share * seconds_left
    want = 1.25 * estimate_seconds(A, workers)
    return max(minimum, want) if minimum <= left >= want else 0.0


def _critical_ratio(value: np.ndarray, size: np.ndarray, room: float) -> float:
    """Ratio ``value/size`` of the item a fractional knapsack of ``room`` fills last,
    taking items by increasing ratio (0 when nothing is needed, inf when all fit)."""
    ok = size > 0
    ratio = value[ok] / size[ok]
    order = np.argsort(ratio, kind="stable")
    cum = np.cumsum(size[ok][order])
    k = int(np.searchsorted(cum, room))
    if room <= 0 or ratio.size == 0:
        return 0.0
    return float(ratio[order[min(k, order.size - 1)]]) if k < order.size else np.inf


def psclp_regional_bound(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    need: float,
    lam: np.ndarray,
    *,
    time_limit: float,
    workers: int = 2,
    n_regions: int | None = None,
) -> tuple[float, RegionalBound | None]:
    """Lower bound on the cost of covering ``need`` persons (partial set covering).

    For a price ``mu`` per person, every plan costs at least ``mu * need - V(mu)`` with
    ``V`` the prize-collecting optimum (persons x ``mu`` minus cost); ``mu`` is where
    the multipliers ``lam`` (LP duals, cost units) price the last person the LP covers,
    and ``V`` is bounded by :func:`regional_price_bound`. Returns ``(bound, details)``;
    ``(-inf, None)`` when ``lam`` gives no positive price.
    """
    w = np.asarray(w, dtype=float)
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    mu = _critical_ratio(lam, w, float(need))
    if not (np.isfinite(mu) and mu > 0):
        return -np.inf, None
    rb = regional_price_bound(
        A,
        w,
        np.asarray(cost, float) / mu,
        lam / mu,
        time_limit=time_limit,
        workers=workers,
        n_regions=n_regions,
    )
    rb.model_bound = mu * (float(need) - rb.value)
    rb.model_lp_bound = mu * (float(need) - rb.lp_value)
    return rb.model_bound, rb


def mclp_regional_bound(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    limit: float,
    lam: np.ndarray,
    *,
    time_limit: float,
    workers: int = 2,
    n_regions: int | None = None,
) -> tuple[float, RegionalBound | None]:
    """Upper bound on the persons covered by sites of total cost <= ``limit`` (MCLP).

    With a price ``p0`` per unit of cost, ``max w'z <= p0 * limit + V(p0)``, ``V`` the
    prize-collecting optimum; ``p0`` is the last ratio ``(A' lam)_j / cost_j`` the LP's
    knapsack takes, ``V`` bounded by :func:`regional_price_bound`. Returns
    ``(bound, details)``; ``(inf, None)`` when there is no positive price.
    """
    cost = np.asarray(cost, dtype=float)
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    value = sp.csr_matrix(A, dtype=float).T @ lam
    # the knapsack takes columns by decreasing value/cost: the last one taken
    p0 = -_critical_ratio(-value, cost, float(limit))
    if not (np.isfinite(p0) and p0 > 0):
        return np.inf, None
    rb = regional_price_bound(
        A,
        w,
        p0 * cost,
        lam,
        time_limit=time_limit,
        workers=workers,
        n_regions=n_regions,
    )
    rb.model_bound = p0 * float(limit) + rb.value
    rb.model_lp_bound = p0 * float(limit) + rb.lp_value
    return rb.model_bound, rb
