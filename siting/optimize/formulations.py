"""The models as sparse matrices: ``min c'x  s.t.  lo <= M x <= hi`` for HiGHS.

Every builder returns a :class:`LinearModel` (``c, A, row_lower, row_upper``, the
integrality of each column, column bounds where they are not ``[0, 1]``, the sense) that
:func:`siting.optimize.highs.solve_milp` and :func:`~siting.optimize.highs.highs_lp` take
as it is. Nothing here solves anything; the models (``partial_cover``, ``mclp``,
``set_cover``, ``pmedian``, ``capacitated``, ``twolevel``) and the bounds call these.

Column layouts: coverage models ``[y (sites), z (demand rows)]``; assignment models
``[y (sites), x (stored demand-site pairs, CSR order)]``; transportation LPs
``[x (pairs), s (one slack per row)]``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

__all__ = [
    "LinearModel",
    "Pairs",
    "allocation_lp",
    "capacitated_coverage_matrices",
    "centre_rows",
    "lscp_matrices",
    "mclp_matrices",
    "pmedian_matrices",
    "psclp_matrices",
]


class LinearModel(NamedTuple):
    """``min (or max) c'x  s.t.  row_lower <= A x <= row_upper,  lower <= x <= upper``,
    with the columns where ``integrality`` is true integer (None: a linear programme).

    Parameters
    ----------
    c : ndarray, shape (n,)
        Objective coefficients.
    A : sparse matrix, shape (r, n)
        Constraint matrix.
    row_lower, row_upper : ndarray, shape (r,)
        Row bounds (``-inf`` / ``inf`` allowed).
    integrality : ndarray of bool, shape (n,), optional
        Integer columns.
    lower, upper : float or ndarray
        Column bounds.
    maximize : bool
        Maximise ``c'x`` instead of minimising it.
    """

    c: np.ndarray
    A: sp.spmatrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    integrality: np.ndarray | None = None
    lower: np.ndarray | float = 0.0
    upper: np.ndarray | float = 1.0
    maximize: bool = False

    @property
    def is_mip(self) -> bool:
        """Whether any column is integer."""
        return self.integrality is not None and bool(np.any(self.integrality))

    def relaxed(self) -> LinearModel:
        """The linear relaxation: the same model with no integer column."""
        return self._replace(integrality=None)

    def with_rows(
        self, rows: sp.spmatrix | None, *, lower: float = -np.inf, upper: float = np.inf
    ) -> LinearModel:
        """The model with the rows ``lower <= rows x <= upper`` below its own (``rows``
        over the model's first columns, e.g. cuts; None or no row: the model itself)."""
        if rows is None or rows.shape[0] == 0:
            return self
        k = rows.shape[0]
        return self._replace(
            A=sp.vstack([self.A, rows[:, : self.A.shape[1]]]).tocsr(),
            row_lower=np.r_[self.row_lower, np.full(k, float(lower))],
            row_upper=np.r_[self.row_upper, np.full(k, float(upper))],
        )


def _links(A: sp.csr_matrix) -> tuple[int, int, sp.csr_matrix]:
    """``(rows, columns, rows z_i - (A y)_i <= 0)`` over ``[y (columns), z (rows)]``: a
    demand row counts as covered only when an open site reaches it."""
    nd, nc = A.shape
    return nd, nc, sp.hstack([-sp.csr_matrix(A, dtype=float), sp.identity(nd, format="csr")])


def psclp_matrices(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    need: float,
    *,
    group: np.ndarray | None = None,
    group_need: np.ndarray | None = None,
) -> LinearModel:
    """Partial set covering over ``[y (columns), z (rows)]``: the fewest (cheapest) sites
    covering ``need`` persons, or ``group_need[g]`` in each district ``g``.

    ``min cost'y  s.t.  z_i <= (A y)_i,  w'z >= need``. The coverage rows are divided by
    what they need (right-hand side 1), so HiGHS' absolute feasibility tolerance (1e-7)
    means the same share whatever the unit of ``w`` (persons, or weights of 1e-6).

    Parameters
    ----------
    A : csr_matrix, shape (rows, columns)
        Demand rows x candidate sites, nonzero where the site reaches the row.
    w : ndarray, shape (rows,)
        Persons of each row.
    cost : ndarray, shape (columns,)
        Cost of opening each site.
    need : float
        Persons to cover (without ``group``).
    group : ndarray of int, shape (rows,), optional
        District of each row: one knapsack row per district instead.
    group_need : ndarray, shape (districts,), optional
        Persons each district must have covered.

    Returns
    -------
    LinearModel
        Over ``[y, z]``, ``y`` integer.
    """
    nd, nc, link = _links(A)
    w = np.asarray(w, float)
    if group is None:
        scale = float(need) if need > 0 else 1.0
        know = sp.hstack([sp.csr_matrix((1, nc)), sp.csr_matrix(w[None, :] / scale)])
        klo = np.array([need / scale])
    else:
        G = len(group_need)
        gneed = np.asarray(group_need, float)
        gscale = np.where(gneed > 0, gneed, 1.0)
        Wg = sp.csr_matrix((w / gscale[group], (group, np.arange(nd))), shape=(G, nd))
        know = sp.hstack([sp.csr_matrix((G, nc)), Wg])
        klo = gneed / gscale
    M = sp.vstack([link, know]).tocsr()
    lo = np.r_[np.full(nd, -np.inf), klo]
    hi = np.r_[np.zeros(nd), np.full(klo.size, np.inf)]
    c = np.r_[np.asarray(cost, float), np.zeros(nd)]
    integ = np.r_[np.ones(nc, dtype=bool), np.zeros(nd, dtype=bool)]
    return LinearModel(c, M, lo, hi, integ)


def mclp_matrices(A: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, budget: float) -> LinearModel:
    """Maximal covering over ``[y, z]`` (maximise ``w'z``): ``z_i <= (A y)_i``,
    ``cost'y <= budget``.

    Parameters
    ----------
    A, w, cost
        As for :func:`psclp_matrices`.
    budget : float
        Most total cost of the new sites (``p`` with unit costs).

    Returns
    -------
    LinearModel
        Over ``[y, z]`` as for :func:`psclp_matrices`, to maximise.
    """
    nd, nc, link = _links(A)
    knap = sp.hstack([sp.csr_matrix(np.asarray(cost, float)[None, :]), sp.csr_matrix((1, nd))])
    M = sp.vstack([link, knap]).tocsr()
    lo = np.full(nd + 1, -np.inf)
    hi = np.r_[np.zeros(nd), float(budget)]
    c = np.r_[np.zeros(nc), np.asarray(w, float)]
    integ = np.r_[np.ones(nc, dtype=bool), np.zeros(nd, dtype=bool)]
    return LinearModel(c, M, lo, hi, integ, maximize=True)


def lscp_matrices(A: sp.csr_matrix, cost: np.ndarray) -> LinearModel:
    """Set covering over ``y``: every row covered, ``(A y)_i >= 1``, at least cost.

    Parameters
    ----------
    A : csr_matrix, shape (rows, columns)
        Demand rows x candidate sites, nonzero where the site reaches the row.
    cost : ndarray, shape (columns,)
        Cost of opening each site.

    Returns
    -------
    LinearModel
        Over ``y``, integer.
    """
    nd, nc = A.shape
    M = sp.csr_matrix(A, dtype=float)
    return LinearModel(
        np.asarray(cost, float), M, np.ones(nd), np.full(nd, np.inf), np.ones(nc, dtype=bool)
    )


def _pair_index(D: sp.csr_matrix) -> tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, sites, pairs, row of each pair, site of each pair, pair numbers)`` of the
    stored pairs of ``D`` (CSR order): the ``x`` columns of the assignment models."""
    n, m = D.shape
    k = D.nnz
    return n, m, k, np.repeat(np.arange(n), np.diff(D.indptr)), D.indices, np.arange(k)


def _open_sites_only(fixed: np.ndarray, cols: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Over ``[y (m sites), x (k pairs)]``: the rows ``x_ij - y_j <= 0`` (only an open
    site serves) and the row counting the new sites (``fixed`` ones do not count)."""
    m, k = fixed.size, cols.size
    ar = np.arange(k)
    link = sp.csr_matrix(
        (np.r_[np.ones(k), -np.ones(k)], (np.r_[ar, ar], np.r_[m + ar, cols])), shape=(k, m + k)
    )
    count = sp.csr_matrix(
        (np.where(fixed, 0.0, 1.0), (np.zeros(m, int), np.arange(m))), shape=(1, m + k)
    )
    return link, count


