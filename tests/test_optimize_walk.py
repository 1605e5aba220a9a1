"""The fewest-sites walk (``heuristics.fewest_columns_search``), the large-model search of
partial covering: feasible plans, the brute-force optimum on small instances, the same
plan for the same seed, and an exact incremental state."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_optimize_models import coverage_of_all, make_instance

from siting.optimize import SolveOptions, settings, solve_target
from siting.optimize import partial_cover as pc
from siting.optimize.heuristics import (
    CoverIndex,
    _TargetWalk,
    fewest_columns_search,
    greedy_cover,
)


def random_cover(seed: int, n: int, m: int, density: float):
    rng = np.random.default_rng(seed)
    A = sp.csr_matrix(rng.random((n, m)) < density)
    A = sp.csr_matrix(A[np.diff(A.indptr) > 0])
    w = rng.integers(1, 100, A.shape[0]).astype(float)
    return A, w


def fewest_brute(A: sp.csr_matrix, w: np.ndarray, need: float) -> int:
    """The fewest columns covering ``need`` persons, over all subsets."""
    m = A.shape[1]
    S = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(bool)
    covered = (A.toarray().astype(int) @ S.T.astype(int)) > 0
    ok = w @ covered >= need - 1e-9
    return int(S.sum(axis=1)[ok].min())


def start_plan(A: sp.csr_matrix, w: np.ndarray, share: float):
    idx = CoverIndex.build(A, w)
    need = share * w.sum()
    sel, _, _ = greedy_cover(idx, need)
    return idx, need - idx.tol(), sel


@pytest.mark.parametrize("seed", range(6))
def test_walk_reaches_the_brute_force_optimum(seed: int) -> None:
    A, w = random_cover(seed, n=60, m=14, density=0.15)
    idx, need_t, start = start_plan(A, w, 0.8)
    best = fewest_brute(A, w, need_t)
    got = fewest_columns_search(idx, start, need_t, seed=seed, max_iterations=3000)
    assert idx.covered(got) >= need_t
    assert got.sum() == best


def test_walk_is_deterministic_and_never_worse_than_its_start() -> None:
    A, w = random_cover(3, n=2000, m=150, density=0.03)
    idx, need_t, start = start_plan(A, w, 0.9)
    a = fewest_columns_search(idx, start, need_t, seed=4, max_iterations=1500, workers=2)
    b = fewest_columns_search(idx, start, need_t, seed=4, max_iterations=1500, workers=2)
    assert np.array_equal(a, b)
    assert idx.covered(a) >= need_t
    assert a.sum() < start.sum()  # greedy leaves sites to shed here
    # nothing to gain: the start comes back
    lone = fewest_columns_search(idx, a, need_t, seed=4, max_iterations=0)
    assert np.array_equal(lone, a)


def test_walk_keeps_its_incremental_state_exact() -> None:
    """After many kicks, closes and undos, the walk's covered weight and counts are what
    a recount from its plan gives, and its best plan covers the need."""
    A, w = random_cover(5, n=800, m=80, density=0.05)
    idx, need_t, start = start_plan(A, w, 0.85)
    wk = _TargetWalk(idx, start, 7, need_t)
    for _ in range(5):
        wk.run(200)
        sel, cnt = wk.state[0], wk.state[1]
        assert wk.tally[0] == pytest.approx(idx.covered(sel))
        assert np.array_equal(cnt, np.asarray(A @ sel.astype(int)).ravel())
        assert idx.covered(wk.best) >= need_t and wk.best.sum() == wk.fewest


def test_walk_patience_and_least_stop_it(monkeypatch: pytest.MonkeyPatch) -> None:
    A, w = random_cover(3, n=2000, m=150, density=0.03)
    idx, need_t, start = start_plan(A, w, 0.9)
    rounds = []
    run = _TargetWalk.run
    monkeypatch.setattr(_TargetWalk, "run", lambda wk, n: rounds.append(n) or run(wk, n))

    def count(**kw) -> int:
        rounds.clear()
        fewest_columns_search(idx, start, need_t, seed=1, max_iterations=2000, **kw)
        return len(rounds)

    assert count() == 20  # rounds of settings.ils_chunk = 100 iterations
    assert count(least=10**6) == 1  # a bound the start meets: one round
    assert count(patience_s=0.0) == 1  # no patience: one round


@pytest.mark.parametrize(
    ("seed", "density"), [(504, 0.15), (508, 0.2), (509, 0.15), (511, 0.2), (516, 0.1)]
)
def test_target_large_path_walks_to_the_optimum(
    seed: int, density: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the swaps after greedy switched off, the walk alone takes the greedy plan to
    the brute-force optimum on the large-model path."""
    P = make_instance(seed, n=60, m=13, density=density)
    S, covered = coverage_of_all(P)
    target = 0.9 * P.weight[P.reachable_mask()].sum() / P.total_weight
    ok = P.weight @ covered >= target * P.total_weight - 1e-9
    best = S[:, ~P.existing].sum(axis=1)[ok].min()
    monkeypatch.setattr(pc, "improve_partial_cover", lambda idx, need, sel, **kw: (sel, 0.0))
    with settings.override(lp_nnz_limit=0, target_walk_min_gap_sites=0):
        sol = solve_target(P, target, options=SolveOptions(time_limit=2.0, seed=seed))
        again = solve_target(P, target, options=SolveOptions(time_limit=2.0, seed=seed))
    assert sol.history["local_search"] > best  # greedy alone is not optimal here
    assert "walk" in sol.method.split("+")
    assert sol.history["walk"] == best
    assert sol.covered_weight >= target * P.total_weight - 1e-6
    assert sol.bound <= best + 1e-6 and sol.objective == best
    assert np.array_equal(sol.selected, again.selected)
