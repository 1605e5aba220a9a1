"""p-median (model ``"pmedian"``): open ``p`` new sites minimising the total weighted walk.

Sparse model (only stored = reachable pairs get an assignment variable; never a dense
n x m model), existing sites fixed open
(:func:`~siting.optimize.formulations.pmedian_matrices`)::

    min  sum_(i,j) w_i d_ij x_ij
    s.t. sum_j x_ij = 1                  every demand point is served
         x_ij <= y_j                     only by an open site
         sum_(j candidate) y_j = p
         sum_i q_i x_ij <= cap_j y_j     (capacitated variant; q = persons served)
         y binary, x >= 0 (binary when single-sourced and capacitated)

:func:`solve_pmedian` takes one of three paths:

* uncapacitated: greedy add -> fast interchange (Whitaker) -> Lagrangian lower bound ->
  HiGHS warm-started when a gap remains (not above ``settings.uncapacitated_pairs_limit``
  reachable pairs with ``method="auto"``: there the bound gets the time);
* capacitated: HiGHS directly (its start comes from HiGHS' own heuristics);
* capacitated, above ``settings.pairs_limit`` reachable pairs or with
  ``method="heuristic"`` (HiGHS cannot solve the root LP of a city-scale model: on
  Liechtenstein, 747,000 pairs, nothing in 38 s on a 20-s limit): the uncapacitated
  plan, its best assignment within capacity (:mod:`siting.optimize.assignment`), swaps
  priced by that LP's duals, single-sourced the exact assignment of the final plan, and
  a Lagrangian bound started from the uncapacitated one's prices.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from siting import validation
from siting._docstrings import shared_doc
from siting.errors import InfeasibleError, ParameterError
from siting.optimize import assignment, clock, settings
from siting.optimize.bounds import (
    capacitated_lagrangian,
    capacitated_pmedian_lagrangian,
    pmedian_lagrangian,
    pmedian_lagrangian_prices,
)
from siting.optimize.formulations import Pairs, pmedian_matrices
from siting.optimize.heuristics import pm_state, pmedian_greedy, pmedian_interchange
from siting.optimize.highs import solution_status
from siting.optimize.pipeline import Run, SolveOptions
from siting.optimize.problem import CoverageProblem, Solution, relative_gap

__all__ = ["solve_pmedian"]


@shared_doc
@clock.work_budget()
def solve_pmedian(
    problem: CoverageProblem,
    p: int,
    *,
    max_distance_m: float | None = None,
    capacitated: bool = False,
    load: np.ndarray | None = None,
    single_source: bool = True,
    drop_unreachable: bool = False,
    options: SolveOptions | None = None,
    max_distance: float | None = None,
) -> Solution:
    """Open ``p`` new sites minimising the person-metres walked to the serving site.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``dist`` (sparse, metres; stored entries are the reachable pairs);
        ``capacity`` (persons) for the capacitated variant.
    p : int
        New sites, 0 <= p <= number of candidates.
    max_distance_m : float, optional
        Pairs farther than this (metres) are unreachable.
    capacitated : bool
        Each site serves at most ``problem.capacity[j]`` persons.
    load : ndarray, optional
        Persons each demand point takes from a site's capacity (default: ``weight``).
    single_source : bool
        Capacitated: each demand point is served by one site (else it may be split).
    drop_unreachable : bool
        Leave out demand points no site reaches (reported in ``Solution.unreachable``)
        instead of raising :class:`~siting.errors.InfeasibleError`.
    %(solve_options)s
    max_distance : float, optional
        Old name of ``max_distance_m``.

    Returns
    -------
    Solution
        ``objective`` = sum of weight x distance (person-metres); ``assignment`` = serving
        site per demand point (-1 when dropped); capacitated: ``served`` and
        ``served_before``, persons served within capacity per demand point, by the plan
        and by the existing sites alone.

    Raises
    ------
    ParameterError
        No distance matrix, or ``p`` / ``max_distance_m`` out of range.
    InfeasibleError
        A demand point no site reaches (without ``drop_unreachable``), no choice of ``p``
        sites that reaches every point, or capacities too small for the persons.
    """
    run = Run(options)
    if problem.dist is None:
        msg = "p-median needs problem.dist, a sparse walk-distance matrix in metres"
        raise ParameterError(msg)
    p = validation.count("p", p, problem.n_candidates, "the number of candidate sites")
    if max_distance_m is None:
        max_distance_m = max_distance
    if max_distance_m is not None:
        max_distance_m = validation.METRES("max_distance_m", max_distance_m)
    m = _Median(problem, p, max_distance_m, drop_unreachable, load, run)
    if capacitated:
        m.capacities(single_source)
        if not run.exact and (m.D.nnz > settings.pairs_limit or run.heuristic):
            return m.large_capacitated()
    else:
        m.local_search()
        m.lagrangian_bound()
        if m.done():
            return m.finish("feasible", None)
    return m.exact()


class _Median:
    """The reachable part of a p-median (distances ``D`` of the kept rows, weights
    ``w``, loads ``q``) and what its stages pass on: the plan ``sel``, its cost ``ub``
    and the lower bound ``lb``."""

    def __init__(
        self,
        problem: CoverageProblem,
        p: int,
        max_distance_m: float | None,
        drop_unreachable: bool,
        load: np.ndarray | None,
        run: Run,
    ) -> None:
        self.problem, self.p, self.run = problem, p, run
        self.max_distance_m = max_distance_m
        D = _within(problem.dist, max_distance_m)
        self.keep_rows = _reached(problem, D, max_distance_m, drop_unreachable)
        self.D = D[self.keep_rows]
        self.w = problem.weight[self.keep_rows]
        self.q = (problem.weight if load is None else np.asarray(load, float))[self.keep_rows]
        self.fixed = problem.existing.copy()
        self.cap: np.ndarray | None = None
        self.single_source = True
        self.sel: np.ndarray | None = None
        self.ub = np.inf
        self.lb = 0.0
        self.feasible = False
        run.history.update(pairs=int(self.D.nnz), demand=int(self.D.shape[0]))
        self.big = (float(self.D.data.max(initial=0.0)) + 1.0) * max(1.0, float(self.w.sum()))
        self.big = self.big * 10.0 + 1.0  # person-metres charged to a row no site serves
        D_ = self.D
        self.integral = bool(
            np.all(np.round(D_.data) == D_.data) and np.all(np.round(self.w) == self.w)
        )

    # ------------------------------------------------------------------ uncapacitated
    def local_search(self) -> None:
        """Greedy add, then fast interchange."""
        run = self.run
        with run.timed("heuristic"):
            allowed = ~self.fixed
            sel = pmedian_greedy(self.D, self.w, self.p, self.fixed, allowed, self.big)
            self.sel, self.ub = pmedian_interchange(
                self.D, self.w, sel, self.fixed, allowed, self.big
            )
            run.history["heuristic"] = self.ub
        run.step("greedy", "interchange")
        self.feasible = self.ub < self.big

    @property
    def large(self) -> bool:
        """Above the pairs limit HiGHS cannot solve the root LP in useful time (nor stop
        at its limit): the Lagrangian bound gets the time (``method="auto"``)."""
        return self.D.nnz > settings.uncapacitated_pairs_limit and self.run.opts.method == "auto"

    def lagrangian_bound(self) -> None:
        """The Lagrangian lower bound (assignment rows relaxed), when the plan serves all."""
        run = self.run
        if not self.feasible:
            return
        if run.heuristic:
            iterations = settings.pmedian_lagrangian_iterations_heuristic
        elif self.large:
            iterations = settings.pmedian_lagrangian_iterations_large
        else:
            iterations = settings.pmedian_lagrangian_iterations
        budget = settings.pmedian_lagrangian_large if self.large else settings.pmedian_lagrangian
        with run.timed("lagrangian"):
            lb = pmedian_lagrangian(
                self.D,
                self.w,
                self.p,
                self.fixed,
                ~self.fixed,
                self.ub,
                iterations=iterations,
                time_limit=run.seconds(budget),
                stop_at=self.ub - 1 + 1e-6 if self.integral else self.ub,
            )
            self.lb = max(lb, 0.0)
            run.history["lagrangian_bound"] = self.lb
        run.step("lagrangian")

    def done(self) -> bool:
        """No HiGHS: the bound proves the plan, or the model is large or heuristic."""
        if not self.feasible:
            return False
        gap = relative_gap(self.ub, self.lb, integral=self.integral)
        return self.run.heuristic or self.large or gap <= self.run.opts.mip_gap

    # ------------------------------------------------------------------ capacitated
    def capacities(self, single_source: bool) -> None:
        """Check that the existing sites and the ``p`` largest candidates could hold
        everyone (else no plan can)."""
        if self.problem.capacity is None:
            msg = "capacitated=True needs problem.capacity (persons per site)"
            raise ParameterError(msg)
        cap = self.cap = self.problem.capacity
        self.single_source = single_source
        fixed, q, p = self.fixed, self.q, self.p
        best_cap = float(cap[fixed].sum() + np.sort(cap[~fixed])[::-1][:p].sum())
        if best_cap + 1e-9 < q.sum():
            msg = (
                f"total capacity cannot serve the demand: {q.sum():,.0f} persons need a "
                f"place but existing sites plus the {p} largest candidates offer at most "
                f"{best_cap:,.0f}; open more sites (raise p) or raise capacities"
            )
            raise InfeasibleError(msg)

    def large_capacitated(self) -> Solution:
        """City-scale capacitated p-median (no branch-and-bound): see the module docstring."""
        P = Pairs(self.D, self.w, self.q, self.cap)
        sel, a = _capacitated_search(P, self.fixed, self.p, self.single_source, self.run)
        cost = a.cost if a.unplaced == 0.0 else np.inf
        self.run.history["swapped"] = cost
        if not np.isfinite(cost):
            _no_place(P, self.fixed, self.p, sel, a, self.single_source)
        self.sel, self.ub = sel, cost
        self.lb = max(_capacitated_bounds(P, self.fixed, self.p, cost, self.run), 0.0)
        self.run.step("greedy", "interchange", "assignment", "swaps", "lagrangian")
        return self.finish("feasible", a.x)

    # ------------------------------------------------------------------ HiGHS
    def exact(self) -> Solution:
        """HiGHS on the sparse model (warm-started with the uncapacitated plan)."""
        run, D, w = self.run, self.D, self.w
        capacitated = self.cap is not None
        model = pmedian_matrices(
            D,
            w,
            self.p,
            self.fixed,
            capacity=self.cap,
            load=self.q if capacitated else None,
            single_source=self.single_source,
        )
        start = None
        if self.sel is not None:
            rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
            xa = (D.indices == pm_state(D, self.big, self.sel).c1[rows]).astype(float)
            # one pair per row (ties on the column index cannot occur in CSR)
            start = np.r_[self.sel.astype(float), xa]
        res = run.milp(model, start=start)
        if res.status == "infeasible" and res.x is None:
            raise InfeasibleError(self._infeasible_message())
        x = None
        if res.x is None:
            self.ub = np.inf
        else:
            n_sites = self.problem.n_sites
            self.sel, x = res.x[:n_sites] > 0.5, res.x[n_sites:]
            if not capacitated:  # nearest open site; exact arithmetic on the distances
                x = None
                self.ub = float((w * pm_state(D, np.inf, self.sel).d1).sum())
            else:
                if self.single_source:
                    x = (x > 0.5).astype(float)
                rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
                self.ub = float((w[rows] * D.data * x).sum())
        if np.isfinite(res.bound):
            self.lb = max(self.lb, res.bound)
        status = solution_status(res.status)
        if status == "optimal":
            self.lb = max(self.lb, self.ub)
        return self.finish(status, x)

    def _infeasible_message(self) -> str:
        cap = self.cap is not None
        return (
            f"no choice of {self.p} new site(s) lets every demand point reach an open site"
            + (" within capacity" if cap else "")
            + "; raise p or add candidate sites"
            + (", raise the capacities" if cap else "")
            + (", or raise max_distance_m" if self.max_distance_m is not None else "")
        )

    # ------------------------------------------------------------------ solution
    def finish(self, status: str, x: np.ndarray | None) -> Solution:
        """The Solution: the serving site of each kept row (from the MILP's shares ``x``,
        else the nearest open site) and, capacitated, the persons served."""
        problem, D, keep_rows = self.problem, self.D, self.keep_rows
        n = problem.n_demand
        sel = problem.existing.copy() if self.sel is None else self.sel
        assignment_ = np.full(n, -1, dtype=np.int64)
        rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
        if x is not None:  # the largest share of each row
            order = np.lexsort((-x, rows))
            first = np.r_[True, rows[order][1:] != rows[order][:-1]] if order.size else order
            pick = order[first]
            ok = x[pick] > 1e-6
            assignment_[keep_rows[rows[pick][ok]]] = D.indices[pick][ok]
        else:
            assignment_[keep_rows] = pm_state(D, np.inf, sel).c1
        split = self.cap is not None and not self.single_source
        served = served_before = None
        if self.cap is not None:
            served_before, served = _served(problem, D, self.w, self.q, keep_rows, sel, x)
        return self.run.finish(
            problem,
            sel,
            self.ub,
            self.lb,
            status,
            # split plans cost fractions of a person-metre: no whole-number bound
            integral=self.integral and not split,
            covered=float(problem.weight[assignment_ >= 0].sum()),
            unreachable=np.setdiff1d(np.arange(n), keep_rows),
            assignment=assignment_,
            served=served,
            served_before=served_before,
        )


# ---------------------------------------------------------------------- reach
def _within(dist: sp.csr_matrix, max_distance_m: float | None) -> sp.csr_matrix:
    """The pairs of ``dist`` within ``max_distance_m`` metres (all of them when None)."""
    D = dist.copy()
    if max_distance_m is None:
        return D
    keep = D.data <= max_distance_m
    rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
    D = sp.csr_matrix((D.data[keep], (rows[keep], D.indices[keep])), shape=D.shape)
    D.sort_indices()
    return D


def _reached(
    problem: CoverageProblem,
    D: sp.csr_matrix,
    max_distance_m: float | None,
    drop_unreachable: bool,
) -> np.ndarray:
    """The demand points some site reaches; the others are refused, naming them, unless
    ``drop_unreachable``."""
    reach = np.diff(D.indptr) > 0
    unreach = np.flatnonzero(~reach)
    if unreach.size and not drop_unreachable:
        w = problem.weight
        shown = ", ".join(str(i) for i in unreach[:10]) + (" ..." if unreach.size > 10 else "")
        within = "" if max_distance_m is None else f" within {max_distance_m:g} m"
        msg = (
            f"{unreach.size} demand point(s) with {w[unreach].sum():,.0f} persons are "
            f"reached by no site{within} (demand indices {shown}); add sites near them, "
            "raise max_distance_m, or pass drop_unreachable=True "
            "(solve.drop_unreachable: true in a scenario) to leave them out"
        )
        raise InfeasibleError(msg)
    if not reach.any():
        within = "" if max_distance_m is None else f" within {max_distance_m:g} m"
        msg = (
            f"None of the {reach.size} demand points (with {problem.weight.sum():,.0f} "
            f"persons) is reached by any site{within}: with drop_unreachable=True a "
            "p-median plan would have no one to serve. Check that the sites and the "
            "demand cover the same place, or allow longer walks (minutes=, max_distance_m)."
        )
        raise InfeasibleError(msg)
    return np.flatnonzero(reach)


def _served(
    problem: CoverageProblem,
    D: sp.csr_matrix,
    w: np.ndarray,
    q: np.ndarray,
    keep_rows: np.ndarray,
    sel: np.ndarray,
    x: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Persons served per demand point within capacity: by the existing sites alone
    (their best allocation), and by the plan (its shares ``x``; without them, no plan was
    found and the open sites are the existing ones)."""
    n = problem.n_demand
    A = sp.csr_matrix((np.ones(D.nnz), D.indices, D.indptr), shape=D.shape)
    rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))

    def served_by(open_: np.ndarray, shares: np.ndarray | None) -> np.ndarray:
        out = np.zeros(n)
        if shares is None:
            alloc = assignment.best_allocation(
                A, w, problem.capacity, open_, settings.served_allocation_s, load=q, capped=False
            )
            if alloc is None:
                return np.full(n, np.nan)
            shares = alloc.x
        placed = np.bincount(rows, weights=shares, minlength=A.shape[0])
        out[keep_rows] = np.minimum(placed, 1.0) * w
        return out

    before = served_by(problem.existing, None)
    return before, (served_by(sel, x) if x is not None else before.copy())


