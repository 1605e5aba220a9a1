"""Partial set covering (PSCLP): the fewest new sites (or least cost) reaching a target.

Model (Daskin & Owen 1999; Cordeau, Furini & Ljubic 2019, section 3.1)::

    min  sum_j c_j y_j
    s.t. z_i <= sum_j a_ij y_j          for every (merged) demand row i
         sum_i w_i z_i >= D             D = target x total persons - persons already covered
         y binary, 0 <= z <= 1          (z is integral at an optimum)

with existing sites fixed open. Per-district targets replace the single knapsack row by
one row per district. Pipeline (:func:`solve_target`):

1. reduce (:func:`siting.optimize.reduce.reduce_cover`);
2. greedy + local search incumbent (:mod:`siting.optimize.heuristics`);
3. bound: the LP relaxation (HiGHS dual simplex) when the reduced model has at most
   ``settings.lp_nnz_limit`` nonzeros; above that, HiGHS' first-order LP solver (PDLP) for a share
   of the time, whose duals are turned into a *proven* Lagrangian bound
   (:func:`siting.optimize.bounds.psclp_dual_bound`) and polished by subgradient steps
   (on the 50,000-node benchmark city: 102.5 in ~5 s, where the simplex method needs
   ~60-700 s for the same LP); ``method="heuristic"`` uses the subgradient method only.
   With unit costs the objective is integral, so a bound above ``UB - 1`` proves ``UB``
   optimal;
4. search at ``UB - 1`` sites while it succeeds: greedy seeded with the near-1 columns
   of the simplex LP (when it was affordable), then randomised LP rounding repaired by
   1-swaps. On large models (unit costs) each rounding round is capped (the LP still
   sees what a local search misses, such as a greedy trap) and the first miss hands
   over to the compiled iterated search
   (:func:`~siting.optimize.heuristics.mclp_iterated_search`: local kicks, undone when
   worse; one walk per thread), started from the incumbent without one of its 5 least
   useful sites in turn, in slices of at most ``settings.ils_slice_s`` seconds, until the time
   is up (on the 50,000-node city: 105 sites, 1.9% from the bound, in 60 s with each
   of seeds 0-2; 106 in 10 s with 3 seeds of 4);
5. if a gap remains and the simplex LP was affordable (or ``method="exact"``): HiGHS
   on the reduced model, warm-started with the incumbent (which also acts as the
   cut-off). On larger models HiGHS cannot solve the root LP in useful time, so the
   time goes to step 4 instead. The gap is always reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting.errors import InfeasibleError, ParameterError
from siting.optimize import clock, settings
from siting.optimize.bounds import (
    first_order_seconds,
    lp_psclp_first_order,
    mclp_lagrangian_curve,
    psclp_lagrangian,
)
from siting.optimize.cuts import add_cuts, tighten_lp
from siting.optimize.heuristics import (
    CoverIndex,
    drop_redundant,
    greedy_cover,
    group_greedy,
    improve_partial_cover,
    mclp_iterated_search,
    removal_order,
    search_workers,
    swap_search,
)
from siting.optimize.highs import highs_lp, new_highs, run_charged, solution_status, solve_milp
from siting.optimize.problem import CoverageProblem, Solution, relative_gap, rounded_bound
from siting.optimize.reduce import ReducedCover, reduce_cover
from siting.optimize.regional import psclp_regional_bound, reserve_seconds

__all__ = [
    "coverage_curve",
    "infeasible_target_message",
    "psclp_matrices",
    "solve_target",
]

_EPS = 1e-9


# ---------------------------------------------------------------------- messages
def infeasible_target_message(
    target: float,
    total: float,
    unreachable_weight: float,
    unreachable_points: int,
    max_share: float,
    *,
    threshold: str = "the coverage threshold",
    where: str = "",
    extra: str | None = None,
) -> str:
    """Explain in words why a coverage target cannot be met.

    Parameters
    ----------
    target : float
        Requested share (0..1).
    total : float
        Total persons (of the district when ``where`` is given).
    unreachable_weight, unreachable_points : float, int
        Persons / demand points no candidate nor existing site reaches.
    max_share : float
        The most any plan can cover (0..1).
    threshold : str
        How reach is measured, e.g. ``"a 15-minute walk"``.
    where : str
        Optional place, e.g. ``" in district 3"``.
    extra : str, optional
        Text appended by the caller (a ``describe`` hook), e.g. where the points lie.
    """
    msg = (
        f"Target {target:.1%} of {total:,.0f} persons{where} is unreachable: "
        f"{unreachable_weight:,.0f} persons at {unreachable_points:,} demand points are beyond "
        f"{threshold} of every candidate and existing site; the most any plan can cover is "
        f"{max_share:.1%}. Lower the target, add candidate sites near them, or lengthen the "
        "walk."
    )
    if extra:
        msg = f"{msg} {extra}"
    return msg


def _check_feasible(
    problem: CoverageProblem,
    target: float,
    group: np.ndarray | None,
    threshold: str,
    describe: Callable[[np.ndarray], str] | None,
    group_names: Sequence[str] | None = None,
) -> None:
    w = problem.weight
    reach = problem.reachable_mask()
    parts = [(np.ones(problem.n_demand, dtype=bool), "")]
    if group is not None:
        parts = [
            (
                group == g,
                f" in {group_names[g]}"
                if group_names is not None and g < len(group_names)
                else f" in district {g}",
            )
            for g in np.unique(group)
        ]
    for mask, where in parts:
        tot = float(w[mask].sum())
        cov = float(w[mask & reach].sum())
        if target * tot > cov + _EPS * max(1.0, tot):
            bad = mask & ~reach
            extra = describe(np.flatnonzero(bad)) if describe is not None else None
            msg = infeasible_target_message(
                target,
                tot,
                float(w[bad].sum()),
                int(bad.sum()),
                cov / tot if tot > 0 else 0.0,
                threshold=threshold,
                where=where,
                extra=extra,
            )
            raise InfeasibleError(msg)


def _check_target(target: float) -> float:
    t = float(target)
    if not (0.0 < t <= 1.0) or not np.isfinite(t):
        msg = f"target must be a share in (0, 1] (e.g. 0.9 for 90%), got {target!r}"
        raise ParameterError(msg)
    return t


# ---------------------------------------------------------------------- model matrices
def psclp_matrices(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    need: float,
    *,
    group: np.ndarray | None = None,
    group_need: np.ndarray | None = None,
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Sparse PSCLP model over variables ``[y (columns), z (rows)]``.

    Returns ``(c, M, row_lower, row_upper, integrality)`` for
    :func:`siting.optimize.highs.solve_milp`. The coverage rows are divided by what they
    need (right-hand side 1), so HiGHS' absolute feasibility tolerance (1e-7) means the
    same share whatever the unit of ``w`` (persons, or weights of 1e-6).
    """
    nd, nc = A.shape
    link = sp.hstack([-sp.csr_matrix(A, dtype=float), sp.identity(nd, format="csr")])
    w = np.asarray(w, float)
    if group is None:
        scale = float(need) if need > 0 else 1.0
        know = sp.hstack([sp.csr_matrix((1, nc)), sp.csr_matrix(w[None, :] / scale)])
        klo = np.array([need / scale])
    else:
        G = len(group_need)
        gneed = np.asarray(group_need, float)
        gscale = np.where(gneed > 0, gneed, 1.0)
        Wg = sp.csr_matrix((w / gscale[group], (group, np.arange(nd))), shape=(G, nd))
        know = sp.hstack([sp.csr_matrix((G, nc)), Wg])
        klo = gneed / gscale
    M = sp.vstack([link, know]).tocsr()
    lo = np.r_[np.full(nd, -np.inf), klo]
    hi = np.r_[np.zeros(nd), np.full(klo.size, np.inf)]
    c = np.r_[np.asarray(cost, float), np.zeros(nd)]
    integ = np.r_[np.ones(nc, dtype=bool), np.zeros(nd, dtype=bool)]
    return c, M, lo, hi, integ


