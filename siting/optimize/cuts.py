"""Triangle cuts for coverage models: valid inequalities that close the LP's gap.

Coverage models link a row's coverage ``z_i`` to the sites that reach it,
``z_i <= sum_j a_ij y_j``. With fractional ``y`` the LP covers three rows ``a, b, c`` fully
from three half-open sites, each shared by two of them. For any three rows::

    z_a + z_b + z_c <= 1 + sum_j ceil(k_j / 2) y_j,    k_j = rows of {a, b, c} site j reaches

(the {0, 1/2}-Chvatal-Gomory cut of the three link rows and ``z <= 1``). It holds for every
binary ``y``: with no site open no row is covered; each open site near the rows adds at
least 1 to the right side, so two covered rows always fit; all three need two sites
(coefficient >= 1 each) or one that reaches all three (coefficient 2). So no plan is cut
off, and the LP with these cuts is still a relaxation: its optimum is a proven bound.

On the benchmark's grid sub-instance (MCLP, p = 113) two rounds close the LP's whole gap
(953,844 -> 951,885 persons, the optimum), where HiGHS' own root cut loop takes 2.4 s.

:func:`triangle_cuts` finds violated ones among rows that share fractional sites
(compiled); :func:`cut_rows` turns them into sparse rows over ``[y, z]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp
from numba import njit

from siting.optimize import clock, settings
from siting.optimize.highs import run_charged

__all__ = ["Tightened", "cut_rows", "tighten_lp", "triangle_cuts"]


@njit(cache=True)
def _partners(a, rptr, rind, tptr, tind, y, z, cand, frac, tol, mark, cmark, nb, score, extra):
    """Rows ``b > a`` sharing a fractional column with ``a`` whose pair score
    ``z_a + z_b - y(N_a | N_b)`` passes ``tol``: written to ``nb`` with the score and
    ``extra = y(N_b - N_a)``; ``cmark`` marks ``a``'s columns. Returns ``(how many,
    y(N_a), pairs checked)``."""  # pragma: no cover - compiled
    ya = 0.0
    for q in range(rptr[a], rptr[a + 1]):
        cmark[rind[q]] = a
        ya += y[rind[q]]
    n_nb = 0
    checked = 0
    for q in range(rptr[a], rptr[a + 1]):
        j = rind[q]
        if not frac[j]:
            continue
        for t in range(tptr[j], tptr[j + 1]):
            b = tind[t]
            if b > a and cand[b] and mark[b] != a:
                mark[b] = a
                ex = 0.0
                for r in range(rptr[b], rptr[b + 1]):
                    if cmark[rind[r]] != a:
                        ex += y[rind[r]]
                checked += 1
                sc = z[a] + z[b] - ya - ex
                if sc > tol:
                    nb[n_nb] = b
                    score[n_nb] = sc
                    extra[n_nb] = ex
                    n_nb += 1
    return n_nb, ya, checked


@njit(cache=True)
def _strongest(n_nb, max_pairs, nb, score, extra):  # pragma: no cover - compiled
    """Keep the ``max_pairs`` strongest of the ``n_nb`` partners (in place); how many."""
    if n_nb <= max_pairs:
        return n_nb
    thr = np.sort(score[:n_nb])[n_nb - max_pairs]
    m = 0
    for u in range(n_nb):
        if score[u] >= thr and m < max_pairs:
            nb[m] = nb[u]
            score[m] = score[u]
            extra[m] = extra[u]
            m += 1
    return m


@njit(cache=True)
def _violation(a, b, c, head, rptr, rind, y, cmark):  # pragma: no cover - compiled
    """``head`` plus ``y((N_b & N_c) - N_a) - y(N_a & N_b & N_c)`` (sorted column lists)."""
    p, pe = rptr[b], rptr[b + 1]
    q, qe = rptr[c], rptr[c + 1]
    while p < pe and q < qe:
        jb, jc = rind[p], rind[q]
        if jb == jc:
            head += -y[jb] if cmark[jb] == a else y[jb]
            p += 1
            q += 1
        elif jb < jc:
            p += 1
        else:
            q += 1
    return head


@njit(cache=True)
def _separate(rptr, rind, tptr, tind, y, z, cand, frac, tol, max_found, max_pairs):
    """Violated triangles ``(a, b, c, violation)`` with ``a < b, c``, and the number of
    pair and triangle checks made.

    A violated triangle has ``z_r + z_s > y(N_r | N_s)`` for each of its pairs (the cut's
    left side minus ``z_t <= 1``), so only such pairs are followed: from each row ``a``,
    its neighbours through fractional columns that pass the test (at most ``max_pairs``,
    the strongest), then pairs of those, whose violation follows from the two pair
    scores and the columns ``b`` and ``c`` share (sorted column lists).
    """  # pragma: no cover - compiled
    n_rows = rptr.shape[0] - 1
    n_cols = tptr.shape[0] - 1
    mark = np.full(n_rows, -1, np.int64)
    cmark = np.full(n_cols, -1, np.int64)
    nb = np.empty(n_rows, np.int64)
    score = np.empty(n_rows)
    extra = np.empty(n_rows)
    out_a = np.empty(max_found, np.int64)
    out_b = np.empty(max_found, np.int64)
    out_c = np.empty(max_found, np.int64)
    out_v = np.empty(max_found)
    n_out = 0
    checked = 0
    for a in range(n_rows):
        if not cand[a]:
            continue
        n_nb, ya, found = _partners(
            a, rptr, rind, tptr, tind, y, z, cand, frac, tol, mark, cmark, nb, score, extra
        )
        checked += found
        n_nb = _strongest(n_nb, max_pairs, nb, score, extra)
        slack_a = ya - z[a] - 1.0
        for u in range(n_nb):
            for v in range(u + 1, n_nb):
                # violation = score_ab + score_ac + y(N_a) - z_a - 1
                #             + y((N_b & N_c) - N_a) - y(N_a & N_b & N_c)
                head = score[u] + score[v] + slack_a
                if head + min(extra[u], extra[v]) <= tol:
                    continue
                checked += 1
                head = _violation(a, nb[u], nb[v], head, rptr, rind, y, cmark)
                if head > tol and n_out < max_found:
                    out_a[n_out] = a
                    out_b[n_out] = nb[u]
                    out_c[n_out] = nb[v]
                    out_v[n_out] = head
                    n_out += 1
    return out_a[:n_out], out_b[:n_out], out_c[:n_out], out_v[:n_out], checked


def triangle_cuts(
    A: sp.csr_matrix,
    y: np.ndarray,
    z: np.ndarray,
    *,
    tol: float = 1e-4,
    max_cuts: int = 500,
    per_row: int = 3,
) -> np.ndarray:
    """The most violated triangle cuts at the LP point ``(y, z)``.

    Parameters
    ----------
    A : csr_matrix
        Rows (demand) x columns (sites), boolean structure.
    y, z : ndarray
        LP values of the columns and rows.
    tol : float
        Least violation kept.
    max_cuts : int
        Cuts returned at most, most violated first.
    per_row : int
        Cuts a row may appear in (spreads the cuts over the LP's fractional parts).

    Returns
    -------
    ndarray of int, shape (k, 3)
        Row triples (``a`` the lowest row).
    """
    A = sp.csr_matrix(A, dtype=bool)
    A.sort_indices()
    T = sp.csr_matrix(A.T)
    T.sort_indices()
    y = np.asarray(y, dtype=float)
    z = np.asarray(z, dtype=float)
    frac = (y > 1e-6) & (y < 1.0 - 1e-6)
    if not frac.any():
        return np.zeros((0, 3), dtype=np.int64)
    has_frac = np.asarray(A[:, frac].sum(axis=1)).ravel() > 0
    cand = has_frac & (z > 1e-6)
    a, b, c, v, checked = _separate(
        A.indptr.astype(np.int64),
        A.indices.astype(np.int64),
        T.indptr.astype(np.int64),
        T.indices.astype(np.int64),
        y,
        z,
        cand,
        frac,
        float(tol),
        settings.cut_max_found,
        settings.cut_max_pairs,
    )
    # each check walks two or three rows' columns
    clock.charge_kernel(A.nnz + 3.0 * checked * (A.nnz / max(A.shape[0], 1)))
    if v.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    order = np.argsort(-v, kind="stable")
    trip = np.ascontiguousarray(np.stack([a, b, c], axis=1)[order])
    return trip[_spread(trip, A.shape[0], int(per_row), int(max_cuts))]


@njit(cache=True)
def _spread(trip, n_rows, per_row, max_cuts):  # pragma: no cover - compiled
    """Mask of the first cuts (in order) that keep every row in at most ``per_row``."""
    uses = np.zeros(n_rows, np.int64)
    keep = np.zeros(trip.shape[0], np.bool_)
    taken = 0
    for k in range(trip.shape[0]):
        a, b, c = trip[k, 0], trip[k, 1], trip[k, 2]
        if uses[a] < per_row and uses[b] < per_row and uses[c] < per_row:
            uses[a] += 1
            uses[b] += 1
            uses[c] += 1
            keep[k] = True
            taken += 1
            if taken >= max_cuts:
                break
    return keep


def cut_rows(A: sp.csr_matrix, triples: np.ndarray) -> sp.csr_matrix:
    """Cuts as sparse rows over ``[y (A's columns), z (A's rows)]``, right-hand side 1:
    ``z_a + z_b + z_c - sum_j ceil(k_j / 2) y_j <= 1``."""
    A = sp.csr_matrix(A, dtype=float)
    k = triples.shape[0]
    # site counts k_j: the three rows of A summed, per cut
    pick = sp.csr_matrix(
        (np.ones(3 * k), (np.repeat(np.arange(k), 3), triples.ravel())), shape=(k, A.shape[0])
    )
    K = sp.csr_matrix(pick @ A)
    K.data = -np.ceil(K.data / 2.0)
    return sp.hstack([K, pick]).tocsr()


@dataclass
class Tightened:
    """An LP re-solved with triangle cuts (:func:`tighten_lp`)."""

    objective: float  # LP optimum with the cuts: still a proven bound
    x: np.ndarray  # column values
    col_dual: np.ndarray  # column reduced costs
    rows: sp.csr_matrix  # the cuts, over the LP's columns (right-hand side 1)
    log: list[tuple[float, int]] = field(default_factory=list)  # (optimum, cuts) per round
    useful: bool = True  # they closed at least ``cut_useful`` of the LP's distance to the goal

    @property
    def rounds(self) -> int:
        """Separation rounds that added cuts."""
        return len(self.log)

    def summary(self) -> dict:
        """Plain-data summary for a solution's history."""
        return {"rounds": self.rounds, "added": int(self.rows.shape[0]), "to_highs": self.useful}


def tighten_lp(
    h: highspy.Highs,
    A: sp.csr_matrix,
    objective: float,
    x: np.ndarray,
    col_dual: np.ndarray,
    *,
    deadline: float,
    closed: Callable[[float], bool] | None = None,
    goal: float | None = None,
    max_rounds: int | None = None,
) -> Tightened:
    """Add violated triangle cuts to the solved LP ``h`` and re-solve, round by round.

    ``h``'s first columns must be ``y`` (``A``'s columns) then ``z`` (``A``'s rows), the
    layout of :func:`siting.optimize.mclp.mclp_matrices` and
    :func:`siting.optimize.target.psclp_matrices`. Stops when no cut is violated, when
    ``closed(objective)`` says the bound is good enough, after ``max_rounds`` (default
    ``settings.cut_max_rounds``), when a
    round no longer moves the optimum, or at ``deadline`` (a
    :func:`siting.optimize.clock.now` reading). ``goal``: the value the bound must pass for
    a proof (the incumbent's); a round that closes less than ``settings.cut_min_progress`` of the
    distance left to it ends the loop, and ``useful`` says whether the cuts closed at least
    ``settings.cut_useful`` of the LP's distance (else they are not worth adding to a MIP); without
    one, rounds go on while cuts are found and the optimum moves. A re-solve
    that does not end optimal is dropped (its values are not a bound); the result keeps
    the last optimal one.
    """
    nd, nc = A.shape
    n = int(h.getNumCol())
    max_rounds = settings.cut_max_rounds if max_rounds is None else int(max_rounds)
    out = Tightened(objective, x, col_dual, sp.csr_matrix((0, n)))
    added: list[sp.csr_matrix] = []
    while out.rounds < max_rounds and clock.now() < deadline:
        if closed is not None and closed(out.objective):
            break
        trip = triangle_cuts(A, out.x[:nc], out.x[nc : nc + nd], max_cuts=settings.cut_round_cuts)
        if trip.shape[0] == 0:
            break
        C = cut_rows(A, trip)
        C = sp.hstack([C, sp.csr_matrix((C.shape[0], n - C.shape[1]))]).tocsr()
        h.addRows(
            C.shape[0],
            np.full(C.shape[0], -np.inf),
            np.ones(C.shape[0]),
            C.nnz,
            C.indptr[:-1].astype(np.int32),
            C.indices.astype(np.int32),
            C.data,
        )
        added.append(C)
        run_charged(h, max(0.1, deadline - clock.now()), setup=False)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        sol = h.getSolution()
        if not sol.dual_valid:
            break
        before = out.objective
        out.objective = float(h.getInfo().objective_function_value)
        out.x = np.asarray(sol.col_value, dtype=float)
        out.col_dual = np.asarray(sol.col_dual, dtype=float)
        out.log.append((out.objective, int(C.shape[0])))
        moved = abs(before - out.objective)
        if moved <= settings.cut_stall * max(1.0, abs(before)):
            break
        if goal is not None and moved < settings.cut_min_progress * abs(before - goal):
            break
    if added:
        out.rows = sp.vstack(added).tocsr()
    if goal is not None:
        out.useful = abs(objective - out.objective) >= settings.cut_useful * abs(objective - goal)
    return out
