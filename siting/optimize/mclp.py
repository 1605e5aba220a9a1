"""Maximal covering (MCLP): the most persons covered with ``p`` new sites (or a budget).

Model (Church & ReVelle 1974), existing sites fixed open::

    max  sum_i w_i z_i
    s.t. z_i <= sum_j a_ij y_j      for every (merged) uncovered demand row i
         sum_j y_j <= p             (or sum_j c_j y_j <= budget)
         y binary, 0 <= z <= 1

Pipeline: reduce -> greedy -> 1-swap local search -> Lagrangian upper bound (unit costs)
-> LP bound -> triangle cuts (:mod:`siting.optimize.cuts`: rounds of valid inequalities
that often make the LP's optimum integral, and so the plan proven optimal) ->
randomised LP rounding (p version) -> reduced-cost fixing (columns whose LP reduced cost
exceeds the LP-incumbent gap cannot improve on the incumbent), then on the kept columns
empty rows dropped, identical rows merged (without cuts), dominated columns dropped ->
HiGHS on that model with the cuts (``method != "heuristic"``).

Models above ``settings.lp_nnz_limit`` reduced nonzeros skip the simplex LP and HiGHS (which
cannot solve their root LP in useful time) unless ``method="exact"``: HiGHS' first-order
LP (PDLP) gives duals that become a proven Lagrangian upper bound
(:func:`siting.optimize.bounds.mclp_dual_bound`), its column values guide the rounding,
and iterated 1-swaps use the rest of the time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from siting.errors import ParameterError
from siting.optimize import clock, settings
from siting.optimize.bounds import (
    first_order_seconds,
    lp_mclp_first_order,
    mclp_lagrangian_curve,
)
from siting.optimize.cuts import add_cuts, tighten_lp
from siting.optimize.heuristics import (
    CoverIndex,
    greedy_cover,
    mclp_iterated_search,
    mclp_swap,
    search_workers,
)
from siting.optimize.highs import highs_lp, new_highs, run_charged, solution_status, solve_milp
from siting.optimize.problem import CoverageProblem, Solution, relative_gap, rounded_bound
from siting.optimize.reduce import (
    ReducedCover,
    dominated_columns,
    merge_identical_rows,
    reduce_cover,
)
from siting.optimize.regional import mclp_regional_bound, reserve_seconds

__all__ = ["mclp_matrices", "solve_mclp"]


def mclp_matrices(
    A: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, budget: float
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Sparse MCLP model over ``[y, z]`` (maximise ``w'z``); ``(c, M, lo, hi, integrality)``."""
    nd, nc = A.shape
    link = sp.hstack([-sp.csr_matrix(A, dtype=float), sp.identity(nd, format="csr")])
    knap = sp.hstack([sp.csr_matrix(np.asarray(cost, float)[None, :]), sp.csr_matrix((1, nd))])
    M = sp.vstack([link, knap]).tocsr()
    lo = np.full(nd + 1, -np.inf)
    hi = np.r_[np.zeros(nd), float(budget)]
    c = np.r_[np.zeros(nc), np.asarray(w, float)]
    integ = np.r_[np.ones(nc, dtype=bool), np.zeros(nd, dtype=bool)]
    return c, M, lo, hi, integ