# ---------------------------------------------------------------------- city-scale, capacitated
def _capacitated_search(
    P: Pairs, fixed: np.ndarray, p: int, single_source: bool, run: Run
) -> tuple[np.ndarray, assignment.Assignment]:
    """The uncapacitated plan (greedy add, fast interchange: often capacities barely
    bind), its best assignment, swaps, and single-sourced the exact assignment."""
    limit, history, t0 = run.opts.time_limit, run.history, run.t0
    big = P.far * max(1.0, float(P.w.sum())) + 1.0  # metres charged to a row left out
    sel = pmedian_greedy(P.D, P.w, p, fixed, ~fixed, big)
    sel, _ = pmedian_interchange(P.D, P.w, sel, fixed, ~fixed, big)
    assign = assignment.Assigner(P)
    # the start's assignment gets the time it needs
    a = assign(
        sel,
        max(limit - (clock.now() - t0), settings.cpmedian_first_assignment.of(limit)),
        required=True,
    )
    if a is None:
        msg = (
            f"time_limit={limit:g} s ran out before the first assignment of demand to "
            f"sites was found ({clock.work_done():.1f} s of work so far on {P.D.nnz:,} "
            "reachable pairs); raise time_limit"
        )
        raise ParameterError(msg)
    history["start"] = a.cost if a.unplaced <= 0 else np.inf
    history["start_unplaced"] = a.unplaced
    deadline = t0 + settings.cpmedian_swaps.of(limit)
    sel, a, moves = assignment.pmedian_swaps(P, assign, fixed, sel, a, deadline)
    history.update(moves)
    if single_source:
        a = _single_sourced(P, sel, a, run)
    history["unplaced"] = a.unplaced
    history["unplaced_persons"] = a.unplaced_persons
    return sel, a


