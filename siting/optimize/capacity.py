"""Capacities from planning norms, and capacitated coverage.

Norms (STANDARDS.md): community facility floor area >= 20 m² per 100 households
(national 2011-2015; Shijiazhuang 2016-2020), >= 30 m² in the later Taizhou standard.
A facility of ``F`` m² therefore serves ``F / m2_per_100_households x 100`` households.

Capacitated coverage (maximise persons served, each facility serving at most its
capacity and only demand it reaches)::

    max  sum_(i,j) w_i x_ij
    s.t. sum_j x_ij <= 1                  share of demand i served
         sum_i w_i x_ij <= cap_j y_j      capacity (persons)
         x_ij <= y_j                      (strengthening)
         sum_(j candidate) y_j <= p       existing sites fixed open
         y binary, x >= 0, only for reachable pairs (stored entries of ``cover``)

A demand point may be split between facilities (persons are divisible); identical demand
rows are merged first, which is exact for split assignment.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import highspy
import numpy as np
import scipy.sparse as sp

from siting.errors import ParameterError
from siting.optimize import clock, settings
from siting.optimize.heuristics import priced_swap_search
from siting.optimize.highs import highs_lp, new_highs, run_charged, solution_status, solve_milp
from siting.optimize.problem import CoverageProblem, Solution, relative_gap
from siting.optimize.reduce import merge_identical_rows

__all__ = [
    "PERSONS_PER_HOUSEHOLD",
    "capacitated_lagrangian",
    "capacity_from_floor_area",
    "households_from_floor_area",
    "solve_capacitated_coverage",
]

M2_PER_100_HOUSEHOLDS = 20.0  # m² of community facility per 100 households (national norm)
PERSONS_PER_HOUSEHOLD = 2.8  # persons per household (default; override with local data)


def households_from_floor_area(
    floor_area_m2: np.ndarray | float, m2_per_100_households: float = M2_PER_100_HOUSEHOLDS
) -> np.ndarray | float:
    """Households a facility can serve under a floor-area norm.

    Parameters
    ----------
    floor_area_m2 : float or array
        Facility floor area (m²).
    m2_per_100_households : float
        Norm: m² required per 100 households (20 national, 30 Taizhou 2023-2025).

    Returns
    -------
    float or ndarray: households.
    """
    if m2_per_100_households <= 0:
        msg = f"m2_per_100_households must be > 0, got {m2_per_100_households!r}"
        raise ParameterError(msg)
    area = np.asarray(floor_area_m2, dtype=float)
    if np.any(area < 0) or not np.all(np.isfinite(area)):
        msg = "floor_area_m2 must be finite and >= 0 (square metres)"
        raise ParameterError(msg)
    out = area / m2_per_100_households * 100.0
    return float(out) if out.ndim == 0 else out


def capacity_from_floor_area(
    floor_area_m2: np.ndarray | float,
    m2_per_100_households: float = M2_PER_100_HOUSEHOLDS,
    persons_per_household: float = PERSONS_PER_HOUSEHOLD,
) -> np.ndarray | float:
    """Persons a facility can serve under a floor-area norm.

    ``persons = floor_area_m2 / m2_per_100_households x 100 x persons_per_household``;
    e.g. 300 m² at 20 m² / 100 households and 2.8 persons per household -> 4,200 persons.

    Parameters
    ----------
    floor_area_m2 : float or array
        Facility floor area (m²).
    m2_per_100_households : float
        Norm: m² per 100 households.
    persons_per_household : float
        Average household size (persons).

    Returns
    -------
    float or ndarray: persons.
    """
    if persons_per_household <= 0:
        msg = f"persons_per_household must be > 0, got {persons_per_household!r}"
        raise ParameterError(msg)
    return households_from_floor_area(floor_area_m2, m2_per_100_households) * (
        persons_per_household
    )


def _greedy_capacitated(
    A: sp.csr_matrix, w: np.ndarray, cap: np.ndarray, fixed: np.ndarray, p: int
) -> tuple[np.ndarray, np.ndarray]:
    """Feasible start: existing sites, then ``p`` candidates by persons they can still serve.

    Each site opened serves the same share ``min(1, cap / reachable unserved persons)`` of
    every unserved person it reaches. Returns ``(selected, x)`` with ``x`` the share of each
    stored pair (CSR order of ``A``) served.
    """
    k = A.nnz
    pair_ids = np.arange(1, k + 1, dtype=np.int64)  # 1-based: a stored 0 would be dropped
    Ac = sp.csr_matrix((pair_ids, A.indices, A.indptr), shape=A.shape).tocsc()
    residual = np.asarray(w, float).copy()
    x = np.zeros(k)
    sel = fixed.copy()

    def open_site(j: int) -> None:
        lo, hi = Ac.indptr[j], Ac.indptr[j + 1]
        rows, pairs = Ac.indices[lo:hi], Ac.data[lo:hi] - 1
        reach = residual[rows].sum()
        if reach <= 0:
            return
        f = min(1.0, cap[j] / reach)
        x[pairs] += f * residual[rows] / np.maximum(w[rows], 1e-300)
        residual[rows] *= 1.0 - f

    for j in np.flatnonzero(fixed):  # the open sites, not every site
        open_site(int(j))
    cand = ~fixed
    for _ in range(p):
        clock.charge_sparse(A.nnz + 4 * A.shape[1])
        gain = np.minimum(cap, A.T @ residual)
        gain[~cand | sel] = -1.0
        j = int(np.argmax(gain))
        if gain[j] < 0:
            break
        sel[j] = True
        open_site(j)
    return sel, np.minimum(x, 1.0)


class _SiteKnapsacks:
    """Each site's best use of its capacity when serving row ``i`` is worth ``w_i - u_i``.

    For row prices ``u >= 0``, site ``j`` fills ``cap_j`` with the persons it reaches, best
    ``1 - u_i / w_i`` first (a fractional knapsack); :meth:`values` returns every site's
    value at once. Used by the Lagrangian bound (the relaxed problem) and by the swap
    search (the value a site would add to a plan whose allocation LP has duals ``u``).
    """

    def __init__(self, A: sp.csr_matrix, w: np.ndarray, cap: np.ndarray) -> None:
        nd, m = A.shape
        Ac = sp.csc_matrix(A, dtype=float)
        Ac.sort_indices()
        self.indptr = Ac.indptr
        self.col = np.repeat(np.arange(m), np.diff(Ac.indptr))
        self.row = Ac.indices
        self.w = w
        self.wr = w[self.row]
        self.cap = cap
        self.rank_dtype = np.uint16 if nd <= 65_536 else np.int64
        self.col_key = self.col.astype(np.uint16 if m <= 65_536 else np.int64)

    def values(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(value per site, order, x)``: ``order`` sorts the pairs (CSC order) by column,
        best ratio first, and ``x`` is the share of each pair, in that order, that fills
        its site's capacity."""
        nd, m = self.w.size, self.indptr.size - 1
        col, wr = self.col, self.wr
        # tiny or zero weights make huge shares, clipped to 1 below: no warnings for them
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            ratio = 1.0 - u[self.row] / np.maximum(wr, 1e-300)
            # by column, best ratio first: rows ranked by price per person, then two stable
            # sorts, radix sorts on 16-bit keys (Liechtenstein: 18 ms against 40 ms for one
            # argsort and 115 ms for a lexsort); rows with ratio <= 0 are never used
            rank = np.empty(nd, dtype=self.rank_dtype)
            rank[np.argsort(u / np.maximum(self.w, 1e-300), kind="stable")] = np.arange(nd)
            by_rank = np.argsort(rank[self.row], kind="stable")
            order = by_rank[np.argsort(self.col_key[by_rank], kind="stable")]
            oc, ow, orat = col[order], wr[order], ratio[order]
            pos = orat > 0
            ow_pos = np.where(pos, ow, 0.0)
            cum = np.cumsum(ow_pos)
            start = np.r_[0.0, cum][self.indptr[:-1]][oc]  # weight before the column
            before = cum - ow_pos - start
            x = np.where(
                pos, np.clip((self.cap[oc] - before) / np.maximum(ow, 1e-300), 0.0, 1.0), 0.0
            )
        value = np.bincount(oc, weights=ow * orat * x, minlength=m)
        return value, order, x


