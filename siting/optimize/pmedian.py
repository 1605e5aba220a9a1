"""p-median: open ``p`` new sites minimising the total weighted walk distance.

Sparse model (only stored = reachable pairs get an assignment variable; never a dense
n x m model), existing sites fixed open::

    min  sum_(i,j) w_i d_ij x_ij
    s.t. sum_j x_ij = 1                  every demand point is served
         x_ij <= y_j                     only by an open site
         sum_(j candidate) y_j = p
         sum_i q_i x_ij <= cap_j y_j     (capacitated variant; q = persons served)
         y binary, x >= 0 (binary when single-sourced and capacitated)

Pipeline (uncapacitated): greedy add -> fast interchange (Whitaker) -> Lagrangian lower
bound -> HiGHS warm-started when a gap remains (not above ``settings.uncapacitated_pairs_limit``
reachable pairs with ``method="auto"``: there the bound gets the time). The capacitated
variant goes to HiGHS directly (its start comes from HiGHS' own heuristics), except on
models above ``settings.pairs_limit`` reachable pairs or with ``method="heuristic"``: those get the
uncapacitated plan, its best assignment, swaps and a Lagrangian bound
(:mod:`siting.optimize.cpmedian`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.errors import InfeasibleError, ParameterError
from siting.optimize import clock, settings
from siting.optimize.bounds import pmedian_lagrangian
from siting.optimize.capacity import _best_allocation, capacitated_lagrangian
from siting.optimize.cpmedian import solve_large_capacitated_pmedian
from siting.optimize.heuristics import _pm_state, pmedian_greedy, pmedian_interchange
from siting.optimize.highs import solution_status, solve_milp
from siting.optimize.problem import CoverageProblem, Solution, relative_gap, rounded_bound

__all__ = ["pmedian_matrices", "solve_pmedian"]


def pmedian_matrices(
    D: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    fixed: np.ndarray,
    *,
    capacity: np.ndarray | None = None,
    load: np.ndarray | None = None,
    single_source: bool = True,
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sparse p-median model over ``[y (m sites), x (stored pairs, CSR order)]``.

    Returns ``(c, M, row_lower, row_upper, lower, upper, integrality)``.
    """
    n, m = D.shape
    k = D.nnz
    rows = np.repeat(np.arange(n), np.diff(D.indptr))
    cols = D.indices
    ar = np.arange(k)
    c = np.r_[np.zeros(m), w[rows] * D.data]
    assign = sp.csr_matrix((np.ones(k), (rows, m + ar)), shape=(n, m + k))
    link = sp.csr_matrix(
        (np.r_[np.ones(k), -np.ones(k)], (np.r_[ar, ar], np.r_[m + ar, cols])), shape=(k, m + k)
    )
    count = sp.csr_matrix(
        (np.where(fixed, 0.0, 1.0), (np.zeros(m, int), np.arange(m))), shape=(1, m + k)
    )
    blocks = [assign, link, count]
    lo = [np.ones(n), np.full(k, -np.inf), [float(p)]]
    hi = [np.ones(n), np.zeros(k), [float(p)]]
    if capacity is not None:
        q = w if load is None else load
        capm = sp.csr_matrix(
            (np.r_[q[rows], -capacity], (np.r_[cols, np.arange(m)], np.r_[m + ar, np.arange(m)])),
            shape=(m, m + k),
        )
        blocks.append(capm)
        lo.append(np.full(m, -np.inf))
        hi.append(np.zeros(m))
    M = sp.vstack(blocks).tocsr()
    lower = np.r_[fixed.astype(float), np.zeros(k)]
    upper = np.ones(m + k)
    integ = np.r_[
        np.ones(m, dtype=bool), np.full(k, capacity is not None and single_source, dtype=bool)
    ]
    return c, M, np.concatenate(lo), np.concatenate(hi), lower, upper, integ


