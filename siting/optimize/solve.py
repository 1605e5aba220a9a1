"""One entry point for every matrix-level siting model: :func:`solve_matrix`.

``reduce -> heuristic incumbent -> bound -> (if the gap exceeds mip_gap) HiGHS on the
reduced model warm-started -> Solution`` with the gap always reported. Parameters are
validated here, up front, with messages naming the parameter and its allowed range.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from siting.errors import ParameterError
from siting.optimize.capacity import solve_capacitated_coverage
from siting.optimize.lscp import solve_lscp
from siting.optimize.mclp import solve_mclp
from siting.optimize.pmedian import solve_pmedian
from siting.optimize.problem import CoverageProblem, Solution
from siting.optimize.target import solve_target

__all__ = ["MODELS", "solve_matrix"]

MODELS = (
    "target",
    "group_target",
    "mclp",
    "lscp",
    "pmedian",
    "capacitated_pmedian",
    "capacitated_coverage",
)
METHODS = ("auto", "exact", "heuristic")


def _validate(
    model: str,
    method: str,
    target: float,
    p: int | None,
    time_limit: float,
    mip_gap: float,
    problem: CoverageProblem,
    budget: float | None = None,
) -> None:
    if model not in MODELS:
        msg = f"model must be one of {', '.join(MODELS)}; got {model!r}"
        raise ParameterError(msg)
    if method not in METHODS:
        msg = f"method must be one of {', '.join(METHODS)}; got {method!r}"
        raise ParameterError(msg)
    if not (np.isfinite(target) and 0.0 < target <= 1.0):
        msg = f"target must be a share in (0, 1] (e.g. 0.9 for 90%), got {target!r}"
        raise ParameterError(msg)
    if not (np.isfinite(time_limit) and time_limit > 0):
        msg = f"time_limit must be > 0 seconds, got {time_limit!r}"
        raise ParameterError(msg)
    if not (np.isfinite(mip_gap) and 0.0 <= mip_gap < 1.0):
        msg = f"mip_gap must be a relative gap in [0, 1), got {mip_gap!r}"
        raise ParameterError(msg)
    needs_p = model in ("mclp", "pmedian", "capacitated_pmedian", "capacitated_coverage")
    if budget is not None:
        if model != "mclp":
            msg = f"budget= works with model 'mclp' only, not {model!r}; give p instead"
            raise ParameterError(msg)
        if p is not None:
            msg = "give either p (number of new sites) or budget (total cost), not both"
            raise ParameterError(msg)
        if not (np.isfinite(budget) and budget >= 0):
            msg = f"budget must be a finite total cost >= 0, got {budget!r}"
            raise ParameterError(msg)
    elif needs_p and p is None:
        msg = f"model {model!r} needs p, the number of new sites (0..{problem.n_candidates})"
        raise ParameterError(msg)
    if p is not None and (int(p) != p or not 0 <= p <= problem.n_candidates):
        msg = (
            f"p must be an integer in [0, {problem.n_candidates}] (the number of candidate "
            f"sites), got {p!r}"
        )
        raise ParameterError(msg)


# options each model takes besides those solve_matrix sets itself
_OPTIONS_OF = {
    "target": "solve_target",
    "group_target": "solve_target",
    "mclp": "solve_mclp",
    "lscp": "solve_lscp",
    "pmedian": "solve_pmedian",
    "capacitated_pmedian": "solve_pmedian",
    "capacitated_coverage": "solve_capacitated_coverage",
}
_SET_HERE = frozenset(
    {"problem", "target", "p", "budget", "by_group", "capacitated", "method", "seed"}
    | {"time_limit", "mip_gap", "threads", "verbose"}
)


def _check_options(model: str, options: dict[str, Any]) -> None:
    """Refuse options the model function does not take, naming the ones it does."""
    import inspect

    fn = globals()[_OPTIONS_OF[model]]
    takes = {
        name
        for name, par in inspect.signature(fn).parameters.items()
        if par.kind in (par.KEYWORD_ONLY, par.POSITIONAL_OR_KEYWORD) and name not in _SET_HERE
    }
    unknown = sorted(set(options) - takes)
    if unknown:
        names = ", ".join(f"{k}=" for k in unknown)
        verb = "is not an option" if len(unknown) == 1 else "are not options"
        msg = (
            f"{names} {verb} of model {model!r}; its options: {', '.join(sorted(takes)) or 'none'}."
        )
        raise ParameterError(msg)


def solve_matrix(
    problem: CoverageProblem,
    model: str = "target",
    *,
    target: float = 0.9,
    p: int | None = None,
    budget: float | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    verbose: bool = False,
    **options: Any,
) -> Solution:
    """Solve a siting model on a :class:`CoverageProblem`.

    Parameters
    ----------
    problem : CoverageProblem
    model : str
        ``"target"`` (fewest new sites for ``target`` of persons), ``"group_target"``
        (every district reaches ``target``), ``"mclp"`` (most persons with ``p`` new
        sites or ``budget``), ``"lscp"`` (cover every coverable point), ``"pmedian"``,
        ``"capacitated_pmedian"``, ``"capacitated_coverage"``.
    target : float
        Coverage share in (0, 1] for the target models.
    p : int, optional
        Number of new sites for MCLP / p-median / capacitated coverage.
    budget : float, optional
        MCLP: budget on new-site cost instead of ``p``.
    time_limit : float
        Seconds (> 0) for the whole solve.
    mip_gap : float
        Accepted relative gap in [0, 1); 0 = prove optimality.
    method : {"auto", "exact", "heuristic"}
        ``heuristic``: no branch-and-bound (heuristic plan and a bound; on city-scale
        models their searches use the time limit); ``exact``: close the gap with HiGHS
        within ``time_limit``; ``auto``: HiGHS where it can work in useful time.
    seed : int
        Seed of randomised steps: the same seed, ``time_limit`` and ``threads`` give the
        same solution. ``time_limit`` is counted as a work budget
        (:mod:`siting.optimize.clock`); only if real time runs out first (a slow machine)
        may a rerun differ, and ``solution.history["deterministic"]`` is then False.
    threads : int, optional
        HiGHS threads.
    verbose : bool
        HiGHS log.
    **options
        Passed to the model function (e.g. ``max_distance``, ``drop_unreachable``,
        ``single_source``, ``threshold``, ``describe``).

    Returns
    -------
    Solution
    """
    if not isinstance(problem, CoverageProblem):
        msg = "problem must be a CoverageProblem (build one from cover / weight arrays)"
        raise ParameterError(msg)
    _validate(model, method, target, p, time_limit, mip_gap, problem, budget)
    _check_options(model, options)
    common = {"time_limit": time_limit, "mip_gap": mip_gap, "threads": threads, "verbose": verbose}
    if model in ("target", "group_target"):
        return solve_target(
            problem,
            target,
            by_group=model == "group_target",
            method=method,
            seed=seed,
            **common,
            **options,
        )
    if model == "mclp":
        return solve_mclp(
            problem,
            p if budget is None else None,
            budget=budget,
            method=method,
            seed=seed,
            **common,
            **options,
        )
    if model == "lscp":
        return solve_lscp(problem, method=method, seed=seed, **common, **options)
    if model in ("pmedian", "capacitated_pmedian"):
        return solve_pmedian(
            problem,
            int(p),
            capacitated=model == "capacitated_pmedian",
            method=method,
            seed=seed,
            **common,
            **options,
        )
    return solve_capacitated_coverage(problem, int(p), method=method, **common, **options)