def pmedian_matrices(
    D: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    fixed: np.ndarray,
    *,
    capacity: np.ndarray | None = None,
    load: np.ndarray | None = None,
    single_source: bool = True,
) -> LinearModel:
    """Sparse p-median over ``[y (m sites), x (stored pairs, CSR order)]``.

    ``min sum w_i d_ij x_ij``: every row served once, only by an open site, ``p`` new
    sites (``fixed`` ones open), and with ``capacity`` ``sum_i q_i x_ij <= cap_j y_j``
    (``q`` = ``load``, default ``w``; ``x`` binary when ``single_source``).

    Parameters
    ----------
    D : csr_matrix, shape (n, m)
        Walking metres of the reachable pairs (a stored 0 is reachable).
    w : ndarray, shape (n,)
        Persons of each demand point.
    p : int
        New sites.
    fixed : ndarray of bool, shape (m,)
        Existing sites, open.
    capacity : ndarray, shape (m,), optional
        Persons each site can serve.
    load : ndarray, shape (n,), optional
        Persons each demand point takes from a site's capacity (default ``w``).
    single_source : bool
        Capacitated: each demand point served whole by one site.

    Returns
    -------
    LinearModel
        Over ``[y, x]``; ``y`` integer (and ``x`` when capacitated and single-source).
    """
    n, m, k, rows, cols, ar = _pair_index(D)
    c = np.r_[np.zeros(m), w[rows] * D.data]
    assign = sp.csr_matrix((np.ones(k), (rows, m + ar)), shape=(n, m + k))
    blocks = [assign, *_open_sites_only(fixed, cols)]
    lo = [np.ones(n), np.full(k, -np.inf), [float(p)]]
    hi = [np.ones(n), np.zeros(k), [float(p)]]
    if capacity is not None:
        q = w if load is None else load
        capm = sp.csr_matrix(
            (np.r_[q[rows], -capacity], (np.r_[cols, np.arange(m)], np.r_[m + ar, np.arange(m)])),
            shape=(m, m + k),
        )
        blocks.append(capm)
        lo.append(np.full(m, -np.inf))
        hi.append(np.zeros(m))
    M = sp.vstack(blocks).tocsr()
    lower = np.r_[fixed.astype(float), np.zeros(k)]
    upper = np.ones(m + k)
    integ = np.r_[
        np.ones(m, dtype=bool), np.full(k, capacity is not None and single_source, dtype=bool)
    ]
    return LinearModel(c, M, np.concatenate(lo), np.concatenate(hi), integ, lower, upper)


