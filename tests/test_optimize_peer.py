"""Peer check: the same small instances solved by spopt (PuLP + CBC) -- ours equal or better."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from siting.optimize import CoverageProblem, solve_lscp, solve_mclp, solve_pmedian

pytestmark = pytest.mark.peer

RADIUS = 300.0  # metres


def _spopt():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        locate = pytest.importorskip("spopt.locate")
        pulp = pytest.importorskip("pulp")
    return locate, pulp


def instance(seed: int = 0, n: int = 60, m: int = 14, n_exist: int = 2):
    rng = np.random.default_rng(seed)
    dem = rng.random((n, 2)) * 1000
    sites = rng.random((m, 2)) * 1000
    d = np.hypot(dem[:, None, 0] - sites[None, :, 0], dem[:, None, 1] - sites[None, :, 1])
    w = rng.integers(1, 100, n).astype(float)
    existing = np.zeros(m, dtype=bool)
    existing[:n_exist] = True
    return d, w, existing


def _solve(model, pulp) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.solve(pulp.PULP_CBC_CMD(msg=False))
    return np.array([v.value() is not None and v.value() > 0.5 for v in model.fac_vars])


@pytest.mark.parametrize("seed", [0, 1])
def test_lscp_vs_spopt(seed: int) -> None:
    locate, pulp = _spopt()
    d, w, existing = instance(seed)
    ok = (d <= RADIUS).any(axis=1)
    d = d[ok]
    w = w[ok]
    ours = solve_lscp(
        CoverageProblem(cover=sp.csr_matrix(d <= RADIUS), weight=w, existing=existing)
    )
    m = locate.LSCP.from_cost_matrix(
        d, service_radius=RADIUS, predefined_facilities_arr=existing.astype(int)
    )
    sel = _solve(m, pulp)
    assert ours.selected.sum() <= sel.sum()


@pytest.mark.parametrize(("seed", "p_new"), [(0, 2), (1, 4)])
def test_mclp_vs_spopt(seed: int, p_new: int) -> None:
    locate, pulp = _spopt()
    d, w, existing = instance(seed)
    C = d <= RADIUS
    ours = solve_mclp(CoverageProblem(cover=sp.csr_matrix(C), weight=w, existing=existing), p_new)
    m = locate.MCLP.from_cost_matrix(
        d,
        w,
        service_radius=RADIUS,
        p_facilities=int(existing.sum()) + p_new,
        predefined_facilities_arr=existing.astype(int),
    )
    sel = _solve(m, pulp)
    theirs = float(w[C[:, sel].any(axis=1)].sum())
    assert ours.objective >= theirs - 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_pmedian_vs_spopt(seed: int) -> None:
    locate, pulp = _spopt()
    d, w, existing = instance(seed, n=40, m=10, n_exist=0)
    n, k = d.shape
    D = sp.csr_matrix(
        (d.ravel(), np.tile(np.arange(k), n), np.arange(0, n * k + 1, k)), shape=(n, k)
    )
    ours = solve_pmedian(CoverageProblem(dist=D, weight=w, existing=existing), 3)
    m = locate.PMedian.from_cost_matrix(d, w, p_facilities=3)
    sel = _solve(m, pulp)
    theirs = float((w * d[:, sel].min(axis=1)).sum())
    assert ours.objective <= theirs + 1e-6
