"""One entry point for every matrix-level model: :func:`solve_matrix`.

It checks the model's name and options (:func:`siting.validation.check_model_options`,
against :data:`MODEL_OPTIONS`: an option a model does not take is refused, naming the
models it works with) and calls the model's own function, each visible to ``help()``:

=========================  ==============================================================
model                      function
=========================  ==============================================================
``target``                 :func:`~siting.optimize.partial_cover.solve_target`
``group_target``           :func:`~siting.optimize.partial_cover.solve_target`
                           (``by_group=True``)
``mclp``                   :func:`~siting.optimize.mclp.solve_mclp`
``lscp``                   :func:`~siting.optimize.set_cover.solve_lscp`
``pmedian``                :func:`~siting.optimize.pmedian.solve_pmedian`
``capacitated_pmedian``    :func:`~siting.optimize.pmedian.solve_pmedian`
                           (``capacitated=True``)
``capacitated_coverage``   :func:`~siting.optimize.capacitated.solve_capacitated_coverage`
=========================  ==============================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from siting import validation
from siting._docstrings import shared_doc
from siting.errors import ParameterError
from siting.optimize.capacitated import solve_capacitated_coverage
from siting.optimize.mclp import solve_mclp
from siting.optimize.partial_cover import solve_target
from siting.optimize.pipeline import SolveOptions
from siting.optimize.pmedian import solve_pmedian
from siting.optimize.problem import CoverageProblem, Solution
from siting.optimize.set_cover import solve_lscp

__all__ = ["MODELS", "MODEL_OPTIONS", "solve_matrix"]

MODELS = (
    "target",
    "group_target",
    "mclp",
    "lscp",
    "pmedian",
    "capacitated_pmedian",
    "capacitated_coverage",
)
_TARGET = ("target", "threshold", "describe")
_PMEDIAN = ("p", "max_distance_m", "drop_unreachable")
#: the options each model of :func:`solve_matrix` takes besides the solver options
MODEL_OPTIONS = validation.ModelOptions(
    options={
        "target": (*_TARGET, "lp"),
        "group_target": _TARGET,
        "mclp": ("p", "budget"),
        "lscp": (),
        "pmedian": _PMEDIAN,
        "capacitated_pmedian": (*_PMEDIAN, "single_source", "load"),
        "capacitated_coverage": ("p",),
    },
    common=("options",),
    needs_p=("mclp", "pmedian", "capacitated_pmedian", "capacitated_coverage"),
    aliases={"max_distance": "max_distance_m"},
)


@shared_doc
def solve_matrix(
    problem: CoverageProblem,
    model: str = "target",
    *,
    target: float | str | None = None,
    threshold: str | None = None,
    describe: Callable[[np.ndarray], str] | None = None,
    lp: bool | None = None,
    p: int | None = None,
    budget: float | None = None,
    max_distance_m: float | None = None,
    drop_unreachable: bool | None = None,
    single_source: bool | None = None,
    load: np.ndarray | None = None,
    options: SolveOptions | None = None,
    **unknown: Any,
) -> Solution:
    """Solve a siting model on a :class:`CoverageProblem`.

    Parameters
    ----------
    problem : CoverageProblem
        Who reaches whom, the persons at each demand point, the sites' costs.
    model : str
        ``"target"`` (fewest new sites for ``target`` of persons), ``"group_target"``
        (every district reaches ``target``), ``"mclp"`` (most persons with ``p`` new
        sites or ``budget``), ``"lscp"`` (cover every coverable point), ``"pmedian"``,
        ``"capacitated_pmedian"``, ``"capacitated_coverage"``.
    target : float or str, optional
        Target models: share of persons to cover, in (0, 1] (``0.9`` or ``"90%"``;
        default 0.9).
    threshold, describe : optional
        Target models: words for the infeasibility messages (the districts' names come
        from ``problem.group_names``).
    lp : bool, optional
        ``target``: force (True) or skip (False) the simplex LP bound.
    p : int, optional
        Number of new sites (MCLP, p-median, capacitated models).
    budget : float, optional
        MCLP: budget on the new sites' cost instead of ``p``.
    max_distance_m : float, optional
        p-median: pairs farther than this many metres are unreachable.
    drop_unreachable : bool, optional
        p-median: leave out demand points no site reaches (default: refuse them).
    single_source : bool, optional
        Capacitated p-median: each point served by one site (default True).
    load : ndarray, optional
        Capacitated p-median: persons each demand point takes from a site's capacity.
    %(solve_options)s
    **unknown
        Refused, naming the model's options (old names are accepted: ``max_distance``,
        with a DeprecationWarning).

    Returns
    -------
    Solution
        The sites to open, the objective, a proven bound, the gap and the status.

    Raises
    ------
    ParameterError
        An unknown model, an option the model does not take, or a value out of range.
    InfeasibleError
        The model's target or constraints cannot be met by any choice of sites.
    """
    if not isinstance(problem, CoverageProblem):
        msg = "problem must be a CoverageProblem (build one from cover / weight arrays)"
        raise ParameterError(msg)
    validation.choice("model", model, MODELS)
    if "max_distance" in unknown:
        warnings.warn(
            "max_distance= is now max_distance_m= (metres)", DeprecationWarning, stacklevel=2
        )
    given = {
        "target": target,
        "p": p,
        "budget": budget,
        "max_distance_m": max_distance_m,
        "drop_unreachable": drop_unreachable,
        "single_source": single_source,
        "load": load,
        "lp": lp,
        "threshold": threshold,
        "describe": describe,
        **unknown,
    }
    validation.check_model_options(model, given, MODEL_OPTIONS)
    kw = {k: v for k, v in given.items() if v is not None}
    if "max_distance" in kw:
        kw["max_distance_m"] = kw.pop("max_distance")
    return _call(problem, model, kw, SolveOptions() if options is None else options)


def _call(problem: CoverageProblem, model: str, kw: dict[str, Any], opts: SolveOptions) -> Solution:
    """The model's own function with the options it takes."""
    common = {"options": opts}
    if model in ("target", "group_target"):
        share = kw.pop("target", 0.9)
        return solve_target(problem, share, by_group=model == "group_target", **kw, **common)
    if model == "mclp":
        return solve_mclp(problem, kw.get("p"), budget=kw.get("budget"), **common)
    if model == "lscp":
        return solve_lscp(problem, **common)
    if model == "capacitated_coverage":
        return solve_capacitated_coverage(problem, kw["p"], **common)
    p = kw.pop("p")
    return solve_pmedian(problem, p, capacitated=model == "capacitated_pmedian", **kw, **common)
