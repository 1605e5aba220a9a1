"""Map and report size, build and draw time: central Wuhan (164,000 cells), its norm
audit, and Liechtenstein.

Budget (issue 23): the map of a 164,000-point, 9,000-candidate city is at most 8 MB and
draws in at most 3 s in headless Chromium (network cut off); the report takes seconds.

* **Wuhan**: the WorldPop core grid of ``../shared/data/wuhan`` (164,209 cells with
  people), 300 existing facilities and 9,000 candidate sites drawn at random among the
  cells (seed 0), a 1,000 m straight-line coverage (``mode="circle"``), the fewest sites
  for 90%; the 13 district polygons (WGS-84) for the district layer. Skipped without
  ``../shared/data``.
* **Liechtenstein**: the bundled demo scenario (``data/demo-liechtenstein.yaml``: real
  walking network, 14,270 buildings), map with the 5/10/15-minute service areas.
* **wuhan-audit**: the norm audit of ``bench_audit.py`` (the same grid, 9,000 typed
  facilities, 1 km communities and 4 km sub-districts, 3 life-circle levels): the
  compliance map (``audit.explore()``) and the report of the audit alone.

``build_report_s`` is ``st.report`` with the map linked (``map="map.html"``), its
coverage curve sized to the city (``report_bound_steps`` subgradient steps per point);
``--full-bound`` also times it with the full 100 steps per point (the report before the
change: ``report_full_bound_s``).

"draw" is the time from navigation to the end of ``siting.draw`` (``performance.now()``
in the page: HTML parsed, Leaflet and the payload parsed, every layer drawn), the median
of ``--repeat`` loads. Prints one table; ``--json PATH`` also writes the records.

Usage: ``python benchmarks/bench_maps.py [--only wuhan,wuhan-audit,liechtenstein]
[--repeat 3] [--full-bound]``
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import siting as st
from siting.maps import plan_map, save_map
from siting.maps._chromium import Browser, find_chromium
from siting.report import MAX_BOUND_STEPS, bound_steps, curve_steps

ROOT = Path(__file__).resolve().parents[1]
WUHAN = ROOT.parent / "shared" / "data" / "wuhan"
DEMO = ROOT / "data" / "demo-liechtenstein.yaml"
N_EXISTING, N_CANDIDATES = 300, 9_000


def wuhan_plan():
    """``(plan, districts, circle)`` for central Wuhan, or None without the data."""
    tif = WUHAN / "wuhan_core_pop20plus_worldpop_100m.tif"
    if not tif.is_file():
        return None
    demand = st.read_population(tif)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(demand), N_EXISTING + N_CANDIDATES, replace=False)
    sites = demand.iloc[rows][["geometry"]].reset_index(drop=True)
    sites["name"] = [f"site {k}" for k in range(len(sites))]
    existing, candidates = sites.iloc[:N_EXISTING], sites.iloc[N_EXISTING:]
    cov = st.coverage(None, demand, existing, candidates, mode="circle", threshold_m=1000)
    plan = st.solve(cov, model="target", target=0.9, time_limit=60)
    districts = st.read_districts(WUHAN / "wuhan_districts_wgs84.geojson")
    return plan, districts, cov


def liechtenstein_plan():
    """``(plan, None, circle)`` of the bundled demo scenario."""
    result = st.run_scenario(DEMO, write=False)
    return result.plan, None, result.circle


def draw_times(path: Path, repeat: int) -> dict:
    """Median draw and load-event time of a map in headless Chromium (if installed)."""
    if find_chromium() is None:
        return {}
    draws, loads = [], []
    with Browser(width=1280, height=900) as browser:
        for _ in range(repeat):
            loads.append(browser.open(path))
            draws.append(browser.eval("siting.maps[0].readyAt") / 1000.0)
            errors = browser.errors()
            browser.events.clear()
    return {
        "errors": len(errors),
        "draw_s": statistics.median(draws),
        "load_event_s": statistics.median(loads),
    }


def timed(func):
    start = time.perf_counter()
    out = func()
    return out, time.perf_counter() - start


def measure(name: str, plan, districts, circle, out: Path, args) -> dict:
    m, build_s = timed(lambda: plan_map(plan, districts=districts, basemap=args.basemap))
    map_path = save_map(m, out / f"{name}-map.html", force=True)
    options = {"circle": circle, "districts": districts, "map": "map.html", "force": True}
    report_path, report_s = timed(lambda: st.report(plan, out / f"{name}-report.html", **options))
    record = {
        "instance": name,
        "demand_points": plan.coverage.n_demand,
        "candidates": int((~plan.coverage.existing).sum()),
        "new_sites": plan.summary()["new_sites"],
        "cells_drawn": len(m.payload["layers"][-3]["pop"]),
        "map_mb": map_path.stat().st_size / 1e6,
        "report_mb": report_path.stat().st_size / 1e6,
        "build_map_s": build_s,
        "build_report_s": report_s,
        "report_bound_steps": report_curve_steps(plan),
    }
    if args.full_bound:
        options["curve_bound_steps"] = MAX_BOUND_STEPS
        _, record["report_full_bound_s"] = timed(
            lambda: st.report(plan, out / f"{name}-report-full.html", **options)
        )
    return record | draw_times(map_path, args.repeat)


def report_curve_steps(plan) -> int:
    """Subgradient steps per point the report's curve takes for this plan."""
    cover = plan.coverage.matrix(plan.minutes)
    return bound_steps(cover.nnz, curve_steps(plan) + 1)