def _budget_greedy(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    budget: float,
    start: np.ndarray | None = None,
    AT: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Greedy by uncovered persons per cost among affordable columns (from ``start``,
    which must fit the budget). ``AT``: ``A`` transposed to CSR, when the caller has it.

    Gains are updated from the rows each opening covers, not recomputed: O(nnz) in all.
    """
    nc = A.shape[1]
    A = sp.csr_matrix(A, dtype=float)
    AT = sp.csr_matrix(A.T) if AT is None else AT
    sel = np.zeros(nc, dtype=bool) if start is None else start.astype(bool).copy()
    covered = np.asarray(A @ sel.astype(float)).ravel() > 0
    gain = AT @ (w * ~covered)
    left = float(budget) - float(cost[sel].sum())
    while True:
        ok = ~sel & (cost <= left + 1e-9) & (gain > 1e-12)
        if not ok.any():
            return sel
        ratio = np.where(ok, gain / np.maximum(cost, 1e-12), -1.0)
        j = int(np.argmax(ratio))
        sel[j] = True
        left -= cost[j]
        rows = AT.indices[AT.indptr[j] : AT.indptr[j + 1]]
        new = rows[~covered[rows]]
        covered[new] = True
        sub = A[new]  # the rows just covered: their persons leave every column's gain
        gain -= np.bincount(
            sub.indices, weights=np.repeat(w[new], np.diff(sub.indptr)), minlength=nc
        )


@clock.work_budget()
def solve_mclp(
    problem: CoverageProblem,
    p: int | None = None,
    *,
    budget: float | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    verbose: bool = False,
) -> Solution:
    """Most persons covered with ``p`` new sites, or with new-site cost <= ``budget``.

    Parameters
    ----------
    problem : CoverageProblem
    p : int, optional
        Number of new sites, 0 <= p <= number of candidates (unit costs).
    budget : float, optional
        Budget on the cost of new sites (same unit as ``problem.cost``); give ``p`` or
        ``budget``.
    time_limit : float
        Seconds, counted as a work budget (:mod:`siting.optimize.clock`): the same
        seed gives the same plan unless real time runs out first.
    mip_gap : float
        Accepted relative gap.
    method : {"auto", "exact", "heuristic"}
        ``heuristic``: search and Lagrangian bound only; ``exact``: HiGHS closes the
        gap; ``auto``: HiGHS where the model allows, else (more than ``settings.lp_nnz_limit``
        nonzeros) search with the first-order LP bound, tightened by the regional bound
        (:mod:`siting.optimize.regional`) when the time allows.
    seed : int
        Seed of the randomised LP rounding.
    threads : int, optional
        HiGHS threads; on large models also the number of parallel iterated-search walks
        (default: 2 walks on any machine, so that plans agree across machines).
    verbose : bool
        HiGHS log.

    Returns
    -------
    Solution
        ``objective`` = covered persons (existing coverage included); ``bound`` = proven
        upper bound.
    """
    t0 = clock.now()
    deadline = t0 + float(time_limit)
    if (p is None) == (budget is None):
        msg = "give exactly one of p (number of new sites) or budget (cost of new sites)"
        raise ParameterError(msg)
    if p is not None:
        if int(p) != p or p < 0 or p > problem.n_candidates:
            msg = (
                f"p must be an integer in [0, {problem.n_candidates}] (the number of "
                f"candidate sites), got {p!r}"
            )
            raise ParameterError(msg)
        p = int(p)
        cost_full = np.ones(problem.n_sites)
        limit = float(p)
    else:
        if not np.isfinite(budget) or budget < 0:
            msg = f"budget must be a finite number >= 0, got {budget!r}"
            raise ParameterError(msg)
        cost_full = problem.cost
        limit = float(budget)
    work = CoverageProblem(
        cover=problem.cover, weight=problem.weight, existing=problem.existing, cost=cost_full
    )
    R = reduce_cover(work)
    hist: dict[str, Any] = {"reduce_s": clock.now() - t0, "reduce": R.stats}
    nc = R.A.shape[1]
    cost = R.cost
    base = R.base_weight
    total_cov = float(R.weight.sum())
    if nc == 0 or cost.sum() <= limit + 1e-9:
        y = np.ones(nc, dtype=bool) if nc else np.zeros(0, dtype=bool)
        return _finish(problem, R, y, base + total_cov, "optimal", t0, hist, "reduce")
    idx = CoverIndex.build(R.A, R.weight, cost)
    t = clock.now()
    if p is not None:
        sel, _, _ = greedy_cover(idx, np.inf, max_add=p)
        sel, cov = mclp_swap(idx, sel)
    else:
        sel = _budget_greedy(R.A, R.weight, cost, limit)
        sel, cov = mclp_swap(idx, sel, budget_slack=max(0.0, limit - float(cost[sel].sum())))
    hist["heuristic_s"] = clock.now() - t
    hist["heuristic"] = base + cov
    steps = ["reduce", "greedy", "swap"]
    ub = base + total_cov
    if p is not None:
        t = clock.now()
        lag = mclp_lagrangian_curve(
            R.A,
            R.weight,
            np.array([p]),
            iterations=300,
            time_limit=max(0.05, 0.1 * (deadline - t)),
            lower=np.array([cov]),
        )
        ub = min(ub, base + float(lag[0]))
        hist["lagrangian_bound"] = ub
        hist["lagrangian_s"] = clock.now() - t
        steps.append("lagrangian")
    integral = bool(np.all(np.round(R.weight) == R.weight))

    def gap_of(cov_: float, ub_: float) -> float:
        return relative_gap(base + cov_, ub_, integral=integral, sense=-1)

    if method == "heuristic" or gap_of(cov, ub) <= mip_gap:
        status = "optimal" if gap_of(cov, ub) == 0 else "feasible"
        return _finish(problem, R, sel, ub, status, t0, hist, "+".join(steps))
    if R.A.nnz > settings.lp_nnz_limit and method != "exact":
        return _solve_large(
            problem,
            R,
            idx,
            sel,
            cov,
            ub,
            p,
            limit,
            t0,
            deadline,
            hist,
            steps,
            mip_gap,
            seed,
            threads,
        )
    c, M, lo, hi, integ = mclp_matrices(R.A, R.weight, cost, limit)
    keep: np.ndarray | None = None
    cuts: sp.csr_matrix | None = None  # triangle cuts over [y, z] (right-hand side 1)
    if R.A.nnz <= settings.lp_nnz_limit:
        # LP bound, then randomised LP rounding repaired by 1-swaps (p version)
        t = clock.now()
        lp = _lp_with_duals(c, M, lo, hi, time_limit=max(0.1, 0.3 * (deadline - t)))
        steps.append("lp")
        hist["lp_solve_s"] = clock.now() - t
        if lp is not None:
            ub = min(ub, base + float(lp.objective))
            hist["lp_bound"] = base + float(lp.objective)
            if gap_of(cov, ub) > mip_gap:
                # --- triangle cuts (siting.optimize.cuts): the LP's gap, closed
                tc = clock.now()
                tg = tighten_lp(
                    lp.h,
                    R.A,
                    lp.objective,
                    lp.x,
                    lp.dual,
                    deadline=tc + 0.3 * (deadline - tc),
                    closed=lambda o: gap_of(cov, base + o) <= mip_gap,
                    # no goal: rounds go on while they move the LP (the incumbent is the
                    # greedy one yet, a poor yardstick for progress)
                )
                if tg.rounds:
                    lp = _LP(tg.x, tg.col_dual, tg.objective, lp.h)
                    cuts = tg.rows
                    ub = min(ub, base + float(lp.objective))
                    hist["cut_bound"] = base + float(lp.objective)
                    hist["cuts"] = tg.summary()
                    steps.append("cuts")
                    y_lp = lp.x[:nc]
                    if np.all(np.minimum(y_lp, 1.0 - y_lp) <= 1e-9):
                        # an integral LP optimum is a plan (the best one, if p is met)
                        s_ = y_lp > 0.5
                        if float(cost[s_].sum()) <= limit + 1e-9:
                            c_ = idx.covered(s_)
                            if c_ > cov + idx.tol():
                                sel, cov = s_, c_
                hist["cuts_s"] = clock.now() - tc
            if p is not None and gap_of(cov, ub) > mip_gap:
                sel, cov, trials = _round_lp(
                    idx,
                    lp.x[:nc],
                    p,
                    sel,
                    cov,
                    seed,
                    t + 0.5 * (deadline - t),
                    lambda c_: gap_of(c_, ub) <= mip_gap,
                )
                steps.append("rounding")
                hist["rounding"] = base + cov
                hist["rounding_trials"] = trials
        hist["lp_s"] = clock.now() - t
        if gap_of(cov, ub) <= mip_gap:
            status = "optimal" if gap_of(cov, ub) == 0 else "feasible"
            return _finish(problem, R, sel, ub, status, t0, hist, "+".join(steps))
        if lp is not None:
            # reduced-cost fixing: a column whose LP reduced cost (at 0) exceeds the LP
            # gap cannot be in any solution better than the incumbent
            lp_obj = float(lp.objective)
            slack = (1.0 if integral else 0.0) - 1e-6 * max(1.0, abs(lp_obj))
            out = (lp.x[:nc] < 1e-9) & (lp_obj + lp.dual[:nc] < cov + slack) & ~sel
            if out.any():
                keep = np.flatnonzero(~out)
                hist["rc_fixed"] = int(out.sum())
                steps.append("rcfix")
    t = clock.now()
    if keep is not None:
        # with cuts, the rows stay as they are (the cuts name them); else merged
        restrict = _restrict if cuts is None else _columns
        Ak, wk = restrict(R.A, R.weight, keep)
        dom = dominated_columns(Ak, cost[keep]) & ~sel[keep]
        if dom.any():
            keep = keep[~dom]
            Ak, wk = restrict(R.A, R.weight, keep)
        hist["rc_kept"] = (int(keep.size), int(Ak.shape[0]))
        c, M, lo, hi, integ = mclp_matrices(Ak, wk, cost[keep], limit)
        if cuts is not None:  # columns fixed at 0 leave the cuts valid
            cuts = sp.csr_matrix(cuts[:, np.r_[keep, nc + np.arange(R.A.shape[0])]])
    M, lo, hi = add_cuts(M, lo, hi, cuts)
    nk = nc if keep is None else keep.size
    res = solve_milp(
        c,
        M,
        lo,
        hi,
        integrality=integ,
        maximize=True,
        time_limit=max(0.1, deadline - t),
        mip_rel_gap=mip_gap,
        threads=threads,
        start=None,
        verbose=verbose,
        heuristics=False,
    )
    steps.append("highs")
    hist["highs_s"] = clock.now() - t
    hist["highs_status"] = res.status
    if res.x is not None and res.objective > cov + 1e-9 * max(1.0, total_cov):
        if keep is not None:
            sel = np.zeros(nc, dtype=bool)
            sel[keep] = res.x[:nk] > 0.5
        else:
            sel = res.x[:nc] > 0.5
        cov = float(res.objective)
    if np.isfinite(res.bound):
        # with fixing, solutions outside the kept columns are no better than the incumbent
        ub = min(ub, base + (max(res.bound, cov) if keep is not None else res.bound))
    status = solution_status(res.status)
    return _finish(problem, R, sel, ub, status, t0, hist, "+".join(steps))


def _solve_large(
    problem: CoverageProblem,
    R: ReducedCover,
    idx: CoverIndex,
    sel: np.ndarray,
    cov: float,
    ub: float,
    p: int | None,
    limit: float,
    t0: float,
    deadline: float,
    hist: dict[str, Any],
    steps: list[str],
    mip_gap: float,
    seed: int,
    threads: int | None,
) -> Solution:
    """Models too large for the simplex method: first-order LP bound, then search.

    PDLP's duals give a proven upper bound (:func:`~siting.optimize.bounds.mclp_dual_bound`)
    and its column values guide randomised rounding; iterated 1-swaps use the rest of
    the time. HiGHS' branch-and-bound is skipped (it cannot solve the root LP of such
    models in useful time); ``method="exact"`` forces it.
    """
    base = R.base_weight
    integral = bool(np.all(np.round(R.weight) == R.weight))

    def gap_of(cov_: float, ub_: float) -> float:
        return relative_gap(base + cov_, ub_, integral=integral, sense=-1)

    t = clock.now()
    pd_time = first_order_seconds(deadline - t)
    pdb, y_lp, lam = lp_mclp_first_order(
        R.A, R.weight, R.cost, limit, time_limit=pd_time, duals=True
    )
    hist["pdlp_s"] = clock.now() - t
    if np.isfinite(pdb):
        ub = min(ub, base + pdb)
        hist["pdlp_bound"] = base + pdb
        steps.append("pdlp")
    nc = R.A.shape[1]
    # time kept for the regional bound at the end (siting.optimize.regional)
    regional_s = 0.0
    if lam is not None:
        regional_s = reserve_seconds(
            R.A,
            deadline - clock.now(),
            share=settings.mclp_regional_share,
            minimum=settings.mclp_regional_min_s,
            workers=search_workers(threads),
        )
    deadline_search = deadline - regional_s
    if p is not None and 0 < p < nc and gap_of(cov, ub) > mip_gap:
        t = clock.now()
        if y_lp is not None and settings.mclp_large_rounding_share > 0:
            sel, cov, _ = _round_lp(
                idx,
                y_lp,
                p,
                sel,
                cov,
                seed,
                # the iterated search is stronger
                t + settings.mclp_large_rounding_share * (deadline_search - t),
                lambda c_: gap_of(c_, ub) <= mip_gap,
            )
            steps.append("rounding")
            hist["rounding"] = base + cov
            hist["rounding_s"] = clock.now() - t
        if gap_of(cov, ub) > mip_gap and clock.now() < deadline_search:
            sel, cov = mclp_iterated_search(
                idx,
                sel,
                stop_at=ub / (1.0 + mip_gap) - base,
                seed=seed,
                deadline=deadline_search,
                workers=search_workers(threads),
            )
            steps.append("ils")
            hist["ils"] = base + cov
        hist["search_s"] = clock.now() - t
    elif p is None and y_lp is not None and gap_of(cov, ub) > mip_gap:
        # a budget: randomised LP rounding by cost, refilled greedily, 1-swaps in budget
        t = clock.now()
        rng = np.random.default_rng(seed)
        y = np.clip(y_lp, 0.0, 1.0)
        AT = sp.csr_matrix(sp.csr_matrix(R.A, dtype=float).T)
        step = 0.0  # the longest trial so far: no trial starts that would end past the limit
        while clock.now() + step < deadline_search - 0.05 and gap_of(cov, ub) > mip_gap:
            t_trial = clock.now()
            # noise: a few columns the LP leaves at 0 come in (about 5 expected)
            noise = rng.uniform(0.0, min(0.1, 5.0 / nc))
            start = rng.random(nc) < y * rng.uniform(0.3, 1.0) + noise
            order = rng.permutation(nc)  # keep what fits, in random order
            over = np.cumsum(np.where(start[order], R.cost[order], 0.0)) > limit + 1e-9
            start[order[over]] = False
            got = _budget_greedy(R.A, R.weight, R.cost, limit, start, AT)
            got, c_ = mclp_swap(idx, got, budget_slack=max(0.0, limit - float(R.cost[got].sum())))
            if c_ > cov + 1e-9:
                sel, cov = got, c_
            step = max(step, clock.now() - t_trial)
        steps.append("rounding")
        hist["rounding"] = base + cov
        hist["rounding_s"] = clock.now() - t
    if regional_s > 0 and gap_of(cov, ub) > mip_gap and not clock.expired():
        # --- the LP's integrality gap, region by region
        t = clock.now()
        reg, details = mclp_regional_bound(
            R.A,
            R.weight,
            R.cost,
            limit,
            lam,
            time_limit=max(0.1, deadline - t - 0.05),
            workers=search_workers(threads),
        )
        if details is not None:
            ub = min(ub, base + reg)
            hist["regional_bound"] = base + reg
            hist["regional"] = {
                **details.summary(),
                "bound": base + details.model_bound,
                "lp_bound": base + details.model_lp_bound,
            }
            steps.append("regional")
        hist["regional_s"] = clock.now() - t
    timed_out = clock.now() >= deadline - 0.05
    status = "optimal" if gap_of(cov, ub) == 0 else ("time_limit" if timed_out else "feasible")
    return _finish(problem, R, sel, ub, status, t0, hist, "+".join(steps))


def _round_lp(
    idx: CoverIndex,
    y: np.ndarray,
    p: int,
    sel: np.ndarray,
    cov: float,
    seed: int,
    stop: float,
    good_enough: Callable[[float], bool],
) -> tuple[np.ndarray, float, int]:
    """Randomised LP rounding for MCLP: ``p`` columns by Gumbel top-p on ``log y``, each
    repaired by 1-swaps; keeps the best of ``sel`` and the trials. Stops after
    ``settings.mclp_rounding_trials`` trials, at ``stop`` (a work-clock reading) or once
    ``good_enough(cov)``.
    Returns ``(selection, covered weight, trials made)``."""
    nc = y.size
    rng = np.random.default_rng(seed)
    logy = np.log(np.clip(y, 0, 1) + 1e-3)
    trials = 0
    for _ in range(settings.mclp_rounding_trials):
        trials += 1
        key = logy - np.log(-np.log(rng.random(nc)))
        trial = np.zeros(nc, dtype=bool)
        trial[np.argpartition(-key, p - 1)[:p]] = True
        trial, tc = mclp_swap(idx, trial)
        if tc > cov + idx.tol():
            sel, cov = trial, tc
        if good_enough(cov) or clock.now() > stop:
            break
    return sel, cov, trials


def _restrict(
    A: sp.csr_matrix, w: np.ndarray, keep: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Columns ``keep`` of ``A``; rows left empty dropped, identical rows merged."""
    Ak = sp.csr_matrix(A[:, keep])
    Ak.sort_indices()
    nz = np.diff(Ak.indptr) > 0
    Am, wm, _ = merge_identical_rows(sp.csr_matrix(Ak[nz]), w[nz])
    return sp.csr_matrix(Am), wm