def _single_sourced(
    P: Pairs, sel: np.ndarray, a: assignment.Assignment, run: Run
) -> assignment.Assignment:
    """Each point whole to one site: the split rows moved, then the exact assignment
    when the open sites' pairs are few enough (HiGHS' presolve overruns larger ones)."""
    limit = run.opts.time_limit
    with run.timed("reassign"):
        a = assignment.rounded(P, sel, a)
        exact = None
        if int(sel[P.cols].sum()) <= settings.cpmedian_exact_pairs:
            seconds = min(settings.cpmedian_exact.of(limit), run.t0 + limit - clock.now())
            exact = assignment.exact_single_source(P, sel, a, max(0.1, seconds))
        if exact is not None and assignment.better(exact, a, 1e-9 * max(1.0, float(P.n))):
            run.history["reassigned"] = a.cost - exact.cost
            a = exact
    return a


def _capacitated_bounds(P: Pairs, fixed: np.ndarray, p: int, cost: float, run: Run) -> float:
    """The uncapacitated bound (tight where capacities barely bind), then from its prices
    the capacitated one: Liechtenstein, p = 150, 3,000 persons per site: 11.24 M
    person-metres in 4 s, against 10.59 M from the LP duals in 5 s."""
    limit, t0 = run.opts.time_limit, run.t0
    with run.timed("lagrangian"):
        left = max(
            settings.cpmedian_lagrangian.of(limit),
            settings.cpmedian_bounds_until * limit - (clock.now() - t0),
        )
        if clock.expired():  # real time is out (a slow machine): one step each
            left = 0.0
        w1 = clock.now()
        lb, u = pmedian_lagrangian_prices(
            P.D,
            P.w,
            p,
            fixed,
            ~fixed,
            cost,
            iterations=settings.cpmedian_uncapacitated_iterations,
            time_limit=0.5 * left,
        )
        run.history["uncapacitated_bound"] = lb
        lb_cap = capacitated_pmedian_lagrangian(
            P,
            fixed,
            p,
            cost,
            u0=u,
            iterations=settings.cpmedian_lagrangian_iterations,
            time_limit=left - (clock.now() - w1),
        )
        lb = max(lb, lb_cap)
        run.history["lagrangian_bound"] = lb
    return lb