# ---------------------------------------------------------------------- solution building
def _finish(
    problem: CoverageProblem,
    R: ReducedCover,
    y: np.ndarray,
    bound: float,
    status: str,
    t0: float,
    history: dict[str, Any],
    method: str,
) -> Solution:
    sel = R.selected_sites(y, problem.n_sites, problem.existing)
    new = np.flatnonzero(sel & ~problem.existing)
    obj = float(problem.cost[new].sum())
    integral = bool(np.all(np.round(problem.cost) == problem.cost))
    gap = relative_gap(obj, bound, integral=integral)
    if gap == 0.0 and status in ("feasible", "time_limit"):
        status = "optimal"
    if status == "optimal":
        bound = max(bound, obj) if integral else bound
        gap = 0.0
    cw = problem.covered_weight(sel)
    total = problem.total_weight
    unreach = np.flatnonzero(R.unreachable)
    return Solution(
        selected=sel,
        new=new,
        objective=obj,
        bound=float(min(rounded_bound(bound, integral=integral), obj)),
        gap=gap,
        status=status,
        seconds=clock.now() - t0,
        covered_weight=cw,
        covered_share=cw / total if total > 0 else 1.0,
        history=history,
        method=method,
        unreachable=unreach,
        unreachable_weight=float(problem.weight[unreach].sum()),
    )


