"""Capacitated coverage on a whole country: Liechtenstein, every site serving <= 3,000 persons.

The demo's coverage (``data/demo-liechtenstein.yaml``: 14,270 demand points, 12 existing
facilities and 1,721 candidates, 15-minute walk; 491,298 reachable pairs after merging
identical rows) with a capacity of 3,000 persons per site (about 215 m² of floor area at
20 m² per 100 households and 2.8 persons per household). For ``p`` new sites:

* ``ours``: ``st.solve(cov, model="mclp", p=p, capacity="capacity")`` with a 20-s limit
  (above ``PAIRS_LIMIT`` pairs: greedy start, best allocation, swaps priced by its duals,
  Lagrangian bound);
* ``HiGHS B&B``: the same with ``method="exact"`` (the full MILP, greedy start handed to
  HiGHS), ``--highs-limit`` seconds, as a plain-solver baseline.

Columns: persons served by the plan, the proven upper bound, the gap, wall seconds.

Usage::

    python benchmarks/bench_capacity.py [--highs-limit 60] [--json out.json]
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import json
import time
from pathlib import Path

from siting.output import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
CAPACITY = 3000.0  # persons per site
PS = (5, 20)


def main(argv: list[str] | None = None) -> list[dict]:
    import siting as st
    from siting.scenario import run_scenario

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=float, default=20.0, help="our time limit (s)")
    ap.add_argument("--highs-limit", type=float, default=60.0, help="HiGHS time limit (s)")
    ap.add_argument("--json", type=Path, help="write the records to this JSON file")
    args = ap.parse_args(argv)

    t = time.perf_counter()
    cov = run_scenario(ROOT / "data" / "demo-liechtenstein.yaml", write=False).plan.coverage
    print(f"coverage built in {time.perf_counter() - t:.1f} s", flush=True)
    cov.sites["capacity"] = CAPACITY
    records = []
    for p in PS:
        for method, limit in (("ours", args.limit), ("HiGHS B&B", args.highs_limit)):
            t = time.perf_counter()
            plan = st.solve(
                cov,
                model="mclp",
                p=p,
                capacity="capacity",
                time_limit=limit,
                method="auto" if method == "ours" else "exact",
            )
            sol = plan.solution
            records.append(
                {
                    "p": p,
                    "method": method,
                    "limit_s": limit,
                    "seconds": time.perf_counter() - t,
                    "served": sol.objective,
                    "served_before": float(sol.served_before.sum()),
                    "bound": sol.bound,
                    "gap": sol.gap,
                    "status": sol.status,
                }
            )
            r = records[-1]
            print(
                f"  p = {p}, {method}: {r['served']:,.0f} persons, bound {r['bound']:,.0f}, "
                f"gap {r['gap']:.2%}, {r['seconds']:.1f} s",
                flush=True,
            )
    print(table(records))
    if args.json:  # results are meant to be replaced: force
        atomic_write_text(args.json, json.dumps(records, indent=1), force=True)
    return records


def table(records: list[dict]) -> str:
    lines = [
        "| p | method | limit (s) | seconds | persons served | proven bound | gap | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['p']} | {r['method']} | {r['limit_s']:.0f} | {r['seconds']:.1f} | "
            f"{r['served']:,.0f} | {r['bound']:,.0f} | {r['gap']:.2%} | {r['status']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
