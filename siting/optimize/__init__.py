"""Facility-location models at matrix level: partial covering, MCLP, LSCP, p-median.

Every model takes a :class:`CoverageProblem` (sparse coverage / distance matrices and
weight arrays) and returns a :class:`Solution` with the objective, a proven bound and
the gap. :func:`solve_matrix` is the single entry point. Time limits are work budgets
(:mod:`siting.optimize.clock`): the same seed and limit give the same plan.
"""

from siting.optimize.capacity import (
    capacity_from_floor_area,
    households_from_floor_area,
    solve_capacitated_coverage,
)
from siting.optimize.lscp import solve_lscp
from siting.optimize.mclp import solve_mclp
from siting.optimize.pmedian import solve_pmedian
from siting.optimize.problem import CoverageProblem, Solution
from siting.optimize.reduce import ReducedCover, reduce_cover
from siting.optimize.solve import MODELS, solve_matrix
from siting.optimize.target import coverage_curve, infeasible_target_message, solve_target
from siting.optimize.twolevel import TwoLevelSolution, solve_two_level

__all__ = [
    "MODELS",
    "CoverageProblem",
    "ReducedCover",
    "Solution",
    "TwoLevelSolution",
    "capacity_from_floor_area",
    "coverage_curve",
    "households_from_floor_area",
    "infeasible_target_message",
    "reduce_cover",
    "solve_capacitated_coverage",
    "solve_lscp",
    "solve_matrix",
    "solve_mclp",
    "solve_pmedian",
    "solve_target",
    "solve_two_level",
]