def _proof_goal(ub: float, integral: bool, mip_gap: float) -> float:
    """The lower bound that proves a plan of cost ``ub`` (see :func:`_lower_ok`)."""
    if integral:
        return float(np.round(ub)) - 1.0
    return ub / (1.0 + mip_gap)


def _lower_ok(bound: float, ub: float, integral: bool, mip_gap: float) -> bool:
    return relative_gap(ub, bound, integral=integral) <= mip_gap + 1e-12


def _lp(R: ReducedCover, need: float, seconds: float) -> highspy.Highs | None:
    """The LP relaxation solved by HiGHS' dual simplex, kept for cuts; None if unsolved."""
    c, M, lo, hi, _ = psclp_matrices(R.A, R.weight, R.cost, need)
    h = new_highs()
    h.passModel(highs_lp(c, M, lo, hi))
    run_charged(h, seconds)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return h


def _lp_rounding(
    idx: CoverIndex,
    need_t: float,
    y_lp: np.ndarray,
    p: int,
    rng: np.random.Generator,
    trials: int,
    deadline: float,
) -> np.ndarray | None:
    """Randomised LP rounding (Gumbel top-p by LP value) repaired by 1-swaps.

    Returns the first selection of ``p`` columns covering ``need_t`` persons, or None.
    """
    m = idx.n_cols
    if p <= 0 or p > m:
        return None
    logy = np.log(np.clip(y_lp, 0, 1) + 1e-3)
    for _ in range(trials):
        key = logy - np.log(-np.log(rng.random(m)))
        sel = np.zeros(m, dtype=bool)
        sel[np.argpartition(-key, p - 1)[:p]] = True
        covered, _ = swap_search(idx, sel, need_t, 100_000)
        if covered >= need_t:
            return sel
        if clock.now() > deadline:
            break
    return None


def _cost_rounding(
    idx: CoverIndex,
    need: float,
    y_lp: np.ndarray,
    sel: np.ndarray,
    seed: int,
    deadline: float,
    done: Callable[[float], bool],
) -> tuple[np.ndarray, float]:
    """Randomised LP rounding for costs: open each column with probability ``a * y + b``
    (``a`` drawn in [0.3, 1], ``b`` in [0, min(0.1, 5 / columns)]), complete greedily by
    persons per cost, then descend; the cheapest plan found by ``deadline`` or once
    ``done(cost)`` (or ``sel`` if none is cheaper)."""
    rng = np.random.default_rng(seed)
    y = np.clip(np.asarray(y_lp, dtype=float), 0.0, 1.0)
    best, best_cost = sel, float(idx.cost[sel].sum())
    trial = 0
    while clock.now() < deadline and not done(best_cost):
        # a little noise lets columns the LP leaves at 0 in (else the starts repeat):
        # about 5 of them expected
        noise = rng.uniform(0.0, min(0.1, 5.0 / idx.n_cols))
        start = rng.random(idx.n_cols) < y * rng.uniform(0.3, 1.0) + noise
        got, _, _ = greedy_cover(idx, need, start=start)
        got, _ = improve_partial_cover(
            idx,
            need,
            got,
            seed=seed + trial,
            kicks=0,
            time_limit=max(0.01, deadline - clock.now()),
        )
        trial += 1
        c = float(idx.cost[got].sum())
        if c < best_cost - 1e-9:
            best, best_cost = got, c
    return best, best_cost


