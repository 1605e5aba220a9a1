"""Capacities from planning norms, and capacitated coverage.

Norms (STANDARDS.md): community facility floor area >= 20 m² per 100 households
(national 2011-2015; Shijiazhuang 2016-2020), >= 30 m² in the later Taizhou standard.
A facility of ``F`` m² therefore serves ``F / m2_per_100_households x 100`` households.

Capacitated coverage (maximise persons served, each facility serving at most its
capacity and only demand it reaches)::

    max  sum_(i,j) w_i x_ij
    s.t. sum_j x_ij <= 1                  share of demand i served
         sum_i w_i x_ij <= cap_j y_j      capacity (persons)
         x_ij <= y_j                      (strengthening)
         sum_(j candidate) y_j <= p       existing sites fixed open
         y binary, x >= 0, only for reachable pairs (stored entries of ``cover``)

A demand point may be split between facilities (persons are divisible); identical demand
rows are merged first, which is exact for split assignment.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.errors import ParameterError
from siting.optimize.highs import solution_status, solve_milp
from siting.optimize.problem import CoverageProblem, Solution, relative_gap
from siting.optimize.reduce import merge_identical_rows

__all__ = [
    "PERSONS_PER_HOUSEHOLD",
    "capacity_from_floor_area",
    "households_from_floor_area",
    "solve_capacitated_coverage",
]

M2_PER_100_HOUSEHOLDS = 20.0  # m² of community facility per 100 households (national norm)
PERSONS_PER_HOUSEHOLD = 2.8  # persons per household (default; override with local data)


def households_from_floor_area(
    floor_area_m2: np.ndarray | float, m2_per_100_households: float = M2_PER_100_HOUSEHOLDS
) -> np.ndarray | float:
    """Households a facility can serve under a floor-area norm.

    Parameters
    ----------
    floor_area_m2 : float or array
        Facility floor area (m²).
    m2_per_100_households : float
        Norm: m² required per 100 households (20 national, 30 Taizhou 2023-2025).

    Returns
    -------
    float or ndarray: households.
    """
    if m2_per_100_households <= 0:
        msg = f"m2_per_100_households must be > 0, got {m2_per_100_households!r}"
        raise ParameterError(msg)
    area = np.asarray(floor_area_m2, dtype=float)
    if np.any(area < 0) or not np.all(np.isfinite(area)):
        msg = "floor_area_m2 must be finite and >= 0 (square metres)"
        raise ParameterError(msg)
    out = area / m2_per_100_households * 100.0
    return float(out) if out.ndim == 0 else out


def capacity_from_floor_area(
    floor_area_m2: np.ndarray | float,
    m2_per_100_households: float = M2_PER_100_HOUSEHOLDS,
    persons_per_household: float = PERSONS_PER_HOUSEHOLD,
) -> np.ndarray | float:
    """Persons a facility can serve under a floor-area norm.

    ``persons = floor_area_m2 / m2_per_100_households x 100 x persons_per_household``;
    e.g. 300 m² at 20 m² / 100 households and 2.8 persons per household -> 4,200 persons.

    Parameters
    ----------
    floor_area_m2 : float or array
        Facility floor area (m²).
    m2_per_100_households : float
        Norm: m² per 100 households.
    persons_per_household : float
        Average household size (persons).

    Returns
    -------
    float or ndarray: persons.
    """
    if persons_per_household <= 0:
        msg = f"persons_per_household must be > 0, got {persons_per_household!r}"
        raise ParameterError(msg)
    return households_from_floor_area(floor_area_m2, m2_per_100_households) * (
        persons_per_household
    )


def solve_capacitated_coverage(
    problem: CoverageProblem,
    p: int,
    *,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    threads: int | None = None,
    verbose: bool = False,
) -> Solution:
    """Most persons served by existing sites plus ``p`` new ones, within capacities.

    Parameters
    ----------
    problem : CoverageProblem
        Needs ``cover``, ``weight`` and ``capacity`` (persons per site).
    p : int
        New sites, 0 <= p <= number of candidates.
    time_limit, mip_gap, threads, verbose
        HiGHS settings.

    Returns
    -------
    Solution
        ``objective`` = persons served; ``assignment`` = the site serving the largest share
        of each demand point (-1 none).
    """
    t0 = time.perf_counter()
    if problem.capacity is None:
        msg = "capacitated coverage needs problem.capacity (persons per site)"
        raise ParameterError(msg)
    if int(p) != p or p < 0 or p > problem.n_candidates:
        msg = (
            f"p must be an integer in [0, {problem.n_candidates}] (the number of candidate "
            f"sites), got {p!r}"
        )
        raise ParameterError(msg)
    n, m = problem.n_demand, problem.n_sites
    keep = np.flatnonzero((problem.weight > 0) & problem.reachable_mask())
    A, w, inv = merge_identical_rows(problem.cover[keep], problem.weight[keep])
    nd = A.shape[0]
    k = A.nnz
    rows = np.repeat(np.arange(nd), np.diff(A.indptr))
    cols = A.indices
    ar = np.arange(k)
    cap = problem.capacity
    fixed = problem.existing
    c = np.r_[np.zeros(m), w[rows]]
    share = sp.csr_matrix((np.ones(k), (rows, m + ar)), shape=(nd, m + k))
    capm = sp.csr_matrix(
        (np.r_[w[rows], -cap], (np.r_[cols, np.arange(m)], np.r_[m + ar, np.arange(m)])),
        shape=(m, m + k),
    )
    link = sp.csr_matrix(
        (np.r_[np.ones(k), -np.ones(k)], (np.r_[ar, ar], np.r_[m + ar, cols])), shape=(k, m + k)
    )
    count = sp.csr_matrix(
        (np.where(fixed, 0.0, 1.0), (np.zeros(m, int), np.arange(m))), shape=(1, m + k)
    )
    M = sp.vstack([share, capm, link, count]).tocsr()
    lo = np.full(M.shape[0], -np.inf)
    hi = np.r_[np.ones(nd), np.zeros(m), np.zeros(k), float(p)]
    res = solve_milp(
        c,
        M,
        lo,
        hi,
        lower=np.r_[fixed.astype(float), np.zeros(k)],
        upper=np.ones(m + k),
        integrality=np.r_[np.ones(m, bool), np.zeros(k, bool)],
        maximize=True,
        time_limit=time_limit,
        mip_rel_gap=mip_gap,
        threads=threads,
        verbose=verbose,
    )
    hist: dict[str, Any] = {"rows_merged": nd, "pairs": k, "highs_status": res.status}
    if res.x is None:
        sel = fixed.copy()
        x = np.zeros(k)
        obj = 0.0
    else:
        sel = res.x[:m] > 0.5
        x = res.x[m:]
        obj = float(res.objective)
    assignment = np.full(n, -1, dtype=np.int64)
    if k:
        order = np.lexsort((-x, rows))
        first = np.r_[True, rows[order][1:] != rows[order][:-1]]
        pick = order[first]
        ok = x[pick] > 1e-9
        best_col = np.full(nd, -1, dtype=np.int64)
        best_col[rows[pick][ok]] = cols[pick][ok]
        assignment[keep] = best_col[inv]
    bound = float(res.bound) if np.isfinite(res.bound) else float(w.sum())
    status = solution_status(res.status)
    if status == "optimal":
        bound = obj
    total = problem.total_weight
    unreach = np.flatnonzero(~problem.reachable_mask())
    return Solution(
        selected=sel,
        new=np.flatnonzero(sel & ~fixed),
        objective=obj,
        bound=max(bound, obj),
        gap=relative_gap(obj, max(bound, obj), sense=-1),
        status=status,
        seconds=time.perf_counter() - t0,
        covered_weight=obj,
        covered_share=obj / total if total > 0 else 1.0,
        assignment=assignment,
        history=hist,
        method="highs",
        unreachable=unreach,
        unreachable_weight=float(problem.weight[unreach].sum()),
    )
