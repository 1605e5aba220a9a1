"""Triangle cuts (siting.optimize.cuts) against brute force: valid for every plan, found
where they are violated, and the MCLP still optimal with them."""

from __future__ import annotations

import itertools

import highspy
import numpy as np
import pytest
import scipy.sparse as sp

from siting.optimize import CoverageProblem, settings, solve_mclp, solve_target
from siting.optimize.cuts import cut_rows, tighten_lp, triangle_cuts
from siting.optimize.formulations import mclp_matrices
from siting.optimize.highs import highs_lp


def spatial(seed: int, rows: int = 40, cols: int = 12, radius: float = 0.3) -> sp.csr_matrix:
    """Rows (demand points) x columns (sites) within ``radius`` in the unit square."""
    rng = np.random.default_rng(seed)
    d = rng.random((rows, 2))
    s = rng.random((cols, 2))
    near = np.linalg.norm(d[:, None, :] - s[None, :, :], axis=2) <= radius
    near[~near.any(axis=1), 0] = True  # every row reachable
    return sp.csr_matrix(near)


def all_plans(m: int) -> np.ndarray:
    """Every subset of ``m`` columns, as a (2^m, m) float matrix."""
    return ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(float)


def brute_violations(A: np.ndarray, y: np.ndarray, z: np.ndarray) -> dict[tuple, float]:
    """Every triple's violation ``z_a + z_b + z_c - 1 - sum ceil(k/2) y``."""
    out = {}
    for t in itertools.combinations(range(A.shape[0]), 3):
        k = A[list(t)].sum(axis=0)
        out[t] = z[list(t)].sum() - 1.0 - (np.ceil(k / 2.0) * y).sum()
    return out


# ------------------------------------------------------------------ validity
@pytest.mark.parametrize("seed", range(8))
def test_every_triple_cut_holds_for_every_plan(seed: int) -> None:
    A = spatial(seed, rows=14, cols=9)
    trip = np.array(list(itertools.combinations(range(A.shape[0]), 3)))
    C = cut_rows(A, trip)
    Y = all_plans(A.shape[1])
    Z = (np.asarray(A.astype(float) @ Y.T) > 0).T.astype(float)  # covered rows, per plan
    lhs = C @ np.hstack([Y, Z]).T
    assert lhs.max() <= 1.0 + 1e-9
    # and the cuts are not vacuous: some plan meets some cut with equality
    assert np.isclose(lhs.max(), 1.0)


def test_odd_cycle() -> None:
    # three rows, each pair shares one site: the LP covers all three with three half sites
    A = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=bool))
    y = np.full(3, 0.5)
    z = np.ones(3)
    trip = triangle_cuts(A, y, z)
    assert sorted(map(int, trip[0])) == [0, 1, 2] and trip.shape[0] == 1
    row = cut_rows(A, trip).toarray()[0]
    np.testing.assert_array_equal(row, [-1, -1, -1, 1, 1, 1])
    # a site reaching all three rows counts twice
    A2 = sp.csr_matrix(np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 1, 1]], dtype=bool))
    row2 = cut_rows(A2, np.array([[0, 1, 2]])).toarray()[0]
    np.testing.assert_array_equal(row2, [-1, -1, -1, -2, 1, 1, 1])


