"""Demand assigned to open sites within their capacities: the LPs and the swap searches.

Both capacitated models evaluate a plan (a set of open sites) by its best assignment:

* capacitated coverage: the most persons the open sites serve (:func:`best_allocation`,
  a transportation LP over their pairs; its duals price a served person per row and a
  person of capacity per site);
* capacitated p-median: every demand point placed at the least walk (:class:`Assigner`,
  one transportation LP with a slack per row, warm-started from swap to swap), then,
  single-sourced, each point moved whole to one site (:func:`rounded`,
  :func:`exact_single_source`).

The swap searches (:func:`coverage_swaps`, :func:`pmedian_swaps`) price one-for-one
swaps of sites by those duals and the site knapsacks of :mod:`siting.optimize.bounds`,
and check them with the LPs (:func:`siting.optimize.heuristics.priced_swap_search`).
"""

from __future__ import annotations

from typing import NamedTuple

import highspy
import numpy as np
import scipy.sparse as sp

from siting.optimize import clock, settings
from siting.optimize.bounds import SiteKnapsacks, pair_savings
from siting.optimize.formulations import Pairs, allocation_lp
from siting.optimize.heuristics import pm_state, priced_swap_search
from siting.optimize.highs import highs_lp, new_highs, run_charged, solve_milp

__all__ = [
    "Allocation",
    "Assigner",
    "Assignment",
    "best_allocation",
    "better",
    "coverage_swaps",
    "exact_single_source",
    "pmedian_swaps",
    "rounded",
    "single_source",
]


# ---------------------------------------------------------------------- capacitated coverage
class Allocation(NamedTuple):
    """Best allocation of persons to a set of open sites (a transportation LP)."""

    x: np.ndarray  # share of each stored pair of ``A`` served
    served: float  # persons served
    row_price: np.ndarray  # dual of "served at most once", per merged row (>= 0)
    site_price: np.ndarray  # dual of each open site's capacity, per person (>= 0)


def best_allocation(
    A: sp.csr_matrix,
    w: np.ndarray,
    cap: np.ndarray,
    sel: np.ndarray,
    time_limit: float,
    load: np.ndarray | None = None,
    *,
    capped: bool = True,
) -> Allocation | None:
    """Shares ``x`` (pairs of ``A``) serving the most persons from the open sites ``sel``.

    A linear programme over the open sites' pairs only (a transportation problem,
    :func:`~siting.optimize.formulations.allocation_lp`). The duals price a served person
    per row (a start for :func:`~siting.optimize.bounds.capacitated_lagrangian`) and a
    person of capacity per open site (what closing it would lose, to first order).
    ``load`` (per row, default ``w``): what a row's persons take from a site's capacity.

    Parameters
    ----------
    A, w, cap, sel, load
        The LP's data, as for :func:`~siting.optimize.formulations.allocation_lp`.
    time_limit : float
        Seconds for HiGHS.
    capped : bool
        Cut ``time_limit`` to the real time left of the solver call in progress.

    Returns
    -------
    Allocation or None
        None when HiGHS does not solve it in time.
    """
    nd, m = A.shape
    if not np.any(sel[A.indices]):
        return Allocation(np.zeros(A.nnz), 0.0, np.zeros(nd), np.zeros(m))
    model, pairs = allocation_lp(A, w, cap, sel, load)
    h = new_highs()
    h.passModel(highs_lp(model))
    run_charged(h, time_limit, capped=capped)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    x = np.zeros(A.nnz)
    x[pairs] = np.clip(np.asarray(sol.col_value, dtype=float), 0.0, 1.0)
    dual = np.abs(np.asarray(sol.row_dual, dtype=float))
    rows = np.repeat(np.arange(nd), np.diff(A.indptr))
    cs = np.where(cap > 0, cap, 1.0)
    return Allocation(x, float(w[rows] @ x), dual[:nd], np.where(sel, dual[nd:] / cs, 0.0))


