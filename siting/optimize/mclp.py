"""Maximal covering (model ``"mclp"``): the most persons covered with ``p`` new sites,
or with new-site cost within a budget.

Model (Church & ReVelle 1974), existing sites fixed open
(:func:`~siting.optimize.formulations.mclp_matrices`)::

    max  sum_i w_i z_i
    s.t. z_i <= sum_j a_ij y_j      for every (merged) uncovered demand row i
         sum_j y_j <= p             (or sum_j c_j y_j <= budget)
         y binary, 0 <= z <= 1

:func:`solve_mclp` runs these stages (methods of :class:`_Search`):

1. reduce; greedy and 1-swaps; a Lagrangian upper bound (unit costs);
2. models up to ``settings.lp_nnz_limit`` reduced nonzeros: the LP bound, triangle
   cuts (:mod:`siting.optimize.cuts`: rounds of valid inequalities that often make the
   LP's optimum integral, and so the plan proven optimal), randomised LP rounding (p
   version), then reduced-cost fixing (columns whose LP reduced cost exceeds the
   LP-incumbent gap cannot improve on the incumbent) and HiGHS on the kept columns with
   the cuts (``method != "heuristic"``);
3. larger models (unless ``method="exact"``, which takes step 2 whatever the size):
   HiGHS' first-order LP (PDLP), whose duals become a proven Lagrangian upper bound
   (:func:`~siting.optimize.bounds.lp_mclp_first_order`), LP rounding and the iterated
   search (with a budget: LP rounding by cost), and the regional bound
   (:mod:`siting.optimize.regional`) when its time fits.

:func:`coverage_curve` gives the greedy coverage and a proven bound for every number of
new sites at once.
"""

from __future__ import annotations

from collections.abc import Callable

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting import validation
from siting._docstrings import shared_doc
from siting.errors import ParameterError
from siting.optimize import clock, settings
from siting.optimize.bounds import first_order_seconds, lp_mclp_first_order, mclp_lagrangian_curve
from siting.optimize.cuts import tighten_lp
from siting.optimize.formulations import LinearModel, mclp_matrices
from siting.optimize.heuristics import (
    CoverIndex,
    greedy_cover,
    mclp_iterated_search,
    mclp_swap,
    search_workers,
)
from siting.optimize.highs import highs_lp, new_highs, run_charged, solution_status
from siting.optimize.pipeline import Run, SolveOptions
from siting.optimize.problem import CoverageProblem, Solution, relative_gap
from siting.optimize.reduce import (
    ReducedCover,
    dominated_columns,
    merge_identical_rows,
    reduce_cover,
)
from siting.optimize.regional import mclp_regional_bound

__all__ = ["coverage_curve", "solve_mclp"]


@shared_doc
@clock.work_budget()
def solve_mclp(
    problem: CoverageProblem,
    p: int | None = None,
    *,
    budget: float | None = None,
    options: SolveOptions | None = None,
) -> Solution:
    """Most persons covered with ``p`` new sites, or with new-site cost <= ``budget``.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``cover`` and ``weight``; ``existing`` sites are fixed open; ``cost`` counts
        with ``budget``.
    p : int, optional
        Number of new sites, 0 <= p <= number of candidates (unit costs).
    budget : float, optional
        Budget on the cost of new sites (the unit of ``problem.cost``); give ``p`` or
        ``budget``.
    %(solve_options)s

    Returns
    -------
    Solution
        ``objective`` = covered persons (existing coverage included); ``bound`` = proven
        upper bound.

    Raises
    ------
    ParameterError
        Neither or both of ``p`` and ``budget``, or a value out of range.
    """
    run = Run(options)
    p, limit, cost = _limit(problem, p, budget)
    work = CoverageProblem(
        cover=problem.cover, weight=problem.weight, existing=problem.existing, cost=cost
    )
    R = reduce_cover(work)
    run.history.update(reduce_s=clock.now() - run.t0, reduce=R.stats)
    run.step("reduce")
    s = _Search(problem, R, p, limit, run)
    if s.nc == 0 or R.cost.sum() <= limit + 1e-9:  # every candidate fits
        s.sel = np.ones(s.nc, dtype=bool)
        return s.finish("optimal")
    s.local_search()
    s.lagrangian_bound()
    if run.heuristic or s.closed():
        return s.finish("feasible")
    if not s.large:
        s.lp_bound()
        if s.closed():
            return s.finish("feasible")
        s.large = s.lp is None  # the simplex ran out of time: a large model in practice
    if s.large and not run.exact:
        s.first_order_bound()
        s.large_search()
        s.regional_bound()
        return s.finish(run.stopped_by())
    s.fix_by_reduced_cost()
    return s.finish(s.exact())


