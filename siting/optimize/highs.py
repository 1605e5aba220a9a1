"""Build and solve (MI)LPs with HiGHS straight from sparse matrices.

The model ``min c'x  s.t.  row_lower <= A x <= row_upper,  lower <= x <= upper`` is passed
to :mod:`highspy` as one column-wise sparse matrix: no Python loop over the elements.
Options cover a time limit, a relative MIP gap, threads, a MIP start (``setSolution``),
an objective cutoff, and silence unless ``verbose``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from siting.optimize import clock, settings
from siting.optimize.formulations import LinearModel

__all__ = [
    "MilpResult",
    "highs_lp",
    "new_highs",
    "run_charged",
    "solution_status",
    "solve_lp_first_order",
    "solve_milp",
]

INF = highspy.kHighsInf


class _QuietHighs(highspy.Highs):
    """``highspy.Highs`` whose log starts switched off.

    highspy >= 1.16 prints its banner ("Running HiGHS ...") on stdout from the first call
    that logs, which its constructor makes (``enableCallbacks``): before ``output_flag``
    can be set. The constructor calls this hook first, so the flag is off in time.
    """

    _quiet_set = False

    def enableCallbacks(self) -> None:
        if not self._quiet_set:
            self.setOptionValue("output_flag", False)
            self._quiet_set = True
        super().enableCallbacks()


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance (``output_flag`` off; set it on again for a log)."""
    h = _QuietHighs()
    h.setOptionValue("output_flag", False)
    return h


def run_charged(
    h: highspy.Highs, time_limit: float, *, setup: bool = True, capped: bool = True
) -> None:
    """``h.run()`` within the work budget of the solver call in progress (see
    :mod:`siting.optimize.clock`): the time limit is capped by the real time left (unless
    ``capped`` is False: a run the solver cannot do without), and the run is charged from
    HiGHS' iteration counts (``setup`` False: a warm re-solve, whose model is already
    built)."""
    limit = float(max(time_limit, 0.1))
    if capped:
        limit = clock.wall_cap(limit)
    # HiGHS compares its time limit with the object's run time over all its runs
    h.setOptionValue("time_limit", h.getRunTime() + limit)
    h.run()
    if setup:
        clock.charge_highs(h, int(h.getNumNz()), time_limit)
    else:
        clock.charge_highs(h, 0, time_limit, columns=int(h.getNumCol()))


@dataclass
class MilpResult:
    """Outcome of one HiGHS run.

    Attributes
    ----------
    x : ndarray or None
        Best primal solution (None when none was found).
    objective : float
        Its objective value (``inf`` when none, for minimisation).
    bound : float
        Proven dual bound (``-inf`` when unknown).
    gap : float
        HiGHS relative gap (``inf`` when unknown).
    status : str
        ``"optimal"`` (proven, gap 0), ``"gap_limit"`` (stopped within ``mip_rel_gap``),
        ``"infeasible"``, ``"time_limit"``, ``"cutoff"`` (nothing better than the cutoff
        exists), or HiGHS' own status text.
    seconds : float
        Wall time of ``run()`` (s).
    nodes : int
        Branch-and-bound nodes.
    """

    x: np.ndarray | None
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    nodes: int = 0


def _status_name(model_status: highspy.HighsModelStatus) -> str:
    ms = highspy.HighsModelStatus
    return {
        ms.kOptimal: "optimal",
        ms.kInfeasible: "infeasible",
        ms.kTimeLimit: "time_limit",
        ms.kObjectiveBound: "cutoff",
        ms.kObjectiveTarget: "target",
        ms.kUnbounded: "unbounded",
        ms.kUnboundedOrInfeasible: "infeasible",
        ms.kIterationLimit: "iteration_limit",
        ms.kSolutionLimit: "solution_limit",
        ms.kInterrupt: "interrupted",
    }.get(model_status, str(model_status).split(".")[-1])


_FAILED = {
    "kNotset",
    "kLoadError",
    "kModelError",
    "kPresolveError",
    "kSolveError",
    "kPostsolveError",
    "kModelEmpty",
    "kMemoryLimit",
    "kUnknown",
}
_threads_in_use: int | None = None
_LNS_HEURISTICS = (
    "mip_heuristic_run_rins",
    "mip_heuristic_run_rens",
    "mip_heuristic_run_feasibility_jump",
    "mip_heuristic_run_root_reduced_cost",
)