# ------------------------------------------------------------------ separation
@pytest.mark.parametrize("seed", range(10))
def test_separation_finds_exactly_the_violated_triangles(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no cap on partners, the kernel returns every violated triple whose lowest row
    shares a fractional site with each of the other two, and nothing else."""
    monkeypatch.setattr(settings, "cut_max_pairs", 10**6)
    A = spatial(seed + 100, rows=24, cols=10, radius=0.35)
    rng = np.random.default_rng(seed)
    y = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=A.shape[1], p=[0.3, 0.2, 0.3, 0.1, 0.1])
    z = np.minimum(1.0, A.astype(float) @ y) * rng.choice([1.0, 0.9], size=A.shape[0])
    got = triangle_cuts(A, y, z, max_cuts=10**6, per_row=10**6)
    got_set = {tuple(sorted(map(int, t))) for t in got}
    Ad = A.toarray()
    frac = (y > 1e-6) & (y < 1 - 1e-6)
    want = set()
    for t, v in brute_violations(Ad, y, z).items():
        a, b, c = t
        if v > 1e-4 and (Ad[a] & Ad[b] & frac).any() and (Ad[a] & Ad[c] & frac).any():
            want.add(t)
    assert got_set == want
    assert len(got_set) == got.shape[0]  # no triple twice


@pytest.mark.parametrize("seed", range(6))
def test_returned_cuts_are_violated_and_capped(seed: int) -> None:
    A = spatial(seed + 300, rows=40, cols=12, radius=0.3)
    rng = np.random.default_rng(seed)
    y = rng.choice([0.0, 0.5, 1.0], size=A.shape[1], p=[0.4, 0.5, 0.1])
    z = np.minimum(1.0, A.astype(float) @ y)
    trip = triangle_cuts(A, y, z, max_cuts=7, per_row=2)
    assert trip.shape[0] <= 7
    assert np.bincount(trip.ravel(), minlength=A.shape[0]).max(initial=0) <= 2
    if trip.shape[0]:
        lhs = cut_rows(A, trip) @ np.r_[y, z]
        assert (lhs > 1.0 + 1e-4).all()


def test_no_fractional_column_no_cut() -> None:
    A = spatial(5)
    y = (np.arange(A.shape[1]) % 2).astype(float)
    z = np.minimum(1.0, A.astype(float) @ y)
    assert triangle_cuts(A, y, z).shape == (0, 3)


# ------------------------------------------------------------------ LP bound and MCLP
def _lp(A: sp.csr_matrix, w: np.ndarray, p: int) -> tuple[highspy.Highs, float, np.ndarray]:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(highs_lp(mclp_matrices(A, w, np.ones(A.shape[1]), p)))
    h.run()
    return h, float(h.getInfo().objective_function_value), np.asarray(h.getSolution().col_value)


@pytest.mark.parametrize("seed", range(10))
def test_tightened_lp_is_still_a_bound(seed: int) -> None:
    A = spatial(seed + 500, rows=40, cols=12, radius=0.3)
    w = np.random.default_rng(seed).integers(1, 100, A.shape[0]).astype(float)
    p = 3
    Y = all_plans(A.shape[1])
    Y = Y[Y.sum(axis=1) <= p]
    best = ((np.asarray(A.astype(float) @ Y.T) > 0).T @ w).max()
    h, obj, x = _lp(A, w, p)
    dual = np.asarray(h.getSolution().col_dual)
    tg = tighten_lp(h, A, obj, x, dual, deadline=np.inf)
    assert best - 1e-6 <= tg.objective <= obj + 1e-6
    if tg.rounds:
        assert tg.rows.shape[0] == sum(n for _, n in tg.log)
        assert tg.objective < obj or np.isclose(tg.objective, obj)


def gadgets(seed: int, n_gadgets: int = 4, extra: int = 6) -> CoverageProblem:
    """Triangles of three rows and three sites, each site reaching two of the rows, plus
    random light rows and one existing site. With a budget of about 1.5 sites per
    triangle the LP opens every site by half and covers every triangle fully; a plan
    cannot: the LP's gap that only cuts (or branching) close."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_gadgets):
        s = 3 * g
        rows += [[s, s + 1], [s + 1, s + 2], [s, s + 2]]
    m = 3 * n_gadgets
    for _ in range(extra):
        rows.append(list(rng.choice(m, size=rng.integers(1, 3), replace=False)))
    A = np.zeros((len(rows), m + 1), dtype=bool)
    for i, r in enumerate(rows):
        A[i, np.array(r) + 1] = True
    A[-1, 0] = True  # the existing site
    w = np.r_[rng.integers(80, 120, 3 * n_gadgets), rng.integers(1, 30, extra)].astype(float)
    existing = np.zeros(m + 1, dtype=bool)
    existing[0] = True
    return CoverageProblem(cover=sp.csr_matrix(A), weight=w, existing=existing)


def brute_mclp(P: CoverageProblem, p: int) -> float:
    Y = all_plans(P.n_sites).astype(bool)
    Y = Y[(Y[:, P.existing]).all(axis=1) & (Y[:, ~P.existing].sum(axis=1) <= p)]
    covered = (P.cover.astype(float) @ Y.T.astype(float)) > 0
    return float((P.weight @ covered).max())


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("few_cuts", [False, True])
def test_mclp_with_cuts_matches_brute_force(
    seed: int, few_cuts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With all cuts the LP usually proves the plan; with one cut in one round the gap
    stays open and HiGHS finishes on the fixed model with that cut in it."""
    if few_cuts:
        monkeypatch.setattr(settings, "cut_max_rounds", 1)
        monkeypatch.setattr(settings, "cut_round_cuts", 1)
        monkeypatch.setattr(settings, "cut_useful", 0.0)  # HiGHS gets even a weak cut
    P = gadgets(seed)
    p = int(np.random.default_rng(seed).integers(4, 8))
    best = brute_mclp(P, p)
    sol = solve_mclp(P, p)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best)
    assert sol.bound == pytest.approx(best)
    assert sol.n_new <= p


def test_cuts_are_used_on_fractional_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    """The brute-force comparisons above are not vacuous: with all cuts most instances end
    in the cut loop; with one cut HiGHS runs on a model that holds it."""
    ends = [
        solve_mclp(gadgets(s), int(np.random.default_rng(s).integers(4, 8))).method
        for s in range(12)
    ]
    assert sum(m.endswith("+cuts") for m in ends) >= 8
    cut_rows_seen = []  # cut rows in each model HiGHS got (its history says)
    monkeypatch.setattr(settings, "cut_max_rounds", 1)
    monkeypatch.setattr(settings, "cut_round_cuts", 1)
    monkeypatch.setattr(settings, "cut_useful", 0.0)
    with_highs = 0
    for s in range(12):
        sol = solve_mclp(gadgets(s), int(np.random.default_rng(s).integers(4, 8)))
        with_highs += "cuts" in sol.method and sol.method.endswith("+highs")
        if "highs_status" in sol.history:
            cut_rows_seen.append(sol.history["highs_cut_rows"])
    assert with_highs >= 4
    assert len(cut_rows_seen) == with_highs and min(cut_rows_seen) >= 1


# ------------------------------------------------------------------ target (fewest sites)
def brute_target(P: CoverageProblem, share: float) -> float:
    Y = all_plans(P.n_sites).astype(bool)
    Y = Y[(Y[:, P.existing]).all(axis=1)]
    covered = (P.cover.astype(float) @ Y.T.astype(float)) > 0
    ok = P.weight @ covered >= share * P.weight.sum() - 1e-9
    return float(Y[ok][:, ~P.existing].sum(axis=1).min())


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("few_cuts", [False, True])
def test_target_with_cuts_matches_brute_force(
    seed: int, few_cuts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if few_cuts:
        monkeypatch.setattr(settings, "cut_max_rounds", 1)
        monkeypatch.setattr(settings, "cut_round_cuts", 1)
        monkeypatch.setattr(settings, "cut_useful", 0.0)
    P = gadgets(seed, n_gadgets=5)
    share = float(np.random.default_rng(seed).uniform(0.6, 0.95))
    best = brute_target(P, share)
    sol = solve_target(P, share)
    assert sol.status == "optimal"
    assert sol.n_new == best
    assert sol.bound == pytest.approx(best)
    assert sol.covered_share >= share - 1e-9


def test_target_cuts_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The target comparisons above reach the cut loop, and with one cut, HiGHS after it."""
    shares = [float(np.random.default_rng(s).uniform(0.6, 0.95)) for s in range(12)]
    used = sum("cuts" in solve_target(gadgets(s, n_gadgets=5), shares[s]).method for s in range(12))
    assert used >= 5
    monkeypatch.setattr(settings, "cut_max_rounds", 1)
    monkeypatch.setattr(settings, "cut_round_cuts", 1)
    monkeypatch.setattr(settings, "cut_useful", 0.0)
    ends = [solve_target(gadgets(s, n_gadgets=5), shares[s]).method for s in range(12)]
    assert sum(m.endswith("+cuts+highs") for m in ends) >= 4


def test_useful_follows_the_share_of_the_gap_closed() -> None:
    """``useful``: the cuts closed at least ``settings.cut_useful`` of the LP's distance to
    the goal."""
    A = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=bool))
    w = np.ones(3)
    h, obj, x = _lp(A, w, 1)  # LP: a third of each site, all three rows at 2/3: 2.0
    dual = np.asarray(h.getSolution().col_dual)
    assert obj == pytest.approx(2.0)
    # a site covers two rows: the optimum is 2, so cuts cannot move this LP
    tg = tighten_lp(h, A, obj, x, dual, deadline=np.inf, goal=2.0)
    assert tg.objective == pytest.approx(2.0)
    A2 = sp.csr_matrix(sp.block_diag([A, A]))
    h2, obj2, x2 = _lp(A2, np.ones(6), 3)  # two triangles, 3 sites: LP 6, optimum 5
    dual2 = np.asarray(h2.getSolution().col_dual)
    tg2 = tighten_lp(h2, A2, obj2, x2, dual2, deadline=np.inf, goal=5.0)
    assert obj2 == pytest.approx(6.0) and tg2.objective == pytest.approx(5.0)
    assert tg2.useful and tg2.summary()["to_highs"]
    h3, obj3, x3 = _lp(A2, np.ones(6), 3)
    tg3 = tighten_lp(
        h3, A2, obj3, x3, np.asarray(h3.getSolution().col_dual), deadline=np.inf, goal=-1e9
    )
    assert not tg3.useful  # a far goal: one site's worth is under 10% of the distance
