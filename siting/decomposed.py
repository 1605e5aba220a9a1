"""Decomposed siting on Dask: the fewest sites to a target, district by district.

Each district (a demand column such as ``"district"``) becomes one small covering
problem: its demand points and the sites that reach them. Districts are solved as Dask
tasks (a few districts per task) by the ordinary :func:`~siting.optimize.solve_target`,
and their plans are merged into one.

Two questions, two ways of coordinating the districts:

``scope="district"`` (every district reaches the target)
    A site near a border reaches several districts. Its cost is split between them in
    proportion to the demand points it reaches in each (``sum_g s_gj = c_j``), and each
    district is solved with its shares. The union of the districts' plans meets every
    district's target (a district's own sites cover it; more sites only help), and
    redundant sites are then closed. **Bound**: for any optimal plan ``y*`` of the whole
    problem, ``y*`` restricted to district ``g``'s sites meets ``g``'s target at cost
    ``s_g'y*`` under the shares, so ``OPT_g(s_g) <= s_g'y*`` and summing over districts
    ``sum_g OPT_g(s_g) <= c'y* = OPT``: the sum of the districts' proven bounds is a
    proven bound of the whole problem. Without shared sites it is the whole problem,
    solved exactly when every district is.

``scope="total"`` (the region as a whole reaches the target)
    The persons to cover are allocated to districts by the marginal gains of a greedy
    plan on the whole region (each district gets what the greedy covers there, which
    adds up to the region's need); each district finds its cheapest plan for its share
    (cost shares as above), the union is repaired (greedy additions if it falls short)
    and improved by the local search of :mod:`siting.optimize.heuristics` on the whole
    region. **Bound**: the allocation is a choice, so the districts' bounds prove
    nothing here; the bound is that of the whole region's partial covering model, from
    its LP relaxation (HiGHS' dual simplex) when the reduced model has at most
    ``settings.lp_nnz_limit`` nonzeros, above that from HiGHS' first-order LP (PDLP)
    duals as a Lagrangian bound polished by subgradient steps
    (:mod:`siting.optimize.bounds`). It runs as one more Dask task beside the districts,
    for about as long as they take.

The calling process holds the coverage matrix; each task gets its district's rows and
columns (a few MB), so workers on other machines need nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import validation
from .errors import InfeasibleError, ParameterError
from .optimize import settings
from .optimize.bounds import lp_psclp, lp_psclp_first_order, psclp_lagrangian
from .optimize.heuristics import CoverIndex, drop_redundant, greedy_cover, improve_partial_cover
from .optimize.partial_cover import infeasible_target_message, solve_target
from .optimize.pipeline import Run, SolveOptions
from .optimize.problem import CoverageProblem, Solution
from .optimize.reduce import reduce_cover
from .tiles import _default_client, _peak_mb

__all__ = ["DistrictJob", "DistrictResult", "decomposed_target", "solve_decomposed"]

SCOPES = ("district", "total")
#: relative margin taken off the summed district bounds (float error of the cost shares)
_BOUND_MARGIN = 1e-9


@dataclass(frozen=True)
class DistrictJob:
    """One district's covering problem, as shipped to a worker.

    Parameters
    ----------
    district : int
        District index.
    sites : numpy.ndarray
        Global site index of each column.
    cover : scipy.sparse.csr_matrix
        District demand points × ``sites``: reach within the threshold.
    weight : numpy.ndarray
        Persons at each of the district's demand points.
    existing : numpy.ndarray
        Which of ``sites`` are open already.
    cost : numpy.ndarray
        The district's share of each site's cost.
    share : float
        Share of the district's persons to cover, in (0, 1].
    """

    district: int
    sites: np.ndarray
    cover: sp.csr_matrix
    weight: np.ndarray
    existing: np.ndarray
    cost: np.ndarray
    share: float


@dataclass(frozen=True)
class DistrictResult:
    """A district's plan: the global sites it opens and its proven bound (under the shares).

    Parameters
    ----------
    district : int
        District index.
    sites : numpy.ndarray
        Global indices of the sites the district's plan opens (existing included).
    objective, bound : float
        The plan's cost and proven lower bound, under the district's cost shares.
    status : str
        The district solve's status.
    seconds : float
        Wall seconds of the solve.
    peak_mb : float
        Peak resident memory of the worker process, MB.
    """

    district: int
    sites: np.ndarray
    objective: float
    bound: float
    status: str
    seconds: float
    peak_mb: float


def run_districts(jobs: Sequence[DistrictJob], options: SolveOptions) -> list[DistrictResult]:
    """Solve districts one after the other (a Dask task; also callable in-process).

    Parameters
    ----------
    jobs : sequence of DistrictJob
        The districts of one task.
    options : SolveOptions
        Options of each district's solve (``time_limit`` per district).

    Returns
    -------
    list of DistrictResult
        One per job.
    """
    out = []
    for job in jobs:
        problem = CoverageProblem(
            cover=job.cover, weight=job.weight, existing=job.existing, cost=job.cost
        )
        sol = solve_target(problem, min(job.share, 1.0), options=options)
        out.append(
            DistrictResult(
                job.district,
                job.sites[sol.selected],
                float(sol.objective),
                float(sol.bound),
                sol.status,
                float(sol.seconds),
                _peak_mb(),
            )
        )
    return out


# ---------------------------------------------------------------------- splitting
@dataclass
class _Districts:
    """The region cut into districts: rows of each, and each site's cost shares."""

    problem: CoverageProblem
    order: np.ndarray = field(init=False)
    ptr: np.ndarray = field(init=False)
    total: np.ndarray = field(init=False)
    reach: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        g = self.problem.group
        n = int(g.max()) + 1 if g.size else 0
        self.order = np.argsort(g, kind="stable")
        self.ptr = np.r_[0, np.cumsum(np.bincount(g, minlength=n))]
        self.total = np.bincount(g, weights=self.problem.weight, minlength=n)
        self.reach = np.bincount(
            g, weights=self.problem.weight * self.problem.reachable_mask(), minlength=n
        )
        # demand points each site reaches, over all districts (the cost shares' divisor)
        self._rows_per_site = np.bincount(self.problem.cover.indices, minlength=self.n_sites)

    @property
    def n(self) -> int:
        return len(self.total)

    @property
    def n_sites(self) -> int:
        return self.problem.n_sites

    def rows(self, g: int) -> np.ndarray:
        return self.order[self.ptr[g] : self.ptr[g + 1]]

    def job(self, g: int, share: float) -> DistrictJob:
        p = self.problem
        rows = self.rows(g)
        sub = p.cover[rows]
        sites, local = np.unique(sub.indices, return_inverse=True)
        A = sp.csr_matrix((sub.data, local, sub.indptr), shape=(len(rows), len(sites)))
        here = np.bincount(local, minlength=len(sites))
        cost = p.cost[sites] * here / self._rows_per_site[sites]
        return DistrictJob(g, sites, A, p.weight[rows], p.existing[sites], cost, share)


