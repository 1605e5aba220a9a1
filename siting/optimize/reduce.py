"""Problem reductions applied before any coverage model is solved.

Every step is exact (an optimal solution of the reduced problem maps back to an optimal
solution of the original one) and vectorised over the CSR structure:

* demand already covered by an existing site is dropped (its weight counts as covered);
* zero-weight demand is dropped (coverage models that weigh by population);
* demand no candidate reaches is dropped and reported;
* demand rows with identical coverage sets are merged (weights summed): rows are hashed
  with two independent random 64-bit column keys, grouped with ``np.unique``, and every
  group is then checked entry by entry, so a hash collision can never merge different rows;
* candidates that cover nothing are dropped;
* dominated candidates are dropped: ``cover_j`` is a subset of ``cover_k`` and
  ``cost_k <= cost_j`` (ties broken by larger cover, then lower index), found with the
  sparse product ``A.T @ A`` compared with the column counts;
* for set covering (every row must be covered), a row covered by a single candidate forces
  that candidate open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.optimize.problem import CoverageProblem

__all__ = [
    "ReducedCover",
    "dominated_columns",
    "merge_identical_rows",
    "reduce_cover",
    "row_positions",
]

_HASH_SEED = 20190101  # fixed: reductions must not depend on the user's seed
_DOMINANCE_BLOCK = 512  # columns per block of A.T @ A (bounds the memory of the product)


@dataclass
class ReducedCover:
    """A coverage problem after reductions, with the mapping back to the original.

    Parameters
    ----------
    A : scipy.sparse.csr_matrix of bool, shape (n_rows, n_cols)
        Reduced coverage matrix (merged demand rows x kept candidates).
    weight : ndarray of float, shape (n_rows,)
        Persons of each merged row.
    cost : ndarray of float, shape (n_cols,)
        Cost of each kept candidate.
    cols : ndarray of int, shape (n_cols,)
        Original site index of each reduced column.
    row_of : ndarray of int, shape (n_demand,)
        Reduced row of each original demand point, -1 when dropped.
    group : ndarray of int, optional
        District of each reduced row (rows merge only within a district).
    pre_covered : ndarray of bool, shape (n_demand,)
        Demand points already reached by an existing site.
    base_weight : float
        Persons already covered by existing sites.
    unreachable : ndarray of bool, shape (n_demand,)
        Demand points no site (existing or candidate) reaches.
    forced : ndarray of int
        Original indices of candidates forced open (set covering only).
    stats : dict
        Sizes before / after each step.
    """

    A: sp.csr_matrix
    weight: np.ndarray
    cost: np.ndarray
    cols: np.ndarray
    row_of: np.ndarray
    pre_covered: np.ndarray
    base_weight: float
    unreachable: np.ndarray
    group: np.ndarray | None = None
    forced: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the reduced matrix."""
        return (int(self.A.shape[0]), int(self.A.shape[1]))

    def selected_sites(self, y: np.ndarray, n_sites: int, existing: np.ndarray) -> np.ndarray:
        """Map a reduced 0/1 column vector back to a boolean mask over the original sites.

        Parameters
        ----------
        y : numpy.ndarray
            0/1 value of each reduced column.
        n_sites : int
            Sites of the original problem.
        existing : numpy.ndarray
            Boolean mask of the existing sites (kept open).

        Returns
        -------
        numpy.ndarray
            Boolean mask over the original sites: existing, chosen and forced ones.
        """
        sel = existing.copy()
        sel[self.cols[np.asarray(y) > 0.5]] = True
        sel[self.forced] = True
        return sel


def row_positions(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in ``indices``/``data`` of all entries of the given CSR rows (vectorised)."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows].astype(np.int64)
    lens = indptr[rows + 1].astype(np.int64) - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.cumsum(np.r_[0, lens[:-1]]), lens)
    return offs + np.arange(total, dtype=np.int64)