def capacitated_lagrangian(
    A: sp.csr_matrix,
    w: np.ndarray,
    cap: np.ndarray,
    fixed: np.ndarray,
    p: int,
    lower: float,
    *,
    u0: np.ndarray | None = None,
    iterations: int = 200,
    time_limit: float = 5.0,
) -> tuple[float, np.ndarray]:
    """Lagrangian upper bound of capacitated coverage (persons served).

    Relaxing "each person served at most once" with prices ``u_i >= 0`` (per merged row)
    leaves, for every site, a fractional knapsack: fill ``cap_j`` with the persons it
    reaches, best ``1 - u_i / w_i`` first; then the existing sites and the ``p`` best
    candidates. ``U(u) = sum(u) + sum of those site values`` bounds the optimum for any
    ``u >= 0``; a deflected subgradient method (Polyak steps towards ``lower``, a feasible value)
    lowers it, from ``u0`` (e.g. the duals of an allocation LP) or ``u = 0``, which gives
    ``sum of min(cap_j, persons reached)``.

    Returns ``(bound, u)``: the best bound found (persons) and its prices.
    """
    t0 = clock.now()
    nd = A.shape[0]
    sites = _SiteKnapsacks(A, w, cap)
    col, row = sites.col, sites.row
    cand = np.flatnonzero(~fixed)
    u = np.zeros(nd) if u0 is None else np.maximum(np.asarray(u0, dtype=float), 0.0)
    best, best_u = np.inf, u.copy()
    theta, stall = 1.0, 0
    g_prev = None
    for _ in range(iterations):
        clock.charge_sparse(settings.knapsack_passes * A.nnz)
        value, order, x = sites.values(u)
        open_ = fixed.copy()
        if p > 0 and cand.size:
            top = cand[np.argsort(-value[cand], kind="stable")[:p]]
            open_[top[value[top] > 0]] = True
        val = float(u.sum() + value[open_].sum())
        if not np.isfinite(best) or val < best - 1e-9 * max(1.0, abs(best)):
            best, best_u, stall = val, u.copy(), 0
        else:
            stall += 1
            if stall >= 10:
                theta, stall = theta / 2, 0
        if best <= lower * (1 + 1e-9) or theta < 1e-4 or clock.now() - t0 > time_limit:
            break
        xs = np.zeros(row.size)
        xs[order] = np.where(open_[col[order]], x, 0.0)
        g = 1.0 - np.bincount(row, weights=xs, minlength=nd)  # dU/du
        if g_prev is not None:  # deflected: half the last direction (Liechtenstein, 100
            g += 0.5 * g_prev  # steps, p = 20: gap 4.1% against 5.3% without)
        g[(u <= 0) & (g > 0)] = 0.0
        g_prev = g
        nrm = float(g @ g)
        if nrm <= 1e-18:
            break
        u = np.maximum(0.0, u - theta * max(val - lower, 1e-9) / nrm * g)
    return best, best_u