def _check_reach(d: _Districts, share: float, scope: str, names: Sequence[str] | None) -> None:
    """An InfeasibleError naming the district (or the region) whose target is out of reach."""
    parts = (
        [(g, d.total[g], d.reach[g]) for g in range(d.n)]
        if scope == "district"
        else [(None, d.total.sum(), d.reach.sum())]
    )
    reachable = d.problem.reachable_mask()
    for g, tot, reach in parts:
        if share * tot <= reach + 1e-9 * max(1.0, tot):
            continue
        rows = d.rows(g) if g is not None else np.arange(d.problem.n_demand)
        bad = rows[~reachable[rows]]
        where = "" if g is None else f" in {names[g] if names else f'district {g}'}"
        msg = infeasible_target_message(
            share,
            tot,
            float(d.problem.weight[bad].sum()),
            len(bad),
            reach / tot if tot > 0 else 0.0,
            where=where,
        )
        raise InfeasibleError(msg)


# ---------------------------------------------------------------------- the whole region
@dataclass
class _Region:
    """The whole region, reduced (:func:`~siting.optimize.reduce.reduce_cover`: demand with
    the same covering sites merged, dominated candidates dropped): the allocation's
    greedy, the final pass and the bound work on it."""

    problem: CoverageProblem
    need: float

    def __post_init__(self) -> None:
        self.R = reduce_cover(self.problem)
        self.cols = self.R.cols
        self.need_new = self.need - self.R.base_weight
        self.idx = CoverIndex.build(self.R.A, self.R.weight, self.R.cost)
        self.need_t = self.need_new - self.idx.tol()

    def sites(self, y: np.ndarray) -> np.ndarray:
        """Open sites (global mask) of a column selection ``y``, existing included."""
        p = self.problem
        return self.R.selected_sites(y, p.n_sites, p.existing)

    def greedy(self) -> np.ndarray:
        return greedy_cover(self.idx, self.need_new)[0]

    def improve(self, sites: np.ndarray, options: SolveOptions) -> np.ndarray:
        """Repair (greedy additions) and improve (local search) a plan of the region."""
        y = sites[self.cols].copy()
        if self.idx.covered(y) < self.need_t:
            y = greedy_cover(self.idx, self.need_new, start=y)[0]
        y, _ = improve_partial_cover(
            self.idx, self.need_new, y, seed=options.seed, kicks=0, time_limit=options.time_limit
        )
        drop_redundant(self.idx, y, self.need_t)
        return y