@clock.work_budget()
def solve_pmedian(
    problem: CoverageProblem,
    p: int,
    *,
    max_distance: float | None = None,
    capacitated: bool = False,
    load: np.ndarray | None = None,
    single_source: bool = True,
    drop_unreachable: bool = False,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    verbose: bool = False,
) -> Solution:
    """Open ``p`` new sites minimising the total person-metres walked to the nearest open site.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``dist`` (sparse, metres; stored entries are the reachable pairs);
        ``capacity`` (persons) for the capacitated variant.
    p : int
        New sites, 0 <= p <= number of candidates.
    max_distance : float, optional
        Pairs farther than this (metres) are unreachable.
    capacitated : bool
        Each site serves at most ``problem.capacity[j]`` persons.
    load : ndarray, optional
        Persons each demand point takes from a site's capacity (default: ``weight``).
    single_source : bool
        Capacitated: each demand point is served by one site (else it may be split).
    drop_unreachable : bool
        Leave out demand points no site reaches (reported in ``Solution.unreachable``)
        instead of raising :class:`~siting.errors.InfeasibleError`.
    time_limit, mip_gap, method, seed, threads, verbose
        As for :func:`siting.optimize.solve.solve_matrix`.

    Returns
    -------
    Solution
        ``objective`` = sum of weight x distance (person-metres); ``assignment`` = serving
        site per demand point (-1 when dropped).
    """
    t0 = clock.now()
    deadline = clock.now() + float(time_limit)  # a work-clock reading (decisions)
    if problem.dist is None:
        msg = "p-median needs problem.dist, a sparse walk-distance matrix in metres"
        raise ParameterError(msg)
    if int(p) != p or p < 0 or p > problem.n_candidates:
        msg = (
            f"p must be an integer in [0, {problem.n_candidates}] (the number of candidate "
            f"sites), got {p!r}"
        )
        raise ParameterError(msg)
    p = int(p)
    D = problem.dist.copy()
    if max_distance is not None:
        if not max_distance >= 0:
            msg = f"max_distance must be >= 0 metres, got {max_distance!r}"
            raise ParameterError(msg)
        keep = D.data <= max_distance
        rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
        D = sp.csr_matrix((D.data[keep], (rows[keep], D.indices[keep])), shape=D.shape)
        D.sort_indices()
    w_all = problem.weight
    reach = np.diff(D.indptr) > 0
    unreach = np.flatnonzero(~reach)
    if unreach.size and not drop_unreachable:
        shown = ", ".join(str(i) for i in unreach[:10]) + (" ..." if unreach.size > 10 else "")
        msg = (
            f"{unreach.size} demand point(s) with {w_all[unreach].sum():,.0f} persons are "
            f"reached by no site{'' if max_distance is None else f' within {max_distance:g} m'}"
            f" (demand indices {shown}); add sites near them, raise max_distance, or pass "
            "drop_unreachable=True (solve.drop_unreachable: true in a scenario) to leave them "
            "out"
        )
        raise InfeasibleError(msg)
    keep_rows = np.flatnonzero(reach)
    D = D[keep_rows]
    w = w_all[keep_rows]
    q = (w_all if load is None else np.asarray(load, float))[keep_rows]
    fixed = problem.existing.copy()
    allowed = ~fixed
    hist: dict[str, Any] = {"pairs": int(D.nnz), "demand": int(D.shape[0])}
    cap = None
    if capacitated:
        if problem.capacity is None:
            msg = "capacitated=True needs problem.capacity (persons per site)"
            raise ParameterError(msg)
        cap = problem.capacity
        best_cap = float(cap[fixed].sum() + np.sort(cap[allowed])[::-1][:p].sum())
        if best_cap + 1e-9 < q.sum():
            msg = (
                f"total capacity cannot serve the demand: {q.sum():,.0f} persons need a "
                f"place but existing sites plus the {p} largest candidates offer at most "
                f"{best_cap:,.0f}; open more sites (raise p) or raise capacities"
            )
            raise InfeasibleError(msg)
    if (
        capacitated
        and method != "exact"
        and (D.nnz > settings.pairs_limit or method == "heuristic")
    ):
        return _solve_large_capacitated(
            problem, D, w, q, cap, fixed, p, keep_rows, single_source, t0, time_limit, hist
        )
    big = (float(D.data.max(initial=0.0)) + 1.0) * max(1.0, float(w.sum())) * 10.0 + 1.0
    steps = []
    lb = 0.0
    sel = None
    if not capacitated:
        t = clock.now()
        sel = pmedian_greedy(D, w, p, fixed, allowed, big)
        sel, ub = pmedian_interchange(D, w, sel, fixed, allowed, big)
        steps += ["greedy", "interchange"]
        hist["heuristic_s"] = clock.now() - t
        hist["heuristic"] = ub
        feasible = ub < big
        # above settings.uncapacitated_pairs_limit pairs HiGHS cannot solve the root LP in useful
        # time (nor stop at its limit): the Lagrangian bound gets the time (Liechtenstein,
        # p = 150: 11.24 M person-metres in 4 s, against 10.52 M in 2.8 s and HiGHS'
        # 10.52 M after 22 s on a 20-s limit)
        large = D.nnz > settings.uncapacitated_pairs_limit and method == "auto"
        if feasible:
            t = clock.now()
            integral = bool(np.all(np.round(D.data) == D.data) and np.all(np.round(w) == w))
            lb = pmedian_lagrangian(
                D,
                w,
                p,
                fixed,
                allowed,
                ub,
                iterations=(2000 if large else 600) if method != "heuristic" else 300,
                time_limit=max(0.05, (0.9 if large else 0.2) * (deadline - clock.now())),
                stop_at=ub - 1 + 1e-6 if integral else ub,
            )
            lb = max(lb, 0.0)
            hist["lagrangian_bound"] = lb
            hist["lagrangian_s"] = clock.now() - t
            steps.append("lagrangian")
        integral = bool(np.all(np.round(D.data) == D.data) and np.all(np.round(w) == w))
        done = feasible and relative_gap(ub, lb, integral=integral) <= mip_gap
        if ((method == "heuristic" or large) and feasible) or done:  # else HiGHS decides
            status = (
                "optimal"
                if feasible and relative_gap(ub, lb, integral=integral) == 0
                else "feasible"
            )
            return _finish(problem, D, w, keep_rows, sel, None, ub, lb, status, t0, hist, steps)
    c, M, lo, hi, lower, upper, integ = pmedian_matrices(
        D, w, p, fixed, capacity=cap, load=q if capacitated else None, single_source=single_source
    )
    start = None
    if sel is not None:
        st = _pm_state(D, big, sel)
        rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
        xa = (D.indices == st.c1[rows]).astype(float)
        # keep one pair per row (ties on the column index cannot occur in CSR)
        start = np.r_[sel.astype(float), xa]
    t = clock.now()
    res = solve_milp(
        c,
        M,
        lo,
        hi,
        lower=lower,
        upper=upper,
        integrality=integ,
        time_limit=max(0.1, deadline - clock.now()),
        mip_rel_gap=mip_gap,
        threads=threads,
        start=start,
        verbose=verbose,
    )
    steps.append("highs")
    hist["highs_s"] = clock.now() - t
    hist["highs_status"] = res.status
    if res.status == "infeasible" and res.x is None:
        msg = (
            f"no choice of {p} new site(s) lets every demand point reach an open site"
            + (" within capacity" if capacitated else "")
            + (
                "; raise p or add candidate sites"
                + (", raise the capacities" if capacitated else "")
                + (", or raise max_distance" if max_distance is not None else "")
            )
        )
        raise InfeasibleError(msg)
    m = problem.n_sites
    if res.x is not None:
        sel = res.x[:m] > 0.5
        x = res.x[m:]
        if not capacitated:  # nearest open site; exact arithmetic on the stored distances
            x = None
            ub = float((w * _pm_state(D, np.inf, sel).d1).sum())
        else:
            if single_source:
                x = (x > 0.5).astype(float)
            ub = float((w[np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))] * D.data * x).sum())
    else:
        x = None
        ub = np.inf
    if np.isfinite(res.bound):
        lb = max(lb, res.bound)
    status = solution_status(res.status)
    if status == "optimal":
        lb = max(lb, ub)
    split = capacitated and not single_source
    load = q if capacitated else None
    return _finish(
        problem, D, w, keep_rows, sel, x, ub, lb, status, t0, hist, steps, split=split, load=load
    )