def capacitated_coverage_matrices(
    A: sp.csr_matrix, w: np.ndarray, cap: np.ndarray, fixed: np.ndarray, p: int
) -> LinearModel:
    """Capacitated coverage over ``[y (m sites), x (stored pairs of A)]``: maximise the
    persons served ``sum w_i x_ij``.

    ``sum_j x_ij <= 1``; ``sum_i w_i x_ij <= cap_j y_j`` (per unit of capacity, for
    HiGHS' tolerances); ``x_ij <= y_j``; ``p`` candidates at most, ``fixed`` ones open.

    Parameters
    ----------
    A : csr_matrix, shape (rows, m)
        Merged demand rows x sites (reachable pairs stored).
    w : ndarray, shape (rows,)
        Persons of each row.
    cap : ndarray, shape (m,)
        Persons each site can serve.
    fixed : ndarray of bool, shape (m,)
        Existing sites, open.
    p : int
        New sites at most.

    Returns
    -------
    LinearModel
        Over ``[y, x]``, ``y`` integer, to maximise.
    """
    nd, m, k, rows, cols, ar = _pair_index(A)
    c = np.r_[np.zeros(m), w[rows]]
    share = sp.csr_matrix((np.ones(k), (rows, m + ar)), shape=(nd, m + k))
    cs = np.where(cap > 0, cap, 1.0)  # capacity rows per unit of capacity (tolerances)
    capm = sp.csr_matrix(
        (
            np.r_[w[rows] / cs[cols], -cap / cs],
            (np.r_[cols, np.arange(m)], np.r_[m + ar, np.arange(m)]),
        ),
        shape=(m, m + k),
    )
    link, count = _open_sites_only(fixed, cols)
    M = sp.vstack([share, capm, link, count]).tocsr()
    lo = np.full(M.shape[0], -np.inf)
    hi = np.r_[np.ones(nd), np.zeros(m), np.zeros(k), float(p)]
    lower = np.r_[fixed.astype(float), np.zeros(k)]
    integ = np.r_[np.ones(m, bool), np.zeros(k, bool)]
    return LinearModel(c, M, lo, hi, integ, lower, np.ones(m + k), maximize=True)