def highs_lp(model: LinearModel) -> highspy.HighsLp:
    """``model`` as a HiGHS model (without its integrality): one column-wise sparse
    matrix, infinite bounds as HiGHS' infinity."""
    c, A, row_lower, row_upper, _, lower, upper, maximize = model
    c = np.asarray(c, dtype=float)
    n = c.size
    M = sp.csc_matrix(A, dtype=float)
    M.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = M.shape[0]
    lp.col_cost_ = c
    lp.col_lower_ = np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy()
    lp.col_upper_ = np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy()
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -INF).astype(float)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, INF).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = M.indptr.astype(np.int32)
    lp.a_matrix_.index_ = M.indices.astype(np.int32)
    lp.a_matrix_.value_ = M.data
    if maximize:
        lp.sense_ = highspy.ObjSense.kMaximize
    return lp


def solution_status(highs_status: str) -> str:
    """Status of a plan after a HiGHS run: HiGHS' own unless HiGHS failed.

    When HiGHS stops on an error the plan is the caller's incumbent, and when it stops
    at the accepted ``mip_gap`` the plan is not proven optimal: ``"feasible"`` for both.
    """
    if highs_status.startswith("error") or highs_status == "gap_limit":
        return "feasible"
    return highs_status


def _consistent(x: np.ndarray, obj: float, model: LinearModel) -> bool:
    """``x`` meets the rows (relative tolerance 1e-6) and has the reported objective."""
    c, A, row_lower, row_upper = model[:4]
    c = np.asarray(c, dtype=float)
    if abs(float(c @ x) - obj) > 1e-6 * max(1.0, abs(obj), float(np.abs(c) @ np.abs(x))):
        return False
    act = np.asarray(A @ x).ravel()
    scale = np.maximum(1.0, np.asarray(abs(A) @ np.abs(x)).ravel())
    lo = np.asarray(row_lower, dtype=float)
    hi = np.asarray(row_upper, dtype=float)
    return bool(np.all(act >= lo - 1e-6 * scale) and np.all(act <= hi + 1e-6 * scale))


def _set_threads(h: highspy.Highs, threads: int) -> None:
    """Set HiGHS' thread count; its scheduler is global, so restart it on a change."""
    global _threads_in_use
    if threads != _threads_in_use:
        highspy.Highs.resetGlobalScheduler(True)
    h.setOptionValue("threads", threads)
    _threads_in_use = threads