class _Allocation(NamedTuple):
    """Best allocation of persons to a set of open sites (a transportation LP)."""

    x: np.ndarray  # share of each stored pair of ``A`` served
    served: float  # persons served
    row_price: np.ndarray  # dual of "served at most once", per merged row (>= 0)
    site_price: np.ndarray  # dual of each open site's capacity, per person (>= 0)


def _best_allocation(
    A: sp.csr_matrix,
    w: np.ndarray,
    cap: np.ndarray,
    sel: np.ndarray,
    time_limit: float,
    load: np.ndarray | None = None,
    *,
    capped: bool = True,
) -> _Allocation | None:
    """Shares ``x`` (pairs of ``A``) serving the most persons from the open sites ``sel``.

    A linear programme over the open sites' pairs only (a transportation problem). The
    duals price a served person per row (a start for :func:`capacitated_lagrangian`) and
    a person of capacity per open site (what closing it would lose, to first order).
    ``load`` (per row, default ``w``): what a row's persons take from a site's capacity.
    Returns None when HiGHS does not solve it in time.
    """
    nd, m = A.shape
    rows = np.repeat(np.arange(nd), np.diff(A.indptr))
    pairs = np.flatnonzero(sel[A.indices])
    kk = pairs.size
    if kk == 0:
        return _Allocation(np.zeros(A.nnz), 0.0, np.zeros(nd), np.zeros(m))
    r, j = rows[pairs], A.indices[pairs]
    ar = np.arange(kk)
    share = sp.csr_matrix((np.ones(kk), (r, ar)), shape=(nd, kk))
    cs = np.where(cap > 0, cap, 1.0)  # capacity rows per unit of capacity (tolerances)
    q = w if load is None else load
    capm = sp.csr_matrix((q[r] / cs[j], (j, ar)), shape=(m, kk))
    lp = highs_lp(
        w[r],
        sp.vstack([share, capm]).tocsr(),
        np.full(nd + m, -np.inf),
        np.r_[np.ones(nd), np.where(sel, cap / cs, 0.0)],
        maximize=True,
    )
    h = new_highs()
    h.passModel(lp)
    run_charged(h, time_limit, capped=capped)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    x = np.zeros(A.nnz)
    x[pairs] = np.clip(np.asarray(sol.col_value, dtype=float), 0.0, 1.0)
    dual = np.abs(np.asarray(sol.row_dual, dtype=float))
    return _Allocation(x, float(w[rows] @ x), dual[:nd], np.where(sel, dual[nd:] / cs, 0.0))