def allocation_lp(
    A: sp.csr_matrix, w: np.ndarray, cap: np.ndarray, sel: np.ndarray, load: np.ndarray | None
) -> tuple[LinearModel, np.ndarray]:
    """The most persons the open sites ``sel`` serve within capacity (a transportation LP
    over their pairs; maximise).

    Parameters
    ----------
    A, w, cap
        As for :func:`capacitated_coverage_matrices`.
    sel : ndarray of bool, shape (m,)
        The open sites.
    load : ndarray, shape (rows,), optional
        What a row's persons take from a site's capacity (default ``w``).

    Returns
    -------
    tuple
        ``(model, pairs)``: the LP (to maximise) and the stored pairs of ``A`` that are
        its columns.
    """
    nd, m = A.shape
    rows = np.repeat(np.arange(nd), np.diff(A.indptr))
    pairs = np.flatnonzero(sel[A.indices])
    kk = pairs.size
    r, j = rows[pairs], A.indices[pairs]
    ar = np.arange(kk)
    share = sp.csr_matrix((np.ones(kk), (r, ar)), shape=(nd, kk))
    cs = np.where(cap > 0, cap, 1.0)  # capacity rows per unit of capacity (tolerances)
    q = w if load is None else load
    capm = sp.csr_matrix((q[r] / cs[j], (j, ar)), shape=(m, kk))
    M = sp.vstack([share, capm]).tocsr()
    lo = np.full(nd + m, -np.inf)
    hi = np.r_[np.ones(nd), np.where(sel, cap / cs, 0.0)]
    return LinearModel(w[r], M, lo, hi, maximize=True), pairs


def centre_rows(
    site_group: np.ndarray, lack: np.ndarray, n_groups: int, n_columns: int
) -> sp.csr_matrix:
    """Rows "a centre inside district ``g``" (``>= 1``) for the districts ``lack``.

    Parameters
    ----------
    site_group : ndarray of int, shape (candidates,)
        District of each candidate column (-1 outside all).
    lack : ndarray of int
        The districts that need a centre inside.
    n_groups : int
        Number of districts.
    n_columns : int
        Columns of the model (the candidates first).

    Returns
    -------
    csr_matrix, shape (len(lack), n_columns)
    """
    row_of_g = np.full(n_groups, -1)
    row_of_g[lack] = np.arange(lack.size)
    jj = np.flatnonzero(np.isin(site_group, lack))
    return sp.csr_matrix(
        (np.ones(jj.size), (row_of_g[site_group[jj]], jj)), shape=(lack.size, n_columns)
    )


class Pairs:
    """The stored pairs of a distance matrix ``D`` (rows x sites, metres) with what the
    capacitated assignment needs: weights ``w``, loads ``q`` (persons each row takes from
    a site's capacity) and capacities ``cap``."""

    def __init__(self, D: sp.csr_matrix, w: np.ndarray, q: np.ndarray, cap: np.ndarray) -> None:
        self.D = D
        self.n, self.m = D.shape
        self.rows = np.repeat(np.arange(self.n), np.diff(D.indptr))
        self.cols = D.indices
        self.wd = w[self.rows] * D.data  # person-metres of serving row i wholly from j
        self.w, self.q, self.cap = w, q, cap
        self.far = (float(D.data.max(initial=0.0)) + 1.0) * 10.0  # metres: no open site
        # the LPs work on costs / scale (in [0, 1]); a row left out costs more than moving
        # every row: fewer rows unplaced always comes first, whatever the weights and loads
        self.scale = max(float(self.wd.max(initial=0.0)), 1e-300)
        self.row_penalty = 10.0 * (self.n + 1.0)

    def transport(self, pairs: np.ndarray, open_: np.ndarray) -> LinearModel:
        """The assignment LP over ``pairs`` and one slack per row.

        ``min sum (w_i d_ij / scale) x_ij + row_penalty * sum s_i``,
        ``sum_j x_ij + s_i = 1``, ``sum_i q_i x_ij <= cap_j`` for the ``open_`` sites (per
        unit of capacity; 0 for the others); columns ``[x over pairs, s]``.
        """
        n, k = self.n, pairs.size
        r, j = self.rows[pairs], self.cols[pairs]
        ar = np.arange(k)
        cs = np.where(self.cap > 0, self.cap, 1.0)  # capacity rows per unit of capacity
        once = sp.csr_matrix(
            (np.ones(k + n), (np.r_[r, np.arange(n)], np.r_[ar, k + np.arange(n)])),
            shape=(n, k + n),
        )
        capm = sp.csr_matrix((self.q[r] / cs[j], (j, ar)), shape=(self.m, k + n))
        return LinearModel(
            np.r_[self.wd[pairs] / self.scale, np.full(n, self.row_penalty)],
            sp.vstack([once, capm]).tocsr(),
            np.r_[np.ones(n), np.full(self.m, -np.inf)],
            np.r_[np.ones(n), np.where(open_, self.cap / cs, 0.0)],
        )

    def unplaced(self, x: np.ndarray) -> tuple[float, float, np.ndarray]:
        """``(rows, persons, share left per row)`` without a place under shares ``x``;
        shares within 1e-6 of a whole row count as placed (LP tolerances)."""
        left = 1.0 - np.bincount(self.rows, weights=x, minlength=self.n)
        left = np.where(left > 1e-6, np.minimum(left, 1.0), 0.0)
        return float(left.sum()), float(self.w @ left), left