def region_bound(
    A: sp.csr_matrix,
    weight: np.ndarray,
    cost: np.ndarray,
    need: float,
    upper: float,
    seconds: float,
) -> tuple[float, str]:
    """A proven lower bound of partial covering (a Dask task; also callable in-process).

    Parameters
    ----------
    A : scipy.sparse.csr_matrix
        Demand × candidates.
    weight, cost : numpy.ndarray
        Persons per row, cost per column.
    need : float
        Persons to cover.
    upper : float
        Cost of a known plan (the subgradient step's target).
    seconds : float
        Time for the bound.

    Returns
    -------
    tuple of (float, str)
        The bound and how it was proven (``"lp"`` or ``"pdlp+lagrangian"``).
    """
    if need <= 0:
        return 0.0, "met"
    if A.nnz <= settings.lp_nnz_limit:
        lb, _ = lp_psclp(A, weight, cost, need, time_limit=seconds)
        if np.isfinite(lb):
            return max(lb, 0.0), "lp"
    pdb, lam, _ = lp_psclp_first_order(A, weight, cost, need, time_limit=0.5 * seconds)
    lag, _, _ = psclp_lagrangian(
        A, weight, cost, need, upper, time_limit=0.5 * seconds, lam0=lam, iterations=300
    )
    return max(pdb, lag, 0.0), "pdlp+lagrangian"


# ---------------------------------------------------------------------- running
def _district_jobs(d: _Districts, shares: np.ndarray, per_task: int) -> list[list[DistrictJob]]:
    todo = [g for g in range(d.n) if shares[g] > 0]
    jobs = [d.job(g, float(shares[g])) for g in todo]
    return [jobs[i : i + per_task] for i in range(0, len(jobs), per_task)]


def _workers(client) -> int:
    return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))


def _gather(client, groups, options, extra=None):
    """Submit the districts' tasks (and one extra call), gather their results."""
    extra_f = None
    if extra is not None:  # the region's matrix travels as data, not inside the graph
        func, *args = extra
        extra_f = client.submit(func, *client.scatter(args), pure=False)
    futures = client.map(run_districts, client.scatter(groups), options=options, pure=False)
    results = [r for batch in client.gather(futures) for r in batch]
    return results, (extra_f.result() if extra_f is not None else None)