def _solve_large_capacitated(
    problem: CoverageProblem,
    D: sp.csr_matrix,
    w: np.ndarray,
    q: np.ndarray,
    cap: np.ndarray,
    fixed: np.ndarray,
    p: int,
    keep_rows: np.ndarray,
    single_source: bool,
    t0: float,
    time_limit: float,
    hist: dict[str, Any],
) -> Solution:
    """City-scale capacitated p-median: :mod:`siting.optimize.cpmedian`, no HiGHS B&B."""
    sel, x, ub, lb, more = solve_large_capacitated_pmedian(
        D, w, q, cap, fixed, p, single_source=single_source, time_limit=time_limit
    )
    hist.update(more)
    if not np.isfinite(ub):
        rows, persons = more["unplaced"], more["unplaced_persons"]
        left = (
            f"the best plan found leaves {rows:,.{0 if rows == round(rows) else 2}f} "
            f"demand point(s) with {persons:,.{0 if persons >= 10 else 2}f} persons without "
            "a place"
        )
        most = _served_at_most(D, w, q, cap, fixed, p, sel)
        if most is not None:
            msg = (
                f"no plan with {p} new site(s) can give every demand point a place within "
                f"capacity: at most {most:,.0f} of the {float(w.sum()):,.0f} persons can have "
                f"one (a proven bound; {left}); raise p or the capacities, or maximise the "
                "persons served instead (model 'mclp' with capacity=)"
            )
            raise InfeasibleError(msg)
        msg = (
            f"no plan with {p} new site(s) was found in which every demand point has a "
            f"place within capacity ({left}); raise p or the capacities"
            + (", allow split assignment (single_source=False)" if single_source else "")
            + ', or try method="exact" with a longer time_limit'
        )
        raise InfeasibleError(msg)
    steps = ["greedy", "interchange", "assignment", "swaps", "lagrangian"]
    return _finish(
        problem,
        D,
        w,
        keep_rows,
        sel,
        x,
        ub,
        lb,
        "feasible",
        t0,
        hist,
        steps,
        split=not single_source,
        load=q,
    )


