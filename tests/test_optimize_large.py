"""Bounds and searches for coverage models too large for the simplex method.

The first-order LP (PDLP) is only trusted through the Lagrangian bounds its duals give,
so the checks are: those bounds are valid for *any* multipliers (against the exact LP
and brute force), the PDLP-based bounds come close to the LP, and the large-model paths
of ``solve_target`` / ``solve_mclp`` return feasible answers with valid bounds.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog
from test_optimize_models import coverage_of_all, make_instance

from siting.optimize import CoverageProblem, SolveOptions, settings, solve_mclp, solve_target
from siting.optimize import _kernels as kern
from siting.optimize.bounds import (
    first_order_seconds,
    lp_mclp_first_order,
    lp_psclp_first_order,
    mclp_dual_bound,
    psclp_dual_bound,
)
from siting.optimize.heuristics import CoverIndex, greedy_cover, mclp_iterated_search


def random_cover(seed: int, n: int = 300, m: int = 40, density: float = 0.08):
    rng = np.random.default_rng(seed)
    A = sp.csr_matrix(rng.random((n, m)) < density)
    keep = np.diff(A.indptr) > 0
    A = sp.csr_matrix(A[keep])
    w = rng.integers(1, 500, A.shape[0]).astype(float)
    return A, w


def psclp_lp(A: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, need: float) -> float:
    """Exact LP optimum of partial set covering with scipy's HiGHS (reference)."""
    n, m = A.shape
    c = np.r_[cost, np.zeros(n)]
    link = sp.hstack([-A.astype(float), sp.identity(n)])
    knap = sp.hstack([sp.csr_matrix((1, m)), -sp.csr_matrix(w[None, :])])
    res = linprog(
        c,
        A_ub=sp.vstack([link, knap]).tocsr(),
        b_ub=np.r_[np.zeros(n), -need],
        bounds=(0, 1),
        method="highs",
    )
    assert res.status == 0
    return float(res.fun)


def mclp_lp(A: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, limit: float) -> float:
    """Exact LP optimum of maximal covering (reference)."""
    n, m = A.shape
    c = np.r_[np.zeros(m), -w]
    link = sp.hstack([-A.astype(float), sp.identity(n)])
    knap = sp.hstack([sp.csr_matrix(cost[None, :]), sp.csr_matrix((1, n))])
    res = linprog(
        c,
        A_ub=sp.vstack([link, knap]).tocsr(),
        b_ub=np.r_[np.zeros(n), limit],
        bounds=(0, 1),
        method="highs",
    )
    assert res.status == 0
    return float(-res.fun)


@pytest.mark.parametrize("seed", range(4))
def test_dual_bounds_valid_for_any_multipliers(seed: int) -> None:
    A, w = random_cover(seed)
    m = A.shape[1]
    rng = np.random.default_rng(seed)
    cost = rng.integers(1, 4, m).astype(float)
    need = 0.7 * float(w.sum())
    lp_min = psclp_lp(A, w, cost, need)
    limit = 6.0
    lp_max = mclp_lp(A, w, cost, limit)
    for scale in (0.0, 1e-4, 1e-3, 1e-2, 1.0):
        lam = rng.random(A.shape[0]) * scale * w.mean() / max(w.mean(), 1)
        assert psclp_dual_bound(A, w, cost, need, lam) <= lp_min + 1e-6
        assert mclp_dual_bound(A, w, cost, limit, lam * w.mean()) >= lp_max - 1e-6
    # negative entries are clipped, not trusted
    assert psclp_dual_bound(A, w, cost, need, -np.ones(A.shape[0])) <= lp_min + 1e-6


@pytest.mark.parametrize("seed", range(3))
def test_first_order_bounds_close_to_lp(seed: int) -> None:
    A, w = random_cover(seed + 10, n=600, m=60)
    cost = np.ones(A.shape[1])
    need = 0.8 * float(w.sum())
    lp_min = psclp_lp(A, w, cost, need)
    bound, lam, y = lp_psclp_first_order(A, w, cost, need, time_limit=3.0)
    assert bound <= lp_min + 1e-6
    assert bound >= lp_min - 0.01 * max(1.0, lp_min)
    assert lam is not None and y is not None and y.shape == (A.shape[1],)
    assert np.all((y >= 0) & (y <= 1))
    p = 5
    lp_max = mclp_lp(A, w, cost, p)
    ub, y2 = lp_mclp_first_order(A, w, cost, float(p), time_limit=3.0)
    assert ub >= lp_max - 1e-6
    assert ub <= lp_max * 1.01
    assert y2 is not None and np.all((y2 >= 0) & (y2 <= 1))