def _close_redundant(d: _Districts, sel: np.ndarray, need_g: np.ndarray) -> np.ndarray:
    """Close new sites (dearest first) whose removal keeps every district at its need."""
    p = d.problem
    T = sp.csc_matrix(p.cover)
    count = np.asarray(p.cover @ sel.astype(np.int32)).ravel()
    covered_g = np.bincount(p.group, weights=p.weight * (count > 0), minlength=d.n)
    tol = 1e-9 * max(1.0, float(d.total.sum()))
    new = np.flatnonzero(sel & ~p.existing)
    for j in new[np.argsort(-p.cost[new], kind="stable")]:
        rows = T.indices[T.indptr[j] : T.indptr[j + 1]]
        lost = rows[count[rows] == 1]
        loss = np.bincount(p.group[lost], weights=p.weight[lost], minlength=d.n)
        if np.all((loss <= 0) | (covered_g - loss >= need_g - tol)):
            sel[j] = False
            count[rows] -= 1
            covered_g -= loss
    return sel


def _summary(results: list[DistrictResult]) -> dict[str, Any]:
    return {
        "districts": len(results),
        "district_seconds_max": max((r.seconds for r in results), default=0.0),
        "district_seconds_sum": sum(r.seconds for r in results),
        "worker_peak_mb": max((r.peak_mb for r in results), default=0.0),
        "districts_optimal": sum(r.status == "optimal" for r in results),
    }


def decomposed_target(
    problem: CoverageProblem,
    target: float | str = 0.9,
    *,
    scope: str = "district",
    client=None,
    districts_per_task: int | None = None,
    options: SolveOptions | None = None,
) -> Solution:
    """The fewest new sites (least cost) to a target, solved district by district on Dask.

    Parameters
    ----------
    problem : CoverageProblem
        With ``group`` (the district of each demand point; ``group_names`` for
        messages).
    target : float or str
        Share of persons to cover, in (0, 1]: ``0.9`` or ``"90%"``.
    scope : {"district", "total"}
        ``"district"``: every district reaches the target; ``"total"``: the region does.
    client : distributed.Client, optional
        Default: a ``LocalCluster`` with one single-threaded worker per core, closed
        afterwards.
    districts_per_task : int, optional
        Districts solved in one task (default: about four tasks per worker).
    options : SolveOptions, optional
        ``time_limit`` is per district (and, ``scope="total"``, again for the bound and
        the final pass); ``seed``, ``mip_gap``, ``method`` as for every solve.

    Returns
    -------
    Solution
        The merged plan with a proven bound (see the module's notes);
        ``history["decomposed"]`` holds the districts' numbers.

    Raises
    ------
    ParameterError
        No ``problem.group``, an unknown ``scope``, ``districts_per_task`` < 1.
    InfeasibleError
        A district (or the region) cannot reach the target.
    """
    opts = options or SolveOptions()
    share = validation.SHARE("target", target)
    validation.choice("scope", scope, SCOPES)
    if problem.group is None:
        msg = "decomposed siting needs the district of each demand point (problem.group)"
        raise ParameterError(msg)
    if districts_per_task is not None and int(districts_per_task) < 1:
        msg = f"districts_per_task={districts_per_task!r}: give a whole number >= 1."
        raise ParameterError(msg)
    d = _Districts(problem)
    _check_reach(d, share, scope, problem.group_names)
    own = None
    if client is None:
        client, own = _default_client()
    try:
        per_task = districts_per_task or max(1, math.ceil(d.n / (4 * _workers(client))))
        if scope == "district":
            return _per_district(d, share, client, per_task, opts)
        return _whole_region(d, share, client, per_task, opts)
    finally:
        if own is not None:
            client.close()
            own.close()


def _per_district(
    d: _Districts, share: float, client, per_task: int, opts: SolveOptions
) -> Solution:
    run = Run(opts)
    p = d.problem
    shares = np.where(d.total > 0, share, 0.0)
    results, _ = _gather(client, _district_jobs(d, shares, per_task), opts)
    run.step("districts")
    sel = p.existing.copy()
    for r in results:
        sel[r.sites] = True
    sel = _close_redundant(d, sel, share * d.total)
    run.step("close-redundant")
    bound = sum(r.bound for r in results)
    bound -= _BOUND_MARGIN * max(1.0, abs(bound))
    run.history["decomposed"] = _summary(results) | {
        "scope": "district",
        "bound": "districts",
        "districts_bound": bound,
    }
    return _finish(run, p, sel, bound)


