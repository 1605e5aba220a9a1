"""One benchmark command (``make bench``): coverage, siting and the end-to-end run.

Runs ``bench_coverage.run`` (ours vs networkx, scipy csgraph, pandana), ``bench_optimize.run``
(ours vs plain HiGHS and spopt), the whole Liechtenstein scenario with per-stage timings and
``bench_city.run`` (the ``city-1m`` instance: a 1-million-node grid city, 500,000 demand
points, snapping, coverage, tiled coverage on Dask, the 90% plan, peak memory per stage),
prints one table and writes ``benchmarks/results/latest.json``::

    {"machine": {...cpu count, package versions...},
     "records": [{instance, stage, method, seconds, pairs, ns_per_pair, objective, bound,
                  gap, peak_mb}, ...]}

Usage: ``python benchmarks/run.py [--quick] [--only coverage,optimize,e2e,city] [--json PATH]``
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import importlib.metadata as md
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
KEYS = (
    "instance",
    "stage",
    "method",
    "seconds",
    "pairs",
    "ns_per_pair",
    "objective",
    "bound",
    "gap",
    "peak_mb",
)
PACKAGES = (
    "siting",
    "numpy",
    "scipy",
    "numba",
    "highspy",
    "networkx",
    "pandana",
    "spopt",
    "pulp",
    "pyrosm",
    "shapely",
    "geopandas",
)


def machine() -> dict:
    """CPU count, platform and package versions of this run."""
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = md.version(p)
        except md.PackageNotFoundError:
            versions[p] = None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_count": cpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor(),
        "load_avg_start": os.getloadavg()[0],
        "packages": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def end_to_end() -> list[dict]:
    """The whole Liechtenstein demo scenario (parse → network → population → coverage →
    plan → map), one record per stage."""
    from siting.scenario import load_scenario, run_scenario

    cfg = load_scenario(HERE.parent / "data" / "demo-liechtenstein.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        cfg["output"] = {"dir": str(Path(tmp) / "out"), "map": str(Path(tmp) / "map.html")}
        t = time.perf_counter()
        result = run_scenario(cfg, force=True)
        total = time.perf_counter() - t
    s = result.plan.summary()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    recs = [
        {"instance": "liechtenstein", "stage": f"e2e:{k}", "method": "siting", "seconds": v}
        for k, v in result.timings.items()
    ]
    recs.append(
        {
            "instance": "liechtenstein",
            "stage": "e2e:total",
            "method": "siting",
            "seconds": total,
            "pairs": result.coverage.pairs,
            "objective": s["objective"],
            "bound": s["bound"],
            "gap": s["gap"],
            "peak_mb": peak,
        }
    )
    return recs


def table(records: list[dict]) -> str:
    """A fixed-width table of the records."""
    head = (
        f"{'instance':<22}{'stage':<22}{'method':<34}{'seconds':>9}{'pairs':>11}"
        f"{'ns/pair':>9}{'objective':>11}{'bound':>11}{'gap':>8}{'peak MB':>9}"
    )
    lines = [head, "-" * len(head)]

    def f(v, fmt):
        return format(v, fmt) if isinstance(v, int | float) and v == v else "-"

    for r in records:
        lines.append(
            f"{str(r.get('instance', ''))[:21]:<22}{str(r.get('stage', ''))[:21]:<22}"
            f"{str(r.get('method', ''))[:40]:<41}{f(r.get('seconds'), '9.3f'):>9}"
            f"{f(r.get('pairs'), ',d') if isinstance(r.get('pairs'), int) else '-':>11}"
            f"{f(r.get('ns_per_pair'), '9.0f'):>9}{f(r.get('objective'), '11.4g'):>11}"
            f"{f(r.get('bound'), '11.4g'):>11}{f(r.get('gap'), '8.2%'):>8}"
            f"{f(r.get('peak_mb'), '9.0f'):>9}"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller peer samples")
    ap.add_argument("--only", default="coverage,optimize,e2e,city")
    ap.add_argument("--json", default=str(HERE / "results" / "latest.json"))
    args = ap.parse_args()
    parts = set(args.only.split(","))
    records: list[dict] = []
    info = machine()
    if "coverage" in parts:
        import bench_coverage

        records += bench_coverage.run(args.quick)
    if "optimize" in parts:
        import bench_optimize

        records += bench_optimize.main(["--quick"] if args.quick else [])
    if "e2e" in parts:
        records += end_to_end()
    if "city" in parts:
        import bench_city

        records += bench_city.run(args.quick)
    records = [
        {k: r.get(k) for k in KEYS} | {k: v for k, v in r.items() if k not in KEYS} for r in records
    ]
    print(table(records))
    info["load_avg_end"] = os.getloadavg()[0]
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"machine": info, "records": records}, indent=1, default=str))
    tmp.replace(out)
    print(f"\nwrote {out}  ({info['cpu_count']} CPUs, load {info['load_avg_start']:.2f} at start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
