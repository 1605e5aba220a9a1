"""Reductions: hand-checked cases and invariants on random instances."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from siting.optimize import CoverageProblem, reduce_cover
from siting.optimize.reduce import dominated_columns, merge_identical_rows, row_positions


def test_merge_identical_rows_hand() -> None:
    A = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1], [0, 0, 0], [0, 1, 0]]))
    M, w, inv = merge_identical_rows(A, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert M.shape == (3, 3)
    assert inv[0] == inv[2]
    assert inv[1] == inv[4]
    assert len({inv[0], inv[1], inv[3]}) == 3
    assert w[inv[0]] == 4.0
    assert w[inv[1]] == 7.0
    assert np.array_equal(M[inv].toarray(), A.toarray())


def test_merge_respects_key() -> None:
    A = sp.csr_matrix(np.ones((4, 2)))
    _, w, inv = merge_identical_rows(A, np.ones(4), key=np.array([0, 1, 0, 1]))
    assert len(w) == 2
    assert inv[0] == inv[2] != inv[1]


def test_merge_random_matches_python() -> None:
    rng = np.random.default_rng(0)
    A = sp.csr_matrix(rng.random((2000, 12)) < 0.15)
    M, w, inv = merge_identical_rows(A, np.ones(2000))
    ref = {tuple(A[i].indices) for i in range(A.shape[0])}
    assert M.shape[0] == len(ref)
    assert np.array_equal(M[inv].toarray(), A.toarray())
    assert w.sum() == 2000


def test_dominated_columns_hand() -> None:
    # cols 0, 2, 3 are subsets of col 1; col 4 empty; col 5 is a subset of col 1 but
    # cheaper -> kept
    A = sp.csr_matrix(
        np.array(
            [
                [1, 1, 1, 1, 0, 0],
                [0, 1, 0, 0, 0, 1],
                [0, 1, 1, 1, 0, 0],
            ]
        )
    )
    cost = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.5])
    dom = dominated_columns(A, cost)
    assert dom.tolist() == [True, False, True, True, True, False]
    # identical columns at equal cost: the lower index survives
    B = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1]]))
    assert dominated_columns(B, np.ones(3)).tolist() == [False, True, True]
    assert dominated_columns(B, np.array([2.0, 1.0, 1.0])).tolist() == [True, False, True]


def test_row_positions() -> None:
    A = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 0], [0, 1, 1]]))
    pos = row_positions(A.indptr, np.array([2, 0]))
    assert A.indices[pos].tolist() == [1, 2, 0, 2]


def test_reduce_cover_mapping() -> None:
    cover = sp.csr_matrix(
        np.array(
            [
                [1, 1, 0],  # covered by existing site 0
                [0, 1, 0],
                [0, 1, 0],  # same set as row 1 -> merged
                [0, 0, 0],  # unreachable
                [0, 1, 1],
                [0, 0, 1],  # zero weight -> dropped
            ]
        )
    )
    P = CoverageProblem(
        cover=cover, weight=[5.0, 1.0, 2.0, 3.0, 4.0, 0.0], existing=np.array([True, False, False])
    )
    R = reduce_cover(P)
    assert R.base_weight == 5.0
    assert R.unreachable.tolist() == [False, False, False, True, False, False]
    assert R.row_of[0] == -1
    assert R.row_of[3] == -1
    assert R.row_of[5] == -1
    assert R.row_of[1] == R.row_of[2]
    assert R.weight[R.row_of[1]] == 3.0
    # site 2 covers only row 4, a subset of site 1's cover -> dominated
    assert R.cols.tolist() == [1]
    sel = R.selected_sites(np.array([1.0]), 3, P.existing)
    assert sel.tolist() == [True, True, False]


def test_forced_singletons() -> None:
    cover = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]]))
    P = CoverageProblem(cover=cover, weight=np.ones(4))
    R = reduce_cover(P, use_weight=False, force_singletons=True)
    assert sorted(R.forced.tolist()) == [0, 2]
    assert R.shape[0] == 0
