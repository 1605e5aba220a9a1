"""Where the gap on the 50,000-node grid comes from: square regions of it, solved exactly.

On the full ``grid`` instance of ``bench_optimize.py`` the reported gap (about 1.3% for
the MCLP at p = 106, 1.9% for the 90% target) is the distance between our best solution
and the LP bound. This script asks whether that distance is search weakness or the LP's
integrality gap, on regions small enough for HiGHS' branch-and-bound to finish.

Each region is a square of the grid: its demand nodes (not covered by the 20 existing
sites, population > 0) and every candidate that reaches one of them. The MCLP with
``p`` new sites is solved twice:

* ``ours (large path)``: :func:`siting.optimize.solve_mclp` forced onto the path the full
  grid takes (PDLP bound, LP rounding, compiled iterated search; ``settings.lp_nnz_limit`` is
  lowered for this), ``--ours-limit`` seconds, seeds 0 and 1;
* ``exact``: ``solve_mclp(method="exact")`` (simplex LP, rounding, reduced-cost fixing,
  HiGHS branch-and-bound on 2 threads), ``--highs-limit`` seconds.

``LP gap`` is (LP bound - best integer) / best integer: when ``exact`` proves optimality
it is the integrality gap of the region's LP.

Usage::

    python benchmarks/bench_regions.py [--ours-limit 10] [--highs-limit 300] [--json out.json]
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
_sys.path.insert(0, str(_Path(__file__).resolve().parent))

import argparse
import json
import time
from pathlib import Path

import bench_optimize as bo
import numpy as np

from siting.output import atomic_write_text

# (name, west m, south m, side m, p): the side grows until HiGHS no longer finishes
REGIONS = (
    ("4.5 km", 6000.0, 6000.0, 4500.0, 8),
    ("6.5 km", 5000.0, 5000.0, 6500.0, 15),
    ("9 km", 4500.0, 4500.0, 9000.0, 27),
)


def region_problem(cover, pop, existing, x, y, west, south, side):
    """(CoverageProblem of the square, description)."""
    from siting.optimize import CoverageProblem

    pre = np.asarray(cover[:, existing].sum(axis=1)).ravel() > 0
    inside = (x >= west) & (x < west + side) & (y >= south) & (y < south + side)
    rows = inside & ~pre & (pop > 0)
    A = cover[rows][:, ~existing].tocsc()
    cols = np.flatnonzero(np.diff(A.indptr) > 0)
    A = A[:, cols].tocsr()
    P = CoverageProblem(cover=A, weight=pop[rows], existing=np.zeros(A.shape[1], dtype=bool))
    return P, f"{A.shape[1]} candidates x {A.shape[0]} demand, {A.nnz:,} pairs"


def main(argv: list[str] | None = None) -> list[dict]:
    from siting.optimize import SolveOptions, settings, solve_mclp

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours-limit", type=float, default=10.0, help="our time limit (s)")
    ap.add_argument("--highs-limit", type=float, default=300.0, help="exact time limit (s)")
    ap.add_argument("--json", type=Path, help="write the records to this JSON file")
    args = ap.parse_args(argv)

    cover, pop, existing, _ = bo.load_instance("grid")
    g = bo.build_grid()  # node coordinates (m), same node order as the cover rows
    records = []
    for name, west, south, side, p in REGIONS:
        P, desc = region_problem(cover, pop, existing, g["x"], g["y"], west, south, side)
        print(f"[{name}] {desc}, p = {p}", flush=True)
        with settings.override(lp_nnz_limit=0):  # the path the full grid takes
            for seed in (0, 1):
                t = time.perf_counter()
                s = solve_mclp(P, p, options=SolveOptions(time_limit=args.ours_limit, seed=seed))
                records.append(
                    {
                        "region": name,
                        "method": f"ours (large path), seed {seed}",
                        "seconds": time.perf_counter() - t,
                        "objective": s.objective,
                        "bound": s.bound,
                        "status": s.status,
                    }
                )
                print(f"  {records[-1]['method']}: {s.objective:,.0f}", flush=True)
        t = time.perf_counter()
        s = solve_mclp(
            P, p, options=SolveOptions(time_limit=args.highs_limit, method="exact", threads=2)
        )
        records.append(
            {
                "region": name,
                "method": "exact (HiGHS B&B)",
                "seconds": time.perf_counter() - t,
                "objective": s.objective,
                "bound": s.bound,
                "lp_bound": s.history.get("lp_bound", float("nan")),
                "status": s.status,
            }
        )
        print(f"  exact: {s.objective:,.0f} ({s.status})", flush=True)
    print(table(records))
    if args.json:  # results are meant to be replaced: force
        atomic_write_text(args.json, json.dumps(records, indent=1), force=True)
    return records


def table(records: list[dict]) -> str:
    lines = [
        "| region | method | seconds | covered persons | proven bound | LP bound | LP gap "
        "| status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, *_ in REGIONS:
        rs = [r for r in records if r["region"] == name]
        if not rs:
            continue
        ex = rs[-1]
        best = max(r["objective"] for r in rs)
        lp = ex["lp_bound"]
        for r in rs:
            lp_gap = f"{(lp - best) / best:.2%}" if r is ex else ""
            lps = f"{lp:,.0f}" if r is ex else ""
            lines.append(
                f"| {name} | {r['method']} | {r['seconds']:.1f} | {r['objective']:,.0f} | "
                f"{r['bound']:,.0f} | {lps} | {lp_gap} | {r['status']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
