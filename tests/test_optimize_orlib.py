"""OR-Library references: uncapacitated p-median (pmed1-40) and capacitated (pmedcap1).

Data: ``shared/data/orlib`` and ``shared/data/pmedcap`` (see SOURCE.md there): for pmed,
edges are read in order and the LAST duplicate counts, then all-pairs shortest paths; for
pmedcap the costs are floor-rounded Euclidean distances. Skipped cleanly when the shared
data folder is absent (set SITING_SHARED_DATA to point elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from siting.optimize import CoverageProblem, SolveOptions, solve_pmedian


def shared_data() -> Path:
    env = os.environ.get("SITING_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


DATA = shared_data()
needs_orlib = pytest.mark.skipif(
    not (DATA / "orlib" / "optimal.csv").exists(), reason=f"OR-Library data not found under {DATA}"
)
needs_pmedcap = pytest.mark.skipif(
    not (DATA / "pmedcap" / "best_known.csv").exists(),
    reason=f"pmedcap data not found under {DATA}",
)


def read_pmed(name: str) -> tuple[np.ndarray, int]:
    """All-pairs shortest-path cost matrix of an OR-Library pmed file (last duplicate wins)."""
    tokens = np.array((DATA / "orlib" / f"{name}.txt").read_text().split(), dtype=np.int64)
    n, n_edges, p = tokens[:3]
    e = tokens[3 : 3 + 3 * n_edges].reshape(n_edges, 3)
    a, b = np.minimum(e[:, 0], e[:, 1]) - 1, np.maximum(e[:, 0], e[:, 1]) - 1
    key = a * n + b
    _, last_rev = np.unique(key[::-1], return_index=True)
    last = n_edges - 1 - last_rev  # index of the last occurrence of each pair
    a, b, c = a[last], b[last], e[last, 2].astype(float)
    G = sp.csr_matrix((np.r_[c, c], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
    return shortest_path(G, method="D", directed=False), int(p)


def pmed_problem(name: str) -> tuple[CoverageProblem, int]:
    d, p = read_pmed(name)
    n = d.shape[0]
    rows, cols = np.divmod(np.arange(n * n), n)
    # every pair is reachable; the diagonal is an explicitly stored 0 m
    D = sp.csr_matrix((d.ravel(), cols, np.arange(0, n * n + 1, n)), shape=(n, n))
    assert D.nnz == n * n
    assert np.all(rows == np.repeat(np.arange(n), n))
    return CoverageProblem(dist=D, weight=np.ones(n)), p


def optimum(name: str) -> float:
    tab = pd.read_csv(DATA / "orlib" / "optimal.csv").set_index("instance")
    return float(tab.loc[name, "optimal"])


@needs_orlib
def test_last_duplicate_edge_counts() -> None:
    d, _ = read_pmed("pmed1")
    tokens = (DATA / "orlib" / "pmed1.txt").read_text().split()
    e = np.array(tokens[3:], dtype=np.int64).reshape(-1, 3)
    a, b = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
    pairs, counts = np.unique(a * 1000 + b, return_counts=True)
    dup = pairs[counts > 1][0]
    last = e[np.flatnonzero(a * 1000 + b == dup)[-1]]
    assert d[last[0] - 1, last[1] - 1] <= last[2]


@needs_orlib
@pytest.mark.parametrize(
    "name",
    ["pmed1", "pmed4", *[pytest.param(f"pmed{k}", marks=pytest.mark.slow) for k in (2, 3, 5)]],
)
def test_pmed_small_optimal(name: str) -> None:
    P, p = pmed_problem(name)
    sol = solve_pmedian(P, p, options=SolveOptions(time_limit=60))
    assert sol.objective == optimum(name)
    assert sol.status == "optimal"
    assert sol.gap == 0.0
    assert sol.n_new == p


@needs_orlib
@pytest.mark.slow
@pytest.mark.parametrize("name", [f"pmed{k}" for k in range(6, 18)])
def test_pmed_medium_optimal(name: str) -> None:
    P, p = pmed_problem(name)
    sol = solve_pmedian(P, p, options=SolveOptions(time_limit=300))
    assert sol.objective == optimum(name)
    assert sol.status == "optimal"


@needs_orlib
@pytest.mark.parametrize("name", ["pmed11", "pmed16"])
def test_pmed_heuristic_within_half_percent(name: str) -> None:
    P, p = pmed_problem(name)
    sol = solve_pmedian(P, p, options=SolveOptions(method="heuristic", time_limit=20))
    opt = optimum(name)
    assert sol.objective <= opt * 1.005
    assert 0 < sol.bound <= opt + 1e-6
    assert 0.0 <= sol.gap <= (sol.objective - sol.bound) / sol.objective + 1e-12


@needs_orlib
@pytest.mark.slow
@pytest.mark.parametrize("name", ["pmed21", "pmed26", "pmed31", "pmed35", "pmed40"])
def test_pmed_large_heuristic_within_half_percent(name: str) -> None:
    P, p = pmed_problem(name)
    sol = solve_pmedian(P, p, options=SolveOptions(method="heuristic", time_limit=120))
    opt = optimum(name)
    assert sol.objective <= opt * 1.005
    assert 0 < sol.bound <= opt + 1e-6


def pmedcap_problem(name: str) -> tuple[CoverageProblem, int, np.ndarray]:
    lines = (DATA / "pmedcap" / f"{name}.txt").read_text().split("\n")
    n, p, cap = (int(t) for t in lines[1].split())
    tab = np.array([ln.split() for ln in lines[2 : 2 + n]], dtype=float)
    xy, q = tab[:, 1:3], tab[:, 3]
    d = np.floor(np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1]))
    D = sp.csr_matrix(
        (d.ravel(), np.tile(np.arange(n), n), np.arange(0, n * n + 1, n)), shape=(n, n)
    )
    P = CoverageProblem(dist=D, weight=np.ones(n), capacity=np.full(n, float(cap)))
    return P, p, q


@needs_pmedcap
@pytest.mark.parametrize(
    "name",
    ["pmedcap01", *[pytest.param(f"pmedcap0{k}", marks=pytest.mark.slow) for k in (2, 3)]],
)
def test_pmedcap_best_known(name: str) -> None:
    P, p, q = pmedcap_problem(name)
    best = float(
        pd.read_csv(DATA / "pmedcap" / "best_known.csv")
        .set_index("instance")
        .loc[name, "best_known"]
    )
    sol = solve_pmedian(P, p, capacitated=True, load=q, options=SolveOptions(time_limit=120))
    assert sol.objective == best
    assert sol.status == "optimal"
    used = np.bincount(sol.assignment, weights=q, minlength=P.n_sites)
    assert np.all(used <= P.capacity + 1e-6)
