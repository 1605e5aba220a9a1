"""Capacitated coverage (model ``"mclp"`` with ``capacity=``), and capacities from norms.

Norms (STANDARDS.md): community facility floor area >= 20 m² per 100 households
(national 2011-2015; Shijiazhuang 2016-2020), >= 30 m² in the later Taizhou standard.
A facility of ``F`` m² therefore serves ``F / m2_per_100_households x 100`` households.

Capacitated coverage (maximise persons served, each facility serving at most its
capacity and only demand it reaches;
:func:`~siting.optimize.formulations.capacitated_coverage_matrices`)::

    max  sum_(i,j) w_i x_ij
    s.t. sum_j x_ij <= 1                  share of demand i served
         sum_i w_i x_ij <= cap_j y_j      capacity (persons)
         x_ij <= y_j                      (strengthening)
         sum_(j candidate) y_j <= p       existing sites fixed open
         y binary, x >= 0, only for reachable pairs (stored entries of ``cover``)

A demand point may be split between facilities (persons are divisible); identical demand
rows are merged first, which is exact for split assignment.

:func:`solve_capacitated_coverage`: a greedy start and its best allocation
(:mod:`siting.optimize.assignment`); without branch-and-bound (models above
``settings.pairs_limit`` pairs, or ``method="heuristic"``) swaps priced by the allocation
LP's duals and a Lagrangian bound (:func:`~siting.optimize.bounds.capacitated_lagrangian`);
else HiGHS from that start.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from siting import validation
from siting._docstrings import shared_doc
from siting.errors import ParameterError
from siting.optimize import clock, settings
from siting.optimize.assignment import best_allocation, coverage_swaps
from siting.optimize.bounds import capacitated_lagrangian
from siting.optimize.formulations import capacitated_coverage_matrices
from siting.optimize.heuristics import capacitated_greedy
from siting.optimize.highs import solution_status
from siting.optimize.pipeline import Run, SolveOptions
from siting.optimize.problem import CoverageProblem, Solution
from siting.optimize.reduce import merge_identical_rows
from siting.standards import (  # the norms' one home (issue 25); re-exported here
    PERSONS_PER_HOUSEHOLD,
    capacity_from_floor_area,
    households_from_floor_area,
)

__all__ = [
    "PERSONS_PER_HOUSEHOLD",
    "capacity_from_floor_area",
    "households_from_floor_area",
    "solve_capacitated_coverage",
]


@shared_doc
@clock.work_budget()
def solve_capacitated_coverage(
    problem: CoverageProblem,
    p: int,
    *,
    options: SolveOptions | None = None,
) -> Solution:
    """Most persons served by existing sites plus ``p`` new ones, within capacities.

    A greedy start (persons each site can still serve) and its best allocation are
    handed to HiGHS; when HiGHS stops at the time limit the better of the two is
    returned, with a bound no higher than what the open sites' capacities and reach
    allow. Models too large for HiGHS, and ``method="heuristic"``, get swaps instead
    (priced by the allocation LP's duals, checked exactly, up to
    ``settings.capacity_swaps`` of the time limit) and a Lagrangian bound.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``cover``, ``weight`` and ``capacity`` (persons per site).
    p : int
        New sites, 0 <= p <= number of candidates.
    %(solve_options)s
        ``"auto"`` runs HiGHS' branch-and-bound up to ``settings.pairs_limit`` reachable
        pairs (above it HiGHS cannot solve the root LP within a useful time, nor stop at
        its limit); ``"exact"`` always; ``seed`` is unused (nothing is random here).

    Returns
    -------
    Solution
        ``objective`` = ``covered_weight`` = persons served; ``served`` = persons served at
        each demand point (``served_before``: by the existing sites alone);
        ``assignment`` = the site serving the largest share of each demand point (-1
        none).

    Raises
    ------
    ParameterError
        No capacities, or ``p`` out of range.
    """
    run = Run(options)
    if problem.capacity is None:
        msg = "capacitated coverage needs problem.capacity (persons per site)"
        raise ParameterError(msg)
    p = validation.count("p", p, problem.n_candidates, "the number of candidate sites")
    m = _Served(problem, p, run)
    m.start()
    m.bound()
    if m.obj >= m.ub - 1e-9 * max(1.0, m.ub):
        m.status = "optimal"  # the start meets the bound
    elif run.left() > 0 and (run.exact or (run.opts.method == "auto" and not m.large)):
        m.exact()
    return m.finish()


class _Served:
    """Capacitated coverage on the merged rows (``A`` 0/1, weights ``w``): the plan
    ``sel``, the shares ``x`` of the stored pairs it serves, ``obj`` persons, and the
    upper bound ``ub``."""

    def __init__(self, problem: CoverageProblem, p: int, run: Run) -> None:
        self.problem, self.p, self.run = problem, p, run
        self.keep = np.flatnonzero((problem.weight > 0) & problem.reachable_mask())
        A, self.w, self.inv = merge_identical_rows(
            problem.cover[self.keep], problem.weight[self.keep]
        )
        self.A = sp.csr_matrix(A, dtype=float)
        self.A.data[:] = 1.0
        self.rows = np.repeat(np.arange(self.A.shape[0]), np.diff(self.A.indptr))
        self.k = self.A.nnz
        self.cap, self.fixed = problem.capacity, problem.existing
        self.large = self.k > settings.pairs_limit
        self.no_bb = self.large or run.heuristic  # no branch-and-bound
        self.sel = self.fixed.copy()
        self.x = np.zeros(self.k)
        self.obj = self.ub = 0.0
        self.status = "feasible"
        self.prices: np.ndarray | None = None  # per row, from the allocation LP's duals
        run.history.update(rows_merged=int(self.A.shape[0]), pairs=int(self.k))
        run.step("greedy")

    def served(self, x: np.ndarray) -> float:
        """Persons served by the shares ``x``."""
        return float(self.w[self.rows] @ x)

    def start(self) -> None:
        """The greedy sites, their best allocation and, without branch-and-bound, swaps."""
        run, A, w, cap = self.run, self.A, self.w, self.cap
        self.sel, self.x = capacitated_greedy(A, w, cap, self.fixed, self.p)
        run.history["greedy"] = self.served(self.x)
        if self.k:
            alloc = best_allocation(A, w, cap, self.sel, run.left())
            if alloc is not None:
                run.history["allocated"] = alloc.served
                if self.no_bb and not run.exact:  # no branch-and-bound: swaps
                    deadline = run.t0 + settings.capacity_swaps.of(run.opts.time_limit)
                    self.sel, alloc, moves = coverage_swaps(
                        A, w, cap, self.fixed, self.sel, alloc, deadline
                    )
                    run.history.update(moves)
                    run.history["swapped"] = alloc.served
                    run.step("swaps")
                if alloc.served > self.served(self.x):
                    self.x = alloc.x
                self.prices = alloc.row_price
        self.obj = self.served(self.x) if self.k else 0.0

    def bound(self) -> None:
        """Capacities and reach bound what any plan serves; without branch-and-bound,
        prices per person tighten it (the Lagrangian gets the rest of the time, less a
        reserve for the final allocations; ``"exact"`` leaves the rest to HiGHS)."""
        run, limit = self.run, self.run.opts.time_limit
        site_max = np.minimum(self.cap, np.asarray(self.A.T @ self.w).ravel())
        cand_max = np.sort(site_max[~self.fixed])[::-1][: self.p]
        self.ub = min(float(self.w.sum()), float(site_max[self.fixed].sum() + cand_max.sum()))
        if self.no_bb:
            least = settings.capacity_lagrangian.of(limit)
            if clock.expired():  # real time is out (a slow machine): one step, a valid bound
                seconds = 0.0
            elif run.exact:
                seconds = least
            else:
                rest = limit - settings.capacity_reserve.of(limit) - (clock.now() - run.t0)
                seconds = max(least, rest)
            lag, _ = capacitated_lagrangian(
                self.A,
                self.w,
                self.cap,
                self.fixed,
                self.p,
                self.obj,
                u0=self.prices,
                iterations=settings.capacity_lagrangian_iterations,
                time_limit=seconds,
            )
            self.ub = min(self.ub, lag)
        run.history["start_bound_s"] = clock.now() - run.t0
        run.history["capacity_bound"] = self.ub

    def exact(self) -> None:
        """HiGHS from the start; stopped early, the best use of its sites."""
        model = capacitated_coverage_matrices(self.A, self.w, self.cap, self.fixed, self.p)
        m = self.problem.n_sites
        res = self.run.milp(
            model, time_limit=self.run.left(), start=np.r_[self.sel.astype(float), self.x]
        )
        if res.x is not None and float(res.objective) > self.obj:
            self.sel = res.x[:m] > 0.5
            self.x = np.clip(res.x[m:], 0.0, 1.0)
            self.obj = float(res.objective)
        if np.isfinite(res.bound):
            self.ub = min(self.ub, float(res.bound))
        self.status = solution_status(res.status)
        if self.status not in ("optimal", "time_limit"):
            self.status = "feasible"
        if self.status != "optimal":  # stopped early: the best use of its sites
            alloc = self._allocation(self.sel)
            if alloc is not None and alloc.served > self.obj:
                self.x, self.obj = alloc.x, alloc.served

    def _allocation(self, sites: np.ndarray):
        seconds = settings.capacity_allocation.of(self.run.opts.time_limit)
        return best_allocation(self.A, self.w, self.cap, sites, seconds, capped=False)

    def finish(self) -> Solution:
        """Persons served and the main serving site per demand point (merged rows split
        back), with what the existing sites serve within their capacities today."""
        problem, rows, keep, inv = self.problem, self.rows, self.keep, self.inv
        n, nd = problem.n_demand, self.A.shape[0]
        x_before = np.zeros(self.k)
        if self.fixed.any() and self.k:
            alloc = self._allocation(self.fixed)
            if alloc is not None:
                x_before = alloc.x
        served = np.zeros(n)
        served_before = np.zeros(n)
        assignment = np.full(n, -1, dtype=np.int64)
        if self.k:
            share = np.minimum(np.bincount(rows, weights=self.x, minlength=nd), 1.0)
            served[keep] = share[inv] * problem.weight[keep]
            share_before = np.minimum(np.bincount(rows, weights=x_before, minlength=nd), 1.0)
            served_before[keep] = share_before[inv] * problem.weight[keep]
            order = np.lexsort((-self.x, rows))
            first = np.r_[True, rows[order][1:] != rows[order][:-1]]
            pick = order[first]
            ok = self.x[pick] > 1e-9
            best_col = np.full(nd, -1, dtype=np.int64)
            best_col[rows[pick][ok]] = self.A.indices[pick][ok]
            assignment[keep] = best_col[inv]
        steps = self.run.steps
        return self.run.finish(
            problem,
            self.sel,
            self.obj,
            self.ub,
            self.status,
            sense=-1,
            covered=self.obj,
            unreachable=np.flatnonzero(~problem.reachable_mask()),
            method=None if len(steps) > 1 else "greedy+allocation",
            assignment=assignment,
            served=served,
            served_before=served_before,
        )