def coverage_swaps(
    A: sp.csr_matrix,
    w: np.ndarray,
    cap: np.ndarray,
    fixed: np.ndarray,
    sel: np.ndarray,
    best: Allocation,
    deadline: float,
) -> tuple[np.ndarray, Allocation, dict[str, int]]:
    """Swap one new site for a closed candidate while the persons served grow.

    Each round prices the swaps from the current allocation's duals: a closed site adds
    about its knapsack value at the row prices (:class:`SiteKnapsacks`), an open one
    loses about its capacity price times its capacity. The swaps
    (``settings.capacity_swap_adds`` closed sites against every new open one) are then
    checked with the allocation LP, best priced first, and the first that serves more
    persons is kept. Stops when a round finds none or at ``deadline`` (a work-clock reading).

    Returns
    -------
    tuple
        ``(sites open, their Allocation, {"swap_rounds", "swap_checks", "swaps"})``.
    """
    sites = SiteKnapsacks(A, w, cap)
    tol = 1e-9 * max(1.0, best.served)

    def price(sel: np.ndarray, best: Allocation):
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
        lambda trial, seconds: best_allocation(A, w, cap, trial, seconds),
        lambda got, best: got.served > best.served + tol,
        deadline,
    )


# ---------------------------------------------------------------------- capacitated p-median
class Assignment(NamedTuple):
    """Best assignment of demand to a set of open sites."""

    x: np.ndarray  # share of each stored pair of D served (CSR order)
    cost: float  # person-metres walked by the persons placed
    unplaced: float  # demand points (shares of rows) without a place (0: feasible)
    unplaced_persons: float  # the persons in them
    row_price: np.ndarray  # LP dual of "row i is served": person-metres per row


class Assigner:
    """Best assignment to a set of open sites: one transportation LP, warm-started.

    ``min sum w_i d_ij x_ij + penalty * sum s_i``, ``sum_j x_ij + s_i = 1``,
    ``sum_i q_i x_ij <= cap_j`` over every stored pair; a closed site's pairs are fixed
    at 0. The model is built once; a swap only changes the bounds of two sites' pairs, so
    HiGHS re-solves from the last basis (Liechtenstein, 747,000 pairs, 162 open sites:
    0.2 s a swap against 0.5 s for a fresh LP of the open sites' pairs). The swaps
    compare these split assignments; a single-sourced plan is rounded after them
    (:func:`rounded`): comparing rounded assignments stalled the swaps early.
    """

    def __init__(self, P: Pairs) -> None:
        self.P = P
        n, k = P.n, P.rows.size
        lp = highs_lp(P.transport(np.arange(k), np.ones(P.m, dtype=bool)))
        lp.col_upper_ = np.r_[np.zeros(k), np.ones(n)]  # every site closed
        self.h = new_highs()
        self.h.setOptionValue("random_seed", 0)
        self.h.setOptionValue("presolve", "off")  # re-solves start from the last basis
        self.h.passModel(lp)
        self.by_site = np.argsort(P.cols, kind="stable").astype(np.int32)  # pairs by site
        self.site_ptr = np.r_[0, np.cumsum(np.bincount(P.cols, minlength=P.m))]
        self.open = np.zeros(P.m, dtype=bool)

    def _pairs_of(self, sites: np.ndarray) -> np.ndarray:
        lo, hi = self.site_ptr[sites], self.site_ptr[sites + 1]
        counts = hi - lo
        first = np.repeat(np.cumsum(counts) - counts, counts)
        return self.by_site[np.repeat(lo, counts) + np.arange(int(counts.sum())) - first]

    def __call__(
        self, sel: np.ndarray, time_limit: float, *, required: bool = False
    ) -> Assignment | None:
        """The best assignment to the open sites ``sel``; None if HiGHS did not solve it
        (``required``: the time limit is not cut to the real time left)."""
        P = self.P
        closing, opening = self.open & ~sel, sel & ~self.open
        for sites, up in ((np.flatnonzero(closing), 0.0), (np.flatnonzero(opening), 1.0)):
            idx = self._pairs_of(sites)
            if idx.size:
                z = np.zeros(idx.size)
                self.h.changeColsBounds(idx.size, idx, z, z + up)
        self.open = sel.copy()
        run_charged(self.h, time_limit, setup=False, capped=not required)
        # bounds, solution, unplaced rows
        clock.charge_sparse(settings.assign_passes * P.rows.size)
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = self.h.getSolution()
        k, n = P.rows.size, P.n
        x = np.clip(np.asarray(sol.col_value, dtype=float)[:k], 0.0, 1.0)
        u = np.maximum(np.asarray(sol.row_dual, dtype=float)[:n], 0.0) * P.scale
        return Assignment(x, float(P.wd @ x), *P.unplaced(x)[:2], u)


