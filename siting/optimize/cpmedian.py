"""Capacitated p-median on models too large for branch-and-bound.

HiGHS cannot solve the root LP of a city-scale capacitated p-median within a useful time
(Liechtenstein: 747,000 reachable pairs, nothing found in 38 s on a 20-s limit), so such
models get:

1. a start: the uncapacitated plan (greedy add and fast interchange; nearest open site,
   no capacities);
2. its best assignment: a transportation LP over the open sites' pairs, demand points
   that find no place within capacity left out at a penalty above any cost
   (:class:`_Assigner`);
3. swaps of one new site for a closed candidate, priced by that LP's duals and checked
   exactly with it (:func:`_swap_search`): fewer points left out first, then less walking;
4. single-sourced (the default), the final plan's exact assignment of each point whole
   to one site (:func:`_exact_single_source`, a small MILP whose LP is nearly integral);
5. a Lagrangian lower bound (relax "every demand point served once"; every site then
   solves a fractional knapsack of its capacity, :func:`capacitated_pmedian_lagrangian`),
   started from the uncapacitated Lagrangian's prices.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import highspy
import numpy as np
import scipy.sparse as sp

from siting.errors import ParameterError
from siting.optimize import clock, settings
from siting.optimize.bounds import pmedian_lagrangian_prices, subgradient_ascent
from siting.optimize.heuristics import (
    _pm_state,
    pmedian_greedy,
    pmedian_interchange,
    priced_swap_search,
)
from siting.optimize.highs import highs_lp, new_highs, run_charged, solve_milp

__all__ = ["solve_large_capacitated_pmedian"]


class _Assignment(NamedTuple):
    """Best assignment of demand to a set of open sites."""

    x: np.ndarray  # share of each stored pair of D served (CSR order)
    cost: float  # person-metres walked by the persons placed
    unplaced: float  # demand points (shares of rows) without a place (0: feasible)
    unplaced_persons: float  # the persons in them
    row_price: np.ndarray  # LP dual of "row i is served": person-metres per row


class _Pairs:
    """The stored pairs of ``D`` with their rows, columns and weighted costs."""

    def __init__(self, D: sp.csr_matrix, w: np.ndarray, q: np.ndarray, cap: np.ndarray) -> None:
        self.D = D
        self.n, self.m = D.shape
        self.rows = np.repeat(np.arange(self.n), np.diff(D.indptr))
        self.cols = D.indices
        self.wd = w[self.rows] * D.data  # person-metres of serving row i wholly from j
        self.w, self.q, self.cap = w, q, cap
        self.far = (float(D.data.max(initial=0.0)) + 1.0) * 10.0  # metres: no open site
        # the LPs work on costs / scale (in [0, 1]); a row left out costs more than moving
        # every row: fewer rows unplaced always comes first, whatever the weights and loads
        self.scale = max(float(self.wd.max(initial=0.0)), 1e-300)
        self.row_penalty = 10.0 * (self.n + 1.0)

    def transport(
        self, pairs: np.ndarray, open_: np.ndarray
    ) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray]:
        """The assignment LP over ``pairs`` and one slack per row: ``(c, M, lo, hi)``.

        ``min sum (w_i d_ij / scale) x_ij + row_penalty * sum s_i``,
        ``sum_j x_ij + s_i = 1``, ``sum_i q_i x_ij <= cap_j`` for the ``open_`` sites (per
        unit of capacity; 0 for the others); columns ``[x over pairs, s]``.
        """
        n, k = self.n, pairs.size
        r, j = self.rows[pairs], self.cols[pairs]
        ar = np.arange(k)
        cs = np.where(self.cap > 0, self.cap, 1.0)  # capacity rows per unit of capacity
        once = sp.csr_matrix(
            (np.ones(k + n), (np.r_[r, np.arange(n)], np.r_[ar, k + np.arange(n)])),
            shape=(n, k + n),
        )
        capm = sp.csr_matrix((self.q[r] / cs[j], (j, ar)), shape=(self.m, k + n))
        return (
            np.r_[self.wd[pairs] / self.scale, np.full(n, self.row_penalty)],
            sp.vstack([once, capm]).tocsr(),
            np.r_[np.ones(n), np.full(self.m, -np.inf)],
            np.r_[np.ones(n), np.where(open_, self.cap / cs, 0.0)],
        )

    def unplaced(self, x: np.ndarray) -> tuple[float, float, np.ndarray]:
        """``(rows, persons, share left per row)`` without a place under shares ``x``;
        shares within 1e-6 of a whole row count as placed (LP tolerances)."""
        left = 1.0 - np.bincount(self.rows, weights=x, minlength=self.n)
        left = np.where(left > 1e-6, np.minimum(left, 1.0), 0.0)
        return float(left.sum()), float(self.w @ left), left

    def savings(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each site's knapsack under row prices ``u``: ``(value per site, x per pair)``.

        Site ``j`` takes the rows whose price exceeds their cost from ``j``
        (``u_i > w_i d_ij``), best saving per person of capacity first, until ``cap_j`` is
        full; the value is the saving (person-metres, >= 0).
        """
        save = u[self.rows] - self.wd
        pos = np.flatnonzero(save > 0)
        x = np.zeros(self.rows.size)
        if pos.size == 0:
            return np.zeros(self.m), x
        qp = self.q[self.rows[pos]]
        with np.errstate(divide="ignore"):
            ratio = np.where(qp > 0, save[pos] / np.where(qp > 0, qp, 1.0), np.inf)
        order = pos[np.lexsort((-ratio, self.cols[pos]))]
        oc = self.cols[order]
        oq = self.q[self.rows[order]]
        cum = np.cumsum(oq)
        first = np.r_[True, oc[1:] != oc[:-1]]
        start = np.maximum.accumulate(np.where(first, cum - oq, 0.0))  # load before column
        before = cum - oq - start
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(
                oq > 0, np.clip((self.cap[oc] - before) / np.where(oq > 0, oq, 1.0), 0, 1), 1.0
            )
        x[order] = share
        value = np.bincount(oc, weights=save[order] * share, minlength=self.m)
        return value, x