def _rounding_seconds(now: float, stop: float) -> float:
    """Cap of one LP-rounding round on a large model (s): a small share of what is left."""
    return settings.large_rounding_round.seconds(now, stop)


# ---------------------------------------------------------------------- main entry
@clock.work_budget()
def solve_target(
    problem: CoverageProblem,
    target: float = 0.9,
    *,
    by_group: bool = False,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    verbose: bool = False,
    threshold: str = "the coverage threshold",
    describe: Callable[[np.ndarray], str] | None = None,
    lp: bool | None = None,
    group_names: Sequence[str] | None = None,
) -> Solution:
    """Fewest new sites (or least cost) so that covered persons >= ``target`` x total.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``cover`` and ``weight``; ``existing`` sites are fixed open; ``cost``
        (default 1) is minimised; ``group`` is used when ``by_group``.
    target : float
        Share of persons to cover, in (0, 1].
    by_group : bool
        Every district (``problem.group``) must reach the target.
    time_limit : float
        Seconds for the whole solve.
    mip_gap : float
        Accepted relative gap (0 = prove optimality).
    method : {"auto", "exact", "heuristic"}
        ``heuristic`` stops after the local search and the Lagrangian bound; ``exact``
        always lets HiGHS close the gap; ``auto`` = exact within ``time_limit``. On
        models too large for HiGHS (more than ``settings.lp_nnz_limit`` nonzeros), ``auto``
        searches and proves its bound from the first-order LP, tightened by the regional
        bound (:mod:`siting.optimize.regional`) when at least
        ``settings.target_regional_min_s`` seconds are left for it.
    seed : int
        Seed of the randomised parts: the same seed, ``time_limit`` and ``threads`` give
        the same answer unless real time runs out before the work budget
        (``history["deterministic"]`` False; see :mod:`siting.optimize.clock`).
    threads : int, optional
        HiGHS threads; on large models also the number of parallel iterated-search walks
        (default: 2 walks on any machine, so that plans agree across machines).
    verbose : bool
        Show HiGHS' log.
    threshold : str
        Words for the reach threshold used in error messages (``"a 15-minute walk"``).
    describe : callable, optional
        ``describe(indices_of_unreachable_demand) -> str`` appended to infeasibility
        messages.
    lp : bool, optional
        Force (True) or skip (False) the simplex LP bound (skipping it sends the model
        down the large-model path: first-order LP bound, then search); default: when
        the reduced model has at most ``settings.lp_nnz_limit`` nonzeros.
    group_names : sequence of str, optional
        Name of each group (district) for messages, indexed by ``problem.group``.

    Returns
    -------
    Solution
        ``objective`` = cost of the new sites (number of new sites with unit costs).

    Raises
    ------
    InfeasibleError
        The target exceeds what all sites together can reach (the message says how much).
    """
    t0 = clock.now()
    deadline = t0 + float(time_limit)
    target = _check_target(target)
    group = problem.group if by_group else None
    if by_group and group is None:
        msg = "by_group=True needs problem.group (a district index per demand point)"
        raise ParameterError(msg)
    _check_feasible(problem, target, group, threshold, describe, group_names)
    R = reduce_cover(problem, by_group=by_group)
    hist: dict[str, Any] = {"reduce_s": clock.now() - t0, "reduce": R.stats}
    if by_group:
        return _solve_group_target(
            problem, R, target, t0, deadline, hist, mip_gap, method, threads, verbose
        )
    total = problem.total_weight
    need = target * total - R.base_weight
    integral = bool(np.all(np.round(R.cost) == R.cost))
    nc = R.A.shape[1]
    if need <= _EPS * max(1.0, total) or nc == 0:
        hist["note"] = "existing sites already meet the target"
        return _finish(problem, R, np.zeros(nc), 0.0, "optimal", t0, hist, "reduce")
    idx = CoverIndex.build(R.A, R.weight, R.cost)
    need_t = need - idx.tol()
    t = clock.now()
    sel, _, _ = greedy_cover(idx, need)
    hist["greedy"] = float(idx.cost[sel].sum())
    kicks = 10 if method == "heuristic" else 0  # LP rounding below is the stronger search
    use_lp = method != "heuristic" and (lp if lp is not None else R.A.nnz <= settings.lp_nnz_limit)
    share = 0.2 if use_lp or method == "heuristic" else 0.05  # large: the search below
    sel, _ = improve_partial_cover(
        idx, need, sel, seed=seed, kicks=kicks, time_limit=max(0.1, share * (deadline - t))
    )
    ub = float(idx.cost[sel].sum())
    hist["local_search"] = ub
    hist["heuristic_s"] = clock.now() - t
    steps = ["reduce", "greedy", "swap"]
    lb = 0.0
    y_frac = None
    cuts: sp.csr_matrix | None = None  # triangle cuts over [y, z] (right-hand side 1)
    h_lp = None  # the solved LP, kept for the cuts
    lam_best = None  # multipliers of the best first-order bound (large models)
    regional_s = 0.0  # time kept for the regional bound at the end (large models)
    if use_lp:
        # --- LP bound (HiGHS); its solution guides the search
        t = clock.now()
        h_lp = _lp(R, need, max(0.1, 0.5 * (deadline - t)))
        lpv = -np.inf if h_lp is None else float(h_lp.getInfo().objective_function_value)
        if h_lp is not None:
            y_frac = np.asarray(h_lp.getSolution().col_value, dtype=float)[:nc]
            lb = lpv
        hist["lp_bound"] = lpv
        hist["lp_s"] = clock.now() - t
        steps.append("lp")
    if y_frac is None and method != "heuristic":
        # --- too large for the simplex method: first-order LP (PDLP), its duals give a
        # proven Lagrangian bound, polished by subgradient steps from there
        t = clock.now()
        # with whole-number costs the bound is rounded up: its last decimals rarely matter
        pd_time = first_order_seconds(deadline - t, most=6.0 if integral else np.inf)
        pdb, lam, y_pd = lp_psclp_first_order(R.A, R.weight, R.cost, need, time_limit=pd_time)
        if y_pd is not None:
            lag, lam_lag, _ = psclp_lagrangian(
                R.A,
                R.weight,
                R.cost,
                need,
                ub,
                iterations=1000,
                time_limit=max(0.05, 0.1 * (deadline - clock.now())),
                lam0=lam,
                stop_at=ub - 1 + 1e-6 if integral else ub,
            )
            lb = max(lb, pdb, lag, 0.0)
            y_frac = y_pd
            lam_best = lam_lag if lag > pdb else lam
            hist["pdlp_bound"] = max(pdb, lag)
            steps.append("pdlp")
        hist["pdlp_s"] = clock.now() - t
        # the regional bound, if it fits: the time it should need and a quarter more
        if method == "auto" and lam_best is not None:
            regional_s = reserve_seconds(
                R.A,
                deadline - clock.now(),
                share=settings.target_regional_share,
                minimum=settings.target_regional_min_s,
                workers=search_workers(threads),
            )
    if y_frac is None:
        # --- Lagrangian bound; the average y-subproblem solution approximates the LP
        t = clock.now()
        small = method == "heuristic"
        lag, _, y_frac = psclp_lagrangian(
            R.A,
            R.weight,
            R.cost,
            need,
            ub,
            iterations=400 if small else settings.target_lagrangian_iterations,
            time_limit=max(0.05, (0.1 if small else 0.25) * (deadline - t)),
            stop_at=ub - 1 + 1e-6 if integral else ub,
        )
        lb = max(lb, lag, 0.0)
        hist["lagrangian_bound"] = lag
        hist["lagrangian_s"] = clock.now() - t
        steps.append("lagrangian")
    if method == "heuristic" or _lower_ok(lb, ub, integral, mip_gap):
        status = "optimal" if _lower_ok(lb, ub, integral, 0.0) else "feasible"
        return _finish(problem, R, sel, lb, status, t0, hist, "+".join(steps))
    # --- guided search: greedy seeded with near-1 columns, then randomised rounding
    t = clock.now()
    unit_costs = bool(R.cost.size and np.all(R.cost == R.cost[0]) and R.cost[0] > 0)
    if use_lp or not unit_costs:
        s2, _, _ = greedy_cover(idx, need, start=y_frac >= 0.9)
        s2, _ = improve_partial_cover(
            idx, need, s2, seed=seed, kicks=0, time_limit=max(0.1, 0.1 * (deadline - t))
        )
        if idx.cost[s2].sum() < ub - 1e-9:
            sel, ub = s2, float(idx.cost[s2].sum())
    if unit_costs:
        rng = np.random.default_rng(seed)
        unit = float(R.cost[0])
        share = 0.3 if use_lp else 1.0  # without an LP, HiGHS is hopeless: search instead
        stop_round = t + share * (deadline - regional_s - t)
        attempts = n_drop = 0
        rounding = True  # LP rounding while it succeeds (on large models: briefly)
        while not _lower_ok(lb, ub, integral, mip_gap) and clock.now() < stop_round:
            p_try = round(ub / unit) - 1
            got = None
            if rounding:
                # randomised rounding of the LP solution at UB - 1 sites. It finds what
                # the LP sees and a local search does not (a greedy trap); on large
                # models each round is capped, because there the iterated search below
                # goes down one site at a time faster (50,000-node grid: 112 -> 106
                # sites in 0.3-1.5 s, while rounding took 2.6 s to miss at 107)
                now = clock.now()
                got = _lp_rounding(
                    idx,
                    need_t,
                    y_frac,
                    p_try,
                    rng,
                    settings.target_rounding_trials,
                    stop_round
                    if use_lp
                    else min(stop_round, now + _rounding_seconds(now, stop_round)),
                )
                if got is None and use_lp:
                    break  # HiGHS takes over from here
                rounding = got is not None
            if got is None:
                # large models (no HiGHS after this): iterated swaps at UB - 1 sites from
                # the incumbent without one of its 5 least useful sites, in turn
                order = removal_order(idx, sel)
                start = sel.copy()
                start[order[n_drop % min(5, order.size)]] = False
                n_drop += 1
                attempts += 1
                got, cov = mclp_iterated_search(
                    idx,
                    start,
                    stop_at=need_t,
                    seed=seed + attempts,
                    workers=search_workers(threads),
                    deadline=min(stop_round, clock.now() + settings.ils_slice_s),
                )
                if cov < need_t:
                    continue
            n_drop = 0
            drop_redundant(idx, got, need_t)
            sel, ub = got, float(idx.cost[got].sum())
    if not (use_lp or unit_costs) and not _lower_ok(lb, ub, integral, mip_gap):
        # large model with costs (no HiGHS, no iterated swaps, which count sites): LP
        # rounding by cost for the rest of the time
        now = clock.now()
        sel, ub = _cost_rounding(
            idx,
            need,
            y_frac,
            sel,
            seed,
            # method="exact" goes on to HiGHS: only a brief round then
            deadline - regional_s - 0.05
            if method != "exact"
            else now + _rounding_seconds(now, deadline - regional_s),
            done=lambda cost: _lower_ok(lb, cost, integral, mip_gap),
        )
    hist["guided"] = ub
    hist["guided_s"] = clock.now() - t
    steps.append("rounding")
    if regional_s > 0 and not _lower_ok(lb, ub, integral, mip_gap) and not clock.expired():
        # --- the LP's integrality gap, region by region (siting.optimize.regional)
        t = clock.now()
        reg, details = psclp_regional_bound(
            R.A,
            R.weight,
            R.cost,
            need_t,
            lam_best,
            time_limit=max(0.1, deadline - t - 0.05),
            workers=search_workers(threads),
        )
        if details is not None:
            lb = max(lb, reg)
            hist["regional_bound"] = reg
            hist["regional"] = details.summary()
            steps.append("regional")
        hist["regional_s"] = clock.now() - t
    if h_lp is not None and not _lower_ok(lb, ub, integral, mip_gap):
        # --- triangle cuts (siting.optimize.cuts): a higher bound before HiGHS, which
        # gets them too; an integral LP optimum that meets the target is the plan
        t = clock.now()
        sol = h_lp.getSolution()
        tg = tighten_lp(
            h_lp,
            R.A,
            float(h_lp.getInfo().objective_function_value),
            np.asarray(sol.col_value, dtype=float),
            np.asarray(sol.col_dual, dtype=float),
            deadline=t + 0.3 * (deadline - t),
            closed=lambda o: _lower_ok(o, ub, integral, mip_gap),
            goal=_proof_goal(ub, integral, mip_gap),
        )
        if tg.rounds:
            lb = max(lb, tg.objective)
            cuts = tg.rows if tg.useful else None
            hist["cut_bound"] = tg.objective
            hist["cuts"] = tg.summary()
            steps.append("cuts")
            y_cut = tg.x[:nc]
            if np.all(np.minimum(y_cut, 1.0 - y_cut) <= 1e-9):
                s_ = y_cut > 0.5
                if idx.covered(s_) >= need_t and float(idx.cost[s_].sum()) < ub - 1e-9:
                    sel, ub = s_, float(idx.cost[s_].sum())
        hist["cuts_s"] = clock.now() - t
    if (
        _lower_ok(lb, ub, integral, mip_gap)
        or clock.now() >= deadline
        or not (use_lp or method == "exact")
    ):
        timed_out = clock.now() >= deadline - 0.05
        status = (
            "optimal"
            if _lower_ok(lb, ub, integral, 0.0)
            else ("time_limit" if timed_out else "feasible")
        )
        return _finish(problem, R, sel, lb, status, t0, hist, "+".join(steps))
    # --- exact: HiGHS on the reduced model, warm-started, cut off at the incumbent
    t = clock.now()
    c, M, lo, hi, integ = psclp_matrices(R.A, R.weight, R.cost, need)
    M, lo, hi = add_cuts(M, lo, hi, cuts)
    covered_rows = np.asarray(R.A @ sel.astype(float)).ravel() > 0
    x0 = np.r_[sel.astype(float), covered_rows.astype(float)]
    res = solve_milp(
        c,
        M,
        lo,
        hi,
        integrality=integ,
        time_limit=max(0.1, deadline - t),
        mip_rel_gap=mip_gap,
        threads=threads,
        start=x0,
        verbose=verbose,
    )
    steps.append("highs")
    hist["highs_s"] = clock.now() - t
    hist["highs_status"] = res.status
    hist["highs_nodes"] = res.nodes
    if res.x is not None and res.objective < ub - 1e-9:
        sel, ub = res.x[:nc] > 0.5, float(R.cost[res.x[:nc] > 0.5].sum())
    if np.isfinite(res.bound):
        lb = max(lb, res.bound)
    if res.status == "optimal":
        lb = max(lb, ub) if res.gap <= 1e-9 else lb
    status = (
        "optimal"
        if _lower_ok(lb, ub, integral, 0.0)
        else ("time_limit" if res.status == "time_limit" else "feasible")
    )
    return _finish(problem, R, sel, lb, status, t0, hist, "+".join(steps))


