"""Set covering (model ``"lscp"``): the fewest new sites (least cost) covering every
demand point some site can reach.

Model (Toregas et al. 1971), existing sites fixed open
(:func:`~siting.optimize.formulations.lscp_matrices`)::

    min  sum_j c_j y_j
    s.t. sum_j a_ij y_j >= 1    for every demand point some site reaches
         y binary

Demand points no site reaches are not an error: they are left out and reported in
``Solution.unreachable`` / ``Solution.unreachable_weight``. Every point counts, whatever
its population. Stages: reduce (merge identical rows, drop dominated candidates, force
candidates that are the only cover of a row) -> greedy + local search -> LP bound ->
HiGHS warm-started.
"""

from __future__ import annotations

import numpy as np

from siting._docstrings import shared_doc
from siting.optimize import clock, settings
from siting.optimize.formulations import lscp_matrices
from siting.optimize.heuristics import CoverIndex, greedy_cover, improve_partial_cover
from siting.optimize.highs import solve_milp
from siting.optimize.pipeline import Run, SolveOptions
from siting.optimize.problem import CoverageProblem, Solution, relative_gap
from siting.optimize.reduce import reduce_cover

__all__ = ["solve_lscp"]


@shared_doc
@clock.work_budget()
def solve_lscp(
    problem: CoverageProblem,
    *,
    options: SolveOptions | None = None,
) -> Solution:
    """Cover every coverable demand point with the fewest (cheapest) new sites.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``cover``; ``existing`` sites are fixed open; ``cost`` (default 1) is
        minimised. The weights only count in ``covered_weight``.
    %(solve_options)s

    Returns
    -------
    Solution
        ``objective`` = cost of the new sites; ``unreachable`` lists the points no site
        reaches.
    """
    run = Run(options)
    R = reduce_cover(
        problem, use_weight=False, force_singletons=True, weight=np.ones(problem.n_demand)
    )
    run.history.update(reduce_s=clock.now() - run.t0, reduce=R.stats)
    run.step("reduce")
    nd, nc = R.A.shape
    sel, ub, bound, status = np.zeros(nc, dtype=bool), 0.0, 0.0, "optimal"
    integral = bool(np.all(np.round(R.cost) == R.cost))
    if nd > 0:
        idx = CoverIndex.build(R.A, R.weight, R.cost)
        need = float(R.weight.sum())
        sel, _, _ = greedy_cover(idx, need)
        sel, _ = improve_partial_cover(
            idx,
            need,
            sel,
            seed=run.opts.seed,
            kicks=settings.lscp_kicks,
            time_limit=run.seconds(settings.lscp_local_search, run.t0),
        )
        run.step("greedy", "swap")
        ub = float(R.cost[sel].sum())
        model = lscp_matrices(R.A, R.cost)
        lp = solve_milp(model.relaxed(), time_limit=run.seconds(settings.lscp_lp, run.t0))
        bound = lp.objective if lp.status == "optimal" else 0.0
        run.step("lp")
        run.history["lp_bound"] = bound
        status = "feasible"
        if not run.heuristic and relative_gap(ub, bound, integral=integral) > run.opts.mip_gap:
            res = run.milp(model, start=sel.astype(float))
            if res.x is not None and res.objective < ub - 1e-9:
                sel, ub = res.x > 0.5, res.objective
            if np.isfinite(res.bound):
                bound = max(bound, res.bound)
            if res.status == "optimal":
                bound = max(bound, ub)
            status = "time_limit" if res.status == "time_limit" else "feasible"
    full = R.selected_sites(sel, problem.n_sites, problem.existing)
    objective = float(problem.cost[np.flatnonzero(full & ~problem.existing)].sum())
    forced = float(problem.cost[R.forced].sum())  # sites every plan opens
    return run.finish(
        problem,
        full,
        objective,
        bound + forced,
        status,
        integral=integral,
        unreachable=np.flatnonzero(R.unreachable),
    )
