"""Partial set covering (model ``"target"``): the fewest new sites (or least cost)
reaching a share of the persons, overall or in every district.

Model (Daskin & Owen 1999; Cordeau, Furini & Ljubic 2019, section 3.1)::

    min  sum_j c_j y_j
    s.t. z_i <= sum_j a_ij y_j          for every (merged) demand row i
         sum_i w_i z_i >= D             D = target x total persons - persons already covered
         y binary, 0 <= z <= 1          (z is integral at an optimum)

with existing sites fixed open (:func:`~siting.optimize.formulations.psclp_matrices`).
Per-district targets replace the single knapsack row by one row per district.

:func:`solve_target` runs these stages (each a method of :class:`_Search`, its time a
named budget of :mod:`siting.optimize.settings`):

1. reduce (:func:`siting.optimize.reduce.reduce_cover`);
2. local search: greedy, then 1-swaps that close sites (:mod:`siting.optimize.heuristics`);
3. bound: the LP relaxation (HiGHS' dual simplex) when the reduced model has at most
   ``settings.lp_nnz_limit`` nonzeros; above that, HiGHS' first-order LP (PDLP), whose
   duals become a proven Lagrangian bound (:mod:`siting.optimize.bounds`), polished by
   subgradient steps; ``method="heuristic"``: the subgradient method only. With unit
   costs the objective is integral, so a bound above ``UB - 1`` proves ``UB`` optimal;
4. guided search at ``UB - 1`` sites while it succeeds: on large models far above their
   bound, first the fewest-sites walk (:func:`~siting.optimize.heuristics.fewest_columns_search`)
   until it stalls; greedy seeded with the LP's near-1 columns, randomised LP rounding
   repaired by 1-swaps and, on large models, the compiled iterated search from the
   incumbent without one of its least useful sites (with costs: LP rounding by cost);
5. large models: the regional bound (:mod:`siting.optimize.regional`), when its time fits;
6. triangle cuts on the LP (:mod:`siting.optimize.cuts`);
7. if a gap remains and the simplex LP was affordable (or ``method="exact"``): HiGHS on
   the reduced model with the cuts, warm-started with the incumbent.

The gap is always reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import highspy
import numpy as np
import scipy.sparse as sp

from siting import validation
from siting._docstrings import shared_doc
from siting.errors import InfeasibleError, ParameterError
from siting.optimize import clock, settings
from siting.optimize.bounds import first_order_seconds, lp_psclp_first_order, psclp_lagrangian
from siting.optimize.cuts import tighten_lp
from siting.optimize.formulations import psclp_matrices
from siting.optimize.heuristics import (
    CoverIndex,
    drop_redundant,
    fewest_columns_search,
    greedy_cover,
    group_greedy,
    improve_partial_cover,
    mclp_iterated_search,
    removal_order,
    search_workers,
    swap_search,
)
from siting.optimize.highs import highs_lp, new_highs, run_charged, solution_status, solve_milp
from siting.optimize.pipeline import Run, SolveOptions
from siting.optimize.problem import CoverageProblem, Solution, relative_gap
from siting.optimize.reduce import ReducedCover, reduce_cover
from siting.optimize.regional import psclp_regional_bound

__all__ = ["infeasible_target_message", "solve_target"]

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

    Returns
    -------
    str
        The message: the target, the persons out of reach and where, the most any plan
        can cover, and what to do.
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


# ---------------------------------------------------------------------- search helpers
def _proof_goal(ub: float, integral: bool, mip_gap: float) -> float:
    """The lower bound that proves a plan of cost ``ub`` (see :func:`_lower_ok`)."""
    if integral:
        return float(np.round(ub)) - 1.0
    return ub / (1.0 + mip_gap)


def _lower_ok(bound: float, ub: float, integral: bool, mip_gap: float) -> bool:
    return relative_gap(ub, bound, integral=integral) <= mip_gap + 1e-12


def _lp(R: ReducedCover, need: float, seconds: float) -> highspy.Highs | None:
    """The LP relaxation solved by HiGHS' dual simplex, kept for cuts; None if unsolved."""
    h = new_highs()
    h.passModel(highs_lp(psclp_matrices(R.A, R.weight, R.cost, need)))
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