def _solve_group_target(
    problem: CoverageProblem,
    R: ReducedCover,
    target: float,
    t0: float,
    deadline: float,
    hist: dict[str, Any],
    mip_gap: float,
    method: str,
    threads: int | None,
    verbose: bool,
) -> Solution:
    """Per-district targets: greedy start, then HiGHS with one knapsack row per district."""
    groups = problem.group
    G = int(groups.max()) + 1 if groups.size else 0
    tot_g = np.bincount(groups, weights=problem.weight, minlength=G)
    pre_g = np.bincount(groups, weights=problem.weight * R.pre_covered, minlength=G)
    need_g = np.maximum(target * tot_g - pre_g, 0.0)
    tol = _EPS * max(1.0, float(tot_g.sum()))
    need_g = np.where(need_g <= tol, 0.0, need_g - tol)
    nc = R.A.shape[1]
    if not np.any(need_g > 0) or nc == 0:
        return _finish(problem, R, np.zeros(nc), 0.0, "optimal", t0, hist, "reduce")
    rg = R.group if R.group is not None else np.zeros(R.A.shape[0], dtype=np.int64)
    t = clock.now()
    sel = group_greedy(R.A, R.weight, rg, need_g, R.cost)
    # drop redundant columns (most expensive first) while every district stays met
    for j in np.flatnonzero(sel)[np.argsort(-R.cost[sel], kind="stable")]:
        sel[j] = False
        cov = np.asarray(R.A @ sel.astype(float)).ravel() > 0
        if np.any(np.bincount(rg, weights=R.weight * cov, minlength=G) < need_g):
            sel[j] = True
    hist["greedy"] = float(R.cost[sel].sum())
    hist["heuristic_s"] = clock.now() - t
    integral = bool(np.all(np.round(R.cost) == R.cost))
    c, M, lo, hi, integ = psclp_matrices(R.A, R.weight, R.cost, 0.0, group=rg, group_need=need_g)
    if method == "heuristic":
        res = solve_milp(c, M, lo, hi, time_limit=max(0.1, deadline - clock.now()))
        lb = res.objective if res.status == "optimal" else 0.0
        status = "optimal" if _lower_ok(lb, float(R.cost[sel].sum()), integral, 0) else "feasible"
        return _finish(problem, R, sel, lb, status, t0, hist, "reduce+group-greedy+lp")
    covered_rows = np.asarray(R.A @ sel.astype(float)).ravel() > 0
    x0 = np.r_[sel.astype(float), covered_rows.astype(float)]
    t = clock.now()
    res = solve_milp(
        c,
        M,
        lo,
        hi,
        integrality=integ,
        time_limit=max(0.1, deadline - t),
        mip_rel_gap=mip_gap,
        threads=threads,
        start=x0,
        verbose=verbose,
    )
    hist["highs_s"] = clock.now() - t
    hist["highs_status"] = res.status
    ub = float(R.cost[sel].sum())
    if res.x is not None and res.objective < ub - 1e-9:
        sel = res.x[:nc] > 0.5
    lb = res.bound if np.isfinite(res.bound) else 0.0
    status = solution_status(res.status)
    return _finish(problem, R, sel, lb, status, t0, hist, "reduce+group-greedy+highs")


