"""Capacitated models on a whole country: Liechtenstein, every site serving <= 3,000 persons.

The demo's coverage (``data/demo-liechtenstein.yaml``: 14,270 demand points, 12 existing
facilities and 1,721 candidates, 15-minute walk; 491,298 reachable pairs after merging
identical rows; 747,442 walk distances) with a capacity of 3,000 persons per site (about
229 m² of floor area at 20 m² per 100 households and 2.62 persons per household):

* capacitated coverage (``model="mclp"``), p = 5 and 20 new sites: persons served;
* capacitated p-median (``model="pmedian"``, each demand point served whole by one site,
  the 26 points no site reaches left out), p = 150: person-metres walked.

Methods:

* ``ours``: ``st.solve(cov, model=..., p=p, capacity="capacity")`` with a 20-s limit
  (above ``PAIRS_LIMIT`` pairs no branch-and-bound: a greedy or uncapacitated start,
  its best allocation, swaps priced by the allocation LP's duals, a Lagrangian bound);
* ``HiGHS B&B``: the same with ``method="exact"`` (the full MILP; for coverage with our
  greedy start), ``--highs-limit`` seconds, as a plain-solver baseline.

Columns: the plan's objective, the proven bound, the gap, wall seconds.

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
CASES = (("mclp", 5), ("mclp", 20), ("pmedian", 150))  # (model, new sites)


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
    for model, p in CASES:
        extra = {"drop_unreachable": True} if model == "pmedian" else {}
        for method, limit in (("ours", args.limit), ("HiGHS B&B", args.highs_limit)):
            t = time.perf_counter()
            r = {"model": model, "p": p, "method": method, "limit_s": limit}
            try:
                sol = st.solve(
                    cov,
                    model=model,
                    p=p,
                    capacity="capacity",
                    time_limit=limit,
                    method="auto" if method == "ours" else "exact",
                    **extra,
                ).solution
                r.update(objective=sol.objective, bound=sol.bound, gap=sol.gap)
                r["status"] = sol.status
                if model == "mclp":
                    r["served_before"] = float(sol.served_before.sum())
            except Exception as e:  # a baseline that finds no plan
                r.update(objective=None, bound=None, gap=None, status=f"{type(e).__name__}: {e}")
            r["seconds"] = time.perf_counter() - t
            records.append(r)
            print(f"  {_row(r)}", flush=True)
    print(table(records))
    if args.json:  # results are meant to be replaced: force
        atomic_write_text(args.json, json.dumps(records, indent=1), force=True)
    return records


def _num(v, unit: str) -> str:
    if v is None or v != v or v in (float("inf"), float("-inf")):
        return "none"
    return f"{v:,.0f}" if unit == "persons" else f"{v / 1e6:,.2f} M"


def _row(r: dict) -> str:
    unit = "persons" if r["model"] == "mclp" else "person-m"
    g = r["gap"]
    gap = f"{g:.2%}" if g is not None and g == g and g != float("inf") else "n/a"
    what = "persons served" if r["model"] == "mclp" else "person-metres"
    return (
        f"| {r['model']} | {r['p']} | {r['method']} | {r['limit_s']:.0f} | {r['seconds']:.1f} | "
        f"{what}: {_num(r['objective'], unit)} | {_num(r['bound'], unit)} | {gap} | "
        f"{r['status'][:60]} |"
    )


def table(records: list[dict]) -> str:
    lines = [
        "| model | p | method | limit (s) | seconds | plan | proven bound | gap | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(r) for r in records]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
