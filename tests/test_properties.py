"""Property-based tests (hypothesis) of coverage and solving, through the public API.

Random small street grids (some streets dropped), random homes and random sites:

* coverage never exceeds the total population;
* adding a site never lowers coverage (nor lengthens a walk);
* every plan satisfies its model: the target share is reached, at most ``p`` new sites,
  the existing sites stay open, every reachable home is served (p-median);
* the reported bound is never beaten by brute force (all subsets of the candidates),
  and a refused target is truly out of reach.

Deterministic (``derandomize=True``, no example database) and small, so CI is stable.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import siting as st
from siting.network.graph import grid_network

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EPS = 1e-6


@hs.composite
def instances(draw) -> st.Coverage:
    """A coverage of random homes by 0-2 existing and 1-6 candidate sites on a grid."""
    side = draw(hs.integers(3, 5))
    drop = draw(hs.sampled_from([0.0, 0.1, 0.25]))
    net = grid_network(side, 100.0, drop=drop, seed=draw(hs.integers(0, 50)))
    extent = (side - 1) * 100.0
    n = draw(hs.integers(1, 12))
    coords = draw(hs.lists(hs.integers(0, int(extent)), min_size=2 * n, max_size=2 * n))
    people = draw(hs.lists(hs.integers(1, 60), min_size=n, max_size=n))
    xy = np.asarray(coords, float).reshape(n, 2)
    demand = gpd.GeoDataFrame(
        {"population": np.asarray(people, float)},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=net.crs,
    )
    k = draw(hs.integers(1, min(8, net.n_nodes)))
    nodes = draw(hs.permutations(range(net.n_nodes)))[:k]
    n_existing = draw(hs.integers(0, min(2, k - 1)))

    def sites(idx) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(
            geometry=gpd.points_from_xy(net.node_x[idx], net.node_y[idx]), crs=net.crs
        )

    existing = sites(nodes[:n_existing]) if n_existing else None
    threshold = draw(hs.sampled_from([90.0, 150.0, 250.0, 400.0]))
    return st.coverage(net, demand, existing, sites(nodes[n_existing:]), threshold_m=threshold)


def covered_persons(cov: st.Coverage, open_sites: np.ndarray) -> float:
    return float(cov.population[cov.covered(open_sites)].sum())


def subsets(cov: st.Coverage, max_new: int | None = None):
    """Every open-site mask: the existing sites plus a subset of the candidates."""
    cand = np.flatnonzero(~cov.existing)
    top = len(cand) if max_new is None else min(max_new, len(cand))
    for r in range(top + 1):
        for pick in itertools.combinations(cand, r):
            mask = cov.existing.copy()
            mask[list(pick)] = True
            yield r, mask


# ------------------------------------------------------------------ coverage
@SETTINGS
@given(cov=instances(), data=hs.data())
def test_coverage_never_exceeds_the_total_and_grows_with_sites(cov, data):
    total = float(cov.population.sum())
    mask = np.asarray(
        data.draw(hs.lists(hs.booleans(), min_size=cov.n_sites, max_size=cov.n_sites))
    )
    extra = data.draw(hs.integers(0, cov.n_sites - 1))
    more = mask.copy()
    more[extra] = True
    before, after = covered_persons(cov, mask), covered_persons(cov, more)
    assert 0 <= before <= after <= total + EPS
    assert np.all(cov.nearest_m(more) <= cov.nearest_m(mask))
    stats = cov.stats(sites=more)
    assert float(stats["covered"].iloc[0]) == pytest.approx(after)
    assert 0 <= float(stats["share"].iloc[0]) <= 1


# ------------------------------------------------------------------ plans vs brute force
@SETTINGS
@given(cov=instances(), target=hs.sampled_from([0.3, 0.6, 0.9, 1.0]))
def test_target_plan_reaches_the_target_with_the_fewest_sites(cov, target):
    total = float(cov.population.sum())
    need = target * total - EPS
    best = min((r for r, m in subsets(cov) if covered_persons(cov, m) >= need), default=None)
    if best is None:
        with pytest.raises(st.InfeasibleError):
            st.solve(cov, model="target", target=target)
        return
    plan = st.solve(cov, model="target", target=target)
    s = plan.summary()
    assert plan.selected[cov.existing].all()
    assert s["covered_after"] >= need
    assert s["bound"] <= best + EPS  # a lower bound: never above the true fewest
    assert s["new_sites"] == s["objective"] == best


@SETTINGS
@given(cov=instances(), data=hs.data())
def test_mclp_plan_respects_p_and_its_bound(cov, data):
    p = data.draw(hs.integers(1, min(3, int((~cov.existing).sum()))))
    best = max(covered_persons(cov, m) for _, m in subsets(cov, p))
    plan = st.solve(cov, model="mclp", p=p)
    s = plan.summary()
    assert plan.selected[cov.existing].all()
    assert s["new_sites"] <= p
    assert s["bound"] >= best - EPS  # an upper bound: never below the true best
    assert s["covered_after"] == pytest.approx(s["objective"])
    assert s["objective"] == pytest.approx(best)


@SETTINGS
@given(cov=instances(), data=hs.data())
def test_pmedian_plan_serves_every_reachable_home_and_respects_its_bound(cov, data):
    p = data.draw(hs.integers(1, min(3, int((~cov.existing).sum()))))
    D = cov.distance_matrix().toarray()
    reach = cov.distance_matrix().tocsr()
    reachable = np.diff(reach.indptr) > 0
    if not reachable.any():  # no one to serve: refused, saying so
        with pytest.raises(st.InfeasibleError, match="reached by any site"):
            st.solve(cov, model="pmedian", p=p, drop_unreachable=True)
        return
    pop = cov.population

    def cost(mask):
        sub = reach[:, np.flatnonzero(mask)].tocsr()
        if not (np.diff(sub.indptr)[reachable] > 0).all():
            return None
        if sub.shape[1] == 0:
            return 0.0
        d = np.where(_stored(sub), sub.toarray(), np.inf)
        return float((pop[reachable] * d[reachable].min(axis=1)).sum())

    costs = [c for _, m in subsets(cov, p) if (c := cost(m)) is not None]
    if not costs:
        with pytest.raises(st.InfeasibleError):
            st.solve(cov, model="pmedian", p=p, drop_unreachable=True)
        return
    plan = st.solve(cov, model="pmedian", p=p, drop_unreachable=True)
    s = plan.summary()
    assert plan.selected[cov.existing].all()
    assert s["new_sites"] <= p
    assert cost(plan.selected) is not None  # every reachable home reaches an open site
    assert s["bound"] <= min(costs) + EPS * max(1.0, min(costs))
    assert s["objective"] == pytest.approx(min(costs))
    assert D.shape == (cov.n_demand, cov.n_sites)


def _stored(m) -> np.ndarray:
    """Where a CSR matrix stores an entry (a stored 0.0 is a walk of 0 m)."""
    out = np.zeros(m.shape, bool)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    out[rows, m.indices] = True
    return out