# ---------------------------------------------------------------------- entry point
@shared_doc
@clock.work_budget()
def solve_target(
    problem: CoverageProblem,
    target: float | str = 0.9,
    *,
    by_group: bool = False,
    lp: bool | None = None,
    threshold: str = "the coverage threshold",
    describe: Callable[[np.ndarray], str] | None = None,
    options: SolveOptions | None = None,
) -> Solution:
    """Fewest new sites (or least cost) so that covered persons >= ``target`` x total.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``cover`` and ``weight``; ``existing`` sites are fixed open; ``cost``
        (default 1) is minimised; ``group`` is used when ``by_group``, and
        ``group_names`` in messages.
    target : float or str
        Share of persons to cover, in (0, 1]: ``0.9`` or ``"90%"``.
    by_group : bool
        Every district (``problem.group``) must reach the target.
    lp : bool, optional
        Force (True) or skip (False) the simplex LP bound (skipping it sends the model
        down the large-model path: first-order LP bound, then search); default: when
        the reduced model has at most ``settings.lp_nnz_limit`` nonzeros.
    threshold : str
        Words for the reach threshold in error messages (``"a 15-minute walk"``).
    describe : callable, optional
        ``describe(indices_of_unreachable_demand) -> str`` appended to infeasibility
        messages.
    %(solve_options)s
        On models too large for HiGHS, ``"auto"`` searches and proves its bound from the
        first-order LP, tightened by the regional bound when the time allows.

    Returns
    -------
    Solution
        ``objective`` = cost of the new sites (the number of new sites with unit costs).

    Raises
    ------
    InfeasibleError
        The target exceeds what all sites together can reach (the message says how much).
    """
    run = Run(options)
    share = validation.SHARE("target", target)
    group = problem.group if by_group else None
    if by_group and group is None:
        msg = "by_group=True needs problem.group (a district index per demand point)"
        raise ParameterError(msg)
    _check_feasible(problem, share, group, threshold, describe, problem.group_names)
    R = reduce_cover(problem, by_group=by_group)
    run.history.update(reduce_s=clock.now() - run.t0, reduce=R.stats)
    run.step("reduce")
    if by_group:
        return _solve_per_district(problem, R, share, run)
    s = _Search(problem, R, share, run, lp)
    if s.met:
        run.history["note"] = "existing sites already meet the target"
        return s.finish("optimal")
    s.local_search()
    s.bound()
    if run.heuristic or s.closed():
        return s.finish("feasible")
    s.guided_search()
    s.regional_bound()
    s.cut()
    if s.closed() or clock.now() >= run.deadline or not (s.use_lp or run.exact):
        return s.finish(run.stopped_by())
    return s.finish(s.exact())


