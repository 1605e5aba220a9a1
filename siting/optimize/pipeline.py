"""What every model's solve shares: its options, a record of the run, one way to finish.

A model's solve is a short list of stages (reduce, search, bound, exact solve, ...). Each
reads the same three things from here:

* :class:`SolveOptions` - ``time_limit, mip_gap, method, seed, threads, verbose``,
  checked once (:mod:`siting.validation`);
* :class:`Run` - the call in progress: its deadline on the work clock
  (:mod:`siting.optimize.clock`), the stage budgets measured from it
  (:class:`~siting.optimize.settings.Budget`), the steps taken (``Solution.method``), the
  history (bounds, sizes, work seconds per stage), and the one HiGHS branch-and-bound
  call with its bookkeeping (:meth:`Run.milp`);
* :meth:`Run.finish` - the :class:`~siting.optimize.problem.Solution`: gap, reported bound
  and status derived in one place, the same way for every model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from siting import validation
from siting.optimize import clock, settings
from siting.optimize.formulations import LinearModel
from siting.optimize.heuristics import search_workers
from siting.optimize.highs import MilpResult, solve_milp
from siting.optimize.problem import CoverageProblem, Solution, relative_gap, rounded_bound
from siting.optimize.reduce import ReducedCover
from siting.optimize.regional import RegionalBound, reserve_seconds
from siting.optimize.settings import Budget

__all__ = ["Run", "SolveOptions"]


@dataclass(frozen=True)
class SolveOptions:
    """How long and how hard to solve: the options every model takes.

    Parameters
    ----------
    time_limit : float
        Seconds (> 0) for the whole solve. Counted as a work budget
        (:mod:`siting.optimize.clock`): the same seed and ``time_limit`` give the same plan
        unless real time runs out first on a slow machine (then
        ``solution.history["deterministic"]`` is False).
    mip_gap : float
        Relative gap accepted, in [0, 1); 0 = prove optimality.
    method : {"auto", "exact", "heuristic"}
        ``"heuristic"``: no branch-and-bound (a heuristic plan and a proven bound);
        ``"exact"``: HiGHS closes the gap within ``time_limit``; ``"auto"``: HiGHS where
        it can work in useful time (small and medium models), search and bounds above.
    seed : int
        Seed (>= 0) of the randomised steps.
    threads : int, optional
        HiGHS threads, and parallel walks of the iterated search on large models
        (default: HiGHS' choice, and 2 walks on any machine so plans agree across them).
    verbose : bool
        Show HiGHS' log.

    Raises
    ------
    ParameterError
        A value out of its range, naming it.
    """

    time_limit: float = 60.0
    mip_gap: float = 0.0
    method: str = "auto"
    seed: int = 0
    threads: int | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        threads = self.threads
        checked = {
            "time_limit": validation.SECONDS("time_limit", self.time_limit),
            "mip_gap": validation.GAP("mip_gap", self.mip_gap),
            "method": validation.choice("method", self.method, validation.METHODS),
            "seed": validation.SEED("seed", self.seed),
            "threads": None if threads is None else validation.THREADS("threads", threads),
            "verbose": bool(self.verbose),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)


class Run:
    """One solver call in progress: its options, deadline, steps and history.

    ``t0`` and ``deadline`` are work-clock readings (:func:`siting.optimize.clock.now`);
    stage budgets are measured from them.
    """

    def __init__(self, opts: SolveOptions | None = None) -> None:
        self.opts = opts = SolveOptions() if opts is None else opts
        self.t0 = clock.now()
        self.deadline = self.t0 + opts.time_limit
        self.history: dict[str, Any] = {}
        self.steps: list[str] = []

    @property
    def heuristic(self) -> bool:
        """``method="heuristic"``: no branch-and-bound."""
        return self.opts.method == "heuristic"

    @property
    def exact(self) -> bool:
        """``method="exact"``: HiGHS closes the gap whatever the model's size."""
        return self.opts.method == "exact"

    def left(self) -> float:
        """Work seconds left to the deadline."""
        return self.deadline - clock.now()

    def stopped_by(self) -> str:
        """What ended a run that did not prove its plan: ``"time_limit"`` when the work
        clock reached the deadline (within ``settings.end_margin_s``), else
        ``"feasible"``."""
        timed_out = clock.now() >= self.deadline - settings.end_margin_s
        return "time_limit" if timed_out else "feasible"

    def seconds(self, budget: Budget, start: float | None = None) -> float:
        """A stage's budget: ``max(least, share x (deadline - start))``, ``start`` the
        stage's start (default now)."""
        return budget.seconds(clock.now() if start is None else start, self.deadline)

    def step(self, *names: str) -> None:
        """Record steps taken (they make ``Solution.method``)."""
        self.steps.extend(names)

    @contextmanager
    def timed(self, name: str) -> Iterator[float]:
        """Time a stage: yields its start (a work-clock reading) and records
        ``history[name + "_s"]``, its work seconds."""
        start = clock.now()
        yield start
        self.history[f"{name}_s"] = clock.now() - start

    def milp(
        self,
        model: LinearModel,
        *,
        time_limit: float | None = None,
        start: np.ndarray | None = None,
        heuristics: bool = True,
    ) -> MilpResult:
        """HiGHS' branch-and-bound on ``model`` with the run's gap, threads and log, until
        the deadline (or ``time_limit`` seconds); records the step ``highs`` and
        ``highs_s``, ``highs_status`` and ``highs_nodes`` in the history."""
        t = clock.now()
        res = solve_milp(
            model,
            time_limit=max(0.1, self.deadline - t) if time_limit is None else time_limit,
            mip_rel_gap=self.opts.mip_gap,
            threads=self.opts.threads,
            start=start,
            verbose=self.opts.verbose,
            heuristics=heuristics,
        )
        self.step("highs")
        self.history.update(highs_s=clock.now() - t, highs_status=res.status, highs_nodes=res.nodes)
        return res

    def regional_reserve(self, R: ReducedCover, share: float, minimum: float) -> float:
        """Work seconds to keep for the regional bound at the end
        (:func:`~siting.optimize.regional.reserve_seconds`: its expected time, if it fits
        in ``share`` of what is left and is at least ``minimum``; else 0)."""
        workers = search_workers(self.opts.threads)
        return reserve_seconds(R.A, self.left(), share=share, minimum=minimum, workers=workers)

    def regional(
        self,
        bound: Callable[..., tuple[float, RegionalBound | None]],
        R: ReducedCover,
        rhs: float,
        lam: np.ndarray,
        *,
        offset: float = 0.0,
    ) -> float:
        """The regional bound (:mod:`siting.optimize.regional`) of the reduced model as a
        stage (``regional``) until the deadline: ``bound(A, w, cost, rhs, lam, ...)``,
        ``rhs`` the persons to cover or the knapsack's limit.

        Returns the bound (the model's units), ``offset`` (what the reduction took out of
        the model, e.g. persons covered by the existing sites) added, and records it and
        the regions' counts in the history (``regional_bound``, ``regional``). When the
        prices give no bound, ``bound``'s own infinite value: one that bounds nothing.
        """
        with self.timed("regional") as t:
            value, details = bound(
                R.A,
                R.weight,
                R.cost,
                rhs,
                lam,
                time_limit=max(0.1, self.deadline - t - settings.end_margin_s),
                workers=search_workers(self.opts.threads),
            )
        if details is not None:
            self.step("regional")
            self.history["regional_bound"] = offset + value
            self.history["regional"] = {
                **details.summary(),
                "bound": offset + details.model_bound,
                "lp_bound": offset + details.model_lp_bound,
            }
        return offset + value

    def finish_cover(
        self,
        problem: CoverageProblem,
        R: ReducedCover,
        y: np.ndarray,
        bound: float,
        status: str,
        *,
        maximize: bool = False,
    ) -> Solution:
        """:meth:`finish` for a coverage model solved on its reduced form ``R``: the plan
        ``y`` (over ``R``'s columns) mapped back to the sites; the objective is the new
        sites' cost (minimised) or the persons covered (``maximize``), whole-numbered when
        the costs (or the weights) are."""
        sel = R.selected_sites(y, problem.n_sites, problem.existing)
        if maximize:
            objective, values = problem.covered_weight(sel), problem.weight
        else:
            new = np.flatnonzero(sel & ~problem.existing)
            objective, values = float(problem.cost[new].sum()), problem.cost
        return self.finish(
            problem,
            sel,
            objective,
            bound,
            status,
            sense=-1 if maximize else 1,
            integral=bool(np.all(np.round(values) == values)),
            unreachable=np.flatnonzero(R.unreachable),
        )

    def finish(
        self,
        problem: CoverageProblem,
        selected: np.ndarray,
        objective: float,
        bound: float,
        status: str,
        *,
        unreachable: np.ndarray,
        sense: int = 1,
        integral: bool = False,
        covered: float | None = None,
        method: str | None = None,
        **fields: Any,
    ) -> Solution:
        """The :class:`Solution` of the run.

        Parameters
        ----------
        problem : CoverageProblem
        selected : ndarray of bool
            Open sites (existing ones included).
        objective, bound : float
            The plan's objective and the best proven bound (lower when minimising,
            ``sense`` 1; upper when maximising, ``sense`` -1).
        status : str
            What ended the run: ``"optimal"`` (proven by the model), ``"feasible"``,
            ``"time_limit"``, or HiGHS' status.
        unreachable : ndarray of int
            Demand points no site reaches.
        integral : bool
            The objective takes whole values only: the bound is rounded towards it
            (``ceil`` / ``floor``) before the gap is computed and reported.
        covered : float, optional
            Persons covered (default: reached by an open site).
        method : str, optional
            Default: the steps taken, joined by ``+``.
        **fields
            Further :class:`Solution` fields (``assignment``, ``served`` ...).

        Returns
        -------
        Solution
            A zero gap makes the status ``"optimal"``; an optimal plan reports its
            objective as the bound and a gap of 0.
        """
        obj = float(objective)
        bound = float(bound)
        if not np.isfinite(obj):  # no plan: nothing to compare the bound with
            gap = np.inf
        else:
            bound = min(bound, obj) if sense > 0 else max(bound, obj)
            gap = relative_gap(obj, bound, integral=integral, sense=sense)
            if gap == 0.0:
                status = "optimal"
        if status == "optimal":
            bound, gap = obj, 0.0
        else:
            bound = rounded_bound(bound, integral=integral, sense=sense)
            bound = min(bound, obj) if sense > 0 else max(bound, obj)
        sel = np.asarray(selected, dtype=bool)
        cw = problem.covered_weight(sel) if covered is None else float(covered)
        total = problem.total_weight
        unreach = np.asarray(unreachable, dtype=np.int64)
        return Solution(
            selected=sel,
            new=np.flatnonzero(sel & ~problem.existing),
            objective=obj,
            bound=float(bound),
            gap=float(gap),
            status=status,
            seconds=clock.now() - self.t0,
            covered_weight=cw,
            covered_share=cw / total if total > 0 else 1.0,
            history=self.history,
            method="+".join(self.steps) if method is None else method,
            unreachable=unreach,
            unreachable_weight=float(problem.weight[unreach].sum()),
            **fields,
        )
