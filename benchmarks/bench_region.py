"""Region-scale benchmark: tiled coverage and per-district siting on a 2-worker Dask cluster.

The instance (issue 22, item 4): one synthetic region, ``grid_network(SIDE, 80.0,
drop=0.1)`` (``SIDE = 1420``: 2.0 million nodes, a 113 km square), 1,000,000 random
demand points (1-100 persons each), 40,000 random candidate sites (the densities of
``city-1m``), a 15-minute walk; the districts are the 10 km squares of a grid (the
``district`` column of the demand).

Stages, in this process with a 2-worker ``LocalCluster`` (one single-threaded worker
process each; the workers are restarted between stages, so each stage's worker peak is
its own):

* ``network``: build the grid network (this process);
* ``coverage tiled``: :func:`siting.coverage` with ``tiles=10_000`` on the cluster
  (snapping here, the tiles' searches on the workers);
* ``siting per district``: :func:`siting.decomposed.solve_decomposed` (90% in every
  district, ``time_limit`` seconds per district), the districts as Dask tasks;
* ``siting region`` (``--total``): the same with ``scope="total"`` (90% of the region).

Per stage: seconds, peak memory of this process (``VmHWM`` so far) and of the busiest
worker. From the measured costs the script projects a national run (87,000
communities, about 300 cities) and the cluster it needs (see :func:`projection`).

Usage: ``python benchmarks/bench_region.py [--quick] [--side N] [--time-limit S] [--total]
[--json benchmarks/results/region.json]``. ``--quick``: a 200 × 200 region (smoke test).
The machine's load (``/proc/loadavg``) is printed with the numbers.
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
_sys.path.insert(0, str(_Path(__file__).resolve().parent))

import argparse
import contextlib
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
from bench_city import peak_mb

SIDE, STEP_M, DROP = 1420, 80.0, 0.1
N_DEMAND, N_CANDIDATES, SEED = 1_000_000, 40_000, 22
MINUTES, TARGET, TIME_LIMIT = 15.0, 0.90, 10.0
DISTRICT_M, WORKERS = 10_000.0, 2
#: the national programme of issue 22, and what a city and a community are assumed to hold
NATIONAL = {
    "communities": 87_000,
    "cities": 300,
    "nodes_per_city": 1_000_000,  # a Chinese city's walking network (issue 22: 1-5 M)
    "points_per_community": 100,  # WorldPop 100 m cells of an urban community (~1 km2)
    "hours": 1.0,  # wall time wanted for the whole programme
}


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def instance(side: int):
    """(network, demand with ``district``, candidates), the same for the same side."""
    import geopandas as gpd

    from siting.network import grid_network

    net = grid_network(side, STEP_M, drop=DROP)
    scale = side**2 / SIDE**2
    n_demand, n_cand = round(N_DEMAND * scale), round(N_CANDIDATES * scale)
    rng = np.random.default_rng(SEED)
    extent = (side - 1) * STEP_M
    dx, dy = rng.uniform(0, extent, n_demand), rng.uniform(0, extent, n_demand)
    nx = math.ceil(extent / DISTRICT_M)
    district = (dy // DISTRICT_M).astype(int) * nx + (dx // DISTRICT_M).astype(int)
    demand = gpd.GeoDataFrame(
        {"population": rng.integers(1, 101, n_demand).astype(float), "district": district},
        geometry=gpd.points_from_xy(dx, dy),
        crs=net.crs,
    )
    cx, cy = rng.uniform(0, extent, n_cand), rng.uniform(0, extent, n_cand)
    cands = gpd.GeoDataFrame(geometry=gpd.points_from_xy(cx, cy), crs=net.crs)
    return net, demand, cands


def _worker_peak(client) -> float:
    return max(client.run(peak_mb).values())


@contextlib.contextmanager
def _cluster():
    """A fresh 2-worker LocalCluster (one single-threaded process each) and its client."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _started(client) -> float:
    """Warm the workers (imports paid before the clock starts); their memory then (MB)."""
    client.run(_warm)
    return _worker_peak(client)