class _Search:
    """What the stages of :func:`solve_target` pass on: the incumbent (``sel``, cost
    ``ub``), the bound ``lb``, the LP (``h_lp``, values ``y_frac``), the first-order
    prices (``lam``), the time kept for the regional bound and the cuts."""

    def __init__(
        self,
        problem: CoverageProblem,
        R: ReducedCover,
        share: float,
        run: Run,
        lp: bool | None,
    ) -> None:
        self.problem, self.R, self.run = problem, R, run
        total = problem.total_weight
        self.need = share * total - R.base_weight
        self.nc = R.A.shape[1]
        self.met = self.need <= _EPS * max(1.0, total) or self.nc == 0
        self.integral = bool(np.all(np.round(R.cost) == R.cost))
        default_lp = R.A.nnz <= settings.lp_nnz_limit
        self.use_lp = not run.heuristic and (lp if lp is not None else default_lp)
        self.sel = np.zeros(self.nc, dtype=bool)
        self.ub = 0.0
        self.lb = 0.0
        self.y_frac: np.ndarray | None = None
        self.h_lp: highspy.Highs | None = None  # the solved LP, kept for the cuts
        self.lam: np.ndarray | None = None  # prices of the best first-order bound
        self.regional_s = 0.0  # time kept for the regional bound at the end
        self.cuts: sp.csr_matrix | None = None  # triangle cuts over [y, z] (rhs 1)
        if not self.met:
            self.idx = CoverIndex.build(R.A, R.weight, R.cost)
            self.need_t = self.need - self.idx.tol()

    # ------------------------------------------------------------------ helpers
    def closed(self, gap: float | None = None) -> bool:
        """The bound proves the incumbent within ``gap`` (default: the run's mip_gap)."""
        gap = self.run.opts.mip_gap if gap is None else gap
        return _lower_ok(self.lb, self.ub, self.integral, gap)

    def _stop_at(self) -> float:
        """The bound at which a subgradient method can stop: the incumbent is proven."""
        return self.ub - 1 + 1e-6 if self.integral else self.ub

    def _take(self, sel: np.ndarray) -> None:
        self.sel, self.ub = sel, float(self.idx.cost[sel].sum())

    def finish(self, status: str) -> Solution:
        """The Solution of the incumbent with the bound (statuses: pipeline.Run.finish)."""
        return self.run.finish_cover(self.problem, self.R, self.sel, self.lb, status)

    # ------------------------------------------------------------------ stages
    def local_search(self) -> None:
        """Greedy, then a local search that closes sites (a feasible incumbent)."""
        run = self.run
        with run.timed("heuristic") as t:
            sel, _, _ = greedy_cover(self.idx, self.need)
            run.history["greedy"] = float(self.idx.cost[sel].sum())
            big = self.use_lp or run.heuristic
            budget = settings.target_local_search if big else settings.target_local_search_large
            sel, _ = improve_partial_cover(
                self.idx,
                self.need,
                sel,
                seed=run.opts.seed,
                kicks=settings.target_heuristic_kicks if run.heuristic else 0,
                time_limit=run.seconds(budget, t),
            )
            self._take(sel)
            run.history["local_search"] = self.ub
        run.step("greedy", "swap")

    def bound(self) -> None:
        """The simplex LP, else the first-order LP's prices, else the Lagrangian bound."""
        if self.use_lp:
            self._lp_bound()
        if self.y_frac is None and not self.run.heuristic:
            self._first_order_bound()
        if self.y_frac is None:
            self._lagrangian_bound()

    def _lp_bound(self) -> None:
        """The simplex LP; when it is not solved in its time, the model takes the
        large-model path from here (first-order bound, walk and iterated swaps, regional
        bound) instead of LP rounding and HiGHS, which would stall the same way."""
        run, R = self.run, self.R
        with run.timed("lp") as t:
            self.h_lp = _lp(R, self.need, run.seconds(settings.target_lp, t))
            value = -np.inf
            if self.h_lp is not None:
                value = float(self.h_lp.getInfo().objective_function_value)
                self.y_frac = np.asarray(self.h_lp.getSolution().col_value, dtype=float)
                self.y_frac = self.y_frac[: self.nc]
                self.lb = value
            else:  # the simplex ran out of time: a large model in practice
                self.use_lp = False
            run.history["lp_bound"] = value
        run.step("lp")

    def _first_order_bound(self) -> None:
        """Too large for the simplex method: PDLP's duals give a proven Lagrangian bound,
        polished by subgradient steps; the regional bound's time is set aside."""
        run, R = self.run, self.R
        with run.timed("pdlp") as t:
            most = settings.target_first_order_most_s if self.integral else np.inf
            pdb, lam, y_pd = lp_psclp_first_order(
                R.A,
                R.weight,
                R.cost,
                self.need,
                time_limit=first_order_seconds(run.deadline - t, most=most),
            )
            if y_pd is not None:
                lag, lam_lag, _ = psclp_lagrangian(
                    R.A,
                    R.weight,
                    R.cost,
                    self.need,
                    self.ub,
                    iterations=settings.target_polish_iterations,
                    time_limit=run.seconds(settings.target_polish),
                    lam0=lam,
                    stop_at=self._stop_at(),
                )
                self.lb = max(self.lb, pdb, lag, 0.0)
                self.y_frac = y_pd
                self.lam = lam_lag if lag > pdb else lam
                run.history["pdlp_bound"] = max(pdb, lag)
                run.step("pdlp")
        if run.opts.method == "auto" and self.lam is not None:
            self.regional_s = run.regional_reserve(
                R, settings.target_regional_share, settings.target_regional_min_s
            )

    def _lagrangian_bound(self) -> None:
        """The subgradient method; its average y approximates the LP solution."""
        run, R = self.run, self.R
        small = run.heuristic
        with run.timed("lagrangian") as t:
            budget = settings.target_lagrangian_heuristic if small else settings.target_lagrangian
            lag, _, self.y_frac = psclp_lagrangian(
                R.A,
                R.weight,
                R.cost,
                self.need,
                self.ub,
                iterations=settings.target_lagrangian_iterations_heuristic
                if small
                else settings.target_lagrangian_iterations,
                time_limit=run.seconds(budget, t),
                stop_at=self._stop_at(),
            )
            self.lb = max(self.lb, lag, 0.0)
            run.history["lagrangian_bound"] = lag
        run.step("lagrangian")

    def guided_search(self) -> None:
        """Greedy seeded by the LP, then LP rounding (and iterated swaps) at one site
        fewer while they succeed; with costs on large models, LP rounding by cost."""
        run, R = self.run, self.R
        with run.timed("guided") as t:
            unit = bool(R.cost.size and np.all(R.cost == R.cost[0]) and R.cost[0] > 0)
            if self.use_lp or not unit:
                self._seeded_greedy(t)
            if unit:
                self._fewer_sites(t)
            elif not self.use_lp and not self.closed():
                self._cost_rounding()
            run.history["guided"] = self.ub
        run.step("rounding")

    def _seeded_greedy(self, start: float) -> None:
        run = self.run
        seeds = self.y_frac >= settings.target_seed_value
        s2, _, _ = greedy_cover(self.idx, self.need, start=seeds)
        s2, _ = improve_partial_cover(
            self.idx,
            self.need,
            s2,
            seed=run.opts.seed,
            kicks=0,
            time_limit=run.seconds(settings.target_seeded_search, start),
        )
        if self.idx.cost[s2].sum() < self.ub - 1e-9:
            self._take(s2)

    def _fewer_sites(self, start: float) -> None:
        """Unit costs: look for a plan with one site fewer, repeatedly. On large models
        the fewest-sites walk first, until it stalls. Then LP rounding (it finds what the
        LP sees and a local search does not, such as a greedy trap); when HiGHS follows,
        its first miss ends the search; on large models, where each round is capped,
        iterated swaps take over."""
        run = self.run
        rng = np.random.default_rng(run.opts.seed)
        unit = float(self.R.cost[0])
        share = settings.target_rounding_share if self.use_lp else 1.0  # no HiGHS: search
        stop = start + share * (run.deadline - self.regional_s - start)
        if self._walks(unit):
            got = self._walk(unit, stop)
            if got is not None:
                drop_redundant(self.idx, got, self.need_t)
                self._take(got)
        attempts = n_drop = 0
        rounding = True  # LP rounding while it succeeds (on large models: briefly)
        while not self.closed() and clock.now() < stop:
            got = None
            if rounding:
                got = self._round_lp(round(self.ub / unit) - 1, rng, stop)
                if got is None and self.use_lp:
                    break  # HiGHS takes over from here
                rounding = got is not None
            if got is None:
                attempts += 1
                got = self._iterated_search(n_drop, attempts, stop)
                n_drop += 1
                if got is None:
                    continue
            n_drop = 0
            drop_redundant(self.idx, got, self.need_t)
            self._take(got)

    def _walks(self, unit: float) -> bool:
        """Large models whose incumbent may be many sites too large: the walk sheds
        sites continuously, where the iterated swaps try one site fewer at a time."""
        far = self.ub - max(self.lb, 0.0) > settings.target_walk_min_gap_sites * unit
        return not self.use_lp and far and not self.closed()

    def _walk(self, unit: float, stop: float) -> np.ndarray | None:
        """The fewest-sites walk from the incumbent, until it stalls: a plan with fewer
        sites, or None."""
        now = clock.now()
        got = fewest_columns_search(
            self.idx,
            self.sel,
            self.need_t,
            seed=self.run.opts.seed,
            deadline=stop,
            workers=search_workers(self.run.opts.threads),
            least=max(0, int(np.ceil(self.lb / unit - 1e-6))),
            patience_s=settings.target_walk_patience.seconds(now, stop),
        )
        self.run.history["walk"] = float(self.idx.cost[got].sum())
        self.run.step("walk")
        return got if got.sum() < self.sel.sum() else None

    def _round_lp(self, p: int, rng: np.random.Generator, stop: float) -> np.ndarray | None:
        now = clock.now()
        capped = min(stop, now + settings.large_rounding_round.seconds(now, stop))
        until = stop if self.use_lp else capped
        return _lp_rounding(
            self.idx, self.need_t, self.y_frac, p, rng, settings.target_rounding_trials, until
        )

    def _iterated_search(self, n_drop: int, attempt: int, stop: float) -> np.ndarray | None:
        """Iterated swaps at one site fewer, from the incumbent without one of its least
        useful sites (the ``n_drop``-th, in turn)."""
        order = removal_order(self.idx, self.sel)
        start = self.sel.copy()
        start[order[n_drop % min(settings.ils_drop_choices, order.size)]] = False
        got, cov = mclp_iterated_search(
            self.idx,
            start,
            stop_at=self.need_t,
            seed=self.run.opts.seed + attempt,
            workers=search_workers(self.run.opts.threads),
            deadline=min(stop, clock.now() + settings.ils_slice_s),
        )
        return got if cov >= self.need_t else None

    def _cost_rounding(self) -> None:
        """Large model with costs (no HiGHS, no iterated swaps, which count sites): LP
        rounding by cost for the rest of the time (``method="exact"``: a brief round)."""
        run = self.run
        now = clock.now()
        until = run.deadline - self.regional_s
        deadline = (
            until - settings.end_margin_s
            if not run.exact
            else now + settings.large_rounding_round.seconds(now, until)
        )
        self.sel, self.ub = _cost_rounding(
            self.idx,
            self.need,
            self.y_frac,
            self.sel,
            run.opts.seed,
            deadline,
            done=lambda cost: _lower_ok(self.lb, cost, self.integral, run.opts.mip_gap),
        )

    def regional_bound(self) -> None:
        """Large models: the LP's integrality gap, region by region."""
        if self.regional_s > 0 and not self.closed() and not clock.expired():
            reg = self.run.regional(psclp_regional_bound, self.R, self.need_t, self.lam)
            self.lb = max(self.lb, reg)

    def cut(self) -> None:
        """Triangle cuts on the LP: a higher bound before HiGHS, which gets them too; an
        integral LP optimum that meets the target is the plan."""
        run, h = self.run, self.h_lp
        if h is None or self.closed():
            return
        with run.timed("cuts") as t:
            sol = h.getSolution()
            tg = tighten_lp(
                h,
                self.R.A,
                float(h.getInfo().objective_function_value),
                np.asarray(sol.col_value, dtype=float),
                np.asarray(sol.col_dual, dtype=float),
                deadline=t + settings.cuts_share * (run.deadline - t),
                closed=lambda o: _lower_ok(o, self.ub, self.integral, run.opts.mip_gap),
                goal=_proof_goal(self.ub, self.integral, run.opts.mip_gap),
            )
            if tg.rounds:
                self.lb = max(self.lb, tg.objective)
                self.cuts = tg.rows if tg.useful else None
                run.history["cut_bound"] = tg.objective
                run.history["cuts"] = tg.summary()
                run.step("cuts")
                y_cut = tg.x[: self.nc]
                if np.all(np.minimum(y_cut, 1.0 - y_cut) <= 1e-9):
                    s_ = y_cut > 0.5
                    better = float(self.idx.cost[s_].sum()) < self.ub - 1e-9
                    if self.idx.covered(s_) >= self.need_t and better:
                        self._take(s_)

    def exact(self) -> str:
        """HiGHS on the reduced model with the cuts, warm-started at the incumbent;
        returns what stopped it (``"time_limit"`` or ``"feasible"``)."""
        R = self.R
        model = psclp_matrices(R.A, R.weight, R.cost, self.need).with_rows(self.cuts, upper=1.0)
        covered_rows = np.asarray(R.A @ self.sel.astype(float)).ravel() > 0
        x0 = np.r_[self.sel.astype(float), covered_rows.astype(float)]
        res = self.run.milp(model, start=x0)
        if res.x is not None and res.objective < self.ub - 1e-9:
            self.sel = res.x[: self.nc] > 0.5
            self.ub = float(R.cost[self.sel].sum())
        if np.isfinite(res.bound):
            self.lb = max(self.lb, res.bound)
        if res.status == "optimal" and res.gap <= 1e-9:
            self.lb = max(self.lb, self.ub)
        return "time_limit" if res.status == "time_limit" else "feasible"