class _Assigner:
    """Best assignment to a set of open sites: one transportation LP, warm-started.

    ``min sum w_i d_ij x_ij + penalty * sum s_i``, ``sum_j x_ij + s_i = 1``,
    ``sum_i q_i x_ij <= cap_j`` over every stored pair; a closed site's pairs are fixed
    at 0. The model is built once; a swap only changes the bounds of two sites' pairs, so
    HiGHS re-solves from the last basis (Liechtenstein, 747,000 pairs, 162 open sites:
    0.2 s a swap against 0.5 s for a fresh LP of the open sites' pairs). The swaps
    compare these split assignments; a single-sourced plan is rounded after them
    (:func:`_rounded`): comparing rounded assignments stalled the swaps early.
    """

    def __init__(self, P: _Pairs) -> None:
        self.P = P
        n, k = P.n, P.rows.size
        lp = highs_lp(*P.transport(np.arange(k), np.ones(P.m, dtype=bool)))
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
    ) -> _Assignment | None:
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
        return _Assignment(x, float(P.wd @ x), *P.unplaced(x)[:2], u)


def _rounded(P: _Pairs, sel: np.ndarray, a: _Assignment) -> _Assignment:
    """``a`` with every split row moved whole (:func:`_single_source`)."""
    x = _single_source(P, sel, a.x)
    return _Assignment(x, float(P.wd @ x), *P.unplaced(x)[:2], a.row_price)


def _single_source(P: _Pairs, sel: np.ndarray, x: np.ndarray) -> np.ndarray:
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
    P: _Pairs, sel: np.ndarray, x: np.ndarray, load: np.ndarray, i: int, cand: np.ndarray
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