def _row_hashes(A: sp.csr_matrix) -> np.ndarray:
    """Two 64-bit hashes per row (sum of random column keys, wrapping), shape (n, 2)."""
    rng = np.random.default_rng(_HASH_SEED)
    keys = rng.integers(1, np.iinfo(np.int64).max, size=(2, A.shape[1]), dtype=np.int64)
    keys = keys.view(np.uint64)
    out = np.empty((A.shape[0], 2), dtype=np.uint64)
    for h in range(2):
        cs = np.zeros(A.nnz + 1, dtype=np.uint64)
        np.cumsum(keys[h][A.indices], out=cs[1:])
        out[:, h] = cs[A.indptr[1:]] - cs[A.indptr[:-1]]
    return out


def merge_identical_rows(
    A: sp.csr_matrix, weight: np.ndarray, key: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge rows of ``A`` with identical structure, summing their weights.

    Parameters
    ----------
    A : csr_matrix, shape (n, m)
        Coverage structure (sorted indices).
    weight : ndarray, shape (n,)
        Row weights (persons).
    key : ndarray of int, shape (n,), optional
        Extra key rows must share to merge (e.g. the district).

    Returns
    -------
    merged : csr_matrix
        One row per distinct (structure, key).
    merged_weight : ndarray
        Summed weight of each merged row.
    inverse : ndarray of int, shape (n,)
        Merged row of each input row.
    """
    A = sp.csr_matrix(A)
    A.sort_indices()
    n = A.shape[0]
    if n == 0:
        return A, np.asarray(weight, float), np.zeros(0, dtype=np.int64)
    lens = np.diff(A.indptr).astype(np.uint64)
    cols = [_row_hashes(A), lens[:, None]]
    if key is not None:
        cols.append(np.asarray(key).astype(np.uint64)[:, None])
    table = np.hstack(cols)
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel().astype(np.int64)
    # exact check: every row must equal the first row of its group entry by entry
    rep = first[inverse]
    pos = np.arange(A.nnz, dtype=np.int64)
    row_of_entry = np.repeat(np.arange(n), np.diff(A.indptr))
    rep_pos = A.indptr[rep[row_of_entry]] + (pos - A.indptr[row_of_entry])
    bad_rows = np.unique(row_of_entry[A.indices != A.indices[rep_pos]])
    if bad_rows.size:  # hash collision (astronomically rare): split those groups exactly
        next_id = int(inverse.max()) + 1
        seen: dict[tuple[int, bytes], int] = {}
        for r in bad_rows:
            sig = (int(inverse[r]), A.indices[A.indptr[r] : A.indptr[r + 1]].tobytes())
            if sig not in seen:
                seen[sig] = next_id
                next_id += 1
            inverse[r] = seen[sig]
        _, first, inverse = np.unique(inverse, return_index=True, return_inverse=True)
    merged_weight = np.bincount(inverse, weights=np.asarray(weight, float), minlength=len(first))
    return A[first], merged_weight, inverse


def dominated_columns(A: sp.csr_matrix, cost: np.ndarray) -> np.ndarray:
    """Candidates whose cover is contained in a no-more-expensive candidate's cover.

    Column ``j`` is dominated by ``k != j`` when ``cover_j`` is a subset of ``cover_k`` and
    ``cost_k < cost_j``, or costs tie and (``|cover_k| > |cover_j|`` or covers are equal
    and ``k < j``). This is a strict order, so one undominated column always survives
    in each chain. Columns covering nothing are reported as dominated too.

    Returns
    -------
    ndarray of bool, shape (m,)
    """
    Ai = sp.csc_matrix(A, dtype=np.int32)
    m = Ai.shape[1]
    count = np.diff(Ai.indptr)
    dom = count == 0
    AT = Ai.T.tocsr()
    for lo in range(0, m, _DOMINANCE_BLOCK):
        hi = min(m, lo + _DOMINANCE_BLOCK)
        S = (AT[lo:hi] @ Ai).tocoo()  # overlap |cover_j & cover_k| for j in block
        j = S.row + lo
        k = S.col
        sub = (j != k) & (count[j] > 0) & (S.data == count[j])
        j, k = j[sub], k[sub]
        better = (cost[k] < cost[j]) | (
            (cost[k] == cost[j]) & ((count[k] > count[j]) | ((count[k] == count[j]) & (k < j)))
        )
        dom[j[better]] = True
    return dom


def reduce_cover(
    problem: CoverageProblem,
    *,
    use_weight: bool = True,
    by_group: bool = False,
    dominance: bool = True,
    force_singletons: bool = False,
    weight: np.ndarray | None = None,
) -> ReducedCover:
    """Reduce a coverage problem (see the module docstring for the steps).

    Parameters
    ----------
    problem : CoverageProblem
        The problem to reduce.
    use_weight : bool
        Drop zero-weight demand (coverage models); set covering keeps every point.
    by_group : bool
        Merge rows only within the same district (per-district targets).
    dominance : bool
        Drop dominated candidates.
    force_singletons : bool
        Set covering: a row reached by exactly one candidate forces it open.
    weight : ndarray, optional
        Row weights to use instead of ``problem.weight``.

    Returns
    -------
    ReducedCover
        The reduced matrix and the maps back to the original rows and sites.
    """
    w0 = problem.weight if weight is None else np.asarray(weight, float)
    cover = problem.cover
    existing = problem.existing
    n = cover.shape[0]
    stats: dict[str, Any] = {"demand": n, "candidates": problem.n_candidates, "nnz": cover.nnz}
    reach_any = np.diff(cover.indptr) > 0
    ex_cols = np.flatnonzero(existing)
    pre = (
        np.asarray(cover[:, ex_cols].sum(axis=1)).ravel() > 0
        if ex_cols.size
        else (np.zeros(n, dtype=bool))
    )
    cand = np.flatnonzero(~existing)
    C = cover[:, cand].tocsr()
    reach_cand = np.diff(C.indptr) > 0
    keep = ~pre & reach_cand
    if use_weight:
        keep &= w0 > 0
    rows = np.flatnonzero(keep)
    A = C[rows]
    stats["rows_uncovered"] = int(rows.size)
    grp = problem.group[rows] if (by_group and problem.group is not None) else None
    A, w, inv = merge_identical_rows(A, w0[rows], key=grp)
    if grp is not None:
        first = np.zeros(A.shape[0], dtype=np.int64)
        first[inv] = np.arange(rows.size)
        grp = grp[first]
    stats["rows_merged"] = int(A.shape[0])
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[rows] = inv
    cost = problem.cost[cand]
    forced = np.zeros(0, dtype=np.int64)
    colkeep = np.diff(sp.csc_matrix(A).indptr) > 0
    if dominance:
        colkeep = ~dominated_columns(A, cost)
    A = A[:, np.flatnonzero(colkeep)].tocsr()
    cols = cand[colkeep]
    cost = cost[colkeep]
    if force_singletons:
        forced_local = np.zeros(0, dtype=np.int64)
        single = np.flatnonzero(np.diff(A.indptr) == 1)
        if single.size:
            forced_local = np.unique(A.indices[A.indptr[single]])
            hit = np.asarray(A[:, forced_local].sum(axis=1)).ravel() > 0
            remain = np.flatnonzero(~hit)
            newrow = np.full(A.shape[0], -1, dtype=np.int64)
            newrow[remain] = np.arange(remain.size)
            row_of = np.where(row_of >= 0, newrow[np.maximum(row_of, 0)], -1)
            A = A[remain]
            w = w[remain]
            if grp is not None:
                grp = grp[remain]
            kc = np.ones(A.shape[1], dtype=bool)
            kc[forced_local] = False
            forced = cols[forced_local]
            nz = np.diff(sp.csc_matrix(A).indptr) > 0
            kc &= nz
            A = A[:, np.flatnonzero(kc)].tocsr()
            cols, cost = cols[kc], cost[kc]
    stats["rows"] = int(A.shape[0])
    stats["cols"] = int(A.shape[1])
    stats["nnz_reduced"] = int(A.nnz)
    stats["forced"] = int(forced.size)
    return ReducedCover(
        A=A.astype(bool),
        weight=w,
        cost=cost.astype(float),
        cols=cols,
        row_of=row_of,
        pre_covered=pre,
        base_weight=float(w0[pre].sum()),
        unreachable=~reach_any,
        group=grp,
        forced=forced,
        stats=stats,
    )
