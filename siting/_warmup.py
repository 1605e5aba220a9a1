"""Compile siting's numba kernels once, into numba's on-disk cache.

The kernels (shortest paths, snapping, network simplification, the solvers' searches)
are compiled on their first call and cached beside their modules; a fresh install pays
about a minute for all of them: 20 s on the first demo, and up to 35 s more on the first
city-scale solve (its iterated searches). ``make install`` runs ``python -m
siting._warmup`` so that the first ``make demo``, the first solve and each test worker
load them instead.

It runs every stage on a small synthetic street grid: a network built from segments,
snapping, the bounded searches, service areas, each model on both its small-model and
its city-scale path (``settings.lp_nnz_limit = 0``), and the iterated searches and cuts
that only large models reach. Nothing is written but the cache.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely

from .measure import candidate_sites, coverage
from .network.graph import Network, grid_network
from .network.paths import within_limit
from .optimize import settings
from .optimize.cuts import triangle_cuts
from .optimize.heuristics import (
    CoverIndex,
    fewest_columns_search,
    greedy_cover,
    mclp_iterated_search,
)
from .plan import Plan, coverage_curve, solve

#: the synthetic city: nodes per side, metres between nodes, share of streets missing
GRID_SIDE, GRID_STEP_M, GRID_DROP = 30, 80.0, 0.1
#: demand points and their persons
N_DEMAND, MOST_PERSONS = 400, 50


def _synthetic_coverage():
    """A 30 × 30 street grid with 400 demand points and candidates every 300 m."""
    grid = grid_network(GRID_SIDE, GRID_STEP_M, drop=GRID_DROP, seed=0)
    net = Network.from_segments(  # simplified, as a network read from OSM is
        grid.edge_u, grid.edge_v, grid.node_x, grid.node_y, grid.crs, length=grid.edge_length
    )
    rng = np.random.default_rng(0)
    lo_x, lo_y = net.node_x.min(), net.node_y.min()
    side_m = (GRID_SIDE - 1) * GRID_STEP_M
    points = shapely.points(
        lo_x + rng.uniform(0, side_m, N_DEMAND), lo_y + rng.uniform(0, side_m, N_DEMAND)
    )
    demand = gpd.GeoDataFrame(
        {"population": rng.integers(1, MOST_PERSONS, N_DEMAND).astype(float)},
        geometry=points,
        crs=net.crs,
    )
    candidates = candidate_sites(net, spacing_m=300.0)
    existing = candidates.iloc[:2].assign(existing=True)
    return coverage(net, demand, existing, candidates.iloc[2:], minutes=(5, 10))


def _every_model(cov) -> list[Plan]:
    """Each model once (the capacitated ones with a capacity per site)."""
    plans = [
        solve(cov, target=0.8, minutes=10),
        solve(cov, model="mclp", p=3, minutes=10),
        solve(cov, model="lscp", minutes=10),
        solve(cov, model="pmedian", p=20, minutes=10, drop_unreachable=True),
    ]
    cov.sites["capacity"] = 2_000.0
    plans.append(solve(cov, model="mclp", p=3, minutes=10, capacity="capacity"))
    return plans


def _city_scale_searches(cov) -> None:
    """The searches and cuts that only large or hard models reach, called directly."""
    A = sp.csr_matrix(cov.matrix(10), dtype=bool)  # demand x sites
    w = cov.population
    idx = CoverIndex.build(A, w)
    sel, _, _ = greedy_cover(idx, np.inf, max_add=3)
    mclp_iterated_search(idx, sel, max_iterations=50)
    fewest_columns_search(idx, sel, 0.8 * float(w.sum()), max_iterations=50)
    # three rows, each pair sharing a half-open column: one violated triangle
    odd_cycle = sp.csr_matrix(np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], dtype=bool))
    triangle_cuts(odd_cycle, np.full(3, 0.5), np.ones(3))
    within_limit(sp.csr_matrix(cov.distance), 375.0)  # metres


def compile_kernels() -> float:
    """Run every stage once on the synthetic city; the seconds it took."""
    t0 = time.perf_counter()
    cov = _synthetic_coverage()
    cov.stats(minutes=(5, 10))
    for plan in _every_model(cov):
        plan.service_areas()
    coverage_curve(cov, max_new=5, minutes=10)
    _city_scale_searches(cov)
    with settings.override(lp_nnz_limit=0):  # the city-scale paths' kernels too
        _every_model(cov)
    return time.perf_counter() - t0


if __name__ == "__main__":
    print(f"siting: numba kernels compiled and cached in {compile_kernels():.1f} s")