def _whole_region(
    d: _Districts, share: float, client, per_task: int, opts: SolveOptions
) -> Solution:
    run = Run(opts)
    p = d.problem
    region = _Region(p, share * p.total_weight)
    greedy = region.sites(region.greedy())
    covered = p.covered_mask(greedy)
    alloc = np.bincount(p.group, weights=p.weight * covered, minlength=d.n)
    shares = np.clip(np.divide(alloc, d.total, out=np.zeros(d.n), where=d.total > 0), 0, 1)
    upper = float(p.cost[greedy & ~p.existing].sum())
    groups = _district_jobs(d, shares, per_task)
    # the bound runs beside the districts, for about as long as they take
    rounds = math.ceil(len(groups) / _workers(client))
    seconds = max(opts.time_limit, rounds * per_task * opts.time_limit)
    R = region.R
    bound_call = (region_bound, R.A, R.weight, R.cost, region.need_new, upper, seconds)
    results, (bound, how) = _gather(client, groups, opts, extra=bound_call)
    run.step("districts")
    sel = p.existing.copy()
    for r in results:
        sel[r.sites] = True
    union_cost = float(p.cost[sel & ~p.existing].sum())
    sel = region.sites(region.improve(sel, opts))
    run.step("repair")
    run.history["decomposed"] = _summary(results) | {
        "scope": "total",
        "greedy": upper,
        "union": union_cost,
        "bound": how,
    }
    return _finish(run, p, sel, bound)


def _finish(run: Run, p: CoverageProblem, sel: np.ndarray, bound: float) -> Solution:
    new = np.flatnonzero(sel & ~p.existing)
    integral = bool(np.all(np.round(p.cost) == p.cost))
    return run.finish(
        p,
        sel,
        float(p.cost[new].sum()),
        bound,
        "feasible",
        integral=integral,
        unreachable=np.flatnonzero(~p.reachable_mask()),
        method="decomposed",
    )


def solve_decomposed(
    cov,
    *,
    target: float | str = 0.9,
    by: str,
    scope: str = "district",
    client=None,
    minutes: float | None = None,
    districts_per_task: int | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    seed: int = 0,
):
    """:func:`siting.solve` with ``model="target"``, district by district on Dask.

    Parameters
    ----------
    cov : Coverage
        Coverage from :func:`siting.coverage` (or :func:`siting.tiles.tiled_coverage`).
    target : float or str
        Share of persons to cover, in (0, 1].
    by : str
        Demand column of the districts (e.g. ``"district"``).
    scope : {"district", "total"}
        ``"district"``: every district reaches ``target`` (as ``solve(..., by=by)``);
        ``"total"``: the whole region does (as ``solve(...)`` without ``by``), the
        districts' plans coordinated by an allocation of the persons to cover.
    client : distributed.Client, optional
        Default: a ``LocalCluster`` with one single-threaded worker per core, started and
        closed by this call.
    minutes : float, optional
        Walking threshold, minutes (default: the largest computed in ``cov``).
    districts_per_task : int, optional
        Districts solved in one Dask task (default: about four tasks per worker).
    time_limit : float
        Seconds for each district's solve (and, ``scope="total"``, for the bound and
        the final pass).
    mip_gap, method, seed
        As for :func:`siting.solve`.

    Returns
    -------
    Plan
        The merged plan, its proven bound and gap.

    Raises
    ------
    ParameterError
        An unknown ``by`` column or ``scope``, a value out of range.
    InfeasibleError
        A district (or the region) cannot reach the target.
    """
    from .plan import Plan, _matrix_problem, _minutes

    opts = SolveOptions(time_limit, mip_gap, method, seed, 1, False)
    share = validation.SHARE("target", target)
    minutes = _minutes(cov, minutes)
    problem, _, _ = _matrix_problem(cov, "target", minutes, share, by, None, None)
    solution = decomposed_target(
        problem,
        share,
        scope=scope,
        client=client,
        districts_per_task=districts_per_task,
        options=opts,
    )
    params = {"target": share, "by": by, "scope": scope, "time_limit": time_limit, "seed": seed}
    return Plan(cov, solution, "target", float(minutes), params)