def _served_at_most(
    D: sp.csr_matrix,
    w: np.ndarray,
    q: np.ndarray,
    cap: np.ndarray,
    fixed: np.ndarray,
    p: int,
    sel: np.ndarray,
) -> float | None:
    """The most persons any plan with ``p`` new sites can place within capacity, when the
    capacitated coverage bound proves that fewer than all can (loads equal to persons
    only), else None. Its prices start from the best allocation to ``sel``, the plan
    found."""
    if not np.allclose(q, w):
        return None
    A = sp.csr_matrix((np.ones(D.nnz), D.indices, D.indptr), shape=D.shape)
    total = float(w.sum())
    alloc = _best_allocation(A, w, cap, sel, 5.0)
    u0 = None if alloc is None else alloc.row_price
    lower = 0.0 if alloc is None else alloc.served
    bound, _ = capacitated_lagrangian(
        A, w, cap, fixed, p, lower, u0=u0, iterations=500, time_limit=5.0
    )
    return bound if bound < total * (1 - 1e-9) else None


def _finish(
    problem: CoverageProblem,
    D: sp.csr_matrix,
    w: np.ndarray,
    keep_rows: np.ndarray,
    sel: np.ndarray | None,
    x: np.ndarray | None,
    ub: float,
    lb: float,
    status: str,
    t0: float,
    hist: dict[str, Any],
    steps: list[str],
    *,
    split: bool = False,
    load: np.ndarray | None = None,
) -> Solution:
    """The Solution; ``split``: persons may be split between sites, so the cost need not
    be a whole number even with whole distances and weights (no rounding of the bound).
    ``load`` (capacitated model: per kept row, what it takes from capacity) adds the
    persons served, with the plan and by the existing sites alone within capacity."""
    n = problem.n_demand
    if sel is None:
        sel = problem.existing.copy()
    assignment = np.full(n, -1, dtype=np.int64)
    rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
    if x is not None:  # from the MILP: largest assigned share per row
        order = np.lexsort((-x, rows))
        first = np.r_[True, rows[order][1:] != rows[order][:-1]] if order.size else order
        pick = order[first]
        ok = x[pick] > 1e-6
        assignment[keep_rows[rows[pick][ok]]] = D.indices[pick][ok]
    else:
        st = _pm_state(D, np.inf, sel)
        assignment[keep_rows] = st.c1
    new = np.flatnonzero(sel & ~problem.existing)
    served = assignment >= 0
    cw = float(problem.weight[served].sum())
    total = problem.total_weight
    obj = float(ub)
    integral = not split and bool(np.all(np.round(D.data) == D.data) and np.all(np.round(w) == w))
    gap = relative_gap(obj, lb, integral=integral) if np.isfinite(obj) else np.inf
    if gap == 0.0:
        status = "optimal"
    unreach = np.setdiff1d(np.arange(n), keep_rows)
    served_after = served_before = None
    if load is not None and problem.capacity is not None:
        A = sp.csr_matrix((np.ones(D.nnz), D.indices, D.indptr), shape=D.shape)

        def served_by(open_: np.ndarray, shares: np.ndarray | None) -> np.ndarray:
            """Persons served per demand point: by ``shares``, else by the best
            allocation of the open sites within capacity (NaN if it cannot be found)."""
            out = np.zeros(n)
            if shares is None:
                alloc = _best_allocation(
                    A, w, problem.capacity, open_, 10.0, load=load, capped=False
                )
                if alloc is None:
                    return np.full(n, np.nan)
                shares = alloc.x
            placed = np.bincount(rows, weights=shares, minlength=A.shape[0])
            out[keep_rows] = np.minimum(placed, 1.0) * w
            return out

        served_before = served_by(problem.existing, None)
        # no plan found (HiGHS stopped early): the open sites are the existing ones
        served_after = served_by(sel, x) if x is not None else served_before.copy()
    return Solution(
        selected=sel,
        new=new,
        objective=obj,
        bound=float(min(rounded_bound(lb, integral=integral), obj)) if status != "optimal" else obj,
        gap=gap,
        status=status,
        seconds=clock.now() - t0,
        covered_weight=cw,
        covered_share=cw / total if total > 0 else 1.0,
        assignment=assignment,
        history=hist,
        method="+".join(steps),
        unreachable=unreach,
        unreachable_weight=float(problem.weight[unreach].sum()),
        served=served_after,
        served_before=served_before,
    )