def test_first_order_seconds() -> None:
    assert first_order_seconds(60.0) == pytest.approx(9.0)
    assert first_order_seconds(10.0) == pytest.approx(2.0)
    assert first_order_seconds(1.0) == pytest.approx(0.5)  # never more than half
    assert first_order_seconds(1000.0) == pytest.approx(15.0)
    assert first_order_seconds(0.0) == pytest.approx(0.05)


@pytest.fixture
def large_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every instance down the large-model path (first-order LP, no simplex)."""
    monkeypatch.setattr(settings, "lp_nnz_limit", 0)


@pytest.mark.parametrize("seed", range(4))
def test_target_large_path_brute_force(seed: int, large_paths: None) -> None:
    P = make_instance(seed + 300, n=40, m=12)
    S, covered = coverage_of_all(P)
    cw = P.weight @ covered
    reach = P.weight[P.reachable_mask()].sum()
    target = 0.85 * reach / P.total_weight
    ok = cw >= target * P.total_weight - 1e-9
    best = S[:, ~P.existing].sum(axis=1)[ok].min()
    sol = solve_target(P, target, options=SolveOptions(time_limit=2.0))
    assert "lp" not in sol.method.split("+")  # the simplex LP is skipped
    assert sol.covered_weight >= target * P.total_weight - 1e-6
    assert sol.bound <= best + 1e-6 <= sol.objective + 1e-6
    assert sol.gap >= 0.0
    # the iterated search going down one site at a time reaches the optimum here
    assert sol.objective == best
    assert "pdlp" in sol.method.split("+")


@pytest.mark.parametrize("seed", [0, 2])
def test_target_unsolved_simplex_lp_takes_the_large_path(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A simplex LP not solved in its time (simulated: the LP stage returns nothing) sends
    the model down the large-model path: first-order bound and iterated swaps, no HiGHS
    branch-and-bound, whose root is that same LP (300 x 300 city: 256 -> 251 sites)."""
    from siting.optimize import partial_cover

    P = make_instance(seed + 500, n=300, m=40, density=0.08)
    exact = solve_target(P, 0.8, options=SolveOptions(time_limit=20.0))
    assert exact.status == "optimal"  # the reference: the simplex path proves it
    monkeypatch.setattr(partial_cover, "_lp", lambda *a: None)
    sol = solve_target(P, 0.8, options=SolveOptions(time_limit=0.5))
    steps = sol.method.split("+")
    assert sol.history["lp_bound"] == -np.inf
    assert "pdlp" in steps and "highs" not in steps
    assert sol.bound <= exact.objective <= sol.objective
    assert sol.objective == exact.objective  # the iterated swaps find the optimum


