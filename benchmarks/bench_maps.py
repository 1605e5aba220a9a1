"""Map and report size and draw time: central Wuhan (164,000 cells) and Liechtenstein.

Budget (issue 23): the map of a 164,000-point, 9,000-candidate city is at most 8 MB and
draws in at most 3 s in headless Chromium (network cut off).

* **Wuhan**: the WorldPop core grid of ``../shared/data/wuhan`` (164,209 cells with
  people), 300 existing facilities and 9,000 candidate sites drawn at random among the
  cells (seed 0), a 1,000 m straight-line coverage (``mode="circle"``), the fewest sites
  for 90%; the 13 district polygons (WGS-84) for the district layer. Skipped without
  ``../shared/data``.
* **Liechtenstein**: the bundled demo scenario (``data/demo-liechtenstein.yaml``: real
  walking network, 14,270 buildings), map with the 5/10/15-minute service areas.

"draw" is the time from navigation to the end of ``siting.draw`` (``performance.now()``
in the page: HTML parsed, Leaflet and the payload parsed, every layer drawn), the median
of ``--repeat`` loads. Prints one table; ``--json PATH`` also writes the records.

Usage: ``python benchmarks/bench_maps.py [--only wuhan,liechtenstein] [--repeat 3]``
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


def measure(name: str, plan, districts, circle, out: Path, repeat: int, basemap: str) -> dict:
    start = time.perf_counter()
    m = plan_map(plan, districts=districts, basemap=basemap)
    map_path = save_map(m, out / f"{name}-map.html", force=True)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    report_path = st.report(
        plan, out / f"{name}-report.html", circle=circle, districts=districts,
        map="map.html", force=True,
    )  # fmt: skip
    report_s = time.perf_counter() - start
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
    }
    if find_chromium() is not None:
        draws, loads = [], []
        with Browser(width=1280, height=900) as browser:
            for _ in range(repeat):
                loads.append(browser.open(map_path))
                draws.append(browser.eval("siting.maps[0].readyAt") / 1000.0)
                errors = browser.errors()
                browser.events.clear()
            record["errors"] = len(errors)
        record["draw_s"] = statistics.median(draws)
        record["load_event_s"] = statistics.median(loads)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="wuhan,liechtenstein")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--basemap", default="none", help="basemap of the maps measured")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--out", type=Path, help="keep the files here (default: a temp dir)")
    args = parser.parse_args()
    builders = {"wuhan": wuhan_plan, "liechtenstein": liechtenstein_plan}
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for name in args.only.split(","):
            start = time.perf_counter()
            case = builders[name]()
            if case is None:
                print(f"{name}: skipped (no data in {WUHAN})")
                continue
            print(f"{name}: plan in {time.perf_counter() - start:.1f} s", flush=True)
            records.append(measure(name, *case, out, args.repeat, args.basemap))
    if find_chromium() is None:
        print("no Chromium found: sizes only (install chromium for the draw times)")
    keys = list(records[0]) if records else []
    print(" | ".join(keys))
    for r in records:
        print(" | ".join(f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