def _limit(
    problem: CoverageProblem, p: int | None, budget: float | None
) -> tuple[int | None, float, np.ndarray]:
    """``(p, limit, cost)``: the knapsack of the model, ``p`` sites at unit cost or the
    budget on ``problem.cost``."""
    if (p is None) == (budget is None):
        msg = "give exactly one of p (number of new sites) or budget (cost of new sites)"
        raise ParameterError(msg)
    if p is not None:
        p = validation.count("p", p, problem.n_candidates, "the number of candidate sites")
        return p, float(p), np.ones(problem.n_sites)
    return None, validation.BUDGET("budget", budget), problem.cost


class _Search:
    """What the stages of :func:`solve_mclp` pass on: the incumbent (``sel``, covering
    ``cov`` persons of the reduced rows), the upper bound ``ub`` (persons, existing
    coverage included), the LP and its cuts, the columns kept for HiGHS."""

    def __init__(
        self, problem: CoverageProblem, R: ReducedCover, p: int | None, limit: float, run: Run
    ) -> None:
        self.problem, self.R, self.p, self.limit, self.run = problem, R, p, limit, run
        self.nc = R.A.shape[1]
        self.base = R.base_weight
        self.large = R.A.nnz > settings.lp_nnz_limit
        self.integral = bool(np.all(np.round(R.weight) == R.weight))
        self.ub = self.base + float(R.weight.sum())
        self.sel = np.zeros(self.nc, dtype=bool)
        self.cov = 0.0
        self.lp: _LP | None = None
        self.y_lp: np.ndarray | None = None  # first-order LP values (large models)
        self.lam: np.ndarray | None = None  # its prices, for the regional bound
        self.regional_s = 0.0
        self.cuts: sp.csr_matrix | None = None  # triangle cuts over [y, z] (rhs 1)
        self.keep: np.ndarray | None = None  # columns kept by reduced-cost fixing
        self.idx = CoverIndex.build(R.A, R.weight, R.cost)

    # ------------------------------------------------------------------ helpers
    def gap_of(self, cov: float, ub: float | None = None) -> float:
        """Relative gap of covering ``cov`` reduced persons against ``ub`` (default the
        bound)."""
        ub = self.ub if ub is None else ub
        return relative_gap(self.base + cov, ub, integral=self.integral, sense=-1)

    def closed(self) -> bool:
        """The bound proves the incumbent within the run's mip_gap."""
        return self.gap_of(self.cov) <= self.run.opts.mip_gap

    def _good_enough(self, cov: float) -> bool:
        return self.gap_of(cov) <= self.run.opts.mip_gap

    def finish(self, status: str) -> Solution:
        """The Solution of the incumbent with the bound (statuses: pipeline.Run.finish)."""
        return self.run.finish_cover(self.problem, self.R, self.sel, self.ub, status, maximize=True)

    # ------------------------------------------------------------------ stages
    def local_search(self) -> None:
        """Greedy (by persons, or persons per cost within the budget), then 1-swaps."""
        run, R, idx = self.run, self.R, self.idx
        with run.timed("heuristic"):
            if self.p is not None:
                sel, _, _ = greedy_cover(idx, np.inf, max_add=self.p)
                self.sel, self.cov = mclp_swap(idx, sel)
            else:
                sel = _budget_greedy(idx, self.limit)
                slack = max(0.0, self.limit - float(R.cost[sel].sum()))
                self.sel, self.cov = mclp_swap(idx, sel, budget_slack=slack)
            run.history["heuristic"] = self.base + self.cov
        run.step("greedy", "swap")

    def lagrangian_bound(self) -> None:
        """Unit costs: the Lagrangian upper bound at ``p``."""
        run, R = self.run, self.R
        if self.p is None:
            return
        with run.timed("lagrangian") as t:
            lag = mclp_lagrangian_curve(
                R.A,
                R.weight,
                np.array([self.p]),
                iterations=settings.mclp_lagrangian_iterations,
                time_limit=run.seconds(settings.mclp_lagrangian, t),
                lower=np.array([self.cov]),
            )
            self.ub = min(self.ub, self.base + float(lag[0]))
            run.history["lagrangian_bound"] = self.ub
        run.step("lagrangian")

    def lp_bound(self) -> None:
        """The LP with duals, tightened by triangle cuts; then LP rounding (``p``)."""
        run, R = self.run, self.R
        with run.timed("lp") as t:
            model = mclp_matrices(R.A, R.weight, R.cost, self.limit)
            self.lp = _lp_with_duals(model, time_limit=run.seconds(settings.mclp_lp, t))
            run.step("lp")
            run.history["lp_solve_s"] = clock.now() - t
            if self.lp is not None:
                self.ub = min(self.ub, self.base + float(self.lp.objective))
                run.history["lp_bound"] = self.base + float(self.lp.objective)
                if not self.closed():
                    self._cut()
                if self.p is not None and not self.closed():
                    stop = t + settings.mclp_rounding_share * (run.deadline - t)
                    self.sel, self.cov, trials = _round_lp(
                        self.idx,
                        self.lp.x[: self.nc],
                        self.p,
                        self.sel,
                        self.cov,
                        run.opts.seed,
                        stop,
                        self._good_enough,
                    )
                    run.step("rounding")
                    run.history["rounding"] = self.base + self.cov
                    run.history["rounding_trials"] = trials

    def _cut(self) -> None:
        """Triangle cuts: the LP's gap, closed; an integral LP optimum is a plan (the
        best one, if it keeps to ``p``)."""
        run, lp = self.run, self.lp
        with run.timed("cuts") as tc:
            tg = tighten_lp(
                lp.h,
                self.R.A,
                lp.objective,
                lp.x,
                lp.dual,
                deadline=tc + settings.cuts_share * (run.deadline - tc),
                closed=lambda o: self.gap_of(self.cov, self.base + o) <= run.opts.mip_gap,
                # no goal: rounds go on while they move the LP (the incumbent is the
                # greedy one yet, a poor yardstick for progress)
            )
            if not tg.rounds:
                return
            self.lp = lp = _LP(tg.x, tg.col_dual, tg.objective, lp.h)
            self.cuts = tg.rows
            self.ub = min(self.ub, self.base + float(lp.objective))
            run.history["cut_bound"] = self.base + float(lp.objective)
            run.history["cuts"] = tg.summary()
            run.step("cuts")
            y_lp = lp.x[: self.nc]
            if np.all(np.minimum(y_lp, 1.0 - y_lp) <= 1e-9):
                s_ = y_lp > 0.5
                if float(self.R.cost[s_].sum()) <= self.limit + 1e-9:
                    c_ = self.idx.covered(s_)
                    if c_ > self.cov + self.idx.tol():
                        self.sel, self.cov = s_, c_

    def fix_by_reduced_cost(self) -> None:
        """A column whose LP reduced cost (at 0) exceeds the LP gap cannot be in any
        solution better than the incumbent: HiGHS gets the others."""
        lp = self.lp
        if lp is None:
            return
        lp_obj = float(lp.objective)
        slack = (1.0 if self.integral else 0.0) - 1e-6 * max(1.0, abs(lp_obj))
        out = (lp.x[: self.nc] < 1e-9) & (lp_obj + lp.dual[: self.nc] < self.cov + slack)
        out &= ~self.sel
        if out.any():
            self.keep = np.flatnonzero(~out)
            self.run.history["rc_fixed"] = int(out.sum())
            self.run.step("rcfix")

    def exact(self) -> str:
        """HiGHS on the kept columns with the cuts; returns its status."""
        run, R = self.run, self.R
        keep, cuts = self.keep, self.cuts
        if keep is not None:
            # with cuts, the rows stay as they are (the cuts name them); else merged
            restrict = _restrict if cuts is None else _columns
            Ak, wk = restrict(R.A, R.weight, keep)
            dom = dominated_columns(Ak, R.cost[keep]) & ~self.sel[keep]
            if dom.any():
                keep = keep[~dom]
                Ak, wk = restrict(R.A, R.weight, keep)
            run.history["rc_kept"] = (int(keep.size), int(Ak.shape[0]))
            model = mclp_matrices(Ak, wk, R.cost[keep], self.limit)
            if cuts is not None:  # columns fixed at 0 leave the cuts valid
                cuts = sp.csr_matrix(cuts[:, np.r_[keep, self.nc + np.arange(R.A.shape[0])]])
        else:
            model = mclp_matrices(R.A, R.weight, R.cost, self.limit)
        model = model.with_rows(cuts, upper=1.0)
        run.history["highs_cut_rows"] = 0 if cuts is None else int(cuts.shape[0])
        nk = self.nc if keep is None else keep.size
        res = run.milp(model, heuristics=False)
        if res.x is not None and res.objective > self.cov + 1e-9 * max(1.0, float(R.weight.sum())):
            if keep is not None:
                self.sel = np.zeros(self.nc, dtype=bool)
                self.sel[keep] = res.x[:nk] > 0.5
            else:
                self.sel = res.x[: self.nc] > 0.5
            self.cov = float(res.objective)
        if np.isfinite(res.bound):
            # with fixing, solutions outside the kept columns are no better than the incumbent
            up = max(res.bound, self.cov) if keep is not None else res.bound
            self.ub = min(self.ub, self.base + up)
        return solution_status(res.status)

    # ------------------------------------------------------------------ large models
    def first_order_bound(self) -> None:
        """PDLP's duals: a proven upper bound, prices for the regional bound, and column
        values for the rounding; the regional bound's time is set aside."""
        run, R = self.run, self.R
        with run.timed("pdlp") as t:
            pdb, self.y_lp, self.lam = lp_mclp_first_order(
                R.A,
                R.weight,
                R.cost,
                self.limit,
                time_limit=first_order_seconds(run.deadline - t),
                duals=True,
            )
        if np.isfinite(pdb):
            self.ub = min(self.ub, self.base + pdb)
            run.history["pdlp_bound"] = self.base + pdb
            run.step("pdlp")
        if self.lam is not None:
            self.regional_s = run.regional_reserve(
                R, settings.mclp_regional_share, settings.mclp_regional_min_s
            )

    def large_search(self) -> None:
        """``p`` sites: LP rounding, then iterated swaps; a budget: LP rounding by cost."""
        until = self.run.deadline - self.regional_s
        if self.p is not None and 0 < self.p < self.nc and not self.closed():
            self._round_and_iterate(until)
        elif self.p is None and self.y_lp is not None and not self.closed():
            self._budget_rounding(until)

    def _round_and_iterate(self, until: float) -> None:
        run = self.run
        with run.timed("search") as t:
            if self.y_lp is not None and settings.mclp_large_rounding_share > 0:
                with run.timed("rounding"):
                    self.sel, self.cov, _ = _round_lp(
                        self.idx,
                        self.y_lp,
                        self.p,
                        self.sel,
                        self.cov,
                        run.opts.seed,
                        t + settings.mclp_large_rounding_share * (until - t),
                        self._good_enough,
                    )  # the iterated search is stronger
                    run.step("rounding")
                    run.history["rounding"] = self.base + self.cov
            if not self.closed() and clock.now() < until:
                self.sel, self.cov = mclp_iterated_search(
                    self.idx,
                    self.sel,
                    stop_at=self.ub / (1.0 + run.opts.mip_gap) - self.base,
                    seed=run.opts.seed,
                    deadline=until,
                    workers=search_workers(run.opts.threads),
                )
                run.step("ils")
                run.history["ils"] = self.base + self.cov

    def _budget_rounding(self, until: float) -> None:
        """Randomised LP rounding by cost, refilled greedily, 1-swaps within the budget."""
        run, R, nc = self.run, self.R, self.nc
        with run.timed("rounding"):
            rng = np.random.default_rng(run.opts.seed)
            y = np.clip(self.y_lp, 0.0, 1.0)
            step = 0.0  # the longest trial so far: none starts that would end past the limit
            while clock.now() + step < until - settings.end_margin_s and not self.closed():
                t_trial = clock.now()
                # noise: a few columns the LP leaves at 0 come in (about 5 expected)
                noise = rng.uniform(0.0, min(0.1, 5.0 / nc))
                start = rng.random(nc) < y * rng.uniform(0.3, 1.0) + noise
                order = rng.permutation(nc)  # keep what fits, in random order
                over = np.cumsum(np.where(start[order], R.cost[order], 0.0)) > self.limit + 1e-9
                start[order[over]] = False
                got = _budget_greedy(self.idx, self.limit, start)
                slack = max(0.0, self.limit - float(R.cost[got].sum()))
                got, c_ = mclp_swap(self.idx, got, budget_slack=slack)
                if c_ > self.cov + 1e-9:
                    self.sel, self.cov = got, c_
                step = max(step, clock.now() - t_trial)
            run.step("rounding")
            run.history["rounding"] = self.base + self.cov

    def regional_bound(self) -> None:
        """Large models: the LP's integrality gap, region by region."""
        if self.regional_s > 0 and not self.closed() and not clock.expired():
            reg = self.run.regional(
                mclp_regional_bound, self.R, self.limit, self.lam, offset=self.base
            )
            self.ub = min(self.ub, reg)