@pytest.mark.parametrize("seed", [0, 2])
def test_mclp_unsolved_simplex_lp_takes_the_large_path(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for the target model: MCLP whose simplex LP is not solved in its time goes on
    with the first-order bound and the iterated swaps, not HiGHS."""
    from siting.optimize import mclp

    P = make_instance(seed + 600, n=300, m=40, density=0.08)
    exact = solve_mclp(P, 8, options=SolveOptions(time_limit=20.0))
    assert exact.status == "optimal"
    monkeypatch.setattr(mclp, "_lp_with_duals", lambda *a, **k: None)
    sol = solve_mclp(P, 8, options=SolveOptions(time_limit=0.5))
    steps = sol.method.split("+")
    assert "pdlp" in steps and "highs" not in steps and "lp_bound" not in sol.history
    assert sol.objective <= exact.objective + 1e-6 <= sol.bound + 1e-6
    assert sol.objective == pytest.approx(exact.objective)  # the iterated swaps find it


def greedy_trap() -> tuple[sp.csr_matrix, np.ndarray]:
    """Two rows of demand points in blocks of 2, 4, ..., 64: the optimum covers them with
    the two row sets, greedy takes the six block sets (each a little larger)."""
    sizes = 2 ** np.arange(1, 7)
    n_half = int(sizes.sum())
    block = np.repeat(np.arange(sizes.size), sizes)
    rows = np.r_[np.arange(n_half), n_half + np.arange(n_half)]
    cols = np.r_[np.zeros(n_half, int), np.ones(n_half, int)]  # the two row sets
    rows = np.r_[rows, np.arange(n_half), n_half + np.arange(n_half)]
    cols = np.r_[cols, 2 + block, 2 + block]  # block k covers both rows' points of block k
    cover = sp.csr_matrix((np.ones(rows.size, bool), (rows, cols)), shape=(2 * n_half, 8))
    return cover, np.ones(2 * n_half)


def test_target_large_path_escapes_the_greedy_trap(large_paths: None) -> None:
    cover, w = greedy_trap()
    P = CoverageProblem(cover=cover, weight=w)
    idx = CoverIndex.build(cover, w)
    sel, _, _ = greedy_cover(idx, w.sum())
    assert sel.sum() == 6 and not sel[:2].any()  # the trap works
    sol = solve_target(P, 1.0, options=SolveOptions(time_limit=5.0))
    assert "pdlp" in sol.method.split("+")
    assert sol.objective == 2 and sol.status == "optimal"
    assert np.flatnonzero(sol.selected).tolist() == [0, 1]


@pytest.mark.parametrize("seed", range(4))
def test_mclp_large_path_brute_force(seed: int, large_paths: None) -> None:
    P = make_instance(seed + 400, n=40, m=12)
    S, covered = coverage_of_all(P)
    cw = P.weight @ covered
    p = 3
    best = cw[S[:, ~P.existing].sum(axis=1) <= p].max()
    sol = solve_mclp(P, p, options=SolveOptions(time_limit=1.0))
    assert "pdlp" in sol.method or ("lagrangian" in sol.method and sol.status == "optimal")
    assert sol.n_new <= p
    assert sol.objective <= best + 1e-6 <= sol.bound + 1e-6
    assert sol.covered_weight == pytest.approx(sol.objective)
    # the exact method still goes through HiGHS and proves the optimum
    ex = solve_mclp(P, p, options=SolveOptions(method="exact"))
    assert ex.status == "optimal" and ex.objective == pytest.approx(best)


def test_mclp_iterated_search_improves_and_is_deterministic() -> None:
    A, w = random_cover(7, n=400, m=50)
    idx = CoverIndex.build(A, w)
    start, _, _ = greedy_cover(idx, np.inf, max_add=6)
    start_cov = idx.covered(start)
    a, ca = mclp_iterated_search(idx, start, seed=3, max_iterations=300)
    b, cb = mclp_iterated_search(idx, start, seed=3, max_iterations=300)
    assert np.array_equal(a, b) and ca == cb
    assert a.sum() == 6
    assert ca >= start_cov - 1e-9
    assert idx.covered(a) == pytest.approx(ca)
    # stops as soon as the requested coverage is reached
    c, cc = mclp_iterated_search(idx, start, stop_at=start_cov, seed=0)
    assert cc >= start_cov - 1e-9 and c.sum() == 6


def test_parallel_walks_are_at_least_as_good_as_one() -> None:
    """Worker 0 repeats the single walk (same seed); the others can only add to it."""
    A, w = random_cover(11, n=500, m=60, density=0.06)
    idx = CoverIndex.build(A, w)
    start, _, _ = greedy_cover(idx, np.inf, max_add=8)
    _, c1 = mclp_iterated_search(idx, start, seed=5, max_iterations=500)
    two, c2 = mclp_iterated_search(idx, start, seed=5, max_iterations=500, workers=2)
    assert two.sum() == 8 and c2 >= c1 - 1e-9
    assert idx.covered(two) == pytest.approx(c2)
    # a reachable target stops every walk early and is met
    three, c3 = mclp_iterated_search(idx, start, stop_at=c1, seed=5, workers=3)
    assert c3 >= c1 - 1e-9 and idx.covered(three) == pytest.approx(c3)


def best_swap_brute(A: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, sel: np.ndarray):
    """Largest gain in covered weight of any cost-neutral 1-swap, by enumeration."""
    dense = A.toarray().astype(bool)
    base = w[dense[:, sel].any(axis=1)].sum()
    best = 0.0
    for j in np.flatnonzero(sel):
        for k in np.flatnonzero(~sel):
            if cost[k] <= cost[j]:
                trial = sel.copy()
                trial[j], trial[k] = False, True
                best = max(best, w[dense[:, trial].any(axis=1)].sum() - base)
    return best


@pytest.mark.parametrize("unit", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_swap_search_ends_at_a_1swap_local_optimum(unit: bool, seed: int) -> None:
    """Unit costs take the fast partner search (k's own rows + least-loss column); the
    general path checks every open column. Both must leave no improving swap."""
    A, w = random_cover(seed, n=250, m=30, density=0.1)
    rng = np.random.default_rng(seed)
    cost = np.ones(A.shape[1]) if unit else rng.integers(1, 4, A.shape[1]).astype(float)
    idx = CoverIndex.build(A, w, cost)
    sel = np.zeros(A.shape[1], bool)
    sel[rng.choice(A.shape[1], 5, replace=False)] = True
    covered, _ = kern.swap_search(*idx.args(), sel, np.inf, 10_000, idx.tol(), 0.0)
    assert covered == pytest.approx(idx.covered(sel))
    assert best_swap_brute(A, w, cost, sel) <= idx.tol()


@pytest.mark.parametrize("seed", [0, 4])
def test_iterated_swaps_keeps_its_incremental_state_exact(seed: int) -> None:
    """Kicks are undone move by move; the returned weights must still be the true ones,
    and the best solution a local optimum no worse than a plain swap descent."""
    A, w = random_cover(seed, n=500, m=60, density=0.06)
    idx = CoverIndex.build(A, w)
    start, _, _ = greedy_cover(idx, np.inf, max_add=8)
    cur = start.copy()
    best = np.zeros_like(cur)
    best_cov, cur_cov, ran = kern.iterated_swaps(
        idx.tptr,
        idx.tind,
        idx.rptr,
        idx.rind,
        idx.w,
        cur,
        best,
        400,
        seed,
        np.inf,
        idx.tol(),
        7,
    )
    assert ran == 400 and best.sum() == cur.sum() == 8
    assert best_cov == pytest.approx(idx.covered(best))
    assert cur_cov == pytest.approx(idx.covered(cur))
    plain = start.copy()
    plain_cov, _ = kern.swap_search(*idx.args(), plain, np.inf, 10_000, idx.tol(), 0.0)
    assert best_cov >= plain_cov - 1e-9
    assert best_swap_brute(A, w, np.ones(A.shape[1]), best) <= idx.tol()


def test_highs_thread_count_can_change_between_runs() -> None:
    """HiGHS' scheduler is global: a second run with another thread count used to fail
    (kNotset) and the failed run's numbers were read as a proof."""
    from siting.optimize.formulations import mclp_matrices
    from siting.optimize.highs import solve_milp

    A, w = random_cover(5, n=200, m=30)
    model = mclp_matrices(A, w, np.ones(A.shape[1]), 4.0)
    objs = []
    for threads in (None, 2, 1, 2):
        res = solve_milp(model, threads=threads)
        assert res.status == "optimal"
        objs.append(res.objective)
    assert np.allclose(objs, objs[0])


def test_highs_failure_is_not_a_bound() -> None:
    from siting.optimize.formulations import LinearModel
    from siting.optimize.highs import solution_status, solve_milp

    # an invalid option value makes HiGHS refuse to run: nothing may be read as a bound
    c = np.array([1.0, 1.0])
    A = sp.csr_matrix(np.array([[1.0, 1.0]]))
    model = LinearModel(c, A, np.array([1.0]), np.array([np.inf]), integrality=np.ones(2))
    res = solve_milp(model, solver="no-such-solver")
    if res.status.startswith("error"):
        assert res.x is None and res.bound == -np.inf and res.gap == np.inf
        assert solution_status(res.status) == "feasible"
    else:  # HiGHS ignored the option: it must then have solved the model
        assert res.status == "optimal" and res.objective == pytest.approx(1.0)


def test_highs_without_lns_heuristics_still_optimal() -> None:
    from siting.optimize.formulations import mclp_matrices
    from siting.optimize.highs import solve_milp

    A, w = random_cover(8, n=200, m=30)
    model = mclp_matrices(A, w, np.ones(A.shape[1]), 4.0)
    a = solve_milp(model)
    b = solve_milp(model, heuristics=False)
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective)