def _swap_search(
    A: sp.csr_matrix,
    w: np.ndarray,
    cap: np.ndarray,
    fixed: np.ndarray,
    sel: np.ndarray,
    best: _Allocation,
    deadline: float,
) -> tuple[np.ndarray, _Allocation, dict[str, int]]:
    """Swap one new site for a closed candidate while the persons served grow.

    Each round prices the swaps from the current allocation's duals: a closed site adds
    about its knapsack value at the row prices (:class:`_SiteKnapsacks`), an open one
    loses about its capacity price times its capacity. The swaps
    (``settings.capacity_swap_adds`` closed sites against every new open one) are then
    checked with the allocation LP, best priced first, and the first that serves more
    persons is kept. Stops when a round finds none or at ``deadline`` (a work-clock reading).
    """
    sites = _SiteKnapsacks(A, w, cap)
    tol = 1e-9 * max(1.0, best.served)

    def price(sel: np.ndarray, best: _Allocation):
        drops = np.flatnonzero(sel & ~fixed)
        gain = sites.values(best.row_price)[0]
        closed = np.flatnonzero(~sel & ~fixed & (gain > 0))
        if drops.size == 0 or closed.size == 0:
            return None
        adds = closed[np.argsort(-gain[closed], kind="stable")[: settings.capacity_swap_adds]]
        est = gain[adds][:, None] - (best.site_price[drops] * cap[drops])[None, :]
        return adds, drops, np.argsort(-est.ravel(), kind="stable")

    return priced_swap_search(
        sel,
        best,
        price,
        lambda trial, seconds: _best_allocation(A, w, cap, trial, seconds),
        lambda got, best: got.served > best.served + tol,
        deadline,
    )