# ---------------------------------------------------------------------- helpers
def _budget_greedy(idx: CoverIndex, budget: float, start: np.ndarray | None = None) -> np.ndarray:
    """Greedy by uncovered persons per cost among affordable columns of ``idx`` (from
    ``start``, which must fit the ``budget``).

    Gains are updated from the rows each opening covers, not recomputed: O(nnz) in all.
    """
    nc, w, cost = idx.n_cols, idx.w, idx.cost
    A, AT = idx.matrices
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


def _lp_with_duals(model: LinearModel, *, time_limit: float) -> _LP | None:
    """The linear relaxation of ``model`` solved by HiGHS, with its duals; None if not
    optimal."""
    lp = highs_lp(model)
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


# ---------------------------------------------------------------------- curve
@clock.work_budget()
def coverage_curve(
    problem: CoverageProblem,
    max_new: int | None = None,
    *,
    target: float | str = 1.0,
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

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``cover`` and ``weight``; ``existing`` sites are open from row 0.
    max_new : int, optional
        Most new sites (default: until ``target``).
    target : float or str
        Share at which to stop, in (0, 1] (``1.0`` or ``"100%"``).
    iterations : int
        Subgradient steps per number of sites, for the bound.
    time_limit : float
        Work seconds for the bound.

    Returns
    -------
    pandas.DataFrame
        Columns ``new_sites``, ``covered_weight`` (persons), ``covered_share`` (0..1),
        ``bound`` (persons), ``site`` (index of the site added at that step, -1 for row
        0).
    """
    share = validation.SHARE("target", target)
    if max_new is not None:
        max_new = validation.NEW_SITES("max_new", max_new)
    R = reduce_cover(problem)
    total = problem.total_weight
    need = share * total - R.base_weight
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