def wuhan_audit():
    """An audit of central Wuhan as ``bench_audit.py`` builds it, or None without data."""
    from bench_audit import LEVELS, _preset, _squares, _wuhan

    from siting.crs import metric_crs

    tif = _wuhan()
    if tif is None:
        return None
    rng = np.random.default_rng(0)
    demand = st.read_population(tif)
    demand = demand.to_crs(metric_crs(demand))
    types = [ty for _, tys in LEVELS.values() for ty in tys]
    pick = rng.choice(len(demand), N_CANDIDATES)
    area = rng.uniform(100, 800, N_CANDIDATES)
    area[rng.random(N_CANDIDATES) < 0.05] = np.nan
    fac = demand.iloc[pick][["geometry"]].reset_index(drop=True)
    fac["type"] = np.resize(types, N_CANDIDATES)
    fac["floor_area_m2"] = area
    bounds = demand.total_bounds + np.array([-1, -1, 1, 1])
    cov = st.coverage(None, demand, fac, None, mode="circle", threshold_m=1000)
    units = {"communities": _squares(bounds, 1000, demand.crs, rng)}
    units["subdistricts"] = _squares(bounds, 4000, demand.crs, rng)
    return st.audit(cov, preset=_preset(), **units)


def measure_audit(name: str, audit, out: Path, args) -> dict:
    m, build_s = timed(lambda: audit.explore(basemap=args.basemap))
    map_path = save_map(m, out / f"{name}-map.html", force=True)
    report_path, report_s = timed(
        lambda: st.report(audit, out / f"{name}-report.html", map="map.html", force=True)
    )
    record = {
        "instance": name,
        "demand_points": len(audit.inputs.demand),
        "facilities": len(audit.facilities),
        "units": int(sum(u.n for u in audit.inputs.units.values())),
        "map_mb": map_path.stat().st_size / 1e6,
        "report_mb": report_path.stat().st_size / 1e6,
        "build_map_s": build_s,
        "build_report_s": report_s,
    }
    return record | draw_times(map_path, args.repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="wuhan,wuhan-audit,liechtenstein")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--basemap", default="none", help="basemap of the maps measured")
    parser.add_argument("--full-bound", action="store_true", help="also the report before")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--out", type=Path, help="keep the files here (default: a temp dir)")
    args = parser.parse_args()
    builders = {
        "wuhan": wuhan_plan,
        "wuhan-audit": wuhan_audit,
        "liechtenstein": liechtenstein_plan,
    }
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for name in args.only.split(","):
            case, seconds = timed(builders[name])
            if case is None:
                print(f"{name}: skipped (no data in {WUHAN})")
                continue
            print(f"{name}: built in {seconds:.1f} s", flush=True)
            if name.endswith("audit"):
                records.append(measure_audit(name, case, out, args))
            else:
                records.append(measure(name, *case, out, args))
    if find_chromium() is None:
        print("no Chromium found: sizes only (install chromium for the draw times)")
    for r in records:
        print(
            " | ".join(f"{k}={r[k]:.2f}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in r)
        )
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