# ---------------------------------------------------------------------- per district
def _solve_per_district(
    problem: CoverageProblem, R: ReducedCover, share: float, run: Run
) -> Solution:
    """Every district reaches the target: a greedy start, then HiGHS with one knapsack
    row per district (``method="heuristic"``: the LP bound instead)."""
    need_g = _district_needs(problem, R, share)
    nc = R.A.shape[1]

    def finish(sel: np.ndarray, lb: float, status: str) -> Solution:
        return run.finish_cover(problem, R, sel, lb, status)

    if not np.any(need_g > 0) or nc == 0:
        return finish(np.zeros(nc, dtype=bool), 0.0, "optimal")
    rg = R.group if R.group is not None else np.zeros(R.A.shape[0], dtype=np.int64)
    sel = _district_greedy(R, rg, need_g, run)
    model = psclp_matrices(R.A, R.weight, R.cost, 0.0, group=rg, group_need=need_g)
    if run.heuristic:
        res = solve_milp(model.relaxed(), time_limit=max(0.1, run.left()))
        run.step("lp")
        return finish(sel, res.objective if res.status == "optimal" else 0.0, "feasible")
    covered_rows = np.asarray(R.A @ sel.astype(float)).ravel() > 0
    x0 = np.r_[sel.astype(float), covered_rows.astype(float)]
    res = run.milp(model, start=x0)
    if res.x is not None and res.objective < float(R.cost[sel].sum()) - 1e-9:
        sel = res.x[:nc] > 0.5
    lb = res.bound if np.isfinite(res.bound) else 0.0
    return finish(sel, lb, solution_status(res.status))