def rounded(P: Pairs, sel: np.ndarray, a: Assignment) -> Assignment:
    """``a`` with every split row moved whole (:func:`single_source`)."""
    x = single_source(P, sel, a.x)
    return Assignment(x, float(P.wd @ x), *P.unplaced(x)[:2], a.row_price)


def single_source(P: Pairs, sel: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Move every split row whole: to its nearest open site with room, else unplaced."""
    split = np.unique(P.rows[(x > 1e-9) & (x < 1.0 - 1e-9)])  # a few per full site
    x = np.where(x >= 1.0 - 1e-9, 1.0, 0.0)
    x[np.isin(P.rows, split)] = 0.0
    # whole rows stay while their site has room: LP tolerances can overfill a site (by
    # ~1e-6 of its capacity); the rows past it, smallest loads kept first, move too
    kept = np.flatnonzero(x > 0)
    kept = kept[np.lexsort((P.q[P.rows[kept]], P.cols[kept]))]
    kc, kq = P.cols[kept], P.q[P.rows[kept]]
    cum = np.cumsum(kq)
    first = np.r_[True, kc[1:] != kc[:-1]]
    before = np.maximum.accumulate(np.where(first, cum - kq, 0.0))
    over = kept[cum - before > _room(P.cap[kc])]
    x[over] = 0.0
    split = np.union1d(split, P.rows[over])
    load = np.bincount(P.cols, weights=x * P.q[P.rows], minlength=P.m)
    for i in split[np.argsort(-P.q[split], kind="stable")]:  # biggest first
        lo, hi = P.D.indptr[i], P.D.indptr[i + 1]
        cand = np.arange(lo, hi)[sel[P.cols[lo:hi]]]
        room = load[P.cols[cand]] + P.q[i] <= _room(P.cap[P.cols[cand]])
        if room.any():
            best = cand[room][np.argmin(P.D.data[cand[room]])]
            x[best] = 1.0
            load[P.cols[best]] += P.q[i]
        elif cand.size:
            _make_room(P, sel, x, load, i, cand)
    return x


def _make_room(
    P: Pairs, sel: np.ndarray, x: np.ndarray, load: np.ndarray, i: int, cand: np.ndarray
) -> None:
    """Place row ``i`` (pairs ``cand``, all full) by moving one row ``r`` away from one of
    its sites to another open site with room: the cheapest such move, if any (in place).

    Only for the few rows the rounding could not place, so plain loops are fine.
    """
    best = None  # (extra person-metres, pair of i, pair of r now, pair of r after)
    at = np.flatnonzero(x > 0)
    site_of = dict(zip(P.rows[at].tolist(), at.tolist(), strict=True))  # row -> its pair
    for pi in cand[np.argsort(P.D.data[cand], kind="stable")]:
        j = P.cols[pi]
        need = load[j] + P.q[i] - _room(P.cap[j : j + 1])[0]  # load to move out of j
        for r in P.rows[at[P.cols[at] == j]]:
            if P.q[r] < need:
                continue
            lo, hi = P.D.indptr[r], P.D.indptr[r + 1]
            alt = np.arange(lo, hi)
            alt = alt[sel[P.cols[alt]] & (P.cols[alt] != j)]
            alt = alt[load[P.cols[alt]] + P.q[r] <= _room(P.cap[P.cols[alt]])]
            if alt.size == 0:
                continue
            k = alt[np.argmin(P.wd[alt])]
            extra = P.wd[pi] + P.wd[k] - P.wd[site_of[r]]
            if best is None or extra < best[0]:
                best = (extra, pi, site_of[r], k)
    if best is not None:
        _, pi, old, new = best
        x[old], x[new], x[pi] = 0.0, 1.0, 1.0
        load[P.cols[old]] -= P.q[P.rows[old]]
        load[P.cols[new]] += P.q[P.rows[new]]
        load[P.cols[pi]] += P.q[i]


def _room(cap: np.ndarray) -> np.ndarray:
    """Load a site may take: its capacity, up to rounding (relative 1e-12)."""
    return cap * (1.0 + 1e-12) + 1e-12


def exact_single_source(
    P: Pairs, sel: np.ndarray, start: Assignment, time_limit: float
) -> Assignment | None:
    """The best single-sourced assignment to ``sel``: a small MILP (a generalised
    assignment problem over the open sites' pairs) started from ``start``; its LP is
    nearly integral (a basic solution splits at most one row per full site). None when
    HiGHS finds nothing better than ``start`` in ``time_limit`` seconds."""
    n = P.n
    pairs = np.flatnonzero(sel[P.cols])
    k = pairs.size
    res = solve_milp(
        P.transport(pairs, sel)._replace(
            integrality=np.r_[np.ones(k, dtype=bool), np.zeros(n, dtype=bool)]
        ),
        time_limit=time_limit,
        start=np.r_[start.x[pairs], P.unplaced(start.x)[2]],
    )
    if res.x is None:
        return None
    x = np.zeros(P.rows.size)
    x[pairs] = np.round(np.clip(res.x[:k], 0.0, 1.0))
    load = np.bincount(P.cols, weights=x * P.q[P.rows], minlength=P.m)
    if np.any(load > _room(P.cap)):  # within HiGHS' tolerance, not within capacity
        return None
    return Assignment(x, float(P.wd @ x), *P.unplaced(x)[:2], start.row_price)


def better(a: Assignment, b: Assignment, tol: float) -> bool:
    """Fewer demand points unplaced (beyond ``tol`` rows), else a lower cost."""
    if a.unplaced < b.unplaced - tol:
        return True
    return a.unplaced <= b.unplaced + tol and a.cost < b.cost - 1e-9 * max(1.0, b.cost)


def pmedian_swaps(
    P: Pairs,
    assign: Assigner,
    fixed: np.ndarray,
    sel: np.ndarray,
    best: Assignment,
    deadline: float,
) -> tuple[np.ndarray, Assignment, dict[str, int]]:
    """Swap one new site for a closed candidate while fewer demand points stay without a
    place or the cost falls.

    A closed site would save about its knapsack value at the LP's row prices; closing an
    open one costs about the walk of its persons to their next open site. Swaps are
    checked with the assignment LP, best priced first; the first better plan is kept.
    Stops when a round finds none or at ``deadline`` (a work-clock reading).

    Returns
    -------
    tuple
        ``(sites open, their Assignment, {"swap_rounds", "swap_checks", "swaps"})``.
    """
    tol = 1e-9 * max(1.0, float(P.n))

    def price(sel: np.ndarray, best: Assignment):
        drops = np.flatnonzero(sel & ~fixed)
        gain = pair_savings(P, best.row_price)[0]
        closed = np.flatnonzero(~sel & ~fixed & (gain > 0))
        if drops.size == 0 or closed.size == 0:
            return None
        # demand points without a place come first: sites reaching them, then by saving
        reach_left = np.bincount(P.cols, weights=P.unplaced(best.x)[2][P.rows], minlength=P.m)
        adds = closed[np.lexsort((-gain[closed], -np.round(reach_left[closed], 9)))]
        adds = adds[: max(20, settings.cpmedian_swap_pairs // drops.size)]  # every one, unless huge
        st = pm_state(P.D, P.far, sel)
        alt = np.where(st.c1[P.rows] == P.cols, st.d2[P.rows], st.d1[P.rows])  # next open
        extra = best.x * P.w[P.rows] * np.maximum(alt - P.D.data, 0.0)
        loss = np.bincount(P.cols, weights=extra, minlength=P.m)[drops]
        est = gain[adds][:, None] - loss[None, :]
        first = np.repeat(np.round(reach_left[adds], 9), drops.size)  # placing persons
        return adds, drops, np.lexsort((-est.ravel(), -first))

    return priced_swap_search(
        sel, best, price, assign, lambda got, best: better(got, best, tol), deadline
    )