def _no_place(
    P: Pairs,
    fixed: np.ndarray,
    p: int,
    sel: np.ndarray,
    a: assignment.Assignment,
    single_source: bool,
) -> None:
    """Raise InfeasibleError: the best plan found leaves demand points without a place;
    the message says whether a bound proves that no plan can place everyone."""
    rows, persons = a.unplaced, a.unplaced_persons
    left = (
        f"the best plan found leaves {rows:,.{0 if rows == round(rows) else 2}f} "
        f"demand point(s) with {persons:,.{0 if persons >= 10 else 2}f} persons without "
        "a place"
    )
    most = _served_at_most(P, fixed, p, sel)
    if most is not None:
        msg = (
            f"no plan with {p} new site(s) can give every demand point a place within "
            f"capacity: at most {most:,.0f} of the {float(P.w.sum()):,.0f} persons can have "
            f"one (a proven bound; {left}); raise p or the capacities, or maximise the "
            "persons served instead (model 'mclp' with capacity=)"
        )
        raise InfeasibleError(msg)
    msg = (
        f"no plan with {p} new site(s) was found in which every demand point has a "
        f"place within capacity ({left}); raise p or the capacities"
        + (", allow split assignment (single_source=False)" if single_source else "")
        + ', or try method="exact" with a longer time_limit'
    )
    raise InfeasibleError(msg)


def _served_at_most(P: Pairs, fixed: np.ndarray, p: int, sel: np.ndarray) -> float | None:
    """The most persons any plan with ``p`` new sites can place within capacity, when the
    capacitated coverage bound proves that fewer than all can (loads equal to persons
    only), else None. Its prices start from the best allocation to ``sel``, the plan
    found."""
    if not np.allclose(P.q, P.w):
        return None
    D = P.D
    A = sp.csr_matrix((np.ones(D.nnz), D.indices, D.indptr), shape=D.shape)
    total = float(P.w.sum())
    alloc = assignment.best_allocation(A, P.w, P.cap, sel, settings.cpmedian_proof_s)
    u0 = None if alloc is None else alloc.row_price
    lower = 0.0 if alloc is None else alloc.served
    bound, _ = capacitated_lagrangian(
        A,
        P.w,
        P.cap,
        fixed,
        p,
        lower,
        u0=u0,
        iterations=settings.cpmedian_proof_iterations,
        time_limit=settings.cpmedian_proof_s,
    )
    return bound if bound < total * (1 - 1e-9) else None