# ---------------------------------------------------------------------- curve
@clock.work_budget()
def coverage_curve(
    problem: CoverageProblem,
    max_new: int | None = None,
    *,
    target: float = 1.0,
    iterations: int = 100,
    time_limit: float = 30.0,
) -> pd.DataFrame:
    """Covered persons against the number of new sites, from one greedy run.

    Rows ``new_sites = 0, 1, 2, ...`` until ``target`` (default 100%) or ``max_new``.
    ``covered_weight`` / ``covered_share`` are achieved by the greedy plan with that many
    new sites (nested plans: each adds one site to the previous one), so they are lower
    bounds on the best possible coverage; ``bound`` is a proven Lagrangian upper bound
    on the best possible coverage with that many new sites (unit costs; see
    :func:`siting.optimize.bounds.mclp_lagrangian_curve`). The difference is the
    heuristic's possible shortfall; where they meet the greedy value is optimal.

    Returns
    -------
    pandas.DataFrame with columns ``new_sites``, ``covered_weight`` (persons),
    ``covered_share`` (0..1), ``bound`` (persons), ``site`` (index of the site added at
    that step, -1 for row 0).
    """
    target = _check_target(target)
    if max_new is not None and max_new < 0:
        msg = f"max_new must be >= 0, got {max_new}"
        raise ParameterError(msg)
    R = reduce_cover(problem)
    total = problem.total_weight
    need = target * total - R.base_weight
    idx = CoverIndex.build(R.A, R.weight, np.ones(R.A.shape[1]))
    cap = R.A.shape[1] if max_new is None else min(int(max_new), R.A.shape[1])
    _, order, curve = greedy_cover(idx, need, max_add=cap)
    cov = np.r_[0.0, curve] + R.base_weight
    p = np.arange(cov.size)
    ub = (
        mclp_lagrangian_curve(
            R.A,
            R.weight,
            p,
            iterations=iterations,
            time_limit=time_limit,
            lower=cov - R.base_weight,
        )
        + R.base_weight
    )
    ub = np.maximum(np.minimum.accumulate(ub[::-1])[::-1], cov)  # bound is monotone in p
    ub = np.minimum(ub, float(problem.weight[problem.reachable_mask()].sum()))
    return pd.DataFrame(
        {
            "new_sites": p,
            "covered_weight": cov,
            "covered_share": cov / total if total > 0 else 1.0,
            "bound": np.maximum(ub, cov),
            "site": np.r_[-1, R.cols[order]],
        }
    )
