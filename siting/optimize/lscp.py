"""Location set covering (LSCP): fewest new sites (least cost) covering every coverable point.

Model (Toregas et al. 1971), existing sites fixed open::

    min  sum_j c_j y_j
    s.t. sum_j a_ij y_j >= 1    for every demand point some site reaches
         y binary

Demand points no site reaches are not an error: they are left out and reported in
``Solution.unreachable`` / ``Solution.unreachable_weight``. Every point counts, whatever
its population. Pipeline: reduce (merge identical rows, drop dominated candidates, force
candidates that are the only cover of a row) -> greedy + local search -> LP bound ->
HiGHS warm-started.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.optimize import clock
from siting.optimize.heuristics import CoverIndex, greedy_cover, improve_partial_cover
from siting.optimize.highs import solve_milp
from siting.optimize.problem import CoverageProblem, Solution, relative_gap, rounded_bound
from siting.optimize.reduce import reduce_cover

__all__ = ["solve_lscp"]


@clock.work_budget()
def solve_lscp(
    problem: CoverageProblem,
    *,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    verbose: bool = False,
) -> Solution:
    """Cover every coverable demand point with the fewest (cheapest) new sites.

    Parameters
    ----------
    problem : CoverageProblem
    time_limit : float
        Seconds, counted as a work budget (:mod:`siting.optimize.clock`): the same
        seed gives the same plan unless real time runs out first.
    mip_gap : float
        Accepted relative gap.
    method : {"auto", "exact", "heuristic"}
    seed : int
        Seed of the local search kicks.
    threads : int, optional
        HiGHS threads.
    verbose : bool
        HiGHS log.

    Returns
    -------
    Solution
        ``objective`` = cost of the new sites; ``unreachable`` lists the points no site
        reaches.
    """
    t0 = clock.now()
    deadline = t0 + float(time_limit)
    R = reduce_cover(
        problem, use_weight=False, force_singletons=True, weight=np.ones(problem.n_demand)
    )
    hist: dict[str, Any] = {"reduce_s": clock.now() - t0, "reduce": R.stats}
    nd, nc = R.A.shape
    steps = ["reduce"]
    sel = np.zeros(nc, dtype=bool)
    bound = 0.0
    status = "optimal"
    if nd > 0:
        idx = CoverIndex.build(R.A, R.weight, R.cost)
        need = float(R.weight.sum())
        sel, _, _ = greedy_cover(idx, need)
        sel, _ = improve_partial_cover(
            idx, need, sel, seed=seed, kicks=4, time_limit=max(0.1, 0.3 * (deadline - t0))
        )
        steps += ["greedy", "swap"]
        ub = float(R.cost[sel].sum())
        integral = bool(np.all(np.round(R.cost) == R.cost))
        M = sp.csr_matrix(R.A, dtype=float)
        lo, hi = np.ones(nd), np.full(nd, np.inf)
        lp = solve_milp(R.cost, M, lo, hi, time_limit=max(0.1, 0.3 * (deadline - t0)))
        if lp.status == "optimal":
            bound = lp.objective
        steps.append("lp")
        hist["lp_bound"] = bound
        gap = relative_gap(ub, bound, integral=integral)
        if method != "heuristic" and gap > mip_gap:
            res = solve_milp(
                R.cost,
                M,
                lo,
                hi,
                integrality=np.ones(nc, dtype=bool),
                time_limit=max(0.1, deadline - clock.now()),
                mip_rel_gap=mip_gap,
                threads=threads,
                start=sel.astype(float),
                verbose=verbose,
            )
            steps.append("highs")
            hist["highs_status"] = res.status
            if res.x is not None and res.objective < ub - 1e-9:
                sel, ub = res.x > 0.5, res.objective
            if np.isfinite(res.bound):
                bound = max(bound, res.bound)
            if res.status == "optimal":
                bound = max(bound, ub)
        gap = relative_gap(ub, bound, integral=integral)
        bound = max(bound, rounded_bound(bound, integral=integral)) if gap > 0 else bound
        timed_out = hist.get("highs_status") == "time_limit"
        status = "optimal" if gap == 0.0 else ("time_limit" if timed_out else "feasible")
    full = R.selected_sites(sel, problem.n_sites, problem.existing)
    new = np.flatnonzero(full & ~problem.existing)
    obj = float(problem.cost[new].sum())
    forced_cost = float(problem.cost[R.forced].sum())
    bound = min(obj, bound + forced_cost) if status != "optimal" else obj
    cw = problem.covered_weight(full)
    total = problem.total_weight
    unreach = np.flatnonzero(R.unreachable)
    return Solution(
        selected=full,
        new=new,
        objective=obj,
        bound=bound,
        gap=relative_gap(obj, bound),
        status=status,
        seconds=clock.now() - t0,
        covered_weight=cw,
        covered_share=cw / total if total > 0 else 1.0,
        history=hist,
        method="+".join(steps),
        unreachable=unreach,
        unreachable_weight=float(problem.weight[unreach].sum()),
    )