def _columns(A: sp.csr_matrix, w: np.ndarray, keep: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Columns ``keep`` of ``A``, every row kept (cuts refer to rows by position)."""
    Ak = sp.csr_matrix(A[:, keep])
    Ak.sort_indices()
    return Ak, np.asarray(w, dtype=float)


class _LP:
    """LP optimum with column reduced costs, and the HiGHS object that holds it."""

    def __init__(self, x: np.ndarray, dual: np.ndarray, objective: float, h: highspy.Highs) -> None:
        self.x = x
        self.dual = dual
        self.objective = objective
        self.h = h


def _lp_with_duals(
    c: np.ndarray, M: sp.csr_matrix, lo: np.ndarray, hi: np.ndarray, *, time_limit: float
) -> _LP | None:
    """Maximise ``c'x`` over ``lo <= Mx <= hi``, ``0 <= x <= 1`` with HiGHS; None if not optimal."""
    lp = highs_lp(c, M, lo, hi, maximize=True)
    h = new_highs()
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    run_charged(h, time_limit)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    if not sol.dual_valid:
        return None
    obj = float(h.getInfo().objective_function_value)
    return _LP(np.asarray(sol.col_value, float), np.asarray(sol.col_dual, float), obj, h)


def _finish(
    problem: CoverageProblem,
    R: ReducedCover,
    y: np.ndarray,
    bound: float,
    status: str,
    t0: float,
    hist: dict[str, Any],
    method: str,
) -> Solution:
    sel = R.selected_sites(y, problem.n_sites, problem.existing)
    new = np.flatnonzero(sel & ~problem.existing)
    cw = problem.covered_weight(sel)
    total = problem.total_weight
    if status == "optimal":
        bound = cw
    bound = max(float(bound), cw)
    integral = bool(np.all(np.round(problem.weight) == problem.weight))
    gap = relative_gap(cw, bound, integral=integral, sense=-1)
    bound = max(rounded_bound(bound, integral=integral, sense=-1), cw)
    if gap == 0.0:
        bound = cw
    unreach = np.flatnonzero(R.unreachable)
    return Solution(
        selected=sel,
        new=new,
        objective=cw,
        bound=bound,
        gap=gap,
        status="optimal" if gap == 0.0 else status,
        seconds=clock.now() - t0,
        covered_weight=cw,
        covered_share=cw / total if total > 0 else 1.0,
        history=hist,
        method=method,
        unreachable=unreach,
        unreachable_weight=float(problem.weight[unreach].sum()),
    )