def _warm() -> None:
    import siting.decomposed
    import siting.tiles  # noqa: F401


def _siting(cov, client, scope: str, time_limit: float) -> dict:
    from siting.decomposed import solve_decomposed

    t = time.perf_counter()
    plan = solve_decomposed(
        cov, target=TARGET, by="district", scope=scope, client=client, time_limit=time_limit
    )
    seconds = time.perf_counter() - t
    s, h = plan.summary(), plan.solution.history["decomposed"]
    return {
        "seconds": seconds,
        "objective": s["objective"],
        "bound": s["bound"],
        "gap": s["gap"],
        "districts": h["districts"],
        "district_solve_s_sum": h["district_seconds_sum"],
        "district_solve_s_max": h["district_seconds_max"],
        "districts_optimal": h["districts_optimal"],
        "bound_from": h["bound"],
    }


def measure(side: int, time_limit: float, *, total: bool) -> dict:
    """Every stage's seconds and memory on a 2-worker LocalCluster."""
    import siting as st

    out: dict = {"load_before": load(), "caller_start_mb": peak_mb()}
    t = time.perf_counter()
    net, demand, cands = instance(side)
    out["network"] = {
        "seconds": time.perf_counter() - t,
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "demand": len(demand),
        "candidates": len(cands),
        "districts": int(demand["district"].nunique()),
        "caller_peak_mb": peak_mb(),
    }
    with _cluster() as client:
        start_mb = _started(client)
        t = time.perf_counter()
        stats: dict = {}
        cov = _tiled(st, net, demand, cands, client, stats)
        out["coverage tiled"] = {
            "seconds": time.perf_counter() - t,
            "snap_s": cov.timings.get("snap", float("nan")),
            "pairs": cov.pairs,
            "tiles": stats.get("jobs"),
            "largest_tile_nodes": stats.get("max_cut_nodes"),
            "largest_tile_mb": stats.get("max_job_mb"),
            "worker_start_mb": start_mb,
            "worker_peak_mb": _worker_peak(client),
            "caller_peak_mb": peak_mb(),
        }
    for scope in ["district", "total"] if total else ["district"]:
        with _cluster() as client:  # a new cluster: each stage's worker peak is its own
            start_mb = _started(client)
            rec = _siting(cov, client, scope, time_limit)
            rec.update(
                worker_start_mb=start_mb,
                worker_peak_mb=_worker_peak(client),
                caller_peak_mb=peak_mb(),
            )
        out["siting per district" if scope == "district" else "siting region"] = rec
    out["load_after"] = load()
    return out


def _tiled(st, net, demand, cands, client, stats: dict):
    """Tiled coverage through :func:`siting.tiles.tiled_distances` (its ``stats`` kept)."""
    import siting.tiles as tiles

    original = tiles.tiled_distances

    def with_stats(*args, **kw):
        kw["stats"] = stats
        return original(*args, **kw)

    tiles.tiled_distances = with_stats
    try:
        return st.coverage(
            net, demand, None, cands, minutes=MINUTES, cache=False, tiles=DISTRICT_M,
            client=client,
        )  # fmt: skip
    finally:
        tiles.tiled_distances = original


# ------------------------------------------------------------------ projection
def projection(res: dict, national: dict = NATIONAL) -> dict:
    """A national run from the measured per-tile and per-district costs.

    Coverage scales with the network's nodes (worker-seconds per node = the tiled
    stage's wall time × workers / nodes: an upper bound, scheduling and snapping
    included); siting with the demand points (worker-seconds per point of the
    per-district stage, likewise). The driver (the calling process) grows with the
    city's nodes from its memory with the imports. Memory per worker is the busiest
    worker's peak (tiles and districts of the same size as here). Each city is its own run (one
    :class:`~siting.Coverage`; the calling process holds one city's network and matrix,
    ~1.5 GB per million nodes, see ``docs/scale.md``).
    """
    nodes = res["network"]["nodes"]
    points = res["network"]["demand"]
    cov_ws = res["coverage tiled"]["seconds"] * WORKERS / nodes
    site_ws = res["siting per district"]["seconds"] * WORKERS / points
    n_nodes = national["cities"] * national["nodes_per_city"]
    n_points = national["communities"] * national["points_per_community"]
    coverage_ws = cov_ws * n_nodes
    siting_ws = site_ws * n_points
    wall = national["hours"] * 3600
    start, per_city = res["caller_start_mb"], national["nodes_per_city"] / nodes
    workers = math.ceil((coverage_ws + siting_ws) / wall)
    worker_mb = max(res[k]["worker_peak_mb"] for k in ("coverage tiled", "siting per district"))
    return {
        **national,
        "nodes": n_nodes,
        "points": n_points,
        "coverage_worker_hours": coverage_ws / 3600,
        "siting_worker_hours": siting_ws / 3600,
        "workers": workers,
        "worker_mb": worker_mb,
        "driver_mb_per_city": start + (res["coverage tiled"]["caller_peak_mb"] - start) * per_city,
    }  # fmt: skip


