"""City-scale benchmark (``city-1m``): a 1-million-node city on one machine, and on Dask.

The instance (issue 22): ``siting.network.grid_network(1000, 80.0, drop=0.1)`` (999,890
nodes, 1.8 million edges, an 80 km square), 500,000 random demand points with random
population (1-100 persons), 20,000 random candidate sites, a 15-minute walk (1125 m at
4.5 km/h), and the fewest sites to cover 90% of the persons (``time_limit`` 60 s).

Stages, each in a fresh child process (its peak memory is the child's own ``VmHWM``,
Python and imports included):

* ``network``: build the grid network;
* ``snap``: snap the 500,000 demand points with the compiled grid search (index build
  timed apart) and with the shapely STRtree search it replaced; the two must agree on
  every point (same edge, access metres bit for bit, offsets within 1e-6 m);
* ``coverage``: :func:`siting.coverage` (snapping + distances) of demand × candidates;
* ``coverage tiled``: the same on Dask, 10 km tiles on a 2-worker ``LocalCluster``
  (checked equal to the single-process matrix); the peak of the busiest worker and of
  this process are reported apart;
* ``plan``: :func:`siting.solve` (``model="target"``, 90%) on the saved coverage;
* ``whole run``: network → coverage → plan in one process, with the memory of each
  step sampled (``rss`` every 20 ms) to show where the peak is and the solver's share.

Usage: ``python benchmarks/bench_city.py [--quick] [--time-limit 60] [--only STAGES]
[--json benchmarks/results/city.json]``; ``run(quick)`` returns the records for
``benchmarks/run.py`` (``make bench``), which adds them to ``results/latest.json``.
``--quick`` shrinks the city to 300 × 300 nodes (smoke test of the script).
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
_sys.path.insert(0, str(_Path(__file__).resolve().parent))

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SIDE, STEP_M, DROP = 1000, 80.0, 0.1
N_DEMAND, N_CANDIDATES, SEED = 500_000, 20_000, 22
MINUTES, TARGET, TIME_LIMIT = 15.0, 0.90, 60.0
TILE_M, WORKERS = 10_000.0, 2
STAGES = ("network", "snap", "coverage", "coverage tiled", "plan", "whole run")
HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------ instance
def instance(side: int):
    """(network, demand, candidates) of the city, always the same for the same side."""
    import geopandas as gpd

    from siting.network import grid_network

    net = grid_network(side, STEP_M, drop=DROP)
    n_demand = N_DEMAND if side == SIDE else N_DEMAND * side**2 // SIDE**2
    n_cand = N_CANDIDATES if side == SIDE else N_CANDIDATES * side**2 // SIDE**2
    rng = np.random.default_rng(SEED)
    extent = (side - 1) * STEP_M
    dx, dy = rng.uniform(0, extent, n_demand), rng.uniform(0, extent, n_demand)
    population = rng.integers(1, 101, n_demand).astype(float)
    cx, cy = rng.uniform(0, extent, n_cand), rng.uniform(0, extent, n_cand)
    demand = gpd.GeoDataFrame(
        {"population": population}, geometry=gpd.points_from_xy(dx, dy), crs=net.crs
    )
    cands = gpd.GeoDataFrame(geometry=gpd.points_from_xy(cx, cy), crs=net.crs)
    return net, demand, cands


def peak_mb() -> float:
    """This process's own peak resident memory (``VmHWM``, MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """This process's resident memory now (MB)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler:
    """The largest resident memory seen during each named step (sampled every 20 ms)."""

    def __init__(self) -> None:
        self.step, self.peaks = "start", {"start": rss_mb()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peaks[self.step] = max(self.peaks.get(self.step, 0.0), rss_mb())

    def enter(self, step: str) -> float:
        """Start step ``step``; returns the memory held when it starts (MB)."""
        now = rss_mb()
        self.peaks[self.step] = max(self.peaks.get(self.step, 0.0), now)
        self.step = step
        self.peaks[step] = now
        return now

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.peaks[self.step] = max(self.peaks[self.step], rss_mb())
        return self.peaks


def _warm() -> None:
    """Imports and the compiled kernels (numba's cache) before anything is timed."""
    import siting as st

    net, demand, cands = instance(20)
    st.solve(st.coverage(net, demand, None, cands, cache=False), "target", time_limit=1)


# ------------------------------------------------------------------ stages (children)
def stage_network(side: int, args) -> dict:
    from siting.network import grid_network

    t = time.perf_counter()
    net = grid_network(side, STEP_M, drop=DROP)
    return {"seconds": time.perf_counter() - t, "nodes": net.n_nodes, "edges": net.n_edges}


def stage_snap(side: int, args) -> dict:
    from siting.network.snap import edge_index, snap_points, snap_points_strtree

    net, demand, _ = instance(side)
    x, y = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    n = len(x)
    t = time.perf_counter()
    index = edge_index(net)
    build = time.perf_counter() - t
    t = time.perf_counter()
    new = snap_points(net, x, y)
    new_s = time.perf_counter() - t  # includes the STRtree build for tied points
    t = time.perf_counter()
    new2 = snap_points(net, x, y)
    new2_s = time.perf_counter() - t
    *_, tied = index.nearest(x, y, new.max_snap_m)
    t = time.perf_counter()
    old = snap_points_strtree(net, x, y)
    old_s = time.perf_counter() - t
    same = (
        np.array_equal(new.edge, old.edge)
        and np.array_equal(new.access_m, old.access_m)
        and np.array_equal(new.snapped, old.snapped)
        and float(np.abs(new.offset_m - old.offset_m).max()) <= 1e-6
        and np.array_equal(new2.edge, new.edge)
    )
    return {
        "index_build_s": build,
        "index_mb": index.nbytes / 2**20,
        "seconds": new2_s,
        "first_call_s": new_s,
        "us_per_point": new2_s / n * 1e6,
        "strtree_seconds": old_s,
        "strtree_us_per_point": old_s / n * 1e6,
        "tied_points": int(tied.sum()),
        "identical": bool(same),
        "max_offset_diff_m": float(np.abs(new.offset_m - old.offset_m).max()),
        "points": n,
    }


def _coverage(side: int):
    import siting as st

    net, demand, cands = instance(side)
    t = time.perf_counter()
    cov = st.coverage(net, demand, None, cands, minutes=MINUTES, cache=False)
    return net, cov, time.perf_counter() - t


def stage_coverage(side: int, args) -> dict:
    import scipy.sparse as sp

    _, cov, seconds = _coverage(side)
    sp.save_npz(args.cache / f"city-{side}-distance.npz", cov.distance)
    np.save(args.cache / f"city-{side}-population.npy", cov.population)
    return {
        "seconds": seconds,
        "snap_s": cov.timings["snap"],
        "distances_s": cov.timings["distances"],
        "pairs": cov.pairs,
    }


def stage_tiled(side: int, args) -> dict:
    import logging

    import scipy.sparse as sp
    from distributed import Client, LocalCluster

    import siting as st

    net, demand, cands = instance(side)
    with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(_warm)
        warm_mb = max(client.run(rss_mb).values())
        t = time.perf_counter()
        cov = st.coverage(
            net, demand, None, cands, minutes=MINUTES, cache=False, tiles=TILE_M, client=client
        )
        seconds = time.perf_counter() - t
        worker_peak = max(client.run(peak_mb).values())
    single = sp.load_npz(args.cache / f"city-{side}-distance.npz").tocsr()
    D = cov.distance.tocsr()
    D.sort_indices()
    single.sort_indices()
    same = (
        np.array_equal(D.indptr, single.indptr)
        and np.array_equal(D.indices, single.indices)
        and np.array_equal(D.data, single.data)
    )
    return {
        "seconds": seconds,
        "snap_s": cov.timings["snap"],
        "distances_s": cov.timings["distances"],
        "pairs": cov.pairs,
        **_tile_sizes(net, cov),
        "worker_start_mb": warm_mb,
        "worker_peak_mb": worker_peak,
        "identical": bool(same),
    }


def _tile_sizes(net, cov) -> dict:
    """How many tiles, and the largest (nodes in its cut, MB shipped to its worker)."""
    from siting.network.snap import links, snap_points
    from siting.tiles import site_tiles, split

    sx, sy = cov.sites.geometry.x.to_numpy(), cov.sites.geometry.y.to_numpy()
    dx, dy = cov.demand.geometry.x.to_numpy(), cov.demand.geometry.y.to_numpy()
    src = links(net, snap_points(net, sx, sy), as_source=True)
    tgt = links(net, snap_points(net, dx, dy), as_source=False)
    jobs = list(split(net, src, tgt, site_tiles(sx, sy, TILE_M), cov.limit_m))
    return {
        "tiles": len(jobs),
        "largest_tile_nodes": max(len(j.nodes) for j in jobs),
        "largest_tile_mb": max(j.nbytes for j in jobs) / 2**20,
    }


def _plan(cov, time_limit: float) -> dict:
    import siting as st

    t = time.perf_counter()
    plan = st.solve(cov, "target", target=TARGET, time_limit=time_limit)
    s = plan.summary()
    return {
        "seconds": time.perf_counter() - t,
        "objective": s["objective"],
        "bound": s["bound"],
        "gap": s["gap"],
        "repeatable": s.get("repeatable"),
        "solver_method": plan.solution.method,
    }


def stage_plan(side: int, args) -> dict:
    import geopandas as gpd
    import scipy.sparse as sp

    from siting.measure import Coverage, walk_metres

    D = sp.load_npz(args.cache / f"city-{side}-distance.npz").tocsr()
    pop = np.load(args.cache / f"city-{side}-population.npy")
    demand = gpd.GeoDataFrame({"population": pop}, geometry=gpd.points_from_xy(pop * 0, pop * 0))
    n_sites = D.shape[0]
    sites = gpd.GeoDataFrame(
        {"existing": np.zeros(n_sites, bool), "cost": np.ones(n_sites)},
        geometry=gpd.points_from_xy(np.zeros(n_sites), np.zeros(n_sites)),
    )
    cov = Coverage(demand, sites, D, walk_metres(MINUTES), minutes=(MINUTES,))
    before = rss_mb()
    out = _plan(cov, args.time_limit)
    out["held_before_mb"] = before
    return out


def stage_whole(side: int, args) -> dict:
    import siting as st

    sampler = Sampler()
    start = time.perf_counter()
    sampler.enter("network")
    net, demand, cands = instance(side)
    sampler.enter("coverage")
    t = time.perf_counter()
    cov = st.coverage(net, demand, None, cands, minutes=MINUTES, cache=False)
    cov_s = time.perf_counter() - t
    held = sampler.enter("plan")
    out = _plan(cov, args.time_limit)
    peaks = sampler.stop()
    out.update(
        seconds=time.perf_counter() - start,
        plan_s=out["seconds"],
        coverage_s=cov_s,
        pairs=cov.pairs,
        network_peak_mb=peaks["network"],
        coverage_peak_mb=peaks["coverage"],
        plan_peak_mb=peaks["plan"],
        held_before_plan_mb=held,
        solver_share_mb=peaks["plan"] - held,
    )
    return out


CHILDREN = {
    "network": stage_network,
    "snap": stage_snap,
    "coverage": stage_coverage,
    "coverage tiled": stage_tiled,
    "plan": stage_plan,
    "whole run": stage_whole,
}


def child(stage: str, side: int, args) -> None:
    _warm()
    base = rss_mb()
    out = {"baseline_mb": base, "load_avg_start": os.getloadavg()[0]}
    out.update(CHILDREN[stage](side, args))
    out["peak_mb"] = peak_mb()
    out["load_avg_end"] = os.getloadavg()[0]
    print("\nRESULT " + json.dumps(out), flush=True)


def run_child(stage: str, side: int, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--side", str(side)]
    cmd += ["--cache", str(args.cache), "--time-limit", str(args.time_limit)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return {"note": f"failed (exit {p.returncode}): {p.stderr.strip()[-600:]}"}
    return json.loads(lines[-1][7:])


# ------------------------------------------------------------------ parent
def records_of(results: dict[str, dict], side: int, time_limit: float) -> list[dict]:
    """``benchmarks/run.py`` records (instance, stage, method, seconds, ...)."""
    name = "city-1m" if side == SIDE else f"city-{side}x{side}"
    recs = []
    methods = {
        "network": "grid_network",
        "snap": "grid search (new)",
        "coverage": "siting",
        "coverage tiled": f"siting, {TILE_M / 1000:g} km tiles, {WORKERS} Dask workers",
        "plan": f"target {TARGET:.0%}, time_limit {time_limit:g}",
        "whole run": "network+coverage+plan",
    }
    for stage, r in results.items():
        rec = {"instance": name, "stage": stage, "method": methods[stage], **r}
        recs.append(rec)
        if stage == "snap" and "strtree_seconds" in r:
            recs.append(
                {
                    "instance": name,
                    "stage": "snap",
                    "method": "shapely STRtree (old)",
                    "seconds": r["strtree_seconds"],
                    "us_per_point": r["strtree_us_per_point"],
                }
            )
    return recs


#: table columns: (key, title, width, number format or None for text)
COLUMNS = (
    ("stage", "stage", 16, None),
    ("method", "method", 36, None),
    ("seconds", "seconds", 9, "9.2f"),
    ("us_per_point", "µs/pt", 8, "8.2f"),
    ("pairs", "pairs", 12, "12,d"),
    ("objective", "objective", 10, "10,.0f"),
    ("bound", "bound", 9, "9,.0f"),
    ("gap", "gap", 8, "8.2%"),
    ("peak_mb", "peak MB", 9, "9.0f"),
)


def _cell(value, width: int, spec: str | None) -> str:
    if spec is None:
        return str(value)[: width - 1].ljust(width)
    ok = isinstance(value, int | float) and value == value
    return (format(value, spec) if ok else "-").rjust(width)


def _notes(r: dict) -> str:
    notes = []
    if "index_build_s" in r:
        notes.append(
            f"index {r['index_build_s']:.2f} s, {r['index_mb']:.0f} MB; first call "
            f"{r['first_call_s']:.2f} s; {r['tied_points']} tied; identical={r['identical']}"
        )
    if "snap_s" in r:
        notes.append(f"snap {r['snap_s']:.2f} s + distances {r['distances_s']:.2f} s")
    if "tiles" in r:
        notes.append(
            f"{r['tiles']} tiles (≤ {r['largest_tile_nodes']:,} nodes, "
            f"{r['largest_tile_mb']:.0f} MB); worker peak {r['worker_peak_mb']:.0f} MB "
            f"(idle {r['worker_start_mb']:.0f}); identical={r['identical']}"
        )
    if "solver_share_mb" in r:
        notes.append(
            f"peak by step: network {r['network_peak_mb']:.0f}, coverage "
            f"{r['coverage_peak_mb']:.0f}, plan {r['plan_peak_mb']:.0f} MB "
            f"(solver +{r['solver_share_mb']:.0f} MB over {r['held_before_plan_mb']:.0f})"
        )
    if r.get("repeatable") is False:
        notes.append("cut by the wall clock (a loaded machine): not repeatable")
    if "note" in r:
        notes.append(r["note"])
    return "; ".join(notes)


def table(records: list[dict]) -> str:
    """A fixed-width table of the records, with the stage notes at the end of the line."""
    head = "".join(t.ljust(w) if spec is None else t.rjust(w) for _, t, w, spec in COLUMNS)
    rows = [
        "".join(_cell(r.get(k), w, spec) for k, _, w, spec in COLUMNS) + "  " + _notes(r)
        for r in records
    ]
    return "\n".join([head + "  notes", "-" * len(head), *rows])


def run(quick: bool = False, *, only: str | None = None, time_limit: float = TIME_LIMIT):
    """Every stage in its own process; the records (and the table printed)."""
    side = 300 if quick else SIDE
    stages = [s for s in STAGES if only is None or s in only.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        args = argparse.Namespace(cache=Path(tmp), time_limit=time_limit)
        if ("plan" in stages or "coverage tiled" in stages) and "coverage" not in stages:
            stages.insert(0, "coverage")  # they read its saved matrix
        results = {}
        for stage in stages:
            print(f"city: {stage} ...", flush=True)
            results[stage] = run_child(stage, side, args)
    records = records_of(results, side, time_limit)
    print(table(records))
    return records


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 300 x 300 city")
    ap.add_argument("--only", default=None, help="comma-separated stages")
    ap.add_argument("--time-limit", type=float, default=TIME_LIMIT)
    ap.add_argument("--json", default=None, help="write the records here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--side", type=int, default=SIDE, help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.side, args)
        return []
    records = run(args.quick, only=args.only, time_limit=args.time_limit)
    if args.json:  # results are meant to be replaced: force
        from siting.output import atomic_write_text

        atomic_write_text(args.json, json.dumps(records, indent=1, default=str), force=True)
    return records


if __name__ == "__main__":
    main()
