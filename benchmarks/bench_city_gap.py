"""Where the city-1m gap comes from: the LP bound, or the plan? (issue 22, item 2)

On ``city-1m`` (:mod:`bench_city`) the fewest sites to 90% end at a gap of about 4.6% in
60 s. This script splits that gap into its two sides:

* **the bound**: the LP relaxation solved ever longer by HiGHS' PDLP, each run's duals
  polished by subgradient steps (:func:`siting.optimize.bounds.psclp_lagrangian`). Every
  value is a proven lower bound; when longer runs stop raising it, the LP optimum is
  reached and no LP-based bound can do better;
* **the plan**: windows of the 60-s plan are re-solved exactly. For a square window, the
  sites outside stay as they are; HiGHS looks for fewer sites among the window's
  candidates that still reach what the window's open sites alone reach (less the plan's
  slack above 90%). "proven" means HiGHS showed that no such plan exists: the plan
  cannot lose a site by any change inside that window.

Usage: ``python benchmarks/bench_city_gap.py [--lp 6,20,60] [--window-km 9]
[--windows 12] [--window-s 20] [--side 1000]`` (about 10 minutes at full size;
``--side 300`` for a smoke run). Prints two tables.
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
_sys.path.insert(0, str(_Path(__file__).resolve().parent))

import argparse
import time

import highspy
import numpy as np
import scipy.sparse as sp
from bench_city import MINUTES, SIDE, TARGET, TIME_LIMIT, instance

from siting.optimize import CoverageProblem, SolveOptions, solve_target
from siting.optimize.bounds import lp_psclp_first_order, psclp_lagrangian
from siting.optimize.formulations import LinearModel
from siting.optimize.highs import highs_lp
from siting.optimize.reduce import reduce_cover


def city(side: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """(cover demand x candidates, persons, candidate x/y metres) of the city."""
    import siting as st

    net, demand, cands = instance(side)
    cov = st.coverage(net, demand, None, cands, minutes=MINUTES, cache=False)
    D = cov.distance.T.tocsr()
    A = sp.csr_matrix((np.ones(D.nnz, bool), D.indices, D.indptr), shape=D.shape)
    xy = np.column_stack([cands.geometry.x.to_numpy(), cands.geometry.y.to_numpy()])
    return A, cov.population, xy


def lp_table(A: sp.csr_matrix, w: np.ndarray, budgets: list[float], ub: float) -> None:
    """The LP bound after PDLP budgets of ``budgets`` seconds, polished."""
    R = reduce_cover(CoverageProblem(cover=A, weight=w, existing=np.zeros(A.shape[1], bool)))
    need = TARGET * float(w.sum()) - R.base_weight
    print(f"\nLP bound ({R.shape[0]:,} merged rows x {R.shape[1]:,} columns)")
    print(f"{'PDLP budget s':>14}{'PDLP bound':>12}{'polished':>10}{'seconds':>9}")
    for budget in budgets:
        t = time.perf_counter()
        pdb, lam, _ = lp_psclp_first_order(R.A, R.weight, R.cost, need, time_limit=budget)
        lag, _, _ = psclp_lagrangian(
            R.A, R.weight, R.cost, need, ub, iterations=1000, time_limit=30.0, lam0=lam
        )
        print(f"{budget:>14.0f}{pdb:>12.2f}{max(pdb, lag):>10.2f}{time.perf_counter() - t:>9.1f}")


def window_model(
    A: sp.csr_matrix, w: np.ndarray, sel: np.ndarray, cols: np.ndarray, slack: float
) -> tuple[highspy.HighsLp, int, np.ndarray]:
    """Fewest of ``cols`` reaching what their open ones reach alone, less ``slack``:
    columns ``[x (cols), z (rows only the window reaches)]``; the start ``[x0, z0]``."""
    open_cols = cols[sel[cols]]
    rows = np.unique(A[:, cols].tocoo().row)
    inside = np.asarray(A[rows][:, open_cols].sum(axis=1)).ravel()
    outside = np.asarray(A[rows] @ sel.astype(float)).ravel() - inside
    only = rows[outside == 0]
    sub = sp.csr_matrix(A[only][:, cols], dtype=float)
    m, n = sub.shape
    reach = float(w[only] @ (inside[outside == 0] > 0))
    link = sp.hstack([-sub, sp.identity(m)])
    count = sp.hstack([sp.csr_matrix((1, n)), sp.csr_matrix(w[only][None, :])])
    lo = np.r_[np.full(m, -np.inf), reach - slack]
    hi = np.r_[np.zeros(m), np.inf]
    lp = highs_lp(LinearModel(np.r_[np.ones(n), np.zeros(m)], sp.vstack([link, count]), lo, hi))
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n + [highspy.HighsVarType.kContinuous] * m
    x0 = sel[cols].astype(float)
    return lp, len(open_cols), np.r_[x0, (sub @ x0 > 0).astype(float)]


def window_table(A, w, xy, sel, *, km: float, windows: int, seconds: float) -> None:
    """Re-solve ``windows`` square windows of ``km`` around random open sites."""
    slack = float(w @ (A @ sel.astype(float) > 0)) - TARGET * float(w.sum())
    print(f"\nWindows of {km:g} km x {km:g} km around random open sites", end="")
    print(f" (the plan's slack above {TARGET:.0%}: {slack:.0f} persons)")
    print(f"{'candidates':>11}{'open':>6}{'rows':>8}{'fewest':>8}  status")
    rng = np.random.default_rng(0)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for centre in rng.choice(np.flatnonzero(sel), windows, replace=False):
        cols = np.flatnonzero(np.all(np.abs(xy - xy[centre]) <= km * 500.0, axis=1))
        lp, k, start = window_model(A, w, sel, cols, slack)
        h.clearModel()
        h.passModel(lp)
        h.setOptionValue("time_limit", seconds)
        h.setOptionValue("objective_bound", k - 0.5)  # only plans with fewer sites count
        sol = highspy.HighsSolution()
        sol.col_value = list(start)
        sol.value_valid = True
        h.setSolution(sol)
        h.run()
        status = h.getModelStatus()
        proven = status in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible)
        best = h.getInfo().objective_function_value
        fewest = round(best) if np.isfinite(best) and best < k - 0.5 else k
        verdict = "proven: no fewer" if proven and fewest == k else h.modelStatusToString(status)
        print(f"{len(cols):>11}{k:>6}{lp.num_row_ - 1:>8}{fewest:>8}  {verdict}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=SIDE)
    ap.add_argument("--lp", default="6,20,60", help="PDLP budgets, seconds")
    ap.add_argument("--window-km", type=float, default=9.0)
    ap.add_argument("--windows", type=int, default=12)
    ap.add_argument("--window-s", type=float, default=20.0)
    args = ap.parse_args(argv)
    A, w, xy = city(args.side)
    t = time.perf_counter()
    plan = solve_target(
        CoverageProblem(cover=A, weight=w, existing=np.zeros(A.shape[1], bool)),
        TARGET,
        options=SolveOptions(time_limit=TIME_LIMIT, seed=0),
    )
    print(
        f"plan ({TIME_LIMIT:g} s): {plan.objective:,.0f} sites, bound {plan.bound:,.0f}, "
        f"gap {plan.gap:.2%}, {time.perf_counter() - t:.0f} s"
    )
    lp_table(A, w, [float(b) for b in args.lp.split(",")], plan.objective)
    window_table(
        A, w, xy, plan.selected, km=args.window_km, windows=args.windows, seconds=args.window_s
    )


if __name__ == "__main__":
    main()