# ------------------------------------------------------------------ printing
ROWS = (
    ("network", "build the grid network (this process)"),
    ("coverage tiled", "snap here + 10 km tiles on the workers"),
    ("siting per district", "90% in every district, districts as tasks"),
    ("siting region", "90% of the region, coordinated districts"),
)


def _notes(name: str, r: dict) -> str:
    if name == "network":
        return (
            f"{r['nodes']:,} nodes, {r['edges']:,} edges, {r['demand']:,} points, "
            f"{r['candidates']:,} candidates, {r['districts']} districts"
        )
    if name == "coverage tiled":
        return (
            f"{r['pairs']:,} pairs, {r['tiles']} tiles (largest {r['largest_tile_nodes']:,} "
            f"nodes, {r['largest_tile_mb']:.1f} MB), snap {r['snap_s']:.1f} s"
        )
    return (
        f"{r['objective']:,.0f} sites, bound {r['bound']:,.1f} ({r['bound_from']}), "
        f"gap {r['gap']:.2%}; {r['districts']} districts, {r['districts_optimal']} optimal, "
        f"solves {r['district_solve_s_sum']:.0f} s in all "
        f"(longest {r['district_solve_s_max']:.1f} s)"
    )


def table(res: dict) -> str:
    lines = [
        f"load average before: {res['load_before']}, after: {res['load_after']} "
        f"(2 cores, shared with other jobs: times are upper bounds)",
        f"{'stage':<22}{'seconds':>9}{'caller MB':>11}{'worker MB':>11}  notes",
    ]
    for name, _ in ROWS:
        r = res.get(name)
        if r is None:
            continue
        worker = f"{r['worker_peak_mb']:>11,.0f}" if "worker_peak_mb" in r else f"{'':>11}"
        head = f"{name:<22}{r['seconds']:>9.1f}{r['caller_peak_mb']:>11,.0f}{worker}"
        lines.append(f"{head}  {_notes(name, r)}")
    p = res["projection"]
    lines += [
        "",
        f"National projection: {p['communities']:,} communities in {p['cities']} cities "
        f"(assumed {p['nodes_per_city']:,} nodes a city, {p['points_per_community']} points a "
        f"community: {p['nodes']:,} nodes, {p['points']:,} points)",
        f"  coverage {p['coverage_worker_hours']:.1f} worker-hours, siting "
        f"{p['siting_worker_hours']:.1f} worker-hours",
        f"  in {p['hours']:g} h: {p['workers']} single-threaded workers of "
        f"{p['worker_mb']:,.0f} MB (+ one driver per city run, ~{p['driver_mb_per_city']:,.0f} MB)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 200 x 200 region (smoke test)")
    ap.add_argument("--side", type=int, default=None, help=f"grid side (default {SIDE})")
    ap.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds per district")
    ap.add_argument("--total", action="store_true", help="also a region-wide target")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    side = args.side or (200 if args.quick else SIDE)
    res = measure(side, args.time_limit, total=args.total)
    res["projection"] = projection(res)
    res.update(side=side, time_limit=args.time_limit, cores=os.cpu_count())
    print(table(res))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=float))
    return res


if __name__ == "__main__":
    main()
