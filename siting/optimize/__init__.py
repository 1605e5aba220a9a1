"""Facility-location models at matrix level: partial covering, MCLP, LSCP, p-median,
capacities, two-level plans.

Every model takes a :class:`CoverageProblem` (sparse coverage / distance matrices and
weight arrays) and returns a :class:`Solution` with the objective, a proven bound and
the gap. :func:`solve_matrix` is the single entry point; each model also has its own
function. Time limits are work budgets (:mod:`siting.optimize.clock`): the same seed and
limit give the same plan. The tuning constants are in :mod:`siting.optimize.settings`.

Layout: ``pipeline`` (options, the run record, the one ``finish``), one module per model
(``partial_cover``, ``set_cover``, ``mclp``, ``pmedian``, ``capacitated``, ``twolevel``),
``formulations`` (the model matrices), ``bounds`` (Lagrangian and LP bounds),
``heuristics`` / ``assignment`` (searches), ``reduce``, ``cuts``, ``regional``,
``highs``, ``clock``.
"""

from siting.optimize import settings
from siting.optimize.capacitated import (
    capacity_from_floor_area,
    households_from_floor_area,
    solve_capacitated_coverage,
)
from siting.optimize.mclp import coverage_curve, solve_mclp
from siting.optimize.partial_cover import infeasible_target_message, solve_target
from siting.optimize.pipeline import SolveOptions
from siting.optimize.pmedian import solve_pmedian
from siting.optimize.problem import CoverageProblem, Solution
from siting.optimize.reduce import ReducedCover, reduce_cover
from siting.optimize.set_cover import solve_lscp
from siting.optimize.solve import MODEL_OPTIONS, MODELS, solve_matrix
from siting.optimize.twolevel import TwoLevelSolution, solve_two_level

__all__ = [
    "MODELS",
    "MODEL_OPTIONS",
    "CoverageProblem",
    "ReducedCover",
    "Solution",
    "SolveOptions",
    "TwoLevelSolution",
    "capacity_from_floor_area",
    "coverage_curve",
    "households_from_floor_area",
    "infeasible_target_message",
    "reduce_cover",
    "settings",
    "solve_capacitated_coverage",
    "solve_lscp",
    "solve_matrix",
    "solve_mclp",
    "solve_pmedian",
    "solve_target",
    "solve_two_level",
]