def _district_needs(problem: CoverageProblem, R: ReducedCover, share: float) -> np.ndarray:
    """Persons each district still needs covered (less a tolerance), 0 when met."""
    groups = problem.group
    G = int(groups.max()) + 1 if groups.size else 0
    tot_g = np.bincount(groups, weights=problem.weight, minlength=G)
    pre_g = np.bincount(groups, weights=problem.weight * R.pre_covered, minlength=G)
    need_g = np.maximum(share * tot_g - pre_g, 0.0)
    tol = _EPS * max(1.0, float(tot_g.sum()))
    return np.where(need_g <= tol, 0.0, need_g - tol)


def _district_greedy(R: ReducedCover, rg: np.ndarray, need_g: np.ndarray, run: Run) -> np.ndarray:
    """Greedy for every district, then redundant sites dropped (dearest first)."""
    G = need_g.size
    with run.timed("heuristic"):
        sel = group_greedy(R.A, R.weight, rg, need_g, R.cost)
        for j in np.flatnonzero(sel)[np.argsort(-R.cost[sel], kind="stable")]:
            sel[j] = False
            cov = np.asarray(R.A @ sel.astype(float)).ravel() > 0
            if np.any(np.bincount(rg, weights=R.weight * cov, minlength=G) < need_g):
                sel[j] = True
        run.history["greedy"] = float(R.cost[sel].sum())
    run.step("group-greedy")
    return sel