def solve_milp(
    model: LinearModel,
    *,
    time_limit: float = 60.0,
    mip_rel_gap: float = 0.0,
    threads: int | None = None,
    start: np.ndarray | None = None,
    cutoff: float | None = None,
    verbose: bool = False,
    solver: str | None = None,
    heuristics: bool = True,
) -> MilpResult:
    """Solve a (mixed-integer) linear programme with HiGHS.

    Parameters
    ----------
    model : LinearModel
        The programme; one without integer columns is solved as an LP.
    time_limit : float
        Seconds.
    mip_rel_gap : float
        Relative gap at which HiGHS stops.
    threads : int, optional
        HiGHS threads (default: HiGHS' choice).
    start : ndarray, shape (n,), optional
        A feasible solution to start from (MIP start via ``setSolution``).
    cutoff : float, optional
        Only solutions better than this value are of interest (HiGHS ``objective_bound``).
    verbose : bool
        Print HiGHS' log.
    solver : str, optional
        HiGHS ``solver`` option for LPs ("simplex", "ipm", "pdlp").
    heuristics : bool
        Run HiGHS' large-neighbourhood MIP heuristics (RINS, RENS, feasibility jump,
        root reduced cost). Off pays when ``start`` is already a very good solution:
        the time goes to the bound instead.
    """
    lp = highs_lp(model)
    n = lp.num_col_
    is_mip, maximize = model.is_mip, model.maximize
    if is_mip:
        vt = highspy.HighsVarType
        lp.integrality_ = [
            vt.kInteger if f else vt.kContinuous for f in np.asarray(model.integrality)
        ]
    h = new_highs()
    h.setOptionValue("output_flag", bool(verbose))
    time_limit = clock.wall_cap(float(time_limit))
    h.setOptionValue("time_limit", time_limit)
    h.setOptionValue("random_seed", 0)
    if is_mip:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if threads is not None:
        _set_threads(h, int(threads))
    if solver is not None:
        h.setOptionValue("solver", solver)
    if cutoff is not None:
        h.setOptionValue("objective_bound", float(cutoff))
    if is_mip and not heuristics:
        for name in _LNS_HEURISTICS:
            h.setOptionValue(name, False)
    h.passModel(lp)
    if start is not None and is_mip:
        h.setSolution(n, np.arange(n, dtype=np.int32), np.asarray(start, dtype=float))
    t0 = time.perf_counter()
    run_status = h.run()
    seconds = time.perf_counter() - t0
    clock.charge_highs(h, len(lp.a_matrix_.value_), time_limit)
    status = _status_name(h.getModelStatus())
    info = h.getInfo()
    if run_status == highspy.HighsStatus.kError or status in _FAILED:
        # HiGHS did not solve the model: nothing it reports is a bound or a solution
        return MilpResult(
            x=None,
            objective=-np.inf if maximize else np.inf,
            bound=np.inf if maximize else -np.inf,
            gap=np.inf,
            status=f"error ({status})",
            seconds=seconds,
            nodes=0,
        )
    has_x = info.primal_solution_status >= 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_x else None
    worst = -np.inf if maximize else np.inf
    obj = float(info.objective_function_value) if has_x else worst
    if is_mip and x is not None and not _consistent(x, obj, model):
        # HiGHS returned an x that is not its reported solution (seen with a MIP start in
        # HiGHS 1.16: the start's x with the objective of a better solution); trust neither
        if start is not None:  # always (a choice on real time would not repeat)
            return solve_milp(
                model,
                time_limit=max(time_limit - seconds, 0.1),
                mip_rel_gap=mip_rel_gap,
                threads=threads,
                cutoff=cutoff,
                verbose=verbose,
                solver=solver,
                heuristics=heuristics,
            )
        return MilpResult(
            x=None,
            objective=worst,
            bound=np.inf if maximize else -np.inf,
            gap=np.inf,
            status="error (inconsistent solution)",
            seconds=seconds,
            nodes=0,
        )
    if is_mip:
        bound = float(info.mip_dual_bound)
        gap = float(info.mip_gap) if has_x else np.inf
        nodes = int(info.mip_node_count)
        if status == "optimal" and has_x and abs(obj - bound) > 1e-9 * max(1.0, abs(obj)):
            status = "gap_limit"  # stopped at mip_rel_gap: a bound, not a proof
    else:
        bound = obj if status == "optimal" else (np.inf if maximize else -np.inf)
        gap = 0.0 if status == "optimal" else np.inf
        nodes = 0
    return MilpResult(
        x=x, objective=obj, bound=bound, gap=gap, status=status, seconds=seconds, nodes=nodes
    )


def solve_lp_first_order(
    model: LinearModel, *, time_limit: float = 5.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """Approximate LP solution and row duals with HiGHS' first-order solver (PDLP).

    For LPs too large for the simplex method in useful time (coverage models with tens
    of thousands of rows): PDLP needs only matrix-vector products. Its answer is *not*
    used as a bound directly; the caller turns the duals into a proven Lagrangian bound.
    Columns keep the model's bounds. Returns ``(x, row_dual)`` with HiGHS' sign
    convention, or None when PDLP produced nothing (e.g. the time limit was too short).

    ``time_limit`` becomes an iteration limit (``settings.pdlp_rate`` nonzero-iterations per
    second), so the same model and ``time_limit`` give the same duals on any machine;
    the clock only stops runs that take over twice as long (a slow machine).
    """
    lp = highs_lp(model)
    n, n_rows = lp.num_col_, lp.num_row_
    nnz = max(1, len(lp.a_matrix_.value_))
    iterations = max(settings.pdlp_min_iterations, int(time_limit * settings.pdlp_rate / nnz))
    h = new_highs()
    h.setOptionValue("solver", "pdlp")
    # without presolve: HiGHS 1.16 returns no solution from a presolved model stopped at
    # its iteration limit (Wuhan core, 127,000 rows: nothing after 4,000 iterations)
    h.setOptionValue("presolve", "off")
    h.setOptionValue("pdlp_iteration_limit", iterations)
    wall = clock.wall_cap(2.0 * float(max(time_limit, 0.05)) + 1.0)
    h.setOptionValue("time_limit", wall)
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    h.run()
    clock.charge_highs(h, nnz, wall)
    sol = h.getSolution()
    if not (sol.value_valid and sol.dual_valid):
        return None
    x = np.asarray(sol.col_value, dtype=float)
    dual = np.asarray(sol.row_dual, dtype=float)
    if (
        x.size != n
        or dual.size != n_rows
        or not (np.all(np.isfinite(x)) and np.all(np.isfinite(dual)))
    ):
        return None
    return x, dual