@clock.work_budget()
def solve_capacitated_coverage(
    problem: CoverageProblem,
    p: int,
    *,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    threads: int | None = None,
    verbose: bool = False,
) -> Solution:
    """Most persons served by existing sites plus ``p`` new ones, within capacities.

    A greedy start (persons each site can still serve) is handed to HiGHS; when HiGHS
    stops at the time limit the better of the two is returned, with a bound no higher
    than what the open sites' capacities and reach allow. Models too large for HiGHS get
    swaps instead (priced by the allocation LP's duals, checked exactly, up to
    ``settings.capacity_swap_share`` of the time limit) and a Lagrangian bound.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``cover``, ``weight`` and ``capacity`` (persons per site).
    p : int
        New sites, 0 <= p <= number of candidates.
    time_limit, mip_gap, threads, verbose
        HiGHS settings.
    method : {"auto", "exact", "heuristic"}
        ``"heuristic"``, and ``"auto"`` on models above ``settings.pairs_limit`` reachable pairs
        (whose root LP HiGHS cannot solve within a useful time limit, nor stop at it),
        improve the greedy sites by swaps and bound them with prices per person;
        ``"exact"`` always runs HiGHS' branch-and-bound.

    Returns
    -------
    Solution
        ``objective`` = ``covered_weight`` = persons served; ``served`` = persons served at
        each demand point (``served_before``: by the existing sites alone);
        ``assignment`` = the site serving the largest share of each
        demand point (-1 none).
    """
    t0 = clock.now()
    w0 = clock.now()  # decisions read the work clock (siting.optimize.clock)
    if problem.capacity is None:
        msg = "capacitated coverage needs problem.capacity (persons per site)"
        raise ParameterError(msg)
    if int(p) != p or p < 0 or p > problem.n_candidates:
        msg = (
            f"p must be an integer in [0, {problem.n_candidates}] (the number of candidate "
            f"sites), got {p!r}"
        )
        raise ParameterError(msg)
    p = int(p)
    n, m = problem.n_demand, problem.n_sites
    keep = np.flatnonzero((problem.weight > 0) & problem.reachable_mask())
    A, w, inv = merge_identical_rows(problem.cover[keep], problem.weight[keep])
    A = sp.csr_matrix(A, dtype=float)
    A.data[:] = 1.0
    nd = A.shape[0]
    k = A.nnz
    rows = np.repeat(np.arange(nd), np.diff(A.indptr))
    cols = A.indices
    ar = np.arange(k)
    cap = problem.capacity
    fixed = problem.existing

    # greedy start and a bound from capacities and reach (valid whatever HiGHS does)
    g_sel, g_x = _greedy_capacitated(A, w, cap, fixed, p)
    large = k > settings.pairs_limit
    no_bb = large or method == "heuristic"
    hist: dict[str, Any] = {"rows_merged": nd, "pairs": k, "greedy": float(w[rows] @ g_x)}
    u0 = None
    if k:  # the greedy sites' best allocation: a better start, and prices for the bound
        alloc = _best_allocation(A, w, cap, g_sel, time_limit - (clock.now() - w0))
        if alloc is not None:
            hist["allocated"] = alloc.served
            if no_bb and method != "exact":  # no branch-and-bound: swaps improve the plan
                g_sel, alloc, moves = _swap_search(
                    A, w, cap, fixed, g_sel, alloc, w0 + settings.capacity_swap_share * time_limit
                )
                hist.update(moves)
                hist["swapped"] = alloc.served
            if alloc.served > w[rows] @ g_x:
                g_x = alloc.x
            u0 = alloc.row_price
    g_obj = float(w[rows] @ g_x) if k else 0.0
    site_max = np.minimum(cap, np.asarray(A.T @ w).ravel())
    cand_max = np.sort(site_max[~fixed])[::-1][:p]
    simple_bound = min(float(w.sum()), float(site_max[fixed].sum() + cand_max.sum()))
    if no_bb:  # no LP: tighten the bound with prices per person
        lag, _ = capacitated_lagrangian(
            A,
            w,
            cap,
            fixed,
            p,
            g_obj,
            u0=u0,
            iterations=5000,
            # without branch-and-bound, the rest of the time (less a reserve for the
            # allocations below): on Liechtenstein, p = 20, the gap is 2.20% after 5 s
            # and 1.73% after 10 s; "exact" leaves the rest to HiGHS
            time_limit=0.0  # real time is out (a slow machine): one step, a valid bound
            if clock.expired()
            else settings.capacity_lagrangian_share * time_limit
            if method == "exact"
            else max(
                settings.capacity_lagrangian_share * time_limit,
                (1.0 - settings.capacity_reserve_share) * time_limit - (clock.now() - w0),
            ),
        )
        simple_bound = min(simple_bound, lag)
    hist["start_bound_s"] = clock.now() - t0
    hist["capacity_bound"] = simple_bound

    c = np.r_[np.zeros(m), w[rows]]
    share = sp.csr_matrix((np.ones(k), (rows, m + ar)), shape=(nd, m + k))
    cs = np.where(cap > 0, cap, 1.0)  # capacity rows per unit of capacity (tolerances)
    capm = sp.csr_matrix(
        (
            np.r_[w[rows] / cs[cols], -cap / cs],
            (np.r_[cols, np.arange(m)], np.r_[m + ar, np.arange(m)]),
        ),
        shape=(m, m + k),
    )
    link = sp.csr_matrix(
        (np.r_[np.ones(k), -np.ones(k)], (np.r_[ar, ar], np.r_[m + ar, cols])), shape=(k, m + k)
    )
    count = sp.csr_matrix(
        (np.where(fixed, 0.0, 1.0), (np.zeros(m, int), np.arange(m))), shape=(1, m + k)
    )
    M = sp.vstack([share, capm, link, count]).tocsr()
    lo = np.full(M.shape[0], -np.inf)
    hi = np.r_[np.ones(nd), np.zeros(m), np.zeros(k), float(p)]
    sel, x, obj, bound, status = g_sel, g_x, g_obj, simple_bound, "feasible"
    left = time_limit - (clock.now() - w0)
    if g_obj >= simple_bound - 1e-9 * max(1.0, simple_bound):
        status = "optimal"  # the greedy start meets the bound
    elif left > 0 and (method == "exact" or (method == "auto" and not large)):
        res = solve_milp(
            c,
            M,
            lo,
            hi,
            lower=np.r_[fixed.astype(float), np.zeros(k)],
            upper=np.ones(m + k),
            integrality=np.r_[np.ones(m, bool), np.zeros(k, bool)],
            maximize=True,
            time_limit=left,
            mip_rel_gap=mip_gap,
            threads=threads,
            start=np.r_[g_sel.astype(float), g_x],
            verbose=verbose,
        )
        hist["highs_status"] = res.status
        hist["highs_seconds"] = res.seconds
        if res.x is not None and float(res.objective) > g_obj:
            sel = res.x[:m] > 0.5
            x = np.clip(res.x[m:], 0.0, 1.0)
            obj = float(res.objective)
        if np.isfinite(res.bound):
            bound = min(bound, float(res.bound))
        status = solution_status(res.status)
        if status == "optimal":
            bound = obj
        elif status not in ("time_limit",):
            status = "feasible"
    if status != "optimal" and "highs_status" in hist:  # stopped early: best use of its sites
        alloc = _best_allocation(A, w, cap, sel, max(0.5, 0.1 * time_limit), capped=False)
        if alloc is not None and alloc.served > obj:
            x, obj = alloc.x, alloc.served
    bound = max(bound, obj)
    gap = relative_gap(obj, bound, sense=-1)
    if status != "optimal" and gap == 0.0:
        status = "optimal"
    # what the existing sites serve within their capacities today
    x_before = np.zeros(k)
    if fixed.any() and k:
        alloc = _best_allocation(A, w, cap, fixed, max(0.5, 0.1 * time_limit), capped=False)
        if alloc is not None:
            x_before = alloc.x

    # persons served and the main serving site per demand point (merged rows split back)
    served = np.zeros(n)
    served_before = np.zeros(n)
    assignment = np.full(n, -1, dtype=np.int64)
    if k:
        row_share = np.minimum(np.bincount(rows, weights=x, minlength=nd), 1.0)
        served[keep] = row_share[inv] * problem.weight[keep]
        share_before = np.minimum(np.bincount(rows, weights=x_before, minlength=nd), 1.0)
        served_before[keep] = share_before[inv] * problem.weight[keep]
        order = np.lexsort((-x, rows))
        first = np.r_[True, rows[order][1:] != rows[order][:-1]]
        pick = order[first]
        ok = x[pick] > 1e-9
        best_col = np.full(nd, -1, dtype=np.int64)
        best_col[rows[pick][ok]] = cols[pick][ok]
        assignment[keep] = best_col[inv]
    total = problem.total_weight
    unreach = np.flatnonzero(~problem.reachable_mask())
    return Solution(
        selected=sel,
        new=np.flatnonzero(sel & ~fixed),
        objective=obj,
        bound=bound,
        gap=gap,
        status=status,
        seconds=clock.now() - t0,
        covered_weight=obj,
        covered_share=obj / total if total > 0 else 1.0,
        assignment=assignment,
        served=served,
        served_before=served_before,
        history=hist,
        method="greedy+highs"
        if "highs_status" in hist
        else ("greedy+swaps" if "swaps" in hist else "greedy+allocation"),
        unreachable=unreach,
        unreachable_weight=float(problem.weight[unreach].sum()),
    )
