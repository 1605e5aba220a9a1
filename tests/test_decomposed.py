"""Decomposed siting on Dask (:mod:`siting.decomposed`) against the single-process solve
and brute force.

Per-district targets: without shared sites the merged plan is the single-process
``by=`` optimum; with shared sites it meets every district's target and lies between
the brute-force optimum and the reported bound. A region-wide target: the coordinated
plan meets it, and the brute-force optimum lies between the bound and the plan.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import local_client

import siting as st
from siting.decomposed import decomposed_target, solve_decomposed
from siting.errors import InfeasibleError, ParameterError
from siting.optimize import CoverageProblem, SolveOptions, solve_matrix

distributed = pytest.importorskip("distributed")

OPTS = SolveOptions(time_limit=10, threads=1)


@pytest.fixture(scope="module")
def client():
    with local_client(processes=False) as c:
        yield c


def random_problem(n_demand, n_sites, n_groups, seed, *, separated, density=0.15):
    """Random covering problem; ``separated``: each site reaches one district only."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n_demand)
    A = rng.random((n_demand, n_sites)) < density
    if separated:
        site_group = np.arange(n_sites) % n_groups
        A &= group[:, None] == site_group[None, :]
    existing = np.zeros(n_sites, bool)
    existing[0] = True
    weight = rng.integers(1, 30, n_demand).astype(float)
    return CoverageProblem(cover=sp.csr_matrix(A), weight=weight, existing=existing, group=group)


def brute_force(problem, feasible):
    """Least cost of new sites over every subset of the candidates that is ``feasible``."""
    cands = problem.candidates
    for k in range(len(cands) + 1):
        for combo in itertools.combinations(cands, k):
            sel = problem.existing.copy()
            sel[list(combo)] = True
            if feasible(sel):
                return k
    return None


def district_shares(problem, sel):
    cov = problem.covered_mask(sel)
    w, g = problem.weight, problem.group
    return np.bincount(g, weights=w * cov) / np.bincount(g, weights=w)


def test_per_district_equals_single_process_without_shared_sites(client) -> None:
    p = random_problem(120, 24, 3, seed=1, separated=True, density=0.35)
    single = solve_matrix(p, "group_target", target=0.8, options=OPTS)
    dec = decomposed_target(p, 0.8, scope="district", client=client, options=OPTS)
    assert single.status == "optimal"
    assert dec.objective == single.objective
    assert dec.status == "optimal" and dec.bound == dec.objective
    assert np.all(district_shares(p, dec.selected) >= 0.8 - 1e-9)
    assert dec.history["decomposed"]["districts"] == 3


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_per_district_with_shared_sites_brackets_brute_force(client, seed) -> None:
    p = random_problem(40, 11, 3, seed=seed, separated=False, density=0.2)
    share = 0.75
    dec = decomposed_target(
        p, share, scope="district", client=client, districts_per_task=2, options=OPTS
    )
    best = brute_force(p, lambda sel: np.all(district_shares(p, sel) >= share - 1e-9))
    assert np.all(district_shares(p, dec.selected) >= share - 1e-9)
    assert dec.bound - 1e-9 <= best <= dec.objective
    assert dec.history["decomposed"]["districts_bound"] <= best + 1e-9  # before any clamp
    single = solve_matrix(p, "group_target", target=share, options=OPTS)
    assert single.objective == best  # the oracle agrees with the single-process solve


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_region_target_feasible_and_within_bound(client, seed) -> None:
    p = random_problem(40, 11, 3, seed=seed, separated=False, density=0.2)
    share = 0.75
    dec = decomposed_target(p, share, scope="total", client=client, options=OPTS)
    total = p.total_weight
    best = brute_force(p, lambda sel: p.covered_weight(sel) >= share * total - 1e-9)
    assert p.covered_weight(dec.selected) >= share * total - 1e-6
    assert dec.bound - 1e-9 <= best <= dec.objective
    assert dec.gap == pytest.approx((dec.objective - dec.bound) / dec.objective)
    assert dec.history["decomposed"]["bound"] == "lp"


@pytest.mark.slow
def test_region_target_larger_matches_single_process(client) -> None:
    p = random_problem(2000, 150, 6, seed=8, separated=False, density=0.02)
    single = solve_matrix(p, "target", target=0.9, options=OPTS)
    dec = decomposed_target(p, 0.9, scope="total", client=client, options=OPTS)
    assert p.covered_weight(dec.selected) >= 0.9 * p.total_weight - 1e-6
    assert dec.bound <= single.objective + 1e-9 <= dec.objective + 1e-9
    assert dec.objective <= single.objective * 1.1


@pytest.mark.slow
def test_coverage_level_plan(client) -> None:
    net = st.network.grid_network(21, 100.0)
    homes = net.nodes_gdf().assign(population=10)
    homes["district"] = np.where(homes.geometry.x < homes.geometry.x.median(), "west", "east")
    cands = st.candidate_sites(net, spacing_m=300)
    cov = st.coverage(net, homes, None, cands, minutes=5)
    plan = solve_decomposed(cov, target=0.8, by="district", client=client, time_limit=10)
    single = st.solve(cov, target=0.8, by="district", time_limit=10)
    stats = plan.stats("district")
    assert (stats.loc[["east", "west"], "covered_after"] >= 0.8 * 2205 / 2 - 1e-6).all()
    assert plan.summary()["bound"] <= single.summary()["objective"] <= plan.summary()["objective"]
    assert plan.params["scope"] == "district"


def test_errors(client) -> None:
    p = random_problem(30, 8, 2, seed=9, separated=True, density=0.6)
    with pytest.raises(ParameterError, match="scope"):
        decomposed_target(p, 0.5, scope="city", client=client)
    with pytest.raises(ParameterError, match="districts_per_task"):
        decomposed_target(p, 0.5, client=client, districts_per_task=0)
    nogroup = CoverageProblem(cover=p.cover, weight=p.weight)
    with pytest.raises(ParameterError, match="group"):
        decomposed_target(nogroup, 0.5, client=client)
    A = p.cover.tolil()
    rows = np.flatnonzero(p.group == 1)
    A[rows, :] = False
    far = CoverageProblem(cover=A.tocsr(), weight=p.weight, group=p.group)
    with pytest.raises(InfeasibleError, match="in district 1"):
        decomposed_target(far, 0.5, client=client)
    names = ["北", "南"]
    named = CoverageProblem(cover=A.tocsr(), weight=p.weight, group=p.group, group_names=names)
    with pytest.raises(InfeasibleError, match="in 南"):
        decomposed_target(named, 0.5, client=client)


def test_shared_site_cost_is_split_between_districts(client) -> None:
    """Hand-computed: site 0 reaches all four points of two districts, sites 1-4 one
    point each. The optimum is site 0 alone; each district alone would also pay a whole
    site, so adding the districts' bounds without cost shares would claim 2 > 1."""
    A = np.zeros((4, 5), bool)
    A[:, 0] = True
    A[np.arange(4), np.arange(1, 5)] = True
    p = CoverageProblem(cover=sp.csr_matrix(A), group=np.array([0, 0, 1, 1]))
    dec = decomposed_target(p, 1.0, scope="district", client=client, options=OPTS)
    assert dec.objective == 1.0 and np.flatnonzero(dec.selected).tolist() == [0]
    assert dec.bound == pytest.approx(1.0) and dec.status == "optimal"
    assert dec.history["decomposed"]["districts_bound"] == pytest.approx(1.0)