def _exact_single_source(
    P: _Pairs, sel: np.ndarray, start: _Assignment, time_limit: float
) -> _Assignment | None:
    """The best single-sourced assignment to ``sel``: a small MILP (a generalised
    assignment problem over the open sites' pairs) started from ``start``; its LP is
    nearly integral (a basic solution splits at most one row per full site). None when
    HiGHS finds nothing better than ``start`` in ``time_limit`` seconds."""
    n = P.n
    pairs = np.flatnonzero(sel[P.cols])
    k = pairs.size
    res = solve_milp(
        *P.transport(pairs, sel),
        integrality=np.r_[np.ones(k, dtype=bool), np.zeros(n, dtype=bool)],
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
    return _Assignment(x, float(P.wd @ x), *P.unplaced(x)[:2], start.row_price)


def _better(a: _Assignment, b: _Assignment, tol: float) -> bool:
    """Fewer demand points unplaced (beyond ``tol`` rows), else a lower cost."""
    if a.unplaced < b.unplaced - tol:
        return True
    return a.unplaced <= b.unplaced + tol and a.cost < b.cost - 1e-9 * max(1.0, b.cost)


def _swap_search(
    P: _Pairs,
    assign: _Assigner,
    fixed: np.ndarray,
    sel: np.ndarray,
    best: _Assignment,
    deadline: float,
) -> tuple[np.ndarray, _Assignment, dict[str, int]]:
    """Swap one new site for a closed candidate while fewer demand points stay without a
    place or the cost falls.

    A closed site would save about its knapsack value at the LP's row prices; closing an
    open one costs about the walk of its persons to their next open site. Swaps are
    checked with the assignment LP, best priced first; the first better plan is kept.
    Stops when a round finds none or at ``deadline`` (a work-clock reading).
    """
    tol = 1e-9 * max(1.0, float(P.n))

    def price(sel: np.ndarray, best: _Assignment):
        drops = np.flatnonzero(sel & ~fixed)
        gain = P.savings(best.row_price)[0]
        closed = np.flatnonzero(~sel & ~fixed & (gain > 0))
        if drops.size == 0 or closed.size == 0:
            return None
        # demand points without a place come first: sites reaching them, then by saving
        reach_left = np.bincount(P.cols, weights=P.unplaced(best.x)[2][P.rows], minlength=P.m)
        adds = closed[np.lexsort((-gain[closed], -np.round(reach_left[closed], 9)))]
        adds = adds[: max(20, settings.cpmedian_swap_pairs // drops.size)]  # every one, unless huge
        st = _pm_state(P.D, P.far, sel)
        alt = np.where(st.c1[P.rows] == P.cols, st.d2[P.rows], st.d1[P.rows])  # next open
        extra = best.x * P.w[P.rows] * np.maximum(alt - P.D.data, 0.0)
        loss = np.bincount(P.cols, weights=extra, minlength=P.m)[drops]
        est = gain[adds][:, None] - loss[None, :]
        first = np.repeat(np.round(reach_left[adds], 9), drops.size)  # placing persons
        return adds, drops, np.lexsort((-est.ravel(), -first))

    return priced_swap_search(
        sel, best, price, assign, lambda got, best: _better(got, best, tol), deadline
    )


def capacitated_pmedian_lagrangian(
    P: _Pairs,
    fixed: np.ndarray,
    p: int,
    upper: float,
    *,
    u0: np.ndarray | None = None,
    iterations: int = 1000,
    time_limit: float = 5.0,
) -> float:
    """Lagrangian lower bound of the capacitated p-median (person-metres).

    Relaxing "row ``i`` is served once" with prices ``u_i`` leaves
    ``L(u) = sum(u) - sum of the savings of the existing sites and of the p candidates
    saving most`` (:meth:`_Pairs.savings`), a lower bound for any ``u`` (persons may be
    split, so it also bounds the single-sourced model). :func:`subgradient_ascent`
    towards ``upper`` (a feasible cost), from ``u0``: at the uncapacitated
    Lagrangian's prices it starts at least as high as that bound (a knapsack saves no
    more than the uncapacitated site).
    """
    cand = np.flatnonzero(~fixed)

    def evaluate(u: np.ndarray) -> tuple[float, np.ndarray]:
        clock.charge_sparse(6.5 * P.rows.size)  # P.savings sorts the pairs
        value, x = P.savings(u)
        open_ = fixed.copy()
        if p > 0 and cand.size:
            open_[cand[np.argsort(-value[cand], kind="stable")[:p]]] = True
        g = 1.0 - np.bincount(P.rows, weights=np.where(open_[P.cols], x, 0.0), minlength=P.n)
        return float(u.sum() - value[open_].sum()), g

    u = np.zeros(P.n) if u0 is None else np.asarray(u0, dtype=float).copy()
    return subgradient_ascent(
        evaluate,
        u,
        upper,
        iterations=iterations,
        time_limit=time_limit,
        stop_at=upper * (1 - 1e-9),
    )[0]


def solve_large_capacitated_pmedian(
    D: sp.csr_matrix,
    w: np.ndarray,
    q: np.ndarray,
    cap: np.ndarray,
    fixed: np.ndarray,
    p: int,
    *,
    single_source: bool,
    time_limit: float,
) -> tuple[np.ndarray, np.ndarray | None, float, float, dict[str, Any]]:
    """Greedy start, best assignment, swaps, Lagrangian bound (see the module docstring).

    Returns ``(selected, x, cost, lower bound, history)``; ``cost`` is ``inf`` (and ``x``
    the best try) when some demand points find no place within capacity. Raises
    :class:`~siting.errors.ParameterError` when ``time_limit`` ends before any assignment.
    """
    t0 = clock.now()  # decisions read the work clock (siting.optimize.clock)
    P = _Pairs(D, w, q, cap)
    hist: dict[str, Any] = {}
    # the uncapacitated plan (greedy add, fast interchange): often capacities barely bind
    big = P.far * max(1.0, float(w.sum())) + 1.0  # metres charged to a row left out
    sel = pmedian_greedy(D, w, p, fixed, ~fixed, big)
    sel, _ = pmedian_interchange(D, w, sel, fixed, ~fixed, big)
    assign = _Assigner(P)
    spent = clock.now() - t0
    # the start's assignment gets the time it needs (at least a quarter of the limit)
    a = assign(sel, max(time_limit - spent, 0.25 * time_limit, 1.0), required=True)
    if a is None:
        msg = (
            f"time_limit={time_limit:g} s ran out before the first assignment of demand to "
            f"sites was found ({clock.work_done():.1f} s of work so far on {D.nnz:,} "
            "reachable pairs); raise time_limit"
        )
        raise ParameterError(msg)
    hist["start"] = a.cost if a.unplaced <= 0 else np.inf
    hist["start_unplaced"] = a.unplaced
    sel, a, moves = _swap_search(
        P, assign, fixed, sel, a, t0 + settings.cpmedian_swap_share * time_limit
    )
    hist.update(moves)
    if single_source:  # each point whole to one site: rounded, then the exact assignment
        t = clock.now()
        a = _rounded(P, sel, a)
        exact = None
        if (
            int(sel[P.cols].sum()) <= settings.cpmedian_exact_pairs
        ):  # HiGHS' presolve overruns larger ones
            exact = _exact_single_source(
                P,
                sel,
                a,
                max(
                    0.1,
                    min(settings.cpmedian_exact_share * time_limit, t0 + time_limit - clock.now()),
                ),
            )
        if exact is not None and _better(exact, a, 1e-9 * max(1.0, float(P.n))):
            hist["reassigned"] = a.cost - exact.cost
            a = exact
        hist["reassign_s"] = clock.now() - t
    feasible = a.unplaced == 0.0
    hist["unplaced"] = a.unplaced
    hist["unplaced_persons"] = a.unplaced_persons
    cost = a.cost if feasible else np.inf
    hist["swapped"] = cost
    lb = 0.0
    if feasible:
        # the uncapacitated bound (tight where capacities barely bind), then from its
        # prices the capacitated one: Liechtenstein, p = 150, 3,000 persons per site:
        # 11.24 M person-metres in 4 s, against 10.59 M from the LP duals in 5 s
        t = clock.now()
        left = max(
            settings.cpmedian_lagrangian_share * time_limit, 0.95 * time_limit - (clock.now() - t0)
        )
        if clock.expired():  # real time is out (a slow machine): one step each
            left = 0.0
        w1 = clock.now()
        lb, u = pmedian_lagrangian_prices(
            D, w, p, fixed, ~fixed, cost, iterations=600, time_limit=0.5 * left
        )
        hist["uncapacitated_bound"] = lb
        lb_cap = capacitated_pmedian_lagrangian(
            P,
            fixed,
            p,
            cost,
            u0=u,
            iterations=5000,
            time_limit=left - (clock.now() - w1),
        )
        lb = max(lb, lb_cap)
        hist["lagrangian_bound"] = lb
        hist["lagrangian_s"] = clock.now() - t
    return sel, a.x, cost, max(lb, 0.0), hist
